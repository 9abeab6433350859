/*
 * ringside.i — the one SWIG interface of every ringside binding.
 *
 * It wraps shim.h (a reshaped ringside.h: opaque handles, scalar
 * arguments, a per-thread error code) and the RS_* constants of ringside.h.
 * Everything above the #ifdef SWIGPYTHON / SWIGRUBY / SWIGLUA sections is
 * the same for all languages; each section holds only what the language
 * cannot share: how a response, a chunk and a request body cross the
 * boundary, how the interpreter lock is released around waits, and how a
 * pending interrupt is raised when a wait returns RSB_EINTR. The idiomatic
 * API (classes, exceptions, iterators) lives in each language's own layer:
 * python/ringside/__init__.py, ruby/ringside.rb, lua/ringside.lua.
 *
 * Native module names:
 *   Python  ringside._ringside     (swig -python -builtin -interface _ringside)
 *   Ruby    Ringside::Native       ringside/native.so
 *   Lua     ringside_native        ringside_native.so, luaopen_ringside_native
 */
#if defined(SWIGPYTHON)
%module(package="ringside") ringside
#elif defined(SWIGRUBY)
%module "ringside::native"
#else
%module ringside_native
#endif

%{
#include "shim.h"
%}

%include <stdint.i>

/* The RS_* error codes, priorities, flags and version from ringside.h; the
 * C API itself is reached through the shim only. */
%rename("$ignore", %$isfunction, regextarget=1) "^rs_";
%ignore rs_header;
%ignore rs_request;
%ignore rs_timings;
%ignore rs_response;
%ignore rs_chunk;
%ignore rs_client_stats;
%ignore RS_REQUEST_INIT;
%include "ringside.h"

/* rsb_call → call, rsb_batch_new → batch_new: the language layers import
 * the module under its own name, a prefix would only repeat it. */
%rename("%(strip:[rsb_])s") "";

/* Handles. SWIG needs a (fake, empty) definition to attach a finalizer;
 * the real structs stay private to shim.c. Finalizers close and free. */
%rename(Client) rsb_client;
%rename(Batch) rsb_batch;
%nodefaultctor rsb_client;
%nodefaultctor rsb_batch;
struct rsb_client {};
struct rsb_batch {};
%extend rsb_client {
    ~rsb_client() { rsb_client_free($self); }
}
%extend rsb_batch {
    ~rsb_batch() { rsb_batch_free($self); }
}
%newobject rsb_connect;
%newobject rsb_batch_new;

/* Used by the finalizers and module init only. */
%ignore rsb_client_free;
%ignore rsb_batch_free;
%ignore rsb_set_hooks;
%ignore rsb_hooks;
%ignore rsb_work_fn;

/* ================================================================ Python */
#if defined(SWIGPYTHON)

%{
/* Release the GIL for one slice of a wait. */
static void rsb_py_without_lock(rsb_work_fn work, void *arg)
{
    Py_BEGIN_ALLOW_THREADS
    work(arg);
    Py_END_ALLOW_THREADS
}

/* Between slices: run Python's signal handlers (the main thread only);
 * a handler that raises (KeyboardInterrupt) leaves its exception set. */
static int rsb_py_interrupted(void)
{
    return PyErr_CheckSignals() < 0;
}

static PyObject *rsb_py_text(const char *s)
{
    return PyUnicode_DecodeUTF8(s ? s : "", (Py_ssize_t)strlen(s ? s : ""), "replace");
}

/* (ticket, error, status, error_msg, headers, body, attempts, upstream,
 *  queued_us, first_byte_us, first_content_us, total_us)
 * headers: a tuple of (name, value) str pairs, decoded as Latin-1 as
 * http.client does (header bytes are not promised to be UTF-8). The body
 * is copied once, from the response straight into the bytes object. */
static PyObject *rsb_py_response(const rs_response *r)
{
    PyObject *hs = PyTuple_New((Py_ssize_t)r->nheaders);
    if (!hs)
        return NULL;
    for (size_t k = 0; k < r->nheaders; k++) {
        const char *n = r->headers[k].name, *v = r->headers[k].value;
        PyObject *pair = Py_BuildValue("(NN)", PyUnicode_DecodeLatin1(n, (Py_ssize_t)strlen(n), NULL),
                                       PyUnicode_DecodeLatin1(v, (Py_ssize_t)strlen(v), NULL));
        if (!pair) {
            Py_DECREF(hs);
            return NULL;
        }
        PyTuple_SET_ITEM(hs, (Py_ssize_t)k, pair);
    }
    return Py_BuildValue("(KiiNNNkNKKKK)",
                         (unsigned long long)r->ticket, r->error, r->status, rsb_py_text(r->error_msg), hs,
                         PyBytes_FromStringAndSize((const char *)r->body, (Py_ssize_t)r->body_len),
                         (unsigned long)r->attempts, rsb_py_text(r->upstream),
                         (unsigned long long)r->timings.queued_us, (unsigned long long)r->timings.first_byte_us,
                         (unsigned long long)r->timings.first_content_us, (unsigned long long)r->timings.total_us);
}

/* (ticket, seq, data, sidecar_ns) */
static PyObject *rsb_py_chunk(const rs_chunk *ch)
{
    return Py_BuildValue("(KKNK)", (unsigned long long)ch->ticket, (unsigned long long)ch->seq,
                         PyBytes_FromStringAndSize((const char *)ch->data, (Py_ssize_t)ch->len),
                         (unsigned long long)ch->sidecar_ns);
}
%}

