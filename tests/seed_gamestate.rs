//! The seed's game server, over real sockets: per-player hashes updated by several
//! game processes at once, a write-behind task that periodically copies dirty
//! players from Redis to "SQL", and the players' online status kept in sets
//! (seeds/000: memory -> Redis every few seconds -> SQL; online status read by the
//! friend interface).
//!
//! Run: `cargo test --test seed_gamestate` (any FERREDIS_IO_MODE).

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::Server;

const PLAYERS: usize = 24;
const GAME_SERVERS: usize = 4;
const UPDATES_PER_SERVER: usize = 400;
/// Quest fields a player can gain: enough to push a hash past the listpack limit
/// set below while the game is running.
const QUESTS: usize = 12;

/// A tiny deterministic generator, so a failing run can be replayed.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// The "SQL" side of the write-behind: the last snapshot flushed for each player.
type Sql = HashMap<String, HashMap<String, String>>;

// ANCHOR: flush
/// One flush pass: take the dirty set's members one by one with SPOP, then
/// snapshot each player with HGETALL. A player updated after its SPOP is marked
/// dirty again, so the next pass takes a newer snapshot: nothing is lost as long as
/// HINCRBY and SADD are each atomic and a final pass runs after the last update.
fn flush(con: &mut redis::Connection, sql: &mut Sql) -> usize {
    flush_at_most(con, sql, usize::MAX)
}

/// A flush pass that stops after `limit` players (the scheduled pass takes the
/// players dirty when it starts, not those dirtied again while it runs).
fn flush_at_most(con: &mut redis::Connection, sql: &mut Sql, limit: usize) -> usize {
    let mut flushed = 0;
    while flushed < limit {
        let player: Option<String> = redis::cmd("SPOP").arg("dirty").query(con).unwrap();
        let Some(player) = player else {
            return flushed;
        };
        let row: HashMap<String, String> = redis::cmd("HGETALL").arg(&player).query(con).unwrap();
        sql.insert(player, row);
        flushed += 1;
    }
    flushed
}
// ANCHOR_END: flush

