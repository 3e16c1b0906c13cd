//! The programs of the book's "What people use Redis for" chapters, run against a
//! real ferredis over real sockets: a read-through cache, counters, a reliable
//! queue and players' online status. (The write-behind schedule, bullet comments
//! and the leaderboard live in tests/seed_gamestate.rs, tests/seed_danmu.rs and
//! tests/seed_leaderboard.rs; the locks in tests/locks.rs.)
//!
//! Run: `cargo test --test usecases` (any FERREDIS_IO_MODE).

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::Server;

fn query<T: redis::FromRedisValue>(con: &mut redis::Connection, args: &[&str]) -> T {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(con).unwrap()
}

// ---------------------------------------------------------------- the cache

// ANCHOR: read_through
/// The database behind the cache: a table, and a count of the reads it served,
/// which is what the cache is there to keep low.
struct Database {
    users: HashMap<u32, String>,
    reads: usize,
}

/// Read-through: ask Redis first; on a miss, read the database and keep the
/// answer in Redis for `ttl_ms`, so that it disappears on its own.
fn get_user(con: &mut redis::Connection, db: &Mutex<Database>, id: u32, ttl_ms: u64) -> String {
    let key = format!("user:{id}");
    let cached: Option<String> = redis::cmd("GET").arg(&key).query(con).unwrap();
    if let Some(name) = cached {
        return name;
    }
    let name = {
        let mut db = db.lock().unwrap();
        db.reads += 1;
        db.users[&id].clone()
    };
    // One command sets the value and its expiry: a reader can never see the
    // value without its TTL.
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(&name)
        .arg("PX")
        .arg(ttl_ms)
        .query(con)
        .unwrap();
    name
}

/// A write goes to the database, then deletes the cached copy: the next read
/// fetches the new value (cache-aside invalidation).
fn rename_user(con: &mut redis::Connection, db: &Mutex<Database>, id: u32, name: &str) {
    db.lock().unwrap().users.insert(id, name.to_string());
    let _: i64 = redis::cmd("DEL")
        .arg(format!("user:{id}"))
        .query(con)
        .unwrap();
}
// ANCHOR_END: read_through

fn database(n: u32) -> Mutex<Database> {
    Mutex::new(Database {
        users: (0..n).map(|i| (i, format!("player-{i}"))).collect(),
        reads: 0,
    })
}

/// 20 users read 50 times each by one client: the database serves each user
/// once; every cached key carries its TTL; a rename is seen at the next read.
#[test]
fn read_through_cache_reads_the_database_once_per_key() {
    let srv = Server::ferredis(&[]);
    let mut con = srv.client();
    let db = database(20);
    for _ in 0..50 {
        for id in 0..20 {
            assert_eq!(get_user(&mut con, &db, id, 60_000), format!("player-{id}"));
        }
    }
    assert_eq!(db.lock().unwrap().reads, 20, "one database read per user");
    for id in 0..20 {
        let ttl: i64 = query(&mut con, &["TTL", &format!("user:{id}")]);
        assert!((1..=60).contains(&ttl), "user:{id} has TTL {ttl}");
    }
    rename_user(&mut con, &db, 7, "renamed");
    assert_eq!(get_user(&mut con, &db, 7, 60_000), "renamed");
    assert_eq!(db.lock().unwrap().reads, 21);
}

