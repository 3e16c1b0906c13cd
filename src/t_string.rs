//! Port of t_string.c: the string commands. This stage has GET and SET with every
//! option; the other string commands arrive with the keyspace issue.

use bytes::Bytes;

use crate::db::{self, SETKEY_ALREADY_EXIST, SETKEY_DOESNT_EXIST, SETKEY_KEEPTTL};
use crate::networking::Client;
use crate::object::{create_string_object, get_long_long_from_object_or_reply, RObj};
use crate::resp::{add_reply_error, shared};
use crate::server::Server;

// SET/GETEX option flags (t_string.c: OBJ_*).
pub const OBJ_NO_FLAGS: u32 = 0;
pub const OBJ_SET_NX: u32 = 1 << 0;
pub const OBJ_SET_XX: u32 = 1 << 1;
pub const OBJ_EX: u32 = 1 << 2;
pub const OBJ_PX: u32 = 1 << 3;
pub const OBJ_KEEPTTL: u32 = 1 << 4;
pub const OBJ_SET_GET: u32 = 1 << 5;
pub const OBJ_EXAT: u32 = 1 << 6;
pub const OBJ_PXAT: u32 = 1 << 7;
pub const OBJ_PERSIST: u32 = 1 << 8;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Milliseconds,
}

/// Which command is parsing its options (t_string.c: COMMAND_GET / COMMAND_SET).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum CommandType {
    Get,
    Set,
}

/// The parsed options of SET (or GETEX).
pub struct ExtendedArgs {
    pub flags: u32,
    pub unit: Unit,
    /// Index in argv of the expire argument.
    pub expire: Option<usize>,
}

// ANCHOR: parse_extended_string_arguments_or_reply
/// t_string.c: parseExtendedStringArgumentsOrReply
///
/// Options may come in any order; a conflicting pair (NX with XX, EX with PX, KEEPTTL
/// with an expire, ...) or an expire option without its value is a syntax error.
pub fn parse_extended_string_arguments_or_reply(
    s: &mut Server,
    c: &mut Client,
    command_type: CommandType,
) -> Option<ExtendedArgs> {
    let mut flags = OBJ_NO_FLAGS;
    let mut unit = Unit::Seconds;
    let mut expire = None;
    let is_set = command_type == CommandType::Set;
    let expire_flags = OBJ_EX | OBJ_PX | OBJ_EXAT | OBJ_PXAT;
    let mut j = if is_set { 3 } else { 2 };
    while j < c.argv.len() {
        let opt = &c.argv[j];
        let has_next = j + 1 < c.argv.len();
        let is = |name: &[u8]| opt.eq_ignore_ascii_case(name);
        if is(b"nx") && flags & OBJ_SET_XX == 0 && is_set {
            flags |= OBJ_SET_NX;
        } else if is(b"xx") && flags & OBJ_SET_NX == 0 && is_set {
            flags |= OBJ_SET_XX;
        } else if is(b"get") && is_set {
            flags |= OBJ_SET_GET;
        } else if is(b"keepttl") && flags & (OBJ_PERSIST | expire_flags) == 0 && is_set {
            flags |= OBJ_KEEPTTL;
        } else if is(b"persist") && !is_set && flags & (expire_flags | OBJ_KEEPTTL) == 0 {
            flags |= OBJ_PERSIST;
        } else if let Some((flag, u)) = [
            (&b"ex"[..], OBJ_EX, Unit::Seconds),
            (&b"px"[..], OBJ_PX, Unit::Milliseconds),
            (&b"exat"[..], OBJ_EXAT, Unit::Seconds),
            (&b"pxat"[..], OBJ_PXAT, Unit::Milliseconds),
        ]
        .iter()
        .find(|(name, _, _)| is(name))
        .map(|&(_, f, u)| (f, u))
        .filter(|&(f, _)| {
            flags & (OBJ_KEEPTTL | OBJ_PERSIST) == 0 && flags & (expire_flags & !f) == 0 && has_next
        }) {
            flags |= flag;
            unit = u;
            expire = Some(j + 1);
            j += 1;
        } else {
            add_reply_error(s, c, shared::SYNTAXERR);
            return None;
        }
        j += 1;
    }
    Some(ExtendedArgs {
        flags,
        unit,
        expire,
    })
}
// ANCHOR_END: parse_extended_string_arguments_or_reply