/// Every increment a game server made reaches "SQL", although the write-behind
/// task flushed concurrently with the updates and the hashes changed encoding
/// (listpack to hashtable) in the middle of the game.
#[test]
fn write_behind_flushes_every_increment() {
    let srv = Server::ferredis(&["--hash-max-listpack-entries", "8"]);
    let done = Arc::new(AtomicBool::new(false));
    // Passes the flusher has finished: the game servers wait, halfway through,
    // until two have, so the write-behind certainly runs during the game.
    let passes_done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sql = Arc::new(Mutex::new(Sql::new()));

    let flusher = {
        let mut con = srv.client();
        let done = done.clone();
        let sql = sql.clone();
        let passes_done = passes_done.clone();
        thread::spawn(move || {
            let mut passes = 0;
            while !done.load(Ordering::SeqCst) {
                flush(&mut con, &mut sql.lock().unwrap());
                passes += 1;
                passes_done.store(passes, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(5));
            }
            // The last pass, after every game server has finished.
            flush(&mut con, &mut sql.lock().unwrap());
            passes
        })
    };

    // Each game server keeps its own tally of what it added, per player and field.
    let servers: Vec<_> = (0..GAME_SERVERS)
        .map(|g| {
            let mut con = srv.client();
            let passes_done = passes_done.clone();
            thread::spawn(move || {
                let mut rng = Lcg(g as u64 + 1);
                let mut tally: HashMap<(usize, String), i64> = HashMap::new();
                for u in 0..UPDATES_PER_SERVER {
                    if u == UPDATES_PER_SERVER / 2 {
                        while passes_done.load(Ordering::SeqCst) < 2 {
                            thread::sleep(Duration::from_millis(1));
                        }
                    }
                    let p = rng.next() as usize % PLAYERS;
                    let key = format!("player:{p}");
                    let field = match rng.next() % 3 {
                        0 => "gold".to_string(),
                        1 => "xp".to_string(),
                        _ => format!("quest:{}", rng.next() as usize % QUESTS),
                    };
                    let by = (rng.next() % 10) as i64 + 1;
                    // One round trip per update: the counter, who touched the player
                    // last (a plain HSET beside the counters), and the dirty mark.
                    // Each command is atomic on its own; no transaction is needed.
                    let _: () = redis::pipe()
                        .cmd("HINCRBY")
                        .arg(&key)
                        .arg(&field)
                        .arg(by)
                        .ignore()
                        .cmd("HSET")
                        .arg(&key)
                        .arg("last_server")
                        .arg(g)
                        .ignore()
                        .cmd("SADD")
                        .arg("dirty")
                        .arg(&key)
                        .ignore()
                        .query(&mut con)
                        .unwrap();
                    *tally.entry((p, field)).or_default() += by;
                }
                tally
            })
        })
        .collect();

    let mut expected: HashMap<(usize, String), i64> = HashMap::new();
    for h in servers {
        for (k, v) in h.join().unwrap() {
            *expected.entry(k).or_default() += v;
        }
    }
    done.store(true, Ordering::SeqCst);
    let passes = flusher.join().unwrap();
    assert!(passes > 1, "the flusher ran concurrently with the game");

    let sql = sql.lock().unwrap();
    for ((p, field), total) in &expected {
        let row = sql
            .get(&format!("player:{p}"))
            .unwrap_or_else(|| panic!("player:{p} never reached SQL"));
        let got: i64 = row
            .get(field)
            .unwrap_or_else(|| panic!("player:{p} {field} never reached SQL"))
            .parse()
            .unwrap();
        assert_eq!(
            got, *total,
            "player:{p} {field}: SQL has {got}, the game added {total}"
        );
    }
    // Nothing in SQL that no game server wrote.
    let fields: usize = sql.values().map(|r| r.len() - 1).sum();
    assert_eq!(fields, expected.len());

    // Redis agrees with SQL, and the big hashes converted on the way.
    let mut con = srv.client();
    let mut converted = 0;
    for p in 0..PLAYERS {
        let key = format!("player:{p}");
        let row: HashMap<String, String> = redis::cmd("HGETALL").arg(&key).query(&mut con).unwrap();
        assert_eq!(Some(&row), sql.get(&key));
        let enc: String = redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg(&key)
            .query(&mut con)
            .unwrap();
        let len = row.len();
        assert_eq!(
            enc,
            if len > 8 { "hashtable" } else { "listpack" },
            "{key}: {len} fields"
        );
        converted += (enc == "hashtable") as usize;
    }
    assert!(converted > 0, "some players' hashes outgrew the listpack");
    let dirty: i64 = redis::cmd("SCARD").arg("dirty").query(&mut con).unwrap();
    assert_eq!(dirty, 0);
}

