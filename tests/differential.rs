//! Differential test: every script in `tests/corpus/*.txt` runs against a fresh ferredis and
//! a fresh redis-server 7.0 (the oracle), once in RESP2 and once in RESP3, and every reply
//! must match byte for byte. All differences are collected and reported together.
//!
//! Run: `cargo test --release --test differential`
//! One file only: `CORPUS=client cargo test --release --test differential` (substring match).
//! `DIFF_VERBOSE=1` also prints redis-server's whole transcript (add `-- --nocapture`).
//!
//! # Corpus syntax
//!
//! One step per line. Leading and trailing blanks are ignored, as are empty lines and lines
//! starting with `#`.
//!
//! A plain line is a command. It is split into arguments the way redis-cli (and the inline
//! protocol, sds.c: sdssplitargs) splits a line: blanks separate arguments; `"..."` may hold
//! `\"`, `\\`, `\n`, `\r`, `\t`, `\a`, `\b` and `\xHH`; `'...'` may hold `\'`; a closing quote
//! must be followed by a blank or the end of the line. The command is sent as a RESP
//! multibulk on the current connection and exactly one reply is read and compared byte for
//! byte.
//!
//! A command may be prefixed by modifiers (at most one of shape, fields, values, unordered,
//! pairs, noreply; `@mask=` and `@subcommands` combine with any):
//!
//! - `@shape CMD ...`: compare only the reply's shape: each node's type, the element count
//!   of aggregates, the nullness of bulks; error texts are still compared in full. For
//!   replies that legitimately differ (TIME, INFO, CLIENT LIST, ...).
//! - `@fields CMD ...`: for a bulk text reply (INFO, CLIENT LIST/INFO), compare the
//!   section headers and field names, not the values.
//! - `@values=NAME,NAME... CMD ...`: for such a text, compare only the named fields and
//!   their values (`@values=flags,db,name CLIENT INFO`, `@values=connected_clients INFO`).
//! - `@unordered CMD ...`: the elements of the top-level array, set or map may come in any
//!   order (a map compares as a set of key/value pairs).
//! - `@pairs CMD ...`: the top-level reply is a flat RESP2 array of key, value pairs (or a
//!   RESP3 map) whose pairs may come in any order (CONFIG GET with a glob).
//! - `@noreply CMD ...`: send, read nothing (CLIENT REPLY OFF/SKIP). A reply sent anyway
//!   shows up as a difference on the next command, or at the end of the script.
//! - `@mask=PATH,PATH... CMD ...`: replace the parts of the reply at these paths with a
//!   marker before comparing. A path is dot-separated element indexes into nested
//!   aggregates, `*` for any index: `@mask=*.1,*.2,*.4 SLOWLOG GET` hides each entry's
//!   timestamp, duration and client address, and compares the rest byte for byte.
//! - `@subcommands CMD ...`: sort the subcommand lists inside COMMAND INFO / COMMAND DOCS
//!   replies first (Redis lists them in the order of a randomly seeded dict), as in
//!   `@subcommands @shape COMMAND DOCS config`.
//!
//! Directives:
//!
//! - `@config name value ...`: start both servers with `--name value ...`. Any number; they
//!   apply to the whole file wherever they appear.
//! - `@conn N`: switch to connection N (0 is the first; a connection is opened when first
//!   used). In the RESP3 pass every new connection first sends `HELLO 3`, whose reply is
//!   compared too.
//! - `@reconnect`: drop the current connection and open a new one in its slot.
//! - `@closed`: check whether the server has closed the current connection: reads for up
//!   to 300 ms and records `EOF`, `open`, or the bytes that arrived.
//! - `@send TOKENS`: send raw bytes on the current connection, then read one reply (or
//!   `EOF` if the server closes first). TOKENS are quoted strings as above, concatenated; a
//!   bare `*N` repeats the previous token so that it occurs N times in all.
//! - `@sendn K TOKENS`: as `@send`, reading K replies (K may be 0).
//! - `@read`: read one more reply on the current connection (after a `@noreply` command
//!   that was held back, e.g. by CLIENT PAUSE).
//! - `@raw TOKENS`: open a FRESH connection (sending `HELLO 3` first in the RESP3 pass),
//!   send the bytes, and record everything the server sends until it closes the connection
//!   (`<EOF>`) or is silent for 300 ms (`<open>`). For protocol errors that close the
//!   connection.
//! - `@sleep MS`: pause the script.
//! - `@only 2` / `@only 3`: run this file in one protocol pass only.
//!
//! Substitutions in command arguments: `${addr:N}` is connection N's address as the server
//! sees it (ip:port), `${laddr}` the server's own address. The two servers see different
//! ports; the substitution makes CLIENT KILL ADDR comparable.
//!
//! Conventions in the corpus: a line left out because ferredis does not have the feature
//! yet is commented out under `# TODO(reason)`; a difference that is deliberate is
//! explained under `# DIFFERENT(reason)` and compared as closely as it allows.
//!
//! Client ids are deterministic (both servers see the same connections in the same order;
//! ferredis numbers its first connection 3, as Redis does), so HELLO and CLIENT ID compare
//! exactly. Before a script, and after each connection the harness closes, the runner
//! waits until the server has noticed the close (see `settle`), so commands that count
//! connections see the same set on both servers.

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Kind, Server};

