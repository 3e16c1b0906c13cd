//! Port of deps/lua/src/lua_cjson.c (Lua CJSON 2.1.0, with fpconv.c and strbuf.c folded
//! in): the `cjson` library, JSON encoding and decoding for scripts.
//!
//! Numbers are printed with C's `%.14g` and parsed with C's `strtod`, through libc, so
//! they come out exactly as Redis's. Errors are found by Rust code that returns them,
//! and raised once that code has returned.

use crate::script_lua::{check_lstring, lib_call, push_lstring, LibError};
use mlua::ffi::{self, lua_State};
use std::ffi::{c_char, c_int, c_void, CStr};

const DEFAULT_SPARSE_CONVERT: c_int = 0;
const DEFAULT_SPARSE_RATIO: c_int = 2;
const DEFAULT_SPARSE_SAFE: c_int = 10;
const DEFAULT_ENCODE_MAX_DEPTH: c_int = 1000;
const DEFAULT_DECODE_MAX_DEPTH: c_int = 1000;
const DEFAULT_ENCODE_INVALID_NUMBERS: c_int = 0;
const DEFAULT_DECODE_INVALID_NUMBERS: c_int = 1;
const DEFAULT_ENCODE_KEEP_BUFFER: c_int = 1;
const DEFAULT_ENCODE_NUMBER_PRECISION: c_int = 14;

/// lua_cjson.c: json_config_t (the settings; each module table has its own, as the
/// upvalue of its functions). The reusable encode buffer is not kept: it only saves
/// allocations, the output is the same.
#[repr(C)]
#[derive(Clone, Copy)]
struct JsonConfig {
    encode_sparse_convert: c_int,
    encode_sparse_ratio: c_int,
    encode_sparse_safe: c_int,
    encode_max_depth: c_int,
    encode_invalid_numbers: c_int,
    encode_number_precision: c_int,
    encode_keep_buffer: c_int,
    decode_invalid_numbers: c_int,
    decode_max_depth: c_int,
}

/// lua_cjson.c: json_token_type_t, with json_token_type_name as its names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    String,
    Number,
    Boolean,
    Null,
    Colon,
    Comma,
    End,
    Whitespace,
    Error,
    Unknown,
}

impl Tok {
    fn name(self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::String => "T_STRING",
            Tok::Number => "T_NUMBER",
            Tok::Boolean => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Whitespace => "T_WHITESPACE",
            Tok::Error => "T_ERROR",
            Tok::Unknown => "T_UNKNOWN",
        }
    }
}

/// lua_cjson.c: json_create_config (the ch2token table it builds)
fn ch2token(ch: u8) -> Tok {
    match ch {
        b'{' => Tok::ObjBegin,
        b'}' => Tok::ObjEnd,
        b'[' => Tok::ArrBegin,
        b']' => Tok::ArrEnd,
        b',' => Tok::Comma,
        b':' => Tok::Colon,
        0 => Tok::End,
        b' ' | b'\t' | b'\n' | b'\r' => Tok::Whitespace,
        b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'"' | b'+' | b'-' | b'0'..=b'9' => Tok::Unknown,
        _ => Tok::Error,
    }
}

/// lua_cjson.c: json_create_config (the escape2char table it builds)
fn escape2char(ch: u8) -> u8 {
    match ch {
        b'"' => b'"',
        b'\\' => b'\\',
        b'/' => b'/',
        b'b' => 8,
        b't' => b'\t',
        b'n' => b'\n',
        b'f' => 12,
        b'r' => b'\r',
        b'u' => b'u',
        _ => 0,
    }
}

/// lua_cjson.c: char2escape (the other control characters and DEL become
/// `\u00XX` escapes)
fn char2escape(ch: u8) -> Option<&'static [u8]> {
    match ch {
        8 => Some(b"\\b"),
        b'\t' => Some(b"\\t"),
        b'\n' => Some(b"\\n"),
        12 => Some(b"\\f"),
        b'\r' => Some(b"\\r"),
        b'"' => Some(b"\\\""),
        b'/' => Some(b"\\/"),
        b'\\' => Some(b"\\\\"),
        _ => None,
    }
}

/// lua_cjson.c: json_fetch_config
unsafe fn json_fetch_config<'a>(l: *mut lua_State) -> &'a mut JsonConfig {
    let cfg = ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)) as *mut JsonConfig;
    assert!(!cfg.is_null(), "BUG: Unable to fetch CJSON configuration");
    &mut *cfg
}

