--[[
ringside.lua — call busy LLM APIs through the ringside sidecar, from Lua 5.4.

The sidecar (ringsided) owns rate limits, priorities, deadlines, retries and
failover; this module hands it requests through shared memory and gives
back one answer per request.

  local ringside = require "ringside"

  local client = assert(ringside.client())          -- $RINGSIDE_SOCKET or the default
  local r, err = client:chat({ { role = "user", content = "hi" } }, { max_tokens = 64 })
  if r then print(r:json().choices[1].message.content)
  else print(err.kind, err.status, tostring(err)) end

  local s = assert(client:chat(messages, { stream = true }))
  for chunk in s:chunks() do io.write(chunk:delta()) end   -- break cancels
  local final, err = s:result()

Conventions
  * Failures return nil, err (never raise, except for programming errors
    such as a missing path). err is a table: err.kind ("UpstreamError",
    "DeadlineExceeded", ...; see ringside.KINDS), err.code (the RS_E* code),
    err.name ("RS_EUPSTREAM"), err.status (HTTP status or 0), err.ticket,
    err.response (the upstream's error answer, if any), err.message;
    tostring(err) is the message, err:is("Overloaded") tests the kind and
    its parents, err.ok is false.
  * Results of poll / call_batch / submit_batch are lists mixing responses
    (r.ok == true) and error tables (e.ok == false).
  * Numbers that are integers in C (status, tickets, timings) are Lua
    integers. Timeouts are seconds (integer or float).
  * A wait blocks the Lua state (Lua has no threads to hand over to); use
    submit + poll, or event_fd with your event loop, to multiplex.
]]

local N = require "ringside_native"

local M = {
  VERSION = N.version(),
  P0 = N.RS_P0, P1 = N.RS_P1, P2 = N.RS_P2,   -- P0 real-time (never shed), P1 default, P2 batch
  DEFAULT_MODEL = "deepseek-chat",
}

-- How long past a request's own deadline we keep waiting for its answer:
-- the sidecar ends every request by its deadline, so this only bounds a
-- wait on a sidecar alive but stuck (a dead one is noticed at once).
local GRACE_MS = 10000

--- CLOCK_MONOTONIC in nanoseconds (an integer): the clock of chunk.sidecar_ns,
-- so monotonic_ns() - chunk.sidecar_ns is how long a chunk took to reach you.
M.monotonic_ns = N.monotonic_ns

------------------------------------------------------------------------------
-- JSON (small and strict: request bodies built from tables, and r:json())

-- Marks: ringside.null stands for JSON null (so arrays keep their length);
-- ringside.object(t) makes an empty table encode as {} (default: []).
M.null = setmetatable({}, { __tostring = function() return "null" end, __name = "ringside.null" })
local OBJECT_MT = { __jsontype = "object" }
function M.object(t) return setmetatable(t or {}, OBJECT_MT) end

local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f', ['\n'] = '\\n',
                  ['\r'] = '\\r', ['\t'] = '\\t' }

