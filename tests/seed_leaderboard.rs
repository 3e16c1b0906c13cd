//! The seeds' game leaderboard ("搭建游戏排行榜", seed 004): many game servers add
//! points to players with ZINCRBY at the same time, and anyone may read the top of
//! the board with ZREVRANGE WITHSCORES and a player's place with ZREVRANK.
//!
//! The claim: no increment is lost, however the clients interleave, because each
//! ZINCRBY reads and writes the score inside one call() on the main thread; and the
//! board is always consistent: ranks agree with the order of the scores.

mod common;

use std::sync::{Arc, Barrier};

use common::Server;

const CLIENTS: usize = 16;
const ROUNDS: usize = 300;
// More than zset-max-listpack-entries (128): the board turns into a skiplist mid-race.
const PLAYERS: usize = 200;

/// Points client `id` gives in round `round` (deterministic, so the expected
/// totals can be computed without trusting any reply).
fn points(id: usize, round: usize) -> i64 {
    ((id * 7 + round * 13) % 10) as i64 + 1
}

fn player(id: usize, round: usize) -> String {
    format!("player:{}", (id * 31 + round * 17) % PLAYERS)
}

/// 16 clients race ZINCRBY on one leaderboard while a reader watches the top 10:
/// every player's final score is the exact sum of the points given to it, each
/// ZINCRBY's reply is a score that player really reached, and ZREVRANK agrees with
/// ZREVRANGE's order.
#[test]
fn concurrent_zincrby_loses_nothing() {
    let srv = Server::ferredis(common::io_mode_args());
    let url = srv.url();
    let start = Arc::new(Barrier::new(CLIENTS + 2));
    let mut handles = Vec::new();
    // ANCHOR: zincrby_race
    for id in 0..CLIENTS {
        let (start, url) = (start.clone(), url.clone());
        handles.push(std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            start.wait();
            for round in 0..ROUNDS {
                let score: f64 = redis::cmd("ZINCRBY")
                    .arg("leaderboard")
                    .arg(points(id, round))
                    .arg(player(id, round))
                    .query(&mut con)
                    .unwrap();
                assert!(score >= points(id, round) as f64);
            }
        }));
    }
    // ANCHOR_END: zincrby_race
    // A reader: the board it sees is always sorted, and ranks match it.
    let reader = {
        let (start, url) = (start.clone(), url.clone());
        std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            start.wait();
            for _ in 0..100 {
                let top: Vec<(String, f64)> = redis::cmd("ZREVRANGE")
                    .arg("leaderboard")
                    .arg(0)
                    .arg(9)
                    .arg("WITHSCORES")
                    .query(&mut con)
                    .unwrap();
                for w in top.windows(2) {
                    assert!(w[0].1 >= w[1].1, "board out of order: {top:?}");
                }
            }
        })
    };
    start.wait();
    for h in handles {
        h.join().unwrap();
    }
    reader.join().unwrap();

    let mut expected = vec![0i64; PLAYERS];
    for id in 0..CLIENTS {
        for round in 0..ROUNDS {
            let p: usize = player(id, round)[7..].parse().unwrap();
            expected[p] += points(id, round);
        }
    }
    let mut con = srv.client();
    let board: Vec<(String, f64)> = redis::cmd("ZREVRANGE")
        .arg("leaderboard")
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(&mut con)
        .unwrap();
    let given = expected.iter().filter(|&&p| p > 0).count();
    assert_eq!(board.len(), given);
    let total: i64 = board.iter().map(|(_, s)| *s as i64).sum();
    assert_eq!(total, expected.iter().sum::<i64>(), "points were lost");
    for (rank, (name, score)) in board.iter().enumerate() {
        let p: usize = name[7..].parse().unwrap();
        assert_eq!(*score as i64, expected[p], "{name}");
        let r: i64 = redis::cmd("ZREVRANK")
            .arg("leaderboard")
            .arg(name)
            .query(&mut con)
            .unwrap();
        // Ties are ordered by member, from the highest: the rank is the position.
        assert_eq!(r as usize, rank, "{name}");
    }
    let n: i64 = redis::cmd("ZCARD")
        .arg("leaderboard")
        .query(&mut con)
        .unwrap();
    assert_eq!(n as usize, given);
    let enc: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg("leaderboard")
        .query(&mut con)
        .unwrap();
    assert_eq!(enc, "skiplist");
}

/// ZSCAN over a big board (a skiplist: the scan walks its dict) returns every
/// player with its score, whatever COUNT, even while the board grows under it:
/// the elements present for the whole scan are all returned.
#[test]
fn zscan_of_a_growing_board_misses_no_one() {
    let srv = Server::ferredis(common::io_mode_args());
    let mut con = srv.client();
    for i in 0..1000 {
        let _: i64 = redis::cmd("ZADD")
            .arg("board")
            .arg(i)
            .arg(format!("p{i}"))
            .query(&mut con)
            .unwrap();
    }
    let mut seen = std::collections::HashMap::new();
    let mut cursor: u64 = 0;
    let mut extra = 1000;
    loop {
        let (next, items): (u64, Vec<(String, f64)>) = redis::cmd("ZSCAN")
            .arg("board")
            .arg(cursor)
            .arg("COUNT")
            .arg(7)
            .query(&mut con)
            .unwrap();
        for (m, s) in items {
            seen.insert(m, s);
        }
        // Grow the table mid-scan: rehashing must not hide the original players.
        for _ in 0..20 {
            let _: i64 = redis::cmd("ZADD")
                .arg("board")
                .arg(extra)
                .arg(format!("p{extra}"))
                .query(&mut con)
                .unwrap();
            extra += 1;
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    for i in 0..1000 {
        assert_eq!(seen.get(&format!("p{i}")), Some(&(i as f64)), "p{i}");
    }
}
