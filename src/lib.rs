//! Ferredis: a faithful Rust port of the Redis 7.0 server pipeline, written to be read.
//!
//! One module per Redis source file; see `DESIGN.md` and the book in `book/`.

pub mod acl;
pub mod ae;
pub mod bitops;
pub mod blocked;
pub mod commands;
pub mod config;
pub mod db;
pub mod debug;
pub mod dict;
pub mod eval;
pub mod evict;
pub mod expire;
pub mod function_lua;
pub mod functions;
pub mod io_threads;
pub mod log;
pub mod lua_bit;
pub mod lua_cjson;
pub mod lua_cmsgpack;
pub mod lua_struct;
pub mod multi;
pub mod networking;
pub mod notify;
pub mod object;
pub mod pubsub;
pub mod rand;
pub mod replication;
pub mod resp;
pub mod script;
pub mod script_lua;
pub mod server;
pub mod siphash;
pub mod slowlog;
pub mod t_hash;
pub mod t_list;
pub mod t_set;
pub mod t_string;
pub mod t_zset;
pub mod timeout;
pub mod tracking;
pub mod util;
pub mod zmalloc;
