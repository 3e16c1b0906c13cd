//! Port of script_lua.c: the Lua side of scripting: the sandboxed interpreter, the
//! `redis.*` API, and the conversions between Redis replies and Lua values.
//!
//! The interpreter is Lua 5.1 (mlua's vendored build), driven through its C API as
//! Redis drives its own copy. Two things Redis patched into its Lua are rebuilt here on
//! top of a stock 5.1:
//! - read-only tables (Redis added a `readonly` flag to the table struct): the global
//!   table and every library table are replaced by empty *proxies* whose `__index` is
//!   the real table and whose `__newindex` raises, and the raw accessors (`rawset`,
//!   `rawget`, `next`, `pairs`, `getmetatable`, `setmetatable`) see through them;
//! - refusing precompiled chunks (Redis removed the undump path from its parser): a
//!   chunk starting with the bytecode signature is handed to the parser with a leading
//!   space, so it fails with exactly the syntax error Redis's parser gives.
//!
//! Functions called from Lua are `extern "C-unwind"` functions. Those that raise do all
//! their Rust work in an inner function that returns before `lua_error` is called, so
//! the long jump never crosses a Rust frame that owns anything.

use crate::networking::Client;
use crate::script::{self, ScriptRunCtx};
use crate::server::Server;
use bytes::Bytes;
use mlua::ffi::{self, lua_State};
use std::ffi::{c_char, c_int, c_void, CStr};

/// Where the running script's context is kept (script_lua.h: REGISTRY_RUN_CTX_NAME).
const REGISTRY_RUN_CTX_NAME: &CStr = c"__RUN_CTX__";
/// proxy -> real table, for every read-only proxy (weak keys).
const REGISTRY_RO_PROXIES: &CStr = c"__RO_PROXIES__";
/// proxy -> what getmetatable() shows for it.
const REGISTRY_RO_METATABLES: &CStr = c"__RO_METATABLES__";
/// The real global table, behind the read-only proxy the scripts see as `_G`.
pub const REGISTRY_REAL_GLOBALS: &CStr = c"__REAL_GLOBALS__";

/// server.h: PROPAGATE_AOF / PROPAGATE_REPL
pub const PROPAGATE_AOF: u32 = 1;
pub const PROPAGATE_REPL: u32 = 2;

/// Redis's version as scripts see it (version.h).
const REDIS_VERSION: &CStr = c"7.0.15";
const REDIS_VERSION_NUM: f64 = 0x0007_000f as f64;

/// Globals that Lua's base library defines but the sandbox removes: the deny list and
/// the deprecated functions (lua-enable-deprecated-api is off by default).
const REMOVED_GLOBALS: [&CStr; 6] = [
    c"dofile",
    c"loadfile",
    c"print",
    c"newproxy",
    c"setfenv",
    c"getfenv",
];

// ---------------------------------------------------------------------------------------
// Small helpers over the C API.
// ---------------------------------------------------------------------------------------

#[inline]
unsafe fn push_bytes(lua: *mut lua_State, s: &[u8]) {
    ffi::lua_pushlstring(lua, s.as_ptr() as *const c_char, s.len());
}

/// The bytes of the string (or number, converted in place) at `idx`.
unsafe fn to_bytes<'a>(lua: *mut lua_State, idx: c_int) -> Option<&'a [u8]> {
    let mut len = 0usize;
    let p = ffi::lua_tolstring(lua, idx, &mut len);
    if p.is_null() {
        None
    } else {
        Some(std::slice::from_raw_parts(p as *const u8, len))
    }
}

/// t[field] = string, for the table on top of the stack.
unsafe fn set_field_bytes(lua: *mut lua_State, field: &CStr, v: &[u8]) {
    push_bytes(lua, v);
    ffi::lua_setfield(lua, -2, field.as_ptr());
}

/// An error a library function raises, described so that it is raised only once the
/// Rust function that found it has returned (and dropped what it owned).
pub(crate) enum LibError {
    /// luaL_error: the message, prefixed with the caller's position.
    Msg(String),
    /// luaL_argerror: "bad argument #n to 'f' (msg)".
    Arg(c_int, String),
    /// luaL_typerror: "bad argument #n to 'f' (type expected, got ...)".
    Type(c_int, &'static CStr),
}

/// Raises `e` in the way the matching luaL_* function does.
pub(crate) unsafe fn raise_lib_error(lua: *mut lua_State, e: LibError) -> ! {
    // Room for the message: the function may have used every slot there is. What it
    // pushed is discarded by the error anyway (C relies on Lua's spare slots instead).
    if ffi::lua_checkstack(lua, 4) == 0 {
        ffi::lua_settop(lua, 0);
    }
    match e {
        LibError::Msg(m) => {
            ffi::luaL_where(lua, 1);
            push_bytes(lua, m.as_bytes());
            drop(m);
            ffi::lua_concat(lua, 2);
            ffi::lua_error(lua)
        }
        LibError::Arg(n, m) => {
            push_bytes(lua, m.as_bytes());
            drop(m);
            // The message now lives on the Lua stack, anchored against collection.
            let p = ffi::lua_tolstring(lua, -1, std::ptr::null_mut());
            ffi::luaL_argerror(lua, n, p);
            unreachable!()
        }
        LibError::Type(n, t) => {
            ffi::luaL_typerror(lua, n, t.as_ptr());
            unreachable!()
        }
    }
}

/// Runs a library function written as `fn(lua) -> Result<results, LibError>` and raises
/// its error after it returned: the C-callable shape of every such function.
pub(crate) unsafe fn lib_call(
    lua: *mut lua_State,
    f: unsafe fn(*mut lua_State) -> Result<c_int, LibError>,
) -> c_int {
    match f(lua) {
        Ok(n) => n,
        Err(e) => raise_lib_error(lua, e),
    }
}

/// luaL_checknumber without raising.
pub(crate) unsafe fn check_number(lua: *mut lua_State, narg: c_int) -> Result<f64, LibError> {
    let d = ffi::lua_tonumber(lua, narg);
    if d == 0.0 && ffi::lua_isnumber(lua, narg) == 0 {
        return Err(LibError::Type(narg, c"number"));
    }
    Ok(d)
}

/// luaL_checkinteger without raising (the double is cast as C casts it).
pub(crate) unsafe fn check_integer(lua: *mut lua_State, narg: c_int) -> Result<i64, LibError> {
    let d = check_number(lua, narg)?;
    Ok(double_to_long_long(d))
}

/// luaL_optinteger without raising.
pub(crate) unsafe fn opt_integer(
    lua: *mut lua_State,
    narg: c_int,
    def: i64,
) -> Result<i64, LibError> {
    if ffi::lua_isnoneornil(lua, narg) != 0 {
        Ok(def)
    } else {
        check_integer(lua, narg)
    }
}

/// luaL_checklstring without raising. The bytes live as long as the stack slot.
pub(crate) unsafe fn check_lstring<'a>(
    lua: *mut lua_State,
    narg: c_int,
) -> Result<&'a [u8], LibError> {
    to_bytes(lua, narg).ok_or(LibError::Type(narg, c"string"))
}

/// Pushes bytes as a Lua string.
pub(crate) unsafe fn push_lstring(lua: *mut lua_State, s: &[u8]) {
    push_bytes(lua, s);
}

/// A C-callable Lua function from a `fn(lua) -> Result<c_int, LibError>`.
macro_rules! lib_function {
    ($name:path) => {{
        unsafe extern "C-unwind" fn entry(lua: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
            $crate::script_lua::lib_call(lua, $name)
        }
        entry as mlua::ffi::lua_CFunction
    }};
}
pub(crate) use lib_function;

/// luaL_register(L, name, funcs) for a library of C functions: a global table.
pub(crate) unsafe fn register_lib(
    lua: *mut lua_State,
    name: &CStr,
    funcs: &[(&CStr, ffi::lua_CFunction)],
) {
    ffi::lua_createtable(lua, 0, funcs.len() as c_int);
    for (n, f) in funcs {
        ffi::lua_pushcfunction(lua, *f);
        ffi::lua_setfield(lua, -2, n.as_ptr());
    }
    ffi::lua_pushvalue(lua, -1);
    ffi::lua_setfield(lua, ffi::LUA_GLOBALSINDEX, name.as_ptr());
}

/// luaL_error with a plain message: prefixes the caller's position and raises.
/// Must be called with no live Rust values that own memory.
unsafe fn raise_with_position(lua: *mut lua_State, msg: &[u8]) -> ! {
    if ffi::lua_checkstack(lua, 4) == 0 {
        ffi::lua_settop(lua, 0);
    }
    ffi::luaL_where(lua, 1);
    push_bytes(lua, msg);
    ffi::lua_concat(lua, 2);
    ffi::lua_error(lua)
}

/// script_lua.c: luaSaveOnRegistry
pub(crate) unsafe fn lua_save_on_registry(lua: *mut lua_State, name: &CStr, ptr: *mut c_void) {
    ffi::lua_pushstring(lua, name.as_ptr());
    if ptr.is_null() {
        ffi::lua_pushnil(lua);
    } else {
        ffi::lua_pushlightuserdata(lua, ptr);
    }
    ffi::lua_settable(lua, ffi::LUA_REGISTRYINDEX);
}

/// script_lua.c: luaGetFromRegistry
pub(crate) unsafe fn lua_get_from_registry(lua: *mut lua_State, name: &CStr) -> *mut c_void {
    ffi::lua_pushstring(lua, name.as_ptr());
    ffi::lua_gettable(lua, ffi::LUA_REGISTRYINDEX);
    let p = if ffi::lua_islightuserdata(lua, -1) != 0 {
        ffi::lua_touserdata(lua, -1)
    } else {
        std::ptr::null_mut()
    };
    ffi::lua_pop(lua, 1);
    p
}

