//! Blocking list operations with real clients: who is served, in what order, with
//! what, and what happens to waiters that time out, are unblocked or disconnect.
//! Every test runs in the I/O mode FERREDIS_IO_MODE selects.

mod common;

use std::time::{Duration, Instant};

use common::{encode, Raw, Server};

fn start() -> Server {
    Server::ferredis(common::io_mode_args())
}

/// INFO clients' blocked_clients.
fn blocked_clients(con: &mut redis::Connection) -> usize {
    let info: String = redis::cmd("INFO").arg("clients").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("blocked_clients in INFO")
}

/// Wait until exactly `n` clients are blocked (the waiters' commands have run).
fn wait_blocked(con: &mut redis::Connection, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let b = blocked_clients(con);
        if b == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{b} clients blocked, expected {n}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Send a command on a raw connection without reading its reply.
fn send(raw: &mut Raw, args: &[&str]) {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    raw.send(&encode(&a));
}

/// Open a connection, block it with `args`, and wait until the server has it blocked.
fn block(srv: &Server, ctl: &mut redis::Connection, args: &[&str]) -> Raw {
    let before = blocked_clients(ctl);
    let mut raw = srv.raw();
    send(&mut raw, args);
    wait_blocked(ctl, before + 1);
    raw
}

fn bulk(s: &str) -> Vec<u8> {
    format!("${}\r\n{}\r\n", s.len(), s).into_bytes()
}

fn pair(key: &str, val: &str) -> Vec<u8> {
    let mut v = b"*2\r\n".to_vec();
    v.extend(bulk(key));
    v.extend(bulk(val));
    v
}

/// Ten clients block on one key, in a known order; one RPUSH of ten elements serves
/// them first-blocked-first, one element each, in list order.
#[test]
fn waiters_are_served_in_fifo_order() {
    let srv = start();
    let mut ctl = srv.client();
    let mut waiters: Vec<Raw> = (0..10)
        .map(|_| block(&srv, &mut ctl, &["BLPOP", "q", "0"]))
        .collect();
    let elems: Vec<String> = (0..10).map(|i| format!("e{i}")).collect();
    let n: i64 = redis::cmd("RPUSH")
        .arg("q")
        .arg(&elems)
        .query(&mut ctl)
        .unwrap();
    assert_eq!(n, 10);
    for (i, w) in waiters.iter_mut().enumerate() {
        assert_eq!(w.read_reply(), pair("q", &elems[i]), "waiter {i}");
    }
    let exists: i64 = redis::cmd("EXISTS").arg("q").query(&mut ctl).unwrap();
    assert_eq!(exists, 0);
    assert_eq!(blocked_clients(&mut ctl), 0);

    // One element at a time: still in blocking order.
    let mut waiters: Vec<Raw> = (0..10)
        .map(|_| block(&srv, &mut ctl, &["BRPOP", "q2", "0"]))
        .collect();
    for (i, w) in waiters.iter_mut().enumerate() {
        let _: i64 = redis::cmd("LPUSH")
            .arg("q2")
            .arg(format!("x{i}"))
            .query(&mut ctl)
            .unwrap();
        assert_eq!(w.read_reply(), pair("q2", &format!("x{i}")));
    }
}

/// A BLMOVE waiter is served from its source and its push wakes a waiter blocked on
/// the destination, in the same turn.
#[test]
fn blmove_feeds_a_waiter_on_its_destination() {
    let srv = start();
    let mut ctl = srv.client();
    let mut on_dst = block(&srv, &mut ctl, &["BLPOP", "dst", "0"]);
    let mut mover = block(
        &srv,
        &mut ctl,
        &["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"],
    );
    let _: i64 = redis::cmd("RPUSH")
        .arg("src")
        .arg("x")
        .query(&mut ctl)
        .unwrap();
    assert_eq!(mover.read_reply(), bulk("x"));
    assert_eq!(on_dst.read_reply(), pair("dst", "x"));
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut ctl).unwrap();
    assert!(keys.is_empty(), "{keys:?}");
    // The mover's connection works normally afterwards.
    assert_eq!(mover.cmd(&[b"PING"]), b"+PONG\r\n");
}

