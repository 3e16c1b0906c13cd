//! MULTI/EXEC/WATCH over real sockets: a transaction runs as one command, a WATCHed
//! key touched by anyone else makes EXEC return nil, what a transaction propagates,
//! and how its errors are counted. Every test runs in the I/O mode FERREDIS_IO_MODE
//! selects.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{io_mode_args, Server};
use redis::Value;

fn info_field(con: &mut redis::Connection, section: &str, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg(section).query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .to_string()
}

/// `calls=1,usec=..,failed_calls=0` -> the value of one item.
fn stat_item(line: &str, item: &str) -> u64 {
    line.split(',')
        .find_map(|kv| kv.strip_prefix(&format!("{item}=")))
        .unwrap_or_else(|| panic!("no {item} in {line}"))
        .parse()
        .unwrap()
}

/// The claim of the MULTI/EXEC chapter: while a writer increments a key as fast as
/// it can, a transaction that reads the key twice always reads the same value twice,
/// because EXEC runs its queued commands inside one call, with nothing in between.
#[test]
fn exec_runs_its_commands_with_nothing_in_between() {
    let srv = Server::ferredis(io_mode_args());
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for _ in 0..2 {
        let (url, stop) = (srv.url(), stop.clone());
        writers.push(std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Pipelined, so the writes arrive in bursts between the reader's commands.
                let mut p = redis::pipe();
                for _ in 0..20 {
                    p.cmd("INCR").arg("counter").ignore();
                }
                let () = p.query(&mut con).unwrap();
                n += 20;
            }
            n
        }));
    }
    let mut con = srv.client();
    let mut changed_between_transactions = 0;
    let mut last = -1i64;
    for _ in 0..500 {
        let (a, b, c): (Option<i64>, Option<i64>, Option<i64>) = redis::pipe()
            .atomic()
            .cmd("GET")
            .arg("counter")
            .cmd("GET")
            .arg("counter")
            .cmd("GET")
            .arg("counter")
            .query(&mut con)
            .unwrap();
        assert_eq!(a, b, "a write ran between two commands of one EXEC");
        assert_eq!(b, c, "a write ran between two commands of one EXEC");
        let v = a.unwrap_or(0);
        if v != last {
            changed_between_transactions += 1;
            last = v;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let written: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    // The test means something only if the writer really ran in between.
    assert!(
        changed_between_transactions > 10,
        "the writers never interleaved ({changed_between_transactions} changes, {written} writes)"
    );
}

/// A WATCHed key written by another client makes EXEC return a null array, every
/// time, and the transaction's commands do not run.
#[test]
fn a_touched_watched_key_fails_exec_every_time() {
    let srv = Server::ferredis(io_mode_args());
    let mut a = srv.client();
    let mut b = srv.client();
    for round in 0..200 {
        let () = redis::cmd("WATCH").arg("k").query(&mut a).unwrap();
        let v: Option<String> = redis::cmd("GET").arg("k").query(&mut a).unwrap();
        // Alternate the kind of write the other client does.
        match round % 4 {
            0 => redis::cmd("SET").arg("k").arg(round).query::<()>(&mut b),
            1 => redis::cmd("INCR")
                .arg("n")
                .query::<()>(&mut b)
                .and_then(|_| {
                    redis::cmd("SET")
                        .arg("k")
                        .arg(v.clone().unwrap_or_default())
                        .query::<()>(&mut b)
                }),
            2 => redis::cmd("EXPIRE").arg("k").arg(1000).query::<()>(&mut b),
            _ => redis::cmd("APPEND").arg("k").arg("x").query::<()>(&mut b),
        }
        .unwrap();
        let r: Value = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg("k")
            .arg("from-a")
            .query(&mut a)
            .unwrap();
        assert_eq!(
            r,
            Value::Nil,
            "round {round}: EXEC ran after a watched write"
        );
        let now: String = redis::cmd("GET").arg("k").query(&mut b).unwrap();
        assert_ne!(now, "from-a", "round {round}");
    }
}

/// Optimistic locking as the Redis documentation teaches it: read, compute, write in
/// MULTI under WATCH, retry on nil. With 4 clients racing, no increment is lost; the
/// retries show that collisions did happen.
#[test]
fn watch_check_and_set_loses_no_update() {
    let srv = Server::ferredis(io_mode_args());
    const CLIENTS: usize = 4;
    const EACH: usize = 50;
    let mut handles = Vec::new();
    for _ in 0..CLIENTS {
        let url = srv.url();
        handles.push(std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            let mut retries = 0;
            for _ in 0..EACH {
                loop {
                    let () = redis::cmd("WATCH").arg("cas").query(&mut con).unwrap();
                    let v: Option<i64> = redis::cmd("GET").arg("cas").query(&mut con).unwrap();
                    let r: Option<(String,)> = redis::pipe()
                        .atomic()
                        .cmd("SET")
                        .arg("cas")
                        .arg(v.unwrap_or(0) + 1)
                        .query(&mut con)
                        .unwrap();
                    if r.is_some() {
                        break;
                    }
                    retries += 1;
                }
            }
            retries
        }));
    }
    let retries: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let mut con = srv.client();
    let total: i64 = redis::cmd("GET").arg("cas").query(&mut con).unwrap();
    assert_eq!(total, (CLIENTS * EACH) as i64, "{retries} retries");
}

