//! Pub/Sub over real sockets: order per publisher, channel plus pattern delivery,
//! the pubsub output-buffer class cutting off a subscriber that stops reading, and
//! leaving subscribed mode. Every test runs in the I/O mode FERREDIS_IO_MODE selects.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{io_mode_args, Server};

/// One publisher's messages reach a subscriber in the order they were published,
/// every one of them.
#[test]
fn messages_arrive_in_publish_order() {
    let srv = Server::ferredis(io_mode_args());
    let mut sub_con = srv.client();
    let mut sub = sub_con.as_pubsub();
    sub.subscribe("orders").unwrap();
    let url = srv.url();
    let publisher = std::thread::spawn(move || {
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        for i in 0..5000 {
            let n: i64 = redis::cmd("PUBLISH")
                .arg("orders")
                .arg(i)
                .query(&mut con)
                .unwrap();
            assert_eq!(n, 1);
        }
    });
    for i in 0..5000 {
        let msg = sub.get_message().unwrap();
        assert_eq!(msg.get_channel_name(), "orders");
        assert_eq!(msg.get_payload::<i64>().unwrap(), i);
    }
    publisher.join().unwrap();
}

/// A client subscribed to a channel and to a pattern matching it receives the
/// message twice (message, then pmessage), and PUBLISH counts two receivers.
#[test]
fn channel_and_pattern_deliver_twice_and_count_twice() {
    let srv = Server::ferredis(io_mode_args());
    let mut sub_con = srv.client();
    let mut sub = sub_con.as_pubsub();
    sub.subscribe("news.sport").unwrap();
    sub.psubscribe("news.*").unwrap();
    let mut other_con = srv.client();
    let mut other = other_con.as_pubsub();
    other.psubscribe("news.*").unwrap();
    let mut con = srv.client();
    let n: i64 = redis::cmd("PUBLISH")
        .arg("news.sport")
        .arg("goal")
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 3);
    let m1 = sub.get_message().unwrap();
    assert_eq!(m1.get_pattern::<Option<String>>().unwrap(), None);
    let m2 = sub.get_message().unwrap();
    assert_eq!(m2.get_pattern::<String>().unwrap(), "news.*");
    assert_eq!(m2.get_payload::<String>().unwrap(), "goal");
    let m3 = other.get_message().unwrap();
    assert_eq!(m3.get_channel_name(), "news.sport");
}

/// The claim of the output-buffer class: a subscriber that stops reading is
/// disconnected once its pending output passes the pubsub hard limit, so the
/// server's memory stays bounded, while a subscriber that reads gets everything.
#[test]
fn a_subscriber_that_stops_reading_is_cut_off() {
    let mut args = vec!["--client-output-buffer-limit", "pubsub 1mb 0 0"];
    args.extend_from_slice(io_mode_args());
    let srv = Server::ferredis(&args);
    // The slow one subscribes and never reads again.
    let mut slow = srv.raw();
    slow.send(&common::encode(&[b"SUBSCRIBE", b"firehose"]));
    let mut con = srv.client();
    let payload = vec![b'x'; 16 * 1024];
    const MESSAGES: usize = 2000; // 32 MB: far more than socket buffers hold.
    let url = srv.url();
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut good_con = redis::Client::open(url).unwrap().get_connection().unwrap();
        let mut good = good_con.as_pubsub();
        good.subscribe("firehose").unwrap();
        ready_tx.send(()).unwrap();
        let mut got = 0;
        while got < MESSAGES {
            let m = good.get_message().unwrap();
            assert_eq!(m.get_payload::<Vec<u8>>().unwrap().len(), 16 * 1024);
            got += 1;
        }
        // (Dropping the PubSub handle unsubscribes; the connection stays open.)
        drop(good);
        (got, good_con)
    });
    ready.recv().unwrap();
    let mut receivers_at_end = 0;
    for _ in 0..MESSAGES {
        receivers_at_end = redis::cmd("PUBLISH")
            .arg("firehose")
            .arg(&payload[..])
            .query(&mut con)
            .unwrap();
    }
    let (got, _good_con) = reader.join().unwrap();
    assert_eq!(got, MESSAGES);
    assert_eq!(receivers_at_end, 1, "the slow subscriber was never cut off");
    // The server closed the slow connection: reading it drains the buffered data
    // and then reaches EOF.
    slow.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match slow.stream.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("slow subscriber still open: {e}"),
        }
        assert!(Instant::now() < deadline, "slow subscriber never closed");
    }
    // Left: this connection and the reader's.
    let clients: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
    assert_eq!(clients.lines().count(), 2, "{clients}");
}

/// Unsubscribing from every channel and pattern returns a RESP2 connection to
/// normal mode; before that, normal commands are refused with Redis's error.
#[test]
fn unsubscribing_from_everything_returns_to_normal_mode() {
    let srv = Server::ferredis(io_mode_args());
    let mut raw = srv.raw();
    raw.send(&common::encode(&[b"SUBSCRIBE", b"a", b"b"]));
    assert_eq!(
        raw.read_reply(),
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
    );
    assert_eq!(
        raw.read_reply(),
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"PSUBSCRIBE", b"p*"]),
        b"*3\r\n$10\r\npsubscribe\r\n$2\r\np*\r\n:3\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"GET", b"k"]),
        b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
    );
    raw.send(&common::encode(&[b"UNSUBSCRIBE"]));
    let r1 = raw.read_reply();
    let r2 = raw.read_reply();
    // Channels leave in the order of the client's table (a hash table, in Redis
    // too); the count after each is what remains, the pattern included.
    let name = |r: &[u8]| r[26..27].to_vec();
    assert!(
        r1.starts_with(b"*3\r\n$11\r\nunsubscribe\r\n$1\r\n"),
        "{r1:?}"
    );
    assert!(r1.ends_with(b":2\r\n") && r2.ends_with(b":1\r\n"));
    let mut names = vec![name(&r1), name(&r2)];
    names.sort();
    assert_eq!(names, vec![b"a".to_vec(), b"b".to_vec()]);
    // Still subscribed to the pattern: still refused.
    assert!(raw.cmd(&[b"GET", b"k"]).starts_with(b"-ERR Can't execute"));
    assert_eq!(
        raw.cmd(&[b"PUNSUBSCRIBE"]),
        b"*3\r\n$12\r\npunsubscribe\r\n$2\r\np*\r\n:0\r\n"
    );
    assert_eq!(raw.cmd(&[b"GET", b"k"]), b"$-1\r\n");
    assert_eq!(raw.cmd(&[b"PING"]), b"+PONG\r\n");
}
