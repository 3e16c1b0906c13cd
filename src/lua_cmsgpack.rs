//! Port of deps/lua/src/lua_cmsgpack.c (lua-cmsgpack 0.4.0): the `cmsgpack` library,
//! MessagePack encoding and decoding for scripts.

use crate::script_lua::{
    check_integer, check_lstring, lib_call, opt_integer, push_lstring, LibError,
};
use mlua::ffi::{self, lua_State};
use std::ffi::{c_int, CStr};

/// lua_cmsgpack.c: LUACMSGPACK_MAX_NESTING (deeper tables are encoded as nil, which also
/// stops circular references)
const LUACMSGPACK_MAX_NESTING: c_int = 16;

/// C's (int64_t) conversion of a double on x86-64: NaN and out of range give INT64_MIN.
fn double_to_i64(d: f64) -> i64 {
    crate::script_lua::double_to_long_long(d)
}

/// lua_cmsgpack.c: mp_encode_bytes
fn mp_encode_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        buf.push(0xa0 | len as u8);
    } else if len <= 0xff {
        buf.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        buf.push(0xda);
        buf.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        buf.push(0xdb);
        buf.extend_from_slice(&(len as u32).to_be_bytes());
    }
    buf.extend_from_slice(s);
}

/// lua_cmsgpack.c: mp_encode_double (a float when no precision is lost)
fn mp_encode_double(buf: &mut Vec<u8>, d: f64) {
    let f = d as f32;
    if d == f as f64 {
        buf.push(0xca);
        buf.extend_from_slice(&f.to_be_bytes());
    } else {
        buf.push(0xcb);
        buf.extend_from_slice(&d.to_be_bytes());
    }
}

/// lua_cmsgpack.c: mp_encode_int
fn mp_encode_int(buf: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            buf.push(n as u8);
        } else if n <= 0xff {
            buf.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            buf.push(0xcd);
            buf.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            buf.push(0xce);
            buf.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            buf.push(0xcf);
            buf.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        buf.push(n as i8 as u8);
    } else if n >= -128 {
        buf.extend_from_slice(&[0xd0, n as u8]);
    } else if n >= -32768 {
        buf.push(0xd1);
        buf.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        buf.push(0xd2);
        buf.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        buf.push(0xd3);
        buf.extend_from_slice(&(n as u64).to_be_bytes());
    }
}