/// The context of the script being run, if one is.
unsafe fn run_ctx<'a>(lua: *mut lua_State) -> Option<&'a mut ScriptRunCtx> {
    (lua_get_from_registry(lua, REGISTRY_RUN_CTX_NAME) as *mut ScriptRunCtx).as_mut()
}

/// Publishes (or, with null, withdraws) the run context the API functions use.
pub(crate) unsafe fn set_run_ctx(lua: *mut lua_State, rctx: *mut ScriptRunCtx) {
    lua_save_on_registry(lua, REGISTRY_RUN_CTX_NAME, rctx as *mut c_void);
}

// ---------------------------------------------------------------------------------------
// Redis reply -> Lua value (the redisProtocolToLuaType_* callbacks over resp_parser.c).
// ---------------------------------------------------------------------------------------

/// Reads one CRLF-terminated line starting at `p`; returns it and the position after it.
fn proto_line(reply: &[u8], p: usize) -> (&[u8], usize) {
    let end = reply[p..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|i| p + i)
        .unwrap_or(reply.len());
    (&reply[p..end], (end + 2).min(reply.len()))
}

fn proto_len(line: &[u8]) -> i64 {
    crate::util::string2ll(line).unwrap_or(-1)
}

/// script_lua.c: redisProtocolToLuaType
///
/// Pushes the Lua value for the reply starting at `p` (nothing when `lua` is None,
/// which is how attributes are skipped) and returns the position after it. The reply
/// was produced by this server, so it is trusted to be well formed.
unsafe fn redis_protocol_to_lua_type(lua: Option<*mut lua_State>, reply: &[u8], p: usize) -> usize {
    if p >= reply.len() {
        return p;
    }
    let t = reply[p];
    let (line, mut next) = proto_line(reply, p + 1);
    if let Some(l) = lua {
        // Each value needs at most a handful of slots; Redis panics when even that fails.
        if ffi::lua_checkstack(l, 5) == 0 {
            panic!("lua stack limit reach when parsing redis.call reply");
        }
    }
    match t {
        b':' => {
            if let Some(l) = lua {
                ffi::lua_pushnumber(l, proto_len(line) as f64);
            }
        }
        b'$' => {
            let len = proto_len(line);
            if len < 0 {
                if let Some(l) = lua {
                    ffi::lua_pushboolean(l, 0);
                }
            } else {
                let end = (next + len as usize).min(reply.len());
                if let Some(l) = lua {
                    push_bytes(l, &reply[next..end]);
                }
                next = (end + 2).min(reply.len());
            }
        }
        b'+' => {
            if let Some(l) = lua {
                ffi::lua_newtable(l);
                set_field_bytes(l, c"ok", line);
            }
        }
        b'-' => {
            if let Some(l) = lua {
                let mut err = Vec::with_capacity(line.len() + 1);
                err.push(b'-');
                err.extend_from_slice(line);
                lua_push_error_buff(l, &err);
                // The command already counted this error; the script must not again.
                ffi::lua_pushboolean(l, 1);
                ffi::lua_setfield(l, -2, c"ignore_error_stats_update".as_ptr());
            }
        }
        b'*' | b'~' | b'%' | b'|' | b'>' => {
            let len = proto_len(line);
            if len < 0 {
                // Null array.
                if let Some(l) = lua {
                    ffi::lua_pushboolean(l, 0);
                }
                return next;
            }
            let len = len as usize;
            match t {
                b'*' | b'>' => {
                    if let Some(l) = lua {
                        ffi::lua_newtable(l);
                    }
                    for j in 0..len {
                        if let Some(l) = lua {
                            ffi::lua_pushnumber(l, (j + 1) as f64);
                        }
                        next = redis_protocol_to_lua_type(lua, reply, next);
                        if let Some(l) = lua {
                            ffi::lua_settable(l, -3);
                        }
                    }
                }
                b'~' => {
                    if let Some(l) = lua {
                        ffi::lua_newtable(l);
                        ffi::lua_pushstring(l, c"set".as_ptr());
                        ffi::lua_newtable(l);
                    }
                    for _ in 0..len {
                        next = redis_protocol_to_lua_type(lua, reply, next);
                        if let Some(l) = lua {
                            ffi::lua_pushboolean(l, 1);
                            ffi::lua_settable(l, -3);
                        }
                    }
                    if let Some(l) = lua {
                        ffi::lua_settable(l, -3);
                    }
                }
                b'%' => {
                    if let Some(l) = lua {
                        ffi::lua_newtable(l);
                        ffi::lua_pushstring(l, c"map".as_ptr());
                        ffi::lua_newtable(l);
                    }
                    for _ in 0..len {
                        next = redis_protocol_to_lua_type(lua, reply, next);
                        next = redis_protocol_to_lua_type(lua, reply, next);
                        if let Some(l) = lua {
                            ffi::lua_settable(l, -3);
                        }
                    }
                    if let Some(l) = lua {
                        ffi::lua_settable(l, -3);
                    }
                }
                _ => {
                    // Attribute: skipped, then the value it decorates.
                    for _ in 0..len {
                        next = redis_protocol_to_lua_type(None, reply, next);
                        next = redis_protocol_to_lua_type(None, reply, next);
                    }
                    next = redis_protocol_to_lua_type(lua, reply, next);
                }
            }
        }
        b'_' => {
            if let Some(l) = lua {
                ffi::lua_pushnil(l);
            }
        }
        b'#' => {
            if let Some(l) = lua {
                ffi::lua_pushboolean(l, (line == b"t") as c_int);
            }
        }
        b',' => {
            if let Some(l) = lua {
                let d = parse_double(line);
                ffi::lua_newtable(l);
                ffi::lua_pushnumber(l, d);
                ffi::lua_setfield(l, -2, c"double".as_ptr());
            }
        }
        b'(' => {
            if let Some(l) = lua {
                ffi::lua_newtable(l);
                set_field_bytes(l, c"big_number", line);
            }
        }
        b'=' => {
            let len = proto_len(line).max(0) as usize;
            let end = (next + len).min(reply.len());
            let body = &reply[next..end];
            next = (end + 2).min(reply.len());
            if let Some(l) = lua {
                let (format, s) = if body.len() >= 4 {
                    (&body[..3], &body[4..])
                } else {
                    (body, &b""[..])
                };
                ffi::lua_newtable(l);
                ffi::lua_pushstring(l, c"verbatim_string".as_ptr());
                ffi::lua_newtable(l);
                set_field_bytes(l, c"string", s);
                set_field_bytes(l, c"format", format);
                ffi::lua_settable(l, -3);
            }
        }
        _ => {
            if let Some(l) = lua {
                ffi::lua_pushnil(l);
            }
        }
    }
    next
}

/// strtod over a RESP3 double line ("inf", "-inf" and "nan" included).
fn parse_double(line: &[u8]) -> f64 {
    let s = std::str::from_utf8(line).unwrap_or("0");
    match s {
        "inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        _ => s.parse().unwrap_or(f64::NAN),
    }
}

/// script_lua.c: luaPushErrorBuff
///
/// Pushes `{err = "<CODE> <message>"}`: a leading "-CODE " is split off, a plain message
/// gets the generic ERR code, and surrounding CR/LF are trimmed.
pub(crate) unsafe fn lua_push_error_buff(lua: *mut lua_State, err: &[u8]) {
    let (code, msg): (&[u8], &[u8]) = if err.first() == Some(&b'-') {
        match err.iter().position(|&b| b == b' ') {
            None => (b"ERR", &err[1..]),
            Some(sp) => (&err[1..sp], &err[sp + 1..]),
        }
    } else {
        (b"ERR", err)
    };
    let is_crlf = |b: &u8| *b == b'\r' || *b == b'\n';
    let start = msg.iter().position(|b| !is_crlf(b)).unwrap_or(msg.len());
    let end = msg
        .iter()
        .rposition(|b| !is_crlf(b))
        .map(|e| e + 1)
        .unwrap_or(start);
    let msg = &msg[start..end.max(start)];
    let mut fin = Vec::with_capacity(code.len() + 1 + msg.len());
    fin.extend_from_slice(code);
    fin.push(b' ');
    fin.extend_from_slice(msg);
    // lua_pushstring stops at a NUL, as in Redis.
    let fin = match fin.iter().position(|&b| b == 0) {
        Some(z) => &fin[..z],
        None => &fin[..],
    };
    ffi::lua_newtable(lua);
    set_field_bytes(lua, c"err", fin);
}

/// script_lua.c: luaPushError
pub(crate) unsafe fn lua_push_error(lua: *mut lua_State, err: &str) {
    lua_push_error_buff(lua, err.as_bytes());
}

// ---------------------------------------------------------------------------------------
// Lua value -> Redis reply.
// ---------------------------------------------------------------------------------------

/// What luaExtractErrorInformation finds in an error table.
#[derive(Default)]
pub struct ErrorInfo {
    pub msg: Option<Vec<u8>>,
    pub source: Option<Vec<u8>>,
    pub line: Option<Vec<u8>>,
    pub ignore_err_stats_update: bool,
}

