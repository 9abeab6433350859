# frozen_string_literal: true

# rtt.rb — the Ruby side of the bindings benchmark: round trips of
# Client#request on the sidecar's "echo" route, measured as rtt_c.c does
# (warm-up, then the median of 20 rounds' mean).
#
#   rtt.rb SOCKET N BODY_BYTES     → {"lang":"ruby","n":...,"rtt_us":...,"mean_us":...}

require "json"
require "ringside"

ROUNDS = 20
sock = ARGV[0]
n = Integer(ARGV[1])
size = Integer(ARGV[2])
body = "x" * size
per = n / ROUNDS

def now
  Process.clock_gettime(Process::CLOCK_MONOTONIC)
end

rounds = Ringside::Client.open(socket: sock) do |c|
  (n / 10).times { c.request("POST", "/echo", body, route: "echo") }
  Array.new(ROUNDS) do
    t0 = now
    per.times do
      r = c.request("POST", "/echo", body, route: "echo")
      abort "wrong echo" unless r.body.bytesize == size
    end
    (now - t0) / per * 1e6
  end
end
sorted = rounds.sort
median = (sorted[ROUNDS / 2 - 1] + sorted[ROUNDS / 2]) / 2
puts JSON.generate(lang: "ruby", n: per * ROUNDS, rtt_us: median.round(2), mean_us: (rounds.sum / ROUNDS).round(2))
