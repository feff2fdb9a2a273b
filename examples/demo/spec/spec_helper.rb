$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "shop"

RSpec.configure do |config|
  config.order = :random
end