/// C's (int) conversion of a double on x86-64: out of range gives INT_MIN.
fn double_to_int(d: f64) -> c_int {
    if d.is_nan() || d >= 2_147_483_648.0 || d <= -2_147_483_649.0 {
        c_int::MIN
    } else {
        d as c_int
    }
}

// ---------------------------------------------------------------------------------------
// Configuration functions. They raise through luaL_* directly: they own nothing.
// ---------------------------------------------------------------------------------------

/// lua_cjson.c: json_arg_init
unsafe fn json_arg_init<'a>(l: *mut lua_State, args: c_int) -> &'a mut JsonConfig {
    if ffi::lua_gettop(l) > args {
        ffi::luaL_argerror(l, args + 1, c"found too many arguments".as_ptr());
    }
    while ffi::lua_gettop(l) < args {
        ffi::lua_pushnil(l);
    }
    json_fetch_config(l)
}

/// lua_cjson.c: json_integer_option
unsafe fn json_integer_option(
    l: *mut lua_State,
    optindex: c_int,
    setting: *mut c_int,
    min: c_int,
    max: c_int,
) -> c_int {
    if ffi::lua_isnil(l, optindex) == 0 {
        // An int, as C truncates the lua_Integer.
        let value = ffi::luaL_checkinteger(l, optindex) as c_int;
        if !(min <= value && value <= max) {
            let msg = format!("expected integer between {min} and {max}\0");
            ffi::lua_pushstring(l, msg.as_ptr() as *const c_char);
            drop(msg);
            ffi::luaL_argerror(l, 1, ffi::lua_tolstring(l, -1, std::ptr::null_mut()));
        }
        *setting = value;
    }
    ffi::lua_pushinteger(l, *setting as ffi::lua_Integer);
    1
}

/// lua_cjson.c: json_enum_option (options None: the booleans "off"/"on")
unsafe fn json_enum_option(
    l: *mut lua_State,
    optindex: c_int,
    setting: *mut c_int,
    options: Option<&[&CStr]>,
    bool_true: c_int,
) -> c_int {
    let (options, bool_true): (&[&CStr], c_int) = match options {
        None => (&[c"off", c"on"], 1),
        Some(o) => (o, bool_true),
    };
    if ffi::lua_isnil(l, optindex) == 0 {
        if bool_true != 0 && ffi::lua_isboolean(l, optindex) != 0 {
            *setting = ffi::lua_toboolean(l, optindex) * bool_true;
        } else {
            let mut ptrs: [*const c_char; 4] = [std::ptr::null(); 4];
            for (i, o) in options.iter().enumerate() {
                ptrs[i] = o.as_ptr();
            }
            *setting = ffi::luaL_checkoption(l, optindex, std::ptr::null(), ptrs.as_ptr());
        }
    }
    if bool_true != 0 && (*setting == 0 || *setting == bool_true) {
        ffi::lua_pushboolean(l, *setting);
    } else {
        ffi::lua_pushstring(l, options[*setting as usize].as_ptr());
    }
    1
}

/// lua_cjson.c: json_cfg_encode_sparse_array (cjson.encode_sparse_array)
unsafe extern "C-unwind" fn json_cfg_encode_sparse_array(l: *mut lua_State) -> c_int {
    let cfg = json_arg_init(l, 3);
    json_enum_option(l, 1, &mut cfg.encode_sparse_convert, None, 1);
    json_integer_option(l, 2, &mut cfg.encode_sparse_ratio, 0, c_int::MAX);
    json_integer_option(l, 3, &mut cfg.encode_sparse_safe, 0, c_int::MAX);
    3
}

/// lua_cjson.c: json_cfg_encode_max_depth (cjson.encode_max_depth)
unsafe extern "C-unwind" fn json_cfg_encode_max_depth(l: *mut lua_State) -> c_int {
    let cfg = json_arg_init(l, 1);
    json_integer_option(l, 1, &mut cfg.encode_max_depth, 1, c_int::MAX)
}

/// lua_cjson.c: json_cfg_decode_max_depth (cjson.decode_max_depth)
unsafe extern "C-unwind" fn json_cfg_decode_max_depth(l: *mut lua_State) -> c_int {
    let cfg = json_arg_init(l, 1);
    json_integer_option(l, 1, &mut cfg.decode_max_depth, 1, c_int::MAX)
}

