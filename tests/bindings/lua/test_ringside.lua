--[[
The Lua binding (require "ringside") against a real sidecar and the mock
upstream: every call, every error kind, streams and their cancellation
(break in a generic for), batches, integers staying integers, large
bodies, a sidecar that dies.

Run by tests/bindings/harness.py, which starts the processes and exports
where they are (RS_SOCK, RS_SOCK_FAST, ...; see harness.py). A test is a
function that raises (assert) on failure; the runner reports each and
exits non-zero if any failed. Lua has no threads, so the many-threads and
lock-release tests of the Python and Ruby suites have no Lua counterpart;
the Lua state simply blocks while it waits.

Lua's only wall clock is os.time() (seconds): liveness bounds are coarse.
]]

local ringside = require "ringside"

local CHAT = { model = "deepseek-chat", messages = { { role = "user", content = "hi" } } }

local function env(name)
  return os.getenv(name) or error(name .. " is not set: run this through tests/bindings/harness.py")
end

local function client(var)
  return assert(ringside.client(env(var or "RS_SOCK")))
end

local function eq(a, b, what)
  if a ~= b then
    error(string.format("%s: expected %s, got %s", what or "value", tostring(b), tostring(a)), 2)
  end
end

local function kind(err, k)
  assert(err and err.ok == false, "expected an error, got " .. tostring(err))
  if not err:is(k) then error("expected " .. k .. ", got " .. err.kind .. ": " .. tostring(err), 2) end
end

local function random_bytes(n)
  local f = assert(io.open("/dev/urandom", "rb"))
  local s = f:read(n)
  f:close()
  return s
end

local T = {}

-- ------------------------------------------------------------------ basics

function T.version_is_the_builds()
  eq(ringside.VERSION, env("RINGSIDE_VERSION"), "version")
end

function T.echo_round_trip()
  local c <close> = client()
  local r = assert(c:request("POST", "/anything", "hello ringside", { route = "echo" }))
  eq(r.ok, true)
  eq(r.status, 200, "status")
  eq(r.body, "hello ringside", "body")
  eq(r.upstream, "echo", "upstream")
  eq(r.attempts, 0, "attempts")
  assert(r.ticket > 0)
  assert(tostring(r):find("echo"))
end

function T.integers_stay_integers()
  local c <close> = client()
  local r = assert(c:request{ path = "/", route = "echo" })
  for _, v in ipairs({ r.status, r.ticket, r.attempts, r.timings.total_us, r.timings.queued_us, ringside.P1 }) do
    eq(math.type(v), "integer", "math.type")
  end
  local t = assert(c:submit{ path = "/", route = "echo" })
  eq(math.type(t), "integer", "ticket type")
  assert(c:wait(t))
  for _, v in pairs(c:stats()) do eq(math.type(v), "integer", "stat type") end
end

function T.body_kinds()
  local c <close> = client()
  eq(assert(c:request("POST", "/e", "h\0llo", { route = "echo" })).body, "h\0llo", "binary body")
  local r = assert(c:request("POST", "/e", { a = { 1, 2 } }, { route = "echo" }))
  local v = assert(r:json())
  eq(v.a[2], 2, "json array")
  eq(assert(c:request("POST", "/e", nil, { route = "echo" })).body, "", "nil body")
end

function T.upstream_response_fields()
  local c <close> = client()
  local r = assert(c:request("POST", "/chat/completions", CHAT, { headers = { ["X-Request-Id"] = "lua-1" },
                                                                  timeout = 30 }))
  eq(r.status, 200)
  eq(r.upstream, "default")
  eq(r.attempts, 1)
  eq(r:json().choices[1].message.content, "echo: lua-1")
  assert(r.headers["content-type"]:find("application/json", 1, true))
  eq(r:header("Content-Type"), r.headers["content-type"])
  assert(r.timings.total_us > 0)
end

function T.chat_helper()
  local c <close> = client()
  local r = assert(c:chat({ { role = "user", content = "hi" } }, { headers = { ["x-request-id"] = "chat-lua" },
                                                                     max_tokens = 8, priority = ringside.P0 }))
  eq(r:json().choices[1].message.content, "echo: chat-lua")
  eq(assert(c:chat({}, { model = "deepseek-reasoner" })):json().model, "deepseek-reasoner")
