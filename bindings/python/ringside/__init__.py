"""ringside — call busy LLM APIs through the ringside sidecar.

The sidecar (ringsided) owns rate limits, priorities, deadlines, retries
and failover; this package hands it requests through shared memory and
gives back one answer per request: a Response, or an exception that says
which limit or failure ended it and what to do.

    import ringside

    with ringside.Client() as client:            # $RINGSIDE_SOCKET or the default
        r = client.chat([{"role": "user", "content": "hi"}], max_tokens=64)
        print(r.json()["choices"][0]["message"]["content"])

        for chunk in client.chat(messages, stream=True):
            print(chunk.delta, end="")          # leaving the loop early cancels

        t = client.submit("POST", "/chat/completions", body, priority=ringside.P0)
        r = client.wait(t, timeout=30)           # or: await client.wait_async(t)

Every blocking call releases the GIL while it waits, so one Client serves
many threads at once; Ctrl-C interrupts a wait within 0.1 s.

Errors: ringside.Error and its subclasses (see Error).
"""
import json as _json
import math as _math
import os as _os
import weakref as _weakref
from collections import namedtuple as _namedtuple

from . import _ringside as _rs

__all__ = [
    "Client", "Response", "Chunk", "Stream", "Timings", "P0", "P1", "P2", "DEFAULT_MODEL",
    "Error", "SidecarUnavailable", "ShuttingDown", "ClientClosed", "ProtocolError",
    "BadRequest", "TooLarge", "NoRoute", "Overloaded", "RateLimited", "Shed", "QueueFull", "RingFull",
    "DeadlineExceeded", "WaitTimeout", "UpstreamError", "UpstreamRateLimited", "UpstreamUnreachable",
    "StreamInterrupted", "Cancelled", "UnknownTicket", "InternalError",
]

__version__ = _rs.version()

P0, P1, P2 = _rs.RS_P0, _rs.RS_P1, _rs.RS_P2
"""Priorities: P0 real-time (never shed), P1 near real-time (default), P2 batch."""

DEFAULT_MODEL = "deepseek-chat"

# How long past a request's own deadline we keep waiting for its answer.
# The sidecar ends every request by its deadline, so this only bounds the
# wait if the sidecar is alive but stuck; a dead sidecar is noticed at once.
_GRACE_MS = 10000

# --------------------------------------------------------------------------
# Errors


class Error(Exception):
    """Base class of every ringside error.

    Attributes:
        code      the RS_E* code (an int < 0), as in ringside.h
        name      its symbolic name, e.g. "RS_EUPSTREAM"
        status    the upstream's HTTP status, 0 if none
        ticket    the request's ticket, None if it never got one
        response  for an answer that came back as an error: a Response
                  with the upstream's status, headers and error body
                  (None otherwise)
    """

    def __init__(self, message, code=0, *, status=0, ticket=None, response=None):
        super().__init__(message)
        self.code = code
        self.name = _rs.errname(code) if code else ""
        self.status = status
        self.ticket = ticket
        self.response = response


class SidecarUnavailable(Error, ConnectionError):
    """The sidecar cannot be reached, went away (RS_ECONNECT, RS_EGONE) or
    found this client's shared memory corrupt (RS_ECORRUPT): check that
    ringsided runs and RINGSIDE_SOCKET points at its socket, then create a
    new Client."""


class ShuttingDown(SidecarUnavailable):
    """The sidecar is draining before it exits (RS_ESHUTDOWN); retry after
    it restarts."""


class ClientClosed(Error):
    """This Client was closed; create a new one."""


class ProtocolError(Error):
    """The sidecar speaks another protocol version (RS_EPROTO): use a client
    library of the same ringside version."""


class BadRequest(Error, ValueError):
    """The request itself is wrong: a bad argument (RS_EINVAL) or a record
    the sidecar refused (RS_EBADREQ). Fix the request; retrying will not
    help."""


