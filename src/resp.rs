//! Port of the reply half of networking.c: how every reply type is encoded in RESP2 and RESP3.
//!
//! Redis builds replies with `addReply*` calls that append protocol bytes to the client's
//! output buffers. These functions do the same; they only need the client's protocol
//! version, so they live on `Client` (networking.rs owns the buffers).

use crate::networking::{Client, ClientIo};
use crate::server::Server;
use crate::util;

impl ClientIo {
    /// networking.c: addReplyProto
    #[inline]
    pub fn add_reply_proto(&mut self, s: &[u8]) {
        if self.prepare_client_to_write() {
            self.add_reply_to_buffer_or_list(s);
        }
    }

    /// networking.c: addReplyLongLongWithPrefix
    #[inline]
    fn add_reply_long_long_with_prefix(&mut self, ll: i64, prefix: u8) {
        let mut b = itoa::Buffer::new();
        let digits = b.format(ll).as_bytes();
        let mut hdr = [0u8; 24];
        hdr[0] = prefix;
        hdr[1..1 + digits.len()].copy_from_slice(digits);
        hdr[1 + digits.len()] = b'\r';
        hdr[2 + digits.len()] = b'\n';
        self.add_reply_proto(&hdr[..3 + digits.len()]);
    }

    /// networking.c: addReplyLongLong
    #[inline]
    pub fn add_reply_long_long(&mut self, ll: i64) {
        match ll {
            0 => self.add_reply_proto(b":0\r\n"),
            1 => self.add_reply_proto(b":1\r\n"),
            _ => self.add_reply_long_long_with_prefix(ll, b':'),
        }
    }

    /// networking.c: addReplyArrayLen
    #[inline]
    pub fn add_reply_array_len(&mut self, len: usize) {
        self.add_reply_long_long_with_prefix(len as i64, b'*');
    }

    /// networking.c: addReplyMapLen (RESP2 has no maps: a flat array of twice the length)
    pub fn add_reply_map_len(&mut self, len: usize) {
        if self.resp == 2 {
            self.add_reply_long_long_with_prefix(2 * len as i64, b'*');
        } else {
            self.add_reply_long_long_with_prefix(len as i64, b'%');
        }
    }

    /// networking.c: addReplySetLen
    pub fn add_reply_set_len(&mut self, len: usize) {
        let prefix = if self.resp == 2 { b'*' } else { b'~' };
        self.add_reply_long_long_with_prefix(len as i64, prefix);
    }

    /// networking.c: addReplyAttributeLen
    pub fn add_reply_attribute_len(&mut self, len: usize) {
        debug_assert!(self.resp >= 3);
        self.add_reply_long_long_with_prefix(len as i64, b'|');
    }

    /// networking.c: addReplyPushLen
    pub fn add_reply_push_len(&mut self, len: usize) {
        let prefix = if self.resp == 2 { b'*' } else { b'>' };
        self.add_reply_long_long_with_prefix(len as i64, prefix);
    }

    /// networking.c: addReplyBulkLen
    #[inline]
    fn add_reply_bulk_len(&mut self, len: usize) {
        self.add_reply_long_long_with_prefix(len as i64, b'$');
    }

    /// networking.c: addReplyBulk / addReplyBulkCBuffer
    #[inline]
    pub fn add_reply_bulk(&mut self, s: &[u8]) {
        self.add_reply_bulk_len(s.len());
        self.add_reply_proto(s);
        self.add_reply_proto(b"\r\n");
    }

    /// networking.c: addReplyBulkLongLong
    pub fn add_reply_bulk_long_long(&mut self, ll: i64) {
        let mut b = itoa::Buffer::new();
        let s = b.format(ll).as_bytes().to_vec();
        self.add_reply_bulk(&s);
    }

    /// networking.c: addReplyNull
    pub fn add_reply_null(&mut self) {
        if self.resp == 2 {
            self.add_reply_proto(b"$-1\r\n");
        } else {
            self.add_reply_proto(b"_\r\n");
        }
    }

    /// networking.c: addReplyNullArray
    pub fn add_reply_null_array(&mut self) {
        if self.resp == 2 {
            self.add_reply_proto(b"*-1\r\n");
        } else {
            self.add_reply_proto(b"_\r\n");
        }
    }