/// lua_cmsgpack.c: mp_encode_array
fn mp_encode_array(buf: &mut Vec<u8>, n: u64) {
    if n <= 15 {
        buf.push(0x90 | n as u8);
    } else if n <= 65535 {
        buf.push(0xdc);
        buf.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        buf.push(0xdd);
        buf.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// lua_cmsgpack.c: mp_encode_map
fn mp_encode_map(buf: &mut Vec<u8>, n: u64) {
    if n <= 15 {
        buf.push(0x80 | n as u8);
    } else if n <= 65535 {
        buf.push(0xde);
        buf.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        buf.push(0xdf);
        buf.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// luaL_checkstack without raising.
unsafe fn checkstack(l: *mut lua_State, n: c_int, msg: &str) -> Result<(), LibError> {
    if ffi::lua_checkstack(l, n) == 0 {
        return Err(LibError::Msg(format!("stack overflow ({msg})")));
    }
    Ok(())
}

/// lua_cmsgpack.c: mp_encode_lua_number (integers when the double holds one exactly)
unsafe fn mp_encode_lua_number(l: *mut lua_State, buf: &mut Vec<u8>) {
    let n = ffi::lua_tonumber(l, -1);
    if !n.is_infinite() && double_to_i64(n) as f64 == n {
        mp_encode_int(buf, double_to_i64(n));
    } else {
        mp_encode_double(buf, n);
    }
}

/// lua_cmsgpack.c: mp_encode_lua_table_as_array
unsafe fn mp_encode_lua_table_as_array(
    l: *mut lua_State,
    buf: &mut Vec<u8>,
    level: c_int,
) -> Result<(), LibError> {
    let len = ffi::lua_objlen(l, -1);
    mp_encode_array(buf, len as u64);
    checkstack(l, 1, "in function mp_encode_lua_table_as_array")?;
    for j in 1..=len {
        ffi::lua_pushnumber(l, j as f64);
        ffi::lua_gettable(l, -2);
        mp_encode_lua_type(l, buf, level + 1)?;
    }
    Ok(())
}

/// lua_cmsgpack.c: mp_encode_lua_table_as_map (counts the keys, then encodes them)
unsafe fn mp_encode_lua_table_as_map(
    l: *mut lua_State,
    buf: &mut Vec<u8>,
    level: c_int,
) -> Result<(), LibError> {
    checkstack(l, 3, "in function mp_encode_lua_table_as_map")?;
    let mut len: u64 = 0;
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, -2) != 0 {
        ffi::lua_pop(l, 1);
        len += 1;
    }
    mp_encode_map(buf, len);
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, -2) != 0 {
        ffi::lua_pushvalue(l, -2);
        mp_encode_lua_type(l, buf, level + 1)?;
        mp_encode_lua_type(l, buf, level + 1)?;
    }
    Ok(())
}

/// lua_cmsgpack.c: table_is_an_array (keys 1..n, nothing else)
unsafe fn table_is_an_array(l: *mut lua_State) -> Result<bool, LibError> {
    let stacktop = ffi::lua_gettop(l);
    checkstack(l, 2, "in function table_is_an_array")?;
    let mut count: c_int = 0;
    let mut max: c_int = 0;
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, -2) != 0 {
        ffi::lua_pop(l, 1);
        let n = ffi::lua_tonumber(l, -1);
        let int_equivalent = !n.is_infinite() && {
            let i = if n.is_nan() || !(-2_147_483_649.0..2_147_483_648.0).contains(&n) {
                c_int::MIN
            } else {
                n as c_int
            };
            i as f64 == n
        };
        if ffi::lua_type(l, -1) != ffi::LUA_TNUMBER || n <= 0.0 || !int_equivalent {
            ffi::lua_settop(l, stacktop);
            return Ok(false);
        }
        if n > max as f64 {
            max = n as c_int;
        }
        count += 1;
    }
    ffi::lua_settop(l, stacktop);
    Ok(max == count)
}

/// lua_cmsgpack.c: mp_encode_lua_type (encodes and pops the value on top)
unsafe fn mp_encode_lua_type(
    l: *mut lua_State,
    buf: &mut Vec<u8>,
    level: c_int,
) -> Result<(), LibError> {
    let mut t = ffi::lua_type(l, -1);
    if t == ffi::LUA_TTABLE && level == LUACMSGPACK_MAX_NESTING {
        t = ffi::LUA_TNIL;
    }
    match t {
        ffi::LUA_TSTRING => {
            let mut len = 0usize;
            let p = ffi::lua_tolstring(l, -1, &mut len);
            mp_encode_bytes(buf, std::slice::from_raw_parts(p as *const u8, len));
        }
        ffi::LUA_TBOOLEAN => buf.push(if ffi::lua_toboolean(l, -1) != 0 {
            0xc3
        } else {
            0xc2
        }),
        ffi::LUA_TNUMBER => mp_encode_lua_number(l, buf),
        ffi::LUA_TTABLE => {
            if table_is_an_array(l)? {
                mp_encode_lua_table_as_array(l, buf, level)?;
            } else {
                mp_encode_lua_table_as_map(l, buf, level)?;
            }
        }
        _ => buf.push(0xc0),
    }
    ffi::lua_pop(l, 1);
    Ok(())
}

/// lua_cmsgpack.c: mp_pack (cmsgpack.pack: the arguments' encodings, concatenated)
unsafe fn mp_pack(l: *mut lua_State) -> Result<c_int, LibError> {
    let nargs = ffi::lua_gettop(l);
    if nargs == 0 {
        return Err(LibError::Arg(0, "MessagePack pack needs input.".into()));
    }
    if ffi::lua_checkstack(l, nargs) == 0 {
        return Err(LibError::Arg(
            0,
            "Too many arguments for MessagePack pack.".into(),
        ));
    }
    let mut buf = Vec::new();
    for i in 1..=nargs {
        checkstack(l, 1, "in function mp_check")?;
        ffi::lua_pushvalue(l, i);
        mp_encode_lua_type(l, &mut buf, 0)?;
    }
    push_lstring(l, &buf);
    Ok(1)
}

/// lua_cmsgpack.c: mp_cur (the input still to decode)
struct MpCur<'a> {
    p: &'a [u8],
    err: MpErr,
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum MpErr {
    None,
    /// Not enough data to complete the value.
    Eof,
    /// A first byte no format starts with.
    BadFmt,
}

impl MpCur<'_> {
    /// lua_cmsgpack.c: mp_cur_need
    fn need(&mut self, n: usize) -> bool {
        if self.p.len() < n {
            self.err = MpErr::Eof;
            false
        } else {
            true
        }
    }

    /// lua_cmsgpack.c: mp_cur_consume
    fn consume(&mut self, n: usize) {
        self.p = &self.p[n..];
    }

    fn be(&self, from: usize, n: usize) -> u64 {
        self.p[from..from + n]
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | b as u64)
    }
}

