#!/usr/bin/env node
// The official OpenAI Node SDK against an OpenAI-compatible base URL
// (ringside's front door, or the mock upstream itself): four checks, one
// JSON line of results on stdout, exit 0 when every check passed, 1 when
// one failed, 2 on bad usage. See README.md next to this file.
//
//   node sdk_check.mjs --base-url http://127.0.0.1:PORT/v1 [--api-key KEY | --no-auth]
//        [--checks chat,stream,error,abort] [--expect-error STATUS]
//        [--model M] [--timeout-ms N] [--header 'Name: value'] ...
//
// The SDK's own retries are off (maxRetries 0): a check sees exactly one
// HTTP request.
import OpenAI from 'openai';
import { VERSION } from 'openai/version';

const USAGE = `usage: node sdk_check.mjs --base-url URL [options]
  --base-url URL          e.g. http://127.0.0.1:8080/v1 (env OPENAI_BASE_URL)
  --api-key KEY           bearer key (env OPENAI_API_KEY; default "sdk-check")
  --no-auth               send no Authorization header at all
  --checks LIST           comma-separated among chat,stream,error,abort
                          (default chat,stream,abort, plus error when
                          --expect-error is given)
  --expect-error STATUS   the error check expects this HTTP status
  --model M               model asked for and expected back (default deepseek-chat)
  --timeout-ms N          the SDK's per-request timeout (default 20000)
  --header 'N: V'         extra header on every request (repeatable)
  --error-header 'N: V'   extra header on the error check's request only
  --stream-header 'N: V'  extra header on the stream check's request only
  --abort-header 'N: V'   extra header on the abort check's request only
  --abort-after N         abort after N chunks have arrived (default 1)
  --upstream-stats URL    after the abort, poll this mock /stats URL until
                          "inflight" is 0 (fails the check if it stays up)`;