/// A timeout fires no earlier than asked, and not much later (generous bound: the
/// loop checks deadlines at least every serverCron period, 100 ms at hz 10).
#[test]
fn timeout_is_precise() {
    let srv = start();
    let mut ctl = srv.client();
    for (cmd, secs) in [
        (vec!["BLPOP", "nokey", "0.3"], 0.3),
        (vec!["BLMOVE", "nokey", "d", "LEFT", "LEFT", "0.25"], 0.25),
        (vec!["BLMPOP", "0.2", "1", "nokey", "LEFT"], 0.2),
    ] {
        let mut raw = srv.raw();
        let t0 = Instant::now();
        send(&mut raw, &cmd);
        let reply = raw.read_reply();
        let took = t0.elapsed().as_secs_f64();
        assert_eq!(reply, b"*-1\r\n", "{cmd:?}");
        assert!(
            took >= secs,
            "{cmd:?} replied after {took}s, before {secs}s"
        );
        assert!(took <= secs + 0.35, "{cmd:?} replied after {took}s");
    }
    assert_eq!(blocked_clients(&mut ctl), 0);
}

/// A waiter whose connection closes is forgotten: the next push goes to the next
/// waiter, and with no waiter left the element stays in the list.
#[test]
fn closed_waiter_is_forgotten() {
    let srv = start();
    let mut ctl = srv.client();
    let first = block(&srv, &mut ctl, &["BLPOP", "q", "0"]);
    let mut second = block(&srv, &mut ctl, &["BLPOP", "q", "0"]);
    drop(first);
    wait_blocked(&mut ctl, 1);
    let _: i64 = redis::cmd("RPUSH")
        .arg("q")
        .arg("a")
        .query(&mut ctl)
        .unwrap();
    assert_eq!(second.read_reply(), pair("q", "a"));

    let only = block(&srv, &mut ctl, &["BRPOPLPUSH", "q", "d", "0"]);
    drop(only);
    wait_blocked(&mut ctl, 0);
    let _: i64 = redis::cmd("RPUSH")
        .arg("q")
        .arg("b")
        .query(&mut ctl)
        .unwrap();
    let left: Vec<String> = redis::cmd("LRANGE")
        .arg("q")
        .arg(0)
        .arg(-1)
        .query(&mut ctl)
        .unwrap();
    assert_eq!(left, vec!["b"]);
    let d: i64 = redis::cmd("EXISTS").arg("d").query(&mut ctl).unwrap();
    assert_eq!(d, 0);
}

/// CLIENT UNBLOCK: TIMEOUT gives the waiter its timeout reply, ERROR an -UNBLOCKED
/// error; a client that is not blocked is not touched.
#[test]
fn client_unblock_timeout_and_error() {
    let srv = start();
    let mut ctl = srv.client();
    let mut w = srv.raw();
    let id = String::from_utf8(w.cmd(&[b"CLIENT", b"ID"])).unwrap();
    let id = id.trim_start_matches(':').trim().to_string();
    send(&mut w, &["BLPOP", "k", "0"]);
    wait_blocked(&mut ctl, 1);
    let r: i64 = redis::cmd("CLIENT")
        .arg("UNBLOCK")
        .arg(&id)
        .arg("TIMEOUT")
        .query(&mut ctl)
        .unwrap();
    assert_eq!(r, 1);
    assert_eq!(w.read_reply(), b"*-1\r\n");

    send(&mut w, &["BLMOVE", "k", "d", "LEFT", "LEFT", "0"]);
    wait_blocked(&mut ctl, 1);
    let r: i64 = redis::cmd("CLIENT")
        .arg("UNBLOCK")
        .arg(&id)
        .arg("ERROR")
        .query(&mut ctl)
        .unwrap();
    assert_eq!(r, 1);
    assert_eq!(
        w.read_reply(),
        b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    );
    let r: i64 = redis::cmd("CLIENT")
        .arg("UNBLOCK")
        .arg(&id)
        .query(&mut ctl)
        .unwrap();
    assert_eq!(r, 0);
    assert_eq!(blocked_clients(&mut ctl), 0);
    // Unblocked clients are gone from the key's queue: a push stays in the list.
    let _: i64 = redis::cmd("RPUSH")
        .arg("k")
        .arg("v")
        .query(&mut ctl)
        .unwrap();
    let n: i64 = redis::cmd("LLEN").arg("k").query(&mut ctl).unwrap();
    assert_eq!(n, 1);
}

