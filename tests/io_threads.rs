//! I/O threads (io_threads.rs): forced on, they do the reading, parsing and writing,
//! and the guarantees of the single-threaded server still hold.

mod common;

use std::sync::{Arc, Barrier};

use common::{encode, Server};

const READS: &[&str] = &[
    "--io-threads",
    "4",
    "--io-threads-do-reads",
    "yes",
    "--io-threads-always-active",
    "yes",
];

fn info_field(raw: &mut common::Raw, section: &[u8], name: &str) -> String {
    let info = String::from_utf8(raw.cmd(&[b"INFO", section])).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("{name} missing from INFO"))
        .trim()
        .to_string()
}

/// With threads forced on, INFO shows them active and their counters growing.
#[test]
fn info_shows_threaded_reads_and_writes() {
    let srv = Server::ferredis(READS);
    let mut raw = srv.raw();
    for i in 0..50 {
        assert_eq!(
            raw.cmd(&[b"SET", format!("k{i}").as_bytes(), b"v"]),
            b"+OK\r\n"
        );
    }
    assert_eq!(info_field(&mut raw, b"server", "io_threads_active"), "1");
    let reads: u64 = info_field(&mut raw, b"stats", "io_threaded_reads_processed")
        .parse()
        .unwrap();
    let writes: u64 = info_field(&mut raw, b"stats", "io_threaded_writes_processed")
        .parse()
        .unwrap();
    assert!(reads >= 50, "threaded reads: {reads}");
    assert!(writes >= 50, "threaded writes: {writes}");
}

/// Redis's rule: without the force switch, threads stay off while fewer writes are
/// pending than twice the number of threads.
#[test]
fn threads_stay_off_under_light_load_unless_forced() {
    let srv = Server::ferredis(&[
        "--io-threads",
        "4",
        "--io-threads-do-reads",
        "yes",
        "--io-threads-always-active",
        "no",
    ]);
    let mut raw = srv.raw();
    assert_eq!(raw.cmd(&[b"PING"]), b"+PONG\r\n");
    assert_eq!(info_field(&mut raw, b"server", "io_threads_active"), "0");
    assert_eq!(
        info_field(&mut raw, b"stats", "io_threaded_writes_processed"),
        "0"
    );
}