local function encode(v, out)
  local t = type(v)
  if v == M.null or v == nil then
    out[#out + 1] = "null"
  elseif t == "boolean" then
    out[#out + 1] = tostring(v)
  elseif t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then error("JSON cannot hold " .. tostring(v), 0) end
    out[#out + 1] = math.type(v) == "integer" and string.format("%d", v) or string.format("%.17g", v)
  elseif t == "string" then
    out[#out + 1] = '"' .. v:gsub('[%c"\\]', function(c)
      return escapes[c] or string.format("\\u%04x", c:byte())
    end) .. '"'
  elseif t == "table" then
    local mt = getmetatable(v)
    local n = #v
    local is_object = (mt and mt.__jsontype == "object") or (n == 0 and next(v) ~= nil)
    if not is_object then
      for k in pairs(v) do
        if math.type(k) ~= "integer" or k < 1 or k > n then is_object = true break end
      end
    end
    if is_object then
      local keys = {}
      for k in pairs(v) do
        if type(k) ~= "string" then error("JSON object keys must be strings, not " .. type(k), 0) end
        keys[#keys + 1] = k
      end
      table.sort(keys)   -- deterministic bodies
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        encode(k, out)
        out[#out + 1] = ":"
        encode(v[k], out)
      end
      out[#out + 1] = "}"
    else
      out[#out + 1] = "["
      for i = 1, n do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out)
      end
      out[#out + 1] = "]"
    end
  else
    error("JSON cannot hold a " .. t, 0)
  end
end

--- Encode a Lua value as JSON text.
function M.json_encode(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
end

local decode_value

local function skip(s, i)
  return s:find("[^ \t\r\n]", i) or #s + 1
end

local function decode_string(s, i)   -- s:sub(i, i) == '"'
  local out, j = {}, i + 1
  while true do
    local k = s:find('["\\]', j)
    if not k then error("unterminated string at " .. i, 0) end
    out[#out + 1] = s:sub(j, k - 1)
    if s:sub(k, k) == '"' then return table.concat(out), k + 1 end
    local c = s:sub(k + 1, k + 1)
    if c == "u" then
      local hex = s:sub(k + 2, k + 5)
      local cp = tonumber(hex, 16)
      if not cp or #hex ~= 4 then error("bad \\u escape at " .. k, 0) end
      local nexti = k + 6
      if cp >= 0xD800 and cp <= 0xDBFF and s:sub(nexti, nexti + 1) == "\\u" then   -- surrogate pair
        local lo = tonumber(s:sub(nexti + 2, nexti + 5), 16)
        if lo and lo >= 0xDC00 and lo <= 0xDFFF then
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
          nexti = nexti + 6
        end
      end
      out[#out + 1] = utf8.char(cp)
      j = nexti
    else
      local map = { b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", ['"'] = '"', ["\\"] = "\\", ["/"] = "/" }
      if not map[c] then error("bad escape \\" .. c .. " at " .. k, 0) end
      out[#out + 1] = map[c]
      j = k + 2
    end
  end
end

function decode_value(s, i)
  i = skip(s, i)
  local c = s:sub(i, i)
  if c == "{" then
    local obj = {}
    i = skip(s, i + 1)
    if s:sub(i, i) == "}" then return obj, i + 1 end
    while true do
      if s:sub(i, i) ~= '"' then error("expected a key at " .. i, 0) end
      local k
      k, i = decode_string(s, i)
      i = skip(s, i)
      if s:sub(i, i) ~= ":" then error("expected ':' at " .. i, 0) end
      obj[k], i = decode_value(s, i + 1)
      i = skip(s, i)
      local d = s:sub(i, i)
      if d == "}" then return obj, i + 1 end
      if d ~= "," then error("expected ',' or '}' at " .. i, 0) end
      i = skip(s, i + 1)
    end
  elseif c == "[" then
    local arr, n = {}, 0
    i = skip(s, i + 1)
    if s:sub(i, i) == "]" then return arr, i + 1 end
    while true do
      n = n + 1
      arr[n], i = decode_value(s, i)
      i = skip(s, i)
      local d = s:sub(i, i)
      if d == "]" then return arr, i + 1 end
      if d ~= "," then error("expected ',' or ']' at " .. i, 0) end
      i = i + 1
    end
  elseif c == '"' then
    return decode_string(s, i)
  elseif s:sub(i, i + 3) == "true" then
    return true, i + 4
  elseif s:sub(i, i + 4) == "false" then
    return false, i + 5
  elseif s:sub(i, i + 3) == "null" then
    return M.null, i + 4
  else
    local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
    local v = num and tonumber(num)
    if not v then error("unexpected '" .. c .. "' at " .. i, 0) end
    return math.tointeger(v) or v, i + #num
  end
end

--- Decode JSON text; returns the value, or nil and a message.
function M.json_decode(s)
  local ok, v, i = pcall(decode_value, s, 1)
  if not ok then return nil, "invalid JSON: " .. tostring(v) end
  if skip(s, i) <= #s then return nil, "invalid JSON: trailing data at " .. i end
  return v
end

------------------------------------------------------------------------------
-- Errors

-- Each kind and its parent ("Error" is the root); err:is(kind) follows them.
M.KINDS = {
  Error = false,
  SidecarUnavailable = "Error",   -- RS_ECONNECT, RS_EGONE, RS_ECORRUPT: is ringsided running? reconnect
  ShuttingDown = "SidecarUnavailable",
  ClientClosed = "Error",
  ProtocolError = "Error",
  BadRequest = "Error",           -- RS_EINVAL, RS_EBADREQ: fix the request
  TooLarge = "BadRequest",
  NoRoute = "BadRequest",
  Overloaded = "Error",           -- retry later, or raise the priority
  RateLimited = "Overloaded",
  Shed = "Overloaded",
  QueueFull = "Overloaded",
  RingFull = "Overloaded",
  DeadlineExceeded = "Error",
  WaitTimeout = "Error",          -- still in flight: wait again
  UpstreamError = "Error",        -- err.status, err.response
  UpstreamRateLimited = "UpstreamError",
  UpstreamUnreachable = "UpstreamError",
  StreamInterrupted = "UpstreamError",
  Cancelled = "Error",
  UnknownTicket = "Error",
  InternalError = "Error",
}

local KIND_OF = {
  [N.RS_EAGAIN] = "RingFull", [N.RS_E2BIG] = "TooLarge", [N.RS_EINVAL] = "BadRequest",
  [N.RS_ENOMEM] = "InternalError", [N.RS_ETIMEDOUT] = "WaitTimeout", [N.RS_ENOENT] = "UnknownTicket",
  [N.RS_EGONE] = "SidecarUnavailable", [N.RS_ECONNECT] = "SidecarUnavailable", [N.RS_EPROTO] = "ProtocolError",
  [N.RS_ETOOMANY] = "RingFull", [N.RS_EBADREQ] = "BadRequest", [N.RS_EUPSTREAM] = "UpstreamError",
  [N.RS_ECONNUP] = "UpstreamUnreachable", [N.RS_EDEADLINE] = "DeadlineExceeded", [N.RS_ESHUTDOWN] = "ShuttingDown",
  [N.RS_ERATELIMITED] = "RateLimited", [N.RS_ESHED] = "Shed", [N.RS_ECANCELLED] = "Cancelled",
  [N.RS_ENOROUTE] = "NoRoute", [N.RS_ECORRUPT] = "SidecarUnavailable", [N.RS_EINTERNAL] = "InternalError",
  [N.RS_EQUEUEFULL] = "QueueFull", [N.RS_EINTERRUPTED] = "StreamInterrupted", [N.RSB_ECLOSED] = "ClientClosed",
}

local Error = {}
Error.__index = Error
Error.__name = "ringside.Error"
Error.__tostring = function(e) return e.message end

--- Whether err is of this kind or one of its children.
function Error:is(kind)
  local k = self.kind
  while k do
    if k == kind then return true end
    k = M.KINDS[k]
  end
  return false
end

--- The error table for a code: what happened (msg), then what to do.
function M.error(code, msg, status, ticket, response)
  status = status or 0
  local kind = KIND_OF[code] or "Error"
  if kind == "UpstreamError" and status == 429 then kind = "UpstreamRateLimited" end
  local hint = N.strerror(code)
  local head = N.errname(code) .. (status > 0 and (" (HTTP " .. status .. ")") or "")
  local text
  if msg and msg ~= "" then
    text = head .. ": " .. msg
    if not msg:find(hint, 1, true) then text = text .. " — " .. hint end
  else
    text = head .. ": " .. hint
  end
  return setmetatable({ ok = false, kind = kind, code = code, name = N.errname(code), status = status,
                        ticket = ticket, response = response, message = text }, Error)
end

local function last_error(ticket)
  return M.error(N.errcode(), N.errdetail(), 0, ticket)
end

------------------------------------------------------------------------------
-- Results

local Response = {}
Response.__index = Response
Response.__name = "ringside.Response"
Response.__tostring = function(r)
  return string.format("ringside.Response(ticket=%d, status=%d, upstream=%q, %d bytes)", r.ticket, r.status,
                       r.upstream, #r.body)
end

--- The body parsed as JSON (nil, message if it is not).
function Response:json() return M.json_decode(self.body) end
--- A header by name, case-insensitively.
function Response:header(name) return self.headers[name:lower()] end

-- The native table (headers already a map, names lower-cased) → a
-- response, or the error table it stands for.
local function result(raw)
  local code, msg = raw.error, raw.error_msg
  raw.error, raw.error_msg = nil, nil
  raw.ok = true
  local r = setmetatable(raw, Response)
  if code == 0 then return r end
  r.ok = false
  return M.error(code, msg, r.status, r.ticket, r)
end

-- nil, err for an error result; the response otherwise.
local function answer(raw)
  local r = result(raw)
  if r.ok then return r end
  return nil, r
end

local Chunk = {}
Chunk.__index = Chunk
Chunk.__name = "ringside.Chunk"
Chunk.__tostring = function(c) return string.format("ringside.Chunk(seq=%d, %q)", c.seq, c.data:sub(1, 60)) end

--- The OpenAI-style end marker, data "[DONE]".
function Chunk:done() return self.data == "[DONE]" end
function Chunk:json() return M.json_decode(self.data) end
--- For chat completion chunks: the text this chunk adds, "" for anything else.
function Chunk:delta()
  if self.data:sub(1, 1) ~= "{" then return "" end
  local v = self:json()
  local c = type(v) == "table" and type(v.choices) == "table" and v.choices[1]
  local d = type(c) == "table" and type(c.delta) == "table" and c.delta.content
  return type(d) == "string" and d or ""
end

------------------------------------------------------------------------------
-- Arguments

local function headers_text(h)
  if h == nil or next(h) == nil then return nil end
  local lines = {}
  for name, value in pairs(h) do
    name, value = tostring(name), tostring(value)
    if name == "" or name:find(":", 1, true) or (name .. value):find("[\r\n%z]") then
      error("header '" .. name .. "' has a name or value that cannot be sent "
            .. "(empty name, ':' in the name, or a line break / NUL)", 3)
    end
    lines[#lines + 1] = name .. ": " .. value
  end
  return table.concat(lines, "\n")
end

local function body_bytes(b)
  if b == nil or type(b) == "string" then return b end
  if type(b) == "table" then return M.json_encode(b) end
  error("body must be a string, a table (sent as JSON) or nil, not a " .. type(b), 3)
end

-- A timeout in seconds → the request's deadline for the sidecar (ms, 0 =
-- its default) and how long we wait locally (ms, -1 = until the end).
local function deadline(timeout)
  if timeout == nil then return 0, -1 end
  if type(timeout) ~= "number" or timeout <= 0 then error("timeout must be positive seconds", 3) end
  local ms = math.min(math.max(1, math.ceil(timeout * 1000)), 2147483647 - GRACE_MS)
  return ms, ms + GRACE_MS
end

local function wait_ms(timeout)
  if timeout == nil then return -1 end
  if type(timeout) ~= "number" or timeout < 0 then error("timeout must not be negative", 3) end
  return math.min(math.ceil(timeout * 1000), 2147483647)
end

-- c:request(method, path, body, opts) or c:request{method=, path=, body=, ...}
-- → opts, method, path, body
local function split(a, b, c, d)
  if type(a) == "table" then return a, a.method, a.path, a.body end
  return d, a, b, c
end

local OPTION = { method = true, path = true, body = true, priority = true, route = true, headers = true,
                 timeout = true, model = true, stream = true }
local NO_OPTIONS = {}

-- The native call's request arguments, then the local wait in ms.
local function request_args(o, method, path, body, stream)
  o = o or NO_OPTIONS
  for k in pairs(o) do
    if not OPTION[k] then error("unknown request option '" .. tostring(k) .. "'", 3) end
  end
  if type(path) ~= "string" then error("request needs a path (a string starting with '/')", 3) end
  local dl, wms = deadline(o.timeout)
  return method or "POST", path, o.route, o.model, headers_text(o.headers), body_bytes(body),
         o.priority or M.P1, dl, (stream or o.stream) and N.RS_REQ_STREAM or 0, wms
end

------------------------------------------------------------------------------
-- Streams

local Stream = {}
Stream.__index = Stream
Stream.__name = "ringside.Stream"

local function finish(s, wms)
  local raw = N.wait(s._h, s.ticket, wms)
  if raw == nil then
    if N.errcode() == N.RS_ETIMEDOUT then return false end
    s.error = last_error(s.ticket)
  else
    local r = result(raw)
    if r.ok then s.response = r else s.error = r end
  end
  s.done = true
  return true
end

local function next_chunk(s)
  if s.done then return nil end
  local raw = N.next_chunk(s._h, s.ticket, s._wait_ms)
  if raw then return setmetatable(raw, Chunk) end
  local code = N.errcode()
  if code == 0 then
    finish(s, s._wait_ms)
  else
    s.done = true
    if code == N.RS_ETIMEDOUT then
      N.abandon(s._h, s.ticket)
      s.error = M.error(N.RS_EDEADLINE, "no chunk or end from the sidecar " .. GRACE_MS // 1000
                        .. " s past the stream's deadline; the request was cancelled", 0, s.ticket)
    else
      s.error = last_error(s.ticket)
    end
  end
  return nil
end

--- for chunk in s:chunks() do ... end — chunks as they arrive. The loop
-- ends after the last one, or when the stream fails (then s:result()
-- returns nil, err). Leaving the loop early (break, an error) closes the
-- stream, which cancels the request.
function Stream:chunks()
  return next_chunk, self, nil, self
end

--- The next chunk, or nil at the end (or on failure: see s:result()).
function Stream:next() return next_chunk(self) end

--- After the last chunk: the terminal response (status, headers, timings;
-- no body), or nil, err. Reads what is left of the stream first.
function Stream:result()
  while not self.done do next_chunk(self) end
  if self.error then return nil, self.error end
  return self.response
end

--- Read the rest of a chat completion stream; its text, or nil, err.
function Stream:text()
  local parts = {}
  for chunk in self:chunks() do parts[#parts + 1] = chunk:delta() end
  if self.error then return nil, self.error end
  return table.concat(parts)
end

--- Cancel the request if the stream has not ended, and wait up to timeout
-- seconds (default 1) for its terminal answer (s.error is then usually
-- Cancelled); past that, the answer is discarded when it comes.
function Stream:close(timeout)
  if self.done then return end
  N.cancel(self._h, self.ticket)
  if not finish(self, wait_ms(timeout or 1.0)) then
    N.abandon(self._h, self.ticket)
    self.done = true
  end
end

Stream.__close = function(s) s:close() end
Stream.__gc = function(s)   -- never block in a finalizer: abandon (cancel, drop its answer)
  if not s.done then N.abandon(s._h, s.ticket) end
end

local function new_stream(h, ticket, wms)
  return setmetatable({ _h = h, ticket = ticket, _wait_ms = wms, done = false }, Stream)
end

------------------------------------------------------------------------------
-- The client

local Client = {}
Client.__index = Client
Client.__name = "ringside.Client"
Client.__tostring = function(c) return "ringside.Client(" .. tostring(c.socket) .. ")" end
Client.__close = function(c) c:close() end

--- Connect to the sidecar (socket nil: $RINGSIDE_SOCKET, else the default).
-- Returns the client, or nil, err (err.kind "SidecarUnavailable").
-- local c <close> = assert(ringside.client()) closes it at the end of the scope.
function M.client(socket)
  local h = N.connect(socket)
  if not h then return nil, last_error() end
  return setmetatable({ _h = h, socket = socket or os.getenv("RINGSIDE_SOCKET") }, Client)
end

--- Close the channel; the sidecar cancels what was in flight. Idempotent.
function Client:close() N.close(self._h) end
function Client:closed() return N.closed(self._h) ~= 0 end

--- Send one request and wait for its answer:
--   c:request(method, path, body, opts) or c:request{method=, path=, body=, ...}
-- opts: priority (ringside.P0/P1/P2), route (nil: the sidecar's routing; a
-- name pins it; "echo" is answered by the sidecar), headers (a table),
-- timeout (the request's deadline in seconds, enforced by the sidecar),
-- model (a hint for routing and limits). body: a string, a table (sent as
-- JSON) or nil. Returns the response, or nil, err.
function Client:request(a, b, c, d)
  local method, path, route, model, hdrs, body, prio, dl, flags, wms = request_args(split(a, b, c, d))
  local raw = N.call(self._h, method, path, route, model, hdrs, body, prio, dl, flags, wms)
  if raw then return answer(raw) end
  if N.errcode() == N.RS_ETIMEDOUT and wms >= 0 then
    return nil, M.error(N.RS_EDEADLINE, "no answer from the sidecar " .. GRACE_MS // 1000 .. " s past the "
                        .. "request's deadline; the request was cancelled — check the sidecar's health")
  end
  return nil, last_error()
end

local CHAT_OPTION = { priority = true, route = true, headers = true, timeout = true, stream = true, model = true }

--- A chat completion: POST /chat/completions with {model=, messages=, ...}.
-- opts: model (default "deepseek-chat"), stream, priority, route, headers,
-- timeout; any other key is a field of the request body (max_tokens, ...).
-- Returns the response (or, with stream = true, a Stream), or nil, err.
function Client:chat(messages, opts)
  opts = opts or {}
  local body, o = { model = opts.model or M.DEFAULT_MODEL, messages = messages }, { path = "/chat/completions" }
  for k, v in pairs(opts) do
    if CHAT_OPTION[k] then o[k] = v else body[k] = v end
  end
  o.model = body.model
  if opts.stream then body.stream = true end
  o.body = body
  if opts.stream then return self:stream(o) end
  return self:request(o)
end

--- Send a request whose answer is streamed (server-sent events); return a
-- Stream (see Stream:chunks), or nil, err. Arguments as request; the body
-- must also ask the API for a stream ("stream": true), as chat does.
function Client:stream(a, b, c, d)
  local o, method, path, body0 = split(a, b, c, d)
  local route, model, hdrs, body, prio, dl, flags, wms
  method, path, route, model, hdrs, body, prio, dl, flags, wms =
    request_args(o, method, path or "/chat/completions", body0, true)
  -- a full ring is retried, as request does
  local t = N.submit_wait(self._h, method, path, route, model, hdrs, body, prio, dl, flags, wms)
  if t == 0 and N.errcode() ~= 0 then return nil, last_error() end
  return new_stream(self._h, t, wms)
end

--- Submit without waiting; the ticket (an integer), or nil, err
-- (err.kind "RingFull": the ring is full right now, collect answers first).
function Client:submit(a, b, c, d)
  local method, path, route, model, hdrs, body, prio, dl, flags = request_args(split(a, b, c, d))
  local t = N.submit(self._h, method, path, route, model, hdrs, body, prio, dl, flags)
  if t == 0 and N.errcode() ~= 0 then return nil, last_error() end
  return t
end

--- The Stream of a ticket submitted with stream = true.
function Client:stream_of(ticket, timeout)
  return new_stream(self._h, ticket, wait_ms(timeout))
end

--- Wait up to timeout seconds (nil: until it ends) for a ticket's answer:
-- the response, or nil, err (kind "WaitTimeout": still running, wait again).
function Client:wait(ticket, timeout)
  local raw = N.wait(self._h, ticket, wait_ms(timeout))
  if raw then return answer(raw) end
  return nil, last_error(ticket)
end

--- Up to max (default 64) answers of tickets nobody waits for, waiting up
-- to timeout seconds (default 0) for the first: a list of responses and
-- error tables (each with .ticket and .ok), or nil, err.
function Client:poll(max, timeout)
  max = max or 64
  local out, wms = {}, wait_ms(timeout or 0)
  while #out < max do
    local raw = N.poll(self._h, wms)
    if not raw then
      if N.errcode() ~= N.RS_ETIMEDOUT then return nil, last_error() end
      break
    end
    out[#out + 1] = result(raw)
    wms = 0
  end
  return out
end

--- Ask the sidecar to cancel; the ticket still gets one answer. true, or nil, err.
function Client:cancel(ticket)
  local err = N.cancel(self._h, ticket)
  if err < 0 then return nil, M.error(err, N.errdetail(), 0, ticket) end
  return true
end

local function make_batch(requests)
  local b = N.batch_new()
  for _, item in ipairs(requests) do
    local method, path, route, model, hdrs, body, prio, dl, flags
    if item[1] ~= nil then
      method, path, route, model, hdrs, body, prio, dl, flags = request_args(nil, item[1], item[2], item[3])
    else
      method, path, route, model, hdrs, body, prio, dl, flags = request_args(item, item.method, item.path, item.body)
    end
    if N.batch_add(b, method, path, route, model, hdrs, body, prio, dl, flags) < 0 then
      return nil, last_error()
    end
  end
  return b
end

--- Submit many requests with one wakeup of the sidecar. Items are request
-- option tables ({path=, body=, priority=, ...}) or {method, path, body}
-- lists. Returns a list of tickets and error tables (RingFull: resubmit
-- it later), in order; or nil, err.
function Client:submit_batch(requests)
  local b, err = make_batch(requests)
  if not b then return nil, err end
  if N.batch_submit(self._h, b) < 0 then return nil, last_error() end
  local out = {}
  for i = 0, N.batch_size(b) - 1 do
    local e = N.batch_error(b, i)
    out[i + 1] = e == 0 and N.batch_ticket(b, i) or M.error(e)
  end
  return out
end

--- Send many requests and wait for all, up to timeout seconds in total.
-- Returns a list of responses and error tables, in order (items still
-- running at the timeout are cancelled: kind "WaitTimeout"); or nil, err.
function Client:call_batch(requests, timeout)
  local b, err = make_batch(requests)
  if not b then return nil, err end
  if N.batch_call(self._h, b, wait_ms(timeout)) < 0 then return nil, last_error() end
  local out = {}
  for i = 0, N.batch_size(b) - 1 do
    local raw = N.batch_take(b, i)
    out[i + 1] = raw and result(raw) or M.error(N.errcode())
  end
  return out
end

--- This client's counters: submitted, completed, ring_full, doorbells, sleeps, orphans,
--- stream_holds.
function Client:stats()
  local t = {}
  for name in N.stat_names():gmatch("%S+") do t[name] = N.stat(self._h, name) end
  return t
end

--- A file descriptor that becomes readable when answers may be waiting,
-- for an event loop (luv, cqueues, ...). Call arm_event_fd() before each
-- wait on it: true means collect now (c:wait(t, 0), c:poll()).
function Client:event_fd()
  local fd = N.event_fd(self._h)
  if fd < 0 then return nil, last_error() end
  return fd
end

function Client:arm_event_fd()
  local r = N.arm_event_fd(self._h)
  if r < 0 then return nil, last_error() end
  return r == 1
end

return M