%init %{
    {
        rsb_hooks h = { rsb_py_without_lock, rsb_py_interrupted };
        rsb_set_hooks(&h);
    }
%}

/* Ownership passes to us: convert, then free at once. NULL → None (the
 * caller reads errcode()). */
%typemap(out) rs_response * {
    if ($1) {
        $result = rsb_py_response($1);
        rs_response_free($1);
        if (!$result)
            SWIG_fail;
    } else {
        $result = Py_None;
        Py_INCREF(Py_None);
    }
}
%typemap(out) rs_chunk * {
    if ($1) {
        $result = rsb_py_chunk($1);
        rs_chunk_free($1);
        if (!$result)
            SWIG_fail;
    } else {
        $result = Py_None;
        Py_INCREF(Py_None);
    }
}

/* Any bytes-like object (bytes, bytearray, memoryview, mmap) or None;
 * read in place, never copied here (rs_submit copies it into the ring). */
%typemap(in) (const void *body, size_t body_len) (Py_buffer view, int have_view = 0) {
    if ($input == Py_None) {
        $1 = NULL;
        $2 = 0;
    } else {
        if (PyObject_GetBuffer($input, &view, PyBUF_SIMPLE) < 0)
            SWIG_fail;
        have_view = 1;
        $1 = view.buf;
        $2 = (size_t)view.len;
    }
}
%typemap(freearg) (const void *body, size_t body_len) {
    if (have_view$argnum)
        PyBuffer_Release(&view$argnum);
}

/* A wait interrupted by a signal handler that raised: raise it. */
%define RSB_RAISE_PENDING(fn)
%exception fn {
    $action
    if (rsb_errcode() == RSB_EINTR && PyErr_Occurred())
        SWIG_fail;
}
%enddef

#endif /* SWIGPYTHON */

/* ================================================================== Ruby */
#if defined(SWIGRUBY)

