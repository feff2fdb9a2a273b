# A tiny shop, so the demo's specs have something to test.
module Shop
  Item = Struct.new(:name, :price_cents)

  class Cart
    def initialize
      @items = []
    end

    def add(item, quantity = 1)
      raise ArgumentError, "quantity must be positive" unless quantity.positive?
      quantity.times { @items << item }
      self
    end

    def count
      @items.size
    end

    def total_cents
      @items.sum(&:price_cents)
    end
  end

  def self.format_price(cents)
    format("$%d.%02d", cents / 100, cents % 100)
  end
end
