RSpec.describe Shop::Cart, "scenario 6" do
  let(:apple) { Shop::Item.new("apple", 35) }

  it "starts empty" do
    sleep 0.8 # stands in for a database round trip
    expect(described_class.new.count).to eq(0)
  end

  it "adds 6 item(s)" do
    cart = described_class.new.add(apple, 6)
    expect(cart.count).to eq(6)
    expect(cart.total_cents).to eq(35 * 6)
  end

  it "refuses a quantity of zero" do
    sleep 0.2
    expect { described_class.new.add(apple, 0) }.to raise_error(ArgumentError)
  end
end
