//! Port of lzf_c.c and lzf_d.c: the LZF compressor Redis uses for RDB strings.
//!
//! The compressor must produce exactly Redis's bytes (DUMP payloads are compared
//! byte for byte), so it follows liblzf's VERY_FAST variant with a 2^16-slot hash
//! table of input offsets. Redis leaves that table uninitialised on the stack; a
//! zeroed table is what it behaves like, since a slot only ever yields a match
//! after the 3 bytes it points at are checked.

/// lzfP.h: HLOG (log2 of the hash table size)
const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
/// lzf_c.c: MAX_LIT (longest literal run)
const MAX_LIT: usize = 1 << 5;
/// lzf_c.c: MAX_OFF (farthest back reference)
const MAX_OFF: usize = 1 << 13;
/// lzf_c.c: MAX_REF (longest back reference)
const MAX_REF: usize = (1 << 8) + (1 << 3);

#[inline]
fn frst(p: &[u8], i: usize) -> u32 {
    ((p[i] as u32) << 8) | p[i + 1] as u32
}

#[inline]
fn next(v: u32, p: &[u8], i: usize) -> u32 {
    (v << 8) | p[i + 2] as u32
}

/// The VERY_FAST hash of the 3 bytes in `h`.
#[inline]
fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// lzf_c.c: lzf_compress
///
/// Compresses `input` into at most `out_len` bytes; None when it does not fit
/// (the caller then stores the string as is).
pub fn lzf_compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let in_len = input.len();
    if in_len == 0 || out_len == 0 {
        return None;
    }
    // Offsets into `input`; 0 stands for "no earlier position" (and offset 0 is
    // never referenced, as in liblzf).
    let mut htab = vec![0u32; HSIZE];
    let mut out = vec![0u8; out_len];
    let out_end = out_len;
    let mut ip = 0usize;
    let mut op = 0usize;
    let mut lit: usize = 0;
    op += 1; // start a literal run
    let mut hval = if in_len >= 2 {
        frst(input, ip)
    } else {
        (input[0] as u32) << 8
    };
    while in_len >= 3 && ip < in_len - 2 {
        hval = next(hval, input, ip);
        let slot = idx(hval);
        let r = htab[slot] as usize;
        htab[slot] = ip as u32;
        let off = ip.wrapping_sub(r).wrapping_sub(1);
        if r > 0
            && r < ip
            && off < MAX_OFF
            && input[r + 2] == input[ip + 2]
            && input[r] == input[ip]
            && input[r + 1] == input[ip + 1]
        {
            let mut len: usize = 2;
            let maxlen = (in_len - ip - len).min(MAX_REF);
            if op + 3 + 1 >= out_end && op - (lit == 0) as usize + 3 + 1 >= out_end {
                return None;
            }
            out[op - lit - 1] = (lit as u8).wrapping_sub(1); // stop run
            op -= (lit == 0) as usize; // undo an empty run
            let mut done = false;
            if maxlen > 16 {
                for _ in 0..16 {
                    len += 1;
                    if input[r + len] != input[ip + len] {
                        done = true;
                        break;
                    }
                }
            }
            if !done {
                loop {
                    len += 1;
                    if !(len < maxlen && input[r + len] == input[ip + len]) {
                        break;
                    }
                }
            }
            len -= 2; // now the number of bytes minus one
            ip += 1;
            if len < 7 {
                out[op] = ((off >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((off >> 8) + (7 << 5)) as u8;
                out[op + 1] = (len - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 1;
            lit = 0;
            op += 1; // start a run
            ip += len + 1;
            if ip >= in_len - 2 {
                break;
            }
            // VERY_FAST: hash the two positions before the new one.
            ip -= 2;
            hval = frst(input, ip);
            hval = next(hval, input, ip);
            htab[idx(hval)] = ip as u32;
            ip += 1;
            hval = next(hval, input, ip);
            htab[idx(hval)] = ip as u32;
            ip += 1;
        } else {
            if op >= out_end {
                return None;
            }
            lit += 1;
            out[op] = input[ip];
            op += 1;
            ip += 1;
            if lit == MAX_LIT {
                out[op - lit - 1] = (lit - 1) as u8;
                lit = 0;
                op += 1;
            }
        }
    }
    if op + 3 > out_end {
        return None;
    }
    while ip < in_len {
        lit += 1;
        out[op] = input[ip];
        op += 1;
        ip += 1;
        if lit == MAX_LIT {
            out[op - lit - 1] = (lit - 1) as u8;
            lit = 0;
            op += 1;
        }
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1); // end run
    op -= (lit == 0) as usize;
    out.truncate(op);
    Some(out)
}

/// lzf_d.c: lzf_decompress
///
/// Expands `input` into exactly `out_len` bytes, or None when the data is corrupt
/// or does not decompress to that length.
pub fn lzf_decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    // Reserve what the input can plausibly expand to; a forged length grows on demand.
    let mut out: Vec<u8> = Vec::with_capacity(out_len.min(input.len().saturating_mul(4)));
    let mut ip = 0usize;
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < (1 << 5) {
            let n = ctrl + 1;
            if out.len() + n > out_len || ip + n > input.len() {
                return None;
            }
            out.extend_from_slice(&input[ip..ip + n]);
            ip += n;
        } else {
            let mut len = ctrl >> 5;
            if ip >= input.len() {
                return None;
            }
            if len == 7 {
                len += input[ip] as usize;
                ip += 1;
                if ip >= input.len() {
                    return None;
                }
            }
            let back = ((ctrl & 0x1f) << 8) + 1 + input[ip] as usize;
            ip += 1;
            if out.len() + len + 2 > out_len || back > out.len() {
                return None;
            }
            let from = out.len() - back;
            // Overlapping copies repeat the pattern, byte by byte.
            for r in from..from + len + 2 {
                let b = out[r];
                out.push(b);
            }
        }
    }
    if out.len() != out_len {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut seed = 7u64;
        for n in [21usize, 50, 100, 1000, 5000] {
            let data: Vec<u8> = (0..n)
                .map(|i| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    if i % 3 == 0 {
                        (seed >> 60) as u8
                    } else {
                        b'a' + (i % 7) as u8
                    }
                })
                .collect();
            let c = lzf_compress(&data, data.len() + 64).unwrap();
            assert_eq!(lzf_decompress(&c, data.len()).unwrap(), data);
        }
    }

    #[test]
    fn round_trips_varied_inputs() {
        let mut seed: u64 = 7;
        for n in 0..2000 {
            let len = 3 + n % 700;
            let alphabet = 1 + (n % 7) as u64 * 40;
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((seed >> 33) % alphabet) as u8
                })
                .collect();
            if let Some(c) = lzf_compress(&input, input.len().saturating_sub(4).max(1)) {
                assert_eq!(lzf_decompress(&c, input.len()).as_deref(), Some(&input[..]));
            }
        }
    }

    #[test]
    fn refuses_bad_back_references() {
        assert_eq!(lzf_decompress(&[0x20, 0x05], 3), None);
        assert_eq!(lzf_decompress(&[0x01, b'a', b'b'], 2), Some(b"ab".to_vec()));
    }
}
