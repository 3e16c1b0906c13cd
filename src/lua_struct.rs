//! Port of deps/lua/src/lua_struct.c (Roberto Ierusalimschy's struct library, with
//! Redis's bounds checks): converting between Lua values and packed binary strings.
//!
//! Formats: `>` big endian, `<` little endian, `!n` alignment, `x` padding byte,
//! `b/B h/H l/L T i/In I/In` signed/unsigned integers (n bytes, at most 32), `f` float,
//! `d` double, `s` zero-terminated string, `cn` fixed-size string (`c0`: the size comes
//! from the previous result).

use crate::script_lua::{
    check_lstring, check_number, lib_function, opt_integer, push_lstring, register_lib, LibError,
};
use mlua::ffi::{self, lua_State};
use std::ffi::c_int;

/// lua_struct.c: MAXINTSIZE
const MAXINTSIZE: usize = 32;
/// lua_struct.c: MAXALIGN (a double's alignment on x86-64)
const MAXALIGN: usize = 8;

const BIG: bool = false;
const LITTLE: bool = true;
const NATIVE: bool = cfg!(target_endian = "little");

/// lua_struct.c: Header
struct Header {
    endian: bool,
    align: usize,
}

/// lua_struct.c: defaultoptions
fn default_options() -> Header {
    Header {
        endian: NATIVE,
        align: 1,
    }
}

/// lua_struct.c: getnum (a decimal count in the format, or `df`)
fn getnum(fmt: &[u8], pos: &mut usize, df: usize) -> Result<usize, LibError> {
    if *pos >= fmt.len() || !fmt[*pos].is_ascii_digit() {
        return Ok(df);
    }
    let mut a: i64 = 0;
    while *pos < fmt.len() && fmt[*pos].is_ascii_digit() {
        let d = (fmt[*pos] - b'0') as i64;
        if a > (i32::MAX as i64 / 10) || a * 10 > (i32::MAX as i64 - d) {
            return Err(LibError::Msg("integral size overflow".into()));
        }
        a = a * 10 + d;
        *pos += 1;
    }
    Ok(a as usize)
}

/// lua_struct.c: optsize
fn optsize(opt: u8, fmt: &[u8], pos: &mut usize) -> Result<usize, LibError> {
    Ok(match opt {
        b'B' | b'b' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' | b'T' => 8,
        b'f' => 4,
        b'd' => 8,
        b'x' => 1,
        b'c' => getnum(fmt, pos, 1)?,
        b'i' | b'I' => {
            let sz = getnum(fmt, pos, 4)?;
            if sz > MAXINTSIZE {
                return Err(LibError::Msg(format!(
                    "integral size {sz} is larger than limit of {MAXINTSIZE}"
                )));
            }
            sz
        }
        _ => 0,
    })
}