/// A table being filled by the decoder: C recurses for nested arrays and maps, this port
/// keeps them in a list (a hostile input nests thousands deep). The Lua stack is used
/// exactly as the C recursion uses it, so the same input fails at the same point.
enum Pending {
    /// mp_decode_to_lua_array: elements left, next index.
    Array(usize, c_int),
    /// mp_decode_to_lua_hash: pairs left, and whether the pair's key is on the stack.
    Map(usize, bool),
}

/// What the first bytes of a value turned out to be.
enum Head {
    /// A scalar, now on the stack (or nothing, with `c.err` set).
    Done,
    /// An array or map whose table is now on the stack.
    Open(Pending),
}

/// lua_cmsgpack.c: mp_decode_to_lua_type
///
/// Pushes one decoded value, or stops with `c.err` set, leaving what it pushed so far
/// (the caller raises).
unsafe fn mp_decode_to_lua_type(l: *mut lua_State, c: &mut MpCur) -> Result<(), LibError> {
    let mut pending: Vec<Pending> = Vec::new();
    let mut head = decode_head(l, c)?;
    loop {
        if c.err != MpErr::None {
            return Ok(());
        }
        match head {
            Head::Open(p) => pending.push(p),
            Head::Done => {
                // A value is complete: store it in the table it belongs to.
                match pending.last_mut() {
                    None => return Ok(()),
                    Some(Pending::Array(..)) => ffi::lua_settable(l, -3),
                    Some(Pending::Map(_, key_ready)) => {
                        if *key_ready {
                            ffi::lua_settable(l, -3);
                            *key_ready = false;
                        } else {
                            *key_ready = true;
                        }
                    }
                }
            }
        }
        // The next value due, or the end of the innermost table.
        let finished = match pending.last_mut() {
            None => return Ok(()),
            Some(Pending::Array(left, index)) => {
                if *left == 0 {
                    true
                } else {
                    *left -= 1;
                    ffi::lua_pushnumber(l, *index as f64);
                    *index = index.wrapping_add(1);
                    false
                }
            }
            Some(Pending::Map(left, key_ready)) => {
                if !*key_ready {
                    if *left == 0 {
                        true
                    } else {
                        *left -= 1;
                        false
                    }
                } else {
                    false
                }
            }
        };
        if finished {
            pending.pop();
            head = Head::Done;
            continue;
        }
        head = decode_head(l, c)?;
    }
}