%{
#include <ruby/thread.h>

/* Release the GVL for one slice. The "2" variant never raises: it skips
 * the work if an interrupt is pending and leaves interrupts to us, so no
 * exception can unwind through the shim while it holds a response.
 * No unblocking function: a slice ends by itself within SLICE_MS, and
 * giving one makes Ruby start a helper thread around every call made from
 * the main thread (about 100 us each, measured). */
static void rsb_rb_without_lock(rsb_work_fn work, void *arg)
{
    rb_thread_call_without_gvl2(work, arg, NULL, NULL);
}

static __thread int rsb_rb_pending_tag;   /* what to re-raise after RSB_EINTR */

static VALUE rsb_rb_check_ints(VALUE unused)
{
    (void)unused;
    rb_thread_check_ints();
    return Qnil;
}

/* Between slices: let Ruby handle its interrupts (thread switches, signal
 * traps, Thread#raise, Thread#kill). One that raises is caught here and
 * kept, so the shim can clean up first; the wrapper re-raises it. */
static int rsb_rb_interrupted(void)
{
    int state = 0;
    rb_protect(rsb_rb_check_ints, Qnil, &state);
    if (state) {
        rsb_rb_pending_tag = state;
        return 1;
    }
    return 0;
}

static VALUE rsb_rb_text(const char *s)
{
    return rb_utf8_str_new_cstr(s ? s : "");
}

/* [ticket, error, status, error_msg, headers, body, attempts, upstream,
 *  queued_us, first_byte_us, first_content_us, total_us]
 * headers: [[name, value], ...]; body: a binary (ASCII-8BIT) String. */
static VALUE rsb_rb_response(const rs_response *r)
{
    VALUE hs = rb_ary_new_capa((long)r->nheaders);
    for (size_t k = 0; k < r->nheaders; k++)
        rb_ary_push(hs, rb_assoc_new(rsb_rb_text(r->headers[k].name), rsb_rb_text(r->headers[k].value)));
    VALUE a = rb_ary_new_capa(12);
    rb_ary_push(a, ULL2NUM(r->ticket));
    rb_ary_push(a, INT2NUM(r->error));
    rb_ary_push(a, INT2NUM(r->status));
    rb_ary_push(a, rsb_rb_text(r->error_msg));
    rb_ary_push(a, hs);
    rb_ary_push(a, rb_str_new((const char *)r->body, (long)r->body_len));
    rb_ary_push(a, UINT2NUM(r->attempts));
    rb_ary_push(a, rsb_rb_text(r->upstream));
    rb_ary_push(a, ULL2NUM(r->timings.queued_us));
    rb_ary_push(a, ULL2NUM(r->timings.first_byte_us));
    rb_ary_push(a, ULL2NUM(r->timings.first_content_us));
    rb_ary_push(a, ULL2NUM(r->timings.total_us));
    return a;
}

/* [ticket, seq, data, sidecar_ns] */
static VALUE rsb_rb_chunk(const rs_chunk *ch)
{
    VALUE a = rb_ary_new_capa(4);
    rb_ary_push(a, ULL2NUM(ch->ticket));
    rb_ary_push(a, ULL2NUM(ch->seq));
    rb_ary_push(a, rb_str_new((const char *)ch->data, (long)ch->len));
    rb_ary_push(a, ULL2NUM(ch->sidecar_ns));
    return a;
}

/* Free the C object even if building the Ruby one raises (NoMemoryError). */
struct rsb_rb_conv {
    const void *p;
    VALUE (*fn)(const void *);
};
static VALUE rsb_rb_conv_body(VALUE arg)
{
    struct rsb_rb_conv *cv = (struct rsb_rb_conv *)arg;
    return cv->fn(cv->p);
}
static VALUE rsb_rb_response_v(const void *p) { return rsb_rb_response(p); }
static VALUE rsb_rb_chunk_v(const void *p) { return rsb_rb_chunk(p); }
static VALUE rsb_rb_free_response(VALUE p) { rs_response_free((rs_response *)p); return Qnil; }
static VALUE rsb_rb_free_chunk(VALUE p) { rs_chunk_free((rs_chunk *)p); return Qnil; }
%}

%init %{
    {
        rsb_hooks h = { rsb_rb_without_lock, rsb_rb_interrupted };
        rsb_set_hooks(&h);
    }
%}

%typemap(out) rs_response * {
    if ($1) {
        struct rsb_rb_conv cv = { $1, rsb_rb_response_v };
        $result = rb_ensure(rsb_rb_conv_body, (VALUE)&cv, rsb_rb_free_response, (VALUE)$1);
    } else {
        $result = Qnil;
    }
}
%typemap(out) rs_chunk * {
    if ($1) {
        struct rsb_rb_conv cv = { $1, rsb_rb_chunk_v };
        $result = rb_ensure(rsb_rb_conv_body, (VALUE)&cv, rsb_rb_free_chunk, (VALUE)$1);
    } else {
        $result = Qnil;
    }
}

/* A String (any encoding: its bytes are sent) or nil. The pointer is read
 * only before the first wait, while this thread holds the GVL. */
%typemap(in) (const void *body, size_t body_len) {
    if (NIL_P($input)) {
        $1 = NULL;
        $2 = 0;
    } else {
        StringValue($input);
        $1 = RSTRING_PTR($input);
        $2 = (size_t)RSTRING_LEN($input);
    }
}

%define RSB_RAISE_PENDING(fn)
%exception fn {
    $action
    if (rsb_errcode() == RSB_EINTR && rsb_rb_pending_tag) {
        int tag = rsb_rb_pending_tag;
        rsb_rb_pending_tag = 0;
        rb_jump_tag(tag);
    }
}
%enddef

#endif /* SWIGRUBY */

/* =================================================================== Lua */
#if defined(SWIGLUA)

