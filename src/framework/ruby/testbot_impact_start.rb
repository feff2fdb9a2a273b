# Loaded through `RUBYOPT=-r…` in a runner (or a `--preload` server) that records impact: starts
# Coverage before anything of the project loads (testbot_impact.rb). Programs the tests start
# get it too (through RUBYOPT) and start nothing: they have no event channel.
require_relative 'testbot_impact'

Testbot::Impact.start if ENV.key?('TESTBOT_EVENT_FD')