/// Longest time we wait for one reply before calling it missing.
const REPLY_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest wait for a server to notice connections the harness has closed.
const SETTLE: Duration = Duration::from_secs(5);
/// Silence that ends a `@raw` capture or a `@closed` check.
const IDLE_TIMEOUT: Duration = Duration::from_millis(300);

// ---------------------------------------------------------------------------------------
// The script.

#[derive(Clone, Debug, PartialEq)]
enum Mode {
    Exact,
    Shape,
    Unordered,
    Pairs,
    NoReply,
    Fields,
    Values(Vec<String>),
}

#[derive(Clone, Debug)]
enum Action {
    Cmd(Cmd),
    Conn(usize),
    Reconnect,
    Closed,
    Send(usize, Vec<u8>),
    Raw(Vec<u8>),
    Sleep(u64),
}

#[derive(Clone, Debug)]
struct Cmd {
    mode: Mode,
    /// Sort subcommand lists before comparing (`@subcommands`).
    subcommands: bool,
    /// Paths whose values are masked before comparing (`@mask=`).
    masks: Vec<Vec<Option<usize>>>,
    args: Vec<Vec<u8>>,
}

#[derive(Clone, Debug)]
struct Step {
    line: usize,
    text: String,
    action: Action,
}

#[derive(Debug, Default)]
struct Script {
    config: Vec<String>,
    steps: Vec<Step>,
    only: Option<u8>,
}

/// Split a line like redis-cli does (sds.c: sdssplitargs). Also reports which tokens were
/// quoted, so `@send` can tell a repeat count from a literal.
fn split_line(line: &str) -> Result<Vec<(Vec<u8>, bool)>, String> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let n = b.len();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    loop {
        while i < n && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Ok(out);
        }
        let mut cur = Vec::new();
        let mut quoted = false;
        let (mut inq, mut insq) = (false, false);
        loop {
            if inq {
                if i >= n {
                    return Err("unbalanced double quote".into());
                }
                if b[i] == b'\\'
                    && i + 3 < n
                    && b[i + 1] == b'x'
                    && hex(b[i + 2]).is_some()
                    && hex(b[i + 3]).is_some()
                {
                    cur.push(hex(b[i + 2]).unwrap() * 16 + hex(b[i + 3]).unwrap());
                    i += 3;
                } else if b[i] == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match b[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        o => o,
                    });
                } else if b[i] == b'"' {
                    if i + 1 < n && !b[i + 1].is_ascii_whitespace() {
                        return Err("closing quote must be followed by a blank".into());
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(b[i]);
                }
            } else if insq {
                if i >= n {
                    return Err("unbalanced single quote".into());
                }
                if b[i] == b'\\' && i + 1 < n && b[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if b[i] == b'\'' {
                    if i + 1 < n && !b[i + 1].is_ascii_whitespace() {
                        return Err("closing quote must be followed by a blank".into());
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(b[i]);
                }
            } else {
                if i >= n {
                    break;
                }
                match b[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        i += 1;
                        break;
                    }
                    b'"' => {
                        inq = true;
                        quoted = true;
                    }
                    b'\'' => {
                        insq = true;
                        quoted = true;
                    }
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        out.push((cur, quoted));
    }
}

/// Concatenate `@send`/`@raw` tokens; a bare `*N` repeats the previous token.
fn raw_bytes(tokens: &[(Vec<u8>, bool)]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut prev: Option<&[u8]> = None;
    for (t, quoted) in tokens {
        if !quoted {
            let s = std::str::from_utf8(t).map_err(|e| e.to_string())?;
            let count: usize = s
                .strip_prefix('*')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| {
                    format!("bare token {s:?}: quote literal bytes, or write *N to repeat")
                })?;
            let p = prev.ok_or("*N with nothing to repeat")?;
            for _ in 1..count {
                out.extend_from_slice(p);
            }
        } else {
            out.extend_from_slice(t);
            prev = Some(t);
        }
    }
    Ok(out)
}

