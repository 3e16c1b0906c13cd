//! Port of networking.c and anet.c: clients, reading and parsing queries, reply buffers,
//! writing replies back.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::net::SocketAddr;

use bytes::{Buf, Bytes, BytesMut};
use mio::net::TcpStream;
use mio::Token;
use tracing::{debug_span, trace};

use crate::ae::{AE_READABLE, AE_WRITABLE};
use crate::commands::RedisCommand;
use crate::io_threads;
use crate::resp::{add_reply_error, add_reply_error_object, DeferredLen};
use crate::server::{self, Server};
use crate::util;

/// Size of one read from a socket (server.h: PROTO_IOBUF_LEN).
pub const PROTO_IOBUF_LEN: usize = 1024 * 16;
/// Size of the fixed reply buffer and of reply-list blocks (server.h: PROTO_REPLY_CHUNK_BYTES).
pub const PROTO_REPLY_CHUNK_BYTES: usize = 16 * 1024;
/// Longest inline request or count line (server.h: PROTO_INLINE_MAX_SIZE).
pub const PROTO_INLINE_MAX_SIZE: usize = 1024 * 64;
/// Bulk arguments this big are read into a buffer of their own (server.h: PROTO_MBULK_BIG_ARG).
pub const PROTO_MBULK_BIG_ARG: usize = 1024 * 32;
/// Most bytes written to one client per writable event (server.h: NET_MAX_WRITES_PER_EVENT).
pub const NET_MAX_WRITES_PER_EVENT: usize = 1024 * 64;
/// Most slices in one writev (Redis uses the system's IOV_MAX; 64 is plenty here).
const IOV_MAX: usize = 64;
/// Most connections accepted per readable event on a listener (server.h: MAX_ACCEPTS_PER_CALL).
pub const MAX_ACCEPTS_PER_CALL: usize = 1000;

// Client flags (server.h: CLIENT_*), only the ones this port uses.
/// A replica, or (with CLIENT_MONITOR) a MONITOR client (server.h: CLIENT_SLAVE).
pub const CLIENT_SLAVE: u64 = 1 << 0;
/// Receives every executed command (server.h: CLIENT_MONITOR).
pub const CLIENT_MONITOR: u64 = 1 << 2;
pub const CLIENT_MULTI: u64 = 1 << 3;
/// A WATCHed key was touched: EXEC will fail (server.h: CLIENT_DIRTY_CAS).
pub const CLIENT_DIRTY_CAS: u64 = 1 << 5;
/// A command failed to queue: EXEC will answer EXECABORT (server.h: CLIENT_DIRTY_EXEC).
pub const CLIENT_DIRTY_EXEC: u64 = 1 << 12;
/// Unblocked and waiting for its turn in `process_unblocked_clients` (CLIENT_UNBLOCKED).
pub const CLIENT_UNBLOCKED: u64 = 1 << 7;
/// Commands run for this client may not block: inside EXEC or a script
/// (server.h: CLIENT_DENY_BLOCKING).
pub const CLIENT_DENY_BLOCKING: u64 = 1 << 41;
pub const CLIENT_SCRIPT: u64 = 1 << 8;
pub const CLIENT_CLOSE_AFTER_REPLY: u64 = 1 << 6;
pub const CLIENT_BLOCKED: u64 = 1 << 4;
pub const CLIENT_CLOSE_ASAP: u64 = 1 << 10;
pub const CLIENT_PENDING_WRITE: u64 = 1 << 21;
pub const CLIENT_REPLY_OFF: u64 = 1 << 22;
pub const CLIENT_REPLY_SKIP_NEXT: u64 = 1 << 23;
pub const CLIENT_REPLY_SKIP: u64 = 1 << 24;
pub const CLIENT_PROTECTED: u64 = 1 << 28;
pub const CLIENT_PENDING_COMMAND: u64 = 1 << 30;
pub const CLIENT_NO_EVICT: u64 = 1 << 43;
pub const CLIENT_PUBSUB: u64 = 1 << 18;
/// Client-side caching (tracking.rs; server.h: CLIENT_TRACKING*).
pub const CLIENT_TRACKING: u64 = 1 << 31;
pub const CLIENT_TRACKING_BROKEN_REDIR: u64 = 1 << 32;
pub const CLIENT_TRACKING_BCAST: u64 = 1 << 33;
pub const CLIENT_TRACKING_OPTIN: u64 = 1 << 34;
pub const CLIENT_TRACKING_OPTOUT: u64 = 1 << 35;
/// CLIENT CACHING yes/no was given for the next command.
pub const CLIENT_TRACKING_CACHING: u64 = 1 << 36;
pub const CLIENT_TRACKING_NOLOOP: u64 = 1 << 37;
/// The command asked not to be propagated as itself (server.h: CLIENT_PREVENT_AOF_PROP,
/// CLIENT_PREVENT_REPL_PROP): EVAL, whose effects are propagated instead.
pub const CLIENT_PREVENT_AOF_PROP: u64 = 1 << 19;
pub const CLIENT_PREVENT_REPL_PROP: u64 = 1 << 20;
pub const CLIENT_PREVENT_PROP: u64 = CLIENT_PREVENT_AOF_PROP | CLIENT_PREVENT_REPL_PROP;

pub const PROTO_REQ_INLINE: u8 = 1;
pub const PROTO_REQ_MULTIBULK: u8 = 2;

/// One block of the reply list (server.h: clientReplyBlock).
pub struct ReplyBlock {
    pub buf: Vec<u8>,
    /// A placeholder for a deferred length: nothing may be appended after it.
    pub fixed: bool,
}

/// The I/O half of a client: everything reading, parsing and writing touch.
///
/// This is what an I/O thread receives (io_threads.rs); it holds no reference to the
/// server, so a thread that owns it can reach the socket and the buffers, and
/// nothing else.
pub struct ClientIo {
    pub conn: Option<TcpStream>,
    pub flags: u64,
    pub resp: u8,
    // Input: the query buffer is a `BytesMut` so parsed arguments can be handed out
    // as `Bytes` slices of it without copying.
    pub querybuf: BytesMut,
    pub querybuf_peak: usize,
    pub reqtype: u8,
    pub multibulklen: i64,
    pub bulklen: i64,
    pub argv: Vec<Bytes>,
    pub argv_len_sum: usize,
    // Output: the fixed buffer, then the list (networking.c: _addReplyToBufferOrList).
    pub buf: Vec<u8>,
    pub reply: VecDeque<ReplyBlock>,
    pub reply_bytes: usize,
    /// Blocks ever removed from the front of `reply`, so deferred handles stay valid.
    pub reply_popped: u64,
    pub sentlen: usize,
    /// What the last read did, for the main thread to act on.
    pub last_read: ReadOutcome,
    /// What the last write did.
    pub last_write: WriteOutcome,
    /// A protocol error found while parsing in an I/O thread.
    pub protocol_error: Option<ProtocolError>,
}

/// The result of one read from a client's socket.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    #[default]
    None,
    /// `n` bytes arrived; `full` when the read filled its whole window.
    Data {
        n: usize,
        full: bool,
    },
    WouldBlock,
    Closed,
    Error(io::ErrorKind),
}

/// The result of one `write_to_socket`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteOutcome {
    pub written: usize,
    /// The socket could take no more (as opposed to the 64 KiB fairness limit).
    pub blocked: bool,
    pub error: Option<io::ErrorKind>,
}

/// A connected client (server.h: client).
///
/// The I/O half lives in `io` and is reached through `Deref`, so `c.argv` or
/// `c.add_reply_bulk(..)` read as in Redis. While an I/O thread holds the half, the
/// main thread is waiting for it (io_threads.rs), so no access can find it missing.
pub struct Client {
    pub id: u64,
    pub token: Token,
    pub peer: String,
    pub laddr: String,
    pub db: usize,
    pub name: Option<Bytes>,
    pub authenticated: bool,
    pub user: &'static str,
    /// The arguments as SLOWLOG should show them, kept only once a command redacts
    /// one of its arguments (server.h: client.original_argv).
    pub original_argv: Option<Vec<Bytes>>,
    pub cmd: Option<&'static RedisCommand>,
    pub lastcmd: Option<&'static RedisCommand>,
    pub obuf_soft_limit_reached_time: i64,
    // Times.
    pub ctime: i64,
    pub last_interaction: i64,
    pub write_handler_installed: bool,
    /// The commands queued since MULTI (server.h: client.mstate).
    pub mstate: crate::multi::MultiState,
    /// The keys this client WATCHes, as (db, key) (server.h: client.watched_keys).
    pub watched_keys: Vec<(usize, Bytes)>,
    /// The channels, patterns and shard channels this client subscribes to.
    pub pubsub: crate::pubsub::PubSubClient,
    /// Where this client's invalidation messages go (0: to itself).
    pub tracking_redirection: u64,
    /// The prefixes of a BCAST tracking client.
    pub tracking_prefixes: std::collections::BTreeSet<Bytes>,
    /// Why the client is blocked, if it is (server.h: client.btype).
    pub btype: crate::blocked::BlockedType,
    /// What a client blocked on keys waits for (server.h: client.bpop).
    pub bpop: crate::blocked::BlockingState,
    pub io: Option<Box<ClientIo>>,
}