/// Many clients at once: whatever the interleaving, every client reads the
/// right value, and the database is read at most once per client and key (a
/// burst of misses on a cold key, the "stampede", is the only extra cost).
#[test]
fn read_through_cache_under_concurrent_clients() {
    const CLIENTS: usize = 8;
    let srv = Server::ferredis(&[]);
    let db = Arc::new(database(30));
    let start = Arc::new(Barrier::new(CLIENTS));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (mut con, db, start) = (srv.client(), db.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                for round in 0..20 {
                    for id in 0..30 {
                        let id = (id + round * 7) % 30;
                        assert_eq!(get_user(&mut con, &db, id, 60_000), format!("player-{id}"));
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let reads = db.lock().unwrap().reads;
    assert!(
        (30..=30 * CLIENTS).contains(&reads),
        "{reads} database reads"
    );
    let mut con = srv.client();
    let keys: i64 = query(&mut con, &["DBSIZE"]);
    assert_eq!(keys, 30);
}

/// Expiry does the forgetting: a cached value with a short TTL disappears by
/// itself (lazily on access, or by the active expiry cycle), and the next read
/// goes back to the database.
#[test]
fn expired_cache_entries_are_read_again_from_the_database() {
    let srv = Server::ferredis(&[]);
    let mut con = srv.client();
    let db = database(3);
    assert_eq!(get_user(&mut con, &db, 1, 300), "player-1");
    // Renamed in the database behind the cache's back: the cache is stale...
    db.lock().unwrap().users.insert(1, "new-name".into());
    assert_eq!(db.lock().unwrap().reads, 1);
    // ...until the key expires, without anyone deleting it. Poll generously.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let exists: i64 = query(&mut con, &["EXISTS", "user:1"]);
        if exists == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "user:1 never expired");
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(get_user(&mut con, &db, 1, 300), "new-name");
    assert_eq!(db.lock().unwrap().reads, 2);
}

// ------------------------------------------------------------------ counters

/// How a client adds one to a counter.
#[derive(Clone, Copy)]
enum Increment {
    /// One command: the read, the addition and the write happen inside one call().
    Incr,
    /// Two round trips: another client's write can fall between them.
    GetThenSet,
}

// ANCHOR: increment
fn increment(con: &mut redis::Connection, key: &str, how: Increment) -> i64 {
    match how {
        Increment::Incr => redis::cmd("INCR").arg(key).query(con).unwrap(),
        Increment::GetThenSet => {
            let v: Option<i64> = redis::cmd("GET").arg(key).query(con).unwrap();
            let next = v.unwrap_or(0) + 1;
            let _: () = redis::cmd("SET").arg(key).arg(next).query(con).unwrap();
            next
        }
    }
}
// ANCHOR_END: increment

/// 50 clients add 200 each with INCR: the counter ends at exactly 10,000, and
/// the replies are exactly 1..=10,000, each handed to one client: INCR is also
/// a ticket dispenser.
#[test]
fn incr_counter_is_exact_under_50_clients() {
    const CLIENTS: usize = 50;
    const EACH: usize = 200;
    let srv = Server::ferredis(&[]);
    let start = Arc::new(Barrier::new(CLIENTS));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (mut con, start) = (srv.client(), start.clone());
            thread::spawn(move || {
                start.wait();
                (0..EACH)
                    .map(|_| increment(&mut con, "page_views", Increment::Incr))
                    .collect::<Vec<i64>>()
            })
        })
        .collect();
    let mut tickets: Vec<i64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    tickets.sort_unstable();
    assert_eq!(tickets, (1..=(CLIENTS * EACH) as i64).collect::<Vec<_>>());
    let mut con = srv.client();
    let total: i64 = query(&mut con, &["GET", "page_views"]);
    assert_eq!(total, (CLIENTS * EACH) as i64);
}

// ANCHOR: lost_update
/// The interleaving that loses an update, played step by step by two clients:
/// both read 0, both write 1. With INCR there is nothing to interleave.
#[test]
fn get_then_set_counter_loses_an_update() {
    let srv = Server::ferredis(&[]);
    let (mut a, mut b) = (srv.client(), srv.client());
    let read_a: Option<i64> = query(&mut a, &["GET", "views"]);
    let read_b: Option<i64> = query(&mut b, &["GET", "views"]);
    let _: () = query(
        &mut a,
        &["SET", "views", &(read_a.unwrap_or(0) + 1).to_string()],
    );
    let _: () = query(
        &mut b,
        &["SET", "views", &(read_b.unwrap_or(0) + 1).to_string()],
    );
    let views: i64 = query(&mut a, &["GET", "views"]);
    assert_eq!(views, 1, "two increments, one survived");

    // The same two clients, the same order of events, with INCR.
    assert_eq!(increment(&mut a, "views2", Increment::Incr), 1);
    assert_eq!(increment(&mut b, "views2", Increment::Incr), 2);
}
// ANCHOR_END: lost_update