/// lua_cjson.c: json_cfg_encode_number_precision (cjson.encode_number_precision)
unsafe extern "C-unwind" fn json_cfg_encode_number_precision(l: *mut lua_State) -> c_int {
    let cfg = json_arg_init(l, 1);
    json_integer_option(l, 1, &mut cfg.encode_number_precision, 1, 14)
}

/// lua_cjson.c: json_cfg_encode_keep_buffer (cjson.encode_keep_buffer)
unsafe extern "C-unwind" fn json_cfg_encode_keep_buffer(l: *mut lua_State) -> c_int {
    let cfg = json_arg_init(l, 1);
    json_enum_option(l, 1, &mut cfg.encode_keep_buffer, None, 1)
}

/// lua_cjson.c: json_cfg_encode_invalid_numbers (cjson.encode_invalid_numbers)
unsafe extern "C-unwind" fn json_cfg_encode_invalid_numbers(l: *mut lua_State) -> c_int {
    let cfg = json_arg_init(l, 1);
    json_enum_option(
        l,
        1,
        &mut cfg.encode_invalid_numbers,
        Some(&[c"off", c"on", c"null"]),
        1,
    )
}

/// lua_cjson.c: json_cfg_decode_invalid_numbers (cjson.decode_invalid_numbers)
unsafe extern "C-unwind" fn json_cfg_decode_invalid_numbers(l: *mut lua_State) -> c_int {
    let cfg = json_arg_init(l, 1);
    json_enum_option(l, 1, &mut cfg.decode_invalid_numbers, None, 1)
}

// ---------------------------------------------------------------------------------------
// Encoding.
// ---------------------------------------------------------------------------------------

/// lua_cjson.c: json_encode_exception
unsafe fn json_encode_exception(l: *mut lua_State, lindex: c_int, reason: &str) -> LibError {
    let tname = CStr::from_ptr(ffi::lua_typename(l, ffi::lua_type(l, lindex)));
    LibError::Msg(format!(
        "Cannot serialise {}: {reason}",
        tname.to_string_lossy()
    ))
}

/// lua_cjson.c: json_append_string
unsafe fn json_append_string(l: *mut lua_State, json: &mut Vec<u8>, lindex: c_int) {
    let mut len = 0usize;
    let p = ffi::lua_tolstring(l, lindex, &mut len);
    let s = std::slice::from_raw_parts(p as *const u8, len);
    json.reserve(len + 2);
    json.push(b'"');
    for &ch in s {
        match char2escape(ch) {
            Some(e) => json.extend_from_slice(e),
            None if ch < 0x20 || ch == 0x7f => {
                json.extend_from_slice(format!("\\u{:04x}", ch).as_bytes());
            }
            None => json.push(ch),
        }
    }
    json.push(b'"');
}

/// lua_cjson.c: lua_array_length (of the table on top; -1 when it is not an array)
unsafe fn lua_array_length(l: *mut lua_State, cfg: &JsonConfig) -> Result<c_int, LibError> {
    let mut max: c_int = 0;
    let mut items: c_int = 0;
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, -2) != 0 {
        if ffi::lua_type(l, -2) == ffi::LUA_TNUMBER {
            let k = ffi::lua_tonumber(l, -2);
            if k != 0.0 && k.floor() == k && k >= 1.0 {
                if k > max as f64 {
                    max = double_to_int(k);
                }
                items += 1;
                ffi::lua_pop(l, 1);
                continue;
            }
        }
        ffi::lua_pop(l, 2);
        return Ok(-1);
    }
    if cfg.encode_sparse_ratio > 0
        && max > items.wrapping_mul(cfg.encode_sparse_ratio)
        && max > cfg.encode_sparse_safe
    {
        if cfg.encode_sparse_convert == 0 {
            return Err(json_encode_exception(l, -1, "excessively sparse array"));
        }
        return Ok(-1);
    }
    Ok(max)
}

/// lua_cjson.c: json_check_encode_depth
unsafe fn json_check_encode_depth(
    l: *mut lua_State,
    cfg: &JsonConfig,
    current_depth: c_int,
) -> Result<(), LibError> {
    if current_depth <= cfg.encode_max_depth && ffi::lua_checkstack(l, 3) != 0 {
        return Ok(());
    }
    Err(LibError::Msg(format!(
        "Cannot serialise, excessive nesting ({current_depth})"
    )))
}