/// One value's first bytes: a scalar is pushed whole; an array or map gets its table
/// pushed and is returned to be filled.
unsafe fn decode_head(l: *mut lua_State, c: &mut MpCur) -> Result<Head, LibError> {
    if !c.need(1) {
        return Ok(Head::Done);
    }
    // One more slot per value: results of a top-level unpack stay on the stack.
    checkstack(
        l,
        1,
        "too many return values at once; use unpack_one or unpack_limit instead.",
    )?;
    // 64-bit unsigned values go through lua_Integer, as lua_pushunsigned does on 64 bits.
    let push_unsigned = |v: u64| ffi::lua_pushinteger(l, v as i64 as ffi::lua_Integer);
    let open_array = |len: usize| -> Result<Head, LibError> {
        ffi::lua_newtable(l);
        checkstack(l, 1, "in function mp_decode_to_lua_array")?;
        Ok(Head::Open(Pending::Array(len, 1)))
    };
    let open_map = |len: usize| {
        ffi::lua_newtable(l);
        Head::Open(Pending::Map(len, false))
    };
    match c.p[0] {
        0xcc => {
            if c.need(2) {
                push_unsigned(c.p[1] as u64);
                c.consume(2);
            }
        }
        0xd0 => {
            if c.need(2) {
                ffi::lua_pushinteger(l, c.p[1] as i8 as ffi::lua_Integer);
                c.consume(2);
            }
        }
        0xcd => {
            if c.need(3) {
                push_unsigned(c.be(1, 2));
                c.consume(3);
            }
        }
        0xd1 => {
            if c.need(3) {
                ffi::lua_pushinteger(l, c.be(1, 2) as u16 as i16 as ffi::lua_Integer);
                c.consume(3);
            }
        }
        0xce => {
            if c.need(5) {
                push_unsigned(c.be(1, 4));
                c.consume(5);
            }
        }
        0xd2 => {
            if c.need(5) {
                ffi::lua_pushinteger(l, c.be(1, 4) as u32 as i32 as ffi::lua_Integer);
                c.consume(5);
            }
        }
        0xcf => {
            if c.need(9) {
                push_unsigned(c.be(1, 8));
                c.consume(9);
            }
        }
        0xd3 => {
            if c.need(9) {
                ffi::lua_pushnumber(l, c.be(1, 8) as i64 as f64);
                c.consume(9);
            }
        }
        0xc0 => {
            ffi::lua_pushnil(l);
            c.consume(1);
        }
        0xc3 => {
            ffi::lua_pushboolean(l, 1);
            c.consume(1);
        }
        0xc2 => {
            ffi::lua_pushboolean(l, 0);
            c.consume(1);
        }
        0xca => {
            if c.need(5) {
                let f = f32::from_bits(c.be(1, 4) as u32);
                ffi::lua_pushnumber(l, f as f64);
                c.consume(5);
            }
        }
        0xcb => {
            if c.need(9) {
                ffi::lua_pushnumber(l, f64::from_bits(c.be(1, 8)));
                c.consume(9);
            }
        }
        0xd9 => {
            if c.need(2) {
                let len = c.p[1] as usize;
                if c.need(2 + len) {
                    push_lstring(l, &c.p[2..2 + len]);
                    c.consume(2 + len);
                }
            }
        }
        0xda => {
            if c.need(3) {
                let len = c.be(1, 2) as usize;
                if c.need(3 + len) {
                    push_lstring(l, &c.p[3..3 + len]);
                    c.consume(3 + len);
                }
            }
        }
        0xdb => {
            if c.need(5) {
                let len = c.be(1, 4) as usize;
                c.consume(5);
                if c.need(len) {
                    push_lstring(l, &c.p[..len]);
                    c.consume(len);
                }
            }
        }
        0xdc => {
            if c.need(3) {
                let len = c.be(1, 2) as usize;
                c.consume(3);
                return open_array(len);
            }
        }
        0xdd => {
            if c.need(5) {
                let len = c.be(1, 4) as usize;
                c.consume(5);
                return open_array(len);
            }
        }
        0xde => {
            if c.need(3) {
                let len = c.be(1, 2) as usize;
                c.consume(3);
                return Ok(open_map(len));
            }
        }
        0xdf => {
            if c.need(5) {
                let len = c.be(1, 4) as usize;
                c.consume(5);
                return Ok(open_map(len));
            }
        }
        b => {
            if b & 0x80 == 0 {
                push_unsigned(b as u64);
                c.consume(1);
            } else if b & 0xe0 == 0xe0 {
                ffi::lua_pushinteger(l, b as i8 as ffi::lua_Integer);
                c.consume(1);
            } else if b & 0xe0 == 0xa0 {
                let len = (b & 0x1f) as usize;
                if c.need(1 + len) {
                    push_lstring(l, &c.p[1..1 + len]);
                    c.consume(1 + len);
                }
            } else if b & 0xf0 == 0x90 {
                c.consume(1);
                return open_array((b & 0xf) as usize);
            } else if b & 0xf0 == 0x80 {
                c.consume(1);
                return Ok(open_map((b & 0xf) as usize));
            } else {
                c.err = MpErr::BadFmt;
            }
        }
    }
    Ok(Head::Done)
}

