//! Distributed locks end to end, each flaw shown by a test that makes it happen:
//! the seed's SETNX-then-EXPIRE lock that can live forever, the GET-then-DEL unlock
//! that deletes someone else's lock, the Lua unlock that does not, seed 003's
//! reentrant lock fixed by one line, and fencing tokens for a holder that paused
//! past its lock's expiry. Every test runs in the I/O mode FERREDIS_IO_MODE selects.

mod common;

use std::time::Duration;

use common::{io_mode_args, Server};

const UNLOCK: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then \
                      return redis.call('del', KEYS[1]) else return 0 end";

fn set_nx_px(con: &mut redis::Connection, key: &str, token: &str, ms: u64) -> bool {
    let r: Option<String> = redis::cmd("SET")
        .arg(key)
        .arg(token)
        .arg("NX")
        .arg("PX")
        .arg(ms)
        .query(con)
        .unwrap();
    r.is_some()
}

/// Seed 002's lock takes SETNX, then EXPIRE in a second command. A holder that dies
/// between the two leaves a lock without TTL; the seed's repair (`elif not ttl`)
/// never fires, because TTL answers -1 (true in Python) for a key without expiry:
/// nobody can ever take the lock again.
#[test]
fn setnx_then_expire_can_leave_a_lock_forever() {
    let srv = Server::ferredis(io_mode_args());
    let mut holder = srv.client();
    let set: i64 = redis::cmd("SETNX")
        .arg("resource_lock")
        .arg("locked")
        .query(&mut holder)
        .unwrap();
    assert_eq!(set, 1);
    drop(holder); // dies before its EXPIRE
    let mut other = srv.client();
    let again: i64 = redis::cmd("SETNX")
        .arg("resource_lock")
        .arg("locked")
        .query(&mut other)
        .unwrap();
    assert_eq!(again, 0);
    let ttl: i64 = redis::cmd("TTL")
        .arg("resource_lock")
        .query(&mut other)
        .unwrap();
    assert_eq!(ttl, -1, "the seed's `not ttl` is false for -1: no repair");
    // The fix is one command: SET NX with the expiry in it.
    let mut fixed = srv.client();
    assert!(set_nx_px(&mut fixed, "fixed_lock", "token-1", 100));
    let pttl: i64 = redis::cmd("PTTL")
        .arg("fixed_lock")
        .query(&mut fixed)
        .unwrap();
    assert!(pttl > 0 && pttl <= 100);
}

// ANCHOR: get_then_del
/// GET-then-DEL: A reads its token, its lock expires (a pause, a slow network), B
/// takes the lock, A deletes it believing it is its own, and C takes it too: B and C
/// both hold the lock. The Lua unlock makes the check and the delete one command.
#[test]
fn get_then_del_unlock_deletes_someone_elses_lock() {
    let srv = Server::ferredis(io_mode_args());
    let (mut a, mut b, mut c) = (srv.client(), srv.client(), srv.client());
    assert!(set_nx_px(&mut a, "lock", "token-a", 100));
    let mine: Option<String> = redis::cmd("GET").arg("lock").query(&mut a).unwrap();
    assert_eq!(mine.as_deref(), Some("token-a"));
    std::thread::sleep(Duration::from_millis(200)); // A pauses; its lock expires
    assert!(set_nx_px(&mut b, "lock", "token-b", 10_000));
    let deleted: i64 = redis::cmd("DEL").arg("lock").query(&mut a).unwrap();
    assert_eq!(deleted, 1, "A deleted B's lock");
    assert!(
        set_nx_px(&mut c, "lock", "token-c", 10_000),
        "C got the lock B holds"
    );

    // The same interleaving with the Lua unlock: A's release is refused.
    assert!(set_nx_px(&mut a, "lock2", "token-a", 100));
    std::thread::sleep(Duration::from_millis(200));
    assert!(set_nx_px(&mut b, "lock2", "token-b", 10_000));
    let released: i64 = redis::cmd("EVAL")
        .arg(UNLOCK)
        .arg(1)
        .arg("lock2")
        .arg("token-a")
        .query(&mut a)
        .unwrap();
    assert_eq!(released, 0);
    assert!(
        !set_nx_px(&mut c, "lock2", "token-c", 10_000),
        "B still holds it"
    );
    let released: i64 = redis::cmd("EVAL")
        .arg(UNLOCK)
        .arg(1)
        .arg("lock2")
        .arg("token-b")
        .query(&mut b)
        .unwrap();
    assert_eq!(released, 1);
}
// ANCHOR_END: get_then_del