/// The same race with many clients and no choreography: GET+SET loses updates
/// (how many depends on the scheduling, so this only checks it never gains),
/// while the INCR run beside it is exact.
#[test]
fn get_then_set_under_load_never_beats_incr() {
    const CLIENTS: usize = 20;
    const EACH: usize = 100;
    let srv = Server::ferredis(&[]);
    let mut totals = Vec::new();
    for (key, how) in [("a", Increment::GetThenSet), ("b", Increment::Incr)] {
        let start = Arc::new(Barrier::new(CLIENTS));
        let handles: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (mut con, start) = (srv.client(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    for _ in 0..EACH {
                        increment(&mut con, key, how);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let mut con = srv.client();
        let total: i64 = query(&mut con, &["GET", key]);
        totals.push(total);
    }
    let n = (CLIENTS * EACH) as i64;
    eprintln!(
        "GET+SET counted {} of {n}; INCR counted {}",
        totals[0], totals[1]
    );
    assert!(totals[0] <= n);
    assert_eq!(totals[1], n);
}

// ANCHOR: rate_limit
/// A fixed-window rate limiter: the counter for this window is created by the
/// first INCR and given its expiry in the same transaction, so a window can
/// never be left without one. Returns whether the request is allowed.
fn allow(con: &mut redis::Connection, user: &str, window: u64, limit: i64) -> bool {
    let key = format!("rate:{user}:{window}");
    let (count,): (i64,) = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg(&key)
        .cmd("EXPIRE")
        .arg(&key)
        .arg(60)
        .arg("NX")
        .ignore()
        .query(con)
        .unwrap();
    count <= limit
}
// ANCHOR_END: rate_limit

/// 10 clients make 30 requests each in one window with a limit of 100: exactly
/// 100 are allowed, and the window's key expires.
#[test]
fn rate_limiter_allows_exactly_the_limit() {
    const CLIENTS: usize = 10;
    let srv = Server::ferredis(&[]);
    let start = Arc::new(Barrier::new(CLIENTS));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (mut con, start) = (srv.client(), start.clone());
            thread::spawn(move || {
                start.wait();
                (0..30)
                    .filter(|_| allow(&mut con, "alice", 42, 100))
                    .count()
            })
        })
        .collect();
    let allowed: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(allowed, 100);
    let mut con = srv.client();
    let ttl: i64 = query(&mut con, &["TTL", "rate:alice:42"]);
    assert!((1..=60).contains(&ttl), "TTL {ttl}");
    let count: i64 = query(&mut con, &["GET", "rate:alice:42"]);
    assert_eq!(count, 300);
}

// ------------------------------------------------------------- the queue

// ANCHOR: reliable_worker
/// A worker's turn: move the oldest job into `processing` (one command: the job
/// is in exactly one of the two lists at every moment), do it, then
/// acknowledge it by removing it from `processing`.
fn work_one(con: &mut redis::Connection, done: &mut Vec<String>) -> bool {
    let job: Option<String> = redis::cmd("BLMOVE")
        .arg("jobs")
        .arg("processing")
        .arg("RIGHT")
        .arg("LEFT")
        .arg(0.2)
        .query(con)
        .unwrap();
    let Some(job) = job else {
        return false;
    };
    done.push(job.clone()); // the work
    let _: i64 = redis::cmd("LREM")
        .arg("processing")
        .arg(1)
        .arg(&job)
        .query(con)
        .unwrap();
    true
}

/// After a worker died, put what it held back at the head of the queue.
fn requeue_abandoned(con: &mut redis::Connection) -> usize {
    let mut n = 0;
    while let Some(_job) = redis::cmd("LMOVE")
        .arg("processing")
        .arg("jobs")
        .arg("RIGHT")
        .arg("RIGHT")
        .query::<Option<String>>(con)
        .unwrap()
    {
        n += 1;
    }
    n
}
// ANCHOR_END: reliable_worker

/// Producers LPUSH 600 jobs; three workers take them with BLMOVE; one more
/// worker takes a job and dies before acknowledging it. The job is still in
/// `processing`, the requeue puts it back, and in the end every job was done
/// exactly once, except the abandoned one, done once after being requeued.
#[test]
fn reliable_queue_survives_a_worker_crash() {
    const PRODUCERS: usize = 3;
    const EACH: usize = 200;
    let srv = Server::ferredis(&[]);
    // The doomed worker: takes one job and its connection is dropped.
    let _: i64 = query(&mut srv.client(), &["LPUSH", "jobs", "first-job"]);
    {
        let mut doomed = srv.client();
        let job: Option<String> = query(
            &mut doomed,
            &["BLMOVE", "jobs", "processing", "RIGHT", "LEFT", "1"],
        );
        assert_eq!(job.as_deref(), Some("first-job"));
    }
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let mut con = srv.client();
            thread::spawn(move || {
                for i in 0..EACH {
                    let _: i64 = redis::cmd("LPUSH")
                        .arg("jobs")
                        .arg(format!("p{p}-{i}"))
                        .query(&mut con)
                        .unwrap();
                }
            })
        })
        .collect();
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let mut con = srv.client();
            thread::spawn(move || {
                let mut done = Vec::new();
                let mut idle = 0;
                while idle < 3 {
                    if work_one(&mut con, &mut done) {
                        idle = 0;
                    } else {
                        idle += 1;
                    }
                }
                done
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let mut done: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(!done.contains(&"first-job".to_string()));
    // The reaper finds the dead worker's job and puts it back; a worker does it.
    let mut con = srv.client();
    let processing: Vec<String> = query(&mut con, &["LRANGE", "processing", "0", "-1"]);
    assert_eq!(processing, vec!["first-job".to_string()]);
    assert_eq!(requeue_abandoned(&mut con), 1);
    while work_one(&mut con, &mut done) {}
    let unique: HashSet<&String> = done.iter().collect();
    assert_eq!(unique.len(), done.len(), "a job was done twice");
    assert_eq!(done.len(), PRODUCERS * EACH + 1, "a job was lost");
    let left: i64 = query(&mut con, &["EXISTS", "jobs", "processing"]);
    assert_eq!(left, 0);
}

/// The plain queue of seed 002 (push, then pop) has no such record: a worker that
/// dies between its BRPOP and the end of the work takes the job with it.
#[test]
fn plain_brpop_queue_loses_the_job_of_a_dead_worker() {
    let srv = Server::ferredis(&[]);
    let mut con = srv.client();
    let _: i64 = query(&mut con, &["LPUSH", "jobs", "j1", "j2"]);
    {
        let mut doomed = srv.client();
        let got: Option<(String, String)> = query(&mut doomed, &["BRPOP", "jobs", "1"]);
        assert_eq!(got, Some(("jobs".into(), "j1".into())));
    }
    // FIFO: LPUSH adds at the head, BRPOP takes from the tail.
    let got: Option<(String, String)> = query(&mut con, &["BRPOP", "jobs", "1"]);
    assert_eq!(got, Some(("jobs".into(), "j2".into())));
    let left: i64 = query(&mut con, &["DBSIZE"]);
    assert_eq!(left, 0, "j1 exists nowhere any more");
}

// --------------------------------------------------------- online status

// ANCHOR: presence
/// A game server reports its players: a login or a heartbeat sets
/// `online:<id>` with an expiry, a logout deletes it. A game server that
/// crashes stops its heartbeats and its players go offline by themselves.
fn heartbeat(con: &mut redis::Connection, ids: &[u32], server: &str, ttl_ms: u64) {
    let mut p = redis::pipe();
    for id in ids {
        p.cmd("SET")
            .arg(format!("online:{id}"))
            .arg(server)
            .arg("PX")
            .arg(ttl_ms)
            .ignore();
    }
    let _: () = p.query(con).unwrap();
}

/// The friend interface: one MGET answers for every friend at once.
fn friends_online(con: &mut redis::Connection, friends: &[u32]) -> Vec<u32> {
    let keys: Vec<String> = friends.iter().map(|f| format!("online:{f}")).collect();
    let servers: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query(con).unwrap();
    friends
        .iter()
        .zip(servers)
        .filter_map(|(f, s)| s.map(|_| *f))
        .collect()
}
// ANCHOR_END: presence

/// Two game servers heartbeat their players; one of them crashes (stops its
/// heartbeats). The friend interface sees its players disappear by expiry while
/// the other server's players stay online.
#[test]
fn presence_keys_expire_when_a_game_server_dies() {
    let srv = Server::ferredis(&[]);
    let (mut a, mut b, mut friend) = (srv.client(), srv.client(), srv.client());
    let on_a: Vec<u32> = (0..10).collect();
    let on_b: Vec<u32> = (10..20).collect();
    // Lifetimes long enough that a loaded machine cannot expire them before the
    // first look; game-b's short enough to see it go.
    heartbeat(&mut a, &on_a, "game-a", 5_000);
    heartbeat(&mut b, &on_b, "game-b", 1_500);
    let all: Vec<u32> = (0..20).step_by(2).collect();
    assert_eq!(friends_online(&mut friend, &all), all);
    // game-a keeps beating; game-b has crashed. Wait until its players are gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        heartbeat(&mut a, &on_a, "game-a", 5_000);
        let seen = friends_online(&mut friend, &all);
        if seen.iter().all(|id| *id < 10) {
            assert_eq!(seen, vec![0, 2, 4, 6, 8]);
            break;
        }
        assert!(Instant::now() < deadline, "game-b's players never expired");
        thread::sleep(Duration::from_millis(50));
    }
    // A logout is immediate.
    let _: i64 = query(&mut a, &["DEL", "online:4"]);
    assert_eq!(friends_online(&mut friend, &all), vec![0, 2, 6, 8]);
}

