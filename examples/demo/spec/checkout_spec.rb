RSpec.describe "Checkout" do
  let(:stock) { Shop::Stock.new("book" => 1, "pen" => 10) }
  let(:cart) { Shop::Cart.new.add(Shop::Item.new("book", 1299)).add(Shop::Item.new("pen", 150), 2) }

  it "charges the cart's total" do
    sleep 0.8 # a payment gateway stub
    expect(Shop.format_price(cart.total_cents)).to eq("$15.99")
  end

  it "takes the bought items out of stock" do
    sleep 0.7
    stock.take("book", 1)
    stock.take("pen", 2)
    expect([stock.level("book"), stock.level("pen")]).to eq([0, 8])
  end

  it "prints a receipt line per item" do
    skip "receipts are not built yet"
  end
end