/// fpconv.c: fpconv_g_fmt (C's `%.<precision>g`)
fn fpconv_g_fmt(num: f64, precision: c_int) -> Vec<u8> {
    let fmt = format!("%.{precision}g\0");
    let mut buf = [0u8; 32];
    // SAFETY: the buffer's size is passed; the format takes exactly one double.
    let n = unsafe {
        libc::snprintf(
            buf.as_mut_ptr() as *mut c_char,
            buf.len(),
            fmt.as_ptr() as *const c_char,
            num,
        )
    };
    buf[..(n.max(0) as usize).min(buf.len() - 1)].to_vec()
}

/// lua_cjson.c: json_append_number
unsafe fn json_append_number(
    l: *mut lua_State,
    cfg: &JsonConfig,
    json: &mut Vec<u8>,
    lindex: c_int,
) -> Result<(), LibError> {
    let num = ffi::lua_tonumber(l, lindex);
    if cfg.encode_invalid_numbers == 0 {
        if num.is_infinite() || num.is_nan() {
            return Err(json_encode_exception(l, lindex, "must not be NaN or Inf"));
        }
    } else if cfg.encode_invalid_numbers == 1 {
        if num.is_nan() {
            json.extend_from_slice(b"nan");
            return Ok(());
        }
    } else if num.is_infinite() || num.is_nan() {
        json.extend_from_slice(b"null");
        return Ok(());
    }
    json.extend_from_slice(&fpconv_g_fmt(num, cfg.encode_number_precision));
    Ok(())
}

/// A table being encoded: C recurses (json_append_array / json_append_object), this port
/// keeps the open tables in a list, using the Lua stack exactly as the recursion does, so
/// the nesting limits fall where they fall in Redis.
enum Open {
    /// An array: the next index, the length, the table's depth.
    Array(c_int, c_int, c_int),
    /// An object being walked with lua_next: whether a member was written, the depth.
    Object(bool, c_int),
}

/// lua_cjson.c: json_append_data (the value on top of the stack)
unsafe fn json_append_data(
    l: *mut lua_State,
    cfg: &JsonConfig,
    current_depth: c_int,
    json: &mut Vec<u8>,
) -> Result<(), LibError> {
    let mut open: Vec<Open> = Vec::new();
    if let Some(o) = json_append_one(l, cfg, current_depth, json)? {
        open.push(o);
    }
    while let Some(top) = open.last_mut() {
        let depth = match top {
            Open::Array(next, len, depth) => {
                if *next > *len {
                    json.push(b']');
                    open.pop();
                    finish_table(l, &open);
                    continue;
                }
                if *next > 1 {
                    json.push(b',');
                }
                ffi::lua_rawgeti(l, -1, *next as ffi::lua_Integer);
                *next += 1;
                *depth
            }
            Open::Object(comma, depth) => {
                if ffi::lua_next(l, -2) == 0 {
                    json.push(b'}');
                    open.pop();
                    finish_table(l, &open);
                    continue;
                }
                if *comma {
                    json.push(b',');
                } else {
                    *comma = true;
                }
                match ffi::lua_type(l, -2) {
                    ffi::LUA_TNUMBER => {
                        json.push(b'"');
                        json_append_number(l, cfg, json, -2)?;
                        json.extend_from_slice(b"\":");
                    }
                    ffi::LUA_TSTRING => {
                        json_append_string(l, json, -2);
                        json.push(b':');
                    }
                    _ => {
                        return Err(json_encode_exception(
                            l,
                            -2,
                            "table key must be a number or string",
                        ))
                    }
                }
                *depth
            }
        };
        match json_append_one(l, cfg, depth, json)? {
            Some(o) => open.push(o),
            None => ffi::lua_pop(l, 1),
        }
    }
    Ok(())
}

/// After a table's closing bracket: a nested table is popped by its parent's loop (the
/// top-level value belongs to the caller).
unsafe fn finish_table(l: *mut lua_State, open: &[Open]) {
    if !open.is_empty() {
        ffi::lua_pop(l, 1);
    }
}