/// lua_struct.c: gettoalign
fn gettoalign(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

/// lua_struct.c: controloptions
fn controloptions(opt: u8, fmt: &[u8], pos: &mut usize, h: &mut Header) -> Result<(), LibError> {
    match opt {
        b' ' => Ok(()),
        b'>' => {
            h.endian = BIG;
            Ok(())
        }
        b'<' => {
            h.endian = LITTLE;
            Ok(())
        }
        b'!' => {
            let a = getnum(fmt, pos, MAXALIGN)?;
            if a == 0 || a & (a - 1) != 0 {
                return Err(LibError::Msg(format!("alignment {a} is not a power of 2")));
            }
            h.align = a;
            Ok(())
        }
        _ => Err(LibError::Arg(
            1,
            format!("invalid format option '{}'", opt as char),
        )),
    }
}

/// lua_struct.c: putinteger
unsafe fn putinteger(
    lua: *mut lua_State,
    out: &mut Vec<u8>,
    arg: c_int,
    endian: bool,
    size: usize,
) -> Result<(), LibError> {
    let n = check_number(lua, arg)?;
    // Negative numbers go through the signed type, as C's casts do.
    let mut value: u64 = if n < 0.0 {
        crate::script_lua::double_to_long_long(n) as u64
    } else if n >= 18_446_744_073_709_551_616.0 || n.is_nan() {
        // Out of range for C's unsigned conversion: x86-64 yields this.
        0x8000_0000_0000_0000
    } else {
        n as u64
    };
    let mut buff = [0u8; MAXINTSIZE];
    if endian == LITTLE {
        for b in buff.iter_mut().take(size) {
            *b = value as u8;
            value >>= 8;
        }
    } else {
        for i in (0..size).rev() {
            buff[i] = value as u8;
            value >>= 8;
        }
    }
    out.extend_from_slice(&buff[..size]);
    Ok(())
}

/// lua_struct.c: correctbytes (swap when the wanted order is not the machine's)
fn correctbytes(b: &mut [u8], endian: bool) {
    if endian != NATIVE {
        b.reverse();
    }
}

/// lua_struct.c: b_pack (struct.pack)
unsafe fn b_pack(lua: *mut lua_State) -> Result<c_int, LibError> {
    let fmt = check_lstring(lua, 1)?;
    // The format stops at a NUL, as a C string does.
    let fmt = &fmt[..fmt.iter().position(|&b| b == 0).unwrap_or(fmt.len())];
    let mut h = default_options();
    let mut arg = 2;
    let mut totalsize = 0usize;
    let mut out = Vec::new();
    // C's b_pack pushes a nil before its buffer: a missing argument reads as that nil.
    ffi::lua_pushnil(lua);
    let mut pos = 0;
    while pos < fmt.len() {
        let opt = fmt[pos];
        pos += 1;
        let mut size = optsize(opt, fmt, &mut pos)?;
        let toalign = gettoalign(totalsize, &h, opt, size);
        totalsize += toalign;
        out.resize(out.len() + toalign, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                putinteger(lua, &mut out, arg, h.endian, size)?;
                arg += 1;
            }
            b'x' => out.push(0),
            b'f' => {
                let mut f = (check_number(lua, arg)? as f32).to_ne_bytes();
                arg += 1;
                correctbytes(&mut f, h.endian);
                out.extend_from_slice(&f[..size]);
            }
            b'd' => {
                let mut d = check_number(lua, arg)?.to_ne_bytes();
                arg += 1;
                correctbytes(&mut d, h.endian);
                out.extend_from_slice(&d[..size]);
            }
            b'c' | b's' => {
                let s = check_lstring(lua, arg)?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(LibError::Arg(arg, "string too short".into()));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                    size += 1;
                }
            }
            _ => controloptions(opt, fmt, &mut pos, &mut h)?,
        }
        totalsize += size;
    }
    push_lstring(lua, &out);
    Ok(1)
}

/// lua_struct.c: getinteger
fn getinteger(buff: &[u8], endian: bool, issigned: bool, size: usize) -> f64 {
    let mut l: u64 = 0;
    if endian == BIG {
        for &b in &buff[..size] {
            l = (l << 8) | b as u64;
        }
    } else {
        for &b in buff[..size].iter().rev() {
            l = (l << 8) | b as u64;
        }
    }
    if !issigned {
        l as f64
    } else {
        // x86-64 takes a shift count modulo 64.
        let mask = (!0u64).wrapping_shl((size * 8).wrapping_sub(1) as u32);
        if l & mask != 0 {
            l |= mask;
        }
        l as i64 as f64
    }
}