class TooLarge(BadRequest):
    """The request can never fit the sidecar's ring (RS_E2BIG): send less,
    or raise ring_bytes in the sidecar."""


class NoRoute(BadRequest):
    """No route of that name in the sidecar's configuration (RS_ENOROUTE);
    the message lists the configured ones."""


class Overloaded(Error):
    """Refused because something is full or limited right now: retry later
    (with back-off), or raise the priority."""


class RateLimited(Overloaded):
    """A rate limit refused the request: the sidecar's (RS_ERATELIMITED) or,
    as UpstreamRateLimited, the upstream's 429 after the sidecar's retries."""


class Shed(Overloaded):
    """Shed under overload (RS_ESHED): the upstream is failing and part of
    P1/P2 traffic is refused at once. P0 is never shed."""


class QueueFull(Overloaded):
    """The sidecar's queue for this priority is full (RS_EQUEUEFULL); the
    message names the limit (priorities.queue.pN)."""


class RingFull(Overloaded):
    """submit() found this client's submission ring full or too many
    requests outstanding (RS_EAGAIN, RS_ETOOMANY): collect some answers,
    then submit again. request() retries this by itself."""


class DeadlineExceeded(Error, TimeoutError):
    """The request's deadline (its timeout) passed before it could complete
    (RS_EDEADLINE). The sidecar has stopped working on it."""


class WaitTimeout(Error, TimeoutError):
    """wait() timed out (RS_ETIMEDOUT); the request is still in flight:
    wait again, or cancel it."""


class UpstreamError(Error):
    """The upstream answered an error status (RS_EUPSTREAM); .status is it,
    .response carries its headers and body. 4xx are not retried by the
    sidecar; 429 and 5xx were, until its retry policy gave up."""


class UpstreamRateLimited(UpstreamError, RateLimited):
    """The upstream kept answering 429 Too Many Requests."""


class UpstreamUnreachable(UpstreamError):
    """No answer from the upstream: connect failure, reset or timeout
    (RS_ECONNUP), after the sidecar's retries."""


class StreamInterrupted(UpstreamError):
    """A stream broke after part of it was delivered (RS_EINTERRUPTED); it
    is not retried (you would see content twice): resubmit to start over."""


class Cancelled(Error):
    """The request was cancelled by this client (RS_ECANCELLED)."""


class UnknownTicket(Error, LookupError):
    """No such ticket, or its answer was already taken (RS_ENOENT)."""


class InternalError(Error):
    """A bug in ringside (RS_EINTERNAL, RS_ENOMEM, ...): please report it
    with the message."""


_CLASS = {
    _rs.RS_EAGAIN: RingFull, _rs.RS_E2BIG: TooLarge, _rs.RS_EINVAL: BadRequest,
    _rs.RS_ENOMEM: InternalError, _rs.RS_ETIMEDOUT: WaitTimeout, _rs.RS_ENOENT: UnknownTicket,
    _rs.RS_EGONE: SidecarUnavailable, _rs.RS_ECONNECT: SidecarUnavailable, _rs.RS_EPROTO: ProtocolError,
    _rs.RS_ETOOMANY: RingFull, _rs.RS_EBADREQ: BadRequest, _rs.RS_EUPSTREAM: UpstreamError,
    _rs.RS_ECONNUP: UpstreamUnreachable, _rs.RS_EDEADLINE: DeadlineExceeded, _rs.RS_ESHUTDOWN: ShuttingDown,
    _rs.RS_ERATELIMITED: RateLimited, _rs.RS_ESHED: Shed, _rs.RS_ECANCELLED: Cancelled,
    _rs.RS_ENOROUTE: NoRoute, _rs.RS_ECORRUPT: SidecarUnavailable, _rs.RS_EINTERNAL: InternalError,
    _rs.RS_EQUEUEFULL: QueueFull, _rs.RS_EINTERRUPTED: StreamInterrupted,
    _rs.RSB_ECLOSED: ClientClosed,
}