/// One value of json_append_data: a scalar is written whole; a table is checked, its
/// opening bracket written, and returned to be walked.
unsafe fn json_append_one(
    l: *mut lua_State,
    cfg: &JsonConfig,
    mut current_depth: c_int,
    json: &mut Vec<u8>,
) -> Result<Option<Open>, LibError> {
    match ffi::lua_type(l, -1) {
        ffi::LUA_TSTRING => json_append_string(l, json, -1),
        ffi::LUA_TNUMBER => json_append_number(l, cfg, json, -1)?,
        ffi::LUA_TBOOLEAN => {
            if ffi::lua_toboolean(l, -1) != 0 {
                json.extend_from_slice(b"true");
            } else {
                json.extend_from_slice(b"false");
            }
        }
        ffi::LUA_TTABLE => {
            current_depth += 1;
            json_check_encode_depth(l, cfg, current_depth)?;
            let len = lua_array_length(l, cfg)?;
            if len > 0 {
                json.push(b'[');
                return Ok(Some(Open::Array(1, len, current_depth)));
            }
            json.push(b'{');
            ffi::lua_pushnil(l);
            return Ok(Some(Open::Object(false, current_depth)));
        }
        ffi::LUA_TNIL => json.extend_from_slice(b"null"),
        ffi::LUA_TLIGHTUSERDATA if ffi::lua_touserdata(l, -1).is_null() => {
            json.extend_from_slice(b"null")
        }
        _ => return Err(json_encode_exception(l, -1, "type not supported")),
    }
    Ok(None)
}

/// lua_cjson.c: json_encode (cjson.encode)
unsafe fn json_encode(l: *mut lua_State) -> Result<c_int, LibError> {
    let cfg = *json_fetch_config(l);
    if ffi::lua_gettop(l) != 1 {
        return Err(LibError::Arg(1, "expected 1 argument".into()));
    }
    let mut json = Vec::new();
    json_append_data(l, &cfg, 0, &mut json)?;
    push_lstring(l, &json);
    Ok(1)
}

// ---------------------------------------------------------------------------------------
// Decoding.
// ---------------------------------------------------------------------------------------

/// lua_cjson.c: json_token_t
struct Token {
    kind: Tok,
    index: usize,
    /// T_ERROR: what went wrong.
    err: &'static str,
    number: f64,
    boolean: bool,
}

/// lua_cjson.c: json_parse_t. `data` ends with the NUL Lua keeps after every string,
/// which the parser reads as the end, as the C one does.
struct JsonParse<'a> {
    data: &'a [u8],
    ptr: usize,
    tmp: Vec<u8>,
    cfg: JsonConfig,
    current_depth: c_int,
}

impl JsonParse<'_> {
    #[inline]
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }
}

fn hexdigit2int(hex: u8) -> i32 {
    match hex {
        b'0'..=b'9' => (hex - b'0') as i32,
        _ => {
            let h = hex | 0x20;
            if (b'a'..=b'f').contains(&h) {
                10 + (h - b'a') as i32
            } else {
                -1
            }
        }
    }
}

/// lua_cjson.c: decode_hex4
fn decode_hex4(json: &JsonParse, at: usize) -> i32 {
    let mut v = 0;
    for i in 0..4 {
        let d = hexdigit2int(json.at(at + i));
        if d < 0 {
            return -1;
        }
        v = (v << 4) + d;
    }
    v
}

/// lua_cjson.c: codepoint_to_utf8
fn codepoint_to_utf8(utf8: &mut [u8; 4], codepoint: i32) -> usize {
    let cp = codepoint as u32;
    if cp <= 0x7F {
        utf8[0] = cp as u8;
        1
    } else if cp <= 0x7FF {
        utf8[0] = ((cp >> 6) | 0xC0) as u8;
        utf8[1] = ((cp & 0x3F) | 0x80) as u8;
        2
    } else if cp <= 0xFFFF {
        utf8[0] = ((cp >> 12) | 0xE0) as u8;
        utf8[1] = (((cp >> 6) & 0x3F) | 0x80) as u8;
        utf8[2] = ((cp & 0x3F) | 0x80) as u8;
        3
    } else if cp <= 0x1FFFFF {
        utf8[0] = ((cp >> 18) | 0xF0) as u8;
        utf8[1] = (((cp >> 12) & 0x3F) | 0x80) as u8;
        utf8[2] = (((cp >> 6) & 0x3F) | 0x80) as u8;
        utf8[3] = ((cp & 0x3F) | 0x80) as u8;
        4
    } else {
        0
    }
}

