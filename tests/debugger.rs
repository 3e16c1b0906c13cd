//! The book's debugger walk-through ("Stepping through SET") is generated here,
//! never typed: gdb runs a real ferredis-server in batch mode with the
//! breakpoints of `scripts/debug.gdb` (the same file `scripts/debug` loads), a
//! real `redis-cli` sends one `SET`, and every stop's backtrace is recorded.
//!
//! The test fails when a stage is no longer hit, or no longer hit in pipeline
//! order; when the function names on the stacks change (an `insta` snapshot of
//! names only: no addresses, paths or line numbers); and when the backtraces in
//! `book/src/generated/gdb-set.txt` are stale (rewrite them with `UPDATE_BOOK=1`).
//!
//! Release builds inline the small stages away, so this always debugs a dev-profile
//! binary: `FERREDIS_DEBUG_BIN` when set (scripts/test builds it), else one this
//! test builds with `cargo build --bin ferredis-server` in the same target dir.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The stages one `SET` stops at, in the order it must reach them.
const STAGES: &[&str] = &[
    "ferredis::networking::read_query_from_client",
    "ferredis::networking::process_input_buffer",
    "ferredis::server::process_command",
    "ferredis::commands::CommandTable::lookup_command",
    "ferredis::server::call",
    "ferredis::t_string::set_generic_command",
    "ferredis::networking::ClientIo::add_reply_to_buffer_or_list",
    "ferredis::networking::write_to_client",
];

/// The outermost frame kept: below it is Rust's runtime, which changes with the toolchain.
const OUTERMOST: &str = "ferredis_server::main";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A dev-profile (unoptimized, debug=2) ferredis-server.
fn debug_binary() -> PathBuf {
    if let Ok(p) = std::env::var("FERREDIS_DEBUG_BIN") {
        if Path::new(&p).exists() {
            return PathBuf::from(p);
        }
    }
    let this_profile = PathBuf::from(env!("CARGO_BIN_EXE_ferredis-server"));
    if cfg!(debug_assertions) {
        return this_profile;
    }
    // <target>/release/ferredis-server -> <target>; the dev build lives in <target>/debug.
    let target_dir = this_profile
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root())
        .args(["build", "--bin", "ferredis-server", "--target-dir"])
        .arg(&target_dir)
        .status()
        .expect("run cargo build for the debug binary");
    assert!(status.success(), "cargo build --bin ferredis-server failed");
    target_dir.join("debug").join("ferredis-server")
}

/// rust-gdb when it is there (as scripts/debug uses), else plain gdb: the
/// backtraces' function names are the same.
fn gdb() -> PathBuf {
    let mut candidates = vec![PathBuf::from("rust-gdb")];
    if let Ok(home) = std::env::var("CARGO_HOME")
        .or_else(|_| std::env::var("HOME").map(|h| format!("{h}/.cargo")))
    {
        candidates.push(PathBuf::from(home).join("bin/rust-gdb"));
    }
    candidates.push(PathBuf::from("gdb"));
    for c in candidates {
        let ok = Command::new(&c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            return c;
        }
    }
    panic!("gdb is not installed (scripts/test installs it: apt-get install gdb)");
}

/// One frame of a backtrace: the function's name and, for our code, its file.
#[derive(Debug, Clone)]
struct Frame {
    name: String,
    args: bool,
    file: Option<String>,
}

