//! Port of debug.c, the subcommands this stage needs (DEBUG SLEEP, DEBUG HELP).
//! DEBUG is gated by `enable-debug-command` in processCommand, as in Redis 7.0.

use crate::networking::Client;
use crate::resp::{add_reply_help, add_reply_subcommand_syntax_error, shared};
use crate::server::Server;

/// debug.c: debugCommand
pub fn debug_command(s: &mut Server, c: &mut Client) {
    let sub = c.argv[1].to_ascii_lowercase();
    match (sub.as_slice(), c.argv.len()) {
        (b"help", 2) => add_reply_help(
            c,
            &[
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ],
        ),
        (b"sleep", 3) => {
            // Sleeping inside a command blocks the whole server: the point of the command.
            let secs: f64 = std::str::from_utf8(&c.argv[2])
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0.0);
            if secs > 0.0 {
                std::thread::sleep(std::time::Duration::from_secs_f64(secs));
            }
            c.add_reply(shared::OK);
        }
        _ => add_reply_subcommand_syntax_error(s, c),
    }
}
