RSpec.describe Shop::Cart, "scenario 3" do
  let(:apple) { Shop::Item.new("apple", 35) }

  it "starts empty" do
    sleep 0.5 # stands in for a database round trip
    expect(described_class.new.count).to eq(0)
  end

  it "adds 3 item(s)" do
    cart = described_class.new.add(apple, 3)
    expect(cart.count).to eq(3)
    expect(cart.total_cents).to eq(35 * 3)
  end

  it "refuses a quantity of zero" do
    sleep 0.2
    expect { described_class.new.add(apple, 0) }.to raise_error(ArgumentError)
  end
end