def _make_error(code, msg="", *, status=0, ticket=None, response=None):
    """The exception for a code, its message being what happened (the
    sidecar's error_msg or the shim's detail) and what to do (strerror)."""
    cls = _CLASS.get(code, Error)
    if cls is UpstreamError and status == 429:
        cls = UpstreamRateLimited
    hint = _rs.strerror(code)
    head = _rs.errname(code) + (f" (HTTP {status})" if status else "")
    text = f"{head}: {msg}" if msg else f"{head}: {hint}"
    if msg and hint not in msg:
        text += f" — {hint}"
    return cls(text, code, status=status, ticket=ticket, response=response)


def _last_error(ticket=None):
    """The exception for the code the last _rs call left in this thread."""
    return _make_error(_rs.errcode(), _rs.errdetail(), ticket=ticket)


# --------------------------------------------------------------------------
# Results

Timings = _namedtuple("Timings", "queued_us first_byte_us first_content_us total_us")
Timings.__doc__ = """Where the time went, in microseconds (0: the phase did not happen):
queued_us (sidecar intake → upstream dispatch), first_byte_us and
first_content_us (dispatch → first byte / first real content, keep-alives
not counted), total_us (intake → completion written)."""


class Response:
    """A finished request.

    Attributes:
        status    the upstream's HTTP status (200 from the echo route)
        headers   dict of response headers, names lower-cased
        body      bytes, exactly as the upstream sent them (a streamed
                  request's final Response has an empty body)
        attempts  upstream attempts the sidecar made (0: never sent)
        upstream  name of the route that answered ("echo" for the echo route)
        timings   a Timings tuple
        ticket    the request's ticket
    """

    __slots__ = ("ticket", "status", "error_msg", "_headers", "body", "attempts", "upstream", "_timings")

    def __init__(self, raw):
        (self.ticket, _error, self.status, self.error_msg, self._headers, self.body,
         self.attempts, self.upstream, *t) = raw
        self._timings = t

    @property
    def headers(self):
        h = self._headers
        if not isinstance(h, dict):
            d = {}
            for name, value in h:
                name = name.lower()
                d[name] = f"{d[name]}, {value}" if name in d else value
            self._headers = h = d
        return h

    @property
    def timings(self):
        return Timings(*self._timings)

    def header(self, name, default=None):
        """A response header by name, case-insensitively."""
        return self.headers.get(name.lower(), default)

    def json(self):
        """The body parsed as JSON."""
        return _json.loads(self.body)

    @property
    def text(self):
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return (f"<ringside.Response ticket={self.ticket} status={self.status} "
                f"upstream={self.upstream!r} body={len(self.body)} bytes>")


def _result(raw):
    """A raw completion tuple → Response, or the exception it stands for."""
    error = raw[1]
    if error == 0:
        return Response(raw)
    r = Response(raw)
    return _make_error(error, r.error_msg, status=r.status, ticket=r.ticket, response=r)


def _answer(raw):
    r = _result(raw)
    if isinstance(r, Error):
        raise r
    return r


class Chunk:
    """One server-sent event of a stream.

    Attributes: data (bytes, the event's data), seq (0, 1, 2, ... in the
    stream), ticket, sidecar_ns (CLOCK_MONOTONIC when the sidecar got it).
    """

    __slots__ = ("ticket", "seq", "data", "sidecar_ns")

    def __init__(self, raw):
        self.ticket, self.seq, self.data, self.sidecar_ns = raw

    @property
    def done(self):
        """True for the OpenAI-style end marker, data "[DONE]"."""
        return self.data == b"[DONE]"

    def json(self):
        """The event's data parsed as JSON (not for the "[DONE]" marker)."""
        return _json.loads(self.data)

    @property
    def text(self):
        return self.data.decode("utf-8", "replace")

    @property
    def delta(self):
        """For chat completion chunks: the text this chunk adds
        (choices[0].delta.content), "" for anything else."""
        if self.done or not self.data.startswith(b"{"):
            return ""
        try:
            return self.json()["choices"][0]["delta"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return ""

    def __repr__(self):
        return f"<ringside.Chunk ticket={self.ticket} seq={self.seq} data={self.data[:60]!r}>"


# --------------------------------------------------------------------------
# Arguments

def _body_bytes(body):
    if body is None or isinstance(body, (bytes, bytearray, memoryview)):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (dict, list)):
        return _json.dumps(body, separators=(",", ":")).encode("utf-8")
    return memoryview(body)   # any other buffer (mmap, array); TypeError if none