    /// networking.c: addReplyBool
    pub fn add_reply_bool(&mut self, b: bool) {
        if self.resp == 2 {
            self.add_reply_proto(if b { b":1\r\n" } else { b":0\r\n" });
        } else {
            self.add_reply_proto(if b { b"#t\r\n" } else { b"#f\r\n" });
        }
    }

    /// networking.c: addReplyDouble
    pub fn add_reply_double(&mut self, d: f64) {
        let s = util::d2string(d);
        if self.resp == 2 {
            self.add_reply_bulk(s.as_bytes());
        } else {
            self.add_reply_proto(b",");
            self.add_reply_proto(s.as_bytes());
            self.add_reply_proto(b"\r\n");
        }
    }

    /// networking.c: addReplyBigNum
    pub fn add_reply_big_num(&mut self, num: &[u8]) {
        if self.resp == 2 {
            self.add_reply_bulk(num);
        } else {
            self.add_reply_proto(b"(");
            self.add_reply_proto(num);
            self.add_reply_proto(b"\r\n");
        }
    }

    /// networking.c: addReplyVerbatim
    pub fn add_reply_verbatim(&mut self, s: &[u8], ext: &str) {
        if self.resp == 2 {
            self.add_reply_bulk(s);
        } else {
            let mut e = [b' '; 3];
            for (i, b) in ext.bytes().take(3).enumerate() {
                e[i] = b;
            }
            let hdr = format!("={}\r\n", s.len() + 4);
            self.add_reply_proto(hdr.as_bytes());
            self.add_reply_proto(&e);
            self.add_reply_proto(b":");
            self.add_reply_proto(s);
            self.add_reply_proto(b"\r\n");
        }
    }

    /// networking.c: addReplyStatusLength (a simple string; CR/LF are not allowed in it)
    pub fn add_reply_status(&mut self, s: &str) {
        self.add_reply_proto(b"+");
        self.add_reply_proto(s.as_bytes());
        self.add_reply_proto(b"\r\n");
    }

    /// networking.c: addReplyDeferredLen (returns a handle to fill in later)
    pub fn add_reply_deferred_len(&mut self) -> Option<DeferredLen> {
        if !self.prepare_client_to_write() {
            return None;
        }
        Some(self.reserve_deferred_header())
    }

    /// networking.c: setDeferredArrayLen
    pub fn set_deferred_array_len(&mut self, d: Option<DeferredLen>, len: usize) {
        if let Some(d) = d {
            self.fill_deferred_header(d, b'*', len);
        }
    }

    /// networking.c: setDeferredMapLen
    pub fn set_deferred_map_len(&mut self, d: Option<DeferredLen>, len: usize) {
        if let Some(d) = d {
            if self.resp == 2 {
                self.fill_deferred_header(d, b'*', len * 2);
            } else {
                self.fill_deferred_header(d, b'%', len);
            }
        }
    }

    /// networking.c: setDeferredSetLen
    pub fn set_deferred_set_len(&mut self, d: Option<DeferredLen>, len: usize) {
        if let Some(d) = d {
            let p = if self.resp == 2 { b'*' } else { b'~' };
            self.fill_deferred_header(d, p, len);
        }
    }
}

/// Where a deferred length header will go: a placeholder node in the reply list.
pub struct DeferredLen(pub(crate) u64);

/// networking.c: addReplyErrorLength plus afterErrorReply.
///
/// Every error reply passes here so INFO errorstats counts it under its code.
pub fn add_reply_error_length(s: &mut Server, c: &mut Client, err: &[u8]) {
    // Errors given with their own code ("-WRONGTYPE ...") keep it; others get "-ERR ".
    if err.first() != Some(&b'-') {
        c.add_reply_proto(b"-ERR ");
    }
    // A newline would break the protocol: Redis maps them to spaces.
    if err.iter().any(|&b| b == b'\r' || b == b'\n') {
        let clean: Vec<u8> = err
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
            .collect();
        c.add_reply_proto(&clean);
    } else {
        c.add_reply_proto(err);
    }
    c.add_reply_proto(b"\r\n");
    after_error_reply(s, err);
}

