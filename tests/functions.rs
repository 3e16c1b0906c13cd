//! Redis 7.0 Functions as users meet them: a lock library loaded once and called with
//! redis-py's `fcall`, the writes of a function propagated as commands, busy functions
//! stopped by FUNCTION KILL, and DUMP/RESTORE payloads exchanged with the real Redis.

mod common;

use common::Server;

/// Seed 002's lock (SETNX, then EXPIRE, TTL repairing a lock left without one) as a
/// function library: the two steps that the seed sends separately run as one function,
/// so a lock can no longer be left without a TTL. Threads contend for it with
/// `r.fcall(...)`; a counter updated only under the lock with a read-then-write (GET,
/// then SET) loses no increment, which it would if two threads held the lock at once.
#[test]
fn seed_002_lock_as_a_function_library() {
    let srv = Server::ferredis(common::io_mode_args());
    common::run_python(
        srv.port,
        r##"
r = redis.Redis(host='127.0.0.1', port=PORT)
LIB = """#!lua name=seedlock
local function acquire_lock(keys, args)
  local expiration = tonumber(args[1]) or 10
  if redis.call('setnx', keys[1], 'locked') == 1 then
    redis.call('expire', keys[1], expiration)
    return 1
  elseif redis.call('ttl', keys[1]) == -1 then
    redis.call('expire', keys[1], expiration)
  end
  return 0
end
local function release_lock(keys)
  return redis.call('del', keys[1])
end
redis.register_function('acquire_lock', acquire_lock)
redis.register_function('release_lock', release_lock)
redis.register_function{function_name='lock_ttl', callback=function(keys) return redis.call('ttl', keys[1]) end, flags={'no-writes'}}
"""
assert r.function_load(LIB) in ('seedlock', b'seedlock')
try:
    r.function_load(LIB)
    assert False, 'loaded twice'
except redis.ResponseError as e:
    assert str(e) == "Library 'seedlock' already exists", str(e)
assert r.function_load(LIB, replace=True) in ('seedlock', b'seedlock')

assert r.fcall('acquire_lock', 1, 'resource_lock', 10) == 1
assert r.fcall('acquire_lock', 1, 'resource_lock', 10) == 0
assert 0 < r.fcall_ro('lock_ttl', 1, 'resource_lock') <= 10
try:
    r.fcall_ro('acquire_lock', 1, 'resource_lock')
    assert False
except redis.ResponseError as e:
    assert 'write flag' in str(e), str(e)
# A lock left without a TTL (the seed's failure mode) is repaired by the next caller.
r.persist('resource_lock')
assert r.fcall('acquire_lock', 1, 'resource_lock', 5) == 0
assert 0 < r.ttl('resource_lock') <= 5
assert r.fcall('release_lock', 1, 'resource_lock') == 1
assert r.get('resource_lock') is None

r.set('counter', 0)
def worker():
    c = redis.Redis(host='127.0.0.1', port=PORT)
    for _ in range(25):
        while not c.fcall('acquire_lock', 1, 'counter_lock', 10):
            time.sleep(0.001)
        v = int(c.get('counter'))
        c.set('counter', v + 1)
        c.fcall('release_lock', 1, 'counter_lock')
threads = [threading.Thread(target=worker) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
assert int(r.get('counter')) == 100, r.get('counter')

libs = r.function_list(library='seedlock')
assert len(libs) == 1
stats = r.function_stats()
assert stats[b'engines'][b'LUA'] == {b'libraries_count': 1, b'functions_count': 3} or \
    stats[3] == [b'LUA', [b'libraries_count', 1, b'functions_count', 3]], stats
"##,
    );
}

/// What a function propagates (DEBUG PROPAGATED records the stream replicas and the AOF
/// would get): its write commands, wrapped in MULTI/EXEC when there are several, never the
/// FCALL itself; FUNCTION LOAD and DELETE change the dataset of functions and are
/// propagated as themselves.
#[test]
fn function_effects_are_propagated_not_the_fcall() {
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
    let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let lib = "#!lua name=prop\n\
        redis.register_function('two', function(keys) redis.call('set', keys[1], '1') redis.call('incr', keys[2]) return 1 end)\n\
        redis.register_function('one', function(keys) redis.call('set', keys[1], 'x') return 1 end)\n\
        redis.register_function('none', function(keys) redis.set_repl(redis.REPL_NONE) redis.call('set', keys[1], 'y') return 1 end)\n\
        redis.register_function('read', function(keys) return redis.call('get', keys[1]) end)";
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(lib)
        .query(&mut con)
        .unwrap();
    assert_eq!(
        get(&mut con),
        vec![v(&["SELECT", "0"]), v(&["FUNCTION", "LOAD", lib])]
    );
    let _: i64 = redis::cmd("FCALL")
        .arg("two")
        .arg(2)
        .arg("a")
        .arg("n")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        get(&mut con),
        vec![
            v(&["MULTI"]),
            v(&["set", "a", "1"]),
            v(&["incr", "n"]),
            v(&["EXEC"]),
        ]
    );
    let _: i64 = redis::cmd("FCALL")
        .arg("one")
        .arg(1)
        .arg("c")
        .query(&mut con)
        .unwrap();
    assert_eq!(get(&mut con), vec![v(&["set", "c", "x"])]);
    let _: i64 = redis::cmd("FCALL")
        .arg("none")
        .arg(1)
        .arg("b")
        .query(&mut con)
        .unwrap();
    assert!(get(&mut con).is_empty());
    let _: Option<String> = redis::cmd("FCALL")
        .arg("read")
        .arg(1)
        .arg("a")
        .query(&mut con)
        .unwrap();
    assert!(get(&mut con).is_empty());
    let _: () = redis::cmd("FUNCTION")
        .arg("DELETE")
        .arg("prop")
        .query(&mut con)
        .unwrap();
    assert_eq!(get(&mut con), vec![v(&["FUNCTION", "DELETE", "prop"])]);
}