def _headers_text(headers):
    """dict or (name, value) pairs → "Name: value" lines for the shim,
    refusing what would split a line or a header."""
    if not headers:
        return None
    items = headers.items() if isinstance(headers, dict) else headers
    lines = []
    for name, value in items:
        name, value = str(name), str(value)
        if not name or ":" in name or any(c in name or c in value for c in "\r\n\0"):
            raise BadRequest(f"RS_EINVAL: header {name!r} has a name or value that cannot be sent "
                             "(empty name, ':' in the name, or a line break / NUL)", _rs.RS_EINVAL)
        lines.append(f"{name}: {value}")
    return "\n".join(lines)


def _timeout_ms(timeout):
    """A request timeout in seconds → (deadline ms for the sidecar, how long
    we wait locally: the deadline plus grace, -1 for no limit)."""
    if timeout is None:
        return 0, -1
    if timeout <= 0:
        raise BadRequest(f"RS_EINVAL: timeout must be positive seconds (got {timeout!r})", _rs.RS_EINVAL)
    ms = min(max(1, _math.ceil(timeout * 1000)), 2**31 - 1 - _GRACE_MS)
    return ms, ms + _GRACE_MS


def _wait_ms(timeout):
    """A local wait in seconds → ms (None: -1, no limit)."""
    if timeout is None:
        return -1
    if timeout < 0:
        raise BadRequest(f"RS_EINVAL: timeout must not be negative (got {timeout!r})", _rs.RS_EINVAL)
    return min(_math.ceil(timeout * 1000), 2**31 - 1)


def _request_args(method, path, body, priority, route, headers, timeout, model, stream):
    deadline_ms, wait_ms = _timeout_ms(timeout)
    return ((method, path, route, model, _headers_text(headers), _body_bytes(body), priority, deadline_ms,
             _rs.RS_REQ_STREAM if stream else 0), wait_ms)


def _batch_item(item):
    """A batch item: a dict of request() keyword arguments (method, path,
    body, priority, route, headers, timeout, model), or a tuple
    (method, path[, body])."""
    if isinstance(item, dict):
        kw = dict(item)
        method = kw.pop("method", "POST")
        path = kw.pop("path")
        body = kw.pop("body", None)
    else:
        method, path, body = (tuple(item) + (None,))[:3]
        kw = {}
    unknown = set(kw) - {"priority", "route", "headers", "timeout", "model"}
    if unknown:
        raise TypeError(f"unknown batch item keys: {sorted(unknown)}")
    args, wait_ms = _request_args(method, path, body, kw.get("priority", P1), kw.get("route"), kw.get("headers"),
                                  kw.get("timeout"), kw.get("model"), False)
    return args, wait_ms


# --------------------------------------------------------------------------
# Streams