/// script_lua.c: luaExtractErrorInformation (of the value on top of the stack)
pub(crate) unsafe fn lua_extract_error_information(lua: *mut lua_State) -> ErrorInfo {
    let mut info = ErrorInfo::default();
    if ffi::lua_isstring(lua, -1) != 0 {
        let mut m = b"ERR ".to_vec();
        m.extend_from_slice(to_bytes(lua, -1).unwrap_or_default());
        info.msg = Some(m);
        // A string has no fields to look at.
        return info;
    }
    if ffi::lua_istable(lua, -1) == 0 {
        return info;
    }
    let field = |name: &CStr| -> Option<Vec<u8>> {
        ffi::lua_getfield(lua, -1, name.as_ptr());
        let v = if ffi::lua_isstring(lua, -1) != 0 {
            to_bytes(lua, -1).map(|b| b.to_vec())
        } else {
            None
        };
        ffi::lua_pop(lua, 1);
        v
    };
    info.msg = field(c"err");
    info.source = field(c"source");
    info.line = field(c"line");
    ffi::lua_getfield(lua, -1, c"ignore_error_stats_update".as_ptr());
    if ffi::lua_isboolean(lua, -1) != 0 {
        info.ignore_err_stats_update = ffi::lua_toboolean(lua, -1) != 0;
    }
    ffi::lua_pop(lua, 1);
    info
}

/// An error reply built by a script: newlines become spaces (the ...Safe variants), and
/// errors that already came from a command are not counted twice.
pub fn add_reply_error_safe(s: &mut Server, c: &mut Client, err: &[u8], no_stats: bool) {
    if !no_stats {
        crate::resp::add_reply_error_length(s, c, err);
        return;
    }
    if err.first() != Some(&b'-') {
        c.add_reply_proto(b"-ERR ");
    }
    let clean: Vec<u8> = err
        .iter()
        .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
        .collect();
    c.add_reply_proto(&clean);
    c.add_reply_proto(b"\r\n");
}

/// An aggregate being converted by luaReplyToRedisReply: Redis recurses, this port keeps
/// the pending aggregates in a list so a deeply nested table cannot exhaust the native
/// stack. The Lua stack is used exactly as Redis's recursion uses it, so the nesting
/// limit ("reached lua stack limit") falls at the same depth.
enum Pending {
    /// An array: the next index to read, the elements so far.
    Array(Option<DeferredLen>, u32, usize),
    /// A {map=...}: pairs so far, and whether a pair's value is due next.
    Map(Option<DeferredLen>, usize, bool),
    /// A {set=...}: members so far.
    Set(Option<DeferredLen>, usize),
}

use crate::resp::DeferredLen;

/// script_lua.c: luaReplyToRedisReply
///
/// Converts the value on top of the stack into a reply to `c` and pops it. `resp` is the
/// protocol the script selected with redis.setresp (it decides how booleans go out).
pub(crate) unsafe fn lua_reply_to_redis_reply(
    s: &mut Server,
    c: &mut Client,
    resp: u8,
    lua: *mut lua_State,
) {
    let mut pending: Vec<Pending> = Vec::new();
    if let Some(p) = reply_one(s, c, resp, lua) {
        pending.push(p);
    }
    while let Some(top) = pending.last_mut() {
        let next = match top {
            Pending::Array(d, j, n) => {
                ffi::lua_pushnumber(lua, *j as f64);
                *j += 1;
                ffi::lua_rawget(lua, -2);
                if ffi::lua_type(lua, -1) == ffi::LUA_TNIL {
                    ffi::lua_pop(lua, 1);
                    let (d, n) = (d.take(), *n);
                    c.set_deferred_array_len(d, n);
                    ffi::lua_pop(lua, 1);
                    pending.pop();
                    continue;
                }
                *n += 1;
                reply_one(s, c, resp, lua)
            }
            Pending::Map(d, n, value_due) => {
                if *value_due {
                    *value_due = false;
                    reply_one(s, c, resp, lua)
                } else if ffi::lua_next(lua, -2) == 0 {
                    let (d, n) = (d.take(), *n);
                    c.set_deferred_map_len(d, n);
                    ffi::lua_pop(lua, 2);
                    pending.pop();
                    continue;
                } else {
                    // Stack: table, key, value; convert a copy of the key, then the value.
                    ffi::lua_pushvalue(lua, -2);
                    *n += 1;
                    *value_due = true;
                    reply_one(s, c, resp, lua)
                }
            }
            Pending::Set(d, n) => {
                if ffi::lua_next(lua, -2) == 0 {
                    let (d, n) = (d.take(), *n);
                    c.set_deferred_set_len(d, n);
                    ffi::lua_pop(lua, 2);
                    pending.pop();
                    continue;
                }
                ffi::lua_pop(lua, 1);
                ffi::lua_pushvalue(lua, -1);
                *n += 1;
                reply_one(s, c, resp, lua)
            }
        };
        if let Some(p) = next {
            pending.push(p);
        }
    }
}

/// One step of luaReplyToRedisReply: replies with (and pops) a scalar or a special table,
/// or opens an aggregate and returns it, leaving what it needs on the stack.
unsafe fn reply_one(
    s: &mut Server,
    c: &mut Client,
    resp: u8,
    lua: *mut lua_State,
) -> Option<Pending> {
    let t = ffi::lua_type(lua, -1);
    if ffi::lua_checkstack(lua, 4) == 0 {
        // Deep nesting exhausted the Lua stack.
        crate::resp::add_reply_error(s, c, "reached lua stack limit");
        ffi::lua_pop(lua, 1);
        return None;
    }
    match t {
        ffi::LUA_TSTRING => {
            let b = to_bytes(lua, -1).unwrap_or_default();
            c.add_reply_bulk(b);
        }
        ffi::LUA_TBOOLEAN => {
            let b = ffi::lua_toboolean(lua, -1) != 0;
            if resp == 2 {
                if b {
                    c.add_reply(crate::resp::shared::CONE);
                } else {
                    c.add_reply_null();
                }
            } else {
                c.add_reply_bool(b);
            }
        }
        ffi::LUA_TNUMBER => {
            c.add_reply_long_long(double_to_long_long(ffi::lua_tonumber(lua, -1)));
        }
        ffi::LUA_TTABLE => return table_to_reply(s, c, lua),
        _ => c.add_reply_null(),
    }
    ffi::lua_pop(lua, 1);
    None
}

/// C's (long long) cast of a double as x86-64 performs it: NaN and every value out of
/// range become LLONG_MIN (Rust's `as` would saturate instead).
pub(crate) fn double_to_long_long(d: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !(-LIMIT..LIMIT).contains(&d) {
        i64::MIN
    } else {
        d as i64
    }
}

/// The table cases of luaReplyToRedisReply: the special single-field tables reply at
/// once (and pop); a map, set or array is opened and returned.
unsafe fn table_to_reply(s: &mut Server, c: &mut Client, lua: *mut lua_State) -> Option<Pending> {
    // {err=...}: an error reply.
    ffi::lua_pushstring(lua, c"err".as_ptr());
    ffi::lua_rawget(lua, -2);
    if ffi::lua_type(lua, -1) == ffi::LUA_TSTRING {
        ffi::lua_pop(lua, 1);
        let info = lua_extract_error_information(lua);
        let mut msg = b"-".to_vec();
        msg.extend_from_slice(&info.msg.unwrap_or_default());
        add_reply_error_safe(s, c, &msg, info.ignore_err_stats_update);
        ffi::lua_pop(lua, 1);
        return None;
    }
    ffi::lua_pop(lua, 1);

    // {ok=...}: a status reply.
    ffi::lua_pushstring(lua, c"ok".as_ptr());
    ffi::lua_rawget(lua, -2);
    if ffi::lua_type(lua, -1) == ffi::LUA_TSTRING {
        let b = to_bytes(lua, -1).unwrap_or_default();
        let b = match b.iter().position(|&x| x == 0) {
            Some(z) => &b[..z],
            None => b,
        };
        let clean: Vec<u8> = b
            .iter()
            .map(|&x| if x == b'\r' || x == b'\n' { b' ' } else { x })
            .collect();
        c.add_reply_proto(b"+");
        c.add_reply_proto(&clean);
        c.add_reply_proto(b"\r\n");
        ffi::lua_pop(lua, 2);
        return None;
    }
    ffi::lua_pop(lua, 1);

    // {double=n}
    ffi::lua_pushstring(lua, c"double".as_ptr());
    ffi::lua_rawget(lua, -2);
    if ffi::lua_type(lua, -1) == ffi::LUA_TNUMBER {
        c.add_reply_double(ffi::lua_tonumber(lua, -1));
        ffi::lua_pop(lua, 2);
        return None;
    }
    ffi::lua_pop(lua, 1);

    // {big_number="..."}
    ffi::lua_pushstring(lua, c"big_number".as_ptr());
    ffi::lua_rawget(lua, -2);
    if ffi::lua_type(lua, -1) == ffi::LUA_TSTRING {
        let b: Vec<u8> = to_bytes(lua, -1)
            .unwrap_or_default()
            .iter()
            .map(|&x| if x == b'\r' || x == b'\n' { b' ' } else { x })
            .collect();
        c.add_reply_big_num(&b);
        ffi::lua_pop(lua, 2);
        return None;
    }
    ffi::lua_pop(lua, 1);

    // {verbatim_string={format=..., string=...}}
    ffi::lua_pushstring(lua, c"verbatim_string".as_ptr());
    ffi::lua_rawget(lua, -2);
    if ffi::lua_type(lua, -1) == ffi::LUA_TTABLE {
        ffi::lua_pushstring(lua, c"format".as_ptr());
        ffi::lua_rawget(lua, -2);
        if ffi::lua_type(lua, -1) == ffi::LUA_TSTRING {
            let format =
                String::from_utf8_lossy(to_bytes(lua, -1).unwrap_or_default()).into_owned();
            ffi::lua_pushstring(lua, c"string".as_ptr());
            ffi::lua_rawget(lua, -3);
            if ffi::lua_type(lua, -1) == ffi::LUA_TSTRING {
                let str_ = to_bytes(lua, -1).unwrap_or_default();
                c.add_reply_verbatim(str_, &format);
                ffi::lua_pop(lua, 4);
                return None;
            }
            ffi::lua_pop(lua, 1);
        }
        ffi::lua_pop(lua, 1);
    }
    ffi::lua_pop(lua, 1);

    // {map={k=v,...}}
    ffi::lua_pushstring(lua, c"map".as_ptr());
    ffi::lua_rawget(lua, -2);
    if ffi::lua_type(lua, -1) == ffi::LUA_TTABLE {
        let d = c.add_reply_deferred_len();
        ffi::lua_pushnil(lua);
        return Some(Pending::Map(d, 0, false));
    }
    ffi::lua_pop(lua, 1);

    // {set={k=true,...}}
    ffi::lua_pushstring(lua, c"set".as_ptr());
    ffi::lua_rawget(lua, -2);
    if ffi::lua_type(lua, -1) == ffi::LUA_TTABLE {
        let d = c.add_reply_deferred_len();
        ffi::lua_pushnil(lua);
        return Some(Pending::Set(d, 0));
    }
    ffi::lua_pop(lua, 1);

    // An array, up to the first nil.
    let d = c.add_reply_deferred_len();
    Some(Pending::Array(d, 1, 0))
}

