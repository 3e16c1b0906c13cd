//! Port of slowlog.c: the log of commands slower than `slowlog-log-slower-than`.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::networking::Client;
use crate::resp::{add_reply_error, add_reply_help, add_reply_subcommand_syntax_error, shared};
use crate::server::Server;

const SLOWLOG_ENTRY_MAX_ARGC: usize = 32;
const SLOWLOG_ENTRY_MAX_STRING: usize = 128;

/// slowlog.h: slowlogEntry
pub struct SlowlogEntry {
    pub id: i64,
    pub time: i64,
    pub duration: i64,
    pub argv: Vec<Bytes>,
    pub peerid: String,
    pub cname: Bytes,
}

/// The log itself, newest first (server.h: server.slowlog).
#[derive(Default)]
pub struct SlowLog {
    pub entries: VecDeque<SlowlogEntry>,
    pub entry_id: i64,
}

/// slowlog.c: slowlogCreateEntry (long argument lists and strings are trimmed)
fn slowlog_create_entry(s: &mut Server, c: &Client, duration: i64) -> SlowlogEntry {
    // A command that redacted arguments is logged as redacted.
    let cargv = c.original_argv.as_ref().unwrap_or(&c.argv);
    let argc = cargv.len();
    let slargc = argc.min(SLOWLOG_ENTRY_MAX_ARGC);
    let mut argv = Vec::with_capacity(slargc);
    for (j, arg) in cargv.iter().take(slargc).enumerate() {
        if slargc != argc && j == slargc - 1 {
            argv.push(Bytes::from(format!(
                "... ({} more arguments)",
                argc - slargc + 1
            )));
        } else if arg.len() > SLOWLOG_ENTRY_MAX_STRING {
            let mut v = arg[..SLOWLOG_ENTRY_MAX_STRING].to_vec();
            v.extend_from_slice(
                format!("... ({} more bytes)", arg.len() - SLOWLOG_ENTRY_MAX_STRING).as_bytes(),
            );
            argv.push(Bytes::from(v));
        } else {
            argv.push(cargv[j].clone());
        }
    }
    let id = s.slowlog.entry_id;
    s.slowlog.entry_id += 1;
    SlowlogEntry {
        id,
        time: s.unixtime,
        duration,
        argv,
        peerid: c.peer.clone(),
        cname: c.name.clone().unwrap_or_default(),
    }
}

/// slowlog.c: slowlogPushEntryIfNeeded
pub fn slowlog_push_entry_if_needed(s: &mut Server, c: &Client, duration: i64) {
    let slower_than = s.config.slowlog_log_slower_than;
    if slower_than < 0 || duration < slower_than {
        return;
    }
    let e = slowlog_create_entry(s, c, duration);
    s.slowlog.entries.push_front(e);
    while s.slowlog.entries.len() as i64 > s.config.slowlog_max_len {
        s.slowlog.entries.pop_back();
    }
}

/// slowlog.c: slowlogCommand
pub fn slowlog_command(s: &mut Server, c: &mut Client) {
    let argc = c.argv.len();
    let sub = c.argv[1].to_ascii_lowercase();
    match (sub.as_slice(), argc) {
        (b"help", 2) => add_reply_help(
            c,
            &[
                "GET [<count>]",
                "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                "    Entries are made of:",
                "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                "    client name",
                "LEN",
                "    Return the length of the slowlog.",
                "RESET",
                "    Reset the slowlog.",
            ],
        ),
        (b"reset", 2) => {
            s.slowlog.entries.clear();
            c.add_reply(shared::OK);
        }
        (b"len", 2) => c.add_reply_long_long(s.slowlog.entries.len() as i64),
        (b"get", 2) | (b"get", 3) => {
            let mut count: i64 = 10;
            if argc == 3 {
                match crate::util::string2ll(&c.argv[2]) {
                    Some(n) if n >= -1 => count = n,
                    _ => {
                        add_reply_error(s, c, "count should be greater than or equal to -1");
                        return;
                    }
                }
                if count == -1 {
                    count = s.slowlog.entries.len() as i64;
                }
            }
            let n = (count as usize).min(s.slowlog.entries.len());
            c.add_reply_array_len(n);
            for e in s.slowlog.entries.iter().take(n) {
                c.add_reply_array_len(6);
                c.add_reply_long_long(e.id);
                c.add_reply_long_long(e.time);
                c.add_reply_long_long(e.duration);
                c.add_reply_array_len(e.argv.len());
                for a in &e.argv {
                    c.add_reply_bulk(a);
                }
                c.add_reply_bulk(e.peerid.as_bytes());
                c.add_reply_bulk(&e.cname);
            }
        }
        _ => add_reply_subcommand_syntax_error(s, c),
    }
}