class Stream:
    """The chunks of a streamed request, in order: an iterator and a context
    manager.

        with client.stream("POST", "/chat/completions", body) as s:
            for chunk in s:
                ...
        s.response        # the terminal Response (status, headers, timings)

    In asyncio code, iterate it with `async for` (and `async with`): the
    event loop watches the client's event fd, so no thread is blocked.

    Iteration ends after the last chunk; if the stream then ended with an
    error (the upstream broke: StreamInterrupted, a deadline, ...) that
    exception is raised instead. Closing the stream before its end — close(),
    leaving the with block, break-ing out of a for loop over it, or
    dropping the last reference — cancels the request in the sidecar,
    which stops the upstream transfer.
    """

    def __init__(self, client, ticket, wait_ms):
        self._client = client
        self._h = client._h
        self.ticket = ticket
        self._wait_ms = wait_ms
        self._done = False
        self.response = None
        """The terminal Response once the stream has ended well."""
        self.error = None
        """The exception the stream ended with, if it did."""

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        raw = _rs.next_chunk(self._h, self.ticket, self._wait_ms)
        if raw is not None:
            return Chunk(raw)
        code = _rs.errcode()
        if code == 0:
            self._finish(self._wait_ms)
            if self.error is not None:
                raise self.error
            raise StopIteration
        self._fail(code)

    def _fail(self, code):
        """End the stream on the error code of the last next_chunk (for
        RS_ETIMEDOUT: past the stream's deadline) and raise it."""
        self._done = True
        if code == _rs.RS_ETIMEDOUT:
            _rs.abandon(self._h, self.ticket)
            self.error = DeadlineExceeded(
                f"RS_EDEADLINE: no chunk or end from the sidecar {_GRACE_MS // 1000} s past the "
                "stream's deadline; the request was cancelled", _rs.RS_EDEADLINE, ticket=self.ticket)
        else:
            self.error = _last_error(self.ticket)
        raise self.error

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self._done:
            raise StopAsyncIteration
        import asyncio
        loop = asyncio.get_running_loop()
        deadline = None if self._wait_ms < 0 else loop.time() + self._wait_ms / 1000
        while True:
            raw = _rs.next_chunk(self._h, self.ticket, 0)
            if raw is not None:
                return Chunk(raw)
            code = _rs.errcode()
            if code == 0:   # no chunk will come: the terminal answer is here
                self._finish(0)
                if self.error is not None:
                    raise self.error
                raise StopAsyncIteration
            left = None if deadline is None else deadline - loop.time()
            if code != _rs.RS_ETIMEDOUT or (left is not None and left <= 0):
                self._fail(code)   # the same ending, and error, as the blocking iterator
            await self._client._await_news(loop, left)

    async def aclose(self, timeout=1.0):
        """close() for asyncio: cancel if not ended, await the terminal
        answer up to timeout seconds without blocking the loop."""
        if self._done:
            return
        _rs.cancel(self._h, self.ticket)
        try:
            self.response = await self._client.wait_async(self.ticket, timeout)
        except WaitTimeout:
            _rs.abandon(self._h, self.ticket)
        except Error as e:
            self.error = e
        self._done = True

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.aclose()

    def _finish(self, wait_ms):
        raw = _rs.wait(self._h, self.ticket, wait_ms)
        if raw is None:
            if _rs.errcode() == _rs.RS_ETIMEDOUT:
                return False
            self.error = _last_error(self.ticket)
        else:
            r = _result(raw)
            if isinstance(r, Error):
                self.error = r
            else:
                self.response = r
        self._done = True
        return True

    def text(self):
        """Read the rest of a chat completion stream; return its text (the
        deltas joined)."""
        return "".join(chunk.delta for chunk in self)

    def close(self, timeout=1.0):
        """Cancel the request if the stream has not ended, and wait up to
        timeout seconds for its terminal answer (then .error is usually
        Cancelled). Past that the answer is discarded when it comes."""
        if self._done:
            return
        _rs.cancel(self._h, self.ticket)
        if not self._finish(_wait_ms(timeout)):
            _rs.abandon(self._h, self.ticket)
            self._done = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # never block in a finalizer: abandon it (cancelled; its chunks
        # and answer are dropped as they come)
        if not getattr(self, "_done", True):
            try:
                _rs.abandon(self._h, self.ticket)
            except Exception:
                pass


# --------------------------------------------------------------------------
# The client