fn parse_script(path: &Path) -> Script {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut script = Script::default();
    for (idx, raw_line) in text.lines().enumerate() {
        let line = raw_line.trim();
        let lineno = idx + 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fail = |msg: String| -> ! { panic!("{}:{lineno}: {msg}: {line}", path.display()) };
        let tokens = split_line(line).unwrap_or_else(|e| fail(e));
        let word = String::from_utf8_lossy(&tokens[0].0).into_owned();
        let rest = &tokens[1..];
        let num = |i: usize| -> usize {
            rest.get(i)
                .and_then(|(t, _)| std::str::from_utf8(t).ok()?.parse().ok())
                .unwrap_or_else(|| fail("expected a number".into()))
        };
        let action = match word.as_str() {
            "@config" => {
                if rest.is_empty() {
                    fail("@config needs a name".into());
                }
                script
                    .config
                    .push(format!("--{}", String::from_utf8_lossy(&rest[0].0)));
                for (t, _) in &rest[1..] {
                    script.config.push(String::from_utf8_lossy(t).into_owned());
                }
                continue;
            }
            "@only" => {
                script.only = Some(num(0) as u8);
                continue;
            }
            w if w == "@shape"
                || w == "@fields"
                || w == "@unordered"
                || w == "@pairs"
                || w == "@noreply"
                || w == "@subcommands"
                || w.starts_with("@mask=")
                || w.starts_with("@values=") =>
            {
                let mut mode = Mode::Exact;
                let mut subcommands = false;
                let mut masks = Vec::new();
                let mut k = 0;
                while k < tokens.len() && !tokens[k].1 && tokens[k].0.starts_with(b"@") {
                    match &tokens[k].0[..] {
                        b"@shape" => mode = Mode::Shape,
                        b"@fields" => mode = Mode::Fields,
                        b"@unordered" => mode = Mode::Unordered,
                        b"@pairs" => mode = Mode::Pairs,
                        b"@noreply" => mode = Mode::NoReply,
                        b"@subcommands" => subcommands = true,
                        m if m.starts_with(b"@values=") => {
                            let names = String::from_utf8_lossy(&m[8..]);
                            mode = Mode::Values(names.split(',').map(String::from).collect());
                        }
                        m if m.starts_with(b"@mask=") => {
                            for path in String::from_utf8_lossy(&m[6..]).split(',') {
                                let p: Option<Vec<Option<usize>>> = path
                                    .split('.')
                                    .map(|x| {
                                        if x == "*" {
                                            Some(None)
                                        } else {
                                            x.parse().ok().map(Some)
                                        }
                                    })
                                    .collect();
                                masks.push(
                                    p.unwrap_or_else(|| fail(format!("bad mask path {path:?}"))),
                                );
                            }
                        }
                        other => fail(format!(
                            "unknown modifier {}",
                            String::from_utf8_lossy(other)
                        )),
                    }
                    k += 1;
                }
                if k == tokens.len() {
                    fail("modifier without a command".into());
                }
                let args = tokens[k..].iter().map(|(t, _)| t.clone()).collect();
                Action::Cmd(Cmd {
                    mode,
                    subcommands,
                    masks,
                    args,
                })
            }
            "@conn" => Action::Conn(num(0)),
            "@reconnect" => Action::Reconnect,
            "@closed" => Action::Closed,
            "@sleep" => Action::Sleep(num(0) as u64),
            "@send" => Action::Send(1, raw_bytes(rest).unwrap_or_else(|e| fail(e))),
            "@read" => Action::Send(1, Vec::new()),
            "@sendn" => Action::Send(num(0), raw_bytes(&rest[1..]).unwrap_or_else(|e| fail(e))),
            "@raw" => Action::Raw(raw_bytes(rest).unwrap_or_else(|e| fail(e))),
            w if w.starts_with('@') => fail(format!("unknown directive {w}")),
            _ => Action::Cmd(Cmd {
                mode: Mode::Exact,
                subcommands: false,
                masks: Vec::new(),
                args: tokens.iter().map(|(t, _)| t.clone()).collect(),
            }),
        };
        let mut text = line.to_string();
        if text.len() > 160 {
            let mut cut = 150;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str("...");
        }
        script.steps.push(Step {
            line: lineno,
            text,
            action,
        });
    }
    script
}

// ---------------------------------------------------------------------------------------
// Replies.

/// A parsed RESP2/RESP3 reply.
#[derive(Debug, Clone)]
enum Reply {
    /// `+ - : , # ( _` lines: type byte and the line's text.
    Line(u8, Vec<u8>),
    /// `$ = !` bulks: type byte and the payload (None for a null `$-1`).
    Bulk(u8, Option<Vec<u8>>),
    /// `* ~ > % |`: type byte and the elements (a map's keys and values alternate); None for `*-1`.
    Agg(u8, Option<Vec<Reply>>),
}