impl std::ops::Deref for Client {
    type Target = ClientIo;
    #[inline]
    fn deref(&self) -> &ClientIo {
        self.io
            .as_deref()
            .expect("the client's I/O half is with an I/O thread")
    }
}

impl std::ops::DerefMut for Client {
    #[inline]
    fn deref_mut(&mut self) -> &mut ClientIo {
        self.io
            .as_deref_mut()
            .expect("the client's I/O half is with an I/O thread")
    }
}

impl Client {
    /// networking.c: createClient
    pub fn new(id: u64, token: Token, conn: Option<TcpStream>, now: i64) -> Client {
        let (peer, laddr) = match &conn {
            Some(c) => (
                c.peer_addr().map(fmt_addr).unwrap_or_else(|_| "?:0".into()),
                c.local_addr()
                    .map(fmt_addr)
                    .unwrap_or_else(|_| "?:0".into()),
            ),
            None => (String::new(), String::new()),
        };
        Client {
            id,
            token,
            peer,
            laddr,
            db: 0,
            name: None,
            authenticated: false,
            user: "default",
            original_argv: None,
            cmd: None,
            lastcmd: None,
            obuf_soft_limit_reached_time: 0,
            ctime: now,
            last_interaction: now,
            write_handler_installed: false,
            mstate: Default::default(),
            watched_keys: Vec::new(),
            pubsub: Default::default(),
            tracking_redirection: 0,
            tracking_prefixes: Default::default(),
            btype: crate::blocked::BlockedType::None,
            bpop: crate::blocked::BlockingState::default(),
            io: Some(Box::new(ClientIo {
                conn,
                flags: 0,
                resp: 2,
                querybuf: BytesMut::new(),
                querybuf_peak: 0,
                reqtype: 0,
                multibulklen: 0,
                bulklen: -1,
                argv: Vec::new(),
                argv_len_sum: 0,
                buf: Vec::with_capacity(PROTO_REPLY_CHUNK_BYTES),
                reply: VecDeque::new(),
                reply_bytes: 0,
                reply_popped: 0,
                sentlen: 0,
                last_read: ReadOutcome::None,
                last_write: WriteOutcome::default(),
                protocol_error: None,
            })),
        }
    }

    /// networking.c: resetClient (the parts this port has)
    pub fn reset(&mut self) {
        self.original_argv = None;
        if self.flags & CLIENT_TRACKING_CACHING != 0 {
            let prev = self.cmd;
            crate::tracking::reset_caching_flag(self, prev);
        }
        self.cmd = None;
        self.reset_parser();
        // CLIENT REPLY SKIP applies to exactly one command.
        if self.flags & CLIENT_REPLY_SKIP != 0 {
            self.flags &= !CLIENT_REPLY_SKIP;
        }
        if self.flags & CLIENT_REPLY_SKIP_NEXT != 0 {
            self.flags |= CLIENT_REPLY_SKIP;
            self.flags &= !CLIENT_REPLY_SKIP_NEXT;
        }
    }
}

impl ClientIo {
    /// The parser half of resetClient: forget the arguments of the last command.
    pub fn reset_parser(&mut self) {
        self.argv.clear();
        self.argv_len_sum = 0;
        self.reqtype = 0;
        self.multibulklen = 0;
        self.bulklen = -1;
    }

    /// networking.c: prepareClientToWrite (the part that needs only the client).
    ///
    /// Redis also queues the client in `clients_pending_write` here; this port does that
    /// once per processed input buffer (`queue_if_pending_write`), because a reply
    /// function has no access to the server.
    #[inline]
    pub fn prepare_client_to_write(&self) -> bool {
        // Script clients have no socket but collect replies all the same.
        if self.flags & CLIENT_SCRIPT != 0 {
            return true;
        }
        if self.flags & (CLIENT_REPLY_OFF | CLIENT_REPLY_SKIP) != 0 {
            return false;
        }
        if self.flags & CLIENT_CLOSE_AFTER_REPLY != 0 {
            return false;
        }
        self.conn.is_some()
    }

    // ANCHOR: add_reply_to_buffer_or_list
    /// networking.c: _addReplyToBufferOrList
    #[inline]
    pub fn add_reply_to_buffer_or_list(&mut self, s: &[u8]) {
        // The fixed buffer is used only while the list is empty, so order is kept.
        let mut s = s;
        if self.reply.is_empty() {
            let room = PROTO_REPLY_CHUNK_BYTES.saturating_sub(self.buf.len());
            let n = room.min(s.len());
            self.buf.extend_from_slice(&s[..n]);
            s = &s[n..];
        }
        if !s.is_empty() {
            self.add_reply_proto_to_list(s);
        }
    }

    /// networking.c: _addReplyProtoToList
    fn add_reply_proto_to_list(&mut self, mut s: &[u8]) {
        if let Some(tail) = self.reply.back_mut() {
            if !tail.fixed {
                let room = tail.buf.capacity() - tail.buf.len();
                let n = room.min(s.len());
                tail.buf.extend_from_slice(&s[..n]);
                self.reply_bytes += n;
                s = &s[n..];
            }
        }
        if !s.is_empty() {
            let mut buf = Vec::with_capacity(s.len().max(PROTO_REPLY_CHUNK_BYTES));
            buf.extend_from_slice(s);
            self.reply_bytes += s.len();
            self.reply.push_back(ReplyBlock { buf, fixed: false });
        }
    }
    // ANCHOR_END: add_reply_to_buffer_or_list

    /// networking.c: addReplyDeferredLen (the list placeholder)
    pub(crate) fn reserve_deferred_header(&mut self) -> DeferredLen {
        self.reply.push_back(ReplyBlock {
            buf: Vec::new(),
            fixed: true,
        });
        DeferredLen(self.reply_popped + self.reply.len() as u64 - 1)
    }

    /// networking.c: setDeferredReply
    pub(crate) fn fill_deferred_header(&mut self, d: DeferredLen, prefix: u8, len: usize) {
        let idx = (d.0 - self.reply_popped) as usize;
        let hdr = format!("{}{}\r\n", prefix as char, len);
        self.reply_bytes += hdr.len();
        let node = &mut self.reply[idx];
        node.buf = hdr.into_bytes();
    }

    /// networking.c: addReply with a shared object
    #[inline]
    pub fn add_reply(&mut self, s: &[u8]) {
        self.add_reply_proto(s);
    }

    /// All reply bytes produced so far, in order (for script clients and tests).
    pub fn reply_bytes_concat(&self) -> Vec<u8> {
        let mut out = self.buf.clone();
        for b in &self.reply {
            out.extend_from_slice(&b.buf);
        }
        out
    }

    /// networking.c: clientHasPendingReplies
    #[inline]
    pub fn has_pending_replies(&self) -> bool {
        !self.buf.is_empty() || !self.reply.is_empty()
    }

    /// networking.c: getClientOutputBufferMemoryUsage (bytes held in the reply list)
    pub fn output_buffer_memory_usage(&self) -> usize {
        self.reply_bytes
    }
}

impl Client {
    /// networking.c: redactClientCommandArgument
    ///
    /// Hides argument `idx` (a password) from SLOWLOG: the log shows "(redacted)" in
    /// its place. argv itself is untouched, the command still needs the value.
    pub fn redact_command_argument(&mut self, idx: usize) {
        if self.original_argv.is_none() {
            let argv = self.argv.clone();
            self.original_argv = Some(argv);
        }
        if let Some(orig) = self.original_argv.as_mut() {
            orig[idx] = Bytes::from_static(b"(redacted)");
        }
    }
}

fn fmt_addr(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => format!("{}:{}", v.ip(), v.port()),
        SocketAddr::V6(v) => format!("{}:{}", v.ip(), v.port()),
    }
}

/// Why a query could not be parsed (the reply text and the log reason of setProtocolError).
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolError {
    /// Bytes, not text: "expected '$', got '%c'" quotes whatever byte the client sent.
    pub reply: Vec<u8>,
    pub reason: &'static str,
}

fn protocol_error(reply: impl Into<Vec<u8>>, reason: &'static str) -> Result<bool, ProtocolError> {
    Err(ProtocolError {
        reply: reply.into(),
        reason,
    })
}

/// Where `ch` first occurs in `buf`, searching as C's strchr does on Redis's query
/// buffer: the search ends at a NUL byte, so a NUL before `ch` means "not found yet".
fn strchr(buf: &[u8], ch: u8) -> Option<usize> {
    match buf.iter().position(|&b| b == ch || b == 0) {
        Some(p) if buf[p] == ch => Some(p),
        _ => None,
    }
}

/// What parsing needs to know about the server and the client's login state.
#[derive(Clone, Copy)]
pub struct ParseLimits {
    pub proto_max_bulk_len: i64,
    pub auth_required: bool,
}