end

function T.closed_client()
  local c = client()
  assert(not c:closed())
  c:close()
  c:close()
  assert(c:closed())
  local r, err = c:request{ path = "/", route = "echo" }
  assert(r == nil)
  kind(err, "ClientClosed")
end

function T.stats()
  local c <close> = client()
  local before = c:stats()
  for _, k in ipairs({ "submitted", "completed", "ring_full", "doorbells", "sleeps", "orphans", "stream_holds" }) do
    assert(before[k], k)
  end
  assert(c:request{ path = "/", route = "echo" })
  eq(c:stats().completed, before.completed + 1)
end

function T.json_round_trip()
  local text = ringside.json_encode({ s = "a\"b\\c\n\1", n = 1.5, i = -3, t = true, f = false, z = ringside.null,
                                      e = {}, o = ringside.object(), u = "é" })
  local v = assert(ringside.json_decode(text))
  eq(v.s, "a\"b\\c\n\1")
  eq(v.n, 1.5)
  eq(v.i, -3)
  eq(math.type(v.i), "integer")
  eq(v.t, true)
  eq(v.f, false)
  eq(v.z, ringside.null)
  eq(v.u, "é")
  eq(ringside.json_decode('"\\u00e9\\ud83d\\ude00"'), "é😀")
  assert(ringside.json_decode("{") == nil)
end

-- ------------------------------------------------------------------ errors

function T.connect_failure_says_what_to_do()
  local c, err = ringside.client("/nonexistent/rs.sock")
  assert(c == nil)
  kind(err, "SidecarUnavailable")
  eq(err.name, "RS_ECONNECT")
  assert(tostring(err):find("RINGSIDE_SOCKET"))
end

function T.upstream_error_with_status_and_body()
  local c <close> = client()
  local r, err = c:request("POST", "/chat/completions", CHAT, { headers = { ["x-mock-status"] = "400" } })
  assert(r == nil)
  kind(err, "UpstreamError")
  eq(err.status, 400)
  assert(tostring(err):find("HTTP 400"))
  eq(err.response:json().error.type, "invalid_request_error")
end

function T.upstream_429()
  local c <close> = client("RS_SOCK_FAST")
  local _, err = c:request("POST", "/chat/completions", CHAT, { headers = { ["x-mock-status"] = "429" } })
  kind(err, "UpstreamRateLimited")
  kind(err, "UpstreamError")
  eq(err.status, 429)
end

function T.unknown_route()
  local c <close> = client()
  local _, err = c:request("POST", "/chat/completions", CHAT, { route = "nowhere" })
  kind(err, "NoRoute")
  kind(err, "BadRequest")
  assert(tostring(err):find("nowhere"))
end

function T.tiny_deadline()
  local c <close> = client()
  local t0 = os.time()
  local _, err = c:request("POST", "/chat/completions", CHAT, { headers = { ["x-mock-delay-ms"] = "5000" },
                                                                timeout = 0.2 })
  kind(err, "DeadlineExceeded")
  assert(os.time() - t0 <= 3)
end

function T.bad_arguments()
  local c <close> = client()
  local _, err = c:request{ path = "no-slash", route = "echo" }
  kind(err, "BadRequest")
  _, err = c:request{ path = "/", route = "echo", priority = 9 }
  kind(err, "BadRequest")
  -- programming errors raise
  assert(not pcall(c.request, c, { route = "echo" }))
  assert(not pcall(c.request, c, { path = "/", headers = { a = "1\nb: 2" } }))
  assert(not pcall(c.request, c, { path = "/", timeout = -1 }))
  assert(not pcall(c.request, c, { path = "/", bogus = 1 }))
end

function T.too_large()
  local c <close> = client()
  local _, err = c:request("POST", "/", string.rep("x", 9 << 20), { route = "echo" })
  kind(err, "TooLarge")
  assert(tostring(err):find("ring_bytes"))
end

function T.shed()
  local c <close> = client("RS_SOCK_SHED")
  c:request("POST", "/chat/completions", CHAT)   -- its upstream refuses (503): shedding starts
  local _, err = c:request("POST", "/chat/completions", CHAT)
  kind(err, "Shed")
  kind(err, "Overloaded")
end