/// Seed 003's reentrant lock with its one-line fix: the lock script tests the hash it
/// writes (`exists KEYS[2]`), not KEYS[1], which it never writes. Then the same
/// client re-enters (the count goes to 2) and another client is refused until the
/// count is back to zero. (tests/scripting.rs::seed_003_reentrant_lock shows the
/// unfixed script letting both in, as redis-server does.)
#[test]
fn reentrant_lock_fixed_by_testing_the_key_it_writes() {
    let srv = Server::ferredis(io_mode_args());
    let lock = "if redis.call('exists', KEYS[2]) == 0 then \
                    redis.call('hset', KEYS[2], ARGV[1], 1) \
                    redis.call('expire', KEYS[2], ARGV[2]) \
                    return 1 \
                elseif redis.call('hexists', KEYS[2], ARGV[1]) == 1 then \
                    local count = tonumber(redis.call('hget', KEYS[2], ARGV[1])) \
                    redis.call('hset', KEYS[2], ARGV[1], count + 1) \
                    return 1 \
                else return 0 end";
    let unlock = "if redis.call('hexists', KEYS[2], ARGV[1]) == 1 then \
                      local count = tonumber(redis.call('hget', KEYS[2], ARGV[1])) \
                      if count > 1 then \
                          redis.call('hset', KEYS[2], ARGV[1], count - 1) \
                          return 1 \
                      else \
                          redis.call('hdel', KEYS[2], ARGV[1]) \
                          redis.call('del', KEYS[1]) \
                          return 1 \
                      end \
                  else return 0 end";
    let mut con = srv.client();
    let mut run = |script: &str, who: &str| -> i64 {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script)
            .arg(2)
            .arg("res")
            .arg("lock_counter:res")
            .arg(who);
        if script == lock {
            cmd.arg(30);
        }
        cmd.query(&mut con).unwrap()
    };
    assert_eq!(run(lock, "a"), 1);
    assert_eq!(run(lock, "a"), 1, "a re-enters");
    assert_eq!(run(lock, "b"), 0, "b is refused while a holds it");
    assert_eq!(run(unlock, "a"), 1);
    assert_eq!(run(lock, "b"), 0, "a still holds it once");
    assert_eq!(run(unlock, "a"), 1);
    assert_eq!(run(lock, "b"), 1, "free again: b gets it");
}

/// A lock can expire while its holder is paused (a GC pause, a swapped-out process):
/// the holder wakes up and writes anyway. The lock cannot prevent that; a fencing
/// token can. Each acquisition takes a number from INCR; the storage accepts a write
/// only with a number higher than any it has seen, so the stale holder is refused.
#[test]
fn fencing_tokens_refuse_a_holder_whose_lock_expired() {
    let srv = Server::ferredis(io_mode_args());
    // The storage's rule, as one script: write only with a newer token.
    let write = "local last = tonumber(redis.call('get', KEYS[2]) or '0') \
                 if tonumber(ARGV[1]) <= last then return 0 end \
                 redis.call('set', KEYS[2], ARGV[1]) \
                 redis.call('set', KEYS[1], ARGV[2]) \
                 return 1";
    let (mut a, mut b) = (srv.client(), srv.client());
    let acquire = |con: &mut redis::Connection, who: &str, ms: u64| -> i64 {
        assert!(set_nx_px(con, "lock", who, ms));
        redis::cmd("INCR").arg("fence").query(con).unwrap()
    };
    let token_a = acquire(&mut a, "a", 100);
    std::thread::sleep(Duration::from_millis(200)); // A is paused; its lock expires
    let token_b = acquire(&mut b, "b", 10_000);
    assert!(token_b > token_a);
    let store = |con: &mut redis::Connection, token: i64, value: &str| -> i64 {
        redis::cmd("EVAL")
            .arg(write)
            .arg(2)
            .arg("storage:file")
            .arg("storage:last_token")
            .arg(token)
            .arg(value)
            .query(con)
            .unwrap()
    };
    assert_eq!(store(&mut b, token_b, "written by b"), 1);
    assert_eq!(
        store(&mut a, token_a, "written by a"),
        0,
        "the stale holder is refused"
    );
    let v: String = redis::cmd("GET").arg("storage:file").query(&mut b).unwrap();
    assert_eq!(v, "written by b");
}
