//! Port of deps/lua/src/lua_bit.c (Lua BitOp 1.0.2): 32-bit bitwise operations on Lua
//! numbers, the `bit` library Redis gives scripts.

use crate::script_lua::{lib_function, push_lstring, register_lib, LibError};
use mlua::ffi::{self, lua_State};
use std::ffi::c_int;

/// lua_bit.c: barg
///
/// The argument as 32 bits: adding 2^52 + 2^51 puts the integer part of any number in
/// range into the low 32 bits of the double's representation (Lua 5.1 never raises for a
/// non-number here unless it is not convertible at all).
unsafe fn barg(lua: *mut lua_State, idx: c_int) -> Result<u32, LibError> {
    let n = ffi::lua_tonumber(lua, idx) + 6_755_399_441_055_744.0;
    let b = n.to_bits() as u32;
    if b == 0 && ffi::lua_isnumber(lua, idx) == 0 {
        return Err(LibError::Type(idx, c"number"));
    }
    Ok(b)
}

/// lua_bit.c: BRET (results are signed 32-bit numbers)
unsafe fn bret(lua: *mut lua_State, b: u32) -> Result<c_int, LibError> {
    ffi::lua_pushnumber(lua, b as i32 as f64);
    Ok(1)
}

unsafe fn tobit(lua: *mut lua_State) -> Result<c_int, LibError> {
    bret(lua, barg(lua, 1)?)
}

unsafe fn bnot(lua: *mut lua_State) -> Result<c_int, LibError> {
    bret(lua, !barg(lua, 1)?)
}

/// lua_bit.c: BIT_OP (folds the arguments from the last to the second into the first)
unsafe fn fold(lua: *mut lua_State, op: fn(u32, u32) -> u32) -> Result<c_int, LibError> {
    let mut b = barg(lua, 1)?;
    let mut i = ffi::lua_gettop(lua);
    while i > 1 {
        b = op(b, barg(lua, i)?);
        i -= 1;
    }
    bret(lua, b)
}

unsafe fn band(lua: *mut lua_State) -> Result<c_int, LibError> {
    fold(lua, |a, b| a & b)
}

unsafe fn bor(lua: *mut lua_State) -> Result<c_int, LibError> {
    fold(lua, |a, b| a | b)
}

unsafe fn bxor(lua: *mut lua_State) -> Result<c_int, LibError> {
    fold(lua, |a, b| a ^ b)
}

/// lua_bit.c: BIT_SH (the shift count is taken modulo 32)
unsafe fn shift(lua: *mut lua_State, op: fn(u32, u32) -> u32) -> Result<c_int, LibError> {
    let b = barg(lua, 1)?;
    let n = barg(lua, 2)? & 31;
    bret(lua, op(b, n))
}

unsafe fn lshift(lua: *mut lua_State) -> Result<c_int, LibError> {
    shift(lua, |b, n| b << n)
}

unsafe fn rshift(lua: *mut lua_State) -> Result<c_int, LibError> {
    shift(lua, |b, n| b >> n)
}

unsafe fn arshift(lua: *mut lua_State) -> Result<c_int, LibError> {
    shift(lua, |b, n| ((b as i32) >> n) as u32)
}

unsafe fn rol(lua: *mut lua_State) -> Result<c_int, LibError> {
    shift(lua, |b, n| b.rotate_left(n))
}

unsafe fn ror(lua: *mut lua_State) -> Result<c_int, LibError> {
    shift(lua, |b, n| b.rotate_right(n))
}

unsafe fn bswap(lua: *mut lua_State) -> Result<c_int, LibError> {
    bret(lua, barg(lua, 1)?.swap_bytes())
}

/// lua_bit.c: bit_tohex
///
/// A negative count means upper-case digits; the count is clamped to 8. INT32_MIN, whose
/// negation overflows, counts as INT32_MIN + 1 (Redis's fix for a crash).
unsafe fn tohex(lua: *mut lua_State) -> Result<c_int, LibError> {
    let mut b = barg(lua, 1)?;
    let mut n = if ffi::lua_isnone(lua, 2) != 0 {
        8
    } else {
        barg(lua, 2)? as i32
    };
    let mut digits = b"0123456789abcdef";
    if n == i32::MIN {
        n = i32::MIN + 1;
    }
    if n < 0 {
        n = -n;
        digits = b"0123456789ABCDEF";
    }
    let n = n.min(8) as usize;
    let mut buf = [0u8; 8];
    for i in (0..n).rev() {
        buf[i] = digits[(b & 15) as usize];
        b >>= 4;
    }
    push_lstring(lua, &buf[..n]);
    Ok(1)
}

/// lua_bit.c: luaopen_bit (registers the global `bit` and leaves it on the stack)
pub(crate) unsafe fn luaopen_bit(lua: *mut lua_State) -> c_int {
    register_lib(
        lua,
        c"bit",
        &[
            (c"tobit", lib_function!(tobit)),
            (c"bnot", lib_function!(bnot)),
            (c"band", lib_function!(band)),
            (c"bor", lib_function!(bor)),
            (c"bxor", lib_function!(bxor)),
            (c"lshift", lib_function!(lshift)),
            (c"rshift", lib_function!(rshift)),
            (c"arshift", lib_function!(arshift)),
            (c"rol", lib_function!(rol)),
            (c"ror", lib_function!(ror)),
            (c"bswap", lib_function!(bswap)),
            (c"tohex", lib_function!(tohex)),
        ],
    );
    1
}
