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

    def remove(name)
      @items.reject! { |item| item.name == name }
      self
    end

    def count
      @items.size
    end

    def total_cents(discount: Discount.none)
      discount.apply(@items.sum(&:price_cents))
    end
  end

  class Discount
    def self.none
      new(0)
    end

    def initialize(percent)
      raise ArgumentError, "percent must be 0..100" unless (0..100).cover?(percent)
      @percent = percent
    end

    def apply(cents)
      cents - (cents * @percent / 100)
    end
  end

  class Stock
    def initialize(levels = {})
      @levels = Hash.new(0).merge(levels)
    end

    def take(name, quantity)
      raise "out of stock: #{name}" if @levels[name] < quantity
      @levels[name] -= quantity
    end

    def level(name)
      @levels[name]
    end
  end

  def self.format_price(cents)
    format("$%d.%02d", cents / 100, cents % 100)
  end
end