// ANCHOR: process_inline_buffer
/// networking.c: processInlineBuffer
///
/// Returns Ok(true) when a whole line was consumed into `argv` (possibly empty),
/// Ok(false) when more bytes are needed.
pub fn process_inline_buffer(c: &mut ClientIo) -> Result<bool, ProtocolError> {
    let Some(nl) = strchr(&c.querybuf, b'\n') else {
        if c.querybuf.len() > PROTO_INLINE_MAX_SIZE {
            return protocol_error(
                "Protocol error: too big inline request",
                "too big inline request",
            );
        }
        return Ok(false);
    };
    let mut end = nl;
    if end > 0 && c.querybuf[end - 1] == b'\r' {
        end -= 1;
    }
    let Some(args) = split_args(&c.querybuf[..end]) else {
        return protocol_error(
            "Protocol error: unbalanced quotes in request",
            "unbalanced quotes in inline request",
        );
    };
    c.querybuf.advance(nl + 1);
    c.argv_len_sum = args.iter().map(|a| a.len()).sum();
    c.argv = args.into_iter().map(Bytes::from).collect();
    Ok(true)
}
// ANCHOR_END: process_inline_buffer

/// sds.c: sdssplitargs (the inline protocol's tokenizer: quotes, escapes, \xHH)
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    // The C original reads a C string: a NUL byte ends the line.
    let line = &line[..line.iter().position(|&b| b == 0).unwrap_or(line.len())];
    // C's isspace(): Rust's is_ascii_whitespace() lacks the vertical tab.
    let is_c_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let mut out = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && is_c_space(line[i]) {
            i += 1;
        }
        if i >= n {
            return Some(out);
        }
        let mut cur = Vec::new();
        let (mut inq, mut insq) = (false, false);
        loop {
            if inq {
                if i >= n {
                    return None;
                }
                if line[i] == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && line[i + 2].is_ascii_hexdigit()
                    && line[i + 3].is_ascii_hexdigit()
                {
                    let h = |b: u8| (b as char).to_digit(16).unwrap() as u8;
                    cur.push(h(line[i + 2]) * 16 + h(line[i + 3]));
                    i += 3;
                } else if line[i] == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if line[i] == b'"' {
                    // A closing quote must be followed by a space or the end.
                    if i + 1 < n && !is_c_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(line[i]);
                }
            } else if insq {
                if i >= n {
                    return None;
                }
                if line[i] == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if line[i] == b'\'' {
                    if i + 1 < n && !is_c_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(line[i]);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        i += 1;
                        break;
                    }
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    b => cur.push(b),
                }
            }
            i += 1;
        }
        out.push(cur);
    }
}

// ANCHOR: process_multibulk_buffer
/// networking.c: processMultibulkBuffer
///
/// Returns Ok(true) when a whole command is in `argv` (or `*0`/`*-1` was skipped),
/// Ok(false) when more bytes are needed.
pub fn process_multibulk_buffer(
    c: &mut ClientIo,
    limits: ParseLimits,
) -> Result<bool, ProtocolError> {
    if c.multibulklen == 0 {
        let Some(cr) = strchr(&c.querybuf, b'\r') else {
            if c.querybuf.len() > PROTO_INLINE_MAX_SIZE {
                return protocol_error(
                    "Protocol error: too big mbulk count string",
                    "too big mbulk count string",
                );
            }
            return Ok(false);
        };
        // The "\r\n" must be complete.
        if cr + 2 > c.querybuf.len() {
            return Ok(false);
        }
        let ll = match util::string2ll(&c.querybuf[1..cr]) {
            Some(ll) if ll <= i32::MAX as i64 => ll,
            _ => {
                return protocol_error(
                    "Protocol error: invalid multibulk length",
                    "invalid mbulk count",
                )
            }
        };
        if ll > 10 && limits.auth_required {
            return protocol_error(
                "Protocol error: unauthenticated multibulk length",
                "unauth mbulk count",
            );
        }
        c.querybuf.advance(cr + 2);
        if ll <= 0 {
            // "*0" and "*-1" are valid and mean nothing to do.
            return Ok(true);
        }
        c.multibulklen = ll;
        c.argv.clear();
        c.argv.reserve((ll as usize).min(1024));
        c.argv_len_sum = 0;
    }

    while c.multibulklen > 0 {
        if c.bulklen == -1 {
            let Some(cr) = strchr(&c.querybuf, b'\r') else {
                if c.querybuf.len() > PROTO_INLINE_MAX_SIZE {
                    return protocol_error(
                        "Protocol error: too big bulk count string",
                        "too big bulk count string",
                    );
                }
                break;
            };
            if cr + 2 > c.querybuf.len() {
                break;
            }
            if c.querybuf[0] != b'$' {
                let mut reply = b"Protocol error: expected '$', got '".to_vec();
                reply.push(c.querybuf[0]);
                reply.push(b'\'');
                return protocol_error(reply, "expected $ but got something else");
            }
            let ll = match util::string2ll(&c.querybuf[1..cr]) {
                Some(ll) if ll >= 0 && ll <= limits.proto_max_bulk_len => ll,
                _ => {
                    return protocol_error(
                        "Protocol error: invalid bulk length",
                        "invalid bulk length",
                    )
                }
            };
            if ll > 16384 && limits.auth_required {
                return protocol_error(
                    "Protocol error: unauthenticated bulk length",
                    "unauth bulk length",
                );
            }
            c.querybuf.advance(cr + 2);
            let ll = ll as usize;
            if ll >= PROTO_MBULK_BIG_ARG && c.querybuf.len() <= ll + 2 {
                // A big argument gets a buffer of exactly its size, so it can be
                // taken whole as argv without a copy (readQueryFromClient reads
                // only what is missing).
                let need = ll + 2 - c.querybuf.len();
                c.querybuf.reserve(need);
            }
            c.bulklen = ll as i64;
        }
        let bl = c.bulklen as usize;
        if c.querybuf.len() < bl + 2 {
            break;
        }
        let arg = c.querybuf.split_to(bl).freeze();
        c.querybuf.advance(2);
        c.argv_len_sum += bl;
        c.argv.push(arg);
        c.bulklen = -1;
        c.multibulklen -= 1;
    }
    Ok(c.multibulklen == 0)
}
// ANCHOR_END: process_multibulk_buffer

/// networking.c: setProtocolError
fn set_protocol_error(s: &mut Server, c: &mut Client, e: &ProtocolError) {
    crate::resp::add_reply_error_length(s, c, &e.reply);
    if s.verbosity <= crate::server::LL_VERBOSE {
        crate::server_log!(
            s,
            crate::server::LL_VERBOSE,
            "Protocol error ({}) from client: id={} addr={}",
            e.reason,
            c.id,
            c.peer
        );
    }
    c.flags |= CLIENT_CLOSE_AFTER_REPLY;
    c.reset();
    c.querybuf.clear();
}

/// The dispatch at the top of processInputBuffer's loop: pick the protocol from the
/// first byte, then run the matching parser.
fn parse_one_command(io: &mut ClientIo, limits: ParseLimits) -> Result<bool, ProtocolError> {
    if io.reqtype == 0 {
        io.reqtype = if io.querybuf[0] == b'*' {
            PROTO_REQ_MULTIBULK
        } else {
            PROTO_REQ_INLINE
        };
    }
    if io.reqtype == PROTO_REQ_INLINE {
        process_inline_buffer(io)
    } else {
        process_multibulk_buffer(io, limits)
    }
}

// ANCHOR: process_input_buffer
/// networking.c: processInputBuffer
///
/// Parses as many commands as the buffer holds and runs each one to completion
/// before parsing the next. Returns false when the client was freed.
pub fn process_input_buffer(s: &mut Server, c: &mut Client) -> bool {
    while !c.querybuf.is_empty() {
        // A blocked (paused) client keeps its buffer until it is released.
        if c.flags & CLIENT_BLOCKED != 0 {
            break;
        }
        if c.flags & (CLIENT_CLOSE_AFTER_REPLY | CLIENT_CLOSE_ASAP) != 0 {
            break;
        }
        let limits = parse_limits(s.config.proto_max_bulk_len, s.auth_required(c));
        let parsed = parse_one_command(c, limits);
        match parsed {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                set_protocol_error(s, c, &e);
                break;
            }
        }
        trace!(argc = c.argv.len(), "parsed");
        if c.argv.is_empty() {
            // An empty line or "*0": nothing to run.
            c.reset();
        } else if !server::process_command_and_reset_client(s, c) {
            return false;
        }
    }
    true
}
// ANCHOR_END: process_input_buffer

// ANCHOR: read_query_from_client
/// networking.c: readQueryFromClient
///
/// One read of at most 16 KiB per readable event, as Redis. When the read fills the
/// whole window the socket may hold more: the client is marked still-readable so the
/// event loop serves it again on its next turn (mio is edge-triggered, epoll in Redis
/// is level-triggered; see ae.rs). With threaded reads on, the client is only queued
/// here; an I/O thread reads it in before_sleep.
pub fn read_query_from_client(s: &mut Server, token: Token) {
    let Some(mut c) = s.take_client(token) else {
        return;
    };
    if io_threads::postpone_client_read(s, token, c.id, c.flags & CLIENT_BLOCKED != 0) {
        s.put_client(c);
        return;
    }
    let _span = debug_span!("read_query_from_client", client = c.id).entered();
    read_from_socket(&mut c);
    if !after_read(s, &mut c) {
        free_client(s, c);
        return;
    }
    if process_input_buffer(s, &mut c) {
        s.put_client(c);
    }
}
// ANCHOR_END: read_query_from_client

