//! Port of t_string.c: the string commands (GET, SET and its variants, counters,
//! ranges, APPEND, LCS). The bitmap commands live in bitops.rs, as in Redis.

use crate::notify::{notify_keyspace_event, NOTIFY_GENERIC, NOTIFY_STRING};
use crate::object::wrongtype;
use bytes::Bytes;

use crate::db::{self, SETKEY_ALREADY_EXIST, SETKEY_DOESNT_EXIST, SETKEY_KEEPTTL};
use crate::networking::Client;
use crate::object::{
    create_string_object, get_long_long_from_object_or_reply, try_object_encoding, Value,
};
use crate::resp::{add_reply_error, add_reply_error_arity, shared};
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
        // Negative, or the conversion to milliseconds would overflow.
        bad(s, c);
        return None;
    }
    if unit == Unit::Seconds {
        ms *= 1000;
    }
    if flags & (OBJ_PX | OBJ_EX) != 0 {
        // Redis adds without checking and then tests for a wrapped, negative sum.
        ms = ms.wrapping_add(s.mstime);
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
/// An expiry is propagated as an absolute PXAT, so replicas and the AOF agree on
/// the instant whenever they apply it.
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
    let propagate_val = if expire.is_some() && crate::server::should_propagate(s) {
        Some(val.clone())
    } else {
        None
    };
    let obj = try_object_encoding(s, val);
    db::set_key(s, c.db, &key, obj, setkey_flags);
    s.dirty += 1;
    notify_keyspace_event(s, NOTIFY_STRING, "set", &key, c.db);
    if expire.is_some() {
        s.db[c.db].set_expire(&key, milliseconds);
        if let Some(v) = propagate_val {
            s.propagate_argv = Some(vec![
                Bytes::from_static(b"SET"),
                key.clone(),
                v,
                Bytes::from_static(b"PXAT"),
                Bytes::from(milliseconds.to_string()),
            ]);
        }
        notify_keyspace_event(s, NOTIFY_GENERIC, "expire", &key, c.db);
    }
    if flags & OBJ_SET_GET == 0 {
        c.add_reply(ok_reply.unwrap_or(shared::OK));
    }
    if flags & OBJ_SET_GET != 0 && expire.is_none() && crate::server::should_propagate(s) {
        // Replicas must not see GET: it changes nothing and they would reply to nobody.
        let argv: Vec<Bytes> = c
            .argv
            .iter()
            .enumerate()
            .filter(|(j, a)| *j < 3 || !a.eq_ignore_ascii_case(b"get"))
            .map(|(_, a)| a.clone())
            .collect();
        s.propagate_argv = Some(argv);
    }
}
// ANCHOR_END: set_generic_command