/// The commands EXEC runs are propagated as one MULTI ... EXEC, and EXEC itself is
/// not propagated; a transaction with one write propagates just that write.
#[test]
fn a_transaction_propagates_as_one_multi_exec() {
    let mut args = vec!["--enable-debug-command", "yes"];
    args.extend_from_slice(io_mode_args());
    let srv = Server::ferredis(&args);
    let mut con = srv.client();
    let () = redis::cmd("DEBUG")
        .arg("PROPAGATED")
        .arg("ON")
        .query(&mut con)
        .unwrap();
    let _: Value = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("a")
        .arg("1")
        .cmd("GET")
        .arg("a")
        .cmd("INCR")
        .arg("b")
        .query(&mut con)
        .unwrap();
    let _: Value = redis::pipe()
        .atomic()
        .cmd("GET")
        .arg("a")
        .cmd("SET")
        .arg("c")
        .arg("3")
        .query(&mut con)
        .unwrap();
    // A transaction that writes nothing propagates nothing.
    let _: Value = redis::pipe()
        .atomic()
        .cmd("GET")
        .arg("a")
        .query(&mut con)
        .unwrap();
    let v: Value = redis::cmd("DEBUG")
        .arg("PROPAGATED")
        .arg("GET")
        .query(&mut con)
        .unwrap();
    let Value::Array(items) = v else {
        panic!("{v:?}")
    };
    let log: Vec<Vec<String>> = items
        .into_iter()
        .map(|i| redis::from_redis_value(&i).unwrap())
        .collect();
    let expect: Vec<Vec<&str>> = vec![
        vec!["SELECT", "0"],
        vec!["MULTI"],
        vec!["SET", "a", "1"],
        vec!["INCR", "b"],
        vec!["EXEC"],
        vec!["SET", "c", "3"],
    ];
    assert_eq!(log, expect);
}

/// An error inside EXEC counts as a failed call of the command that failed, not of
/// EXEC; a transaction refused at queue time counts as a failed EXEC.
#[test]
fn errors_inside_exec_count_for_their_command() {
    let srv = Server::ferredis(io_mode_args());
    let mut con = srv.client();
    let () = redis::cmd("SET")
        .arg("str")
        .arg("x")
        .query(&mut con)
        .unwrap();
    // The redis crate turns the INCR error inside EXEC's reply into an Err.
    let r: redis::RedisResult<Value> = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("str")
        .cmd("GET")
        .arg("str")
        .query(&mut con);
    assert!(r.is_err(), "{r:?}");
    let exec = info_field(&mut con, "commandstats", "cmdstat_exec");
    let incr = info_field(&mut con, "commandstats", "cmdstat_incr");
    assert_eq!(stat_item(&exec, "failed_calls"), 0, "{exec}");
    assert_eq!(stat_item(&incr, "failed_calls"), 1, "{incr}");
    // Now a queue-time error: EXEC answers EXECABORT and is the failed call.
    let mut raw = srv.raw();
    assert_eq!(raw.cmd(&[b"MULTI"]), b"+OK\r\n");
    assert!(raw.cmd(&[b"NOSUCH"]).starts_with(b"-ERR unknown command"));
    assert_eq!(
        raw.cmd(&[b"EXEC"]),
        b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    let exec = info_field(&mut con, "commandstats", "cmdstat_exec");
    assert_eq!(stat_item(&exec, "calls"), 2, "{exec}");
    assert_eq!(stat_item(&exec, "failed_calls"), 1, "{exec}");
}

/// A client that closes its connection mid-transaction leaves no watch behind: the
/// next client watching the same key is not disturbed by it, and the server does not
/// keep the departed client's queue.
#[test]
fn a_departed_client_leaves_no_watch_behind() {
    let srv = Server::ferredis(io_mode_args());
    for _ in 0..50 {
        let mut raw = srv.raw();
        assert_eq!(raw.cmd(&[b"WATCH", b"k1", b"k2"]), b"+OK\r\n");
        assert_eq!(raw.cmd(&[b"MULTI"]), b"+OK\r\n");
        assert_eq!(raw.cmd(&[b"SET", b"k1", b"v"]), b"+QUEUED\r\n");
        drop(raw);
    }
    let mut con = srv.client();
    // Writing the keys must not trip over watchers that no longer exist.
    for _ in 0..10 {
        let () = redis::cmd("SET")
            .arg("k1")
            .arg("x")
            .query(&mut con)
            .unwrap();
        let () = redis::cmd("SET")
            .arg("k2")
            .arg("x")
            .query(&mut con)
            .unwrap();
    }
    let () = redis::cmd("WATCH").arg("k1").query(&mut con).unwrap();
    let r: Option<(String,)> = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("k1")
        .arg("y")
        .query(&mut con)
        .unwrap();
    assert!(r.is_some());
    // The closes are noticed asynchronously; give the server a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let clients: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
        if clients.lines().count() == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{clients}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
