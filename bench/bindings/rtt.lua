--[[
rtt.lua — the Lua side of the bindings benchmark: round trips of
client:request on the sidecar's "echo" route, measured as rtt_c.c does
(warm-up, then the median of 20 rounds' mean). Lua has no fine wall clock
of its own: ringside.monotonic_ns() is CLOCK_MONOTONIC, the clock the
other languages use.

  lua5.4 rtt.lua SOCKET N BODY_BYTES   → {"lang":"lua","n":...,"rtt_us":...,"mean_us":...}
]]
local ringside = require "ringside"

local ROUNDS = 20
local sock, n, size = arg[1], math.tointeger(tonumber(arg[2])), math.tointeger(tonumber(arg[3]))
local body = string.rep("x", size)
local per = n // ROUNDS
local opts = { route = "echo" }

local c <close> = assert(ringside.client(sock))
for _ = 1, n // 10 do assert(c:request("POST", "/echo", body, opts)) end
local rounds, sum = {}, 0
for k = 1, ROUNDS do
  local t0 = ringside.monotonic_ns()
  for _ = 1, per do
    local r = c:request("POST", "/echo", body, opts)
    if not r or #r.body ~= size then error("wrong echo") end
  end
  rounds[k] = (ringside.monotonic_ns() - t0) / per / 1000
  sum = sum + rounds[k]
end
table.sort(rounds)
local median = (rounds[ROUNDS // 2] + rounds[ROUNDS // 2 + 1]) / 2
print(string.format('{"lang":"lua","n":%d,"rtt_us":%.2f,"mean_us":%.2f}', per * ROUNDS, median, sum / ROUNDS))