%{
#include <ctype.h>

/* { ticket=, error=, status=, error_msg=, headers={name=value, ...},
 *   body=, attempts=, upstream=, timings={queued_us=, ...} }, all numbers
 * integers (lua_pushinteger), the body a Lua string (one copy). Header
 * names are lower-cased, repeated headers joined with ", " (as HTTP allows):
 * done here because in Lua it costs a string per header per response. */
static void rsb_lua_field_int(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

static void rsb_lua_field_str(lua_State *L, const char *k, const char *s, size_t n)
{
    lua_pushlstring(L, s ? s : "", s ? n : 0);
    lua_setfield(L, -2, k);
}

static void rsb_lua_response(lua_State *L, const rs_response *r)
{
    lua_createtable(L, 0, 9);
    rsb_lua_field_int(L, "ticket", (lua_Integer)r->ticket);
    rsb_lua_field_int(L, "error", r->error);
    rsb_lua_field_int(L, "status", r->status);
    rsb_lua_field_str(L, "error_msg", r->error_msg, r->error_msg ? strlen(r->error_msg) : 0);
    lua_createtable(L, 0, (int)r->nheaders);
    for (size_t k = 0; k < r->nheaders; k++) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (const char *p = r->headers[k].name; *p; p++)
            luaL_addchar(&b, (char)tolower((unsigned char)*p));
        luaL_pushresult(&b);                      /* name */
        lua_pushvalue(L, -1);
        if (lua_rawget(L, -3) == LUA_TSTRING) {   /* seen: "old, new" */
            lua_pushliteral(L, ", ");
            lua_pushstring(L, r->headers[k].value);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushstring(L, r->headers[k].value);
        }
        lua_rawset(L, -3);
    }
    lua_setfield(L, -2, "headers");
    rsb_lua_field_str(L, "body", (const char *)r->body, r->body_len);
    rsb_lua_field_int(L, "attempts", (lua_Integer)r->attempts);
    rsb_lua_field_str(L, "upstream", r->upstream, r->upstream ? strlen(r->upstream) : 0);
    lua_createtable(L, 0, 4);
    rsb_lua_field_int(L, "queued_us", (lua_Integer)r->timings.queued_us);
    rsb_lua_field_int(L, "first_byte_us", (lua_Integer)r->timings.first_byte_us);
    rsb_lua_field_int(L, "first_content_us", (lua_Integer)r->timings.first_content_us);
    rsb_lua_field_int(L, "total_us", (lua_Integer)r->timings.total_us);
    lua_setfield(L, -2, "timings");
}

/* { ticket=, seq=, data=, sidecar_ns= } */
static void rsb_lua_chunk(lua_State *L, const rs_chunk *ch)
{
    lua_createtable(L, 0, 4);
    rsb_lua_field_int(L, "ticket", (lua_Integer)ch->ticket);
    rsb_lua_field_int(L, "seq", (lua_Integer)ch->seq);
    rsb_lua_field_str(L, "data", (const char *)ch->data, ch->len);
    rsb_lua_field_int(L, "sidecar_ns", (lua_Integer)ch->sidecar_ns);
}
%}

/* Ownership passes to us: build the table, then free. A Lua memory error
 * while building (a longjmp out of lua_createtable) would leak this one
 * response; Lua gives no cheaper way to guard it than a protected call per
 * response, which the common path should not pay. */
%typemap(out) rs_response * {
    if ($1) {
        rsb_lua_response(L, $1);
        rs_response_free($1);
    } else {
        lua_pushnil(L);
    }
    SWIG_arg++;
}
%typemap(out) rs_chunk * {
    if ($1) {
        rsb_lua_chunk(L, $1);
        rs_chunk_free($1);
    } else {
        lua_pushnil(L);
    }
    SWIG_arg++;
}

/* Integers stay integers: SWIG-Lua's defaults go through lua_Number, which
 * makes 5 into 5.0 and rounds tickets (64-bit) above 2^53. */
%typemap(out) int, unsigned int, size_t, int64_t, uint64_t, long long, unsigned long long
    "lua_pushinteger(L, (lua_Integer)$1); SWIG_arg++;"
%typemap(in, checkfn="lua_isinteger") uint64_t "$1 = (uint64_t)lua_tointeger(L, $input);"
%typemap(in, checkfn="lua_isinteger") size_t "$1 = (size_t)lua_tointeger(L, $input);"

/* A Lua string (its bytes) or nil. */
%{
#define rsb_lua_isbody(L, i) (lua_isstring(L, i) || lua_isnoneornil(L, i))
%}
%typemap(in, checkfn="rsb_lua_isbody") (const void *body, size_t body_len) {
    size_t len = 0;
    $1 = lua_isnoneornil(L, $input) ? NULL : (void *)lua_tolstring(L, $input, &len);
    $2 = len;
}
%typemap(typecheck) (const void *body, size_t body_len) "$1 = lua_isstring(L, $input) || lua_isnil(L, $input);"

/* Lua has no interpreter lock to release and no asynchronous interrupts. */
%define RSB_RAISE_PENDING(fn)
%enddef

#endif /* SWIGLUA */

/* The calls that wait (and may come back with RSB_EINTR). */
RSB_RAISE_PENDING(rsb_call)
RSB_RAISE_PENDING(rsb_submit_wait)
RSB_RAISE_PENDING(rsb_wait)
RSB_RAISE_PENDING(rsb_poll)
RSB_RAISE_PENDING(rsb_next_chunk)
RSB_RAISE_PENDING(rsb_poll_chunk)
RSB_RAISE_PENDING(rsb_batch_call)

%include "shim.h"