/// Players log in and out from several game servers at once; the online set ends
/// up with exactly the players whose last event was a login, and the friend
/// interface (SINTER of a friend list with the online set) sees the same.
#[test]
fn online_status_sets_match_the_last_event_of_each_player() {
    let srv = Server::ferredis(&["--set-max-intset-entries", "64"]);
    // Each game server owns a disjoint range of player ids, so each knows the final
    // state of its own players. Ids are numbers (an intset) until the guests come.
    let per_server = 50;
    let handles: Vec<_> = (0..GAME_SERVERS)
        .map(|g| {
            let mut con = srv.client();
            thread::spawn(move || {
                let mut rng = Lcg(100 + g as u64);
                let mut online: HashSet<String> = HashSet::new();
                // Events go out in batches of 20 pipelined commands: still in order
                // on this connection, interleaved with the other servers' batches.
                for batch in 0..40 {
                    let mut p = redis::pipe();
                    for j in 0..20 {
                        let i = batch * 20 + j;
                        let n = g * per_server + rng.next() as usize % per_server;
                        // Late in the game, guests with non-numeric ids log in too.
                        let id = if i > 600 && n.is_multiple_of(5) {
                            format!("guest-{n}")
                        } else {
                            n.to_string()
                        };
                        if rng.next().is_multiple_of(2) {
                            p.cmd("SADD").arg("online").arg(&id).ignore();
                            online.insert(id);
                        } else {
                            p.cmd("SREM").arg("online").arg(&id).ignore();
                            online.remove(&id);
                        }
                    }
                    let _: () = p.query(&mut con).unwrap();
                }
                online
            })
        })
        .collect();
    let mut expected: HashSet<String> = HashSet::new();
    for h in handles {
        expected.extend(h.join().unwrap());
    }
    let mut con = srv.client();
    let members: HashSet<String> = redis::cmd("SMEMBERS")
        .arg("online")
        .query(&mut con)
        .unwrap();
    assert_eq!(members, expected);
    let card: usize = redis::cmd("SCARD").arg("online").query(&mut con).unwrap();
    assert_eq!(card, expected.len());
    let enc: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg("online")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        enc, "hashtable",
        "guests or the player count converted the intset"
    );

    // The friend interface: which of my friends are online?
    let friends: Vec<String> = (0..GAME_SERVERS * per_server)
        .step_by(3)
        .map(|n| n.to_string())
        .collect();
    let _: i64 = redis::cmd("SADD")
        .arg("friends:me")
        .arg(&friends)
        .query(&mut con)
        .unwrap();
    let online_friends: HashSet<String> = redis::cmd("SINTER")
        .arg("friends:me")
        .arg("online")
        .query(&mut con)
        .unwrap();
    let want: HashSet<String> = friends
        .iter()
        .filter(|f| expected.contains(*f))
        .cloned()
        .collect();
    assert_eq!(online_friends, want);
    let flags: Vec<i64> = redis::cmd("SMISMEMBER")
        .arg("online")
        .arg(&friends)
        .query(&mut con)
        .unwrap();
    for (f, flag) in friends.iter().zip(flags) {
        assert_eq!(flag == 1, expected.contains(f), "SMISMEMBER online {f}");
    }
    let n: usize = redis::cmd("SINTERCARD")
        .arg(2)
        .arg("friends:me")
        .arg("online")
        .query(&mut con)
        .unwrap();
    assert_eq!(n, want.len());
}

// ANCHOR: schedule
/// The seed's write-behind periods: a game process folds its players' progress
/// into its own memory and sends it to Redis every 4 s; Redis is copied to SQL
/// every 444 s.
struct Schedule {
    memory_to_redis: Duration,
    redis_to_sql: Duration,
}

const SEED_SCHEDULE: Schedule = Schedule {
    memory_to_redis: Duration::from_secs(4),
    redis_to_sql: Duration::from_secs(444),
};

impl Schedule {
    /// The same schedule, both periods divided by `by` (the test runs it 1000
    /// times faster; WRITE_BEHIND_SCALE=1 runs it at the seed's real pace).
    fn scaled_down(&self, by: u32) -> Schedule {
        Schedule {
            memory_to_redis: self.memory_to_redis / by,
            redis_to_sql: self.redis_to_sql / by,
        }
    }
}

/// Memory to Redis: one pipeline with an HINCRBY per (player, quest) changed
/// since the last flush, and the dirty marks. Returns the commands sent.
fn flush_memory(con: &mut redis::Connection, memory: &mut HashMap<(usize, String), i64>) -> usize {
    if memory.is_empty() {
        return 0;
    }
    let mut p = redis::pipe();
    for ((player, quest), by) in memory.iter() {
        let key = format!("player:{player}");
        p.cmd("HINCRBY").arg(&key).arg(quest).arg(*by).ignore();
        p.cmd("SADD").arg("dirty").arg(&key).ignore();
    }
    let _: () = p.query(con).unwrap();
    let n = memory.len();
    memory.clear();
    n
}
// ANCHOR_END: schedule

/// What one game process did: the totals it sent to Redis, what was still only
/// in its memory when it stopped, and how often it wrote.
struct GameRun {
    flushed: HashMap<(usize, String), i64>,
    unflushed: usize,
    updates: usize,
    redis_writes: usize,
}