/// lua_cjson.c: json_append_unicode_escape
fn json_append_unicode_escape(json: &mut JsonParse) -> bool {
    let mut escape_len = 6;
    let mut codepoint = decode_hex4(json, json.ptr + 2);
    if codepoint < 0 {
        return false;
    }
    if codepoint & 0xF800 == 0xD800 {
        if codepoint & 0x400 != 0 {
            return false;
        }
        if json.at(json.ptr + escape_len) != b'\\' || json.at(json.ptr + escape_len + 1) != b'u' {
            return false;
        }
        let mut surrogate_low = decode_hex4(json, json.ptr + 2 + escape_len);
        if surrogate_low < 0 || surrogate_low & 0xFC00 != 0xDC00 {
            return false;
        }
        codepoint = (codepoint & 0x3FF) << 10;
        surrogate_low &= 0x3FF;
        codepoint = (codepoint | surrogate_low) + 0x10000;
        escape_len = 12;
    }
    let mut utf8 = [0u8; 4];
    let len = codepoint_to_utf8(&mut utf8, codepoint);
    if len == 0 {
        return false;
    }
    json.tmp.extend_from_slice(&utf8[..len]);
    json.ptr += escape_len;
    true
}

/// lua_cjson.c: json_set_token_error
fn json_set_token_error(token: &mut Token, json: &JsonParse, errtype: &'static str) {
    token.kind = Tok::Error;
    token.index = json.ptr;
    token.err = errtype;
}

/// lua_cjson.c: json_next_string_token
fn json_next_string_token(json: &mut JsonParse, token: &mut Token) {
    json.ptr += 1;
    json.tmp.clear();
    loop {
        let mut ch = json.at(json.ptr);
        if ch == b'"' {
            break;
        }
        if ch == 0 {
            json_set_token_error(token, json, "unexpected end of string");
            return;
        }
        if ch == b'\\' {
            ch = escape2char(json.at(json.ptr + 1));
            if ch == b'u' {
                if json_append_unicode_escape(json) {
                    continue;
                }
                json_set_token_error(token, json, "invalid unicode escape code");
                return;
            }
            if ch == 0 {
                json_set_token_error(token, json, "invalid escape code");
                return;
            }
            json.ptr += 1;
        }
        json.tmp.push(ch);
        json.ptr += 1;
    }
    json.ptr += 1;
    token.kind = Tok::String;
}

/// lua_cjson.c: json_is_invalid_number
fn json_is_invalid_number(json: &JsonParse) -> bool {
    let mut p = json.ptr;
    if json.at(p) == b'+' {
        return true;
    }
    if json.at(p) == b'-' {
        p += 1;
    }
    if json.at(p) == b'0' {
        let ch2 = json.at(p + 1);
        return (ch2 | 0x20) == b'x' || ch2.is_ascii_digit();
    } else if json.at(p) <= b'9' {
        return false;
    }
    let three: Vec<u8> = (0..3)
        .map(|i| json.at(p + i).to_ascii_lowercase())
        .collect();
    three == b"inf" || three == b"nan"
}

/// lua_cjson.c: json_next_number_token (C's strtod does the parsing)
fn json_next_number_token(json: &mut JsonParse, token: &mut Token) {
    token.kind = Tok::Number;
    // SAFETY: `data` is a Lua string, NUL-terminated just past its end.
    let start = unsafe { json.data.as_ptr().add(json.ptr) } as *const c_char;
    let mut end: *mut c_char = std::ptr::null_mut();
    token.number = unsafe { libc::strtod(start, &mut end) };
    let consumed = end as usize - start as usize;
    if consumed == 0 {
        json_set_token_error(token, json, "invalid number");
    } else {
        json.ptr += consumed;
    }
}

/// lua_cjson.c: json_next_token
fn json_next_token(json: &mut JsonParse, token: &mut Token) {
    let mut ch;
    loop {
        ch = json.at(json.ptr);
        token.kind = ch2token(ch);
        if token.kind != Tok::Whitespace {
            break;
        }
        json.ptr += 1;
    }
    token.index = json.ptr;
    if token.kind == Tok::Error {
        json_set_token_error(token, json, "invalid token");
        return;
    }
    if token.kind == Tok::End {
        return;
    }
    if token.kind != Tok::Unknown {
        json.ptr += 1;
        return;
    }
    let data = json.data;
    let rest = &data[json.ptr.min(data.len())..];
    if ch == b'"' {
        json_next_string_token(json, token);
    } else if ch == b'-' || ch.is_ascii_digit() {
        if json.cfg.decode_invalid_numbers == 0 && json_is_invalid_number(json) {
            json_set_token_error(token, json, "invalid number");
            return;
        }
        json_next_number_token(json, token);
    } else if rest.starts_with(b"true") {
        token.kind = Tok::Boolean;
        token.boolean = true;
        json.ptr += 4;
    } else if rest.starts_with(b"false") {
        token.kind = Tok::Boolean;
        token.boolean = false;
        json.ptr += 5;
    } else if rest.starts_with(b"null") {
        token.kind = Tok::Null;
        json.ptr += 4;
    } else if json.cfg.decode_invalid_numbers != 0 && json_is_invalid_number(json) {
        json_next_number_token(json, token);
    } else {
        json_set_token_error(token, json, "invalid token");
    }
}

