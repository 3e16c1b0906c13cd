//! Port of acl.c, the part this stage needs: the default user, its password
//! (`requirepass`) and AUTH. Named users and ACL rules are not ported yet.

use bytes::Bytes;

use crate::networking::Client;
use crate::resp::{add_reply_error, shared};
use crate::server::Server;

/// acl.c: ACLAuthenticateUser (only the "default" user exists)
pub fn acl_authenticate_user(s: &mut Server, c: &mut Client, user: &Bytes, pass: &Bytes) -> bool {
    if &user[..] != b"default" {
        return false;
    }
    let ok = match &s.config.requirepass {
        // A user with no password ("nopass") accepts any.
        None => true,
        Some(p) => time_independent_eq(p, pass),
    };
    if ok {
        c.authenticated = true;
        c.user = "default";
    }
    ok
}

/// acl.c: time_independent_strcmp (no early exit, so timing reveals nothing)
fn time_independent_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= (x ^ y) as usize;
    }
    diff == 0
}

/// acl.c: authCommand
pub fn auth_command(s: &mut Server, c: &mut Client) {
    if c.argv.len() > 3 {
        add_reply_error(s, c, shared::SYNTAXERR);
        return;
    }
    c.redact_command_argument(1);
    let (user, pass) = if c.argv.len() == 2 {
        if s.config.requirepass.is_none() {
            add_reply_error(
                s,
                c,
                "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            );
            return;
        }
        (Bytes::from_static(b"default"), c.argv[1].clone())
    } else {
        c.redact_command_argument(2);
        (c.argv[1].clone(), c.argv[2].clone())
    };
    if acl_authenticate_user(s, c, &user, &pass) {
        c.add_reply(shared::OK);
    } else {
        add_reply_error(
            s,
            c,
            "-WRONGPASS invalid username-password pair or user is disabled.",
        );
    }
}