// ---------------------------------------------------------------------------------------
// redis.call / redis.pcall
// ---------------------------------------------------------------------------------------

/// script_lua.c: luaArgsToRedisArgv
///
/// Pops the arguments into `argv` (cleared first; redis.call passes the script
/// client's own, so its capacity is reused from call to call, like Redis's static
/// lua_argv); on failure pushes the error table and returns false.
unsafe fn lua_args_to_redis_argv(lua: *mut lua_State, argv: &mut Vec<Bytes>) -> bool {
    argv.clear();
    let argc = ffi::lua_gettop(lua);
    if argc == 0 {
        lua_push_error(
            lua,
            "Please specify at least one argument for this redis lib call",
        );
        return false;
    }
    argv.reserve(argc as usize);
    let mut ok = true;
    for j in 1..=argc {
        if ffi::lua_type(lua, j) == ffi::LUA_TNUMBER {
            // Lua's own number formatting (%.14g) would lose precision.
            let num = ffi::lua_tonumber(lua, j);
            argv.push(Bytes::from(crate::util::d2string(num)));
        } else {
            match to_bytes(lua, j) {
                Some(b) => argv.push(Bytes::copy_from_slice(b)),
                None => {
                    ok = false;
                    break;
                }
            }
        }
    }
    ffi::lua_pop(lua, argc);
    if !ok {
        argv.clear();
        lua_push_error(
            lua,
            "Lua redis lib command arguments must be strings or integers",
        );
        return false;
    }
    true
}

/// script_lua.c: luaRedisGenericCommand (everything but the final raise)
///
/// Leaves the result (or the error table) on the stack and returns whether it must be
/// raised.
unsafe fn lua_redis_generic_command(lua: *mut lua_State, raise_error: bool) -> bool {
    let Some(rctx) = run_ctx(lua) else {
        lua_push_error(
            lua,
            "redis.call/pcall can only be called inside a script invocation",
        );
        return true;
    };
    // SAFETY: the run context points at the server and the script client for as long
    // as the script runs; nothing else touches them meanwhile.
    let s = &mut *rctx.s;
    let c = &mut *rctx.c;
    if !lua_args_to_redis_argv(lua, &mut c.argv) {
        return raise_error;
    }
    let raise = match script::script_call(rctx, s, c) {
        Err(err) => {
            lua_push_error(lua, &err);
            ffi::lua_pushboolean(lua, 1);
            ffi::lua_setfield(lua, -2, c"ignore_error_stats_update".as_ptr());
            raise_error
        }
        Ok(()) => {
            // The reply the command produced, taken out of the script client. It
            // usually fits the buffer, which is then lent out and handed back empty
            // (no copy, no allocation); blocks beyond it are appended.
            let mut reply = std::mem::take(&mut c.buf);
            if !c.reply.is_empty() {
                for b in &c.reply {
                    reply.extend_from_slice(&b.buf);
                }
                let popped = c.reply.len() as u64;
                c.reply.clear();
                c.reply_popped += popped;
            }
            c.reply_bytes = 0;
            let raise = raise_error && reply.first() == Some(&b'-');
            redis_protocol_to_lua_type(Some(lua), &reply, 0);
            reply.clear();
            c.buf = reply;
            raise
        }
    };
    c.argv.clear();
    c.cmd = None;
    raise
}

/// script_lua.c: luaRedisCallCommand (redis.call)
unsafe extern "C-unwind" fn lua_redis_call_command(lua: *mut lua_State) -> c_int {
    if lua_redis_generic_command(lua, true) {
        ffi::lua_error(lua);
    }
    1
}

/// script_lua.c: luaRedisPCallCommand (redis.pcall)
unsafe extern "C-unwind" fn lua_redis_pcall_command(lua: *mut lua_State) -> c_int {
    if lua_redis_generic_command(lua, false) {
        ffi::lua_error(lua);
    }
    1
}

/// script_lua.c: luaRedisPcall (the global `pcall`)
///
/// Errors are tables since 7.0; for older scripts pcall hands back the message string.
unsafe extern "C-unwind" fn lua_redis_pcall(lua: *mut lua_State) -> c_int {
    let argc = ffi::lua_gettop(lua);
    if argc == 0 {
        // Redis calls its placeholder `true` here, which fails this way.
        ffi::lua_pushboolean(lua, 0);
        ffi::lua_pushstring(lua, c"attempt to call a boolean value".as_ptr());
        return 2;
    }
    ffi::lua_pushboolean(lua, 1);
    ffi::lua_insert(lua, 1);
    if ffi::lua_pcall(lua, argc - 1, ffi::LUA_MULTRET, 0) != 0 {
        ffi::lua_remove(lua, 1);
        if ffi::lua_istable(lua, -1) != 0 {
            ffi::lua_getfield(lua, -1, c"err".as_ptr());
            if ffi::lua_isstring(lua, -1) != 0 {
                ffi::lua_replace(lua, -2);
            }
        }
        ffi::lua_pushboolean(lua, 0);
        ffi::lua_insert(lua, 1);
    }
    ffi::lua_gettop(lua)
}

// ---------------------------------------------------------------------------------------
// The rest of the redis.* API.
// ---------------------------------------------------------------------------------------

/// Pushes `{err=msg}` and raises it (luaPushError + luaError).
unsafe fn raise_error_table(lua: *mut lua_State, msg: &CStr) -> ! {
    lua_push_error_buff(lua, msg.to_bytes());
    ffi::lua_error(lua)
}

/// script_lua.c: luaRedisSha1hexCommand (redis.sha1hex)
unsafe extern "C-unwind" fn lua_redis_sha1hex_command(lua: *mut lua_State) -> c_int {
    if ffi::lua_gettop(lua) != 1 {
        raise_error_table(lua, c"wrong number of arguments");
    }
    let digest = crate::eval::sha1hex(to_bytes(lua, 1).unwrap_or_default());
    push_bytes(lua, digest.as_bytes());
    1
}

/// script_lua.c: luaRedisErrorReplyCommand (redis.error_reply)
unsafe extern "C-unwind" fn lua_redis_error_reply_command(lua: *mut lua_State) -> c_int {
    if ffi::lua_gettop(lua) != 1 || ffi::lua_type(lua, -1) != ffi::LUA_TSTRING {
        lua_push_error(lua, "wrong number or type of arguments");
        return 1;
    }
    let err = to_bytes(lua, -1).unwrap_or_default();
    let err = match err.iter().position(|&b| b == 0) {
        Some(z) => &err[..z],
        None => err,
    };
    let mut buf = Vec::with_capacity(err.len() + 1);
    if err.first() != Some(&b'-') {
        buf.push(b'-');
    }
    buf.extend_from_slice(err);
    lua_push_error_buff(lua, &buf);
    1
}

/// script_lua.c: luaRedisStatusReplyCommand (redis.status_reply)
unsafe extern "C-unwind" fn lua_redis_status_reply_command(lua: *mut lua_State) -> c_int {
    if ffi::lua_gettop(lua) != 1 || ffi::lua_type(lua, -1) != ffi::LUA_TSTRING {
        lua_push_error(lua, "wrong number or type of arguments");
        return 1;
    }
    ffi::lua_newtable(lua);
    ffi::lua_pushstring(lua, c"ok".as_ptr());
    ffi::lua_pushvalue(lua, -3);
    ffi::lua_settable(lua, -3);
    1
}

/// script_lua.c: luaRedisSetReplCommand (redis.set_repl)
unsafe extern "C-unwind" fn lua_redis_set_repl_command(lua: *mut lua_State) -> c_int {
    let Some(rctx) = run_ctx(lua) else {
        raise_error_table(
            lua,
            c"redis.set_repl can only be called inside a script invocation",
        );
    };
    if ffi::lua_gettop(lua) != 1 {
        raise_error_table(lua, c"redis.set_repl() requires two arguments.");
    }
    let flags = ffi::lua_tonumber(lua, -1) as c_int as u32;
    if flags & !(PROPAGATE_AOF | PROPAGATE_REPL) != 0 {
        raise_error_table(
            lua,
            c"Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
        );
    }
    rctx.repl_flags = flags;
    0
}