/// Parse `#3  ferredis::server::call (...) at src/server.rs:613`.
fn parse_frame(line: &str) -> Option<Frame> {
    let rest = line.strip_prefix('#')?;
    let rest = rest
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .trim_start();
    // The name ends at the " (" of the argument list, outside any generic `<...>`.
    let mut depth = 0i32;
    let bytes = rest.as_bytes();
    let mut end = rest.len();
    for i in 0..bytes.len() {
        match bytes[i] {
            b'<' => depth += 1,
            b'>' => depth -= 1,
            b' ' if depth == 0 && bytes.get(i + 1) == Some(&b'(') => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    let name = rest[..end].to_string();
    let tail = &rest[end..];
    let args = tail.starts_with(" (...)");
    let file = tail.rfind(" at ").map(|i| {
        let loc = &tail[i + 4..];
        // Drop the line number: it moves with every edit above the function.
        match loc.rfind(':') {
            Some(j) if loc[j + 1..].chars().all(|c| c.is_ascii_digit()) => loc[..j].to_string(),
            _ => loc.to_string(),
        }
    });
    Some(Frame { name, args, file })
}

struct Stop {
    frames: Vec<Frame>,
}

/// Run gdb on a fresh server, send one SET with redis-cli, and return every stop
/// up to and including the first `write_to_client`.
fn stops_for_one_set() -> Vec<Stop> {
    let bin = debug_binary();
    let port = common::free_port();
    let dir =
        std::env::temp_dir().join(format!("ferredis-debugger-{}-{}", std::process::id(), port));
    std::fs::create_dir_all(&dir).unwrap();
    let batch = dir.join("batch.gdb");
    std::fs::write(
        &batch,
        format!(
            "commands 1-{}\nsilent\nprintf \"=== stop\\n\"\nbt\ncontinue\nend\nrun\n",
            STAGES.len()
        ),
    )
    .unwrap();
    let mut gdb = Command::new(gdb())
        .current_dir(&dir)
        .arg("-nx")
        .arg("-batch")
        .arg("-x")
        .arg(root().join("scripts/debug.gdb"))
        .arg("-x")
        .arg(&batch)
        .arg("--args")
        .arg(&bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gdb");

    let (tx, rx) = mpsc::channel::<String>();
    let out = gdb.stdout.take().unwrap();
    let tx2 = tx.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let _ = tx2.send(line);
        }
    });
    let err = gdb.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            s.push_str(&line);
            s.push('\n');
        }
        s
    });
    drop(tx);

    let mut lines: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(40);
    let next = |lines: &mut Vec<String>| -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                lines.push(l);
                true
            }
            Err(_) => false,
        }
    };

    // Wait for the server, under gdb, to be ready; learn its pid from the banner.
    let mut pid: Option<i32> = None;
    let mut ready = false;
    while !ready && next(&mut lines) {
        let l = lines.last().unwrap();
        if let Some(i) = l.find("pid=") {
            pid = l[i + 4..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|p| p.parse().ok());
        }
        ready = l.contains("Ready to accept connections");
    }
    if !ready {
        let _ = gdb.kill();
        let _ = gdb.wait();
        panic!(
            "the server did not start under gdb:\n{}\n{}",
            lines.join("\n"),
            err_reader.join().unwrap()
        );
    }
    let pid = pid.expect("server banner has pid=");

    // The client: a real redis-cli, as the chapter has the reader type it.
    let cli = Command::new("redis-cli")
        .args([
            "-p",
            &port.to_string(),
            "SET",
            "lock",
            "v",
            "NX",
            "PX",
            "5000",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run redis-cli (scripts/test installs redis-tools)");
    let reply = String::from_utf8_lossy(&cli.stdout).trim().to_string();

    // Read until the reply's write has been seen, then kill the server (not gdb: its
    // batch run ends when the program does).
    let is_last = |l: &str| l.starts_with("#0  ") && l.contains(STAGES[STAGES.len() - 1]);
    while !lines.iter().any(|l| is_last(l)) && next(&mut lines) {}
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    let exit_deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if gdb.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > exit_deadline {
            let _ = gdb.kill();
            let _ = gdb.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    let stderr = err_reader.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        reply,
        "OK",
        "redis-cli SET under gdb: {:?}\ngdb said:\n{}\n{}",
        cli,
        lines.join("\n"),
        stderr
    );

    let mut stops: Vec<Stop> = Vec::new();
    for l in &lines {
        if l == "=== stop" {
            stops.push(Stop { frames: Vec::new() });
        } else if let (Some(stop), Some(f)) = (stops.last_mut(), parse_frame(l)) {
            stop.frames.push(f);
        }
    }
    let Some(last) = stops
        .iter()
        .position(|s| s.frames.first().map(|f| f.name.as_str()) == Some(STAGES[STAGES.len() - 1]))
    else {
        panic!(
            "write_to_client was never hit; gdb said:\n{}\n{}",
            lines.join("\n"),
            stderr
        );
    };
    stops.truncate(last + 1);
    for s in &mut stops {
        if let Some(i) = s.frames.iter().position(|f| f.name == OUTERMOST) {
            s.frames.truncate(i + 1);
        }
    }
    stops
}

/// The book's file: each stop as gdb shows it, with line numbers removed, marked
/// with mdBook anchors (one per stage) for the chapter to include.
fn book_text(stops: &[Stop]) -> String {
    let mut out = String::new();
    let mut seen: Vec<&str> = Vec::new();
    for s in stops {
        let name = s.frames[0].name.rsplit("::").next().unwrap();
        let anchor = if seen.contains(&name) {
            format!("{name}_again")
        } else {
            name.to_string()
        };
        seen.push(name);
        out.push_str(&format!("ANCHOR: {anchor}\n"));
        let show = |f: &Frame| {
            format!(
                "{}{}{}",
                f.name,
                if f.args { " (...)" } else { " ()" },
                f.file
                    .as_ref()
                    .map(|p| format!(" at {p}"))
                    .unwrap_or_default()
            )
        };
        // gdb numbers breakpoints in the order scripts/debug.gdb sets them.
        let number = STAGES
            .iter()
            .position(|st| *st == s.frames[0].name)
            .unwrap()
            + 1;
        out.push_str(&format!(
            "Breakpoint {number}, {}\n(gdb) bt\n",
            show(&s.frames[0])
        ));
        for (n, f) in s.frames.iter().enumerate() {
            out.push_str(&format!("#{n:<2} {}\n", show(f)));
        }
        out.push_str(&format!("ANCHOR_END: {anchor}\n"));
    }
    out
}

fn check_book(name: &str, text: &str) {
    let path = root().join("book/src/generated").join(name);
    if std::env::var("UPDATE_BOOK").is_ok() {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        old,
        text,
        "{} is stale: run UPDATE_BOOK=1 cargo test --release --test debugger",
        path.display()
    );
}

/// One SET stops at every stage of the pipeline, in order, and the stacks show
/// the function names the chapter "Stepping through SET" walks through.
#[test]
fn gdb_walks_one_set_through_every_stage() {
    let stops = stops_for_one_set();
    // Every stage is hit, and first hit in pipeline order. A stage may be hit again
    // later (gdb breaks on the `while` line of process_input_buffer, which the loop
    // revisits to look for a second command); the snapshot pins those stops too.
    let mut first_hits: Vec<&str> = Vec::new();
    for s in &stops {
        let name = s.frames[0].name.as_str();
        if !first_hits.contains(&name) {
            first_hits.push(name);
        }
    }
    assert_eq!(
        first_hits, STAGES,
        "breakpoints first hit, in order, for one SET"
    );
    let names: String = stops
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let frames: Vec<String> = s.frames.iter().map(|f| format!("  {}", f.name)).collect();
            format!(
                "stop {}: {}\n{}\n",
                i + 1,
                s.frames[0].name,
                frames.join("\n")
            )
        })
        .collect();
    insta::assert_snapshot!("backtraces_of_one_set", names);
    check_book("gdb-set.txt", &book_text(&stops));
}