class Client:
    """A connection to the ringside sidecar.

        client = ringside.Client()                 # $RINGSIDE_SOCKET, else the default
        client = ringside.Client("/run/ringside/ringside.sock")

    One Client may be used by any number of threads at once: every call is
    thread-safe, and waits release the GIL. Use it as a context manager, or
    call close(); requests still in flight are then cancelled by the
    sidecar.

    Requests: request(), chat() and stream() wait for their answer;
    submit() returns a ticket at once, for wait(), wait_async(), poll() or
    cancel(); submit_batch() and call_batch() send many with one wakeup of
    the sidecar.

    Raises SidecarUnavailable if the sidecar cannot be reached.
    """

    def __init__(self, socket=None):
        h = _rs.connect(socket)
        if h is None:
            raise _last_error()
        self._h = h
        self.socket = socket or _os.environ.get("RINGSIDE_SOCKET")
        """The socket path asked for (None: the library's default)."""
        self._notifiers = _weakref.WeakKeyDictionary()   # event loop → _Notifier

    # -- life cycle

    def close(self):
        """Close the channel. Threads waiting on this client get
        ClientClosed; the sidecar cancels what was in flight. Idempotent."""
        _rs.close(self._h)

    @property
    def closed(self):
        return bool(_rs.closed(self._h))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<ringside.Client socket={self.socket!r}{' closed' if self.closed else ''}>"

    # -- one request, waited for

    def request(self, method, path, body=None, *, priority=P1, route=None, headers=None, timeout=None,
                model=None):
        """Send one request and wait for its answer.

        method    "POST", "GET", ...
        path      appended to the route's base URL, e.g. "/chat/completions"
        body      bytes-like, str (sent as UTF-8), dict or list (sent as
                  JSON), or None
        priority  P0, P1 (default) or P2
        route     None: the sidecar's routing; a route's name pins it;
                  "echo" is answered by the sidecar itself with the body
        headers   dict or (name, value) pairs; Authorization is dropped
                  (the sidecar holds the API key)
        timeout   the request's deadline in seconds, enforced by the sidecar
                  (queueing and retries included); None: its default
        model     optional model name hint for routing and limits

        Returns a Response. Raises the Error subclass of whatever ended the
        request: UpstreamError (with .status and .response) when the
        upstream answered an error, DeadlineExceeded, Shed, QueueFull,
        SidecarUnavailable, BadRequest, ...
        """
        args, wait_ms = _request_args(method, path, body, priority, route, headers, timeout, model, False)
        raw = _rs.call(self._h, *args, wait_ms)
        if raw is None:
            raise self._call_error(wait_ms)
        return _answer(raw)

    def _call_error(self, wait_ms):
        code = _rs.errcode()
        if code == _rs.RS_ETIMEDOUT and wait_ms >= 0:
            return DeadlineExceeded(
                f"RS_EDEADLINE: no answer from the sidecar {_GRACE_MS // 1000} s past the request's "
                "deadline; the request was cancelled — check the sidecar's health", _rs.RS_EDEADLINE)
        return _last_error()

    def chat(self, messages, model=DEFAULT_MODEL, *, stream=False, priority=P1, route=None, headers=None,
             timeout=None, **params):
        """A chat completion: POST /chat/completions with
        {"model": model, "messages": messages, **params}.

        params are the API's own fields (max_tokens, temperature, ...).
        Returns a Response (r.json()["choices"][0]["message"]["content"]);
        with stream=True, a Stream of chunks instead (chunk.delta is each
        piece of text).
        """
        body = {"model": model, "messages": messages, **params}
        if stream:
            body["stream"] = True
            return self.stream("POST", "/chat/completions", body, priority=priority, route=route,
                               headers=headers, timeout=timeout, model=model)
        return self.request("POST", "/chat/completions", body, priority=priority, route=route, headers=headers,
                            timeout=timeout, model=model)

    def stream(self, method="POST", path="/chat/completions", body=None, *, priority=P1, route=None,
               headers=None, timeout=None, model=None):
        """Send a request whose answer is streamed (server-sent events) and
        return a Stream of its chunks, as they arrive. The arguments are
        request()'s; for an OpenAI-style API the body must also ask for a
        stream ("stream": true), as chat(..., stream=True) does."""
        args, wait_ms = _request_args(method, path, body, priority, route, headers, timeout, model, True)
        t = _rs.submit_wait(self._h, *args, wait_ms)   # a full ring is retried, as request() does
        if t == 0 and _rs.errcode():
            raise _last_error()
        return Stream(self, t, wait_ms)

    # -- tickets

    def submit(self, method, path, body=None, *, priority=P1, route=None, headers=None, timeout=None,
               model=None, stream=False):
        """Submit without waiting; return the request's ticket (an int) for
        wait(), wait_async(), poll(), cancel() or stream_of().

        Arguments as request(). Raises RingFull when the submission ring is
        full right now (nothing was sent: collect answers, then retry),
        TooLarge when it can never fit.
        """
        args, _ = _request_args(method, path, body, priority, route, headers, timeout, model, stream)
        t = _rs.submit(self._h, *args)
        if t == 0 and _rs.errcode():
            raise _last_error()
        return t

    def stream_of(self, ticket, timeout=None):
        """The Stream of a ticket submitted with stream=True."""
        return Stream(self, ticket, _wait_ms(timeout))

    def wait(self, ticket, timeout=None):
        """Wait up to timeout seconds (None: until it ends) for a ticket's
        answer; return its Response or raise what ended it. Raises
        WaitTimeout if it is still running (the ticket stays valid: wait
        again), UnknownTicket if it is not ours or was collected already."""
        raw = _rs.wait(self._h, ticket, _wait_ms(timeout))
        if raw is None:
            raise _last_error(ticket)
        return _answer(raw)

    def poll(self, max=64, timeout=0):
        """Collect up to max answers of tickets nobody is wait()ing for,
        waiting up to timeout seconds for the first. Returns a list of
        Response objects and Error instances (each with .ticket), possibly
        empty."""
        out = []
        wait_ms = _wait_ms(timeout)
        while len(out) < max:
            raw = _rs.poll(self._h, wait_ms)
            if raw is None:
                code = _rs.errcode()
                if code != _rs.RS_ETIMEDOUT:
                    raise _last_error()
                break
            out.append(_result(raw))
            wait_ms = 0
        return out

    def cancel(self, ticket):
        """Ask the sidecar to cancel a request or stream. Its ticket still
        gets exactly one answer: Cancelled, or its real result if that came
        first."""
        err = _rs.cancel(self._h, ticket)
        if err < 0:
            raise _make_error(err, _rs.errdetail(), ticket=ticket)

    # -- batches

    def submit_batch(self, requests):
        """Submit many requests with one wakeup of the sidecar. requests are
        dicts of request() keyword arguments ({"path": ..., "body": ...,
        "priority": ...}) or (method, path[, body]) tuples. Returns, in
        order, a ticket or the exception that refused each item (RingFull:
        resubmit it later)."""
        b = self._batch(requests)
        n = _rs.batch_submit(self._h, b)
        if n < 0:
            raise _last_error()
        out = []
        for i in range(_rs.batch_size(b)):
            err = _rs.batch_error(b, i)
            out.append(_make_error(err) if err else _rs.batch_ticket(b, i))
        return out

    def call_batch(self, requests, timeout=None):
        """Send many requests (as submit_batch) and wait for all of them, up
        to timeout seconds in total (None: each until it ends). Returns, in
        order, a Response or the exception that ended each item (never
        raises for one item's failure; an item still running at the
        timeout is cancelled and gets WaitTimeout)."""
        b = self._batch(requests)
        err = _rs.batch_call(self._h, b, _wait_ms(timeout))
        if err < 0:
            raise _last_error()
        out = []
        for i in range(_rs.batch_size(b)):
            raw = _rs.batch_take(b, i)
            if raw is None:
                code = _rs.errcode()
                out.append(_make_error(code, _rs.strerror(code) if code != _rs.RS_ETIMEDOUT else
                                       "still running when the batch's timeout ended; cancelled"))
            else:
                out.append(_result(raw))
        return out

    @staticmethod
    def _batch(requests):
        b = _rs.batch_new()
        for item in requests:
            args, _ = _batch_item(item)
            if _rs.batch_add(b, *args) < 0:
                raise _last_error()
        return b

    # -- asyncio

    async def wait_async(self, ticket, timeout=None):
        """Await a ticket's answer without blocking the event loop (asyncio):
        the loop watches the client's event fd. Returns its Response or
        raises as wait() does (WaitTimeout after timeout seconds; the
        ticket then stays valid)."""
        import asyncio
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            raw = _rs.wait(self._h, ticket, 0)
            if raw is not None:
                return _answer(raw)
            if _rs.errcode() != _rs.RS_ETIMEDOUT:
                raise _last_error(ticket)
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                raise _make_error(_rs.RS_ETIMEDOUT, ticket=ticket)
            await self._await_news(loop, left)

    async def _await_news(self, loop, left):
        """Sleep until answers or chunks may be waiting (this loop's
        notifier says so), or left seconds pass (None: no limit)."""
        import asyncio
        try:
            await asyncio.wait_for(self._notifier(loop).wait(), left)
        except asyncio.TimeoutError:
            pass

    def _notifier(self, loop):
        n = self._notifiers.get(loop)
        if n is None:
            fd = _rs.event_fd(self._h)
            if fd < 0:
                raise _last_error()
            n = self._notifiers[loop] = _Notifier(loop, self._h, fd)
        return n

    def event_fd(self):
        """A file descriptor that becomes readable when answers or chunks may
        be waiting, for other event loops. Before each wait on it call
        arm_event_fd(): True means something is there already (collect
        now), False that it is safe to wait. Then collect with
        wait(ticket, 0), poll() or a Stream."""
        fd = _rs.event_fd(self._h)
        if fd < 0:
            raise _last_error()
        return fd

    def arm_event_fd(self):
        r = _rs.arm_event_fd(self._h)
        if r < 0:
            raise _last_error()
        return bool(r)

    # -- counters

    def stats(self):
        """This client's counters: submitted, completed, ring_full,
        doorbells, sleeps, orphans, stream_holds."""
        return {name: _rs.stat(self._h, name) for name in _rs.stat_names().split()}