/// The whole write-behind chain on the seed's schedule (scaled down, see
/// `Schedule::scaled_down`): two game processes, each with its memory flushed to
/// Redis every `memory_to_redis`, and one SQL writer copying dirty players every
/// `redis_to_sql`. The processes then stop without a last flush, as a crash
/// would: SQL holds exactly what reached Redis, and SQL saw a small fraction of
/// the writes the game made.
#[test]
fn write_behind_on_the_seeds_schedule() {
    let scale: u32 = std::env::var("WRITE_BEHIND_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let schedule = Arc::new(SEED_SCHEDULE.scaled_down(scale));
    // Three SQL periods of game.
    let game_time = schedule.redis_to_sql * 3;
    let srv = Server::ferredis(&[]);
    let done = Arc::new(AtomicBool::new(false));
    let sql_writer = {
        let (mut con, done, schedule) = (srv.client(), done.clone(), schedule.clone());
        thread::spawn(move || {
            let mut sql = Sql::new();
            let (mut passes, mut rows) = (0, 0);
            while !done.load(Ordering::SeqCst) {
                thread::sleep(schedule.redis_to_sql);
                let dirty: usize = redis::cmd("SCARD").arg("dirty").query(&mut con).unwrap();
                rows += flush_at_most(&mut con, &mut sql, dirty);
                passes += 1;
            }
            rows += flush(&mut con, &mut sql);
            (sql, passes + 1, rows)
        })
    };
    let games: Vec<_> = (0..2)
        .map(|g| {
            let (mut con, schedule) = (srv.client(), schedule.clone());
            thread::spawn(move || {
                let mut rng = Lcg(7 + g);
                let mut memory: HashMap<(usize, String), i64> = HashMap::new();
                let mut run = GameRun {
                    flushed: HashMap::new(),
                    unflushed: 0,
                    updates: 0,
                    redis_writes: 0,
                };
                let started = std::time::Instant::now();
                let mut last_flush = started;
                while started.elapsed() < game_time {
                    // A burst of quest progress, into memory only.
                    for _ in 0..10 {
                        let player = rng.next() as usize % PLAYERS;
                        let quest = format!("quest:{}", rng.next() % 3);
                        *memory.entry((player, quest)).or_default() += 1;
                        run.updates += 1;
                    }
                    if last_flush.elapsed() >= schedule.memory_to_redis {
                        for (k, v) in &memory {
                            *run.flushed.entry(k.clone()).or_default() += v;
                        }
                        run.redis_writes += flush_memory(&mut con, &mut memory);
                        last_flush = std::time::Instant::now();
                    }
                    thread::sleep(Duration::from_micros(500));
                }
                // The crash comes after some more progress since the last flush;
                // the process stops without flushing: what memory holds is lost.
                for quest in ["quest:0", "quest:1"] {
                    *memory.entry((g as usize, quest.to_string())).or_default() += 1;
                    run.updates += 1;
                }
                run.unflushed = memory.values().sum::<i64>() as usize;
                run
            })
        })
        .collect();
    let runs: Vec<GameRun> = games.into_iter().map(|g| g.join().unwrap()).collect();
    done.store(true, Ordering::SeqCst);
    let (sql, passes, sql_rows) = sql_writer.join().unwrap();

    let mut expected: HashMap<(usize, String), i64> = HashMap::new();
    for r in &runs {
        for (k, v) in &r.flushed {
            *expected.entry(k.clone()).or_default() += v;
        }
    }
    for ((p, quest), total) in &expected {
        let got: i64 = sql[&format!("player:{p}")][quest].parse().unwrap();
        assert_eq!(got, *total, "player:{p} {quest}");
    }
    let fields: usize = sql.values().map(|r| r.len()).sum();
    assert_eq!(fields, expected.len(), "SQL has only what reached Redis");
    let updates: usize = runs.iter().map(|r| r.updates).sum();
    let redis_writes: usize = runs.iter().map(|r| r.redis_writes).sum();
    let lost: usize = runs.iter().map(|r| r.unflushed).sum();
    let kept: i64 = expected.values().sum();
    assert_eq!(kept as usize + lost, updates);
    eprintln!(
        "{updates} updates in memory, {redis_writes} HINCRBYs to Redis, \
         {passes} SQL passes writing {sql_rows} rows; {lost} updates lost at the stop"
    );
    assert!(lost > 0, "the stop lost what memory held");
    assert!(passes >= 2, "the SQL writer ran during the game");
    assert!(redis_writes <= updates);
    assert!(
        sql_rows <= passes * PLAYERS,
        "at most one row per player and pass"
    );
    assert!(
        sql_rows < redis_writes,
        "SQL is written less often than Redis"
    );
}
