# frozen_string_literal: true

# ringside.rb — call busy LLM APIs through the ringside sidecar, from Ruby.
#
# The sidecar (ringsided) owns rate limits, priorities, deadlines, retries
# and failover; this library hands it requests through shared memory and
# gives back one answer per request: a Ringside::Response, or an exception
# under Ringside::Error that says which limit or failure ended it.
#
#   require "ringside"
#
#   Ringside::Client.open do |client|                # $RINGSIDE_SOCKET or the default
#     r = client.chat([{ role: "user", content: "hi" }], max_tokens: 64)
#     puts r.json["choices"][0]["message"]["content"]
#
#     client.chat(messages, stream: true) { |chunk| print chunk.delta }   # break cancels
#
#     t = client.submit("POST", "/chat/completions", body, priority: Ringside::P0)
#     r = client.wait(t, timeout: 30)
#   end
#
# Waits run without the GVL (other Ruby threads keep running; one Client
# serves many threads) and are interruptible (Ctrl-C, Thread#raise) within
# 0.1 s. This file is the whole Ruby API; Ringside::Native is the SWIG
# extension under it (bindings/ringside.i) and not meant to be used
# directly.

require "json"
require "ringside/native"

module Ringside
  N = Native
  private_constant :N

  VERSION = N.version

  # Priorities: P0 real-time (never shed), P1 near real-time (default), P2 batch.
  P0 = N::RS_P0
  P1 = N::RS_P1
  P2 = N::RS_P2
  DEFAULT_MODEL = "deepseek-chat"

  # How long past a request's own deadline we keep waiting for its answer
  # (the sidecar ends every request by its deadline; this only bounds a
  # wait on a sidecar that is alive but stuck; a dead one is noticed at once).
  GRACE_MS = 10_000
  private_constant :GRACE_MS

  # Base of every ringside error.
  #   code      the RS_E* code (an Integer < 0), as in ringside.h
  #   code_name its symbolic name, e.g. "RS_EUPSTREAM"
  #   status    the upstream's HTTP status, 0 if none
  #   ticket    the request's ticket, nil if it never got one
  #   response  for an answer that came back as an error: a Response with
  #             the upstream's status, headers and error body (else nil)
  class Error < StandardError
    attr_reader :code, :code_name, :status, :ticket, :response

    def initialize(message = nil, code: 0, status: 0, ticket: nil, response: nil)
      super(message)
      @code = code
      @code_name = code.zero? ? "" : N.errname(code)
      @status = status
      @ticket = ticket
      @response = response
    end
  end

  # The sidecar cannot be reached or went away (RS_ECONNECT, RS_EGONE,
  # RS_ECORRUPT): check that ringsided runs and RINGSIDE_SOCKET points at
  # its socket, then create a new Client.
  class SidecarUnavailable < Error; end
  # The sidecar is draining before it exits (RS_ESHUTDOWN): retry after it restarts.
  class ShuttingDown < SidecarUnavailable; end
  # This Client was closed: create a new one.
  class ClientClosed < Error; end
  # The sidecar speaks another protocol version (RS_EPROTO).
  class ProtocolError < Error; end
  # The request itself is wrong (RS_EINVAL, RS_EBADREQ): fix it, retrying will not help.
  class BadRequest < Error; end
  # The request can never fit the sidecar's ring (RS_E2BIG).
  class TooLarge < BadRequest; end
  # No route of that name in the sidecar's configuration (RS_ENOROUTE).
  class NoRoute < BadRequest; end
  # Refused because something is full or limited right now: retry later, or raise the priority.
  class Overloaded < Error; end
  # The sidecar's rate limit refused it (RS_ERATELIMITED). The upstream's
  # own 429 is UpstreamRateLimited (an UpstreamError).
  class RateLimited < Overloaded; end
  # Shed under overload (RS_ESHED). P0 is never shed.
  class Shed < Overloaded; end
  # The sidecar's queue for this priority is full (RS_EQUEUEFULL); the message names the limit.
  class QueueFull < Overloaded; end
  # submit found the ring full or too many requests outstanding (RS_EAGAIN,
  # RS_ETOOMANY): collect answers, then submit again. request retries this itself.
  class RingFull < Overloaded; end
  # The request's deadline passed (RS_EDEADLINE).
  class DeadlineExceeded < Error; end
  # wait timed out (RS_ETIMEDOUT); the request is still in flight: wait again or cancel it.
  class WaitTimeout < Error; end
  # The upstream answered an error status (RS_EUPSTREAM): #status, #response.
  class UpstreamError < Error; end
  # The upstream kept answering 429 Too Many Requests.
  class UpstreamRateLimited < UpstreamError; end
  # No answer from the upstream: connect failure, reset or timeout (RS_ECONNUP).
  class UpstreamUnreachable < UpstreamError; end
  # A stream broke after part of it was delivered (RS_EINTERRUPTED); resubmit to start over.
  class StreamInterrupted < UpstreamError; end
  # Cancelled by this client (RS_ECANCELLED).
  class Cancelled < Error; end
  # No such ticket, or its answer was already taken (RS_ENOENT).
  class UnknownTicket < Error; end
  # A bug in ringside (RS_EINTERNAL, RS_ENOMEM, ...): please report it.
  class InternalError < Error; end

  ERROR_CLASSES = {
    N::RS_EAGAIN => RingFull, N::RS_E2BIG => TooLarge, N::RS_EINVAL => BadRequest,
    N::RS_ENOMEM => InternalError, N::RS_ETIMEDOUT => WaitTimeout, N::RS_ENOENT => UnknownTicket,
    N::RS_EGONE => SidecarUnavailable, N::RS_ECONNECT => SidecarUnavailable, N::RS_EPROTO => ProtocolError,
    N::RS_ETOOMANY => RingFull, N::RS_EBADREQ => BadRequest, N::RS_EUPSTREAM => UpstreamError,
    N::RS_ECONNUP => UpstreamUnreachable, N::RS_EDEADLINE => DeadlineExceeded, N::RS_ESHUTDOWN => ShuttingDown,
    N::RS_ERATELIMITED => RateLimited, N::RS_ESHED => Shed, N::RS_ECANCELLED => Cancelled,
    N::RS_ENOROUTE => NoRoute, N::RS_ECORRUPT => SidecarUnavailable, N::RS_EINTERNAL => InternalError,
    N::RS_EQUEUEFULL => QueueFull, N::RS_EINTERRUPTED => StreamInterrupted, N::RSB_ECLOSED => ClientClosed
  }.freeze

  # The exception for a code: what happened (msg: the sidecar's error_msg or
  # the binding's detail), then what to do (strerror).
  def self.error_for(code, msg = "", status: 0, ticket: nil, response: nil)
    cls = ERROR_CLASSES.fetch(code, Error)
    cls = UpstreamRateLimited if cls == UpstreamError && status == 429
    hint = N.strerror(code)
    head = N.errname(code) + (status.positive? ? " (HTTP #{status})" : "")
    text = msg.to_s.empty? ? "#{head}: #{hint}" : "#{head}: #{msg}"
    text += " — #{hint}" unless msg.to_s.empty? || msg.include?(hint)
    cls.new(text, code: code, status: status, ticket: ticket, response: response)
  end

  def self.last_error(ticket = nil) # :nodoc:
    error_for(N.errcode, N.errdetail, ticket: ticket)
  end

  # Where the time went, in microseconds (0: the phase did not happen).
  Timings = Struct.new(:queued_us, :first_byte_us, :first_content_us, :total_us)

  # A finished request: status, headers (a Hash, names lower-cased), body (a
  # binary String), attempts, upstream (the route that answered), timings,
  # ticket.
  class Response
    attr_reader :ticket, :status, :error_msg, :body, :attempts, :upstream

    def initialize(raw) # :nodoc:
      @ticket, _err, @status, @error_msg, @raw_headers, @body, @attempts, @upstream, *@raw_timings = raw
    end

    def headers
      @headers ||= @raw_headers.each_with_object({}) do |(name, value), h|
        key = name.downcase
        h[key] = h.key?(key) ? "#{h[key]}, #{value}" : value
      end
    end

    def header(name)
      headers[name.downcase]
    end

    def timings
      Timings.new(*@raw_timings)
    end

    # The body parsed as JSON.
    def json(**opts)
      JSON.parse(text, **opts)
    end

    # The body as a UTF-8 String.
    def text
      @body.dup.force_encoding(Encoding::UTF_8)
    end

    def inspect
      "#<Ringside::Response ticket=#{@ticket} status=#{@status} upstream=#{@upstream.inspect} " \
        "body=#{@body.bytesize} bytes>"
    end
  end

  # One server-sent event of a stream: data (a binary String), seq (0, 1, 2,
  # ...), ticket, sidecar_ns (CLOCK_MONOTONIC when the sidecar got it).
  class Chunk
    attr_reader :ticket, :seq, :data, :sidecar_ns

    def initialize(raw) # :nodoc:
      @ticket, @seq, @data, @sidecar_ns = raw
    end

    # The OpenAI-style end marker, data "[DONE]".
    def done?
      @data == "[DONE]"
    end

    def text
      @data.dup.force_encoding(Encoding::UTF_8)
    end

    def json(**opts)
      JSON.parse(text, **opts)
    end

    # For chat completion chunks: the text this chunk adds
    # (choices[0].delta.content), "" for anything else.
    def delta
      return "" if done? || !@data.start_with?("{")

      json.dig("choices", 0, "delta", "content") || ""
    rescue JSON::ParserError, TypeError, NoMethodError
      ""
    end

    def inspect
      "#<Ringside::Chunk ticket=#{@ticket} seq=#{@seq} data=#{@data[0, 60].inspect}>"
    end
  end

  # The chunks of a streamed request, in order (Enumerable). #each yields
  # them as they arrive and returns the terminal Response, or raises the
  # error the stream ended with. #close before the end (or leaving a block
  # given to Client#stream early: break, an exception) cancels the request.
  class Stream
    include Enumerable

    attr_reader :ticket, :response, :error

    def initialize(handle, ticket, wait_ms) # :nodoc:
      @h = handle
      @ticket = ticket
      @wait_ms = wait_ms
      @done = false
      # A stream dropped before its end is cancelled when collected: its
      # unread chunks would otherwise pile up in the client (and past the
      # client's limit, hold back every other answer).
      @live = [true]
      ObjectSpace.define_finalizer(self, Stream.finalizer(handle, ticket, @live))
    end

    def self.finalizer(handle, ticket, live) # :nodoc:
      proc { N.abandon(handle, ticket) if live[0] }
    end

    def each
      return enum_for(:each) unless block_given?

      until @done
        raw = N.next_chunk(@h, @ticket, @wait_ms)
        if raw
          yield Chunk.new(raw)
          next
        end
        code = N.errcode
        if code.zero?
          finish(@wait_ms)
        else
          done!
          if code == N::RS_ETIMEDOUT
            N.abandon(@h, @ticket)
            @error = DeadlineExceeded.new("RS_EDEADLINE: no chunk or end from the sidecar #{GRACE_MS / 1000} s " \
                                          "past the stream's deadline; the request was cancelled",
                                          code: N::RS_EDEADLINE, ticket: @ticket)
          else
            @error = Ringside.last_error(@ticket)
          end
        end
      end
      raise @error if @error

      @response
    end

    def done?
      @done
    end

    def done!
      @done = true
      @live[0] = false
    end
    private :done!

    # Read the rest of a chat completion stream and return its text.
    def text
      map(&:delta).join
    end

    # Cancel the request if the stream has not ended, and wait up to timeout
    # seconds for its terminal answer (#error is then usually Cancelled);
    # past that, the answer is discarded when it comes.
    def close(timeout: 1.0)
      return if @done

      N.cancel(@h, @ticket)
      return if finish((timeout * 1000).ceil)

      N.abandon(@h, @ticket)
      done!
    end

    private

    def finish(wait_ms)
      raw = N.wait(@h, @ticket, wait_ms)
      if raw.nil?
        return false if N.errcode == N::RS_ETIMEDOUT

        @error = Ringside.last_error(@ticket)
      else
        r = Ringside.result(raw)
        r.is_a?(Error) ? @error = r : @response = r
      end
      done!
    end
  end

  def self.result(raw) # :nodoc:
    return Response.new(raw) if raw[1].zero?

    r = Response.new(raw)
    error_for(raw[1], r.error_msg, status: r.status, ticket: r.ticket, response: r)
  end

  def self.answer(raw) # :nodoc:
    r = result(raw)
    raise r if r.is_a?(Error)

    r
  end

  # A connection to the ringside sidecar. Thread-safe: any number of
  # threads may use one Client at once.
  class Client
    # Connect (socket: nil → $RINGSIDE_SOCKET, else the library's default);
    # with a block, yield the client and close it afterwards.
    def self.open(socket: nil)
      c = new(socket: socket)
      return c unless block_given?

      begin
        yield c
      ensure
        c.close
      end
    end

    attr_reader :socket

    # Raises SidecarUnavailable if the sidecar cannot be reached.
    def initialize(socket: nil)
      @h = N.connect(socket)
      raise Ringside.last_error unless @h

      @socket = socket || ENV["RINGSIDE_SOCKET"]
    end

    # Close the channel; threads waiting on it get ClientClosed, the sidecar
    # cancels what was in flight. Idempotent.
    def close
      N.close(@h)
      nil
    end

    def closed?
      N.closed(@h) != 0
    end

    # Send one request and wait for its answer.
    #   body      String (its bytes), Hash/Array (sent as JSON) or nil
    #   priority  P0, P1 (default), P2
    #   route     nil: the sidecar's routing; a route's name pins it;
    #             "echo" is answered by the sidecar itself
    #   headers   Hash; Authorization is dropped (the sidecar holds the key)
    #   timeout   the request's deadline in seconds, enforced by the sidecar
    #   model     optional model name hint for routing and limits
    # Returns a Response, or raises the Error subclass of what ended it.
    def request(method, path, body = nil, priority: P1, route: nil, headers: nil, timeout: nil, model: nil)
      args, wait_ms = Client.request_args(method, path, body, priority, route, headers, timeout, model, false)
      raw = N.call(@h, *args, wait_ms)
      return Ringside.answer(raw) if raw

      if N.errcode == N::RS_ETIMEDOUT && wait_ms >= 0
        raise DeadlineExceeded.new("RS_EDEADLINE: no answer from the sidecar #{GRACE_MS / 1000} s past the " \
                                   "request's deadline; the request was cancelled — check the sidecar's health",
                                   code: N::RS_EDEADLINE)
      end
      raise Ringside.last_error
    end

    # POST /chat/completions with {model:, messages:, **params} (params are
    # the API's own fields: max_tokens, temperature, ...). Returns a
    # Response; with stream: true, streams: yields each Chunk to the block
    # and returns the terminal Response (without a block: a Stream).
    def chat(messages, model: DEFAULT_MODEL, stream: false, priority: P1, route: nil, headers: nil, timeout: nil,
             **params, &block)
      body = { model: model, messages: messages }.merge(params)
      opts = { priority: priority, route: route, headers: headers, timeout: timeout, model: model }
      return request("POST", "/chat/completions", body, **opts) unless stream

      body[:stream] = true
      self.stream("POST", "/chat/completions", body, **opts, &block)
    end

    # Send a request whose answer is streamed (server-sent events). With a
    # block: yield each Chunk as it arrives and return the terminal
    # Response; leaving the block early (break, an exception) cancels the
    # request. Without: return a Stream. The body must ask the API for a
    # stream ("stream": true) as chat(stream: true) does.
    def stream(method = "POST", path = "/chat/completions", body = nil, priority: P1, route: nil, headers: nil,
               timeout: nil, model: nil, &block)
      args, wait_ms = Client.request_args(method, path, body, priority, route, headers, timeout, model, true)
      t = N.submit_wait(@h, *args, wait_ms) # a full ring is retried, as request does
      raise Ringside.last_error if t.zero? && N.errcode != 0

      s = Stream.new(@h, t, wait_ms)
      return s unless block

      begin
        s.each(&block)
      ensure
        s.close
      end
    end

    # Submit without waiting; return the ticket (an Integer). Raises
    # RingFull when the submission ring is full right now.
    def submit(method, path, body = nil, priority: P1, route: nil, headers: nil, timeout: nil, model: nil,
               stream: false)
      args, = Client.request_args(method, path, body, priority, route, headers, timeout, model, stream)
      t = N.submit(@h, *args)
      raise Ringside.last_error if t.zero? && N.errcode != 0

      t
    end

    # The Stream of a ticket submitted with stream: true.
    def stream_of(ticket, timeout: nil)
      Stream.new(@h, ticket, Client.wait_ms(timeout))
    end

    # Wait up to timeout seconds (nil: until it ends) for a ticket's answer.
    # Raises WaitTimeout if still running (the ticket stays valid).
    def wait(ticket, timeout: nil)
      raw = N.wait(@h, ticket, Client.wait_ms(timeout))
      raise Ringside.last_error(ticket) unless raw

      Ringside.answer(raw)
    end

    # Up to max answers of tickets nobody waits for, waiting up to timeout
    # seconds for the first: Responses and Error instances (with #ticket).
    def poll(max: 64, timeout: 0)
      out = []
      wait_ms = Client.wait_ms(timeout)
      while out.size < max
        raw = N.poll(@h, wait_ms)
        unless raw
          raise Ringside.last_error unless N.errcode == N::RS_ETIMEDOUT

          break
        end
        out << Ringside.result(raw)
        wait_ms = 0
      end
      out
    end

    # Ask the sidecar to cancel; the ticket still gets one answer
    # (Cancelled, or its real result if that came first).
    def cancel(ticket)
      err = N.cancel(@h, ticket)
      raise Ringside.error_for(err, N.errdetail, ticket: ticket) if err.negative?

      nil
    end

    # Submit many requests with one wakeup of the sidecar. Items are Hashes
    # of request keywords plus :method, :path, :body, or [method, path, body]
    # Arrays. Returns, in order, a ticket or the exception that refused it.
    def submit_batch(requests)
      b = Client.batch(requests)
      raise Ringside.last_error if N.batch_submit(@h, b).negative?

      Array.new(N.batch_size(b)) do |i|
        err = N.batch_error(b, i)
        err.zero? ? N.batch_ticket(b, i) : Ringside.error_for(err)
      end
    end

    # Send many requests and wait for all, up to timeout seconds in total.
    # Returns, in order, a Response or the exception that ended each item;
    # items still running at the timeout are cancelled (WaitTimeout).
    def call_batch(requests, timeout: nil)
      b = Client.batch(requests)
      raise Ringside.last_error if N.batch_call(@h, b, Client.wait_ms(timeout)).negative?

      Array.new(N.batch_size(b)) do |i|
        raw = N.batch_take(b, i)
        raw ? Ringside.result(raw) : Ringside.error_for(N.errcode)
      end
    end

    # This client's counters: submitted, completed, ring_full, doorbells, sleeps, orphans,
    # stream_holds.
    def stats
      N.stat_names.split.to_h { |name| [name.to_sym, N.stat(@h, name)] }
    end

    # A file descriptor that becomes readable when answers may be waiting
    # (for an event loop: IO.for_fd(fd, autoclose: false)). Call
    # arm_event_fd before each wait on it: true means collect now.
    def event_fd
      fd = N.event_fd(@h)
      raise Ringside.last_error if fd.negative?

      fd
    end

    def arm_event_fd
      r = N.arm_event_fd(@h)
      raise Ringside.last_error if r.negative?

      r == 1
    end

    def inspect
      "#<Ringside::Client socket=#{@socket.inspect}#{closed? ? ' closed' : ''}>"
    end

    class << self
      # :nodoc: all
      def request_args(method, path, body, priority, route, headers, timeout, model, stream)
        deadline_ms, wait_ms = deadline(timeout)
        [[method, path, route, model, headers_text(headers), body_bytes(body), priority, deadline_ms,
          stream ? N::RS_REQ_STREAM : 0], wait_ms]
      end

      def body_bytes(body)
        case body
        when nil, String then body
        when Hash, Array then JSON.generate(body)
        else raise TypeError, "body must be a String, a Hash/Array (sent as JSON) or nil, not #{body.class}"
        end
      end

      def headers_text(headers)
        return nil if headers.nil? || headers.empty?

        headers.map do |name, value|
          name = name.to_s
          value = value.to_s
          if name.empty? || name.include?(":") || "#{name}#{value}".match?(/[\r\n\0]/)
            raise BadRequest.new("RS_EINVAL: header #{name.inspect} has a name or value that cannot be sent " \
                                 "(empty name, ':' in the name, or a line break / NUL)", code: N::RS_EINVAL)
          end
          "#{name}: #{value}"
        end.join("\n")
      end

      def deadline(timeout)
        return [0, -1] if timeout.nil?
        unless timeout.positive?
          raise BadRequest.new("RS_EINVAL: timeout must be positive seconds (got #{timeout.inspect})",
                               code: N::RS_EINVAL)
        end

        ms = (timeout * 1000).ceil.clamp(1, (2**31) - 1 - GRACE_MS)
        [ms, ms + GRACE_MS]
      end

      def wait_ms(timeout)
        return -1 if timeout.nil?
        if timeout.negative?
          raise BadRequest.new("RS_EINVAL: timeout must not be negative (got #{timeout.inspect})",
                               code: N::RS_EINVAL)
        end

        (timeout * 1000).ceil.clamp(0, (2**31) - 1)
      end

      def batch(requests)
        b = N.batch_new
        requests.each do |item|
          if item.is_a?(Hash)
            kw = item.transform_keys(&:to_sym)
            method = kw.delete(:method) || "POST"
            path = kw.delete(:path) or raise ArgumentError, "batch item without :path"
            body = kw.delete(:body)
            unknown = kw.keys - %i[priority route headers timeout model]
            raise ArgumentError, "unknown batch item keys: #{unknown.join(', ')}" unless unknown.empty?
          else
            method, path, body = item
            kw = {}
          end
          args, = request_args(method, path, body, kw.fetch(:priority, P1), kw[:route], kw[:headers],
                               kw[:timeout], kw[:model], false)
          raise Ringside.last_error if N.batch_add(b, *args).negative?
        end
        b
      end
    end
  end
end
