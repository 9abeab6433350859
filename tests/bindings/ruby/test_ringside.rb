# frozen_string_literal: true

# The Ruby binding (require "ringside") against a real sidecar and the mock
# upstream: every call, every error class, threads and the GVL, streams and
# their cancellation, batches, large bodies, a sidecar that dies.
#
# Run by tests/bindings/harness.py, which starts the processes and exports
# where they are (RS_SOCK, RS_SOCK_FAST, ...; see harness.py). Timing
# assertions are generous liveness bounds.

require "minitest/autorun"
require "json"
require "securerandom"
require "ringside"

CHAT = { model: "deepseek-chat", messages: [{ role: "user", content: "hi" }] }.freeze

def env!(name)
  ENV.fetch(name) { abort "#{name} is not set: run this through tests/bindings/harness.py" }
end

def now
  Process.clock_gettime(Process::CLOCK_MONOTONIC)
end

class TestRingside < Minitest::Test
  def setup
    @c = Ringside::Client.new(socket: env!("RS_SOCK"))
  end

  def teardown
    @c&.close
  end

  def with_client(var)
    c = Ringside::Client.new(socket: env!(var))
    yield c
  ensure
    c&.close
  end

  # ---------------------------------------------------------------- basics

  def test_version_is_the_builds
    assert_equal ENV.fetch("RINGSIDE_VERSION"), Ringside::VERSION
  end

  def test_echo_round_trip
    r = @c.request("POST", "/anything", "hello ringside", route: "echo")
    assert_instance_of Ringside::Response, r
    assert_equal 200, r.status
    assert_equal "hello ringside", r.body
    assert_equal Encoding::ASCII_8BIT, r.body.encoding
    assert_equal "echo", r.upstream
    assert_equal 0, r.attempts
    assert_kind_of Ringside::Timings, r.timings
    assert_operator r.ticket, :>, 0
  end

  def test_body_kinds
    assert_equal "héllo".b, @c.request("POST", "/e", "héllo", route: "echo").body
    assert_equal({ "a" => [1, 2] }, @c.request("POST", "/e", { a: [1, 2] }, route: "echo").json)
    assert_equal "", @c.request("POST", "/e", nil, route: "echo").body
    assert_equal "é", @c.request("POST", "/e", "é", route: "echo").text
  end

  def test_upstream_response_fields
    r = @c.request("POST", "/chat/completions", CHAT, headers: { "X-Request-Id" => "rb-1" }, timeout: 30)
    assert_equal 200, r.status
    assert_equal "default", r.upstream
    assert_equal 1, r.attempts
    assert_equal "echo: rb-1", r.json["choices"][0]["message"]["content"]
    assert r.headers["content-type"].start_with?("application/json")
    assert_equal r.headers["content-type"], r.header("Content-Type")
    assert_operator r.timings.total_us, :>, 0
  end

  def test_chat_helper
    r = @c.chat([{ role: "user", content: "hi" }], headers: { "x-request-id" => "chat-rb" }, max_tokens: 8,
                                                   priority: Ringside::P0)
    assert_equal "echo: chat-rb", r.json["choices"][0]["message"]["content"]
    assert_equal "deepseek-reasoner", @c.chat([], model: "deepseek-reasoner").json["model"]
  end

  def test_client_from_environment_and_open_block
    old = ENV["RINGSIDE_SOCKET"]
    ENV["RINGSIDE_SOCKET"] = env!("RS_SOCK")
    seen = nil
    Ringside::Client.open do |c|
      seen = c
      assert_equal "env", c.request("POST", "/", "env", route: "echo").body
    end
    assert seen.closed?
  ensure
    ENV["RINGSIDE_SOCKET"] = old
  end

  def test_closed_client
    c = Ringside::Client.new(socket: env!("RS_SOCK"))
    refute c.closed?
    c.close
    c.close
    assert c.closed?
    e = assert_raises(Ringside::ClientClosed) { c.request("POST", "/", "", route: "echo") }
    assert_match(/closed/, e.message)
  end

  def test_stats
    before = @c.stats
    assert_equal %i[submitted completed ring_full doorbells sleeps orphans stream_holds].sort, before.keys.sort
    @c.request("POST", "/", "", route: "echo")
    assert_equal before[:completed] + 1, @c.stats[:completed]
  end

  # ---------------------------------------------------------------- errors

  def test_connect_failure_says_what_to_do
    e = assert_raises(Ringside::SidecarUnavailable) { Ringside::Client.new(socket: "/nonexistent/rs.sock") }
    assert_equal "RS_ECONNECT", e.code_name
    assert_match(/RINGSIDE_SOCKET/, e.message)
  end

  def test_upstream_error_with_status_and_body
    e = assert_raises(Ringside::UpstreamError) do
      @c.request("POST", "/chat/completions", CHAT, headers: { "x-mock-status" => "400" })
    end
    assert_equal 400, e.status
    assert_match(/HTTP 400/, e.message)
    assert_equal "invalid_request_error", e.response.json["error"]["type"]
  end

  def test_upstream_429
    with_client("RS_SOCK_FAST") do |c|
      e = assert_raises(Ringside::UpstreamRateLimited) do
        c.request("POST", "/chat/completions", CHAT, headers: { "x-mock-status" => "429" })
      end
      assert_kind_of Ringside::UpstreamError, e
      assert_equal 429, e.status
    end
  end

  def test_unknown_route
    e = assert_raises(Ringside::NoRoute) { @c.request("POST", "/chat/completions", CHAT, route: "nowhere") }
    assert_kind_of Ringside::BadRequest, e
    assert_match(/nowhere/, e.message)
  end

  def test_tiny_deadline
    t0 = now
    e = assert_raises(Ringside::DeadlineExceeded) do
      @c.request("POST", "/chat/completions", CHAT, headers: { "x-mock-delay-ms" => "5000" }, timeout: 0.2)
    end
    assert_operator now - t0, :<, 4
    assert_match(/deadline/, e.message)
  end

  def test_bad_arguments
    assert_raises(Ringside::BadRequest) { @c.request("POST", "no-slash", "", route: "echo") }
    assert_raises(Ringside::BadRequest) { @c.request("POST", "/", "", route: "echo", priority: 9) }
    assert_raises(Ringside::BadRequest) { @c.request("POST", "/", "", route: "echo", headers: { "a" => "1\nb: 2" }) }
    assert_raises(Ringside::BadRequest) { @c.request("POST", "/", "", route: "echo", timeout: -1) }
    assert_raises(TypeError) { @c.request("POST", "/", 42, route: "echo") }
  end

  def test_too_large
    e = assert_raises(Ringside::TooLarge) { @c.request("POST", "/", "x" * (9 << 20), route: "echo") }
    assert_match(/ring_bytes/, e.message)
  end

  def test_shed
    with_client("RS_SOCK_SHED") do |c|
      # its upstream always refuses (503): the first refusal starts shedding
      begin
        c.request("POST", "/chat/completions", CHAT)
      rescue Ringside::UpstreamError, Ringside::Shed
        nil
      end
      e = assert_raises(Ringside::Shed) { c.request("POST", "/chat/completions", CHAT) }
      assert_kind_of Ringside::Overloaded, e
      assert_match(/shed/, e.message)
    end
  end

  def test_queue_full
    with_client("RS_SOCK_QUEUE") do |c|
      results = c.call_batch([{ path: "/chat/completions", body: CHAT, priority: Ringside::P2 }] * 6, timeout: 30)
      full = results.grep(Ringside::QueueFull)
      refute_empty full, results.inspect
      assert_match(/priorities.queue.p2/, full.first.message)
    end
  end

  def test_upstream_unreachable
    with_client("RS_SOCK_DOWN") do |c|
      e = assert_raises(Ringside::UpstreamUnreachable) { c.request("POST", "/chat/completions", CHAT, timeout: 10) }
      assert_equal "RS_ECONNUP", e.code_name
    end
  end

  def test_wait_timeout_then_wait_again
    t = @c.submit("POST", "/chat/completions", CHAT, headers: { "x-mock-delay-ms" => "400" })
    e = assert_raises(Ringside::WaitTimeout) { @c.wait(t, timeout: 0.05) }
    assert_equal t, e.ticket
    assert_equal 200, @c.wait(t, timeout: 10).status
  end

  def test_unknown_ticket
    t = @c.submit("POST", "/", "", route: "echo")
    @c.wait(t)
    assert_raises(Ringside::UnknownTicket) { @c.wait(t) }
    assert_raises(Ringside::UnknownTicket) { @c.wait(12_345_678, timeout: 0) }
  end

  def test_cancel
    t = @c.submit("POST", "/chat/completions", CHAT, headers: { "x-mock-delay-ms" => "5000" })
    sleep 0.1
    t0 = now
    @c.cancel(t)
    assert_raises(Ringside::Cancelled) { @c.wait(t, timeout: 10) }
    assert_operator now - t0, :<, 3
  end

  def test_every_code_has_a_class_and_a_message
    codes = Ringside::Native.constants.grep(/\ARS_E/).map { |k| Ringside::Native.const_get(k) }
    assert_operator codes.size, :>=, 23
    codes.each do |code|
      e = Ringside.error_for(code)
      assert_kind_of Ringside::Error, e
      refute_equal Ringside::Error, e.class, "#{e.code_name} has no class of its own"
      assert_includes e.message, Ringside::Native.errname(code)
    end
  end

  def test_sidecar_killed_mid_call
    c = Ringside::Client.new(socket: env!("RS_SOCK_VICTIM"))
    killer = Thread.new do
      sleep 0.5
      Process.kill(:KILL, Integer(env!("RS_PID_VICTIM")))
    end
    t0 = now
    e = assert_raises(Ringside::SidecarUnavailable) do
      c.request("POST", "/chat/completions", CHAT, headers: { "x-mock-delay-ms" => "8000" })
    end
    killer.join
    assert_operator now - t0, :<, 5, "the wait hung after the sidecar died"
    assert_equal "RS_EGONE", e.code_name
    assert_raises(Ringside::SidecarUnavailable) { c.request("POST", "/", "", route: "echo") }
    # A new client fails too. Right after the crash the kernel may still be
    # tearing down the dead sidecar's io_uring, which holds its listening
    # socket: a connect then reaches it and is dropped without a welcome
    # (the core library calls that RS_EPROTO). Soon the socket refuses.
    e = nil
    100.times do
      Ringside::Client.new(socket: env!("RS_SOCK_VICTIM")).close
    rescue Ringside::Error => e
      break unless e.is_a?(Ringside::ProtocolError)

      sleep 0.05
    end
    assert_kind_of Ringside::SidecarUnavailable, e
    c.close
  end

  def test_shutting_down
    c = Ringside::Client.new(socket: env!("RS_SOCK_DRAIN"))
    t = c.submit("POST", "/chat/completions", CHAT, headers: { "x-mock-delay-ms" => "1000" })
    sleep 0.2
    Process.kill(:TERM, Integer(env!("RS_PID_DRAIN")))
    sleep 0.3
    e = assert_raises(Ringside::ShuttingDown) { c.request("POST", "/chat/completions", CHAT) }
    assert_kind_of Ringside::SidecarUnavailable, e
    assert_equal 200, c.wait(t, timeout: 10).status
    c.close
  end

  # --------------------------------------------------------- submit / poll

  def test_submit_and_poll
    tickets = Array.new(20) { |i| @c.submit("POST", "/", "n#{i}", route: "echo") }
    got = {}
    deadline = now + 10
    while got.size < 20 && now < deadline
      @c.poll(max: 8, timeout: 1).each do |r|
        assert_instance_of Ringside::Response, r
        got[r.ticket] = r.body
      end
    end
    assert_equal tickets.sort, got.keys.sort
    assert_equal Array.new(20) { |i| "n#{i}" }.sort, got.values.sort
    assert_empty @c.poll(timeout: 0)
  end

  def test_poll_returns_errors_as_values
    with_client("RS_SOCK_FAST") do |c|
      t = c.submit("POST", "/chat/completions", CHAT, headers: { "x-mock-status" => "404" })
      out = []
      deadline = now + 10
      out = c.poll(timeout: 1) while out.empty? && now < deadline
      assert_equal 1, out.size
      assert_kind_of Ringside::UpstreamError, out[0]
      assert_equal t, out[0].ticket
    end
  end

  # ---------------------------------------------------------------- batches

  def test_submit_batch
    bodies = Array.new(10) { |i| "b#{i}" }
    tickets = @c.submit_batch(bodies.map { |b| { path: "/", body: b, route: "echo" } })
    assert(tickets.all? { |t| t.is_a?(Integer) })
    assert_equal bodies, tickets.map { |t| @c.wait(t).body }
  end

  def test_submit_batch_refusal_is_per_item
    out = @c.submit_batch([{ path: "/", route: "echo" }, { path: "/", body: "x" * (9 << 20), route: "echo" }])
    assert_kind_of Integer, out[0]
    assert_kind_of Ringside::TooLarge, out[1]
    @c.wait(out[0])
  end

  def test_call_batch_in_order_with_errors
    r = @c.call_batch([
                        { path: "/", body: "first", route: "echo" },
                        { path: "/chat/completions", body: CHAT, route: "nowhere" },
                        { path: "/chat/completions", body: CHAT, headers: { "x-mock-status" => "401" } },
                        ["POST", "/", "fourth"],
                        { "path" => "/chat/completions", "body" => CHAT, "headers" => { "x-request-id" => "fifth" } }
                      ], timeout: 30)
    assert_equal "first", r[0].body
    assert_kind_of Ringside::NoRoute, r[1]
    assert_equal 401, r[2].status
    assert_equal 200, r[3].status
    assert_equal "echo: fifth", r[4].json["choices"][0]["message"]["content"]
  end

  def test_call_batch_timeout_cancels_the_rest
    t0 = now
    r = @c.call_batch([{ path: "/", route: "echo" }] +
                      [{ path: "/chat/completions", body: CHAT, headers: { "x-mock-delay-ms" => "5000" } }] * 3,
                      timeout: 0.5)
    assert_operator now - t0, :<, 3
    assert_instance_of Ringside::Response, r[0]
    assert(r[1..].all? { |x| x.is_a?(Ringside::WaitTimeout) }, r.inspect)
    50.times { @c.request("POST", "/", "", route: "echo") }
  end

  # ---------------------------------------------------------------- threads

  def test_eight_threads_share_one_client
    before = @c.stats
    errors = Queue.new
    threads = Array.new(8) do |k|
      Thread.new do
        1000.times do |i|
          body = "#{k}:#{i}"
          r = @c.request("POST", "/", body, route: "echo")
          errors << [k, i, r.body] unless r.body == body
        end
      rescue StandardError => e
        errors << e
      end
    end
    threads.each { |t| assert t.join(120), "a thread hung" }
    assert errors.empty?, errors.size.to_s
    assert_equal before[:completed] + 8000, @c.stats[:completed]
  end

  def test_wait_releases_the_gvl
    done = false
    th = Thread.new do
      @c.request("POST", "/chat/completions", CHAT, headers: { "x-mock-delay-ms" => "1500" })
      done = true
    end
    sleep 0.2
    n = 0
    t0 = now
    n += 1 while now - t0 < 0.5
    refute done, "the request should still be waiting"
    assert_operator n, :>, 20_000, "this thread only ran #{n} loops while the other waited"
    th.join(10)
    assert done
  end

  def test_thread_raise_interrupts_a_wait
    th = Thread.new do
      @c.request("POST", "/chat/completions", CHAT, headers: { "x-mock-delay-ms" => "5000" })
      :finished
    rescue RuntimeError => e
      e.message
    end
    sleep 0.3
    t0 = now
    th.raise(RuntimeError, "stop waiting")
    assert_equal "stop waiting", th.value
    assert_operator now - t0, :<, 2
    assert_equal "after", @c.request("POST", "/", "after", route: "echo").body
  end

  def test_thread_raise_interrupts_a_batch
    th = Thread.new do
      @c.call_batch([{ path: "/chat/completions", body: CHAT, headers: { "x-mock-delay-ms" => "5000" } }] * 4)
      :finished
    rescue RuntimeError => e
      e.message
    end
    sleep 0.3
    t0 = now
    th.raise(RuntimeError, "stop waiting")
    assert_equal "stop waiting", th.value
    assert_operator now - t0, :<, 2
    assert_equal "after", @c.request("POST", "/", "after", route: "echo").body
  end

  def test_thread_kill_ends_a_wait
    th = Thread.new { @c.request("POST", "/chat/completions", CHAT, headers: { "x-mock-delay-ms" => "5000" }) }
    sleep 0.3
    t0 = now
    th.kill
    assert th.join(2), "the killed thread was still waiting"
    assert_operator now - t0, :<, 2
    assert_equal "after kill", @c.request("POST", "/", "after kill", route: "echo").body
  end

  def test_close_from_another_thread_wakes_the_waiter
    c = Ringside::Client.new(socket: env!("RS_SOCK"))
    closer = Thread.new do
      sleep 0.3
      c.close
    end
    t0 = now
    assert_raises(Ringside::ClientClosed) do
      c.request("POST", "/chat/completions", CHAT, headers: { "x-mock-delay-ms" => "5000" })
    end
    closer.join
    assert_operator now - t0, :<, 2
  end

  # ---------------------------------------------------------------- streams

  def test_stream_with_a_block
    chunks = []
    final = @c.chat([], stream: true, headers: { "x-mock-stream" => "12" }) { |ch| chunks << ch }
    assert_equal (0..12).to_a, chunks.map(&:seq)
    assert chunks.last.done?
    assert_equal Array.new(12) { |i| "tok#{i} " }.join, chunks.map(&:delta).join
    assert_equal "chat.completion.chunk", chunks[0].json["object"]
    assert_instance_of Ringside::Response, final
    assert_equal 200, final.status
  end

  def test_stream_object_and_text
    s = @c.stream("POST", "/chat/completions", CHAT.merge(stream: true), headers: { "x-mock-stream" => "4" })
    assert_instance_of Ringside::Stream, s
    assert_equal "tok0 tok1 tok2 tok3 ", s.text
    assert s.done?
    assert_equal 200, s.response.status
  end

  def test_stream_break_cancels
    t0 = now
    seen = []
    @c.chat([], stream: true, headers: { "x-mock-stream" => "1000", "x-mock-chunk-interval-ms" => "10" }) do |ch|
      seen << ch.seq
      break if ch.seq == 2
    end
    assert_equal [0, 1, 2], seen
    assert_operator now - t0, :<, 5
    20.times { @c.request("POST", "/", "", route: "echo") }
  end

  def test_stream_close_early_cancels
    s = @c.chat([], stream: true, headers: { "x-mock-stream" => "1000", "x-mock-chunk-interval-ms" => "10" })
    got = s.first(3)
    s.close
    assert_equal [0, 1, 2], got.map(&:seq)
    assert_kind_of Ringside::Cancelled, s.error
  end

  def read_two_chunks_and_drop(client)
    client.chat([], stream: true, headers: { "x-mock-stream" => "1000", "x-mock-chunk-interval-ms" => "10" })
          .first(2)
    nil
  end

  def test_dropped_stream_is_cancelled_when_collected
    with_client("RS_SOCK") do |c|
      read_two_chunks_and_drop(c)
      deadline = now + 5   # uncancelled, the stream would run 10 s
      while c.stats[:completed].zero? && now < deadline
        GC.start
        c.poll(timeout: 0.1)
      end
      assert_equal 1, c.stats[:completed], "the dropped stream was not cancelled"
      assert_empty c.poll(timeout: 0.2), "an abandoned answer reached the application"
    end
  end

  def test_stream_interrupted
    with_client("RS_SOCK_FAST") do |c|
      got = []
      e = assert_raises(Ringside::StreamInterrupted) do
        c.chat([], stream: true, headers: { "x-mock-stream" => "50", "x-mock-reset-after" => "1500" }) { |ch| got << ch }
      end
      refute_empty got
      assert_kind_of Ringside::UpstreamError, e
    end
  end

  def test_stream_error_before_any_chunk
    e = assert_raises(Ringside::UpstreamError) do
      @c.chat([], stream: true, headers: { "x-mock-status" => "400" }) { |_| nil }
    end
    assert_equal 400, e.status
  end

  def test_stream_of_a_submitted_ticket
    t = @c.submit("POST", "/chat/completions", CHAT.merge(stream: true), headers: { "x-mock-stream" => "3" },
                                                                       stream: true)
    assert_equal 4, @c.stream_of(t).to_a.size
  end

  # ------------------------------------------------------------- big bodies

  def test_four_mib_body_echo_route
    body = SecureRandom.random_bytes(4 << 20)
    assert_equal body, @c.request("POST", "/", body, route: "echo", timeout: 60).body
  end

  def test_four_mib_body_through_the_upstream
    body = SecureRandom.random_bytes(4 << 20)
    r = @c.request("POST", "/echo", body, headers: { "content-type" => "application/octet-stream" }, timeout: 60)
    assert_equal 200, r.status
    assert_equal body, r.body
  end

  # -------------------------------------------------------------- event fd

  def test_event_fd_with_io_select
    io = IO.for_fd(@c.event_fd, autoclose: false)
    t = @c.submit("POST", "/", "fd", route: "echo")
    deadline = now + 5
    r = nil
    while r.nil? && now < deadline
      begin
        r = @c.wait(t, timeout: 0)
      rescue Ringside::WaitTimeout
        IO.select([io], nil, nil, 0.5) unless @c.arm_event_fd
      end
    end
    assert_equal "fd", r&.body
  end
end