/// script_lua.c: luaRedisAclCheckCmdPermissionsCommand (redis.acl_check_cmd)
///
/// Ferredis has only the default user, who may run everything; what remains is the
/// command lookup.
unsafe extern "C-unwind" fn lua_redis_acl_check_cmd_command(lua: *mut lua_State) -> c_int {
    let Some(rctx) = run_ctx(lua) else {
        raise_error_table(
            lua,
            c"redis.acl_check_cmd can only be called inside a script invocation",
        );
    };
    let mut argv = Vec::new();
    let known = match lua_args_to_redis_argv(lua, &mut argv) {
        false => None,
        true => Some((*rctx.s).commands.lookup_command(&argv).is_some()),
    };
    match known {
        None => ffi::lua_error(lua),
        Some(false) => {
            raise_error_table(lua, c"Invalid command passed to redis.acl_check_cmd()");
        }
        Some(true) => ffi::lua_pushboolean(lua, 1),
    }
    1
}

/// script_lua.c: luaLogCommand (redis.log)
unsafe extern "C-unwind" fn lua_log_command(lua: *mut lua_State) -> c_int {
    let argc = ffi::lua_gettop(lua);
    if argc < 2 {
        raise_error_table(lua, c"redis.log() requires two arguments or more.");
    } else if ffi::lua_isnumber(lua, -argc) == 0 {
        raise_error_table(lua, c"First argument must be a number (log level).");
    }
    let level = ffi::lua_tonumber(lua, -argc) as c_int;
    if !(crate::server::LL_DEBUG as c_int..=crate::server::LL_WARNING as c_int).contains(&level) {
        raise_error_table(lua, c"Invalid debug level.");
    }
    log_glued(lua, argc, level as u8);
    0
}

/// The non-raising half of redis.log: joins the arguments and logs them.
unsafe fn log_glued(lua: *mut lua_State, argc: c_int, level: u8) {
    let verbosity = run_ctx(lua).map(|r| (*r.s).verbosity).unwrap_or(0);
    if level < verbosity {
        return;
    }
    let mut log = Vec::new();
    for j in 1..argc {
        if let Some(b) = to_bytes(lua, -argc + j) {
            if j != 1 {
                log.push(b' ');
            }
            log.extend_from_slice(b);
        }
    }
    crate::server::server_log_raw(level, &String::from_utf8_lossy(&log));
}

/// script_lua.c: luaSetResp (redis.setresp)
unsafe extern "C-unwind" fn lua_set_resp(lua: *mut lua_State) -> c_int {
    let Some(rctx) = run_ctx(lua) else {
        raise_error_table(
            lua,
            c"redis.setresp can only be called inside a script invocation",
        );
    };
    if ffi::lua_gettop(lua) != 1 {
        raise_error_table(lua, c"redis.setresp() requires one argument.");
    }
    let resp = ffi::lua_tonumber(lua, -1) as c_int;
    if resp != 2 && resp != 3 {
        raise_error_table(lua, c"RESP version must be 2 or 3.");
    }
    let lc = &mut *rctx.c;
    lc.resp = resp as u8;
    0
}

/// eval.c: luaRedisBreakpointCommand (no debugger session: always false)
unsafe extern "C-unwind" fn lua_redis_breakpoint_command(lua: *mut lua_State) -> c_int {
    ffi::lua_pushboolean(lua, 0);
    1
}

/// eval.c: luaRedisDebugCommand (a no-op outside a debugger session)
unsafe extern "C-unwind" fn lua_redis_debug_command(_lua: *mut lua_State) -> c_int {
    0
}

/// eval.c: luaRedisReplicateCommandsCommand (effects replication is the only mode in 7.0)
unsafe extern "C-unwind" fn lua_redis_replicate_commands_command(lua: *mut lua_State) -> c_int {
    ffi::lua_pushboolean(lua, 1);
    1
}

/// script_lua.c: redis_math_random
unsafe extern "C-unwind" fn redis_math_random(lua: *mut lua_State) -> c_int {
    if run_ctx(lua).is_none() {
        raise_with_position(
            lua,
            b"math.random can only be called inside a script invocation",
        );
    }
    let max = crate::rand::REDIS_LRAND48_MAX;
    let r = (crate::rand::redis_lrand48() % max) as f64 / max as f64;
    match ffi::lua_gettop(lua) {
        0 => ffi::lua_pushnumber(lua, r),
        1 => {
            let u = ffi::luaL_checkinteger(lua, 1) as c_int;
            if u < 1 {
                ffi::luaL_argerror(lua, 1, c"interval is empty".as_ptr());
            }
            ffi::lua_pushnumber(lua, (r * u as f64).floor() + 1.0);
        }
        2 => {
            let l = ffi::luaL_checkinteger(lua, 1) as c_int;
            let u = ffi::luaL_checkinteger(lua, 2) as c_int;
            if l > u {
                ffi::luaL_argerror(lua, 2, c"interval is empty".as_ptr());
            }
            let span = (u as f64) - (l as f64) + 1.0;
            ffi::lua_pushnumber(lua, (r * span).floor() + l as f64);
        }
        _ => raise_with_position(lua, b"wrong number of arguments"),
    }
    1
}

/// script_lua.c: redis_math_randomseed
unsafe extern "C-unwind" fn redis_math_randomseed(lua: *mut lua_State) -> c_int {
    if run_ctx(lua).is_none() {
        raise_with_position(
            lua,
            b"math.randomseed can only be called inside a script invocation",
        );
    }
    let seed = ffi::luaL_checkinteger(lua, 1) as c_int;
    crate::rand::redis_srand48(seed);
    0
}

// ---------------------------------------------------------------------------------------
// The sandbox: read-only proxies in place of Redis's read-only tables.
// ---------------------------------------------------------------------------------------

/// Pushes the real table behind the proxy at `idx` and returns true, or pushes nothing
/// and returns false when the value is not a proxy.
unsafe fn push_proxied(lua: *mut lua_State, idx: c_int) -> bool {
    if ffi::lua_istable(lua, idx) == 0 {
        return false;
    }
    let idx = ffi::lua_absindex(lua, idx);
    ffi::lua_getfield(lua, ffi::LUA_REGISTRYINDEX, REGISTRY_RO_PROXIES.as_ptr());
    ffi::lua_pushvalue(lua, idx);
    ffi::lua_rawget(lua, -2);
    ffi::lua_remove(lua, -2);
    if ffi::lua_isnil(lua, -1) != 0 {
        ffi::lua_pop(lua, 1);
        false
    } else {
        true
    }
}

/// The `__newindex` of every read-only table: Redis's VM error for a write to one.
pub(crate) unsafe extern "C-unwind" fn lua_readonly_table_error(lua: *mut lua_State) -> c_int {
    raise_with_position(lua, b"Attempt to modify a readonly table")
}

/// Raised by the raw API on a read-only table: no position, as Redis's lapi checks.
unsafe fn raise_readonly(lua: *mut lua_State) -> ! {
    ffi::lua_pushstring(lua, c"Attempt to modify a readonly table".as_ptr());
    ffi::lua_error(lua)
}

/// script_lua.c: luaProtectedTableError (the globals' `__index`)
unsafe extern "C-unwind" fn lua_protected_table_error(lua: *mut lua_State) -> c_int {
    if ffi::lua_gettop(lua) != 2 {
        raise_with_position(lua, b"Wrong number of arguments to luaProtectedTableError");
    }
    if ffi::lua_isstring(lua, -1) == 0 && ffi::lua_isnumber(lua, -1) == 0 {
        raise_with_position(
            lua,
            b"Second argument to luaProtectedTableError must be a string or number",
        );
    }
    ffi::luaL_where(lua, 1);
    ffi::lua_pushstring(
        lua,
        c"Script attempted to access nonexistent global variable '".as_ptr(),
    );
    ffi::lua_pushvalue(lua, 2);
    ffi::lua_pushstring(lua, c"'".as_ptr());
    ffi::lua_concat(lua, 4);
    ffi::lua_error(lua)
}

// The raw accessors below are lbaselib.c's and ltablib.c's, rewritten to see through
// the read-only proxies. They are whole functions, not wrappers calling the originals,
// so their errors name them and point at the script's line exactly as Lua's do.

/// lbaselib.c: luaB_rawset, refusing read-only tables.
unsafe extern "C-unwind" fn lua_guarded_rawset(lua: *mut lua_State) -> c_int {
    ffi::luaL_checktype(lua, 1, ffi::LUA_TTABLE);
    ffi::luaL_checkany(lua, 2);
    ffi::luaL_checkany(lua, 3);
    if push_proxied(lua, 1) {
        raise_readonly(lua);
    }
    ffi::lua_settop(lua, 3);
    ffi::lua_rawset(lua, 1);
    1
}

/// lbaselib.c: luaB_setmetatable, refusing read-only tables.
unsafe extern "C-unwind" fn lua_guarded_setmetatable(lua: *mut lua_State) -> c_int {
    let t = ffi::lua_type(lua, 2);
    ffi::luaL_checktype(lua, 1, ffi::LUA_TTABLE);
    if t != ffi::LUA_TNIL && t != ffi::LUA_TTABLE {
        ffi::luaL_argerror(lua, 2, c"nil or table expected".as_ptr());
    }
    if push_proxied(lua, 1) {
        raise_readonly(lua);
    }
    if ffi::luaL_getmetafield(lua, 1, c"__metatable".as_ptr()) != 0 {
        raise_with_position(lua, b"cannot change a protected metatable");
    }
    ffi::lua_settop(lua, 2);
    ffi::lua_setmetatable(lua, 1);
    1
}