function die(msg) {
  process.stderr.write(`sdk_check: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    baseURL: process.env.OPENAI_BASE_URL || '',
    apiKey: process.env.OPENAI_API_KEY || 'sdk-check',
    noAuth: false,
    checks: null,
    expectError: null,
    model: 'deepseek-chat',
    timeoutMs: 20000,
    headers: {},
    errorHeaders: {},
    streamHeaders: {},
    abortHeaders: {},
    abortAfter: 1,
    upstreamStats: '',
  };
  const header = (into, v) => {
    const i = v.indexOf(':');
    if (i <= 0) die(`bad header ${JSON.stringify(v)} (want 'Name: value')`);
    into[v.slice(0, i).trim().toLowerCase()] = v.slice(i + 1).trim();
  };
  const int = (name, v) => {
    if (!/^\d+$/.test(v || '')) die(`${name} wants a number, not ${JSON.stringify(v)}`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) die(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--base-url': o.baseURL = val(); break;
      case '--api-key': o.apiKey = val(); break;
      case '--no-auth': o.noAuth = true; break;
      case '--checks': o.checks = val().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--expect-error': o.expectError = int(a, val()); break;
      case '--model': o.model = val(); break;
      case '--timeout-ms': o.timeoutMs = int(a, val()); break;
      case '--header': header(o.headers, val()); break;
      case '--error-header': header(o.errorHeaders, val()); break;
      case '--stream-header': header(o.streamHeaders, val()); break;
      case '--abort-header': header(o.abortHeaders, val()); break;
      case '--abort-after': o.abortAfter = Math.max(1, int(a, val())); break;
      case '--upstream-stats': o.upstreamStats = val(); break;
      case '-h': case '--help': process.stdout.write(USAGE + '\n'); process.exit(0); break;
      default: die(`unknown argument ${JSON.stringify(a)}`);
    }
  }
  if (!o.baseURL) die('--base-url is required');
  if (o.checks === null) {
    o.checks = ['chat', 'stream', ...(o.expectError !== null ? ['error'] : []), 'abort'];
  }
  for (const c of o.checks) {
    if (!['chat', 'stream', 'error', 'abort'].includes(c)) die(`unknown check ${JSON.stringify(c)}`);
  }
  if (o.checks.includes('error') && o.expectError === null) die('the error check needs --expect-error STATUS');
  return o;
}

const opt = parseArgs(process.argv.slice(2));
const t0 = performance.now();
const ms = () => Math.round((performance.now() - t0) * 10) / 10;
const PROMPT = [{ role: 'user', content: 'Say hello from the ringside SDK check.' }];

// fetch, with every text/event-stream body passed through a scanner that
// notes whether the raw stream carried `data: [DONE]` (the SDK swallows it)
// and how many bytes came. The abort signal still goes to fetch itself.
const wire = { done_seen: false, sse_bytes: 0, content_type: null, status: null };
async function scanningFetch(url, init) {
  const res = await fetch(url, init);
  wire.status = res.status;
  wire.content_type = res.headers.get('content-type');
  if (!res.body || !(wire.content_type || '').startsWith('text/event-stream')) return res;
  const dec = new TextDecoder();
  let tail = '';
  const scan = new TransformStream({
    transform(chunk, ctl) {
      wire.sse_bytes += chunk.byteLength;
      tail = (tail + dec.decode(chunk, { stream: true })).slice(-64);
      if (/(^|\n)data: ?\[DONE\]/.test(tail)) wire.done_seen = true;
      ctl.enqueue(chunk);
    },
  });
  return new Response(res.body.pipeThrough(scan), {
    status: res.status, statusText: res.statusText, headers: res.headers,
  });
}

const client = new OpenAI({
  baseURL: opt.baseURL,
  apiKey: opt.apiKey,
  maxRetries: 0,
  timeout: opt.timeoutMs,
  fetch: scanningFetch,
  defaultHeaders: { ...opt.headers, ...(opt.noAuth ? { authorization: null } : {}) },
});

function reqId(check) {
  return `sdkcheck-${process.pid}-${check}`;
}

function must(cond, what, r) {
  if (!cond) r.problems.push(what);
}

function errInfo(e) {
  if (!e || typeof e !== 'object') return { thrown: String(e) };
  return {
    class: e.constructor?.name,
    status: e.status ?? null,
    message: String(e.message || '').slice(0, 300),
  };
}

async function checkChat() {
  const r = { problems: [], request_id: reqId('chat') };
  const started = ms();
  const c = await client.chat.completions.create(
    { model: opt.model, messages: PROMPT },
    { headers: { 'x-request-id': r.request_id } },
  );
  r.ms = Math.round((ms() - started) * 10) / 10;
  const content = c?.choices?.[0]?.message?.content;
  r.id = c?.id ?? null;
  r.model = c?.model ?? null;
  r.content = typeof content === 'string' ? content.slice(0, 200) : content;
  r.finish_reason = c?.choices?.[0]?.finish_reason ?? null;
  r.usage = c?.usage ?? null;
  r.object = c?.object ?? null;
  must(typeof content === 'string' && content.length > 0, 'content is not a non-empty string', r);
  must(c?.model === opt.model, `model ${JSON.stringify(c?.model)} is not the ${JSON.stringify(opt.model)} asked for`, r);
  must(c?.object === 'chat.completion', `object is ${JSON.stringify(c?.object)}`, r);
  return r;
}

async function checkStream() {
  const r = { problems: [], request_id: reqId('stream') };
  wire.done_seen = false;
  wire.sse_bytes = 0;
  const started = ms();
  const stream = await client.chat.completions.create(
    { model: opt.model, messages: PROMPT, stream: true },
    { headers: { 'x-request-id': r.request_id, ...opt.streamHeaders } },
  );
  r.content_type = wire.content_type;
  let chunks = 0;
  let text = '';
  let finish = null;
  let models = new Set();
  for await (const chunk of stream) {
    if (chunks === 0) r.first_chunk_ms = Math.round((ms() - started) * 10) / 10;
    chunks++;
    if (chunk.model) models.add(chunk.model);
    const ch = chunk.choices?.[0];
    if (typeof ch?.delta?.content === 'string') text += ch.delta.content;
    if (ch?.finish_reason) finish = ch.finish_reason;
  }
  r.ms = Math.round((ms() - started) * 10) / 10;
  r.chunks = chunks;
  r.content = text.slice(0, 200);
  r.content_chars = text.length;
  r.finish_reason = finish;
  r.models = [...models];
  r.done_seen = wire.done_seen;
  r.sse_bytes = wire.sse_bytes;
  must(chunks >= 2, `only ${chunks} chunk(s)`, r);
  must(text.length > 0, 'assembled content is empty', r);
  must(r.models.length === 1 && r.models[0] === opt.model, `chunk models ${JSON.stringify(r.models)}`, r);
  must(wire.done_seen, 'the stream did not end with data: [DONE]', r);
  must((r.content_type || '').startsWith('text/event-stream'), `content-type ${JSON.stringify(r.content_type)}`, r);
  return r;
}

// The class the SDK maps a status to (its own table, by status).
function expectedClass(status) {
  const m = {
    400: OpenAI.BadRequestError, 401: OpenAI.AuthenticationError, 403: OpenAI.PermissionDeniedError,
    404: OpenAI.NotFoundError, 409: OpenAI.ConflictError, 422: OpenAI.UnprocessableEntityError,
    429: OpenAI.RateLimitError,
  };
  if (m[status]) return m[status];
  if (status >= 500) return OpenAI.InternalServerError;
  return OpenAI.APIError;
}

async function checkError() {
  const r = { problems: [], request_id: reqId('error'), expected_status: opt.expectError };
  const started = ms();
  try {
    const c = await client.chat.completions.create(
      { model: opt.model, messages: PROMPT },
      { headers: { 'x-request-id': r.request_id, ...opt.errorHeaders } },
    );
    r.ms = Math.round((ms() - started) * 10) / 10;
    r.problems.push(`no error: answered ${JSON.stringify(c).slice(0, 200)}`);
    return r;
  } catch (e) {
    r.ms = Math.round((ms() - started) * 10) / 10;
    const want = expectedClass(opt.expectError);
    r.class = e?.constructor?.name ?? null;
    r.expected_class = want.name;
    r.status = e?.status ?? null;
    r.message = String(e?.message ?? '').slice(0, 300);
    // the body's "error" object, as parsed by the SDK
    r.body_error = e?.error && typeof e.error === 'object'
      ? { message: e.error.message ?? null, type: e.error.type ?? null, code: e.error.code ?? null }
      : e?.error ?? null;
    r.type = e?.type ?? null;
    r.code = e?.code ?? null;
    r.retry_after = e?.headers?.get?.('retry-after') ?? null;
    must(e instanceof OpenAI.APIError, `not an OpenAI.APIError: ${r.class}`, r);
    must(e instanceof want, `not an instance of ${want.name}: ${r.class}`, r);
    must(e?.status === opt.expectError, `status ${r.status}, expected ${opt.expectError}`, r);
    must(r.body_error && typeof r.body_error === 'object' && typeof r.body_error.message === 'string',
      'the body has no OpenAI-style {"error":{"message":...}}', r);
    if (opt.expectError === 429) must(r.retry_after !== null, '429 without Retry-After', r);
    return r;
  }
}

async function upstreamInflight() {
  const res = await fetch(opt.upstreamStats, { signal: AbortSignal.timeout(2000) });
  const s = await res.json();
  return { inflight: s.inflight, active_connections: s.active_connections };
}

async function checkAbort() {
  const r = { problems: [], request_id: reqId('abort'), abort_after_chunks: opt.abortAfter };
  const ac = new AbortController();
  wire.done_seen = false;
  const started = ms();
  const stream = await client.chat.completions.create(
    { model: opt.model, messages: PROMPT, stream: true },
    { headers: { 'x-request-id': r.request_id, ...opt.abortHeaders }, signal: ac.signal },
  );
  let chunks = 0;
  let after = 0;
  let thrown = null;
  try {
    for await (const chunk of stream) {
      if (ac.signal.aborted) {
        after++;
        continue;
      }
      chunks++;
      if (chunks === 1) r.first_chunk_ms = Math.round((ms() - started) * 10) / 10;
      if (chunks >= opt.abortAfter) {
        r.upstream_before = opt.upstreamStats ? await upstreamInflight().catch((e) => errInfo(e)) : undefined;
        r.aborted_at_ms = Math.round((ms() - started) * 10) / 10;  // since the request was sent
        r.aborted_at_epoch_ms = Date.now();
        r.done_seen_before_abort = wire.done_seen;
        ac.abort();
      }
    }
  } catch (e) {
    thrown = e;
  }
  r.loop_ended_ms = Math.round((ms() - started) * 10) / 10;
  r.aborted = ac.signal.aborted;
  r.chunks_before_abort = chunks;
  r.chunks_after_abort = after;
  // The SDK ends the iteration quietly on its own abort; anything else
  // thrown is reported (an APIUserAbortError is an abort as well).
  r.thrown = thrown ? errInfo(thrown) : null;
  must(r.aborted, `the stream ended after ${chunks} chunk(s), before the abort`, r);
  must(!r.done_seen_before_abort,
    'the whole stream (data: [DONE]) had arrived before the abort: nothing was left to cancel (make the stream slower)', r);
  must(!thrown || thrown instanceof OpenAI.APIUserAbortError || thrown?.name === 'AbortError',
    `the abort threw ${JSON.stringify(r.thrown)}`, r);
  if (r.aborted) {
    const lag = r.loop_ended_ms - r.aborted_at_ms;
    r.loop_end_after_abort_ms = Math.round(lag * 10) / 10;
    must(lag < 1000, `the stream went on for ${lag} ms after the abort`, r);
  }
  if (opt.upstreamStats && r.aborted) {
    // the transfer cancelled upstream: the mock's inflight falls to 0
    const polls = [];
    const deadline = performance.now() + 3000;
    let zeroAt = null;
    while (performance.now() < deadline) {
      const s = await upstreamInflight().catch((e) => errInfo(e));
      polls.push(s);
      if (s.inflight === 0) {
        zeroAt = Math.round((performance.now() - t0 - r.aborted_at_ms - started) * 10) / 10;
        break;
      }
      await new Promise((res) => setTimeout(res, 20));
    }
    r.upstream_after = polls[polls.length - 1] ?? null;
    r.upstream_inflight_zero_after_abort_ms = zeroAt;
    must(zeroAt !== null, `the upstream still had ${JSON.stringify(r.upstream_after)} 3 s after the abort`, r);
  }
  return r;
}

const CHECKS = { chat: checkChat, stream: checkStream, error: checkError, abort: checkAbort };
const out = {
  sdk: 'openai', sdk_version: VERSION, node: process.version, base_url: opt.baseURL,
  checks: {}, failed: [],
};
for (const name of opt.checks) {
  let r;
  try {
    r = await CHECKS[name]();
  } catch (e) {
    r = { problems: [`threw ${JSON.stringify(errInfo(e))}`] };
  }
  r.ok = r.problems.length === 0;
  if (!r.ok) out.failed.push(name);
  out.checks[name] = r;
}
out.ok = out.failed.length === 0;
out.ms = ms();
process.stdout.write(JSON.stringify(out) + '\n');
process.exitCode = out.ok ? 0 : 1;
