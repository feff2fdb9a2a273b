RSpec.describe "Shop.format_price" do
  it "formats cents as dollars" do
    expect(Shop.format_price(1234)).to eq("$12.34")
  end

  it "pads single-digit cents" do
    expect(Shop.format_price(705)).to eq("$7.05")
  end

  it "handles currencies other than dollars" do
    pending "multi-currency support is planned"
    expect(Shop.format_price(100, currency: "EUR")).to eq("€1.00")
  end
end
