//! Port of object.c: the values keys hold.
//!
//! Only strings exist at this stage; encodings (int, embstr, raw) and the other types
//! arrive with the keyspace and types issues.

use bytes::Bytes;

/// A value in the keyspace (server.h: robj).
#[derive(Debug, Clone)]
pub enum RObj {
    String(Bytes),
}

impl RObj {
    /// object.c: strObjType name, as TYPE reports it
    pub fn type_name(&self) -> &'static str {
        match self {
            RObj::String(_) => "string",
        }
    }
}

/// object.c: getLongLongFromObjectOrReply (argv[idx] as an integer, or the shared error)
pub fn get_long_long_from_object_or_reply(
    s: &mut crate::server::Server,
    c: &mut crate::networking::Client,
    idx: usize,
) -> Option<i64> {
    match crate::util::string2ll(&c.argv[idx]) {
        Some(v) => Some(v),
        None => {
            crate::resp::add_reply_error(s, c, crate::resp::shared::NOTINTEGERERR);
            None
        }
    }
}

/// object.c: createStringObject, for an argument that will be stored in the keyspace.
///
/// Arguments are slices of the client's query buffer; storing one as is would keep the
/// whole 16 KiB read buffer alive for as long as the key lives. Redis copies small
/// arguments into a new object and keeps a big one (which had a buffer of its own);
/// this does the same.
pub fn create_string_object(arg: &Bytes) -> Bytes {
    if arg.len() >= crate::networking::PROTO_MBULK_BIG_ARG {
        arg.clone()
    } else {
        Bytes::copy_from_slice(arg)
    }
}