/// lua_cjson.c: json_throw_parse_error (returned instead of thrown)
fn json_parse_error(exp: &str, token: &Token) -> LibError {
    let found = if token.kind == Tok::Error {
        token.err
    } else {
        token.kind.name()
    };
    LibError::Msg(format!(
        "Expected {exp} but found {found} at character {}",
        token.index + 1
    ))
}

/// lua_cjson.c: json_decode_descend
unsafe fn json_decode_descend(
    l: *mut lua_State,
    json: &mut JsonParse,
    slots: c_int,
) -> Result<(), LibError> {
    json.current_depth += 1;
    if json.current_depth <= json.cfg.decode_max_depth && ffi::lua_checkstack(l, slots) != 0 {
        return Ok(());
    }
    Err(LibError::Msg(format!(
        "Found too many nested data structures ({}) at character {}",
        json.current_depth, json.ptr
    )))
}

fn new_token() -> Token {
    Token {
        kind: Tok::End,
        index: 0,
        err: "",
        number: 0.0,
        boolean: false,
    }
}

/// lua_cjson.c: json_parse_object_context
unsafe fn json_parse_object_context(
    l: *mut lua_State,
    json: &mut JsonParse,
) -> Result<(), LibError> {
    json_decode_descend(l, json, 3)?;
    ffi::lua_newtable(l);
    let mut token = new_token();
    json_next_token(json, &mut token);
    if token.kind == Tok::ObjEnd {
        json.current_depth -= 1;
        return Ok(());
    }
    loop {
        if token.kind != Tok::String {
            return Err(json_parse_error("object key string", &token));
        }
        push_lstring(l, &json.tmp);
        json_next_token(json, &mut token);
        if token.kind != Tok::Colon {
            return Err(json_parse_error("colon", &token));
        }
        json_next_token(json, &mut token);
        json_process_value(l, json, &mut token)?;
        ffi::lua_rawset(l, -3);
        json_next_token(json, &mut token);
        if token.kind == Tok::ObjEnd {
            json.current_depth -= 1;
            return Ok(());
        }
        if token.kind != Tok::Comma {
            return Err(json_parse_error("comma or object end", &token));
        }
        json_next_token(json, &mut token);
    }
}

/// lua_cjson.c: json_parse_array_context
unsafe fn json_parse_array_context(
    l: *mut lua_State,
    json: &mut JsonParse,
) -> Result<(), LibError> {
    json_decode_descend(l, json, 2)?;
    ffi::lua_newtable(l);
    let mut token = new_token();
    json_next_token(json, &mut token);
    if token.kind == Tok::ArrEnd {
        json.current_depth -= 1;
        return Ok(());
    }
    let mut i: c_int = 1;
    loop {
        json_process_value(l, json, &mut token)?;
        ffi::lua_rawseti(l, -2, i as ffi::lua_Integer);
        json_next_token(json, &mut token);
        if token.kind == Tok::ArrEnd {
            json.current_depth -= 1;
            return Ok(());
        }
        if token.kind != Tok::Comma {
            return Err(json_parse_error("comma or array end", &token));
        }
        json_next_token(json, &mut token);
        i = i.wrapping_add(1);
    }
}

/// lua_cjson.c: json_process_value
unsafe fn json_process_value(
    l: *mut lua_State,
    json: &mut JsonParse,
    token: &mut Token,
) -> Result<(), LibError> {
    match token.kind {
        Tok::String => push_lstring(l, &json.tmp),
        Tok::Number => ffi::lua_pushnumber(l, token.number),
        Tok::Boolean => ffi::lua_pushboolean(l, token.boolean as c_int),
        Tok::ObjBegin => json_parse_object_context(l, json)?,
        Tok::ArrBegin => json_parse_array_context(l, json)?,
        // nil would delete a table entry: null is a NULL light userdata (cjson.null).
        Tok::Null => ffi::lua_pushlightuserdata(l, std::ptr::null_mut::<c_void>()),
        _ => return Err(json_parse_error("value", token)),
    }
    Ok(())
}