/// lua_struct.c: b_unpack (struct.unpack), with Redis's bounds checks
unsafe fn b_unpack(lua: *mut lua_State) -> Result<c_int, LibError> {
    let fmt = check_lstring(lua, 1)?;
    let fmt = &fmt[..fmt.iter().position(|&b| b == 0).unwrap_or(fmt.len())];
    let data = check_lstring(lua, 2)?;
    let ld = data.len();
    let pos0 = opt_integer(lua, 3, 1)? as usize;
    if pos0 == 0 {
        return Err(LibError::Arg(3, "offset must be 1 or greater".into()));
    }
    let mut pos = pos0 - 1;
    let mut n: c_int = 0;
    let mut h = default_options();
    let mut fpos = 0;
    while fpos < fmt.len() {
        let opt = fmt[fpos];
        fpos += 1;
        let mut size = optsize(opt, fmt, &mut fpos)?;
        pos = pos.wrapping_add(gettoalign(pos, &h, opt, size));
        if !(size <= ld && pos <= ld - size) {
            return Err(LibError::Arg(2, "data string too short".into()));
        }
        if ffi::lua_checkstack(lua, 2) == 0 {
            return Err(LibError::Msg("stack overflow (too many results)".into()));
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let issigned = opt.is_ascii_lowercase();
                ffi::lua_pushnumber(lua, getinteger(&data[pos..], h.endian, issigned, size));
                n += 1;
            }
            b'x' => {}
            b'f' => {
                let mut f = [0u8; 4];
                f.copy_from_slice(&data[pos..pos + 4]);
                correctbytes(&mut f, h.endian);
                ffi::lua_pushnumber(lua, f32::from_ne_bytes(f) as f64);
                n += 1;
            }
            b'd' => {
                let mut d = [0u8; 8];
                d.copy_from_slice(&data[pos..pos + 8]);
                correctbytes(&mut d, h.endian);
                ffi::lua_pushnumber(lua, f64::from_ne_bytes(d));
                n += 1;
            }
            b'c' => {
                if size == 0 {
                    if n == 0 || ffi::lua_isnumber(lua, -1) == 0 {
                        return Err(LibError::Msg("format 'c0' needs a previous size".into()));
                    }
                    size =
                        crate::script_lua::double_to_long_long(ffi::lua_tonumber(lua, -1)) as usize;
                    ffi::lua_pop(lua, 1);
                    n -= 1;
                    if !(size <= ld && pos <= ld - size) {
                        return Err(LibError::Arg(2, "data string too short".into()));
                    }
                }
                push_lstring(lua, &data[pos..pos + size]);
                n += 1;
            }
            b's' => {
                let Some(e) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(LibError::Msg("unfinished string in data".into()));
                };
                size = e + 1;
                push_lstring(lua, &data[pos..pos + e]);
                n += 1;
            }
            _ => controloptions(opt, fmt, &mut fpos, &mut h)?,
        }
        pos += size;
    }
    ffi::lua_pushinteger(lua, (pos + 1) as ffi::lua_Integer);
    Ok(n + 1)
}

/// lua_struct.c: b_size (struct.size)
unsafe fn b_size(lua: *mut lua_State) -> Result<c_int, LibError> {
    let fmt = check_lstring(lua, 1)?;
    let fmt = &fmt[..fmt.iter().position(|&b| b == 0).unwrap_or(fmt.len())];
    let mut h = default_options();
    let mut pos = 0usize;
    let mut fpos = 0;
    while fpos < fmt.len() {
        let opt = fmt[fpos];
        fpos += 1;
        let size = optsize(opt, fmt, &mut fpos)?;
        pos += gettoalign(pos, &h, opt, size);
        if opt == b's' {
            return Err(LibError::Arg(1, "option 's' has no fixed size".into()));
        } else if opt == b'c' && size == 0 {
            return Err(LibError::Arg(1, "option 'c0' has no fixed size".into()));
        }
        if !opt.is_ascii_alphanumeric() {
            controloptions(opt, fmt, &mut fpos, &mut h)?;
        }
        pos += size;
    }
    ffi::lua_pushinteger(lua, pos as ffi::lua_Integer);
    Ok(1)
}

/// lua_struct.c: luaopen_struct (registers the global `struct`, left on the stack)
pub(crate) unsafe fn luaopen_struct(lua: *mut lua_State) -> c_int {
    register_lib(
        lua,
        c"struct",
        &[
            (c"pack", lib_function!(b_pack)),
            (c"unpack", lib_function!(b_unpack)),
            (c"size", lib_function!(b_size)),
        ],
    );
    1
}