// ANCHOR: bitmap
/// One bit per player id in one string: `SETBIT online:bits <id> 1` at login,
/// `0` at logout. Counting is BITCOUNT; a set of friends is one GETBIT each.
fn set_online(p: &mut redis::Pipeline, key: &str, id: u32, online: bool) {
    p.cmd("SETBIT").arg(key).arg(id).arg(online as i32).ignore();
}
// ANCHOR_END: bitmap

/// Four game servers log their (disjoint) players in and out concurrently with
/// SETBIT; BITCOUNT ends equal to the number of players whose last event was a
/// login, the bitmap's size is one bit per id, and BITOP AND of two days gives
/// the players online on both.
#[test]
fn online_bitmap_counts_exactly_under_concurrent_servers() {
    const SERVERS: u32 = 4;
    const PER: u32 = 2500; // ids 0..10,000
    let srv = Server::ferredis(&[]);
    let handles: Vec<_> = (0..SERVERS)
        .map(|g| {
            let mut con = srv.client();
            thread::spawn(move || {
                let mut state: HashMap<u32, bool> = HashMap::new();
                let mut x = 0x9e3779b9u64 + g as u64;
                for _batch in 0..20 {
                    let mut p = redis::pipe();
                    for _ in 0..100 {
                        x = x
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let id = g * PER + ((x >> 33) as u32 % PER);
                        let on = (x >> 20) & 1 == 0;
                        set_online(&mut p, "online:day1", id, on);
                        state.insert(id, on);
                    }
                    let _: () = p.query(&mut con).unwrap();
                }
                state
            })
        })
        .collect();
    let mut online: HashSet<u32> = HashSet::new();
    for h in handles {
        online.extend(
            h.join()
                .unwrap()
                .into_iter()
                .filter(|(_, on)| *on)
                .map(|(id, _)| id),
        );
    }
    let mut con = srv.client();
    let count: usize = query(&mut con, &["BITCOUNT", "online:day1"]);
    assert_eq!(count, online.len());
    let len: usize = query(&mut con, &["STRLEN", "online:day1"]);
    let max = *online.iter().max().unwrap() as usize;
    assert!(
        len > max / 8 && len <= SERVERS as usize * PER as usize / 8,
        "{len} bytes"
    );
    for id in [0u32, 1, 2499, 2500, 9999] {
        let bit: i64 = query(&mut con, &["GETBIT", "online:day1", &id.to_string()]);
        assert_eq!(bit == 1, online.contains(&id), "player {id}");
    }
    // Day two: every even id. Online both days = BITOP AND.
    let mut p = redis::pipe();
    for id in (0..SERVERS * PER).step_by(2) {
        set_online(&mut p, "online:day2", id, true);
    }
    let _: () = p.query(&mut con).unwrap();
    let _: i64 = query(
        &mut con,
        &["BITOP", "AND", "online:both", "online:day1", "online:day2"],
    );
    let both: usize = query(&mut con, &["BITCOUNT", "online:both"]);
    assert_eq!(both, online.iter().filter(|id| *id % 2 == 0).count());
}
