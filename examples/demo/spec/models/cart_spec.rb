RSpec.describe Shop::Cart do
  let(:apple) { Shop::Item.new("apple", 35) }
  let(:pear) { Shop::Item.new("pear", 50) }

  it "starts empty" do
    expect(described_class.new.count).to eq(0)
  end

  it "adds items by quantity" do
    sleep 0.4 # stands in for a database round trip
    cart = described_class.new.add(apple, 3).add(pear)
    expect(cart.count).to eq(4)
    expect(cart.total_cents).to eq(155)
  end

  it "removes every item of a name" do
    sleep 0.3
    cart = described_class.new.add(apple, 2).add(pear).remove("apple")
    expect(cart.count).to eq(1)
  end

  it "refuses a quantity of zero" do
    expect { described_class.new.add(apple, 0) }.to raise_error(ArgumentError)
  end
end