/// lbaselib.c: luaB_rawget, reading through a proxy.
unsafe extern "C-unwind" fn lua_guarded_rawget(lua: *mut lua_State) -> c_int {
    ffi::luaL_checktype(lua, 1, ffi::LUA_TTABLE);
    ffi::luaL_checkany(lua, 2);
    if push_proxied(lua, 1) {
        ffi::lua_replace(lua, 1);
    }
    ffi::lua_settop(lua, 2);
    ffi::lua_rawget(lua, 1);
    1
}

/// lbaselib.c: luaB_next, walking the real table behind a proxy.
unsafe extern "C-unwind" fn lua_guarded_next(lua: *mut lua_State) -> c_int {
    ffi::luaL_checktype(lua, 1, ffi::LUA_TTABLE);
    if push_proxied(lua, 1) {
        ffi::lua_replace(lua, 1);
    }
    ffi::lua_settop(lua, 2);
    if ffi::lua_next(lua, 1) != 0 {
        2
    } else {
        ffi::lua_pushnil(lua);
        1
    }
}

/// lbaselib.c: luaB_pairs (the iterator is the proxy-aware `next`).
unsafe extern "C-unwind" fn lua_guarded_pairs(lua: *mut lua_State) -> c_int {
    ffi::luaL_checktype(lua, 1, ffi::LUA_TTABLE);
    ffi::lua_getfield(lua, ffi::LUA_REGISTRYINDEX, c"__GUARDED_NEXT__".as_ptr());
    ffi::lua_pushvalue(lua, 1);
    ffi::lua_pushnil(lua);
    3
}

/// lbaselib.c: luaB_getmetatable; a proxy shows what Redis shows: nothing for a library
/// table, the (read-only) error metatable for the globals.
unsafe extern "C-unwind" fn lua_guarded_getmetatable(lua: *mut lua_State) -> c_int {
    ffi::luaL_checkany(lua, 1);
    if push_proxied(lua, 1) {
        ffi::lua_pop(lua, 1);
        ffi::lua_getfield(lua, ffi::LUA_REGISTRYINDEX, REGISTRY_RO_METATABLES.as_ptr());
        ffi::lua_pushvalue(lua, 1);
        ffi::lua_rawget(lua, -2);
        return 1;
    }
    if ffi::lua_getmetatable(lua, 1) == 0 {
        ffi::lua_pushnil(lua);
        return 1;
    }
    ffi::luaL_getmetafield(lua, 1, c"__metatable".as_ptr());
    1
}

/// ltablib.c: tinsert, refusing read-only tables (the one table function that always
/// writes: Redis's lua_rawseti check).
unsafe extern "C-unwind" fn lua_guarded_tinsert(lua: *mut lua_State) -> c_int {
    ffi::luaL_checktype(lua, 1, ffi::LUA_TTABLE);
    let mut e = ffi::lua_objlen(lua, 1) as c_int + 1;
    let pos = match ffi::lua_gettop(lua) {
        2 => e,
        3 => {
            let pos = ffi::luaL_checkinteger(lua, 2) as c_int;
            if pos > e {
                e = pos;
            }
            pos
        }
        _ => raise_with_position(lua, b"wrong number of arguments to 'insert'"),
    };
    if push_proxied(lua, 1) {
        raise_readonly(lua);
    }
    let mut i = e;
    while i > pos {
        ffi::lua_rawgeti(lua, 1, (i - 1) as ffi::lua_Integer);
        ffi::lua_rawseti(lua, 1, i as ffi::lua_Integer);
        i -= 1;
    }
    ffi::lua_rawseti(lua, 1, pos as ffi::lua_Integer);
    0
}

/// lbaselib.c: luaB_unpack as Redis patched it
///
/// Stock Lua 5.1 computes the element count in signed arithmetic, which overflows (and
/// is then undefined) for ranges such as `unpack({}, 0, 2147483647)`; Redis counts in
/// unsigned arithmetic and refuses what cannot fit.
unsafe extern "C-unwind" fn lua_guarded_unpack(lua: *mut lua_State) -> c_int {
    ffi::luaL_checktype(lua, 1, ffi::LUA_TTABLE);
    let mut i = ffi::luaL_optinteger(lua, 2, 1) as c_int;
    let e = if ffi::lua_isnoneornil(lua, 3) != 0 {
        ffi::lua_objlen(lua, 1) as c_int
    } else {
        ffi::luaL_checkinteger(lua, 3) as c_int
    };
    if i > e {
        return 0;
    }
    let n = (e as u32).wrapping_sub(i as u32);
    if n >= c_int::MAX as u32 || ffi::lua_checkstack(lua, n as c_int + 1) == 0 {
        raise_with_position(lua, b"too many results to unpack");
    }
    ffi::lua_rawgeti(lua, 1, i as ffi::lua_Integer);
    while i < e {
        i += 1;
        ffi::lua_rawgeti(lua, 1, i as ffi::lua_Integer);
    }
    n as c_int + 1
}

/// lbaselib.c: load_aux
unsafe fn load_aux(lua: *mut lua_State, status: c_int) -> c_int {
    if status == 0 {
        1
    } else {
        ffi::lua_pushnil(lua);
        ffi::lua_insert(lua, -2);
        2
    }
}

/// lbaselib.c: luaB_loadstring, refusing precompiled chunks the way Redis's parser
/// does: a chunk that starts with the bytecode signature is parsed after a space, as
/// text, and fails with the syntax error Redis gives.
unsafe extern "C-unwind" fn lua_guarded_loadstring(lua: *mut lua_State) -> c_int {
    let mut l = 0usize;
    let s = ffi::luaL_checklstring(lua, 1, &mut l);
    let chunkname = ffi::luaL_optlstring(lua, 2, s, std::ptr::null_mut());
    let body = std::slice::from_raw_parts(s as *const u8, l);
    let status = if body.first() == Some(&0x1b) {
        let text = [b" ", body].concat();
        ffi::luaL_loadbuffer(lua, text.as_ptr() as *const c_char, text.len(), chunkname)
    } else {
        ffi::luaL_loadbuffer(lua, s, l, chunkname)
    };
    load_aux(lua, status)
}

/// lbaselib.c: generic_reader, behind a first piece that is a single space (so a
/// precompiled chunk is parsed as text, as in loadstring above).
unsafe extern "C-unwind" fn guarded_reader(
    lua: *mut lua_State,
    ud: *mut c_void,
    size: *mut usize,
) -> *const c_char {
    let first = ud as *mut bool;
    if *first {
        *first = false;
        *size = 1;
        return c" ".as_ptr();
    }
    ffi::luaL_checkstack(lua, 2, c"too many nested functions".as_ptr());
    ffi::lua_pushvalue(lua, 1);
    ffi::lua_call(lua, 0, 1);
    if ffi::lua_isnil(lua, -1) != 0 {
        *size = 0;
        std::ptr::null()
    } else if ffi::lua_isstring(lua, -1) != 0 {
        ffi::lua_replace(lua, 3);
        ffi::lua_tolstring(lua, 3, size)
    } else {
        raise_with_position(lua, b"reader function must return a string")
    }
}

/// lbaselib.c: luaB_load, with the reader guarded as above.
unsafe extern "C-unwind" fn lua_guarded_load(lua: *mut lua_State) -> c_int {
    let cname = ffi::luaL_optlstring(lua, 2, c"=(load)".as_ptr(), std::ptr::null_mut());
    ffi::luaL_checktype(lua, 1, ffi::LUA_TFUNCTION);
    ffi::lua_settop(lua, 3);
    let mut first = true;
    let status = ffi::lua_load(
        lua,
        guarded_reader,
        &mut first as *mut bool as *mut c_void,
        cname,
    );
    load_aux(lua, status)
}

/// Replaces function `name` in the table at `tidx` by its proxy-aware version.
unsafe fn wrap_function(lua: *mut lua_State, tidx: c_int, name: &CStr, guard: ffi::lua_CFunction) {
    let tidx = ffi::lua_absindex(lua, tidx);
    ffi::lua_pushcfunction(lua, guard);
    ffi::lua_setfield(lua, tidx, name.as_ptr());
}

/// Pushes a read-only proxy for the table at `idx`, remembering what getmetatable must
/// show for it (the table at `vmeta`, or nil when `vmeta` is 0).
pub(crate) unsafe fn push_readonly_proxy(lua: *mut lua_State, idx: c_int, vmeta: c_int) {
    let idx = ffi::lua_absindex(lua, idx);
    let vmeta = if vmeta != 0 {
        ffi::lua_absindex(lua, vmeta)
    } else {
        0
    };
    ffi::lua_newtable(lua); // the proxy
    ffi::lua_newtable(lua); // its metatable
    ffi::lua_pushvalue(lua, idx);
    ffi::lua_setfield(lua, -2, c"__index".as_ptr());
    ffi::lua_pushcfunction(lua, lua_readonly_table_error);
    ffi::lua_setfield(lua, -2, c"__newindex".as_ptr());
    ffi::lua_setmetatable(lua, -2);
    // Register proxy -> real.
    ffi::lua_getfield(lua, ffi::LUA_REGISTRYINDEX, REGISTRY_RO_PROXIES.as_ptr());
    ffi::lua_pushvalue(lua, -2);
    ffi::lua_pushvalue(lua, idx);
    ffi::lua_rawset(lua, -3);
    ffi::lua_pop(lua, 1);
    if vmeta != 0 {
        ffi::lua_getfield(lua, ffi::LUA_REGISTRYINDEX, REGISTRY_RO_METATABLES.as_ptr());
        ffi::lua_pushvalue(lua, -2);
        ffi::lua_pushvalue(lua, vmeta);
        ffi::lua_rawset(lua, -3);
        ffi::lua_pop(lua, 1);
    }
}

