RSpec.describe Shop::Stock do
  subject(:stock) { described_class.new("apple" => 5) }

  it "lowers the level when items are taken" do
    sleep 0.6
    stock.take("apple", 2)
    expect(stock.level("apple")).to eq(3)
  end

  it "refuses to go below zero" do
    sleep 0.3
    expect { stock.take("apple", 6) }.to raise_error(/out of stock: apple/)
  end

  it "knows nothing of unlisted items" do
    expect(stock.level("kiwi")).to eq(0)
  end
end
