RSpec.describe Shop::Discount do
  it "takes a percentage off" do
    sleep 0.5
    expect(described_class.new(10).apply(1000)).to eq(900)
  end

  it "rounds in the shop's favour" do
    expect(described_class.new(33).apply(100)).to eq(67)
  end

  it "rejects percentages above 100" do
    expect { described_class.new(120) }.to raise_error(ArgumentError, /0..100/)
  end

  it "applies to a cart's total" do
    sleep 0.4
    cart = Shop::Cart.new.add(Shop::Item.new("tea", 400), 2)
    expect(cart.total_cents(discount: described_class.new(25))).to eq(600)
  end
end
