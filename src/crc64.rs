//! Port of crc64.c: the CRC-64 (Jones polynomial, reflected) that DUMP payloads and
//! RDB files end with.
//!
//! Redis computes it with crcspeed's sliced tables; one 256-entry table of the same
//! reflected polynomial gives the same values.

/// crc64.c: POLY, bit-reflected for the right-shifting table algorithm.
const POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;

/// crc64.c: crc64_init (the lookup table, built at compile time)
const TABLE: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut j = 0;
        while j < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY_REFLECTED
            } else {
                crc >> 1
            };
            j += 1;
        }
        t[i] = crc;
        i += 1;
    }
    t
};

/// crc64.c: crc64
pub fn crc64(mut crc: u64, s: &[u8]) -> u64 {
    for &b in s {
        crc = TABLE[((crc ^ b as u64) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

#[cfg(test)]
mod tests {
    #[test]
    fn check_value() {
        // crc64.c's own test vector.
        assert_eq!(super::crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }
}