// ANCHOR: read_from_socket
/// networking.c: readQueryFromClient, the half that touches only the client: decide
/// how much to read and read it. Runs on the main thread or on an I/O thread.
pub fn read_from_socket(io: &mut ClientIo) {
    let mut readlen = PROTO_IOBUF_LEN;
    // Reading the rest of a big argument: read exactly what is missing, so the
    // buffer ends where the argument ends and it can be taken without a copy.
    if io.reqtype == PROTO_REQ_MULTIBULK
        && io.multibulklen > 0
        && io.bulklen >= PROTO_MBULK_BIG_ARG as i64
    {
        let missing = (io.bulklen as usize + 2).saturating_sub(io.querybuf.len());
        if missing > 0 {
            readlen = missing;
        }
    }
    let res = match io.conn.as_mut() {
        Some(conn) => read_into_spare(conn, &mut io.querybuf, readlen),
        None => Ok(0),
    };
    io.last_read = match res {
        Ok(0) => ReadOutcome::Closed,
        Ok(n) => ReadOutcome::Data {
            n,
            full: n == readlen,
        },
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => ReadOutcome::WouldBlock,
        Err(e) => ReadOutcome::Error(e.kind()),
    };
    if let ReadOutcome::Data { .. } = io.last_read {
        io.querybuf_peak = io.querybuf_peak.max(io.querybuf.len());
    }
}
// ANCHOR_END: read_from_socket

/// The main thread's half of readQueryFromClient: statistics, closing, the query
/// buffer limit. Returns false when the client must be freed.
fn after_read(s: &mut Server, c: &mut Client) -> bool {
    s.stat_total_reads_processed += 1;
    match c.last_read {
        ReadOutcome::Closed => {
            crate::server_log!(
                s,
                crate::server::LL_VERBOSE,
                "Client closed connection id={} addr={}",
                c.id,
                c.peer
            );
            return false;
        }
        ReadOutcome::Error(io::ErrorKind::Interrupted) => {
            s.el.mark_still_ready(c.token, AE_READABLE);
        }
        ReadOutcome::Error(kind) => {
            crate::server_log!(
                s,
                crate::server::LL_VERBOSE,
                "Reading from client: {:?}",
                kind
            );
            return false;
        }
        ReadOutcome::Data { n, full } => {
            trace!(bytes = n, "read");
            if full {
                s.el.mark_still_ready(c.token, AE_READABLE);
            }
            c.last_interaction = s.unixtime;
            s.stat_net_input_bytes += n as u64;
        }
        ReadOutcome::WouldBlock | ReadOutcome::None => {}
    }
    if c.querybuf.len() > s.config.client_max_querybuf_len {
        crate::server_log!(
            s,
            crate::server::LL_WARNING,
            "Closing client that reached max query buffer length: id={} addr={} (qbuf initial bytes: {:?})",
            c.id,
            c.peer,
            String::from_utf8_lossy(&c.querybuf[..c.querybuf.len().min(64)])
        );
        return false;
    }
    true
}

// ANCHOR: read_and_parse_in_thread
/// networking.c: readQueryFromClient and processInputBuffer as an I/O thread runs
/// them (io_threads_op == IO_THREADS_OP_READ): read, then parse at most one command
/// and flag it CLIENT_PENDING_COMMAND. Running it is the main thread's job.
pub fn read_and_parse_in_thread(
    io: &mut ClientIo,
    id: u64,
    limits: ParseLimits,
    max_querybuf_len: usize,
) {
    let _span = debug_span!("read_query_from_client", client = id).entered();
    read_from_socket(io);
    if !matches!(io.last_read, ReadOutcome::Data { .. }) {
        return;
    }
    // Over client-query-buffer-limit: parse nothing, so the main thread still sees
    // the whole buffer and closes the client (Redis checks in the thread, too).
    if io.querybuf.len() > max_querybuf_len {
        return;
    }
    while !io.querybuf.is_empty() {
        if io.flags & (CLIENT_CLOSE_AFTER_REPLY | CLIENT_CLOSE_ASAP | CLIENT_BLOCKED) != 0 {
            break;
        }
        match parse_one_command(io, limits) {
            Ok(true) if io.argv.is_empty() => io.reset_parser(),
            Ok(true) => {
                trace!(argc = io.argv.len(), "parsed");
                io.flags |= CLIENT_PENDING_COMMAND;
                break;
            }
            Ok(false) => break,
            Err(e) => {
                io.protocol_error = Some(e);
                break;
            }
        }
    }
}
// ANCHOR_END: read_and_parse_in_thread

/// networking.c: handleClientsWithPendingReadsUsingThreads, the part after the
/// threads are done, for one client: act on the read, then
/// processPendingCommandAndInputBuffer.
pub fn after_threaded_read(s: &mut Server, token: Token, id: u64) {
    let Some(mut c) = s.take_client(token) else {
        return;
    };
    if c.id != id {
        s.put_client(c);
        return;
    }
    if !after_read(s, &mut c) {
        free_client(s, c);
        return;
    }
    if let Some(e) = c.protocol_error.take() {
        set_protocol_error(s, &mut c, &e);
    }
    if c.flags & CLIENT_PENDING_COMMAND != 0 {
        c.flags &= !CLIENT_PENDING_COMMAND;
        if !server::process_command_and_reset_client(s, &mut c) {
            return;
        }
    }
    if process_input_buffer(s, &mut c) {
        s.put_client(c);
    }
}

/// What the parser needs to know about the server and this client.
pub fn parse_limits(proto_max_bulk_len: i64, auth_required: bool) -> ParseLimits {
    ParseLimits {
        proto_max_bulk_len,
        auth_required,
    }
}