/// lua_cmsgpack.c: mp_unpack_full
///
/// Decodes up to `limit` values from `offset` (both 0: everything, and no offset is
/// returned). Returns the number of results.
unsafe fn mp_unpack_full(l: *mut lua_State, limit: i64, offset: i64) -> Result<c_int, LibError> {
    let s = check_lstring(l, 1)?;
    let len = s.len();
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        // Redis prints the input length where the limit belongs.
        return Err(LibError::Msg(format!(
            "Invalid request to unpack with offset of {} and limit of {}.",
            offset as c_int, len as c_int
        )));
    } else if offset as u64 > len as u64 {
        return Err(LibError::Msg(format!(
            "Start offset {} greater than input length {}.",
            offset as c_int, len as c_int
        )));
    }
    let limit = if decode_all { c_int::MAX as i64 } else { limit };
    let mut c = MpCur {
        p: &s[offset as usize..],
        err: MpErr::None,
    };
    let mut cnt: c_int = 0;
    while !c.p.is_empty() && (cnt as i64) < limit {
        mp_decode_to_lua_type(l, &mut c)?;
        match c.err {
            MpErr::Eof => return Err(LibError::Msg("Missing bytes in input.".into())),
            MpErr::BadFmt => return Err(LibError::Msg("Bad data format in input.".into())),
            MpErr::None => {}
        }
        cnt += 1;
    }
    if !decode_all {
        let new_offset = len - c.p.len();
        checkstack(l, 1, "in function mp_unpack_full")?;
        ffi::lua_pushinteger(
            l,
            if c.p.is_empty() {
                -1
            } else {
                new_offset as ffi::lua_Integer
            },
        );
        // The offset goes first, right after the input argument.
        ffi::lua_insert(l, 2);
        cnt += 1;
    }
    Ok(cnt)
}

/// lua_cmsgpack.c: mp_unpack (cmsgpack.unpack)
unsafe fn mp_unpack(l: *mut lua_State) -> Result<c_int, LibError> {
    mp_unpack_full(l, 0, 0)
}

/// lua_cmsgpack.c: mp_unpack_one (cmsgpack.unpack_one)
unsafe fn mp_unpack_one(l: *mut lua_State) -> Result<c_int, LibError> {
    let offset = opt_integer(l, 2, 0)?;
    ffi::lua_pop(l, ffi::lua_gettop(l) - 1);
    mp_unpack_full(l, 1, offset)
}

/// lua_cmsgpack.c: mp_unpack_limit (cmsgpack.unpack_limit)
unsafe fn mp_unpack_limit(l: *mut lua_State) -> Result<c_int, LibError> {
    let limit = check_integer(l, 2)?;
    let offset = opt_integer(l, 3, 0)?;
    ffi::lua_pop(l, ffi::lua_gettop(l) - 1);
    mp_unpack_full(l, limit, offset)
}

unsafe extern "C-unwind" fn mp_pack_entry(l: *mut lua_State) -> c_int {
    lib_call(l, mp_pack)
}

unsafe extern "C-unwind" fn mp_unpack_entry(l: *mut lua_State) -> c_int {
    lib_call(l, mp_unpack)
}

unsafe extern "C-unwind" fn mp_unpack_one_entry(l: *mut lua_State) -> c_int {
    lib_call(l, mp_unpack_one)
}

unsafe extern "C-unwind" fn mp_unpack_limit_entry(l: *mut lua_State) -> c_int {
    lib_call(l, mp_unpack_limit)
}

/// lua_cmsgpack.c: luaopen_cmsgpack (a global `cmsgpack`, also left on the stack)
pub(crate) unsafe fn luaopen_cmsgpack(l: *mut lua_State) -> c_int {
    let cmds: [(&CStr, ffi::lua_CFunction); 4] = [
        (c"pack", mp_pack_entry),
        (c"unpack", mp_unpack_entry),
        (c"unpack_one", mp_unpack_one_entry),
        (c"unpack_limit", mp_unpack_limit_entry),
    ];
    ffi::lua_newtable(l);
    for (name, f) in cmds {
        ffi::lua_pushcfunction(l, f);
        ffi::lua_setfield(l, -2, name.as_ptr());
    }
    for (field, value) in [
        (c"_NAME", c"cmsgpack"),
        (c"_VERSION", c"lua-cmsgpack 0.4.0"),
        (c"_COPYRIGHT", c"Copyright (C) 2012, Salvatore Sanfilippo"),
        (c"_DESCRIPTION", c"MessagePack C implementation for Lua"),
    ] {
        ffi::lua_pushstring(l, value.as_ptr());
        ffi::lua_setfield(l, -2, field.as_ptr());
    }
    ffi::lua_pushvalue(l, -1);
    ffi::lua_setfield(l, ffi::LUA_GLOBALSINDEX, c"cmsgpack".as_ptr());
    1
}