/// Parse one reply at the start of `b`: Ok(Some((reply, len))), Ok(None) if incomplete,
/// Err if the bytes are not RESP.
fn parse_reply(b: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    fn line(b: &[u8], from: usize) -> Option<usize> {
        b.get(from..)?
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|p| from + p)
    }
    fn one(b: &[u8], at: usize) -> Result<Option<(Reply, usize)>, String> {
        if at >= b.len() {
            return Ok(None);
        }
        let Some(end) = line(b, at) else {
            return Ok(None);
        };
        let head = &b[at + 1..end];
        let next = end + 2;
        let num = || -> Result<i64, String> {
            std::str::from_utf8(head)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("bad length {:?}", String::from_utf8_lossy(head)))
        };
        let t = b[at];
        match t {
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {
                Ok(Some((Reply::Line(t, head.to_vec()), next)))
            }
            b'$' | b'=' | b'!' => {
                let n = num()?;
                if n < 0 {
                    return Ok(Some((Reply::Bulk(t, None), next)));
                }
                let stop = next + n as usize + 2;
                if stop > b.len() {
                    return Ok(None);
                }
                if &b[stop - 2..stop] != b"\r\n" {
                    return Err("bulk not followed by CRLF".into());
                }
                Ok(Some((
                    Reply::Bulk(t, Some(b[next..stop - 2].to_vec())),
                    stop,
                )))
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n = num()?;
                if n < 0 {
                    return Ok(Some((Reply::Agg(t, None), next)));
                }
                let items = if t == b'%' || t == b'|' { n * 2 } else { n };
                let mut pos = next;
                let mut elems = Vec::new();
                for _ in 0..items {
                    match one(b, pos)? {
                        Some((r, p)) => {
                            elems.push(r);
                            pos = p;
                        }
                        None => return Ok(None),
                    }
                }
                if t == b'|' {
                    // An attribute is followed by the reply it describes; keep both.
                    return match one(b, pos)? {
                        Some((r, p)) => {
                            elems.push(r);
                            Ok(Some((Reply::Agg(t, Some(elems)), p)))
                        }
                        None => Ok(None),
                    };
                }
                Ok(Some((Reply::Agg(t, Some(elems)), pos)))
            }
            other => Err(format!("not RESP: first byte {:?}", other as char)),
        }
    }
    one(b, 0)
}

/// Bytes shown readably: printable ASCII as is, the rest escaped.
fn escape(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s
}

/// The shape of a reply: types, counts and nullness; errors in full.
fn shape(r: &Reply) -> String {
    match r {
        Reply::Line(b'-', text) => format!("-{}", escape(text)),
        Reply::Line(t, _) => (*t as char).to_string(),
        Reply::Bulk(t, None) => format!("{}null", *t as char),
        Reply::Bulk(t, Some(_)) => (*t as char).to_string(),
        Reply::Agg(t, None) => format!("{}null", *t as char),
        Reply::Agg(t, Some(e)) => {
            let inner: Vec<String> = e.iter().map(shape).collect();
            format!("{}{}[{}]", *t as char, e.len(), inner.join(" "))
        }
    }
}

/// The field names of an INFO-style text ("# Section" headers and `name:value` lines)
/// or a CLIENT LIST-style text (`name=value name=value ...` lines), values dropped.
fn fields(b: &[u8]) -> String {
    let text = String::from_utf8_lossy(b);
    let text = text.strip_prefix("txt:").unwrap_or(&text);
    let mut out = Vec::new();
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        let eq = line.find('=');
        let colon = line.find(':');
        if line.starts_with('#') || line.is_empty() {
            out.push(line.to_string());
        } else if eq.is_some() && line.contains(' ') && eq < colon.or(Some(usize::MAX)) {
            let keys: Vec<&str> = line
                .split(' ')
                .map(|kv| kv.split('=').next().unwrap_or(""))
                .collect();
            out.push(keys.join(" "));
        } else if let Some(c) = colon {
            out.push(line[..c].to_string());
        } else {
            out.push(format!("?{line}"));
        }
    }
    out.join("|")
}

/// The named fields of an INFO-style or CLIENT LIST-style text, with their values, line
/// by line; every other field dropped.
fn values(b: &[u8], names: &[String]) -> String {
    let text = String::from_utf8_lossy(b);
    let text = text.strip_prefix("txt:").unwrap_or(&text);
    // Forced-on I/O threads show in these counters whatever the oracle does.
    let threaded = !common::io_mode_args().is_empty();
    let wanted = |k: &str| {
        names.iter().any(|n| n == k)
            && !(threaded
                && matches!(
                    k,
                    "io_threads_active"
                        | "io_threaded_reads_processed"
                        | "io_threaded_writes_processed"
                ))
    };
    let mut out = Vec::new();
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.starts_with("id=") || (line.contains('=') && line.contains(' ')) {
            let kept: Vec<&str> = line
                .split(' ')
                .filter(|kv| wanted(kv.split('=').next().unwrap_or("")))
                .collect();
            if !kept.is_empty() {
                out.push(kept.join(" "));
            }
        } else if let Some((k, _)) = line.split_once(':') {
            if wanted(k) {
                out.push(line.to_string());
            }
        }
    }
    out.join(" | ")
}

/// A canonical text for a reply, every byte kept.
fn canon(r: &Reply) -> String {
    match r {
        Reply::Line(t, text) => format!("{}{}", *t as char, escape(text)),
        Reply::Bulk(t, None) => format!("{}null", *t as char),
        Reply::Bulk(t, Some(b)) => format!("{}\"{}\"", *t as char, escape(b)),
        Reply::Agg(t, None) => format!("{}null", *t as char),
        Reply::Agg(t, Some(e)) => {
            let inner: Vec<String> = e.iter().map(canon).collect();
            format!("{}{}[{}]", *t as char, e.len(), inner.join(" "))
        }
    }
}

/// Replace the nodes at `path` (indexes into aggregates, None for any) with a marker.
fn mask(r: &mut Reply, path: &[Option<usize>]) {
    let Some((first, rest)) = path.split_first() else {
        *r = Reply::Line(b'?', b"masked".to_vec());
        return;
    };
    if let Reply::Agg(_, Some(e)) = r {
        for (i, x) in e.iter_mut().enumerate() {
            if first.is_none_or(|f| f == i) {
                mask(x, rest);
            }
        }
    }
}