/// Read at most `readlen` bytes from `conn` into the spare capacity of `buf`.
fn read_into_spare(conn: &mut TcpStream, buf: &mut BytesMut, readlen: usize) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    buf.reserve(readlen);
    let spare = buf.spare_capacity_mut();
    let len = readlen.min(spare.len());
    // SAFETY: the kernel writes at most `len` bytes into memory we own; only the `n`
    // bytes it reports written become part of the buffer.
    let n = unsafe { libc::read(conn.as_raw_fd(), spare.as_mut_ptr().cast(), len) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

/// Queue a client that has replies waiting (the queueing half of prepareClientToWrite).
pub fn queue_if_pending_write(s: &mut Server, c: &mut Client) {
    if c.flags & CLIENT_PENDING_WRITE == 0 && !c.write_handler_installed && c.has_pending_replies()
    {
        c.flags |= CLIENT_PENDING_WRITE;
        s.clients_pending_write.push((c.token, c.id));
    }
}

// ANCHOR: write_to_client
/// networking.c: writeToClient
///
/// Writes the fixed buffer and then the reply list (write, or writev when the list
/// holds blocks too), at most 64 KiB per call, then does the main thread's
/// bookkeeping. Returns None when the client was
/// freed.
pub fn write_to_client(
    s: &mut Server,
    mut c: Box<Client>,
    handler_installed: bool,
) -> Option<Box<Client>> {
    let id = c.id;
    write_to_socket(&mut c, id);
    after_write(s, c, handler_installed)
}
// ANCHOR_END: write_to_client

// ANCHOR: write_to_socket
/// networking.c: writeToClient, the half that touches only the client: the write
/// loop (_writeToClient). Runs on the main thread or on an I/O thread.
pub fn write_to_socket(io: &mut ClientIo, id: u64) {
    let _span = debug_span!("write_to_client", client = id).entered();
    let mut out = WriteOutcome::default();
    while io.has_pending_replies() {
        let Some(conn) = io.conn.as_mut() else { break };
        let res = {
            // The fixed buffer, then the list, in one writev (networking.c: _writevToClient);
            // a stack array keeps the hot path free of allocation.
            let mut slices = [IoSlice::new(&[]); IOV_MAX];
            let mut nslices = 0;
            let mut queued = 0usize;
            let mut skip = io.sentlen;
            if !io.buf.is_empty() {
                slices[0] = IoSlice::new(&io.buf[skip..]);
                nslices = 1;
                queued = io.buf.len() - skip;
                skip = 0;
            }
            for block in io.reply.iter() {
                if queued >= NET_MAX_WRITES_PER_EVENT || nslices == IOV_MAX {
                    break;
                }
                let b = &block.buf[skip..];
                skip = 0;
                if !b.is_empty() {
                    slices[nslices] = IoSlice::new(b);
                    nslices += 1;
                    queued += b.len();
                }
            }
            if queued == 0 {
                Ok(0)
            } else if nslices == 1 {
                // One slice is a plain write(2), as _writeToClient does when the reply
                // list is empty: the kernel's writev path costs more per call.
                conn.write(&slices[0])
            } else {
                conn.write_vectored(&slices[..nslices])
            }
        };
        match res {
            Ok(n) => {
                io.consume_written(n);
                out.written += n;
                if n == 0 {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                out.blocked = true;
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                out.error = Some(e.kind());
                break;
            }
        }
        // Fairness: let other clients be served; resume on the next loop turn.
        if out.written > NET_MAX_WRITES_PER_EVENT {
            break;
        }
    }
    trace!(bytes = out.written, "wrote");
    io.last_write = out;
}
// ANCHOR_END: write_to_socket

/// The main thread's half of writeToClient: statistics, closing, and the write
/// handler for what is left. Returns None when the client was freed.
fn after_write(s: &mut Server, mut c: Box<Client>, handler_installed: bool) -> Option<Box<Client>> {
    let out = c.last_write;
    s.stat_total_writes_processed += 1;
    s.stat_net_output_bytes += out.written as u64;
    if let Some(e) = out.error {
        crate::server_log!(
            s,
            crate::server::LL_VERBOSE,
            "Error writing to client: {:?}",
            e
        );
        free_client(s, c);
        return None;
    }
    if out.written > 0 {
        c.last_interaction = s.unixtime;
    }
    if !c.has_pending_replies() {
        c.sentlen = 0;
        if handler_installed || c.write_handler_installed {
            uninstall_write_handler(s, &mut c);
        }
        if c.flags & CLIENT_CLOSE_AFTER_REPLY != 0 {
            free_client(s, c);
            return None;
        }
    } else if !out.blocked {
        // Stopped by the per-event limit, not by the socket: come back next turn.
        if c.write_handler_installed {
            s.el.mark_still_ready(c.token, AE_WRITABLE);
        } else {
            install_write_handler(s, &mut c);
        }
    }
    Some(c)
}

/// handleClientsWithPendingWritesUsingThreads, the part after the threads are done,
/// for one client: bookkeeping, and a write handler if replies are left.
pub fn after_threaded_write(s: &mut Server, token: Token, id: u64) {
    let Some(c) = s.take_client(token) else {
        return;
    };
    if c.id != id {
        s.put_client(c);
        return;
    }
    if let Some(mut c) = after_write(s, c, false) {
        if c.has_pending_replies() && !c.write_handler_installed {
            install_write_handler(s, &mut c);
        }
        s.put_client(c);
    }
}

impl ClientIo {
    /// Drop `n` written bytes from the front of the output (the bookkeeping of _writeToClient).
    fn consume_written(&mut self, mut n: usize) {
        if !self.buf.is_empty() {
            let left = self.buf.len() - self.sentlen;
            if n < left {
                self.sentlen += n;
                return;
            }
            n -= left;
            self.buf.clear();
            self.sentlen = 0;
        }
        while let Some(front) = self.reply.front() {
            if front.fixed && front.buf.is_empty() {
                // An unfilled placeholder never leaves: cannot happen after a command ends.
                break;
            }
            let left = front.buf.len() - self.sentlen;
            if n >= left {
                n -= left;
                self.reply_bytes -= front.buf.len();
                self.reply.pop_front();
                self.reply_popped += 1;
                self.sentlen = 0;
            } else {
                self.sentlen += n;
                break;
            }
        }
    }
}

/// networking.c: connSetWriteHandler(c->conn, sendReplyToClient)
fn install_write_handler(s: &mut Server, c: &mut Client) {
    let token = c.token;
    // Under appendfsync always a reply must not leave in the turn that produced it,
    // before before_sleep has fsynced the AOF (networking.c: ae_barrier).
    let barrier = if s.aof.state == crate::aof::AOF_ON
        && s.config.appendfsync == crate::aof::AOF_FSYNC_ALWAYS
    {
        crate::ae::AE_BARRIER
    } else {
        0
    };
    if let Some(conn) = c.conn.as_mut() {
        if s.el
            .create_file_event(conn, token, AE_WRITABLE | barrier, send_reply_to_client)
            .is_ok()
        {
            c.write_handler_installed = true;
        }
    }
}

/// networking.c: connSetWriteHandler(c->conn, NULL)
fn uninstall_write_handler(s: &mut Server, c: &mut Client) {
    let token = c.token;
    if let Some(conn) = c.conn.as_mut() {
        let _ = s.el.delete_file_event(conn, token, AE_WRITABLE);
    }
    c.write_handler_installed = false;
}

/// networking.c: sendReplyToClient
pub fn send_reply_to_client(s: &mut Server, token: Token) {
    let Some(c) = s.take_client(token) else {
        return;
    };
    if let Some(c) = write_to_client(s, c, true) {
        s.put_client(c);
    }
}

// ANCHOR: handle_clients_with_pending_writes
/// networking.c: handleClientsWithPendingWrites
///
/// Called from before_sleep: try to write each pending client's replies straight away,
/// and install a write handler only for a client whose socket could not take them all.
pub fn handle_clients_with_pending_writes(s: &mut Server) -> usize {
    let pending = std::mem::take(&mut s.clients_pending_write);
    let processed = pending.len();
    for &(token, id) in &pending {
        let Some(mut c) = s.take_client(token) else {
            continue;
        };
        if c.id != id {
            s.put_client(c);
            continue;
        }
        c.flags &= !CLIENT_PENDING_WRITE;
        if c.flags & CLIENT_PROTECTED != 0 || c.flags & CLIENT_CLOSE_ASAP != 0 {
            s.put_client(c);
            continue;
        }
        if let Some(c) = write_to_client(s, c, false) {
            let mut c = c;
            if c.has_pending_replies() && !c.write_handler_installed {
                install_write_handler(s, &mut c);
            }
            s.put_client(c);
        }
    }
    // Reuse the allocation.
    let mut pending = pending;
    pending.clear();
    if s.clients_pending_write.is_empty() {
        s.clients_pending_write = pending;
    }
    processed
}
// ANCHOR_END: handle_clients_with_pending_writes

/// networking.c: freeClient
pub fn free_client(s: &mut Server, mut c: Box<Client>) {
    // A departing client's transaction and watches go with it.
    crate::multi::free_client_multi_state(&mut c);
    crate::multi::unwatch_all_keys(s, &mut c);
    s.pending_dirty_cas.retain(|p| p.1 != c.id);
    crate::pubsub::free_client_pubsub(s, &mut c);
    if c.flags & CLIENT_MONITOR != 0 {
        s.monitors.retain(|m| m.1 != c.id);
    }
    crate::tracking::disable_tracking(s, &mut c);
    s.clients_index.remove(&c.id);
    // A blocked client leaves every waiting list, so the next push goes to the
    // next waiter; an unblocked one is dropped from the reprocessing queue.
    if c.flags & CLIENT_BLOCKED != 0 {
        crate::blocked::unblock_client(s, &mut c);
    }
    if c.flags & CLIENT_UNBLOCKED != 0 {
        let id = c.id;
        s.bstate.unblocked_clients.retain(|&(_, x)| x != id);
    }
    if let Some(mut conn) = c.conn.take() {
        let _ =
            s.el.delete_file_event(&mut conn, c.token, AE_READABLE | AE_WRITABLE);
        let _ = conn.shutdown(std::net::Shutdown::Both);
    }
    s.on_client_freed(&c);
}

/// networking.c: freeClientAsync
pub fn free_client_async(s: &mut Server, c: &mut Client) {
    if c.flags & CLIENT_CLOSE_ASAP == 0 {
        c.flags |= CLIENT_CLOSE_ASAP;
        s.clients_to_close.push((c.token, c.id));
    }
}

/// networking.c: freeClientsInAsyncFreeQueue
pub fn free_clients_in_async_free_queue(s: &mut Server) -> usize {
    let queue = std::mem::take(&mut s.clients_to_close);
    let n = queue.len();
    for (token, id) in queue {
        if let Some(c) = s.take_client(token) {
            if c.id == id {
                free_client(s, c);
            } else {
                s.put_client(c);
            }
        }
    }
    n
}

/// The error Redis writes to a client refused in protected mode (networking.c: clientAcceptHandler).
const DENIED_PROTECTED_MODE: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a bind address or an authentication password. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

// ANCHOR: accept_tcp_handler
/// networking.c: acceptTcpHandler
///
/// Accepts up to 1000 connections per event; any left stay queued for the next turn.
pub fn accept_tcp_handler(s: &mut Server, token: Token) {
    let li = s.listener_index(token);
    for _ in 0..MAX_ACCEPTS_PER_CALL {
        let res = s.listeners[li].accept();
        match res {
            Ok((stream, addr)) => {
                crate::server_log!(s, crate::server::LL_VERBOSE, "Accepted {}", fmt_addr(addr));
                accept_common_handler(s, stream, addr);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                crate::server_log!(
                    s,
                    crate::server::LL_WARNING,
                    "Accepting client connection: {}",
                    e
                );
                return;
            }
        }
    }
    // Hit the per-call limit: more may be waiting.
    s.el.mark_still_ready(token, AE_READABLE);
}
// ANCHOR_END: accept_tcp_handler

/// networking.c: acceptCommonHandler
fn accept_common_handler(s: &mut Server, mut stream: TcpStream, addr: SocketAddr) {
    // The count includes this connection, as Redis's does after createClient.
    if s.connected_clients() + 1 > s.config.maxclients as usize {
        let _ = stream.write_all(b"-ERR max number of clients reached\r\n");
        s.stat_rejected_conn += 1;
        return;
    }
    if s.config.protected_mode && s.config.requirepass.is_none() && !addr.ip().is_loopback() {
        let _ = stream.write_all(DENIED_PROTECTED_MODE.as_bytes());
        s.stat_rejected_conn += 1;
        return;
    }
    let _ = stream.set_nodelay(true);
    s.stat_numconnections += 1;
    let token = s.alloc_client_token();
    let id = s.next_client_id;
    s.next_client_id += 1;
    let mut c = Box::new(Client::new(id, token, Some(stream), s.unixtime));
    c.authenticated = s.config.requirepass.is_none();
    let conn = c.conn.as_mut().unwrap();
    if s.el
        .create_file_event(conn, token, AE_READABLE, read_query_from_client)
        .is_err()
    {
        s.release_client_token(token);
        return;
    }
    trace!(client = id, "accepted");
    s.clients_index.insert(id, token);
    s.put_client(c);
}

/// networking.c: catClientInfoString (one line of CLIENT LIST)
pub fn cat_client_info_string(s: &Server, c: &Client) -> String {
    let mut flags = String::new();
    if c.flags & CLIENT_SLAVE != 0 {
        flags.push(if c.flags & CLIENT_MONITOR != 0 {
            'O'
        } else {
            'S'
        });
    }
    if c.flags & CLIENT_PUBSUB != 0 {
        flags.push('P');
    }
    if c.flags & CLIENT_MULTI != 0 {
        flags.push('x');
    }
    if c.flags & CLIENT_BLOCKED != 0 {
        flags.push('b');
    }
    if c.flags & CLIENT_TRACKING != 0 {
        flags.push('t');
    }
    if c.flags & CLIENT_TRACKING_BROKEN_REDIR != 0 {
        flags.push('R');
    }
    if c.flags & CLIENT_TRACKING_BCAST != 0 {
        flags.push('B');
    }
    if c.flags & CLIENT_DIRTY_CAS != 0 {
        flags.push('d');
    }
    if c.flags & CLIENT_CLOSE_AFTER_REPLY != 0 {
        flags.push('c');
    }
    if c.flags & CLIENT_UNBLOCKED != 0 {
        flags.push('u');
    }
    if c.flags & CLIENT_CLOSE_ASAP != 0 {
        flags.push('A');
    }
    if c.flags & CLIENT_NO_EVICT != 0 {
        flags.push('e');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let mut events = String::new();
    if c.conn.is_some() {
        events.push('r');
    }
    if c.write_handler_installed {
        events.push('w');
    }
    let cmd = c.lastcmd.map(|c| c.fullname).unwrap_or("NULL");
    let obl = if c.reply.is_empty() { c.buf.len() } else { 0 };
    let oll = c.reply.len();
    let omem = c.reply_bytes;
    let qbuf = c.querybuf.len();
    let qbuf_free = c.querybuf.capacity() - c.querybuf.len();
    let argv_mem = c.argv_len_sum;
    let multi_mem = c.mstate.argv_len_sums;
    let tot_mem = omem
        + qbuf
        + qbuf_free
        + argv_mem
        + crate::multi::multi_state_mem_overhead(c)
        + crate::pubsub::pubsub_mem_overhead(c)
        + c.buf.capacity()
        + std::mem::size_of::<Client>();
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl={} oll={} omem={} tot-mem={} events={} cmd={} user={} redir={} resp={}",
        c.id,
        c.peer,
        c.laddr,
        c.token.0 + 8,
        c.name.as_ref().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default(),
        s.unixtime - c.ctime,
        s.unixtime - c.last_interaction,
        flags,
        c.db,
        c.pubsub.channels.len(),
        c.pubsub.patterns.len(),
        c.pubsub.shard_channels.len(),
        if c.flags & CLIENT_MULTI != 0 {
            c.mstate.commands.len() as i64
        } else {
            -1
        },
        qbuf,
        qbuf_free,
        argv_mem,
        multi_mem,
        c.buf.capacity(),
        c.querybuf_peak,
        obl,
        oll,
        omem,
        tot_mem,
        events,
        cmd,
        c.user,
        if c.flags & CLIENT_TRACKING != 0 {
            c.tracking_redirection as i64
        } else {
            -1
        },
        c.resp
    )
}

/// networking.c: checkClientOutputBufferLimits (normal and pub/sub clients)
///
/// Returns true when the client's output exceeds the hard limit, or the soft limit
/// for longer than the configured seconds.
pub fn check_client_output_buffer_limits(s: &Server, c: &mut Client) -> bool {
    let used = c.output_buffer_memory_usage() as u64;
    // Subscribers have their own class: a slow reader of a busy channel is cut off.
    let lim = if get_client_type(c) == 2 {
        s.config.client_obuf_limits_pubsub
    } else {
        s.config.client_obuf_limits_normal
    };
    let hard = lim.hard > 0 && used >= lim.hard;
    let mut soft = lim.soft > 0 && used >= lim.soft;
    if soft {
        if c.obuf_soft_limit_reached_time == 0 {
            c.obuf_soft_limit_reached_time = s.unixtime;
            soft = false;
        } else if s.unixtime - c.obuf_soft_limit_reached_time <= lim.soft_seconds as i64 {
            soft = false;
        }
    } else {
        c.obuf_soft_limit_reached_time = 0;
    }
    hard || soft
}

/// networking.c: closeClientOnOutputBufferLimitReached
pub fn close_client_on_output_buffer_limit_reached(s: &mut Server, c: &mut Client) -> bool {
    if c.reply_bytes == 0 || c.flags & CLIENT_CLOSE_ASAP != 0 {
        return false;
    }
    if check_client_output_buffer_limits(s, c) {
        crate::server_log!(
            s,
            crate::server::LL_WARNING,
            "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits.",
            c.id,
            c.peer
        );
        free_client_async(s, c);
        return true;
    }
    false
}

/// Reply helper used by commands that answer a shared error object.
pub fn reject_command_error(s: &mut Server, c: &mut Client, err: &str) {
    add_reply_error_object(s, c, err);
}

/// networking.c: clientSetName (names may not hold spaces, newlines or specials)
fn client_set_name_or_reply(s: &mut Server, c: &mut Client, name: &Bytes) -> bool {
    if name.is_empty() {
        c.name = None;
        return true;
    }
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        add_reply_error(
            s,
            c,
            "Client names cannot contain spaces, newlines or special characters.",
        );
        return false;
    }
    c.name = Some(name.clone());
    true
}

/// networking.c: getClientTypeByName
fn get_client_type_by_name(name: &[u8]) -> Option<u8> {
    match name.to_ascii_lowercase().as_slice() {
        b"normal" => Some(0),
        b"slave" | b"replica" => Some(1),
        b"pubsub" => Some(2),
        b"master" => Some(3),
        _ => None,
    }
}

/// networking.c: getClientType
fn get_client_type(c: &Client) -> u8 {
    if c.flags & CLIENT_SLAVE != 0 && c.flags & CLIENT_MONITOR == 0 {
        1
    } else if c.flags & CLIENT_PUBSUB != 0 {
        2
    } else {
        0
    }
}

const CLIENT_HELP: &[&str] = &[
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
];

/// networking.c: clientCommand (every subcommand shares this proc, as in Redis 7.0)
pub fn client_command(s: &mut Server, c: &mut Client) {
    use crate::resp::{add_reply_help, add_reply_subcommand_syntax_error, shared};
    let sub = c.argv[1].to_ascii_lowercase();
    let argc = c.argv.len();
    match (sub.as_slice(), argc) {
        (b"help", 2) => add_reply_help(c, CLIENT_HELP),
        (b"id", 2) => {
            let id = c.id as i64;
            c.add_reply_long_long(id)
        }
        (b"info", 2) => {
            let mut o = cat_client_info_string(s, c);
            o.push('\n');
            c.add_reply_verbatim(o.as_bytes(), "txt");
        }
        (b"list", _) => {
            let mut out = String::new();
            if argc == 4 && c.argv[2].eq_ignore_ascii_case(b"type") {
                let Some(t) = get_client_type_by_name(&c.argv[3]) else {
                    let msg = format!(
                        "Unknown client type '{}'",
                        String::from_utf8_lossy(&c.argv[3])
                    );
                    add_reply_error(s, c, &msg);
                    return;
                };
                for_each_client(s, c, |s, cl| {
                    if get_client_type(cl) == t {
                        out.push_str(&cat_client_info_string(s, cl));
                        out.push('\n');
                    }
                });
            } else if argc > 3 && c.argv[2].eq_ignore_ascii_case(b"id") {
                let mut ids = Vec::new();
                for j in 3..argc {
                    match util::string2ll(&c.argv[j]) {
                        Some(id) => ids.push(id as u64),
                        None => {
                            add_reply_error(s, c, "Invalid client ID");
                            return;
                        }
                    }
                }
                for id in ids {
                    for_each_client(s, c, |s, cl| {
                        if cl.id == id {
                            out.push_str(&cat_client_info_string(s, cl));
                            out.push('\n');
                        }
                    });
                }
            } else if argc != 2 {
                add_reply_error(s, c, shared::SYNTAXERR);
                return;
            } else {
                for_each_client(s, c, |s, cl| {
                    out.push_str(&cat_client_info_string(s, cl));
                    out.push('\n');
                });
            }
            c.add_reply_verbatim(out.as_bytes(), "txt");
        }
        (b"reply", 3) => {
            let mode = c.argv[2].to_ascii_lowercase();
            match mode.as_slice() {
                b"on" => {
                    c.flags &= !(CLIENT_REPLY_SKIP | CLIENT_REPLY_OFF);
                    c.add_reply(shared::OK);
                }
                b"off" => c.flags |= CLIENT_REPLY_OFF,
                b"skip" => {
                    if c.flags & CLIENT_REPLY_OFF == 0 {
                        c.flags |= CLIENT_REPLY_SKIP_NEXT;
                    }
                }
                _ => add_reply_error(s, c, shared::SYNTAXERR),
            }
        }
        (b"no-evict", 3) => {
            let mode = c.argv[2].to_ascii_lowercase();
            match mode.as_slice() {
                b"on" => {
                    c.flags |= CLIENT_NO_EVICT;
                    c.add_reply(shared::OK);
                }
                b"off" => {
                    c.flags &= !CLIENT_NO_EVICT;
                    c.add_reply(shared::OK);
                }
                _ => add_reply_error(s, c, shared::SYNTAXERR),
            }
        }
        (b"kill", _) => client_kill(s, c),
        (b"setname", 3) => {
            let name = c.argv[2].clone();
            if client_set_name_or_reply(s, c, &name) {
                c.add_reply(shared::OK);
            }
        }
        (b"getname", 2) => match c.name.clone() {
            Some(n) => c.add_reply_bulk(&n),
            None => c.add_reply_null(),
        },
        (b"unblock", 3) | (b"unblock", 4) => crate::blocked::client_unblock(s, c),
        (b"unpause", 2) => {
            crate::server::unpause_clients(s);
            c.add_reply(shared::OK);
        }
        (b"pause", 3) | (b"pause", 4) => {
            let mut kind = crate::server::PauseType::All;
            if argc == 4 {
                let m = c.argv[3].to_ascii_lowercase();
                match m.as_slice() {
                    b"write" => kind = crate::server::PauseType::Write,
                    b"all" => {}
                    _ => {
                        add_reply_error(s, c, "CLIENT PAUSE mode must be WRITE or ALL");
                        return;
                    }
                }
            }
            let Some(ms) = util::string2ll(&c.argv[2]) else {
                add_reply_error(s, c, "timeout is not an integer or out of range");
                return;
            };
            if ms < 0 {
                add_reply_error(s, c, "timeout is negative");
                return;
            }
            let end = if ms > 0 { util::mstime() + ms } else { 0 };
            // A stronger or longer pause wins over a weaker one (networking.c: pauseClients).
            if s.client_pause_type == crate::server::PauseType::Off
                || kind == crate::server::PauseType::All
                || s.client_pause_type == kind
            {
                s.client_pause_type = kind;
            }
            s.client_pause_end_time = s.client_pause_end_time.max(end);
            c.add_reply(shared::OK);
        }
        (b"tracking", 3..) => client_tracking(s, c),
        (b"caching", 3..) => client_caching(s, c),
        (b"getredir", 2) => {
            let r = if c.flags & CLIENT_TRACKING != 0 {
                c.tracking_redirection as i64
            } else {
                -1
            };
            c.add_reply_long_long(r);
        }
        (b"trackinginfo", 2) => client_trackinginfo(c),
        _ => add_reply_subcommand_syntax_error(s, c),
    }
}

/// networking.c: clientCommand, TRACKING (ON|OFF) [REDIRECT id] [BCAST]
/// [PREFIX p ...] [OPTIN] [OPTOUT] [NOLOOP]
fn client_tracking(s: &mut Server, c: &mut Client) {
    let mut redir: i64 = 0;
    let mut options = 0u64;
    let mut prefixes: Vec<Bytes> = Vec::new();
    let argc = c.argv.len();
    let mut j = 3;
    while j < argc {
        let moreargs = argc - 1 - j;
        let opt = c.argv[j].to_ascii_lowercase();
        match opt.as_slice() {
            b"redirect" if moreargs > 0 => {
                j += 1;
                if redir != 0 {
                    add_reply_error(s, c, "A client can only redirect to a single other client");
                    return;
                }
                let Some(v) = crate::object::get_long_long_from_object_or_reply(s, c, j) else {
                    return;
                };
                redir = v;
                // The target must exist now, though it may leave later.
                let exists = redir as u64 == c.id || s.lookup_client_by_id(redir as u64).is_some();
                if !exists {
                    add_reply_error(s, c, "The client ID you want redirect to does not exist");
                    return;
                }
            }
            b"bcast" => options |= CLIENT_TRACKING_BCAST,
            b"optin" => options |= CLIENT_TRACKING_OPTIN,
            b"optout" => options |= CLIENT_TRACKING_OPTOUT,
            b"noloop" => options |= CLIENT_TRACKING_NOLOOP,
            b"prefix" if moreargs > 0 => {
                j += 1;
                prefixes.push(c.argv[j].clone());
            }
            _ => {
                add_reply_error_object(s, c, crate::resp::shared::SYNTAXERR);
                return;
            }
        }
        j += 1;
    }
    let onoff = c.argv[2].to_ascii_lowercase();
    if onoff == b"on" {
        let err = if options & CLIENT_TRACKING_BCAST == 0 && !prefixes.is_empty() {
            Some("PREFIX option requires BCAST mode to be enabled")
        } else if c.flags & CLIENT_TRACKING != 0
            && (c.flags & CLIENT_TRACKING_BCAST != 0) != (options & CLIENT_TRACKING_BCAST != 0)
        {
            Some("You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.")
        } else if options & CLIENT_TRACKING_BCAST != 0
            && options & (CLIENT_TRACKING_OPTIN | CLIENT_TRACKING_OPTOUT) != 0
        {
            Some("OPTIN and OPTOUT are not compatible with BCAST")
        } else if options & CLIENT_TRACKING_OPTIN != 0 && options & CLIENT_TRACKING_OPTOUT != 0 {
            Some("You can't specify both OPTIN mode and OPTOUT mode")
        } else if (options & CLIENT_TRACKING_OPTIN != 0 && c.flags & CLIENT_TRACKING_OPTOUT != 0)
            || (options & CLIENT_TRACKING_OPTOUT != 0 && c.flags & CLIENT_TRACKING_OPTIN != 0)
        {
            Some("You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.")
        } else {
            None
        };
        if let Some(e) = err {
            add_reply_error(s, c, e);
            return;
        }
        if options & CLIENT_TRACKING_BCAST != 0
            && !crate::tracking::check_prefix_collisions_or_reply(s, c, &prefixes)
        {
            return;
        }
        crate::tracking::enable_tracking(s, c, redir as u64, options, &prefixes);
    } else if onoff == b"off" {
        crate::tracking::disable_tracking(s, c);
    } else {
        add_reply_error_object(s, c, crate::resp::shared::SYNTAXERR);
        return;
    }
    c.add_reply(crate::resp::shared::OK);
}

/// networking.c: clientCommand, CACHING (YES|NO)
fn client_caching(s: &mut Server, c: &mut Client) {
    if c.flags & CLIENT_TRACKING == 0 {
        add_reply_error(
            s,
            c,
            "CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        );
        return;
    }
    let opt = c.argv[2].to_ascii_lowercase();
    if opt == b"yes" {
        if c.flags & CLIENT_TRACKING_OPTIN == 0 {
            add_reply_error(
                s,
                c,
                "CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            );
            return;
        }
    } else if opt == b"no" {
        if c.flags & CLIENT_TRACKING_OPTOUT == 0 {
            add_reply_error(
                s,
                c,
                "CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            );
            return;
        }
    } else {
        add_reply_error_object(s, c, crate::resp::shared::SYNTAXERR);
        return;
    }
    c.flags |= CLIENT_TRACKING_CACHING;
    c.add_reply(crate::resp::shared::OK);
}

/// networking.c: clientCommand, TRACKINGINFO
fn client_trackinginfo(c: &mut Client) {
    c.add_reply_map_len(3);
    c.add_reply_bulk(b"flags");
    let f = c.flags;
    let mut flags: Vec<&[u8]> = vec![if f & CLIENT_TRACKING != 0 {
        b"on"
    } else {
        b"off"
    }];
    if f & CLIENT_TRACKING_BCAST != 0 {
        flags.push(b"bcast");
    }
    if f & CLIENT_TRACKING_OPTIN != 0 {
        flags.push(b"optin");
        if f & CLIENT_TRACKING_CACHING != 0 {
            flags.push(b"caching-yes");
        }
    }
    if f & CLIENT_TRACKING_OPTOUT != 0 {
        flags.push(b"optout");
        if f & CLIENT_TRACKING_CACHING != 0 {
            flags.push(b"caching-no");
        }
    }
    if f & CLIENT_TRACKING_NOLOOP != 0 {
        flags.push(b"noloop");
    }
    if f & CLIENT_TRACKING_BROKEN_REDIR != 0 {
        flags.push(b"broken_redirect");
    }
    c.add_reply_set_len(flags.len());
    for fl in flags {
        c.add_reply_bulk(fl);
    }
    c.add_reply_bulk(b"redirect");
    let r = if f & CLIENT_TRACKING != 0 {
        c.tracking_redirection as i64
    } else {
        -1
    };
    c.add_reply_long_long(r);
    c.add_reply_bulk(b"prefixes");
    let prefixes: Vec<Bytes> = c.tracking_prefixes.iter().cloned().collect();
    c.add_reply_array_len(prefixes.len());
    for p in prefixes {
        c.add_reply_bulk(&p);
    }
}

/// Visit the current client and every other one (Redis walks `server.clients`).
fn for_each_client(s: &Server, current: &Client, mut f: impl FnMut(&Server, &Client)) {
    let mut all: Vec<&Client> = s.other_clients().collect();
    all.push(current);
    all.sort_by_key(|c| c.id);
    for cl in all {
        f(s, cl);
    }
}

/// networking.c: clientCommand, the KILL branch
fn client_kill(s: &mut Server, c: &mut Client) {
    use crate::resp::shared;
    let argc = c.argv.len();
    let mut addr: Option<Bytes> = None;
    let mut laddr: Option<Bytes> = None;
    let mut ctype: Option<u8> = None;
    let mut id: u64 = 0;
    let mut user: Option<Bytes> = None;
    let mut skipme = true;
    if argc == 3 {
        addr = Some(c.argv[2].clone());
        skipme = false;
    } else if argc > 3 {
        let mut i = 2;
        while i < argc {
            let moreargs = argc > i + 1;
            let opt = c.argv[i].to_ascii_lowercase();
            if !moreargs {
                add_reply_error(s, c, shared::SYNTAXERR);
                return;
            }
            let val = c.argv[i + 1].clone();
            match opt.as_slice() {
                b"id" => match util::string2ll(&val) {
                    Some(v) if v >= 1 => id = v as u64,
                    Some(_) => {
                        add_reply_error(s, c, "client-id should be greater than 0");
                        return;
                    }
                    None => {
                        add_reply_error(s, c, "client-id should be greater than 0");
                        return;
                    }
                },
                b"type" => match get_client_type_by_name(&val) {
                    Some(t) => ctype = Some(t),
                    None => {
                        let msg =
                            format!("Unknown client type '{}'", String::from_utf8_lossy(&val));
                        add_reply_error(s, c, &msg);
                        return;
                    }
                },
                b"addr" => addr = Some(val),
                b"laddr" => laddr = Some(val),
                b"user" => {
                    if !val.eq_ignore_ascii_case(b"default") || &val[..] != b"default" {
                        let msg = format!("No such user '{}'", String::from_utf8_lossy(&val));
                        add_reply_error(s, c, &msg);
                        return;
                    }
                    user = Some(val);
                }
                b"skipme" => match val.to_ascii_lowercase().as_slice() {
                    b"yes" => skipme = true,
                    b"no" => skipme = false,
                    _ => {
                        add_reply_error(s, c, shared::SYNTAXERR);
                        return;
                    }
                },
                _ => {
                    add_reply_error(s, c, shared::SYNTAXERR);
                    return;
                }
            }
            i += 2;
        }
    } else {
        add_reply_error(s, c, shared::SYNTAXERR);
        return;
    }
    let matches = |cl: &Client| {
        addr.as_ref().is_none_or(|a| cl.peer.as_bytes() == &a[..])
            && laddr.as_ref().is_none_or(|a| cl.laddr.as_bytes() == &a[..])
            && ctype.is_none_or(|t| get_client_type(cl) == t)
            && (id == 0 || cl.id == id)
            && user.as_ref().is_none_or(|u| cl.user.as_bytes() == &u[..])
    };
    let victims: Vec<Token> = s
        .other_clients()
        .filter(|cl| matches(cl))
        .map(|cl| cl.token)
        .collect();
    let mut killed = victims.len();
    for t in victims {
        crate::server::free_client_by_token(s, t);
    }
    let close_this = !skipme && matches(c);
    if close_this {
        killed += 1;
    }
    if argc == 3 {
        if killed == 0 {
            add_reply_error(s, c, "No such client");
        } else {
            c.add_reply(shared::OK);
        }
    } else {
        c.add_reply_long_long(killed as i64);
    }
    if close_this {
        c.flags |= CLIENT_CLOSE_AFTER_REPLY;
    }
}

/// networking.c: helloCommand
pub fn hello_command(s: &mut Server, c: &mut Client) {
    let mut ver: i64 = 0;
    let mut next = 1;
    let argc = c.argv.len();
    if argc >= 2 {
        match util::string2ll(&c.argv[1]) {
            Some(v) => ver = v,
            None => {
                add_reply_error(s, c, "Protocol version is not an integer or out of range");
                return;
            }
        }
        next = 2;
        if !(2..=3).contains(&ver) {
            add_reply_error(s, c, "-NOPROTO unsupported protocol version");
            return;
        }
    }
    let mut j = next;
    while j < argc {
        let more = argc - 1 - j;
        let opt = c.argv[j].clone();
        if opt.eq_ignore_ascii_case(b"auth") && more >= 2 {
            c.redact_command_argument(j + 1);
            c.redact_command_argument(j + 2);
            let (u, p) = (c.argv[j + 1].clone(), c.argv[j + 2].clone());
            if !crate::acl::acl_authenticate_user(s, c, &u, &p) {
                add_reply_error(
                    s,
                    c,
                    "-WRONGPASS invalid username-password pair or user is disabled.",
                );
                return;
            }
            j += 2;
        } else if opt.eq_ignore_ascii_case(b"setname") && more >= 1 {
            let name = c.argv[j + 1].clone();
            if !client_set_name_or_reply(s, c, &name) {
                return;
            }
            j += 1;
        } else {
            let msg = format!(
                "Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&opt)
            );
            add_reply_error(s, c, &msg);
            return;
        }
        j += 1;
    }
    if s.auth_required(c) {
        add_reply_error(
            s,
            c,
            "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        );
        return;
    }
    if ver != 0 {
        c.resp = ver as u8;
    }
    c.add_reply_map_len(7);
    c.add_reply_bulk(b"server");
    c.add_reply_bulk(b"redis");
    c.add_reply_bulk(b"version");
    c.add_reply_bulk(crate::server::REDIS_VERSION.as_bytes());
    c.add_reply_bulk(b"proto");
    let resp = c.resp as i64;
    c.add_reply_long_long(resp);
    c.add_reply_bulk(b"id");
    let id = c.id as i64;
    c.add_reply_long_long(id);
    c.add_reply_bulk(b"mode");
    c.add_reply_bulk(b"standalone");
    c.add_reply_bulk(b"role");
    c.add_reply_bulk(b"master");
    c.add_reply_bulk(b"modules");
    c.add_reply_array_len(0);
}

/// networking.c: quitCommand
pub fn quit_command(_s: &mut Server, c: &mut Client) {
    c.add_reply(crate::resp::shared::OK);
    c.flags |= CLIENT_CLOSE_AFTER_REPLY;
}

/// networking.c: resetCommand (clearClientConnectionState)
pub fn reset_command(s: &mut Server, c: &mut Client) {
    c.db = 0;
    c.resp = 2;
    c.name = None;
    // As Redis: NO-EVICT survives a RESET, and a pending REPLY SKIP still swallows the
    // "+RESET" itself (the flag is dropped after this command, in reset()).
    if c.flags & CLIENT_MONITOR != 0 {
        s.monitors.retain(|m| m.1 != c.id);
        c.flags &= !(CLIENT_MONITOR | CLIENT_SLAVE);
    }
    if c.flags & CLIENT_TRACKING != 0 {
        crate::tracking::disable_tracking(s, c);
    }
    crate::multi::discard_transaction(s, c);
    crate::pubsub::pubsub_unsubscribe_all_channels(s, c, false);
    crate::pubsub::pubsub_unsubscribe_shard_all_channels(s, c, false);
    crate::pubsub::pubsub_unsubscribe_all_patterns(s, c, false);
    c.flags &= !(CLIENT_REPLY_OFF | CLIENT_REPLY_SKIP_NEXT | CLIENT_PUBSUB);
    c.authenticated = s.config.requirepass.is_none();
    c.user = "default";
    c.add_reply_status("RESET");
}

// ANCHOR: process_events_while_blocked
/// networking.c: processEventsWhileBlocked
///
/// Serves other clients from inside a long command (a script past
/// busy-reply-threshold) or a load (RDB or AOF, at start-up or DEBUG RELOAD): a few
/// non-waiting turns of the event loop, I/O only, so they get their -BUSY or -LOADING
/// replies, INFO answers, and SCRIPT KILL or a SIGTERM can arrive.
pub fn process_events_while_blocked(s: &mut Server) {
    s.processing_events_while_blocked = true;
    for _ in 0..4 {
        if crate::ae::process_file_events_dont_wait(s) == 0 {
            break;
        }
    }
    // Replies produced by the last turn go out now, not at the next hook call.
    crate::io_threads::handle_clients_with_pending_writes_using_threads(s);
    crate::server::while_blocked_cron(s);
    s.processing_events_while_blocked = false;
}
// ANCHOR_END: process_events_while_blocked