function T.queue_full()
  local c <close> = client("RS_SOCK_QUEUE")
  local items = {}
  for i = 1, 6 do items[i] = { path = "/chat/completions", body = CHAT, priority = ringside.P2 } end
  local results = assert(c:call_batch(items, 30))
  local full
  for _, r in ipairs(results) do
    if not r.ok and r:is("QueueFull") then full = r end
  end
  assert(full, "no QueueFull among the results")
  assert(tostring(full):find("priorities.queue.p2", 1, true))
end

function T.upstream_unreachable()
  local c <close> = client("RS_SOCK_DOWN")
  local _, err = c:request("POST", "/chat/completions", CHAT, { timeout = 10 })
  kind(err, "UpstreamUnreachable")
  eq(err.name, "RS_ECONNUP")
end

function T.wait_timeout_then_wait_again()
  local c <close> = client()
  local t = assert(c:submit("POST", "/chat/completions", CHAT, { headers = { ["x-mock-delay-ms"] = "400" } }))
  local r, err = c:wait(t, 0.05)
  assert(r == nil)
  kind(err, "WaitTimeout")
  eq(err.ticket, t)
  eq(assert(c:wait(t, 10)).status, 200)
end

function T.unknown_ticket()
  local c <close> = client()
  local t = assert(c:submit{ path = "/", route = "echo" })
  assert(c:wait(t))
  local _, err = c:wait(t)
  kind(err, "UnknownTicket")
  _, err = c:wait(12345678, 0)
  kind(err, "UnknownTicket")
end

function T.cancel()
  local c <close> = client()
  local t = assert(c:submit("POST", "/chat/completions", CHAT, { headers = { ["x-mock-delay-ms"] = "5000" } }))
  assert(c:cancel(t))
  local _, err = c:wait(t, 10)
  kind(err, "Cancelled")
end

function T.every_code_has_a_kind_and_a_message()
  local N = require "ringside_native"
  local n = 0
  for k, v in pairs(N) do
    if type(k) == "string" and k:match("^RS_E") then
      n = n + 1
      local err = ringside.error(v)
      assert(err.kind ~= "Error", k .. " has no kind of its own")
      assert(ringside.KINDS[err.kind] ~= nil, err.kind)
      assert(tostring(err):find(k, 1, true))
    end
  end
  assert(n >= 23, n)
end

function T.sidecar_killed_mid_call()
  local c = client("RS_SOCK_VICTIM")
  local t0 = os.time()
  -- the killer runs in the background while this call waits
  assert(os.execute("(sleep 0.5; kill -9 " .. env("RS_PID_VICTIM") .. ") &"))
  local r, err = c:request("POST", "/chat/completions", CHAT, { headers = { ["x-mock-delay-ms"] = "8000" } })
  local _
  assert(r == nil)
  kind(err, "SidecarUnavailable")
  eq(err.name, "RS_EGONE")
  assert(os.time() - t0 <= 4, "the wait hung after the sidecar died")
  _, err = c:request{ path = "/", route = "echo" }
  kind(err, "SidecarUnavailable")
  -- A new client fails too. Right after the crash the kernel may still be
  -- tearing down the dead sidecar's io_uring, which holds its listening
  -- socket: a connect then reaches it and is dropped without a welcome
  -- (the core library calls that RS_EPROTO). Soon the socket refuses.
  for _ = 1, 100 do
    _, err = ringside.client(env("RS_SOCK_VICTIM"))
    if err.kind ~= "ProtocolError" then break end
    os.execute("sleep 0.05")
  end
  kind(err, "SidecarUnavailable")
  c:close()
end

function T.shutting_down()
  local c <close> = client("RS_SOCK_DRAIN")
  local t = assert(c:submit("POST", "/chat/completions", CHAT, { headers = { ["x-mock-delay-ms"] = "1000" } }))
  assert(os.execute("sleep 0.2"))   -- in flight upstream: the drain waits for it
  assert(os.execute("kill -TERM " .. env("RS_PID_DRAIN")))
  assert(os.execute("sleep 0.3"))
  local _, err = c:request("POST", "/chat/completions", CHAT)
  kind(err, "ShuttingDown")
  kind(err, "SidecarUnavailable")
  eq(assert(c:wait(t, 10)).status, 200)
end

-- ------------------------------------------------------------ submit / poll

