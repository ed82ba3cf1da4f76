# The key-to-server answer of Ruby's Dalli, for the placement tests:
# `ruby client_dalli.rb locate|store SETTINGS HOST:PORT[:WEIGHT]...` reads keys
# (one per line) on stdin; `locate` prints `key<TAB>host:port` of the server
# the client's ring picks (Dalli::Ring#server_for_key, which connects: a server
# that does not answer moves keys to another), `store` sets each key.
# SETTINGS: `defaults`, optionally followed by `,namespace=NS` (the client's
# option: keys stored as NS:key).
require 'dalli'

settings = (ARGV[1] || '').split(',')
options = settings.drop(1).to_h { |s| s.split('=', 2) }
if ARGV.size < 3 || !%w[locate store].include?(ARGV[0]) || settings[0] != 'defaults' ||
   !(options.keys - ['namespace']).empty?
  warn 'usage: client_dalli.rb locate|store defaults[,namespace=NS] HOST:PORT[:WEIGHT]...'
  exit 2
end
Dalli.logger.level = Logger::ERROR
client = Dalli::Client.new(ARGV[2..], options.transform_keys(&:to_sym))
ring = client.send(:ring)
key_manager = client.instance_variable_get(:@key_manager)
stored = 0
$stdin.each_line do |line|
  key = line.chomp
  next if key.empty?

  if ARGV[0] == 'store'
    client.set(key, 'v', 0, raw: true) or abort "client_dalli: set #{key} failed"
    stored += 1
  else
    server = ring.server_for_key(key_manager.validate_key(key))
    puts "#{key}\t#{server.hostname}:#{server.port}"
  end
end
puts "stored #{stored}" if ARGV[0] == 'store'
client.close
