//! Lua scripting as users meet it: a script runs atomically, the cache works with
//! clients' EVALSHA-then-EVAL fallback, and the lock recipes people actually use (the seed
//! documents' and redis-py's `Lock`) behave.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::Server;

/// The atomicity claim: a writer hammers a key while scripts read it twice with a busy
/// loop in between. No script may ever see two different values, because the whole
/// script runs inside one call() on the main thread.
#[test]
fn script_reads_never_see_a_concurrent_write() {
    let srv = Server::ferredis(common::io_mode_args());
    let url = srv.url();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..2 {
        let (url, stop) = (url.clone(), stop.clone());
        writers.push(std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            let mut n: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                let _: () = redis::cmd("SET")
                    .arg("hot")
                    .arg(format!("{w}-{n}"))
                    .query(&mut con)
                    .unwrap();
                n += 1;
            }
            n
        }));
    }
    let mut con = srv.client();
    let script = redis::Script::new(
        "local a = redis.call('get', KEYS[1]) \
         for i = 1, 20000 do end \
         local b = redis.call('get', KEYS[1]) \
         return {a or '', b or ''}",
    );
    for _ in 0..300 {
        let (a, b): (String, String) = script.key("hot").invoke(&mut con).unwrap();
        assert_eq!(a, b, "a script saw the key change under it");
    }
    stop.store(true, Ordering::Relaxed);
    let writes: u64 = writers.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(writes > 0, "the writers never ran");
}

