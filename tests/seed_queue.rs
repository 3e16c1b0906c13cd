//! The list patterns of the seed documents, run as their users run them:
//!
//! - a message queue (002): producers RPUSH, consumers LPOP or BLPOP; with several
//!   consumers of each kind, every message is consumed exactly once;
//! - the bullet-comment ("danmu") lists of the game server (000): comments are
//!   appended to a list, moved in batches to a "latest" list with LRANGE + LTRIM,
//!   and read from there; nothing is lost or duplicated across batches.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::Server;

const PRODUCERS: usize = 4;
const PER_PRODUCER: usize = 500;

/// Four producers, two LPOP pollers and two BLPOP waiters on one queue: the union
/// of what the consumers got is exactly what was produced, with no duplicate.
#[test]
fn queue_with_lpop_and_blpop_consumers_loses_and_duplicates_nothing() {
    let srv = Server::ferredis(common::io_mode_args());
    let url = srv.url();
    let done = Arc::new(AtomicBool::new(false));
    let mut consumers = Vec::new();
    for kind in ["lpop", "lpop", "blpop", "blpop"] {
        let (url, done) = (url.clone(), done.clone());
        consumers.push(std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            let mut got = Vec::new();
            loop {
                let msg: Option<String> = if kind == "lpop" {
                    redis::cmd("LPOP")
                        .arg("message_queue")
                        .query(&mut con)
                        .unwrap()
                } else {
                    let r: Option<(String, String)> = redis::cmd("BLPOP")
                        .arg("message_queue")
                        .arg(0.1)
                        .query(&mut con)
                        .unwrap();
                    r.map(|(_, v)| v)
                };
                match msg {
                    Some(m) => got.push(m),
                    None if done.load(Ordering::SeqCst) => {
                        // One last look: the producers have finished.
                        let rest: Option<String> = redis::cmd("LPOP")
                            .arg("message_queue")
                            .query(&mut con)
                            .unwrap();
                        match rest {
                            Some(m) => got.push(m),
                            None => return got,
                        }
                    }
                    None if kind == "lpop" => std::thread::sleep(Duration::from_millis(1)),
                    None => {}
                }
            }
        }));
    }
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                for i in 0..PER_PRODUCER {
                    let _: i64 = redis::cmd("RPUSH")
                        .arg("message_queue")
                        .arg(format!("p{p}-m{i}"))
                        .query(&mut con)
                        .unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let mut all = Vec::new();
    for c in consumers {
        all.extend(c.join().unwrap());
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "a message was consumed twice");
    assert_eq!(all.len(), PRODUCERS * PER_PRODUCER, "a message was lost");
    let mut con = srv.client();
    let left: i64 = redis::cmd("LLEN")
        .arg("message_queue")
        .query(&mut con)
        .unwrap();
    assert_eq!(left, 0);
}

/// The danmu pipeline: writers append comments, a mover transfers the oldest batch
/// to the "latest" list with LRANGE + LTRIM (one mover at a time, as the seed's server
/// ensures with its lock), a reader drains
/// "latest". Every comment reaches the reader exactly once, in order.
#[test]
fn danmu_batches_move_without_loss_or_duplicates() {
    const WRITERS: usize = 3;
    const PER_WRITER: usize = 300;
    const BATCH: i64 = 50;
    let srv = Server::ferredis(common::io_mode_args());
    let url = srv.url();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                for i in 0..PER_WRITER {
                    let _: i64 = redis::cmd("RPUSH")
                        .arg("netease:danmu:list")
                        .arg(format!("w{w}:{i}"))
                        .query(&mut con)
                        .unwrap();
                }
            })
        })
        .collect();
    // The mover: the only client that trims the source, so LRANGE then LTRIM of the
    // same count takes exactly the elements it read, even while writers append.
    let mut mover = srv.client();
    let mut reader = srv.client();
    let mut delivered: Vec<String> = Vec::new();
    let total = WRITERS * PER_WRITER;
    let mut writers = Some(writers);
    while delivered.len() < total {
        let batch: Vec<String> = redis::cmd("LRANGE")
            .arg("netease:danmu:list")
            .arg(0)
            .arg(BATCH - 1)
            .query(&mut mover)
            .unwrap();
        if !batch.is_empty() {
            let _: () = redis::cmd("LTRIM")
                .arg("netease:danmu:list")
                .arg(batch.len())
                .arg(-1)
                .query(&mut mover)
                .unwrap();
            let _: i64 = redis::cmd("RPUSH")
                .arg("netease:danmu:latest")
                .arg(&batch)
                .query(&mut mover)
                .unwrap();
        }
        // The reader takes everything "latest" holds.
        let got: Option<Vec<String>> = redis::cmd("LPOP")
            .arg("netease:danmu:latest")
            .arg(1000)
            .query(&mut reader)
            .unwrap();
        delivered.extend(got.unwrap_or_default());
        if batch.is_empty() {
            if let Some(ws) = writers.take() {
                for w in ws {
                    w.join().unwrap();
                }
            } else {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    if let Some(ws) = writers.take() {
        for w in ws {
            w.join().unwrap();
        }
    }
    assert_eq!(delivered.len(), total);
    let unique: HashSet<&String> = delivered.iter().collect();
    assert_eq!(unique.len(), total, "a comment was delivered twice");
    // Per writer, comments arrive in the order they were written.
    for w in 0..WRITERS {
        let mine: Vec<usize> = delivered
            .iter()
            .filter_map(|d| d.strip_prefix(&format!("w{w}:")))
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(mine, (0..PER_WRITER).collect::<Vec<_>>(), "writer {w}");
    }
    let mut con = srv.client();
    let left: i64 = redis::cmd("EXISTS")
        .arg("netease:danmu:list")
        .arg("netease:danmu:latest")
        .query(&mut con)
        .unwrap();
    assert_eq!(left, 0);
}