function T.submit_and_poll()
  local c <close> = client()
  local want = {}
  for i = 1, 20 do want[assert(c:submit("POST", "/", "n" .. i, { route = "echo" }))] = "n" .. i end
  local got, n, t0 = {}, 0, os.time()
  while n < 20 and os.time() - t0 < 10 do
    for _, r in ipairs(assert(c:poll(8, 1))) do
      assert(r.ok)
      got[r.ticket] = r.body
      n = n + 1
    end
  end
  eq(n, 20, "collected")
  for t, body in pairs(want) do eq(got[t], body, "body of " .. t) end
  eq(#assert(c:poll(64, 0)), 0, "nothing left")
end

function T.poll_returns_errors_as_values()
  local c <close> = client("RS_SOCK_FAST")
  local t = assert(c:submit("POST", "/chat/completions", CHAT, { headers = { ["x-mock-status"] = "404" } }))
  local out, t0 = {}, os.time()
  while #out == 0 and os.time() - t0 < 10 do out = assert(c:poll(64, 1)) end
  eq(#out, 1)
  kind(out[1], "UpstreamError")
  eq(out[1].ticket, t)
end

-- ------------------------------------------------------------------ batches

function T.submit_batch()
  local c <close> = client()
  local items = {}
  for i = 1, 10 do items[i] = { path = "/", body = "b" .. i, route = "echo" } end
  local tickets = assert(c:submit_batch(items))
  for i, t in ipairs(tickets) do eq(assert(c:wait(t)).body, "b" .. i) end
end

function T.submit_batch_refusal_is_per_item()
  local c <close> = client()
  local out = assert(c:submit_batch{ { path = "/", route = "echo" },
                                     { path = "/", body = string.rep("x", 9 << 20), route = "echo" } })
  eq(math.type(out[1]), "integer")
  kind(out[2], "TooLarge")
  assert(c:wait(out[1]))
end

function T.call_batch_in_order_with_errors()
  local c <close> = client()
  local r = assert(c:call_batch({
    { path = "/", body = "first", route = "echo" },
    { path = "/chat/completions", body = CHAT, route = "nowhere" },
    { path = "/chat/completions", body = CHAT, headers = { ["x-mock-status"] = "401" } },
    { "POST", "/", "fourth" },
    { path = "/chat/completions", body = CHAT, headers = { ["x-request-id"] = "fifth" } },
  }, 30))
  eq(r[1].body, "first")
  kind(r[2], "NoRoute")
  eq(r[3].status, 401)
  eq(r[4].status, 200)
  eq(r[5]:json().choices[1].message.content, "echo: fifth")
end

function T.call_batch_timeout_cancels_the_rest()
  local c <close> = client()
  local items = { { path = "/", route = "echo" } }
  for i = 2, 4 do
    items[i] = { path = "/chat/completions", body = CHAT, headers = { ["x-mock-delay-ms"] = "5000" } }
  end
  local t0 = os.time()
  local r = assert(c:call_batch(items, 0.5))
  assert(os.time() - t0 <= 3)
  assert(r[1].ok)
  for i = 2, 4 do kind(r[i], "WaitTimeout") end
  for _ = 1, 50 do assert(c:request{ path = "/", route = "echo" }) end
end

-- ------------------------------------------------------------------ streams

function T.stream_in_full()
  local c <close> = client()
  local s = assert(c:chat({}, { stream = true, headers = { ["x-mock-stream"] = "12" } }))
  local seqs, text, last = {}, {}, nil
  for chunk in s:chunks() do
    seqs[#seqs + 1] = chunk.seq
    text[#text + 1] = chunk:delta()
    last = chunk
  end
  eq(#seqs, 13)
  for i, v in ipairs(seqs) do eq(v, i - 1, "seq") end
  assert(last:done())
  local want = {}
  for i = 0, 11 do want[#want + 1] = "tok" .. i .. " " end
  eq(table.concat(text), table.concat(want))
  local final = assert(s:result())
  eq(final.status, 200)
  eq(final.body, "")
end

function T.stream_text_helper()
  local c <close> = client()
  local body = { model = "deepseek-chat", messages = {}, stream = true }
  local s = assert(c:stream("POST", "/chat/completions", body, { headers = { ["x-mock-stream"] = "4" } }))
  eq(assert(s:text()), "tok0 tok1 tok2 tok3 ")
end

function T.stream_break_cancels()
  local c <close> = client()
  local s = assert(c:chat({}, { stream = true, headers = { ["x-mock-stream"] = "1000",
                                                           ["x-mock-chunk-interval-ms"] = "10" } }))
  local t0 = os.time()
  for chunk in s:chunks() do
    if chunk.seq == 2 then break end
  end
  assert(s.done, "break did not close the stream")
  local r, err = s:result()
  assert(r == nil)
  kind(err, "Cancelled")
  assert(os.time() - t0 <= 3)
  for _ = 1, 20 do assert(c:request{ path = "/", route = "echo" }) end
end

function T.dropped_stream_is_cancelled_when_collected()
  local c <close> = client()
  do
    local s = assert(c:chat({}, { stream = true, headers = { ["x-mock-stream"] = "1000",
                                                             ["x-mock-chunk-interval-ms"] = "10" } }))
    assert(s:next() and s:next())
  end
  local t0 = os.time()   -- uncancelled, the stream would run 10 s
  while c:stats().completed == 0 and os.time() - t0 <= 4 do
    collectgarbage()
    assert(c:poll(64, 0.1))
  end
  eq(c:stats().completed, 1, "completions (the dropped stream's)")
  eq(#assert(c:poll(64, 0.2)), 0, "an abandoned answer reached the application")
end

function T.stream_interrupted()
  local c <close> = client("RS_SOCK_FAST")
  local s = assert(c:chat({}, { stream = true, headers = { ["x-mock-stream"] = "50",
                                                           ["x-mock-reset-after"] = "1500" } }))
  local n = 0
  for _ in s:chunks() do n = n + 1 end
  assert(n > 0)
  local _, err = s:result()
  kind(err, "StreamInterrupted")
  kind(err, "UpstreamError")
end

function T.stream_error_before_any_chunk()
  local c <close> = client()
  local s = assert(c:chat({}, { stream = true, headers = { ["x-mock-status"] = "400" } }))
  local _, err = s:result()
  kind(err, "UpstreamError")
  eq(err.status, 400)
end

function T.stream_of_a_submitted_ticket()
  local c <close> = client()
  local body = { model = "deepseek-chat", messages = {}, stream = true }
  local t = assert(c:submit("POST", "/chat/completions", body, { headers = { ["x-mock-stream"] = "3" },
                                                                 stream = true }))
  local n = 0
  for _ in c:stream_of(t):chunks() do n = n + 1 end
  eq(n, 4)
end

-- --------------------------------------------------------------- big bodies

function T.four_mib_body_echo_route()
  local c <close> = client()
  local body = random_bytes(4 << 20)
  eq(assert(c:request("POST", "/", body, { route = "echo", timeout = 60 })).body == body, true, "4 MiB echo")
end

function T.four_mib_body_through_the_upstream()
  local c <close> = client()
  local body = random_bytes(4 << 20)
  local r = assert(c:request("POST", "/echo", body, { headers = { ["content-type"] = "application/octet-stream" },
                                                      timeout = 60 }))
  eq(r.status, 200)
  eq(r.body == body, true, "4 MiB through the upstream")
end

function T.event_fd()
  local c <close> = client()
  local fd = assert(c:event_fd())
  eq(math.type(fd), "integer")
  local t = assert(c:submit{ path = "/", body = "fd", route = "echo" })
  local r, t0 = nil, os.time()
  while not r and os.time() - t0 < 5 do
    r = c:wait(t, 0)
    if not r then assert(c:arm_event_fd() ~= nil) end
  end
  eq(r and r.body, "fd")
end

-- ------------------------------------------------------------------ runner

local names = {}
for name in pairs(T) do names[#names + 1] = name end
table.sort(names)
local failed = 0
for _, name in ipairs(names) do
  local ok, err = xpcall(T[name], debug.traceback)
  if ok then
    print("ok     " .. name)
  else
    failed = failed + 1
    print("FAIL   " .. name .. "\n" .. tostring(err))
  end
  collectgarbage()
end
print(string.format("%d tests, %d failed", #names, failed))
os.exit(failed == 0 and 0 or 1, true)   -- close the state: finalizers run, leaks show
