//! Seed 000's global bullet comments ("danmu"), end to end: game servers append the
//! comments their players send to `netease:danmu:list`; every period one server,
//! the one holding the distributed lock, moves a batch to `netease:danmu:latest`
//! and pushes it to the players over Pub/Sub. Nothing may be lost or shown twice,
//! and every player must see the same batches in the same order.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{io_mode_args, Server};

const GAME_SERVERS: usize = 3;
const COMMENTS_PER_SERVER: usize = 300;
const PLAYERS: usize = 2;
/// The lock's lifetime: at most one move per period (the seed uses 7 s).
const PERIOD_MS: u64 = 100;
const BATCH: isize = 50;

// ANCHOR: try_move
/// One mover's turn: take the lock for a period (never released early: the lock
/// is what spaces the moves), then move the oldest batch atomically and publish it.
/// Returns whether this server moved anything.
fn try_move(con: &mut redis::Connection, me: usize) -> bool {
    let got: Option<String> = redis::cmd("SET")
        .arg("netease:danmu:lock")
        .arg(me)
        .arg("NX")
        .arg("PX")
        .arg(PERIOD_MS)
        .query(con)
        .unwrap();
    if got.is_none() {
        return false;
    }
    // LRANGE + LTRIM + replace latest, as one transaction: no comment can be taken
    // twice or dropped between reading and trimming.
    let (batch, ()): (Vec<String>, ()) = redis::pipe()
        .atomic()
        .cmd("LRANGE")
        .arg("netease:danmu:list")
        .arg(0)
        .arg(BATCH - 1)
        .cmd("LTRIM")
        .arg("netease:danmu:list")
        .arg(BATCH)
        .arg(-1)
        .cmd("DEL")
        .arg("netease:danmu:latest")
        .ignore()
        .query(con)
        .unwrap();
    if batch.is_empty() {
        return false;
    }
    let _: i64 = redis::cmd("RPUSH")
        .arg("netease:danmu:latest")
        .arg(&batch)
        .query(con)
        .unwrap();
    let _: i64 = redis::cmd("PUBLISH")
        .arg("netease:danmu:push")
        .arg(batch.join("\n"))
        .query(con)
        .unwrap();
    true
}
// ANCHOR_END: try_move

#[test]
fn bullet_comments_reach_every_player_once_in_order() {
    let srv = Server::ferredis(io_mode_args());
    // The players subscribe first.
    let ready = Arc::new(Barrier::new(PLAYERS + 1));
    let players: Vec<_> = (0..PLAYERS)
        .map(|_| {
            let (url, ready) = (srv.url(), ready.clone());
            std::thread::spawn(move || {
                let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                let mut sub = con.as_pubsub();
                sub.subscribe("netease:danmu:push").unwrap();
                ready.wait();
                let mut batches: Vec<Vec<String>> = Vec::new();
                let mut seen = 0;
                while seen < GAME_SERVERS * COMMENTS_PER_SERVER {
                    let m = sub.get_message().unwrap();
                    let text: String = m.get_payload().unwrap();
                    let b: Vec<String> = text.split('\n').map(String::from).collect();
                    seen += b.len();
                    batches.push(b);
                }
                batches
            })
        })
        .collect();
    ready.wait();

    // Game servers: append their players' comments, a few at a time.
    let started = Instant::now();
    let writers: Vec<_> = (0..GAME_SERVERS)
        .map(|g| {
            let url = srv.url();
            std::thread::spawn(move || {
                let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                for chunk in (0..COMMENTS_PER_SERVER).collect::<Vec<_>>().chunks(10) {
                    let comments: Vec<String> = chunk.iter().map(|i| format!("s{g}:{i}")).collect();
                    let _: i64 = redis::cmd("RPUSH")
                        .arg("netease:danmu:list")
                        .arg(&comments)
                        .query(&mut con)
                        .unwrap();
                    std::thread::sleep(Duration::from_millis(3));
                }
            })
        })
        .collect();
    // Movers: every game server tries often; the lock lets one through per period.
    let writing_done = Arc::new(AtomicBool::new(false));
    let movers: Vec<_> = (0..GAME_SERVERS)
        .map(|g| {
            let (url, done) = (srv.url(), writing_done.clone());
            std::thread::spawn(move || {
                let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                let mut moves = 0;
                loop {
                    let finished = done.load(Ordering::SeqCst);
                    if try_move(&mut con, g) {
                        moves += 1;
                    }
                    let left: i64 = redis::cmd("LLEN")
                        .arg("netease:danmu:list")
                        .query(&mut con)
                        .unwrap();
                    if finished && left == 0 {
                        return moves;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    writing_done.store(true, Ordering::SeqCst);
    let moves: usize = movers.into_iter().map(|m| m.join().unwrap()).sum();
    let elapsed = started.elapsed();

    let seen: Vec<Vec<Vec<String>>> = players.into_iter().map(|p| p.join().unwrap()).collect();
    // Every player saw the same batches, in the same order.
    for other in &seen[1..] {
        assert_eq!(other, &seen[0]);
    }
    assert_eq!(seen[0].len(), moves, "one message per move");
    // Nothing lost, nothing twice, and each server's comments in the order sent.
    let all: Vec<&String> = seen[0].iter().flatten().collect();
    assert_eq!(all.len(), GAME_SERVERS * COMMENTS_PER_SERVER);
    for g in 0..GAME_SERVERS {
        let mine: Vec<usize> = all
            .iter()
            .filter_map(|c| c.strip_prefix(&format!("s{g}:")))
            .map(|i| i.parse().unwrap())
            .collect();
        assert_eq!(
            mine,
            (0..COMMENTS_PER_SERVER).collect::<Vec<_>>(),
            "server {g}"
        );
    }
    // The lock spaces the moves: at most one per period (generous bound).
    let periods = (elapsed.as_millis() as u64 / PERIOD_MS) as usize + 2;
    assert!(moves <= periods, "{moves} moves in {elapsed:?}");
    // The last batch is still readable as "latest".
    let mut con = srv.client();
    let latest: Vec<String> = redis::cmd("LRANGE")
        .arg("netease:danmu:latest")
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!(&latest, seen[0].last().unwrap());
}