/// networking.c: afterErrorReply (the statistics part)
pub fn after_error_reply(s: &mut Server, err: &[u8]) {
    s.stat_total_error_replies += 1;
    let code: &[u8] = if err.first() != Some(&b'-') {
        b"ERR"
    } else {
        let window = &err[..err.len().min(32)];
        match window.iter().position(|&b| b == b' ') {
            Some(p) => &err[1..p],
            None => b"ERR",
        }
    };
    s.increment_error_count(code);
}

/// networking.c: addReplyError
pub fn add_reply_error(s: &mut Server, c: &mut Client, err: &str) {
    add_reply_error_length(s, c, err.as_bytes());
}

/// networking.c: addReplyErrorObject (a shared error that already carries "-CODE ... \r\n")
pub fn add_reply_error_object(s: &mut Server, c: &mut Client, err: &str) {
    let trimmed = err.trim_end_matches("\r\n");
    add_reply_error_length(s, c, trimmed.as_bytes());
}

/// networking.c: addReplyErrorArity
pub fn add_reply_error_arity(s: &mut Server, c: &mut Client) {
    let name = c.cmd.map(|cmd| cmd.fullname).unwrap_or("");
    let msg = format!("wrong number of arguments for '{}' command", name);
    add_reply_error(s, c, &msg);
}

/// networking.c: addReplySubcommandSyntaxError
pub fn add_reply_subcommand_syntax_error(s: &mut Server, c: &mut Client) {
    let cmd = String::from_utf8_lossy(&c.argv[0]).to_uppercase();
    let sub = String::from_utf8_lossy(&c.argv[1]);
    let sub: String = sub.chars().take(128).collect();
    let msg = format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        sub, cmd
    );
    add_reply_error(s, c, &msg);
}

/// networking.c: addReplyHelp
pub fn add_reply_help(c: &mut Client, help: &[&str]) {
    let cmd = String::from_utf8_lossy(&c.argv[0]).to_uppercase();
    c.add_reply_array_len(help.len() + 3);
    c.add_reply_status(&format!(
        "{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        cmd
    ));
    for line in help {
        c.add_reply_status(line);
    }
    c.add_reply_status("HELP");
    c.add_reply_status("    Prints this help.");
}

/// Shared replies, as Redis keeps them in `shared` (server.c: createSharedObjects).
pub mod shared {
    pub const OK: &[u8] = b"+OK\r\n";
    pub const PONG: &[u8] = b"+PONG\r\n";
    pub const QUEUED: &[u8] = b"+QUEUED\r\n";
    pub const CZERO: &[u8] = b":0\r\n";
    pub const CONE: &[u8] = b":1\r\n";
    pub const SYNTAXERR: &str = "-ERR syntax error";
    pub const BGSAVEERR: &str = "-MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";
    pub const WRONGTYPEERR: &str =
        "-WRONGTYPE Operation against a key holding the wrong kind of value";
    pub const NOAUTHERR: &str = "-NOAUTH Authentication required.";
    pub const OUTOFRANGEERR: &str = "-ERR index out of range";
    pub const NOTINTEGERERR: &str = "-ERR value is not an integer or out of range";
    pub const NOKEYERR: &str = "-ERR no such key";
    pub const SAMEOBJECTERR: &str = "-ERR source and destination objects are the same";
    pub const OOMERR: &str = "-OOM command not allowed when used memory > 'maxmemory'.";
    /// server.c: shared.loadingerr
    pub const LOADINGERR: &str = "-LOADING Redis is loading the dataset in memory";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::networking::CLIENT_SCRIPT;

    fn fake(resp: u8) -> Client {
        let mut c = Client::new(1, mio::Token(0), None, 0);
        c.flags |= CLIENT_SCRIPT;
        c.resp = resp;
        c
    }

    /// Encode with `f` in RESP2 and RESP3 and return both byte strings.
    fn both(f: impl Fn(&mut Client)) -> (String, String) {
        let mut out = Vec::new();
        for resp in [2, 3] {
            let mut c = fake(resp);
            f(&mut c);
            out.push(String::from_utf8(c.reply_bytes_concat()).unwrap());
        }
        (out[0].clone(), out[1].clone())
    }