/// Put the subcommand lists of COMMAND INFO and COMMAND DOCS replies in a fixed order:
/// Redis walks a dict seeded at random on every start, so their order is not
/// deterministic. INFO: an entry is a 10-element array whose last element lists the
/// subcommands. DOCS: a map (RESP2: flat array) with a "subcommands" key.
fn sort_subcommands(r: &mut Reply) {
    let Reply::Agg(t, Some(e)) = r else { return };
    for x in e.iter_mut() {
        sort_subcommands(x);
    }
    let info_entry = *t == b'*'
        && e.len() == 10
        && matches!(e[0], Reply::Bulk(b'$', Some(_)))
        && matches!(e[1], Reply::Line(b':', _))
        && matches!(e[3], Reply::Line(b':', _));
    if info_entry {
        if let Reply::Agg(b'*', Some(subs)) = &mut e[9] {
            subs.sort_by_key(canon);
        }
    }
    if !info_entry && (*t == b'*' || *t == b'%') && e.len() % 2 == 0 {
        for i in (0..e.len()).step_by(2) {
            if matches!(&e[i], Reply::Bulk(b'$', Some(k)) if k == b"subcommands") {
                if let Reply::Agg(_, Some(v)) = &mut e[i + 1] {
                    let mut pairs: Vec<Vec<Reply>> = v.chunks(2).map(|p| p.to_vec()).collect();
                    pairs.sort_by_key(|p| canon(&p[0]));
                    *v = pairs.into_iter().flatten().collect();
                }
            }
        }
    }
}

/// Canonical text with the top level's order removed.
fn canon_unordered(r: &Reply, pairs: bool) -> String {
    match r {
        Reply::Agg(t, Some(e)) if *t != b'|' => {
            let mut items: Vec<String> = if pairs || *t == b'%' {
                e.chunks(2)
                    .map(|p| p.iter().map(canon).collect::<Vec<_>>().join(" => "))
                    .collect()
            } else {
                e.iter().map(canon).collect()
            };
            items.sort();
            format!(
                "{}{} unordered {{{}}}",
                *t as char,
                e.len(),
                items.join(", ")
            )
        }
        other => canon(other),
    }
}

// ---------------------------------------------------------------------------------------
// Running a script against one server.

struct Conn {
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_nodelay(true).unwrap();
        Conn {
            stream: Some(stream),
            buf: Vec::new(),
        }
    }

    fn addr(&self) -> String {
        self.stream
            .as_ref()
            .and_then(|s| s.local_addr().ok())
            .map(|a| a.to_string())
            .unwrap_or_default()
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        match self.stream.as_mut() {
            None => Err("<EOF>".into()),
            Some(s) => s
                .write_all(bytes)
                .map_err(|e| format!("<write failed: {:?}>", e.kind())),
        }
    }

    /// Read into the buffer until `done` says so, EOF, or the deadline. Returns false on EOF.
    fn fill(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(&[u8]) -> bool,
    ) -> Result<bool, String> {
        let mut chunk = [0u8; 65536];
        while !done(&self.buf) {
            let Some(stream) = self.stream.as_mut() else {
                return Ok(false);
            };
            let now = Instant::now();
            if now >= deadline {
                return Err("<timeout>".into());
            }
            stream.set_read_timeout(Some(deadline - now)).unwrap();
            match stream.read(&mut chunk) {
                Ok(0) => {
                    self.stream = None;
                    return Ok(false);
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err("<timeout>".into())
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    self.stream = None;
                    return Ok(false);
                }
                Err(e) => return Err(format!("<read error: {e}>")),
            }
        }
        Ok(true)
    }

    /// Read one whole reply.
    fn read_reply(&mut self) -> Result<Reply, String> {
        let deadline = Instant::now() + REPLY_TIMEOUT;
        let complete = |b: &[u8]| !matches!(parse_reply(b), Ok(None));
        let res = self.fill(deadline, complete);
        match parse_reply(&self.buf) {
            Ok(Some((r, n))) => {
                self.buf.drain(..n);
                Ok(r)
            }
            Err(e) => {
                let got = std::mem::take(&mut self.buf);
                Err(format!("<{e}: \"{}\">", escape(&got)))
            }
            Ok(None) => {
                let got = std::mem::take(&mut self.buf);
                let tail = match res {
                    Ok(_) => "<EOF>".to_string(),
                    Err(e) => e,
                };
                if got.is_empty() {
                    Err(tail)
                } else {
                    Err(format!("\"{}\" {tail}", escape(&got)))
                }
            }
        }
    }

    /// Everything until EOF or a silence of IDLE_TIMEOUT.
    fn read_until_quiet(&mut self) -> String {
        let mut out = std::mem::take(&mut self.buf);
        let mut chunk = [0u8; 65536];
        let end = loop {
            let Some(stream) = self.stream.as_mut() else {
                break "<EOF>";
            };
            stream.set_read_timeout(Some(IDLE_TIMEOUT)).unwrap();
            match stream.read(&mut chunk) {
                Ok(0) => {
                    self.stream = None;
                    break "<EOF>";
                }
                Ok(n) => out.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    break "<open>"
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    self.stream = None;
                    break "<EOF>";
                }
                Err(_) => break "<read error>",
            }
        };
        if out.is_empty() {
            end.to_string()
        } else {
            format!("\"{}\" {end}", escape(&out))
        }
    }
}

