//! Keyspace notifications over real sockets: events are published from inside the
//! command, after its change and before its reply, so a subscriber sees them in
//! command order, together for a transaction, and never for a command that changed
//! nothing. Every test runs in the I/O mode FERREDIS_IO_MODE selects.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{io_mode_args, Server};

fn server() -> Server {
    let mut args = vec!["--notify-keyspace-events", "KEA"];
    args.extend_from_slice(io_mode_args());
    Server::ferredis(&args)
}

/// The claim of the Pub/Sub chapter, part 1: a command that fails or changes
/// nothing publishes nothing; the others publish exactly their events, in order.
#[test]
fn events_only_for_changes_in_command_order() {
    let srv = server();
    let mut sub_con = srv.client();
    let mut sub = sub_con.as_pubsub();
    sub.psubscribe("__keyevent@0__:*").unwrap();
    let mut con = srv.client();
    let steps: &[&[&str]] = &[
        &["SET", "k", "1"],
        &["SET", "k", "2", "NX"], // not set: no event
        &["INCR", "k"],
        &["SET", "s", "text"],
        &["INCR", "s"],               // error: no event
        &["EXPIRE", "missing", "10"], // no key: no event
        &["DEL", "missing"],          // nothing deleted: no event
        &["APPEND", "s", "!"],
        &["EXPIRE", "k", "100"],
        &["PERSIST", "k"],
        &["PERSIST", "k"], // no TTL left: no event
        &["RENAME", "k", "k2"],
        &["SET", "last", "x"],
    ];
    for step in steps {
        let mut cmd = redis::cmd(step[0]);
        for a in &step[1..] {
            cmd.arg(*a);
        }
        let _: redis::RedisResult<redis::Value> = cmd.query(&mut con);
    }
    let mut got = Vec::new();
    loop {
        let m = sub.get_message().unwrap();
        let event = m
            .get_channel_name()
            .trim_start_matches("__keyevent@0__:")
            .to_string();
        let key: String = m.get_payload().unwrap();
        let done = key == "last";
        got.push(format!("{event} {key}"));
        if done {
            break;
        }
    }
    assert_eq!(
        got,
        [
            "set k",
            "incrby k",
            "set s",
            "append s",
            "expire k",
            "persist k",
            "rename_from k",
            "rename_to k2",
            "set last",
        ]
    );
}

/// The claim, part 2: the events of a transaction arrive together. While other
/// clients write as fast as they can, every MULTI of four SETs shows as four
/// consecutive events, never interleaved with anyone else's.
#[test]
fn a_transactions_events_are_contiguous() {
    let srv = server();
    let mut sub_con = srv.client();
    let mut sub = sub_con.as_pubsub();
    sub.psubscribe("__keyevent@0__:set").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut noise = Vec::new();
    for w in 0..2 {
        let (url, stop) = (srv.url(), stop.clone());
        noise.push(std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let () = redis::cmd("SET")
                    .arg(format!("noise{w}"))
                    .arg(n)
                    .query(&mut con)
                    .unwrap();
                n += 1;
            }
            n
        }));
    }
    let mut con = srv.client();
    const TX: usize = 200;
    for t in 0..TX {
        let mut p = redis::pipe();
        p.atomic();
        for i in 0..4 {
            p.cmd("SET").arg(format!("tx{i}")).arg(t).ignore();
        }
        let () = p.query(&mut con).unwrap();
    }
    let () = redis::cmd("SET")
        .arg("done")
        .arg(1)
        .query(&mut con)
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let noise_writes: usize = noise.into_iter().map(|h| h.join().unwrap()).sum();
    let mut keys = Vec::new();
    loop {
        let m = sub.get_message().unwrap();
        let key: String = m.get_payload().unwrap();
        if key == "done" {
            break;
        }
        keys.push(key);
    }
    let mut seen = 0;
    let mut interleaved_noise = 0;
    let mut i = 0;
    while i < keys.len() {
        if keys[i] == "tx0" {
            assert_eq!(
                &keys[i..i + 4],
                ["tx0", "tx1", "tx2", "tx3"],
                "a transaction's events were split at {i}"
            );
            seen += 1;
            i += 4;
        } else {
            assert!(keys[i].starts_with("noise"), "{}", keys[i]);
            interleaved_noise += 1;
            i += 1;
        }
    }
    assert_eq!(seen, TX);
    assert!(
        interleaved_noise > 0 && noise_writes > 0,
        "the other writers never ran between transactions"
    );
}