/// Creates an empty registry table with weak keys under `name`.
unsafe fn new_weak_registry_table(lua: *mut lua_State, name: &CStr) {
    ffi::lua_newtable(lua);
    ffi::lua_newtable(lua);
    ffi::lua_pushstring(lua, c"k".as_ptr());
    ffi::lua_setfield(lua, -2, c"__mode".as_ptr());
    ffi::lua_setmetatable(lua, -2);
    ffi::lua_setfield(lua, ffi::LUA_REGISTRYINDEX, name.as_ptr());
}

/// script_lua.c: luaSetErrorMetatable + luaSetTableProtectionRecursively +
/// luaSetTableProtectionForBasicTypes, rebuilt with proxies.
///
/// The real global table keeps everything and gets the error `__index`; every library
/// table in it is swapped for its proxy; then a proxy of the globals becomes the
/// interpreter's global table, so scripts compiled from now on see only proxies.
unsafe fn lua_protect_globals(lua: *mut lua_State) {
    new_weak_registry_table(lua, REGISTRY_RO_PROXIES);
    new_weak_registry_table(lua, REGISTRY_RO_METATABLES);

    ffi::lua_pushvalue(lua, ffi::LUA_GLOBALSINDEX);
    let g = ffi::lua_gettop(lua);
    ffi::lua_pushvalue(lua, g);
    ffi::lua_setfield(lua, ffi::LUA_REGISTRYINDEX, REGISTRY_REAL_GLOBALS.as_ptr());

    // The raw accessors see through proxies (closures over the originals).
    wrap_function(lua, g, c"rawset", lua_guarded_rawset);
    wrap_function(lua, g, c"rawget", lua_guarded_rawget);
    wrap_function(lua, g, c"next", lua_guarded_next);
    wrap_function(lua, g, c"pairs", lua_guarded_pairs);
    wrap_function(lua, g, c"getmetatable", lua_guarded_getmetatable);
    wrap_function(lua, g, c"setmetatable", lua_guarded_setmetatable);
    ffi::lua_getfield(lua, g, c"next".as_ptr());
    ffi::lua_setfield(lua, ffi::LUA_REGISTRYINDEX, c"__GUARDED_NEXT__".as_ptr());

    ffi::lua_getfield(lua, g, c"table".as_ptr());
    wrap_function(lua, -1, c"insert", lua_guarded_tinsert);
    ffi::lua_pop(lua, 1);

    // Library tables -> proxies. The string metatable's __index follows.
    for name in [
        c"string",
        c"table",
        c"math",
        c"coroutine",
        c"redis",
        c"bit",
        c"cjson",
        c"struct",
        c"cmsgpack",
    ] {
        ffi::lua_getfield(lua, g, name.as_ptr());
        if ffi::lua_istable(lua, -1) != 0 {
            push_readonly_proxy(lua, -1, 0);
            ffi::lua_setfield(lua, g, name.as_ptr());
        }
        ffi::lua_pop(lua, 1);
    }
    ffi::lua_pushstring(lua, c"".as_ptr());
    if ffi::lua_getmetatable(lua, -1) != 0 {
        let mt = ffi::lua_gettop(lua);
        ffi::lua_getfield(lua, g, c"string".as_ptr());
        ffi::lua_setfield(lua, mt, c"__index".as_ptr());
        push_readonly_proxy(lua, mt, 0);
        ffi::lua_setfield(lua, mt, c"__metatable".as_ptr());
        ffi::lua_pop(lua, 1);
    }
    ffi::lua_pop(lua, 1);

    // The error metatable on the real globals: reading a missing name raises.
    ffi::lua_newtable(lua);
    let emt = ffi::lua_gettop(lua);
    ffi::lua_pushcfunction(lua, lua_protected_table_error);
    ffi::lua_setfield(lua, emt, c"__index".as_ptr());
    ffi::lua_pushvalue(lua, emt);
    ffi::lua_setmetatable(lua, g);
    // What getmetatable(_G) shows: a read-only view of that metatable.
    push_readonly_proxy(lua, emt, 0);
    let emt_proxy = ffi::lua_gettop(lua);

    // The globals proxy becomes _G and the interpreter's global table.
    push_readonly_proxy(lua, g, emt_proxy);
    ffi::lua_pushvalue(lua, -1);
    ffi::lua_setfield(lua, g, c"_G".as_ptr());
    ffi::lua_replace(lua, ffi::LUA_GLOBALSINDEX);
    ffi::lua_settop(lua, g - 1);
}

// ---------------------------------------------------------------------------------------
// Interpreter setup.
// ---------------------------------------------------------------------------------------

/// script_lua.c: luaLoadLib
unsafe fn lua_load_lib(lua: *mut lua_State, libname: &CStr, f: ffi::lua_CFunction) {
    ffi::lua_pushcfunction(lua, f);
    ffi::lua_pushstring(lua, libname.as_ptr());
    ffi::lua_call(lua, 1, 0);
}

/// script_lua.c: luaLoadLibraries
unsafe fn lua_load_libraries(lua: *mut lua_State) {
    lua_load_lib(lua, c"", ffi::luaopen_base);
    lua_load_lib(lua, c"table", ffi::luaopen_table);
    lua_load_lib(lua, c"string", ffi::luaopen_string);
    lua_load_lib(lua, c"math", ffi::luaopen_math);
    lua_load_lib(lua, c"debug", ffi::luaopen_debug);
    crate::lua_cjson::luaopen_cjson(lua);
    crate::lua_struct::luaopen_struct(lua);
    crate::lua_cmsgpack::luaopen_cmsgpack(lua);
    crate::lua_bit::luaopen_bit(lua);
    ffi::lua_pop(lua, 4);
    for name in REMOVED_GLOBALS {
        ffi::lua_pushnil(lua);
        ffi::lua_setfield(lua, ffi::LUA_GLOBALSINDEX, name.as_ptr());
    }
}

unsafe fn set_fn(lua: *mut lua_State, name: &CStr, f: ffi::lua_CFunction) {
    ffi::lua_pushcfunction(lua, f);
    ffi::lua_setfield(lua, -2, name.as_ptr());
}

unsafe fn set_num(lua: *mut lua_State, name: &CStr, n: f64) {
    ffi::lua_pushnumber(lua, n);
    ffi::lua_setfield(lua, -2, name.as_ptr());
}

/// script_lua.c: luaRegisterVersion (into the table on top of the stack)
pub(crate) unsafe fn lua_register_version(lua: *mut lua_State) {
    set_num(lua, c"REDIS_VERSION_NUM", REDIS_VERSION_NUM);
    ffi::lua_pushstring(lua, REDIS_VERSION.as_ptr());
    ffi::lua_setfield(lua, -2, c"REDIS_VERSION".as_ptr());
}

/// script_lua.c: luaRegisterLogFunction (into the table on top of the stack)
pub(crate) unsafe fn lua_register_log_function(lua: *mut lua_State) {
    set_fn(lua, c"log", lua_log_command);
    set_num(lua, c"LOG_DEBUG", crate::server::LL_DEBUG as f64);
    set_num(lua, c"LOG_VERBOSE", crate::server::LL_VERBOSE as f64);
    set_num(lua, c"LOG_NOTICE", crate::server::LL_NOTICE as f64);
    set_num(lua, c"LOG_WARNING", crate::server::LL_WARNING as f64);
}

/// script_lua.c: luaSetErrorMetatable (on the table at `idx`): reading a missing name
/// raises instead of giving nil.
pub(crate) unsafe fn lua_set_error_metatable(lua: *mut lua_State, idx: c_int) {
    let idx = ffi::lua_absindex(lua, idx);
    ffi::lua_newtable(lua);
    ffi::lua_pushcfunction(lua, lua_protected_table_error);
    ffi::lua_setfield(lua, -2, c"__index".as_ptr());
    ffi::lua_setmetatable(lua, idx);
}

/// Compiles `code` as chunk `chunkname`, leaving the function on the stack, or returns
/// the compiler's message. A precompiled chunk is refused as Redis's parser refuses it:
/// as a syntax error.
pub(crate) unsafe fn lua_load_chunk(
    lua: *mut lua_State,
    code: &[u8],
    chunkname: &CStr,
) -> Result<(), String> {
    let guarded;
    let code: &[u8] = if code.first() == Some(&0x1b) {
        guarded = [b" ", code].concat();
        &guarded
    } else {
        code
    };
    if ffi::luaL_loadbuffer(
        lua,
        code.as_ptr() as *const c_char,
        code.len(),
        chunkname.as_ptr(),
    ) != 0
    {
        let msg = to_bytes(lua, -1)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        ffi::lua_pop(lua, 1);
        return Err(msg);
    }
    Ok(())
}