/// Wait until the server listening on `port` has taken note of every connection the
/// harness closed: the kernel keeps the server's end of such a connection in CLOSE_WAIT
/// until the server reads the EOF and closes it. Under load that can take a while, and
/// until then commands that count connections (CLIENT KILL TYPE normal, CLIENT LIST)
/// see a ghost. Linux-only (/proc/net/tcp); elsewhere, a short sleep.
fn settle(port: u16) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
            std::thread::sleep(Duration::from_millis(100));
            return;
        };
        let lingering = table.lines().skip(1).any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local_port = f
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            // State 08 is CLOSE_WAIT.
            local_port == Some(port) && f.get(3) == Some(&"08")
        });
        if !lingering || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn format_reply(r: &Result<Reply, String>, mode: Mode) -> String {
    match r {
        Err(e) => e.clone(),
        Ok(r) => match mode {
            Mode::Shape => format!("shape {}", shape(r)),
            Mode::Fields => match r {
                Reply::Bulk(_, Some(b)) => format!("fields {}", fields(b)),
                other => canon(other),
            },
            Mode::Values(names) => match r {
                Reply::Bulk(_, Some(b)) => format!("values {}", values(b, &names)),
                other => canon(other),
            },
            Mode::Unordered => canon_unordered(r, false),
            Mode::Pairs => canon_unordered(r, true),
            _ => canon(r),
        },
    }
}

/// One recorded outcome: the step's index (or usize::MAX for an implicit HELLO) and text.
struct Outcome {
    step: usize,
    what: String,
    result: String,
}

struct Runner<'a> {
    port: u16,
    proto: u8,
    conns: HashMap<usize, Conn>,
    current: usize,
    out: Vec<Outcome>,
    script: &'a Script,
}

impl<'a> Runner<'a> {
    /// A new connection, with `HELLO 3` first in the RESP3 pass.
    fn new_conn(&mut self, step: usize, slot: String) -> Conn {
        let mut c = Conn::open(self.port);
        if self.proto == 3 {
            let r = c
                .send(&common::encode(&[b"HELLO", b"3"]))
                .and_then(|_| c.read_reply());
            self.out.push(Outcome {
                step,
                what: format!("HELLO 3 (opening {slot})"),
                result: format_reply(&r, Mode::Exact),
            });
        }
        c
    }

    fn conn(&mut self, step: usize) -> &mut Conn {
        let id = self.current;
        if !self.conns.contains_key(&id) {
            let c = self.new_conn(step, format!("connection {id}"));
            self.conns.insert(id, c);
        }
        self.conns.get_mut(&id).unwrap()
    }

    fn substitute(&mut self, step: usize, arg: &[u8]) -> Vec<u8> {
        let Ok(s) = std::str::from_utf8(arg) else {
            return arg.to_vec();
        };
        if s == "${laddr}" {
            return format!("127.0.0.1:{}", self.port).into_bytes();
        }
        if let Some(n) = s.strip_prefix("${addr:").and_then(|r| r.strip_suffix('}')) {
            if let Ok(n) = n.parse::<usize>() {
                let saved = self.current;
                self.current = n;
                let addr = self.conn(step).addr();
                self.current = saved;
                return addr.into_bytes();
            }
        }
        arg.to_vec()
    }