/// Polls PING until the server answers -BUSY (the function passed the threshold).
fn wait_busy(srv: &Server) -> Vec<u8> {
    let mut raw = srv.raw();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = raw.cmd(&[b"PING"]);
        if r.starts_with(b"-BUSY") {
            return r;
        }
        assert!(std::time::Instant::now() < deadline, "never busy: {r:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

const FUNCTION_BUSY: &[u8] =
    b"-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n";
const EVAL_BUSY: &[u8] =
    b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";

/// A busy function: other clients get the FUNCTION KILL flavour of -BUSY, SCRIPT KILL
/// refuses, FUNCTION STATS names the running function and its command, FUNCTION KILL
/// stops it. A busy EVAL is the mirror image. Runs against ferredis and redis-server
/// 7.0.15, which must agree.
#[test]
fn busy_function_is_killed_by_function_kill() {
    let mut args = vec!["--busy-reply-threshold", "100"];
    args.extend_from_slice(common::io_mode_args());
    for srv in [
        Server::ferredis(&args),
        Server::redis(&["--busy-reply-threshold", "100"]),
    ] {
        let mut raw = srv.raw();
        let lib = "#!lua name=spin\nredis.register_function('spin', function()\n  local i = 0 while true do i = i + 1 end\nend)";
        assert_eq!(
            raw.cmd(&[b"FUNCTION", b"LOAD", lib.as_bytes()]),
            b"$4\r\nspin\r\n"
        );
        let mut caller = srv.raw();
        let waiter = std::thread::spawn(move || caller.cmd(&[b"FCALL", b"spin", b"0"]));
        assert_eq!(wait_busy(&srv), FUNCTION_BUSY);
        assert_eq!(raw.cmd(&[b"GET", b"x"]), FUNCTION_BUSY);
        assert_eq!(raw.cmd(&[b"SCRIPT", b"KILL"]), FUNCTION_BUSY);
        let stats = raw.cmd(&[b"FUNCTION", b"STATS"]);
        let text = String::from_utf8_lossy(&stats);
        assert!(
            text.starts_with("*4\r\n$14\r\nrunning_script\r\n*6\r\n$4\r\nname\r\n$4\r\nspin\r\n$7\r\ncommand\r\n*3\r\n$5\r\nFCALL\r\n$4\r\nspin\r\n$1\r\n0\r\n$11\r\nduration_ms\r\n:"),
            "{text}"
        );
        assert_eq!(raw.cmd(&[b"FUNCTION", b"KILL"]), b"+OK\r\n");
        assert_eq!(
            String::from_utf8_lossy(&waiter.join().unwrap()),
            "-ERR Script killed by user with SCRIPT KILL... script: spin, on @user_function:3.\r\n"
        );
        assert_eq!(raw.cmd(&[b"PING"]), b"+PONG\r\n");
        assert_eq!(
            raw.cmd(&[b"FUNCTION", b"KILL"]),
            b"-NOTBUSY No scripts in execution right now.\r\n"
        );

        let mut caller = srv.raw();
        let waiter = std::thread::spawn(move || caller.cmd(&[b"EVAL", b"while true do end", b"0"]));
        assert_eq!(wait_busy(&srv), EVAL_BUSY);
        assert_eq!(raw.cmd(&[b"FUNCTION", b"KILL"]), EVAL_BUSY);
        assert_eq!(raw.cmd(&[b"FUNCTION", b"STATS"]), EVAL_BUSY);
        assert_eq!(raw.cmd(&[b"SCRIPT", b"KILL"]), b"+OK\r\n");
        let reply = waiter.join().unwrap();
        assert!(reply.starts_with(b"-ERR Script killed by user with SCRIPT KILL..."));
        assert_eq!(raw.cmd(&[b"PING"]), b"+PONG\r\n");
    }
}

/// A payload FUNCTION DUMP produced on redis-server 7.0.15 (the code LZF-compressed):
/// library `oracle_lib`, function `oracle_echo` (no-writes, with a description).
const ORACLE_DUMP_HEX: &str = "f5c340cc40f41f23216c7561206e616d653d6f7261636c655f6c69620a72656469732e726567690d737465725f66756e6374696f6e7bc008005f60300027a0310f6563686f272c2063616c6c6261636b3dc02512286b6579732c2061726773292072657475726e600c1f5b315d20656e642c20666c6167733d7b276e6f2d777269746573277d2c206465047363726970406f013d27405a0b657320697473206669727374403f11756d656e74277d0a2d2d2070616464696e67e0100709736f2074686520636f644004076d707265737365730a003e637b7fe6f88263";

/// DUMP and RESTORE across servers: Redis's payload restores here and dumps back byte
/// for byte, and ferredis's payload restores on redis-server.
#[test]
fn dump_payloads_travel_between_redis_and_ferredis() {
    let payload: Vec<u8> = (0..ORACLE_DUMP_HEX.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&ORACLE_DUMP_HEX[i..i + 2], 16).unwrap())
        .collect();
    let srv = Server::ferredis(common::io_mode_args());
    let mut raw = srv.raw();
    let mut restore = vec![b"FUNCTION".as_slice(), b"RESTORE", &payload];
    assert_eq!(raw.cmd(&restore), b"+OK\r\n");
    assert_eq!(
        raw.cmd(&[b"FCALL_RO", b"oracle_echo", b"0", b"hello"]),
        b"$5\r\nhello\r\n"
    );
    let dumped = raw.cmd(&[b"FUNCTION", b"DUMP"]);
    let mut expected = format!("${}\r\n", payload.len()).into_bytes();
    expected.extend_from_slice(&payload);
    expected.extend_from_slice(b"\r\n");
    assert_eq!(dumped, expected);
    restore.push(b"APPEND");
    assert_eq!(
        raw.cmd(&restore),
        b"-ERR Library oracle_lib already exists\r\n"
    );

    // Ferredis's own dump of a second library, restored on the real server.
    let lib = "#!lua name=mine\nredis.register_function('mine', function() return 'mine mine mine mine' end)";
    assert_eq!(raw.cmd(&[b"FUNCTION", b"FLUSH"]), b"+OK\r\n");
    assert_eq!(
        raw.cmd(&[b"FUNCTION", b"LOAD", lib.as_bytes()]),
        b"$4\r\nmine\r\n"
    );
    let dumped = raw.cmd(&[b"FUNCTION", b"DUMP"]);
    let body = &dumped[dumped.iter().position(|&b| b == b'\n').unwrap() + 1..dumped.len() - 2];
    let oracle = Server::redis(&[]);
    let mut oraw = oracle.raw();
    assert_eq!(oraw.cmd(&[b"FUNCTION", b"RESTORE", body]), b"+OK\r\n");
    assert_eq!(
        oraw.cmd(&[b"FCALL", b"mine", b"0"]),
        b"$19\r\nmine mine mine mine\r\n"
    );
}

/// MONITOR shows an FCALL before the commands its function runs (those tagged `lua`),
/// and an FCALL that fails before running; redis-server 7.0.15 agrees.
#[test]
fn monitor_shows_fcall_then_its_commands() {
    for srv in [Server::ferredis(common::io_mode_args()), Server::redis(&[])] {
        let mut raw = srv.raw();
        let lib = "#!lua name=mon\nredis.register_function('one', function(keys) return redis.call('set', keys[1], 'x') end)";
        assert_eq!(
            raw.cmd(&[b"FUNCTION", b"LOAD", lib.as_bytes()]),
            b"$3\r\nmon\r\n"
        );
        let mut mon = srv.raw();
        assert_eq!(mon.cmd(&[b"MONITOR"]), b"+OK\r\n");
        assert_eq!(raw.cmd(&[b"FCALL", b"one", b"1", b"c"]), b"+OK\r\n");
        assert_eq!(
            raw.cmd(&[b"FCALL_RO", b"nosuch", b"0"]),
            b"-ERR Function not found\r\n"
        );
        let lines: Vec<String> = (0..3)
            .map(|_| {
                let l = String::from_utf8_lossy(&mon.read_reply()).into_owned();
                // "+<time> [0 <client>] <args>": keep the client kind and the arguments.
                let rest = &l[l.find('[').unwrap()..];
                let lua = rest.starts_with("[0 lua]");
                format!(
                    "{} {}",
                    if lua { "lua" } else { "client" },
                    rest[rest.find(']').unwrap() + 2..].trim_end()
                )
            })
            .collect();
        assert_eq!(
            lines,
            [
                r#"client "FCALL" "one" "1" "c""#,
                r#"lua "set" "c" "x""#,
                r#"client "FCALL_RO" "nosuch" "0""#,
            ]
        );
    }
}