/// lua_cjson.c: json_decode (cjson.decode)
unsafe fn json_decode(l: *mut lua_State) -> Result<c_int, LibError> {
    if ffi::lua_gettop(l) != 1 {
        return Err(LibError::Arg(1, "expected 1 argument".into()));
    }
    let cfg = *json_fetch_config(l);
    let data = check_lstring(l, 1)?;
    // Only the first characters can tell UTF-16/32 apart; JSON text starts with ASCII.
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        return Err(LibError::Msg(
            "JSON parser does not support UTF-16 or UTF-32".into(),
        ));
    }
    let mut json = JsonParse {
        data,
        ptr: 0,
        tmp: Vec::with_capacity(data.len()),
        cfg,
        current_depth: 0,
    };
    let mut token = new_token();
    json_next_token(&mut json, &mut token);
    json_process_value(l, &mut json, &mut token)?;
    json_next_token(&mut json, &mut token);
    if token.kind != Tok::End {
        return Err(json_parse_error("the end", &token));
    }
    Ok(1)
}

unsafe extern "C-unwind" fn json_encode_entry(l: *mut lua_State) -> c_int {
    lib_call(l, json_encode)
}

unsafe extern "C-unwind" fn json_decode_entry(l: *mut lua_State) -> c_int {
    lib_call(l, json_decode)
}

/// lua_cjson.c: json_create_config (a userdata left on the stack)
unsafe fn json_create_config(l: *mut lua_State) {
    let cfg = ffi::lua_newuserdata(l, std::mem::size_of::<JsonConfig>()) as *mut JsonConfig;
    cfg.write(JsonConfig {
        encode_sparse_convert: DEFAULT_SPARSE_CONVERT,
        encode_sparse_ratio: DEFAULT_SPARSE_RATIO,
        encode_sparse_safe: DEFAULT_SPARSE_SAFE,
        encode_max_depth: DEFAULT_ENCODE_MAX_DEPTH,
        encode_invalid_numbers: DEFAULT_ENCODE_INVALID_NUMBERS,
        encode_number_precision: DEFAULT_ENCODE_NUMBER_PRECISION,
        encode_keep_buffer: DEFAULT_ENCODE_KEEP_BUFFER,
        decode_invalid_numbers: DEFAULT_DECODE_INVALID_NUMBERS,
        decode_max_depth: DEFAULT_DECODE_MAX_DEPTH,
    });
}

/// lua_cjson.c: lua_cjson_new (cjson.new: a module table with its own settings)
unsafe extern "C-unwind" fn lua_cjson_new(l: *mut lua_State) -> c_int {
    let reg: [(&CStr, ffi::lua_CFunction); 10] = [
        (c"encode", json_encode_entry),
        (c"decode", json_decode_entry),
        (c"encode_sparse_array", json_cfg_encode_sparse_array),
        (c"encode_max_depth", json_cfg_encode_max_depth),
        (c"decode_max_depth", json_cfg_decode_max_depth),
        (c"encode_number_precision", json_cfg_encode_number_precision),
        (c"encode_keep_buffer", json_cfg_encode_keep_buffer),
        (c"encode_invalid_numbers", json_cfg_encode_invalid_numbers),
        (c"decode_invalid_numbers", json_cfg_decode_invalid_numbers),
        (c"new", lua_cjson_new),
    ];
    ffi::lua_newtable(l);
    json_create_config(l);
    // luaL_setfuncs: every function closes over the config.
    for (name, f) in reg {
        ffi::lua_pushvalue(l, -1);
        ffi::lua_pushcclosure(l, f, 1);
        ffi::lua_setfield(l, -3, name.as_ptr());
    }
    ffi::lua_pop(l, 1);
    ffi::lua_pushlightuserdata(l, std::ptr::null_mut::<c_void>());
    ffi::lua_setfield(l, -2, c"null".as_ptr());
    ffi::lua_pushstring(l, c"cjson".as_ptr());
    ffi::lua_setfield(l, -2, c"_NAME".as_ptr());
    ffi::lua_pushstring(l, c"2.1.0".as_ptr());
    ffi::lua_setfield(l, -2, c"_VERSION".as_ptr());
    1
}

/// lua_cjson.c: luaopen_cjson (Redis builds it with ENABLE_CJSON_GLOBAL: a global
/// `cjson`, also left on the stack)
pub(crate) unsafe fn luaopen_cjson(l: *mut lua_State) -> c_int {
    lua_cjson_new(l);
    ffi::lua_pushvalue(l, -1);
    ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"cjson".as_ptr());
    1
}