    fn run(mut self) -> Vec<Outcome> {
        // Let the server notice that the harness's readiness probe has hung up, so that
        // commands counting connections (CLIENT KILL TYPE normal ...) see only ours.
        settle(self.port);
        for (i, step) in self.script.steps.iter().enumerate() {
            let result = match &step.action {
                Action::Cmd(Cmd {
                    mode,
                    subcommands,
                    masks,
                    args,
                }) => {
                    let args: Vec<Vec<u8>> = args.iter().map(|a| self.substitute(i, a)).collect();
                    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
                    let bytes = common::encode(&refs);
                    let c = self.conn(i);
                    match c.send(&bytes) {
                        Err(e) => e,
                        Ok(()) if *mode == Mode::NoReply => "<not read>".into(),
                        Ok(()) => {
                            let mut r = c.read_reply();
                            if let Ok(r) = r.as_mut() {
                                if *subcommands {
                                    sort_subcommands(r);
                                }
                                for m in masks {
                                    mask(r, m);
                                }
                            }
                            format_reply(&r, mode.clone())
                        }
                    }
                }
                Action::Conn(n) => {
                    self.current = *n;
                    self.conn(i);
                    continue;
                }
                Action::Reconnect => {
                    self.conns.remove(&self.current);
                    settle(self.port);
                    self.conn(i);
                    continue;
                }
                Action::Closed => {
                    let c = self.conn(i);
                    let r = c.read_until_quiet();
                    if r == "<open>" {
                        "open".into()
                    } else {
                        r
                    }
                }
                Action::Send(n, bytes) => {
                    let c = self.conn(i);
                    match c.send(bytes) {
                        Err(e) => e,
                        Ok(()) => {
                            let mut parts = Vec::new();
                            for _ in 0..*n {
                                let r = c.read_reply();
                                let failed = r.is_err();
                                parts.push(format_reply(&r, Mode::Exact));
                                if failed {
                                    break;
                                }
                            }
                            if parts.is_empty() {
                                "<not read>".into()
                            } else {
                                parts.join(" ; ")
                            }
                        }
                    }
                }
                Action::Raw(bytes) => {
                    let mut c = self.new_conn(i, "the @raw connection".into());
                    match c.send(bytes) {
                        Err(e) => e,
                        Ok(()) => {
                            let r = c.read_until_quiet();
                            drop(c);
                            settle(self.port);
                            r
                        }
                    }
                }
                Action::Sleep(ms) => {
                    std::thread::sleep(Duration::from_millis(*ms));
                    continue;
                }
            };
            self.out.push(Outcome {
                step: i,
                what: step.text.clone(),
                result,
            });
        }
        // Anything still unread (a reply that should not have been sent) is a difference.
        let mut ids: Vec<usize> = self.conns.keys().copied().collect();
        ids.sort();
        for id in ids {
            let c = self.conns.get_mut(&id).unwrap();
            if c.stream.is_none() && c.buf.is_empty() {
                continue;
            }
            let mut leftover = std::mem::take(&mut c.buf);
            if let Some(s) = c.stream.as_mut() {
                s.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
                let mut chunk = [0u8; 65536];
                while let Ok(n) = s.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    leftover.extend_from_slice(&chunk[..n]);
                }
            }
            if !leftover.is_empty() {
                self.out.push(Outcome {
                    step: usize::MAX,
                    what: format!("(end of script, connection {id})"),
                    result: format!("unread: \"{}\"", escape(&leftover)),
                });
            }
        }
        self.out
    }
}

/// Every keyspace event class, key misses and new keys included.
const ALL_EVENTS: &str = "KEAmn";

/// Runs a script; with `events`, the server publishes every keyspace event and a
/// connection opened first, subscribed to `__key*@*__:*`, records them. The events
/// are appended to the outcomes, one per message, in arrival order.
fn run_against_with(kind: Kind, script: &Script, proto: u8, events: bool) -> Vec<Outcome> {
    let mut args: Vec<&str> = script.config.iter().map(|s| s.as_str()).collect();
    if events {
        // Active expiry runs on timers, so its "expired" events would come at
        // different moments on the two servers: it is switched off below, which
        // needs DEBUG (a file's own @config, coming after, still wins).
        args.splice(0..0, ["--enable-debug-command", "yes"]);
        args.extend(["--notify-keyspace-events", ALL_EVENTS]);
    }
    // In a threaded mode (FERREDIS_IO_MODE) the oracle gets the same threads, so
    // CONFIG GET agrees; only ferredis can be forced to use them (io_mode_args).
    if kind == Kind::Redis {
        args.extend(common::io_mode_oracle_args());
    }
    let server = Server::start(kind, &args);
    let mut listener = None;
    if events {
        let mut d = Conn::open(server.port);
        let _ = d
            .send(&common::encode(&[b"DEBUG", b"SET-ACTIVE-EXPIRE", b"0"]))
            .and_then(|_| d.read_reply());
        drop(d);
        settle(server.port);
        let mut c = Conn::open(server.port);
        let ok = c
            .send(&common::encode(&[b"PSUBSCRIBE", b"__key*@*__:*"]))
            .and_then(|_| c.read_reply());
        assert!(ok.is_ok(), "{kind:?}: PSUBSCRIBE failed: {ok:?}");
        listener = Some(c);
    }
    let runner = Runner {
        port: server.port,
        proto,
        conns: HashMap::new(),
        current: 0,
        out: Vec::new(),
        script,
    };
    let mut out = runner.run();
    if let Some(mut c) = listener {
        // The script is over; whatever was published has been sent.
        let mut n = 0;
        loop {
            let mut probe = Conn {
                stream: c.stream.take(),
                buf: std::mem::take(&mut c.buf),
            };
            if let Some(s) = probe.stream.as_mut() {
                s.set_read_timeout(Some(IDLE_TIMEOUT)).unwrap();
            }
            let complete = |b: &[u8]| !matches!(parse_reply(b), Ok(None));
            let _ = probe.fill(Instant::now() + IDLE_TIMEOUT, complete);
            let parsed = parse_reply(&probe.buf);
            c = probe;
            match parsed {
                Ok(Some((r, len))) => {
                    c.buf.drain(..len);
                    n += 1;
                    out.push(Outcome {
                        step: usize::MAX,
                        what: format!("keyspace event {n}"),
                        result: canon(&r),
                    });
                }
                _ => break,
            }
        }
    }
    drop(server);
    out
}

