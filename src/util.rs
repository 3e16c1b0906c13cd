//! Port of util.c: number parsing and formatting, and glob-style matching.

/// util.c: stringmatchlen (the recursive worker with its exponential-pattern guard)
fn stringmatchlen_impl(
    mut pattern: &[u8],
    mut string: &[u8],
    nocase: bool,
    skip_longer_matches: &mut bool,
    nesting: u32,
) -> bool {
    // Deeply nested stars are refused rather than risk the stack.
    if nesting > 1000 {
        return false;
    }
    let lower = |b: u8| if nocase { b.to_ascii_lowercase() } else { b };
    while !pattern.is_empty() && !string.is_empty() {
        match pattern[0] {
            b'*' => {
                while pattern.len() > 1 && pattern[1] == b'*' {
                    pattern = &pattern[1..];
                }
                if pattern.len() == 1 {
                    return true;
                }
                while !string.is_empty() {
                    if stringmatchlen_impl(
                        &pattern[1..],
                        string,
                        nocase,
                        skip_longer_matches,
                        nesting + 1,
                    ) {
                        return true;
                    }
                    if *skip_longer_matches {
                        return false;
                    }
                    string = &string[1..];
                }
                // No suffix match anywhere: earlier stars cannot help either.
                *skip_longer_matches = true;
                return false;
            }
            b'?' => string = &string[1..],
            b'[' => {
                pattern = &pattern[1..];
                let not = pattern.first() == Some(&b'^');
                if not {
                    pattern = &pattern[1..];
                }
                let mut matched = false;
                let c = lower(string[0]);
                loop {
                    if pattern.len() >= 2 && pattern[0] == b'\\' {
                        pattern = &pattern[1..];
                        if pattern[0] == string[0] {
                            matched = true;
                        }
                    } else if pattern.is_empty() {
                        // Unterminated class: stay on the last byte so the
                        // outer advance consumes it.
                        break;
                    } else if pattern[0] == b']' {
                        break;
                    } else if pattern.len() >= 3 && pattern[1] == b'-' {
                        let (mut start, mut end) = (lower(pattern[0]), lower(pattern[2]));
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        pattern = &pattern[2..];
                        if c >= start && c <= end {
                            matched = true;
                        }
                    } else if lower(pattern[0]) == c {
                        matched = true;
                    }
                    pattern = &pattern[1..];
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                string = &string[1..];
                if pattern.is_empty() {
                    // The C code steps back onto the class and forward again.
                    continue;
                }
            }
            b'\\' if pattern.len() >= 2 => {
                pattern = &pattern[1..];
                if lower(pattern[0]) != lower(string[0]) {
                    return false;
                }
                string = &string[1..];
            }
            p => {
                if lower(p) != lower(string[0]) {
                    return false;
                }
                string = &string[1..];
            }
        }
        pattern = &pattern[1..];
        if string.is_empty() {
            while !pattern.is_empty() && pattern[0] == b'*' {
                pattern = &pattern[1..];
            }
            break;
        }
    }
    pattern.is_empty() && string.is_empty()
}

/// util.c: stringmatchlen
pub fn stringmatchlen(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip = false;
    stringmatchlen_impl(pattern, string, nocase, &mut skip, 0)
}

/// util.c: string2ll
///
/// Strict: no spaces, no '+', no leading zeros, must fit in i64.
pub fn string2ll(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s.len() == 1 && s[0] == b'0' {
        return Some(0);
    }
    let (neg, digits) = if s[0] == b'-' {
        (true, &s[1..])
    } else {
        (false, s)
    };
    if digits.is_empty() || !(b'1'..=b'9').contains(&digits[0]) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        if v > i64::MAX as u64 {
            return None;
        }
        Some(v as i64)
    }
}

/// util.c: string2l
pub fn string2l(s: &[u8]) -> Option<i64> {
    string2ll(s)
}

/// util.c: ll2string
pub fn ll2string(buf: &mut itoa::Buffer, v: i64) -> &str {
    buf.format(v)
}

/// A strict double parse: no blank at either end, no NaN (Rust's float syntax).
pub fn string2d(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s[0].is_ascii_whitespace() || s[s.len() - 1].is_ascii_whitespace() {
        return None;
    }
    let st = std::str::from_utf8(s).ok()?;
    let v: f64 = st.parse().ok()?;
    if v.is_nan() {
        return None;
    }
    Some(v)
}

/// Format a double as Redis's `%.17g` does (util.c: d2string).
pub fn d2string(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    if v.fract() == 0.0 && v.abs() < 1e17 {
        return format!("{}", v as i64);
    }
    fmt_g(v, 17)
}

// ANCHOR: long_double
/// A C `long double` (the x87 80-bit extended type on x86-64), kept as its storage.
///
/// Redis does INCRBYFLOAT, HINCRBYFLOAT and blocking timeouts in long double and
/// prints them with `%.17Lf`; no Rust float rounds or prints the same way, so the
/// arithmetic, strtold and printf are C's (src/long_double.c, built by build.rs).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct LongDouble {
    bytes: [u8; 16],
}

