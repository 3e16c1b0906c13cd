//! insta snapshots of what clients see and parse: the INFO field set, the CONFIG
//! parameter list, and COMMAND INFO for every command. A change to any of them
//! shows up as a snapshot diff to review (`cargo insta review`).

mod common;

use common::Server;

/// Every INFO section and field name (values vary, names are an interface).
#[test]
fn info_field_set() {
    let srv = Server::ferredis(&[]);
    let mut raw = srv.raw();
    let reply = String::from_utf8(raw.cmd(&[b"INFO", b"everything"])).unwrap();
    let fields: Vec<String> = reply
        .lines()
        .skip(1) // the bulk header
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(':') {
            Some((k, _)) if !l.starts_with('#') => k.to_string(),
            _ => l.to_string(),
        })
        .filter(|k| {
            !k.starts_with("cmdstat_") && !k.starts_with("errorstat_") && !k.starts_with("db")
        })
        .collect();
    insta::assert_snapshot!(fields.join("\n"));
}

/// Every configuration parameter CONFIG GET * knows, with its default.
#[test]
fn config_parameters_and_defaults() {
    let srv = Server::ferredis(&[]);
    let mut con = srv.client();
    let mut pairs: Vec<(String, String)> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("*")
        .query(&mut con)
        .unwrap();
    pairs.sort();
    let text: Vec<String> = pairs
        .into_iter()
        // These depend on where and how the test server was started.
        .map(|(k, v)| match k.as_str() {
            "port"
            | "dir"
            | "bind"
            | "save"
            | "appendonly"
            | "io-threads"
            | "io-threads-do-reads" => format!("{k} <set by the test>"),
            _ => format!("{k} {v}"),
        })
        .collect();
    insta::assert_snapshot!(text.join("\n"));
}

/// COMMAND INFO of every implemented command, as RESP2 bytes.
#[test]
fn command_info_of_every_command() {
    let srv = Server::ferredis(&[]);
    let mut raw = srv.raw();
    let table = ferredis::commands::CommandTable::new();
    let mut out = String::new();
    for cmd in table.all.iter().filter(|c| !c.fullname.contains('|')) {
        let reply = raw.cmd(&[b"COMMAND", b"INFO", cmd.fullname.as_bytes()]);
        out.push_str(&String::from_utf8_lossy(&reply).replace("\r\n", " "));
        out.push('\n');
    }
    insta::assert_snapshot!(out);
}