// ---------------------------------------------------------------------------------------
// Comparing.

/// Compares replies, or (with `events`) the keyspace event streams, once per
/// protocol the file runs in (only the first for events: they do not depend on it).
fn compare_file_with(path: &Path, events: bool) -> Vec<String> {
    let script = parse_script(path);
    let name = path
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .display()
        .to_string();
    let mut diffs = Vec::new();
    let mut protos: Vec<u8> = [2u8, 3]
        .into_iter()
        .filter(|p| script.only.is_none_or(|o| o == *p))
        .collect();
    if events {
        protos.truncate(1);
    }
    // Every (protocol, server) run at once: each has a server of its own.
    let runs: Vec<(u8, Vec<Outcome>, Vec<Outcome>)> = std::thread::scope(|sc| {
        let handles: Vec<_> = protos
            .iter()
            .map(|&proto| {
                let script = &script;
                let f = sc.spawn(move || run_against_with(Kind::Ferredis, script, proto, events));
                let r = sc.spawn(move || run_against_with(Kind::Redis, script, proto, events));
                (proto, f, r)
            })
            .collect();
        handles
            .into_iter()
            .map(|(proto, f, r)| {
                (
                    proto,
                    f.join().expect("ferredis run panicked"),
                    r.join().expect("redis run panicked"),
                )
            })
            .collect()
    });
    for (proto, mut ours, mut theirs) in runs {
        if events {
            // Only the event streams: replies are the other test's business (and
            // differ from a run without notifications where CONFIG is read).
            ours.retain(|o| o.what.starts_with("keyspace event"));
            theirs.retain(|o| o.what.starts_with("keyspace event"));
        }
        if std::env::var_os("DIFF_VERBOSE").is_some() {
            let mut t = String::new();
            for o in &theirs {
                let line = script.steps.get(o.step).map_or(0, |s| s.line);
                let _ = writeln!(t, "{name}:{line} [RESP{proto}] {} -> {}", o.what, o.result);
            }
            eprint!("{t}");
        }
        let n = ours.len().max(theirs.len());
        for k in 0..n {
            let (o, t) = (ours.get(k), theirs.get(k));
            let same = match (o, t) {
                (Some(o), Some(t)) => o.step == t.step && o.what == t.what && o.result == t.result,
                _ => false,
            };
            if same {
                continue;
            }
            let any = o.or(t).unwrap();
            let line = if any.step == usize::MAX {
                "end".to_string()
            } else {
                script.steps[any.step].line.to_string()
            };
            let show = |x: Option<&Outcome>| match x {
                Some(x) if x.what == any.what => x.result.clone(),
                Some(x) => format!("[{}] {}", x.what, x.result),
                None => "<no outcome>".into(),
            };
            diffs.push(format!(
                "{name}:{line} [RESP{proto}] {}\n    redis:    {}\n    ferredis: {}",
                any.what,
                show(t),
                show(o)
            ));
            // Outcomes out of step (an extra implicit HELLO): stop comparing this pass.
            if o.map(|o| o.step) != t.map(|t| t.step) {
                diffs.push(format!(
                    "{name} [RESP{proto}]: outcomes out of step, rest of the pass skipped"
                ));
                break;
            }
        }
    }
    diffs
}

fn corpus_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let filter = std::env::var("CORPUS").ok();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .filter(|p| {
            filter
                .as_ref()
                .is_none_or(|f| p.to_string_lossy().contains(f.as_str()))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn differential() {
    let redis_ok = std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        redis_ok,
        "redis-server 7.0 is needed as the oracle (apt-get install redis-server)"
    );
    let files = corpus_files();
    assert!(!files.is_empty(), "no corpus files");
    let started = Instant::now();
    let mut all = run_corpus(&files, false);
    // Then the keyspace events: the whole corpus again, with a subscriber to every
    // event on each server, whose two streams must be identical.
    all.extend(run_corpus(&files, true));
    eprintln!(
        "differential: {} files, replies and keyspace events, in {:.1?}",
        files.len(),
        started.elapsed()
    );
    if !all.is_empty() {
        panic!(
            "{} difference(s) between redis-server and ferredis:\n\n{}\n",
            all.len(),
            all.join("\n\n")
        );
    }
}

/// Every file at once, each with servers of its own; the differences found.
fn run_corpus(files: &[PathBuf], events: bool) -> Vec<String> {
    let results: Vec<(PathBuf, Vec<String>)> = std::thread::scope(|sc| {
        let handles: Vec<_> = files
            .iter()
            .map(|f| (f.clone(), sc.spawn(move || compare_file_with(f, events))))
            .collect();
        handles
            .into_iter()
            .map(|(f, h)| {
                let r = h
                    .join()
                    .unwrap_or_else(|_| vec![format!("{}: the run panicked", f.display())]);
                (f, r)
            })
            .collect()
    });
    let mut all = Vec::new();
    for (_, diffs) in results {
        all.extend(diffs);
    }
    all
}