extern "C" {
    fn ferredis_ld_strtold(
        buf: *const libc::c_char,
        out: *mut LongDouble,
        consumed: *mut usize,
        err: *mut libc::c_int,
    );
    fn ferredis_ld_from_ll(v: libc::c_longlong, out: *mut LongDouble);
    fn ferredis_ld_add(a: *const LongDouble, b: *const LongDouble, out: *mut LongDouble);
    fn ferredis_ld_class(x: *const LongDouble, negative: *mut libc::c_int) -> libc::c_int;
    fn ferredis_ld_ceil_ms(x: *const LongDouble) -> libc::c_longlong;
    fn ferredis_ld_snprintf(
        buf: *mut libc::c_char,
        len: usize,
        x: *const LongDouble,
        mode: libc::c_int,
    ) -> libc::c_int;
}

/// util.h: MAX_LONG_DOUBLE_CHARS
pub const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// util.h: ld2string_mode
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum LdStrMode {
    /// `%.17Lg`
    Auto = 0,
    /// `%.17Lf` with trailing zeros trimmed
    Human = 1,
    /// `%La`
    Hex = 2,
}

impl LongDouble {
    const ZERO: LongDouble = LongDouble { bytes: [0; 16] };

    /// (long double) of a long long
    pub fn from_i64(v: i64) -> LongDouble {
        let mut out = LongDouble::ZERO;
        // SAFETY: `out` is 16 writable bytes, the storage the C side expects.
        unsafe { ferredis_ld_from_ll(v, &mut out) };
        out
    }

    fn class(&self) -> (i32, bool) {
        let mut negative = 0;
        // SAFETY: reads the 16 bytes of `self`, writes one int.
        let class = unsafe { ferredis_ld_class(self, &mut negative) };
        (class, negative != 0)
    }

    /// isnan()
    pub fn is_nan(&self) -> bool {
        self.class().0 == 1
    }

    /// isinf()
    pub fn is_infinite(&self) -> bool {
        self.class().0 == 2
    }

    /// `(long long) ceill(v * 1000.0)` (timeout.c: a timeout in seconds, in ms)
    pub fn ceil_ms(&self) -> i64 {
        // SAFETY: reads the 16 bytes of `self`.
        unsafe { ferredis_ld_ceil_ms(self) }
    }
}

/// a + b, rounded as the C compiler's long double addition rounds
impl std::ops::Add for LongDouble {
    type Output = LongDouble;
    fn add(self, other: LongDouble) -> LongDouble {
        let mut out = LongDouble::ZERO;
        // SAFETY: three distinct 16-byte values; C reads two and writes one.
        unsafe { ferredis_ld_add(&self, &other, &mut out) };
        out
    }
}

/// util.c: string2ld
pub fn string2ld(s: &[u8]) -> Option<LongDouble> {
    if s.is_empty() || s.len() >= MAX_LONG_DOUBLE_CHARS {
        return None;
    }
    let mut buf = Vec::with_capacity(s.len() + 1);
    buf.extend_from_slice(s);
    buf.push(0);
    let (mut value, mut consumed, mut err) = (LongDouble::ZERO, 0usize, 0);
    // SAFETY: `buf` is NUL-terminated and outlives the call; C writes the value,
    // the count of bytes strtold consumed and errno into our three locals.
    unsafe { ferredis_ld_strtold(buf.as_ptr().cast(), &mut value, &mut consumed, &mut err) };
    let (class, _) = value.class();
    // strtold stops at an embedded NUL, so `consumed` also catches those.
    let range_error = err == libc::ERANGE && (class == 2 || class == 3);
    if is_c_space(s[0]) || consumed != s.len() || range_error || err == libc::EINVAL || class == 1 {
        return None;
    }
    Some(value)
}

/// C's isspace() in the "C" locale
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// util.c: ld2string. None when the text would not fit in `len` bytes (with its NUL).
pub fn ld2string(value: LongDouble, len: usize, mode: LdStrMode) -> Option<String> {
    let (class, negative) = value.class();
    if class == 2 {
        if len < 5 {
            return None;
        }
        return Some(if negative { "-inf" } else { "inf" }.to_string());
    }
    let mut buf = vec![0u8; len];
    // SAFETY: `buf` has `len` writable bytes; snprintf writes at most that many.
    let l = unsafe { ferredis_ld_snprintf(buf.as_mut_ptr().cast(), len, &value, mode as i32) };
    let mut l = usize::try_from(l).ok()?;
    if l + 1 > len {
        return None;
    }
    if mode == LdStrMode::Human {
        if buf[..l].contains(&b'.') {
            while buf[l - 1] == b'0' {
                l -= 1;
            }
            if buf[l - 1] == b'.' {
                l -= 1;
            }
        }
        if l == 2 && buf[0] == b'-' && buf[1] == b'0' {
            buf[0] = b'0';
            l = 1;
        }
    }
    buf.truncate(l);
    String::from_utf8(buf).ok()
}
// ANCHOR_END: long_double