    // The expected bytes are what networking.c's addReply* functions emit.
    #[test]
    fn every_reply_type_in_both_protocols() {
        assert_eq!(
            both(|c| c.add_reply_null()),
            ("$-1\r\n".into(), "_\r\n".into())
        );
        assert_eq!(
            both(|c| c.add_reply_null_array()),
            ("*-1\r\n".into(), "_\r\n".into())
        );
        assert_eq!(
            both(|c| c.add_reply_bool(true)),
            (":1\r\n".into(), "#t\r\n".into())
        );
        assert_eq!(
            both(|c| c.add_reply_bool(false)),
            (":0\r\n".into(), "#f\r\n".into())
        );
        assert_eq!(
            both(|c| c.add_reply_map_len(2)),
            ("*4\r\n".into(), "%2\r\n".into())
        );
        assert_eq!(
            both(|c| c.add_reply_set_len(3)),
            ("*3\r\n".into(), "~3\r\n".into())
        );
        assert_eq!(
            both(|c| c.add_reply_push_len(3)),
            ("*3\r\n".into(), ">3\r\n".into())
        );
        assert_eq!(
            both(|c| c.add_reply_double(3.5)),
            ("$3\r\n3.5\r\n".into(), ",3.5\r\n".into())
        );
        assert_eq!(
            both(|c| c.add_reply_double(f64::INFINITY)),
            ("$3\r\ninf\r\n".into(), ",inf\r\n".into())
        );
        assert_eq!(
            both(|c| c.add_reply_double(f64::NEG_INFINITY)),
            ("$4\r\n-inf\r\n".into(), ",-inf\r\n".into())
        );
        assert_eq!(
            both(|c| c.add_reply_double(0.1)),
            (
                "$19\r\n0.10000000000000001\r\n".into(),
                ",0.10000000000000001\r\n".into()
            )
        );
        assert_eq!(
            both(|c| c.add_reply_big_num(b"1234567999999999999999999999")),
            (
                "$28\r\n1234567999999999999999999999\r\n".into(),
                "(1234567999999999999999999999\r\n".into()
            )
        );
        assert_eq!(
            both(|c| c.add_reply_verbatim(b"hi", "txt")),
            ("$2\r\nhi\r\n".into(), "=6\r\ntxt:hi\r\n".into())
        );
        assert_eq!(
            both(|c| c.add_reply_long_long(-42)),
            (":-42\r\n".into(), ":-42\r\n".into())
        );
        assert_eq!(
            both(|c| c.add_reply_bulk(b"")),
            ("$0\r\n\r\n".into(), "$0\r\n\r\n".into())
        );
        assert_eq!(
            both(|c| c.add_reply_status("OK")),
            ("+OK\r\n".into(), "+OK\r\n".into())
        );
    }

    #[test]
    fn deferred_lengths_are_filled_in_place() {
        let (r2, r3) = both(|c| {
            c.add_reply_bulk(b"before");
            let d = c.add_reply_deferred_len();
            c.add_reply_bulk(b"k");
            c.add_reply_bulk(b"v");
            c.set_deferred_map_len(d, 1);
        });
        assert_eq!(r2, "$6\r\nbefore\r\n*2\r\n$1\r\nk\r\n$1\r\nv\r\n");
        assert_eq!(r3, "$6\r\nbefore\r\n%1\r\n$1\r\nk\r\n$1\r\nv\r\n");
    }

    #[test]
    fn replies_larger_than_the_buffer_spill_into_the_list_in_order() {
        let mut c = fake(2);
        let big = vec![b'z'; 40_000];
        c.add_reply_bulk(b"first");
        c.add_reply_bulk(&big);
        c.add_reply_bulk(b"last");
        assert!(!c.reply.is_empty(), "a 40 KB reply must use the list");
        let mut expected = b"$5\r\nfirst\r\n$40000\r\n".to_vec();
        expected.extend(&big);
        expected.extend(b"\r\n$4\r\nlast\r\n");
        assert_eq!(c.reply_bytes_concat(), expected);
    }
}