/// t_string.c: getExpireMillisecondsOrReply
///
/// Turns EX/PX into an absolute time at the command's cached clock, so the key and
/// the reply see one instant.
fn get_expire_milliseconds_or_reply(
    s: &mut Server,
    c: &mut Client,
    idx: usize,
    flags: u32,
    unit: Unit,
) -> Option<i64> {
    let mut ms = get_long_long_from_object_or_reply(s, c, idx)?;
    let bad = |s: &mut Server, c: &mut Client| {
        let msg = format!(
            "invalid expire time in '{}' command",
            c.cmd.map(|x| x.fullname).unwrap_or("set")
        );
        add_reply_error(s, c, &msg);
    };
    if ms <= 0 || (unit == Unit::Seconds && ms > i64::MAX / 1000) {
        bad(s, c);
        return None;
    }
    if unit == Unit::Seconds {
        ms *= 1000;
    }
    if flags & (OBJ_PX | OBJ_EX) != 0 {
        match ms.checked_add(s.mstime) {
            Some(v) => ms = v,
            None => {
                bad(s, c);
                return None;
            }
        }
    }
    if ms <= 0 {
        bad(s, c);
        return None;
    }
    Some(ms)
}

// ANCHOR: set_generic_command
/// t_string.c: setGenericCommand
///
/// The lookup, the NX/XX decision and the write happen in one call with the server
/// borrowed mutably: nothing can run between "the key is absent" and "the key is set".
#[allow(clippy::too_many_arguments)]
pub fn set_generic_command(
    s: &mut Server,
    c: &mut Client,
    flags: u32,
    key: Bytes,
    val: Bytes,
    expire: Option<usize>,
    unit: Unit,
    ok_reply: Option<&[u8]>,
    abort_reply: Option<&[u8]>,
) {
    let mut milliseconds = 0;
    if let Some(idx) = expire {
        match get_expire_milliseconds_or_reply(s, c, idx, flags, unit) {
            Some(ms) => milliseconds = ms,
            None => return,
        }
    }
    if flags & OBJ_SET_GET != 0 && !get_generic_command(s, c) {
        return;
    }
    let found = db::lookup_key_write(s, c.db, &key).is_some();
    if (flags & OBJ_SET_NX != 0 && found) || (flags & OBJ_SET_XX != 0 && !found) {
        if flags & OBJ_SET_GET == 0 {
            match abort_reply {
                Some(r) => c.add_reply(r),
                None => c.add_reply_null(),
            }
        }
        return;
    }
    let mut setkey_flags = if flags & OBJ_KEEPTTL != 0 {
        SETKEY_KEEPTTL
    } else {
        0
    };
    setkey_flags |= if found {
        SETKEY_ALREADY_EXIST
    } else {
        SETKEY_DOESNT_EXIST
    };
    db::set_key(s, c.db, &key, RObj::String(val), setkey_flags);
    s.dirty += 1;
    if expire.is_some() {
        s.db[c.db].set_expire(&key, milliseconds);
        // Redis rewrites argv to SET key val PXAT <ms> here for replication and the
        // AOF; propagation arrives with the persistence issue.
    }
    if flags & OBJ_SET_GET == 0 {
        c.add_reply(ok_reply.unwrap_or(shared::OK));
    }
}
// ANCHOR_END: set_generic_command

/// t_string.c: setCommand
pub fn set_command(s: &mut Server, c: &mut Client) {
    let Some(args) = parse_extended_string_arguments_or_reply(s, c, CommandType::Set) else {
        return;
    };
    let key = create_string_object(&c.argv[1]);
    let val = create_string_object(&c.argv[2]);
    set_generic_command(
        s,
        c,
        args.flags,
        key,
        val,
        args.expire,
        args.unit,
        None,
        None,
    );
}

/// t_string.c: getGenericCommand
///
/// Returns false after a WRONGTYPE error.
pub fn get_generic_command(s: &mut Server, c: &mut Client) -> bool {
    let key = c.argv[1].clone();
    match db::lookup_key_read(s, c.db, &key) {
        None => {
            c.add_reply_null();
            true
        }
        Some(RObj::String(v)) => {
            let v = v.clone();
            c.add_reply_bulk(&v);
            true
        }
        #[allow(unreachable_patterns)]
        Some(_) => {
            add_reply_error(s, c, shared::WRONGTYPEERR);
            false
        }
    }
}

/// t_string.c: getCommand
pub fn get_command(s: &mut Server, c: &mut Client) {
    get_generic_command(s, c);
}