/// The handshake under stress: 40 clients pipeline 200 commands each, every turn
/// fanned out over 4 threads. Every client gets exactly its own replies, in order: no
/// client is lost, served twice or mixed with another.
#[test]
fn many_pipelining_clients_each_get_their_own_replies_in_order() {
    let srv = Server::ferredis(READS);
    let port = srv.port;
    let start = Arc::new(Barrier::new(40));
    let handles: Vec<_> = (0..40)
        .map(|cid| {
            let start = start.clone();
            std::thread::spawn(move || {
                let mut raw = common::Raw::connect(port);
                let mut batch = Vec::new();
                for i in 0..200 {
                    batch.extend(encode(&[b"ECHO", format!("{cid}:{i}").as_bytes()]));
                }
                start.wait();
                raw.send(&batch);
                for i in 0..200 {
                    let want = format!("{cid}:{i}");
                    assert_eq!(
                        raw.read_reply(),
                        format!("${}\r\n{want}\r\n", want.len()).into_bytes()
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// The SET NX race with reads and writes on 4 threads: still exactly one winner per
/// round, because every SET still runs on the main thread, one at a time.
#[test]
fn set_nx_race_with_threads_has_exactly_one_winner() {
    let srv = Server::ferredis(READS);
    let url = srv.url();
    let (clients, rounds) = (50, 40);
    let start = Arc::new(Barrier::new(clients + 1));
    let done = Arc::new(Barrier::new(clients + 1));
    let handles: Vec<_> = (0..clients)
        .map(|id| {
            let (start, done, url) = (start.clone(), done.clone(), url.clone());
            std::thread::spawn(move || {
                let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                let mut wins = Vec::new();
                for round in 0..rounds {
                    start.wait();
                    let r: Option<String> = redis::cmd("SET")
                        .arg(format!("lock:{round}"))
                        .arg(id)
                        .arg("NX")
                        .arg("PX")
                        .arg(5000)
                        .query(&mut con)
                        .unwrap();
                    if r.is_some() {
                        wins.push(round);
                    }
                    done.wait();
                }
                wins
            })
        })
        .collect();
    for _ in 0..rounds {
        start.wait();
        done.wait();
    }
    let mut per_round = vec![0; rounds];
    for h in handles {
        for r in h.join().unwrap() {
            per_round[r] += 1;
        }
    }
    assert!(
        per_round.iter().all(|&n| n == 1),
        "winners per round: {per_round:?}"
    );
}

/// A field of one line of a Chrome trace ("name":"call" or "tid":3).
fn trace_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":");
    let rest = &line[line.find(&pat)? + pat.len()..];
    let rest = rest.strip_prefix('"').unwrap_or(rest);
    let end = rest.find(['"', ',', '}']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The timeline (`trace-timeline`) of a threaded load: reads and writes happen on the
/// I/O threads too, but every `call`, i.e. every command execution, is on main.
#[test]
fn timeline_shows_every_call_on_the_main_thread() {
    let path = std::env::temp_dir().join(format!("ferredis-timeline-{}.json", std::process::id()));
    let path_s = path.to_str().unwrap().to_string();
    let mut args = READS.to_vec();
    args.extend(["--trace-timeline", &path_s]);
    let srv = Server::ferredis(&args);
    let handles: Vec<_> = (0..4)
        .map(|cid| {
            let port = srv.port;
            std::thread::spawn(move || {
                let mut raw = common::Raw::connect(port);
                for i in 0..100 {
                    assert_eq!(
                        raw.cmd(&[b"SET", format!("k{cid}:{i}").as_bytes(), b"v"]),
                        b"+OK\r\n"
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut raw = srv.raw();
    raw.send(&encode(&[b"SHUTDOWN", b"NOSAVE"]));
    let _ = raw.read_to_close();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let trace = std::fs::read_to_string(&path).expect("the timeline was written on shutdown");
    let _ = std::fs::remove_file(&path);
    let main_tid = trace
        .lines()
        .find(|l| l.contains("\"thread_name\"") && l.contains("\"name\":\"main\""))
        .and_then(|l| trace_field(l, "tid"))
        .expect("main thread in the trace")
        .to_string();
    let begins: Vec<(&str, &str)> = trace
        .lines()
        .filter(|l| trace_field(l, "ph") == Some("B"))
        .filter_map(|l| Some((trace_field(l, "name")?, trace_field(l, "tid")?)))
        .collect();
    let calls = begins.iter().filter(|(n, _)| *n == "call").count();
    assert!(calls >= 400, "only {calls} call spans");
    assert!(
        begins.iter().all(|(n, t)| *n != "call" || *t == main_tid),
        "a call ran off the main thread"
    );
    let threaded_reads = begins
        .iter()
        .filter(|(n, t)| *n == "read_query_from_client" && *t != main_tid)
        .count();
    assert!(threaded_reads > 0, "no read happened on an I/O thread");
}

/// The counter of the seed documents: 100 clients each INCR one key 1000 times
/// (pipelined) through 4 reading and writing threads; the total is exact.
#[test]
fn concurrent_incr_counts_exactly_with_threads() {
    let srv = Server::ferredis(READS);
    let port = srv.port;
    let handles: Vec<_> = (0..100)
        .map(|_| {
            std::thread::spawn(move || {
                let mut raw = common::Raw::connect(port);
                let batch: Vec<u8> = (0..1000)
                    .flat_map(|_| encode(&[b"INCR", b"counter"]))
                    .collect();
                raw.send(&batch);
                for _ in 0..1000 {
                    assert_eq!(raw.read_reply()[0], b':');
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut raw = srv.raw();
    assert_eq!(raw.cmd(&[b"GET", b"counter"]), b"$6\r\n100000\r\n");
}