/// Scripts that write see their own writes at once, and a counter incremented by racing
/// scripts loses no update.
#[test]
fn concurrent_script_increments_lose_nothing() {
    let srv = Server::ferredis(common::io_mode_args());
    let url = srv.url();
    let mut handles = Vec::new();
    for _ in 0..8 {
        let url = url.clone();
        handles.push(std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            let script = redis::Script::new(
                "local v = tonumber(redis.call('get', KEYS[1]) or '0') \
                 redis.call('set', KEYS[1], v + 1) \
                 return v + 1",
            );
            for _ in 0..200 {
                let _: i64 = script.key("counter").invoke(&mut con).unwrap();
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    let mut con = srv.client();
    let v: i64 = redis::cmd("GET").arg("counter").query(&mut con).unwrap();
    assert_eq!(v, 1600);
}

/// redis::Script sends EVALSHA first and EVAL on NOSCRIPT; after SCRIPT FLUSH it must
/// recover the same way.
#[test]
fn evalsha_fallback_and_flush() {
    let srv = Server::ferredis(common::io_mode_args());
    let mut con = srv.client();
    let script = redis::Script::new("return ARGV[1] .. '!'");
    let r: String = script.arg("hi").invoke(&mut con).unwrap();
    assert_eq!(r, "hi!");
    let exists: Vec<i64> = redis::cmd("SCRIPT")
        .arg("EXISTS")
        .arg(script.get_hash())
        .query(&mut con)
        .unwrap();
    assert_eq!(exists, vec![1]);
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut con).unwrap();
    let r: String = script.arg("again").invoke(&mut con).unwrap();
    assert_eq!(r, "again!");
}

/// A reply nested deeper than the Lua stack allows: the conversion stops with
/// "reached lua stack limit" at the depth Redis stops (32010 bytes of reply, checked
/// against redis-server 7.0.15), and the server survives any depth.
#[test]
fn deep_reply_hits_the_lua_stack_limit() {
    let srv = Server::ferredis(common::io_mode_args());
    for depth in [8000, 100000] {
        let script = format!(
            "local t = {{}} local c = t for i = 1, {depth} do c[1] = {{}} c = c[1] end return t"
        );
        // Read until QUIT closes the connection: the shared reply parser recurses and
        // would overflow the test thread's stack on this nesting.
        let mut raw = srv.raw();
        raw.send(&common::encode(&[b"EVAL", script.as_bytes(), b"0"]));
        raw.send(&common::encode(&[b"QUIT"]));
        let all = raw.read_to_close();
        let reply = all.strip_suffix(b"+OK\r\n").expect("QUIT's reply last");
        assert_eq!(reply.len(), 32010, "depth {depth}");
        let text = String::from_utf8_lossy(reply);
        assert!(
            text.contains("-ERR reached lua stack limit\r\n"),
            "depth {depth}"
        );
    }
    let mut con = srv.client();
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

/// Seed 002's lock: SETNX, then EXPIRE, with TTL repairing a lock left without one.
#[test]
fn seed_002_setnx_lock() {
    let srv = Server::ferredis(common::io_mode_args());
    common::run_python(
        srv.port,
        r#"
redis_client = redis.Redis(host='127.0.0.1', port=PORT, db=0)

def acquire_lock(lock_name, expiration=10):
    while True:
        if redis_client.setnx(lock_name, 'locked'):
            redis_client.expire(lock_name, expiration)
            return True
        elif not redis_client.ttl(lock_name):
            redis_client.expire(lock_name, expiration)
        time.sleep(0.1)

def release_lock(lock_name):
    redis_client.delete(lock_name)

assert acquire_lock('resource_lock')
assert not redis_client.setnx('resource_lock', 'other')
assert 0 < redis_client.ttl('resource_lock') <= 10
release_lock('resource_lock')
assert redis_client.get('resource_lock') is None
assert acquire_lock('resource_lock', 1)
release_lock('resource_lock')
"#,
    );
}

/// Seed 003's first recipe: SET with a unique value and NX/PX, released by a Lua script
/// that deletes the key only while it still holds our value.
#[test]
fn seed_003_set_nx_and_lua_unlock() {
    let srv = Server::ferredis(common::io_mode_args());
    common::run_python(
        srv.port,
        r#"
r = redis.Redis(host='127.0.0.1', port=PORT)
UNLOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
else
    return 0
end
"""
mine = str(uuid.uuid4())
theirs = str(uuid.uuid4())
assert r.set('resource', mine, nx=True, px=30000)
assert r.set('resource', theirs, nx=True, px=30000) is None
assert r.eval(UNLOCK, 1, 'resource', theirs) == 0
assert r.get('resource') == mine.encode()
assert r.eval(UNLOCK, 1, 'resource', mine) == 1
assert r.get('resource') is None
assert r.eval(UNLOCK, 1, 'resource', mine) == 0
"#,
    );
}

/// Seed 003's RedisReentrantLock (with the document's full-width parentheses fixed, and
/// its KEYS[1]/KEYS[2] mix-up kept: the lock is held in the counter hash).
#[test]
fn seed_003_reentrant_lock() {
    let srv = Server::ferredis(common::io_mode_args());
    common::run_python(
        srv.port,
        r#"
class RedisReentrantLock:
    def __init__(self, redis_conn, lock_key):
        self.redis_conn = redis_conn
        self.lock_key = lock_key
        self.client_id = str(uuid.uuid4())
        self.lock_counter_key = f"lock_counter:{lock_key}"

    def lock(self):
        lua_script = """
        if redis.call('exists', KEYS[1]) == 0 then
            redis.call('hset', KEYS[2], ARGV[1], 1)
            redis.call('expire', KEYS[2], ARGV[2])
            return 1
        elseif redis.call('hexists', KEYS[2], ARGV[1]) == 1 then
            local count = tonumber(redis.call('hget', KEYS[2], ARGV[1]))
            redis.call('hset', KEYS[2], ARGV[1], count + 1)
            return 1
        else
            return 0
        end
        """
        result = self.redis_conn.eval(lua_script, 2, self.lock_key, self.lock_counter_key, self.client_id, 30)
        return result == 1

    def unlock(self):
        lua_script = """
        if redis.call('hexists', KEYS[2], ARGV[1]) == 1 then
            local count = tonumber(redis.call('hget', KEYS[2], ARGV[1]))
            if count > 1 then
                redis.call('hset', KEYS[2], ARGV[1], count - 1)
                return 1
            else
                redis.call('hdel', KEYS[2], ARGV[1])
                redis.call('del', KEYS[1])
                return 1
            end
        else
            return 0
        end
        """
        result = self.redis_conn.eval(lua_script, 2, self.lock_key, self.lock_counter_key, self.client_id)
        return result == 1

r = redis.Redis(host='127.0.0.1', port=PORT)
r.delete('res', 'lock_counter:res')
a = RedisReentrantLock(r, 'res')
b = RedisReentrantLock(r, 'res')
# The flaw: the script tests KEYS[1] but only ever writes KEYS[2], so 'res' never
# exists: every lock() takes the first branch, which resets the count to 1 (no
# reentrancy) and lets a second client "acquire" the lock too. redis-server 7.0.15
# answers exactly this.
assert a.lock()
assert a.lock()
assert r.hget('lock_counter:res', a.client_id) == b'1'
assert r.exists('res') == 0
assert b.lock()
assert r.hlen('lock_counter:res') == 2
assert a.unlock()
assert r.hget('lock_counter:res', a.client_id) is None
assert not a.unlock()
assert b.unlock()
assert r.exists('lock_counter:res') == 0
"#,
    );
}

/// redis-py's own Lock: acquire, contention, extend, reacquire and release all go through
/// its Lua scripts (registered with EVALSHA, falling back to EVAL).
#[test]
fn redis_py_lock_class() {
    let srv = Server::ferredis(common::io_mode_args());
    common::run_python(
        srv.port,
        r#"
r = redis.Redis(host='127.0.0.1', port=PORT)
r.delete('pylock', 'counter-lock', 'plain-counter')
lock = r.lock('pylock', timeout=5)
assert lock.acquire(blocking=False)
other = r.lock('pylock', timeout=5)
assert not other.acquire(blocking=False)
assert lock.owned()
assert lock.extend(10)
assert 10000 < r.pttl('pylock') <= 15000
assert lock.reacquire()
assert 4000 < r.pttl('pylock') <= 5000
lock.release()
assert r.get('pylock') is None
try:
    lock.release()
    raise AssertionError('releasing an unowned lock must fail')
except redis.exceptions.LockError:
    pass

# Threads share a counter under the lock: no increment is lost.
def worker():
    c = redis.Redis(host='127.0.0.1', port=PORT)
    for _ in range(20):
        with c.lock('counter-lock', timeout=5, sleep=0.001):
            v = int(c.get('plain-counter') or 0)
            c.set('plain-counter', v + 1)
threads = [threading.Thread(target=worker) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
assert int(r.get('plain-counter')) == 80
"#,
    );
}

/// Sends EVAL on a raw connection and returns a thread waiting for its reply.
fn eval_in_background(srv: &Server, script: &'static str) -> std::thread::JoinHandle<Vec<u8>> {
    let mut raw = srv.raw();
    std::thread::spawn(move || raw.cmd(&[b"EVAL", script.as_bytes(), b"0"]))
}

/// Polls PING until the server answers -BUSY (the script passed the threshold).
fn wait_busy(srv: &Server) {
    let mut raw = srv.raw();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = raw.cmd(&[b"PING"]);
        if r.starts_with(b"-BUSY") {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "never busy: {r:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

const BUSY: &[u8] =
    b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";

/// A script past busy-reply-threshold: other clients get -BUSY, SCRIPT KILL stops it
/// (even when it catches errors with pcall), and the server serves again. The replies
/// are redis-server 7.0.15's.
#[test]
fn busy_script_is_killed_by_script_kill() {
    let mut args = vec!["--busy-reply-threshold", "100"];
    args.extend_from_slice(common::io_mode_args());
    let srv = Server::ferredis(&args);
    for script in [
        "local i = 0 while true do i = i + 1 end",
        "while true do pcall(function() while true do end end) end",
    ] {
        let waiter = eval_in_background(&srv, script);
        wait_busy(&srv);
        let mut raw = srv.raw();
        assert_eq!(raw.cmd(&[b"GET", b"x"]), BUSY);
        assert_eq!(raw.cmd(&[b"SCRIPT", b"KILL"]), b"+OK\r\n");
        let reply = waiter.join().unwrap();
        let sha = sha1_hex(script);
        assert_eq!(
            String::from_utf8_lossy(&reply),
            format!(
                "-ERR Script killed by user with SCRIPT KILL... script: {sha}, on @user_script:1.\r\n"
            )
        );
        assert_eq!(raw.cmd(&[b"PING"]), b"+PONG\r\n");
        assert_eq!(
            raw.cmd(&[b"SCRIPT", b"KILL"]),
            b"-NOTBUSY No scripts in execution right now.\r\n"
        );
    }
}

/// Once a busy script has written, SCRIPT KILL refuses; SHUTDOWN NOSAVE still works.
#[test]
fn busy_script_that_wrote_is_unkillable() {
    let mut args = vec!["--busy-reply-threshold", "100"];
    args.extend_from_slice(common::io_mode_args());
    let mut srv = Server::ferredis(&args);
    let waiter = eval_in_background(&srv, "redis.call('set', 'w', '1') while true do end");
    wait_busy(&srv);
    let mut raw = srv.raw();
    let r = raw.cmd(&[b"SCRIPT", b"KILL"]);
    assert!(
        r.starts_with(b"-UNKILLABLE Sorry the script already executed write commands"),
        "{r:?}"
    );
    raw.send(&common::encode(&[b"SHUTDOWN", b"NOSAVE"]));
    let _ = raw.read_to_close();
    let _ = waiter.join();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while srv.alive() {
        assert!(
            std::time::Instant::now() < deadline,
            "SHUTDOWN NOSAVE did not stop the server"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// SHA1 in hex, as the server names scripts (checked against redis.sha1hex elsewhere).
fn sha1_hex(s: &str) -> String {
    let out = Command::new("sha1sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(s.as_bytes())?;
            child.wait_with_output()
        })
        .expect("sha1sum runs");
    String::from_utf8_lossy(&out.stdout)[..40].to_string()
}

/// What a script propagates (ferredis's DEBUG PROPAGATED records the stream replicas and
/// the AOF would get): its write commands, wrapped in MULTI/EXEC when there are several,
/// never the EVAL itself; redis.set_repl(redis.REPL_NONE) silences what follows.
#[test]
fn script_effects_are_propagated_not_the_script() {
    let mut args = vec!["--enable-debug-command", "yes"];
    args.extend_from_slice(common::io_mode_args());
    let srv = Server::ferredis(&args);
    let mut con = srv.client();
    let _: () = redis::cmd("DEBUG")
        .arg("PROPAGATED")
        .arg("ON")
        .query(&mut con)
        .unwrap();
    let get = |con: &mut redis::Connection| -> Vec<Vec<String>> {
        redis::cmd("DEBUG")
            .arg("PROPAGATED")
            .arg("GET")
            .query(con)
            .unwrap()
    };
    let _: i64 = redis::cmd("EVAL")
        .arg("redis.call('set', 'a', '1') redis.call('incr', 'n') return 1")
        .arg(0)
        .query(&mut con)
        .unwrap();
    let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        get(&mut con),
        vec![
            v(&["SELECT", "0"]),
            v(&["MULTI"]),
            v(&["set", "a", "1"]),
            v(&["incr", "n"]),
            v(&["EXEC"]),
        ]
    );
    let _: i64 = redis::cmd("EVAL")
        .arg("redis.call('set', 'c', '1') return 1")
        .arg(0)
        .query(&mut con)
        .unwrap();
    assert_eq!(get(&mut con), vec![v(&["set", "c", "1"])]);
    let _: i64 = redis::cmd("EVAL")
        .arg("redis.set_repl(redis.REPL_NONE) redis.call('set', 'b', '1') return 1")
        .arg(0)
        .query(&mut con)
        .unwrap();
    assert!(get(&mut con).is_empty());
    let _: i64 = redis::cmd("EVAL")
        .arg("return 1")
        .arg(0)
        .query(&mut con)
        .unwrap();
    assert!(get(&mut con).is_empty());
}
