//! The command-filter hook (Redis's moduleCallCommandFilters): a filter registered on
//! the server sees and may rewrite argv before processCommand looks the command up.

mod common;

use bytes::Bytes;
use common::Raw;
use ferredis::config::Config;
use ferredis::server::{register_command_filter, run, Server};

/// Rewrites the made-up command GETT into GET, and SET's value to upper case.
#[allow(clippy::ptr_arg)] // a filter may add or remove arguments: it needs the Vec
fn rewrite(argv: &mut Vec<Bytes>) {
    if argv[0].eq_ignore_ascii_case(b"gett") {
        argv[0] = Bytes::from_static(b"GET");
    }
    if argv[0].eq_ignore_ascii_case(b"set") && argv.len() >= 3 {
        argv[2] = Bytes::from(argv[2].to_ascii_uppercase());
    }
}

/// Start an in-process server with the filter installed; it runs until the test
/// process exits.
fn start_with_filter() -> u16 {
    let port = common::free_port();
    std::thread::spawn(move || {
        let config = Config {
            port,
            bind: vec!["127.0.0.1".into()],
            ..Config::default()
        };
        let mut s = Server::new(config).expect("server");
        register_command_filter(&mut s, rewrite);
        run(&mut s);
    });
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return port;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("in-process server did not start");
}

/// A filter runs before the lookup (GETT becomes GET) and before the command
/// (SET stores the rewritten value).
#[test]
fn filter_rewrites_argv_before_lookup() {
    let port = start_with_filter();
    let mut c = Raw::connect(port);
    assert_eq!(c.cmd(&[b"SET", b"k", b"hello"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"GETT", b"k"]), b"$5\r\nHELLO\r\n");
    assert_eq!(c.cmd(&[b"GET", b"k"]), b"$5\r\nHELLO\r\n");
}