/// t_string.c: setCommand
pub fn set_command(s: &mut Server, c: &mut Client) {
    let Some(args) = parse_extended_string_arguments_or_reply(s, c, CommandType::Set) else {
        return;
    };
    let key = create_string_object(&c.argv[1]);
    let val = c.argv[2].clone();
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

/// t_string.c: setnxCommand
pub fn setnx_command(s: &mut Server, c: &mut Client) {
    let key = create_string_object(&c.argv[1]);
    let val = c.argv[2].clone();
    set_generic_command(
        s,
        c,
        OBJ_SET_NX,
        key,
        val,
        None,
        Unit::Seconds,
        Some(shared::CONE),
        Some(shared::CZERO),
    );
}

/// t_string.c: setexCommand
pub fn setex_command(s: &mut Server, c: &mut Client) {
    let key = create_string_object(&c.argv[1]);
    let val = c.argv[3].clone();
    set_generic_command(s, c, OBJ_EX, key, val, Some(2), Unit::Seconds, None, None);
}

/// t_string.c: psetexCommand
pub fn psetex_command(s: &mut Server, c: &mut Client) {
    let key = create_string_object(&c.argv[1]);
    let val = c.argv[3].clone();
    set_generic_command(
        s,
        c,
        OBJ_PX,
        key,
        val,
        Some(2),
        Unit::Milliseconds,
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
        Some(o) if o.is_string() => {
            match &o.ptr {
                Value::Int(v) => c.add_reply_bulk_long_long(*v),
                Value::EmbStr(b) => c.add_reply_bulk(b),
                Value::Raw(b) => c.add_reply_bulk(b),
                _ => c.add_reply_null(), // unreachable: is_string() checked
            }
            true
        }
        Some(_) => {
            wrongtype(s, c);
            false
        }
    }
}

/// t_string.c: getCommand
pub fn get_command(s: &mut Server, c: &mut Client) {
    get_generic_command(s, c);
}

/// t_string.c: getexCommand
///
/// Never propagated as itself: as PEXPIREAT, DEL or PERSIST, whichever it did.
pub fn getex_command(s: &mut Server, c: &mut Client) {
    let Some(args) = parse_extended_string_arguments_or_reply(s, c, CommandType::Get) else {
        return;
    };
    let key = c.argv[1].clone();
    let value = match db::lookup_key_read(s, c.db, &key) {
        None => {
            c.add_reply_null();
            return;
        }
        Some(o) if !o.is_string() => {
            wrongtype(s, c);
            return;
        }
        Some(o) => o.str_bytes().as_bytes().to_vec(),
    };
    let mut milliseconds = 0;
    if let Some(idx) = args.expire {
        match get_expire_milliseconds_or_reply(s, c, idx, args.flags, args.unit) {
            Some(ms) => milliseconds = ms,
            None => return,
        }
    }
    c.add_reply_bulk(&value);
    if args.flags & (OBJ_PXAT | OBJ_EXAT) != 0
        && milliseconds <= crate::util::mstime()
        && !s.loading
    {
        // An absolute time already past: the key goes now.
        s.db[c.db].db_delete(&key);
        s.propagate_argv = Some(vec![Bytes::from_static(b"DEL"), key.clone()]);
        db::signal_modified_key(s, c.db, &key);
        notify_keyspace_event(s, NOTIFY_GENERIC, "del", &key, c.db);
        s.dirty += 1;
    } else if args.expire.is_some() {
        s.db[c.db].set_expire(&key, milliseconds);
        s.propagate_argv = Some(vec![
            Bytes::from_static(b"PEXPIREAT"),
            key.clone(),
            Bytes::from(milliseconds.to_string()),
        ]);
        db::signal_modified_key(s, c.db, &key);
        notify_keyspace_event(s, NOTIFY_GENERIC, "expire", &key, c.db);
        s.dirty += 1;
    } else if args.flags & OBJ_PERSIST != 0 && s.db[c.db].remove_expire(&key) {
        db::signal_modified_key(s, c.db, &key);
        s.propagate_argv = Some(vec![Bytes::from_static(b"PERSIST"), key.clone()]);
        notify_keyspace_event(s, NOTIFY_GENERIC, "persist", &key, c.db);
        s.dirty += 1;
    }
}

/// t_string.c: getdelCommand
pub fn getdel_command(s: &mut Server, c: &mut Client) {
    if !get_generic_command(s, c) {
        return;
    }
    let key = c.argv[1].clone();
    if s.db[c.db].db_delete(&key) {
        s.propagate_argv = Some(vec![Bytes::from_static(b"DEL"), key.clone()]);
        db::signal_modified_key(s, c.db, &key);
        notify_keyspace_event(s, NOTIFY_GENERIC, "del", &key, c.db);
        s.dirty += 1;
    }
}

/// t_string.c: getsetCommand (propagated as SET)
pub fn getset_command(s: &mut Server, c: &mut Client) {
    if !get_generic_command(s, c) {
        return;
    }
    let key = create_string_object(&c.argv[1]);
    let obj = try_object_encoding(s, c.argv[2].clone());
    db::set_key(s, c.db, &key, obj, 0);
    notify_keyspace_event(s, NOTIFY_STRING, "set", &key, c.db);
    s.dirty += 1;
    if crate::server::should_propagate(s) {
        let mut argv = c.argv.clone();
        argv[0] = Bytes::from_static(b"SET");
        s.propagate_argv = Some(argv);
    }
}

/// t_string.c: checkStringLength
fn check_string_length(s: &mut Server, c: &mut Client, size: i64, append: i64) -> bool {
    let total = (size as u64).wrapping_add(append as u64) as i64;
    if total > s.config.proto_max_bulk_len || total < size || total < append {
        add_reply_error(
            s,
            c,
            "string exceeds maximum allowed size (proto-max-bulk-len)",
        );
        return false;
    }
    true
}

/// t_string.c: setrangeCommand
pub fn setrange_command(s: &mut Server, c: &mut Client) {
    let Some(offset) = get_long_long_from_object_or_reply(s, c, 2) else {
        return;
    };
    if offset < 0 {
        add_reply_error(s, c, "offset is out of range");
        return;
    }
    let key = c.argv[1].clone();
    let value = c.argv[3].clone();
    let exists = match db::lookup_key_write(s, c.db, &key) {
        None => false,
        Some(o) if !o.is_string() => {
            wrongtype(s, c);
            return;
        }
        Some(_) => true,
    };
    if !exists {
        if value.is_empty() {
            c.add_reply(shared::CZERO);
            return;
        }
        if !check_string_length(s, c, offset, value.len() as i64) {
            return;
        }
        let o =
            crate::object::create_raw_string_object(s, vec![0u8; offset as usize + value.len()]);
        db::db_add(s, c.db, create_string_object(&key), o);
    } else {
        let olen = db::lookup_key_write(s, c.db, &key).unwrap().string_len();
        if value.is_empty() {
            c.add_reply_long_long(olen as i64);
            return;
        }
        if !check_string_length(s, c, offset, value.len() as i64) {
            return;
        }
    }
    let o = db::lookup_key_write(s, c.db, &key).unwrap();
    let buf = o.unshare_string_value();
    let end = offset as usize + value.len();
    if buf.len() < end {
        buf.resize(end, 0);
    }
    buf[offset as usize..end].copy_from_slice(&value);
    let len = buf.len();
    db::signal_modified_key(s, c.db, &key);
    notify_keyspace_event(s, NOTIFY_STRING, "setrange", &key, c.db);
    s.dirty += 1;
    c.add_reply_long_long(len as i64);
}

/// t_string.c: getrangeCommand (SUBSTR too)
pub fn getrange_command(s: &mut Server, c: &mut Client) {
    let Some(mut start) = get_long_long_from_object_or_reply(s, c, 2) else {
        return;
    };
    let Some(mut end) = get_long_long_from_object_or_reply(s, c, 3) else {
        return;
    };
    let key = c.argv[1].clone();
    let text = match db::lookup_key_read(s, c.db, &key) {
        None => {
            c.add_reply_bulk(b"");
            return;
        }
        Some(o) if !o.is_string() => {
            wrongtype(s, c);
            return;
        }
        Some(o) => o.str_bytes().as_bytes().to_vec(),
    };
    let strlen = text.len() as i64;
    if start < 0 && end < 0 && start > end {
        c.add_reply_bulk(b"");
        return;
    }
    if start < 0 {
        start += strlen;
    }
    if end < 0 {
        end += strlen;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= strlen {
        end = strlen - 1;
    }
    if start > end || strlen == 0 {
        c.add_reply_bulk(b"");
    } else {
        c.add_reply_bulk(&text[start as usize..=end as usize]);
    }
}

/// t_string.c: mgetCommand
pub fn mget_command(s: &mut Server, c: &mut Client) {
    let n = c.argv.len() - 1;
    c.add_reply_array_len(n);
    for j in 1..c.argv.len() {
        let key = c.argv[j].clone();
        match db::lookup_key_read(s, c.db, &key) {
            Some(o) if o.is_string() => match &o.ptr {
                Value::Int(v) => c.add_reply_bulk_long_long(*v),
                Value::EmbStr(b) => c.add_reply_bulk(b),
                Value::Raw(b) => c.add_reply_bulk(b),
                _ => c.add_reply_null(), // unreachable: is_string() checked
            },
            _ => c.add_reply_null(),
        }
    }
}

/// t_string.c: msetGenericCommand
fn mset_generic_command(s: &mut Server, c: &mut Client, nx: bool) {
    if c.argv.len().is_multiple_of(2) {
        add_reply_error_arity(s, c);
        return;
    }
    if nx {
        for j in (1..c.argv.len()).step_by(2) {
            let key = c.argv[j].clone();
            if db::lookup_key_write(s, c.db, &key).is_some() {
                c.add_reply(shared::CZERO);
                return;
            }
        }
    }
    for j in (1..c.argv.len()).step_by(2) {
        let key = create_string_object(&c.argv[j]);
        let obj = try_object_encoding(s, c.argv[j + 1].clone());
        db::set_key(s, c.db, &key, obj, 0);
        notify_keyspace_event(s, NOTIFY_STRING, "set", &key, c.db);
    }
    s.dirty += ((c.argv.len() - 1) / 2) as u64;
    c.add_reply(if nx { shared::CONE } else { shared::OK });
}

/// t_string.c: msetCommand
pub fn mset_command(s: &mut Server, c: &mut Client) {
    mset_generic_command(s, c, false);
}

/// t_string.c: msetnxCommand
pub fn msetnx_command(s: &mut Server, c: &mut Client) {
    mset_generic_command(s, c, true);
}

// ANCHOR: incr_decr_command
/// t_string.c: incrDecrCommand
///
/// A private `int` value is updated in place; otherwise a new integer object
/// replaces the old value (a shared small integer when the policy allows).
pub fn incr_decr_command(s: &mut Server, c: &mut Client, incr: i64) {
    let key = c.argv[1].clone();
    let (exists, oldvalue) = match db::lookup_key_write(s, c.db, &key) {
        None => (false, Some(0)),
        Some(o) if !o.is_string() => {
            wrongtype(s, c);
            return;
        }
        Some(o) => (true, crate::object::get_long_long_from_object(o)),
    };
    let Some(oldvalue) = oldvalue else {
        add_reply_error(s, c, shared::NOTINTEGERERR);
        return;
    };
    let Some(value) = oldvalue.checked_add(incr) else {
        add_reply_error(s, c, "increment or decrement would overflow");
        return;
    };
    let new = crate::object::create_string_object_from_long_long(s, value, true);
    if exists {
        let o = db::lookup_key_write(s, c.db, &key).unwrap();
        if !o.shared && matches!(o.ptr, Value::Int(_)) && !new.shared {
            o.ptr = Value::Int(value);
        } else {
            db::db_overwrite(s, c.db, &key, new);
        }
    } else {
        db::db_add(s, c.db, create_string_object(&key), new);
    }
    db::signal_modified_key(s, c.db, &key);
    notify_keyspace_event(s, NOTIFY_STRING, "incrby", &key, c.db);
    s.dirty += 1;
    c.add_reply_long_long(value);
}
// ANCHOR_END: incr_decr_command

/// t_string.c: incrCommand
pub fn incr_command(s: &mut Server, c: &mut Client) {
    incr_decr_command(s, c, 1);
}

/// t_string.c: decrCommand
pub fn decr_command(s: &mut Server, c: &mut Client) {
    incr_decr_command(s, c, -1);
}

/// t_string.c: incrbyCommand
pub fn incrby_command(s: &mut Server, c: &mut Client) {
    let Some(incr) = get_long_long_from_object_or_reply(s, c, 2) else {
        return;
    };
    incr_decr_command(s, c, incr);
}

/// t_string.c: decrbyCommand
pub fn decrby_command(s: &mut Server, c: &mut Client) {
    let Some(incr) = get_long_long_from_object_or_reply(s, c, 2) else {
        return;
    };
    if incr == i64::MIN {
        add_reply_error(s, c, "decrement would overflow");
        return;
    }
    incr_decr_command(s, c, -incr);
}

/// object.c: getLongDoubleFromObject, for text
/// t_string.c: incrbyfloatCommand
///
/// Propagated as SET with the result and KEEPTTL, so replicas store the exact same
/// text instead of redoing the floating-point sum.
pub fn incrbyfloat_command(s: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    let (exists, value) = match db::lookup_key_write(s, c.db, &key) {
        None => (false, Some(crate::util::LongDouble::from_i64(0))),
        Some(o) if !o.is_string() => {
            wrongtype(s, c);
            return;
        }
        Some(o) => (true, crate::object::get_long_double_from_object(o)),
    };
    let (Some(value), Some(incr)) = (value, crate::util::string2ld(&c.argv[2])) else {
        add_reply_error(s, c, "value is not a valid float");
        return;
    };
    let value = value + incr;
    if value.is_nan() || value.is_infinite() {
        add_reply_error(s, c, "increment would produce NaN or Infinity");
        return;
    }
    let new = crate::object::create_string_object_from_long_double(s, value, true);
    let text = new.str_bytes().as_bytes().to_vec();
    if exists {
        db::db_overwrite(s, c.db, &key, new);
    } else {
        db::db_add(s, c.db, create_string_object(&key), new);
    }
    db::signal_modified_key(s, c.db, &key);
    notify_keyspace_event(s, NOTIFY_STRING, "incrbyfloat", &key, c.db);
    s.dirty += 1;
    c.add_reply_bulk(&text);
    s.propagate_argv = Some(vec![
        Bytes::from_static(b"SET"),
        key,
        Bytes::from(text),
        Bytes::from_static(b"KEEPTTL"),
    ]);
}

/// t_string.c: appendCommand
pub fn append_command(s: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    let append = c.argv[2].clone();
    let totlen = match db::lookup_key_write(s, c.db, &key) {
        None => {
            let obj = try_object_encoding(s, append);
            let len = obj.string_len();
            db::db_add(s, c.db, create_string_object(&key), obj);
            len
        }
        Some(o) if !o.is_string() => {
            wrongtype(s, c);
            return;
        }
        Some(o) => {
            let cur = o.string_len() as i64;
            if !check_string_length(s, c, cur, append.len() as i64) {
                return;
            }
            let o = db::lookup_key_write(s, c.db, &key).unwrap();
            let buf = o.unshare_string_value();
            buf.extend_from_slice(&append);
            buf.len()
        }
    };
    db::signal_modified_key(s, c.db, &key);
    notify_keyspace_event(s, NOTIFY_STRING, "append", &key, c.db);
    s.dirty += 1;
    c.add_reply_long_long(totlen as i64);
}

/// t_string.c: strlenCommand
pub fn strlen_command(s: &mut Server, c: &mut Client) {
    let key = c.argv[1].clone();
    match db::lookup_key_read(s, c.db, &key) {
        None => c.add_reply(shared::CZERO),
        Some(o) if !o.is_string() => wrongtype(s, c),
        Some(o) => {
            let n = o.string_len();
            c.add_reply_long_long(n as i64);
        }
    }
}

// ANCHOR: lcs_command
/// t_string.c: lcsCommand
///
/// The textbook dynamic program over an (alen+1) x (blen+1) table, then a walk back
/// from the corner that rebuilds the common subsequence and, for IDX, the matching
/// ranges from the last to the first.
pub fn lcs_command(s: &mut Server, c: &mut Client) {
    let ka = c.argv[1].clone();
    let kb = c.argv[2].clone();
    let oa = db::lookup_key_read(s, c.db, &ka)
        .map(|o| (o.is_string(), o.str_bytes().as_bytes().to_vec()));
    let ob = db::lookup_key_read(s, c.db, &kb)
        .map(|o| (o.is_string(), o.str_bytes().as_bytes().to_vec()));
    if matches!(oa, Some((false, _))) || matches!(ob, Some((false, _))) {
        add_reply_error(s, c, "The specified keys must contain string values");
        return;
    }
    let a = oa.map(|x| x.1).unwrap_or_default();
    let b = ob.map(|x| x.1).unwrap_or_default();
    let (mut getlen, mut getidx, mut withmatchlen) = (false, false, false);
    let mut minmatchlen: i64 = 0;
    let mut j = 3;
    while j < c.argv.len() {
        let opt = &c.argv[j];
        let moreargs = c.argv.len() - 1 - j;
        if opt.eq_ignore_ascii_case(b"idx") {
            getidx = true;
        } else if opt.eq_ignore_ascii_case(b"len") {
            getlen = true;
        } else if opt.eq_ignore_ascii_case(b"withmatchlen") {
            withmatchlen = true;
        } else if opt.eq_ignore_ascii_case(b"minmatchlen") && moreargs > 0 {
            let Some(v) = get_long_long_from_object_or_reply(s, c, j + 1) else {
                return;
            };
            minmatchlen = v.max(0);
            j += 1;
        } else {
            add_reply_error(s, c, shared::SYNTAXERR);
            return;
        }
        j += 1;
    }
    if getlen && getidx {
        add_reply_error(
            s,
            c,
            "If you want both the length and indexes, please just use IDX.",
        );
        return;
    }
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        add_reply_error(s, c, "String too long for LCS");
        return;
    }
    let (alen, blen) = (a.len(), b.len());
    let lcssize = (alen as u64 + 1) * (blen as u64 + 1);
    if lcssize * 4 > s.config.proto_max_bulk_len as u64 {
        add_reply_error(
            s,
            c,
            "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        );
        return;
    }
    let w = blen + 1;
    let mut lcs = vec![0u32; lcssize as usize];
    for i in 1..=alen {
        for jj in 1..=blen {
            lcs[jj + i * w] = if a[i - 1] == b[jj - 1] {
                lcs[(jj - 1) + (i - 1) * w] + 1
            } else {
                lcs[jj + (i - 1) * w].max(lcs[(jj - 1) + i * w])
            };
        }
    }
    let total = lcs[blen + alen * w];
    let mut idx = total as usize;
    let computelcs = getidx || !getlen;
    let mut result = vec![0u8; if computelcs { idx } else { 0 }];
    let mut ranges: Vec<(usize, usize, usize, usize)> = Vec::new();
    let (mut arange_start, mut arange_end, mut brange_start, mut brange_end) = (alen, 0, 0, 0);
    let (mut i, mut jj) = (alen, blen);
    while computelcs && i > 0 && jj > 0 {
        let mut emit_range = false;
        if a[i - 1] == b[jj - 1] {
            result[idx - 1] = a[i - 1];
            if arange_start == alen {
                arange_start = i - 1;
                arange_end = i - 1;
                brange_start = jj - 1;
                brange_end = jj - 1;
            } else if arange_start == i && brange_start == jj {
                // Contiguous with the range being built: extend it backwards.
                arange_start -= 1;
                brange_start -= 1;
            } else {
                emit_range = true;
            }
            if arange_start == 0 || brange_start == 0 {
                emit_range = true;
            }
            idx -= 1;
            i -= 1;
            jj -= 1;
        } else {
            let lcs1 = lcs[jj + (i - 1) * w];
            let lcs2 = lcs[(jj - 1) + i * w];
            if lcs1 > lcs2 {
                i -= 1;
            } else {
                jj -= 1;
            }
            if arange_start != alen {
                emit_range = true;
            }
        }
        let match_len = arange_end.wrapping_sub(arange_start).wrapping_add(1);
        if emit_range {
            if minmatchlen == 0 || match_len as i64 >= minmatchlen {
                ranges.push((arange_start, arange_end, brange_start, brange_end));
            }
            arange_start = alen;
        }
    }
    if getidx {
        c.add_reply_map_len(2);
        c.add_reply_bulk(b"matches");
        c.add_reply_array_len(ranges.len());
        for (as_, ae, bs, be) in ranges {
            c.add_reply_array_len(2 + withmatchlen as usize);
            c.add_reply_array_len(2);
            c.add_reply_long_long(as_ as i64);
            c.add_reply_long_long(ae as i64);
            c.add_reply_array_len(2);
            c.add_reply_long_long(bs as i64);
            c.add_reply_long_long(be as i64);
            if withmatchlen {
                c.add_reply_long_long((ae - as_ + 1) as i64);
            }
        }
        c.add_reply_bulk(b"len");
        c.add_reply_long_long(total as i64);
    } else if getlen {
        c.add_reply_long_long(total as i64);
    } else {
        c.add_reply_bulk(&result);
    }
}
// ANCHOR_END: lcs_command
