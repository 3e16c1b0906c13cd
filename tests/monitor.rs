//! MONITOR against the real redis-server: the same commands on both servers must
//! produce the same monitor feed once the timestamp and the client's address (which
//! differ by nature) are set aside.

mod common;

use std::time::Duration;

use common::{encode, io_mode_args, io_mode_oracle_args, Raw, Server};

/// Reads monitor lines until `n` have arrived (or a few seconds pass).
fn read_lines(m: &mut Raw, n: usize) -> Vec<String> {
    m.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut out = Vec::new();
    while out.len() < n {
        let r = m.read_reply();
        if r.is_empty() {
            break;
        }
        out.push(String::from_utf8_lossy(&r).into_owned());
    }
    out
}

/// `+1700000000.123456 [0 127.0.0.1:5000] "SET" "k" "v"` -> `[0] "SET" "k" "v"`,
/// after checking the parts that are set aside have the right form.
fn normalize(line: &str) -> String {
    let rest = line.strip_prefix('+').expect("a status line");
    let (ts, rest) = rest.split_once(' ').unwrap();
    let (secs, usecs) = ts.split_once('.').unwrap();
    assert!(secs.parse::<u64>().is_ok() && usecs.len() == 6, "{line}");
    let (who, args) = rest.split_once("] ").unwrap();
    let (db, addr) = who.trim_start_matches('[').split_once(' ').unwrap();
    assert!(addr == "lua" || addr.starts_with("127.0.0.1:"), "{line}");
    format!("[{db}] {}", args.trim_end())
}

fn feed(srv: &Server) -> (Vec<String>, Vec<Vec<u8>>) {
    let mut m = srv.raw();
    assert_eq!(m.cmd(&[b"MONITOR"]), b"+OK\r\n");
    let mut c = srv.raw();
    let mut replies = Vec::new();
    let script: &[&[&[u8]]] = &[
        &[b"SET", b"k", b"v"],
        &[b"GET", b"k"],
        &[b"MULTI"],
        &[b"SET", b"a", b"1"],
        &[b"INCR", b"a"],
        &[b"EXEC"],
        // Administrative commands are not shown.
        &[b"CONFIG", b"GET", b"maxmemory"],
        &[b"DEBUG", b"SLEEP", b"0"],
        &[b"PING"],
        &[b"SELECT", b"1"],
        &[b"SET", b"bin", b"\x00\n\"\\\x7f\xff \t"],
        &[b"DEL", b"bin"],
        &[b"SELECT", b"0"],
        // Refused at queue time: not shown; the EXEC that fails is.
        &[b"MULTI"],
        &[b"NOSUCH"],
        &[b"EXEC"],
        // EXEC refused by processCommand: shown by the abort.
        &[b"MULTI"],
        &[b"EXEC", b"extra"],
        // An unknown command never reaches call().
        &[b"NOSUCH", b"x"],
        &[b"ECHO", b"last"],
    ];
    for cmd in script {
        replies.push(c.cmd(cmd));
    }
    // The monitor itself may not touch the keyspace.
    m.send(&encode(&[b"GET", b"k"]));
    let mut lines = read_lines(&mut m, 17);
    let tail = lines.pop().unwrap_or_default();
    lines = lines.iter().map(|l| normalize(l)).collect();
    lines.push(tail);
    (lines, replies)
}

#[test]
fn monitor_feed_matches_redis() {
    let mut args = vec!["--enable-debug-command", "yes"];
    args.extend_from_slice(io_mode_args());
    let ours = Server::ferredis(&args);
    let mut oracle_args = vec!["--enable-debug-command", "yes"];
    oracle_args.extend(io_mode_oracle_args());
    let theirs = Server::redis(&oracle_args);
    let (ours_lines, ours_replies) = feed(&ours);
    let (their_lines, their_replies) = feed(&theirs);
    assert_eq!(ours_replies, their_replies);
    assert_eq!(ours_lines, their_lines);
    // The feed really holds the commands (the test cannot pass on two empty feeds).
    assert!(
        their_lines.iter().any(|l| l == "[0] \"SET\" \"k\" \"v\""),
        "{their_lines:#?}"
    );
    assert_eq!(
        their_lines.last().unwrap(),
        "-ERR Replica can't interact with the keyspace\r\n"
    );
}
