//! Port of the parts of replication.c Ferredis has: feeding MONITOR clients.

use mio::Token;

use crate::networking::{Client, CLIENT_SCRIPT};
use crate::server::Server;

// ANCHOR: replication_feed_monitors
/// replication.c: replicationFeedMonitors
///
/// One status line per executed command: the wall-clock time, the database and the
/// caller's address (or `lua` for a script's commands), then the arguments quoted.
/// `call` feeds it after the command ran, so a transaction shows as MULTI, its
/// commands, EXEC.
pub fn replication_feed_monitors(
    s: &mut Server,
    c: &mut Client,
    dictid: usize,
    argv: &[bytes::Bytes],
) {
    if s.monitors.is_empty() {
        return;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = format!("+{}.{:06} ", now.as_secs(), now.subsec_micros()).into_bytes();
    if c.flags & CLIENT_SCRIPT != 0 {
        line.extend_from_slice(format!("[{dictid} lua] ").as_bytes());
    } else {
        line.extend_from_slice(format!("[{dictid} {}] ", c.peer).as_bytes());
    }
    for (j, a) in argv.iter().enumerate() {
        crate::util::sdscatrepr(&mut line, a);
        if j + 1 != argv.len() {
            line.push(b' ');
        }
    }
    line.extend_from_slice(b"\r\n");
    let monitors: Vec<(Token, u64)> = s.monitors.clone();
    for (token, id) in monitors {
        if id == c.id {
            c.add_reply_proto(&line);
            continue;
        }
        if let Some(mut m) = s.take_client(token) {
            if m.id == id {
                m.add_reply_proto(&line);
                crate::networking::close_client_on_output_buffer_limit_reached(s, &mut m);
            }
            s.put_client(m);
        }
    }
}
// ANCHOR_END: replication_feed_monitors