/// C's `%.<prec>g` for finite, non-zero values.
pub fn fmt_g(v: f64, prec: usize) -> String {
    let e = format!("{:.*e}", prec - 1, v);
    let (mant, exp) = e.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    if exp < -4 || exp >= prec as i32 {
        let mant = trim_zeros(mant);
        format!(
            "{}e{}{:02}",
            mant,
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        )
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, v)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// util.c: getRandomHexChars (40 hex chars, used for run_id)
pub fn get_random_hex_chars(len: usize) -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut h = RandomState::new().build_hasher();
        h.write_usize(out.len());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(len);
    out
}

/// util.c: memtoull (parses "1gb", "100mb", "10k" ... as config values)
pub fn memtoull(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let (num, mul) = [
        ("gb", 1u64 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suf, mul)| lower.strip_suffix(suf).map(|n| (n.to_string(), *mul)))
    .unwrap_or((lower.clone(), 1));
    let n: u64 = num.parse().ok()?;
    n.checked_mul(mul)
}

/// Milliseconds since the Unix epoch (server.c: mstime).
pub fn mstime() -> i64 {
    ustime() / 1000
}

/// Microseconds since the Unix epoch (server.c: ustime).
pub fn ustime() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// sds.c: sdscatrepr
///
/// Appends `p` quoted, with escapes for quotes, backslashes and control bytes, so any
/// binary string prints on one line (MONITOR, CONFIG REWRITE).
pub fn sdscatrepr(out: &mut Vec<u8>, p: &[u8]) {
    out.push(b'"');
    for &b in p {
        match b {
            b'\\' | b'"' => {
                out.push(b'\\');
                out.push(b);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string2ll_is_strict() {
        assert_eq!(string2ll(b"123"), Some(123));
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(string2ll(b"9223372036854775808"), None);
        assert_eq!(string2ll(b"012"), None);
        assert_eq!(string2ll(b"+1"), None);
        assert_eq!(string2ll(b" 1"), None);
        assert_eq!(string2ll(b"-0"), None);
        assert_eq!(string2ll(b""), None);
    }

    /// The long double path keeps the digits a double would lose, and the range a
    /// double would overflow: what INCRBYFLOAT shows on Redis.
    #[test]
    fn long_double_sums_print_as_redis_prints_them() {
        let ld = |t: &[u8]| string2ld(t).unwrap();
        let human = |v| ld2string(v, MAX_LONG_DOUBLE_CHARS, LdStrMode::Human).unwrap();
        assert_eq!(human(ld(b"10.5") + ld(b"0.1")), "10.6");
        assert_eq!(human(ld(b"5.6") + ld(b"3000")), "3005.60000000000000009");
        let big = ld(b"1.7976931348623157e308");
        assert!(!(big + big).is_infinite());
        assert_eq!(human(big + big).len(), 309);
        assert_eq!(
            ld2string(ld(b"0.1"), MAX_LONG_DOUBLE_CHARS, LdStrMode::Auto).unwrap(),
            "0.1"
        );
        assert!(string2ld(b" 1").is_none() && string2ld(b"1 ").is_none());
        assert!(string2ld(b"nan").is_none() && string2ld(b"1e5000").is_none());
        assert!(ld(b"-inf").is_infinite());
        assert_eq!(ld(b"inf").ceil_ms(), i64::MIN);
        assert_eq!(ld(b"0.0001").ceil_ms(), 1);
    }

    #[test]
    fn glob_matches_like_redis() {
        assert!(stringmatchlen(b"*", b"anything", false));
        assert!(stringmatchlen(b"h?llo", b"hello", false));
        assert!(stringmatchlen(b"h[ae]llo", b"hallo", false));
        assert!(!stringmatchlen(b"h[^e]llo", b"hello", false));
        assert!(stringmatchlen(b"h[a-b]llo", b"hbllo", false));
        assert!(stringmatchlen(b"h\\*llo", b"h*llo", false));
        assert!(stringmatchlen(b"MAX*", b"maxclients", true));
        assert!(!stringmatchlen(b"a*b", b"acd", false));
        assert!(stringmatchlen(b"a*", b"a", false));
        // The exponential pattern returns quickly thanks to skip_longer_matches.
        let s = vec![b'a'; 60];
        assert!(!stringmatchlen(b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", &s, false));
    }

    #[test]
    fn doubles_format_like_percent_17g() {
        assert_eq!(d2string(1.5), "1.5");
        assert_eq!(d2string(3.0), "3");
        assert_eq!(d2string(0.1), "0.10000000000000001");
        assert_eq!(d2string(1e300), "1.0000000000000001e+300");
    }
}