/// script_lua.c: luaRegisterRedisAPI (plus eval.c's debugger stubs and
/// replicate_commands, which scriptingInit adds)
unsafe fn lua_register_redis_api(lua: *mut lua_State, eval: bool) {
    lua_load_libraries(lua);

    ffi::lua_pushcfunction(lua, lua_redis_pcall);
    ffi::lua_setfield(lua, ffi::LUA_GLOBALSINDEX, c"pcall".as_ptr());
    ffi::lua_pushcfunction(lua, lua_guarded_unpack);
    ffi::lua_setfield(lua, ffi::LUA_GLOBALSINDEX, c"unpack".as_ptr());
    wrap_function(
        lua,
        ffi::LUA_GLOBALSINDEX,
        c"loadstring",
        lua_guarded_loadstring,
    );
    wrap_function(lua, ffi::LUA_GLOBALSINDEX, c"load", lua_guarded_load);

    ffi::lua_newtable(lua);
    set_fn(lua, c"call", lua_redis_call_command);
    set_fn(lua, c"pcall", lua_redis_pcall_command);
    lua_register_log_function(lua);
    lua_register_version(lua);
    set_fn(lua, c"setresp", lua_set_resp);
    set_fn(lua, c"sha1hex", lua_redis_sha1hex_command);
    set_fn(lua, c"error_reply", lua_redis_error_reply_command);
    set_fn(lua, c"status_reply", lua_redis_status_reply_command);
    set_fn(lua, c"set_repl", lua_redis_set_repl_command);
    set_num(lua, c"REPL_NONE", 0.0);
    set_num(lua, c"REPL_AOF", PROPAGATE_AOF as f64);
    set_num(lua, c"REPL_SLAVE", PROPAGATE_REPL as f64);
    set_num(lua, c"REPL_REPLICA", PROPAGATE_REPL as f64);
    set_num(lua, c"REPL_ALL", (PROPAGATE_AOF | PROPAGATE_REPL) as f64);
    set_fn(lua, c"acl_check_cmd", lua_redis_acl_check_cmd_command);
    if eval {
        // eval.c adds these for EVAL only; functions have no debugger.
        set_fn(lua, c"breakpoint", lua_redis_breakpoint_command);
        set_fn(lua, c"debug", lua_redis_debug_command);
        set_fn(
            lua,
            c"replicate_commands",
            lua_redis_replicate_commands_command,
        );
    }
    ffi::lua_setfield(lua, ffi::LUA_GLOBALSINDEX, c"redis".as_ptr());

    ffi::lua_getfield(lua, ffi::LUA_GLOBALSINDEX, c"math".as_ptr());
    set_fn(lua, c"random", redis_math_random);
    set_fn(lua, c"randomseed", redis_math_randomseed);
    ffi::lua_pop(lua, 1);
}

/// The error handler EVAL runs scripts under (eval.c's `__redis__err__handler`): it
/// turns any error into a table and records where in the script it happened, skipping
/// the C function that raised it.
const ERR_HANDLER_DEF: &[u8] = br#"local dbg = debug
debug = nil
function __redis__err__handler(err)
  local i = dbg.getinfo(2,'nSl')
  if i and i.what == 'C' then
    i = dbg.getinfo(3,'nSl')
  end
  if type(err) ~= 'table' then
    err = {err='ERR ' .. tostring(err)}  end  if i then
    err['source'] = i.source
    err['line'] = i.currentline
  end  return err
end
"#;

/// eval.c: scriptingInit (the interpreter part)
///
/// Returns a fresh, sandboxed interpreter.
pub fn scripting_init_lua() -> *mut lua_State {
    new_sandboxed_lua(true)
}

/// A fresh interpreter with the redis API and the sandbox, for EVAL (`eval`: with the
/// debugger's stubs) or for the functions engine (function_lua.c: luaEngineInitEngine
/// starts the same way).
pub fn new_sandboxed_lua(eval: bool) -> *mut lua_State {
    unsafe {
        let lua = ffi::luaL_newstate();
        assert!(!lua.is_null(), "cannot create the Lua interpreter");
        lua_register_redis_api(lua, eval);
        if ffi::luaL_loadbuffer(
            lua,
            ERR_HANDLER_DEF.as_ptr() as *const c_char,
            ERR_HANDLER_DEF.len(),
            c"@err_handler_def".as_ptr(),
        ) == 0
        {
            ffi::lua_pcall(lua, 0, 0, 0);
        } else {
            ffi::lua_pop(lua, 1);
        }
        lua_protect_globals(lua);
        lua
    }
}

/// script_lua.c: luaMemory
pub(crate) fn lua_memory(lua: *mut lua_State) -> u64 {
    unsafe { ffi::lua_gc(lua, ffi::LUA_GCCOUNT, 0) as u64 * 1024 }
}

/// script_lua.c: luaCreateArray
unsafe fn lua_create_array(lua: *mut lua_State, elems: &[Bytes]) {
    ffi::lua_createtable(lua, elems.len().min(1 << 20) as c_int, 0);
    for (j, e) in elems.iter().enumerate() {
        push_bytes(lua, e);
        ffi::lua_rawseti(lua, -2, (j + 1) as ffi::lua_Integer);
    }
}

/// luaCreateArray, stored into a real global (KEYS, ARGV).
unsafe fn lua_set_global_array(lua: *mut lua_State, name: &CStr, elems: &[Bytes]) {
    ffi::lua_getfield(lua, ffi::LUA_REGISTRYINDEX, REGISTRY_REAL_GLOBALS.as_ptr());
    ffi::lua_pushstring(lua, name.as_ptr());
    lua_create_array(lua, elems);
    // Raw: the globals are read-only to scripts, not to EVAL itself.
    ffi::lua_rawset(lua, -3);
    ffi::lua_pop(lua, 1);
}

/// Calls between two Lua GC steps (script_lua.c: LUA_GC_CYCLE_PERIOD).
const LUA_GC_CYCLE_PERIOD: c_int = 50;

thread_local! {
    static GC_COUNT: std::cell::Cell<c_int> = const { std::cell::Cell::new(0) };
}

/// script_lua.c: luaCallFunction
///
/// Expects the error handler and the function on top of the stack; pops the function
/// (the caller pops the handler) and replies to the caller with the result or error.
pub(crate) unsafe fn lua_call_function(
    rctx: &mut ScriptRunCtx,
    lua: *mut lua_State,
    keys: &[Bytes],
    args: &[Bytes],
    busy_reply_threshold: i64,
) {
    set_run_ctx(lua, rctx as *mut ScriptRunCtx);
    // Every 100000 instructions the hook checks the clock (and SCRIPT KILL).
    let delhook = busy_reply_threshold > 0;
    if delhook {
        ffi::lua_sethook(lua, Some(lua_mask_count_hook), ffi::LUA_MASKCOUNT, 100_000);
    }
    // EVAL's keys and arguments are globals; a function gets them as its two arguments.
    let err = if rctx.flags & script::SCRIPT_EVAL_MODE != 0 {
        lua_set_global_array(lua, c"KEYS", keys);
        lua_set_global_array(lua, c"ARGV", args);
        ffi::lua_pcall(lua, 0, 1, -2)
    } else {
        lua_create_array(lua, keys);
        lua_create_array(lua, args);
        ffi::lua_pcall(lua, 2, 1, -4)
    };

    // A small GC step now and then, so a full cycle never lands in one command.
    let n = GC_COUNT.with(|g| {
        let n = g.get() + 1;
        g.set(if n == LUA_GC_CYCLE_PERIOD { 0 } else { n });
        n
    });
    if n == LUA_GC_CYCLE_PERIOD {
        ffi::lua_gc(lua, ffi::LUA_GCSTEP, LUA_GC_CYCLE_PERIOD);
    }

    // SAFETY: as in lua_redis_generic_command; the script is over.
    let s = &mut *rctx.s;
    let c = &mut *rctx.original_client;
    if err != 0 {
        if ffi::lua_istable(lua, -1) == 0 {
            let msg = to_bytes(lua, -1)
                .map(|b| String::from_utf8_lossy(&b[..b.len().min(100)]).into_owned())
                .unwrap_or_else(|| "execution failure".into());
            let m = format!("Error running script {}, {}", rctx.funcname, msg);
            crate::resp::add_reply_error(s, c, m.trim_end_matches(['\r', '\n']));
        } else {
            let info = lua_extract_error_information(lua);
            let mut fin = b"-".to_vec();
            fin.extend_from_slice(&info.msg.unwrap_or_default());
            if let (Some(line), Some(source)) = (&info.line, &info.source) {
                fin.extend_from_slice(b" script: ");
                fin.extend_from_slice(rctx.funcname.as_bytes());
                fin.extend_from_slice(b", on ");
                fin.extend_from_slice(source);
                fin.push(b':');
                fin.extend_from_slice(line);
                fin.push(b'.');
            }
            add_reply_error_safe(s, c, &fin, info.ignore_err_stats_update);
        }
        ffi::lua_pop(lua, 1);
    } else {
        let resp = (&*rctx.c).resp;
        lua_reply_to_redis_reply(s, c, resp, lua);
    }
    if delhook {
        ffi::lua_sethook(lua, None, 0, 0);
    }
    set_run_ctx(lua, std::ptr::null_mut());
}

/// script_lua.c: luaMaskCountHook
///
/// Once the script is killed the hook fires on every line, so a script catching the
/// error with pcall cannot go on.
unsafe extern "C-unwind" fn lua_mask_count_hook(lua: *mut lua_State, _ar: *mut ffi::lua_Debug) {
    let rctx = lua_get_from_registry(lua, REGISTRY_RUN_CTX_NAME) as *mut ScriptRunCtx;
    if rctx.is_null() {
        return;
    }
    if script::script_interrupt(rctx) {
        crate::server::server_log_raw(
            crate::server::LL_WARNING,
            "Lua script killed by user with SCRIPT KILL.",
        );
        ffi::lua_sethook(lua, Some(lua_mask_count_hook), ffi::LUA_MASKLINE, 0);
        raise_error_table(lua, c"Script killed by user with SCRIPT KILL...");
    }
}