class _Notifier:
    """The one watcher of a client's event fd in an event loop, for every
    task of the loop awaiting one of the client's tickets or streams.

    Arming the fd (rs_arm_event_fd) drains its doorbell, so it is armed
    here, once for all of them, and every arming ends in waking all of
    them to look again: if each task armed for itself, one task's arming
    could swallow the doorbell another task was waiting for (it happened:
    three streams on one loop hung in 16 of 40 runs). After an arming
    that finds something already pending (another ticket's answer, unread
    chunks, a thread of ours reading the ring) the waiters look again
    after a short, growing pause (1..10 ms) rather than at once, so an
    answer nobody here will take does not make the loop spin. The reader
    is removed as soon as it fires: the fd stays readable until armed
    again, and a reader left in place would spin."""

    def __init__(self, loop, handle, fd):
        self._loop = loop
        self._h = handle
        self._fd = fd
        self._waiters = []
        self._reading = False
        self._timer = None
        self._idle = 0

    def wait(self):
        fut = self._loop.create_future()
        self._waiters.append(fut)
        if not self._reading and self._timer is None:
            if _rs.arm_event_fd(self._h) == 0:
                self._idle = 0
                self._loop.add_reader(self._fd, self._fire)
                self._reading = True
            else:   # pending already, or an error the waiters will meet when they look
                self._timer = self._loop.call_later(min(0.001 * self._idle, 0.01), self._wake)
                self._idle += 1
        return fut

    def _fire(self):
        self._loop.remove_reader(self._fd)
        self._reading = False
        self._wake()

    def _wake(self):
        self._timer = None
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)