/// A client pipelining commands behind a blocking one gets their replies after it
/// is served, in order.
#[test]
fn pipelined_commands_run_after_the_waiter_is_served() {
    let srv = start();
    let mut ctl = srv.client();
    let mut w = srv.raw();
    let mut pipe = encode(&[b"BLPOP", b"p", b"0"]);
    pipe.extend(encode(&[b"LLEN", b"p"]));
    pipe.extend(encode(&[b"PING"]));
    w.send(&pipe);
    wait_blocked(&mut ctl, 1);
    let _: i64 = redis::cmd("RPUSH")
        .arg("p")
        .arg("a")
        .arg("b")
        .query(&mut ctl)
        .unwrap();
    assert_eq!(w.read_reply(), pair("p", "a"));
    assert_eq!(w.read_reply(), b":1\r\n");
    assert_eq!(w.read_reply(), b"+PONG\r\n");
}

// ANCHOR: waiter_never_observes_a_half_applied_command
/// The claim of the blocking chapter: a waiter is served only after the command that
/// fed it has completed, so it never sees a half-applied command.
///
/// LPUSH q a b c pushes a, then b, then c at the head. Served mid-command, the first
/// waiter would get "a"; served after it, it gets the head of the finished list, "c",
/// and the next ones "b" and "a". The pusher's reply counts all three elements, the
/// length after its whole command. Then a chain: RPUSH feeds a BLMOVE waiter whose
/// push feeds another BLMOVE waiter whose push feeds a BLPOP waiter, all before the
/// pusher's next command runs.
#[test]
fn waiter_never_observes_a_half_applied_command() {
    let srv = start();
    let mut ctl = srv.client();
    let mut w: Vec<Raw> = (0..3)
        .map(|_| block(&srv, &mut ctl, &["BLPOP", "q", "0"]))
        .collect();
    let n: i64 = redis::cmd("LPUSH")
        .arg("q")
        .arg(&["a", "b", "c"])
        .query(&mut ctl)
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(w[0].read_reply(), pair("q", "c"));
    assert_eq!(w[1].read_reply(), pair("q", "b"));
    assert_eq!(w[2].read_reply(), pair("q", "a"));

    let mut m1 = block(
        &srv,
        &mut ctl,
        &["BLMOVE", "q1", "q2", "RIGHT", "LEFT", "0"],
    );
    let mut m2 = block(&srv, &mut ctl, &["BRPOPLPUSH", "q2", "q3", "0"]);
    let mut last = block(&srv, &mut ctl, &["BLPOP", "q3", "0"]);
    // The pusher's very next command sees the chain complete: the three waiters are
    // served between its two commands.
    let mut pipe = redis::pipe();
    pipe.cmd("RPUSH").arg("q1").arg("x");
    pipe.cmd("EXISTS").arg("q1").arg("q2").arg("q3");
    let (pushed, exists): (i64, i64) = pipe.query(&mut ctl).unwrap();
    assert_eq!(pushed, 1);
    assert_eq!(exists, 0);
    assert_eq!(m1.read_reply(), bulk("x"));
    assert_eq!(m2.read_reply(), bulk("x"));
    assert_eq!(last.read_reply(), pair("q3", "x"));
    assert_eq!(blocked_clients(&mut ctl), 0);
}
// ANCHOR_END: waiter_never_observes_a_half_applied_command

/// Served pops are propagated as their non-blocking forms (BLPOP -> LPOP, BLMOVE ->
/// LMOVE, BLMPOP -> LPOP key count), right after the push that fed them.
#[test]
fn served_waiters_propagate_plain_pops() {
    let srv =
        Server::ferredis(&[&["--enable-debug-command", "yes"], common::io_mode_args()].concat());
    let mut ctl = srv.client();
    let ok: redis::RedisResult<String> = redis::cmd("DEBUG")
        .arg("PROPAGATED")
        .arg("ON")
        .query(&mut ctl);
    if ok.is_err() {
        eprintln!("DEBUG PROPAGATED not available: skipped");
        return;
    }
    let mut a = block(&srv, &mut ctl, &["BLPOP", "q", "0"]);
    let mut b = block(&srv, &mut ctl, &["BLMOVE", "q", "d", "RIGHT", "LEFT", "0"]);
    let mut c = block(
        &srv,
        &mut ctl,
        &["BLMPOP", "0", "1", "q", "LEFT", "COUNT", "5"],
    );
    let _: i64 = redis::cmd("RPUSH")
        .arg("q")
        .arg(&["1", "2", "3", "4"])
        .query(&mut ctl)
        .unwrap();
    a.read_reply();
    b.read_reply();
    c.read_reply();
    let log: Vec<Vec<String>> = redis::cmd("DEBUG")
        .arg("PROPAGATED")
        .arg("GET")
        .query(&mut ctl)
        .unwrap();
    let tail: Vec<String> = log.iter().map(|v| v.join(" ")).collect();
    let want = [
        "RPUSH q 1 2 3 4",
        "LPOP q",
        "LMOVE q d RIGHT LEFT",
        "LPOP q 2",
    ];
    let pos = tail
        .iter()
        .position(|l| l == want[0])
        .unwrap_or_else(|| panic!("no RPUSH in {tail:?}"));
    assert_eq!(&tail[pos..pos + 4], &want[..], "{tail:?}");
}

/// A push inside MULTI/EXEC wakes the waiter only after EXEC: inside the
/// transaction the pushed elements are all still there (LLEN sees both), and the
/// waiter gets the first one once the transaction is over.
#[test]
fn a_push_inside_multi_wakes_waiters_only_after_exec() {
    let srv = start();
    let mut ctl = srv.client();
    let mut waiter = block(&srv, &mut ctl, &["BLPOP", "q", "0"]);
    let (r1, r2, len_inside): (i64, i64, i64) = redis::pipe()
        .atomic()
        .cmd("RPUSH")
        .arg("q")
        .arg("x")
        .cmd("RPUSH")
        .arg("q")
        .arg("y")
        .cmd("LLEN")
        .arg("q")
        .query(&mut ctl)
        .unwrap();
    assert_eq!(
        (r1, r2, len_inside),
        (1, 2, 2),
        "the waiter ran inside EXEC"
    );
    assert_eq!(waiter.read_reply(), pair("q", "x"));
    let left: Vec<String> = redis::cmd("LRANGE")
        .arg("q")
        .arg(0)
        .arg(-1)
        .query(&mut ctl)
        .unwrap();
    assert_eq!(left, ["y"]);
    assert_eq!(blocked_clients(&mut ctl), 0);
}

/// A blocking pop inside a transaction does not block: with nothing to pop it
/// answers as if it had timed out, and the transaction goes on.
#[test]
fn a_blocking_pop_inside_multi_does_not_block() {
    let srv = start();
    let mut con = srv.client();
    let (a, b, c): (Option<Vec<String>>, Option<Vec<String>>, String) = redis::pipe()
        .atomic()
        .cmd("BLPOP")
        .arg("empty")
        .arg(0)
        .cmd("BZPOPMIN")
        .arg("emptyz")
        .arg(0)
        .cmd("PING")
        .query(&mut con)
        .unwrap();
    assert_eq!((a, b, c.as_str()), (None, None, "PONG"));
    assert_eq!(blocked_clients(&mut con), 0);
}

/// BZPOPMIN waiters are served in the order they blocked, and a ZADD of several
/// members serves several waiters, lowest score first.
#[test]
fn bzpopmin_waiters_are_served_in_order() {
    let srv = start();
    let mut ctl = srv.client();
    let mut waiters: Vec<Raw> = (0..3)
        .map(|_| block(&srv, &mut ctl, &["BZPOPMIN", "board", "0"]))
        .collect();
    let n: i64 = redis::cmd("ZADD")
        .arg("board")
        .arg(30)
        .arg("c")
        .arg(10)
        .arg("a")
        .arg(20)
        .arg("b")
        .query(&mut ctl)
        .unwrap();
    assert_eq!(n, 3);
    for (w, (member, score)) in waiters
        .iter_mut()
        .zip([("a", "10"), ("b", "20"), ("c", "30")])
    {
        let mut expect = b"*3\r\n".to_vec();
        expect.extend(bulk("board"));
        expect.extend(bulk(member));
        expect.extend(bulk(score));
        assert_eq!(w.read_reply(), expect);
    }
    let exists: i64 = redis::cmd("EXISTS").arg("board").query(&mut ctl).unwrap();
    assert_eq!(exists, 0);
}
