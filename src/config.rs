//! Port of config.c: the configuration table, redis.conf parsing, CONFIG GET/SET/RESETSTAT/REWRITE.

use std::collections::BTreeMap;

use crate::networking::{split_args, Client};
use crate::resp::{add_reply_error, add_reply_help};
use crate::server::Server;
use crate::util::{self, stringmatchlen};

/// One `client-output-buffer-limit` class (server.h: clientBufferLimitsConfig).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClientBufferLimits {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

/// Every parameter this port has, with Redis's defaults (config.c: standardConfig table).
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: Vec<String>,
    pub port: u16,
    pub protected_mode: bool,
    pub hz: i64,
    pub dynamic_hz: bool,
    pub databases: usize,
    pub maxclients: u64,
    /// Most keys the client-side caching table remembers (0: no limit).
    pub tracking_table_max_keys: u64,
    pub timeout: i64,
    pub tcp_backlog: i64,
    pub tcp_keepalive: i64,
    pub requirepass: Option<Vec<u8>>,
    pub proto_max_bulk_len: i64,
    pub client_max_querybuf_len: usize,
    pub client_obuf_limits_normal: ClientBufferLimits,
    pub client_obuf_limits_replica: ClientBufferLimits,
    pub client_obuf_limits_pubsub: ClientBufferLimits,
    /// The keyspace event classes published (notify.rs NOTIFY_* flags).
    pub notify_keyspace_events: u32,
    pub loglevel: u8,
    pub logfile: String,
    pub enable_debug_command: u8,
    /// Whether CONFIG SET may change protected configs like `dir` (enable-protected-configs).
    pub enable_protected_configs: u8,
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: i64,
    pub daemonize: bool,
    pub io_threads: i64,
    pub io_threads_do_reads: bool,
    /// Ferredis only: keep the I/O threads on even under light load (Redis turns them
    /// off below two pending writes per thread), so tests exercise the threaded path.
    pub io_threads_always_active: bool,
    /// Ferredis only: write every pipeline span as a Chrome/Perfetto trace to this file.
    pub trace_timeline: String,
    pub maxmemory: u64,
    /// One of evict.rs's MAXMEMORY_* values (server.h: maxmemory_policy).
    pub maxmemory_policy: u32,
    pub maxmemory_samples: i64,
    pub maxmemory_eviction_tenacity: i64,
    pub lfu_log_factor: i64,
    pub lfu_decay_time: i64,
    pub activerehashing: bool,
    pub active_expire_effort: i64,
    pub latency_tracking: bool,
    pub dir: String,
    pub save: String,
    pub appendonly: bool,
    /// One of aof.rs's AOF_FSYNC_* policies (server.h: aof_fsync).
    pub appendfsync: u8,
    pub appendfilename: String,
    pub appenddirname: String,
    pub aof_load_truncated: bool,
    pub aof_use_rdb_preamble: bool,
    pub aof_timestamp_enabled: bool,
    pub aof_disable_auto_gc: bool,
    pub no_appendfsync_on_rewrite: bool,
    pub auto_aof_rewrite_percentage: i64,
    pub auto_aof_rewrite_min_size: i64,
    pub aof_rewrite_incremental_fsync: bool,
    pub dbfilename: String,
    /// LZF-compress strings over 20 bytes in RDB and DUMP (rdbcompression).
    pub rdbcompression: bool,
    /// Write (and verify on load) the CRC64 trailer of RDB files (rdbchecksum).
    pub rdbchecksum: bool,
    /// fsync the RDB file every 4 MB while saving (rdb-save-incremental-fsync).
    pub rdb_save_incremental_fsync: bool,
    /// Refuse writes while the last background save failed (stop-writes-on-bgsave-error).
    pub stop_writes_on_bgsave_error: bool,
    /// Microseconds to sleep after each key saved, for tests (rdb-key-save-delay).
    pub rdb_key_save_delay: i64,
    /// Microseconds to sleep after each key loaded, for tests (key-load-delay).
    pub key_load_delay: i64,
    /// How many bytes of RDB input between two turns of the event loop while loading
    /// (loading-process-events-interval-bytes).
    pub loading_process_events_interval_bytes: i64,
    /// Deep validation of RESTORE payloads: 0 no, 1 yes, 2 clients (server.h:
    /// SANITIZE_DUMP_*). Ferredis always validates fully; the setting is kept for
    /// CONFIG.
    pub sanitize_dump_payload: u8,
    /// Small-encoding thresholds of the collection types (server.h: *_max_listpack_*).
    pub list_max_listpack_size: i64,
    pub list_compress_depth: i64,
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    /// Milliseconds a script may run before other clients get -BUSY.
    pub busy_reply_threshold: i64,
    /// The file the server was started with, for CONFIG REWRITE.
    pub configfile: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: vec!["127.0.0.1".into(), "-::1".into()],
            port: 6379,
            protected_mode: true,
            hz: 10,
            dynamic_hz: true,
            databases: 16,
            maxclients: 10000,
            tracking_table_max_keys: 1_000_000,
            timeout: 0,
            tcp_backlog: 511,
            tcp_keepalive: 300,
            requirepass: None,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_max_querybuf_len: 1024 * 1024 * 1024,
            client_obuf_limits_normal: ClientBufferLimits {
                hard: 0,
                soft: 0,
                soft_seconds: 0,
            },
            client_obuf_limits_replica: ClientBufferLimits {
                hard: 256 << 20,
                soft: 64 << 20,
                soft_seconds: 60,
            },
            notify_keyspace_events: 0,
            client_obuf_limits_pubsub: ClientBufferLimits {
                hard: 32 << 20,
                soft: 8 << 20,
                soft_seconds: 60,
            },
            loglevel: crate::server::LL_NOTICE,
            logfile: String::new(),
            enable_debug_command: PROTECTED_ACTION_ALLOWED_NO,
            enable_protected_configs: PROTECTED_ACTION_ALLOWED_NO,
            slowlog_log_slower_than: 10000,
            slowlog_max_len: 128,
            daemonize: false,
            io_threads: 1,
            io_threads_do_reads: false,
            io_threads_always_active: false,
            trace_timeline: String::new(),
            maxmemory: 0,
            maxmemory_policy: crate::evict::MAXMEMORY_NO_EVICTION,
            maxmemory_samples: 5,
            maxmemory_eviction_tenacity: 10,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            activerehashing: true,
            active_expire_effort: 1,
            latency_tracking: true,
            dir: std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "/".into()),
            save: "3600 1 300 100 60 10000".into(),
            appendonly: false,
            appendfsync: crate::aof::AOF_FSYNC_EVERYSEC,
            appendfilename: "appendonly.aof".into(),
            appenddirname: "appendonlydir".into(),
            aof_load_truncated: true,
            aof_use_rdb_preamble: true,
            aof_timestamp_enabled: false,
            aof_disable_auto_gc: false,
            no_appendfsync_on_rewrite: false,
            auto_aof_rewrite_percentage: 100,
            auto_aof_rewrite_min_size: 64 * 1024 * 1024,
            aof_rewrite_incremental_fsync: true,
            dbfilename: "dump.rdb".into(),
            rdbcompression: true,
            rdbchecksum: true,
            rdb_save_incremental_fsync: true,
            stop_writes_on_bgsave_error: true,
            rdb_key_save_delay: 0,
            key_load_delay: 0,
            loading_process_events_interval_bytes: 2 * 1024 * 1024,
            sanitize_dump_payload: 0,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            busy_reply_threshold: 5000,
            configfile: None,
        }
    }
}

pub const PROTECTED_ACTION_ALLOWED_NO: u8 = 0;
pub const PROTECTED_ACTION_ALLOWED_YES: u8 = 1;
pub const PROTECTED_ACTION_ALLOWED_LOCAL: u8 = 2;

const IMMUTABLE_CONFIG: u32 = 1 << 0;
const SENSITIVE_CONFIG: u32 = 1 << 1;
const MULTI_ARG_CONFIG: u32 = 1 << 3;
const PROTECTED_CONFIG: u32 = 1 << 7;
/// Matched by exact name only, never by a CONFIG GET pattern (config.c: HIDDEN_CONFIG).
const HIDDEN_CONFIG: u32 = 1 << 4;

type Getter = fn(&Config) -> String;
type Setter = fn(&mut Config, &[String]) -> Result<(), String>;

/// One entry of the table (config.c: standardConfig).
struct StandardConfig {
    name: &'static str,
    flags: u32,
    get: Getter,
    set: Setter,
}

fn yesno(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// config.c: boolConfigSet
fn parse_bool(v: &[String]) -> Result<bool, String> {
    match v[0].to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

/// config.c: numericParseString + numericBoundaryCheck
fn parse_num(v: &[String], min: i64, max: i64, memory: bool) -> Result<i64, String> {
    let s = &v[0];
    let n = if memory {
        util::memtoull(s)
            .and_then(|n| i64::try_from(n).ok())
            .ok_or_else(|| "argument must be a memory value".to_string())?
    } else {
        util::string2ll(s.as_bytes())
            .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?
    };
    if n < min || n > max {
        return Err(format!(
            "argument must be between {} and {} inclusive",
            min, max
        ));
    }
    Ok(n)
}

/// config.c: enumConfigSet
fn parse_enum(v: &[String], names: &[(&str, u8)]) -> Result<u8, String> {
    let want = v[0].to_ascii_lowercase();
    names
        .iter()
        .find(|(n, _)| *n == want)
        .map(|(_, x)| *x)
        .ok_or_else(|| {
            let all: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
            format!(
                "argument(s) must be one of the following: {}",
                all.join(", ")
            )
        })
}

fn enum_name(names: &[(&str, u8)], v: u8) -> String {
    names
        .iter()
        .find(|(_, x)| *x == v)
        .map(|(n, _)| n.to_string())
        .unwrap_or_default()
}

const LOGLEVEL_ENUM: &[(&str, u8)] = &[
    ("debug", crate::server::LL_DEBUG),
    ("verbose", crate::server::LL_VERBOSE),
    ("notice", crate::server::LL_NOTICE),
    ("warning", crate::server::LL_WARNING),
];
const PROTECTED_ACTION_ENUM: &[(&str, u8)] = &[
    ("no", PROTECTED_ACTION_ALLOWED_NO),
    ("yes", PROTECTED_ACTION_ALLOWED_YES),
    ("local", PROTECTED_ACTION_ALLOWED_LOCAL),
];

/// config.c: setConfigClientOutputBufferLimitOption / updateClientOutputBufferLimit
fn set_obuf_limits(c: &mut Config, v: &[String]) -> Result<(), String> {
    if !v.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut updates = Vec::new();
    for chunk in v.chunks(4) {
        let class = chunk[0].to_ascii_lowercase();
        if !matches!(class.as_str(), "normal" | "replica" | "slave" | "pubsub") {
            return Err("Invalid client class specified in buffer limit configuration.".into());
        }
        let hard = util::memtoull(&chunk[1]);
        let soft = util::memtoull(&chunk[2]);
        let secs = util::string2ll(chunk[3].as_bytes()).filter(|&s| s >= 0);
        match (hard, soft, secs) {
            (Some(hard), Some(soft), Some(secs)) => updates.push((
                class,
                ClientBufferLimits {
                    hard,
                    soft,
                    soft_seconds: secs as u64,
                },
            )),
            _ => {
                return Err(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .into(),
                )
            }
        }
    }
    for (class, l) in updates {
        match class.as_str() {
            "normal" => c.client_obuf_limits_normal = l,
            "pubsub" => c.client_obuf_limits_pubsub = l,
            _ => c.client_obuf_limits_replica = l,
        }
    }
    Ok(())
}

fn get_obuf_limits(c: &Config) -> String {
    let f =
        |n: &str, l: &ClientBufferLimits| format!("{} {} {} {}", n, l.hard, l.soft, l.soft_seconds);
    format!(
        "{} {} {}",
        f("normal", &c.client_obuf_limits_normal),
        f("slave", &c.client_obuf_limits_replica),
        f("pubsub", &c.client_obuf_limits_pubsub)
    )
}

/// config.c: setConfigSaveOption (validated and kept; snapshots arrive with rdb.rs)
fn set_save(c: &mut Config, v: &[String]) -> Result<(), String> {
    let all: Vec<&str> = v.iter().flat_map(|s| s.split_whitespace()).collect();
    if all.len() == 1 && all[0].is_empty() || v.len() == 1 && v[0].is_empty() {
        c.save = String::new();
        return Ok(());
    }
    if !all.len().is_multiple_of(2) {
        return Err("Invalid save parameters".into());
    }
    for x in &all {
        if util::string2ll(x.as_bytes()).is_none_or(|n| n < 1) {
            return Err("Invalid save parameters".into());
        }
    }
    c.save = all.join(" ");
    Ok(())
}

/// The configuration table, in Redis's names (config.c: static_configs).
static CONFIGS: &[StandardConfig] = &[
    StandardConfig {
        name: "bind",
        flags: MULTI_ARG_CONFIG,
        get: |c| c.bind.join(" "),
        set: |c, v| {
            c.bind = v
                .iter()
                .flat_map(|s| s.split_whitespace())
                .map(String::from)
                .collect();
            Ok(())
        },
    },
    StandardConfig {
        name: "port",
        flags: 0,
        get: |c| c.port.to_string(),
        set: |c, v| {
            c.port = parse_num(v, 0, 65535, false)? as u16;
            Ok(())
        },
    },
    StandardConfig {
        name: "protected-mode",
        flags: 0,
        get: |c| yesno(c.protected_mode),
        set: |c, v| {
            c.protected_mode = parse_bool(v)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "hz",
        flags: 0,
        get: |c| c.hz.to_string(),
        set: |c, v| {
            // Redis clamps hz into 1..=500 after accepting any non-negative int.
            c.hz = parse_num(v, 0, i32::MAX as i64, false)?.clamp(1, 500);
            Ok(())
        },
    },
    StandardConfig {
        name: "dynamic-hz",
        flags: 0,
        get: |c| yesno(c.dynamic_hz),
        set: |c, v| {
            c.dynamic_hz = parse_bool(v)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "databases",
        flags: IMMUTABLE_CONFIG,
        get: |c| c.databases.to_string(),
        set: |c, v| {
            c.databases = parse_num(v, 1, i32::MAX as i64, false)? as usize;
            Ok(())
        },
    },
    StandardConfig {
        name: "maxclients",
        flags: 0,
        get: |c| c.maxclients.to_string(),
        set: |c, v| {
            c.maxclients = parse_num(v, 1, u32::MAX as i64, false)? as u64;
            Ok(())
        },
    },
    StandardConfig {
        name: "tracking-table-max-keys",
        flags: 0,
        get: |c| c.tracking_table_max_keys.to_string(),
        set: |c, v| {
            c.tracking_table_max_keys = parse_num(v, 0, u32::MAX as i64, false)? as u64;
            Ok(())
        },
    },
    StandardConfig {
        name: "timeout",
        flags: 0,
        get: |c| c.timeout.to_string(),
        set: |c, v| {
            c.timeout = parse_num(v, 0, i32::MAX as i64, false)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "tcp-backlog",
        flags: IMMUTABLE_CONFIG,
        get: |c| c.tcp_backlog.to_string(),
        set: |c, v| {
            c.tcp_backlog = parse_num(v, 0, i32::MAX as i64, false)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "tcp-keepalive",
        flags: 0,
        get: |c| c.tcp_keepalive.to_string(),
        set: |c, v| {
            c.tcp_keepalive = parse_num(v, 0, i32::MAX as i64, false)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "requirepass",
        flags: SENSITIVE_CONFIG,
        get: |c| {
            c.requirepass
                .as_ref()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default()
        },
        set: |c, v| {
            c.requirepass = if v[0].is_empty() {
                None
            } else {
                Some(v[0].as_bytes().to_vec())
            };
            Ok(())
        },
    },
    StandardConfig {
        name: "proto-max-bulk-len",
        flags: 0,
        get: |c| c.proto_max_bulk_len.to_string(),
        set: |c, v| {
            c.proto_max_bulk_len = parse_num(v, 1024 * 1024, i64::MAX, true)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "client-query-buffer-limit",
        flags: 0,
        get: |c| c.client_max_querybuf_len.to_string(),
        set: |c, v| {
            c.client_max_querybuf_len = parse_num(v, 1024 * 1024, i64::MAX, true)? as usize;
            Ok(())
        },
    },
    StandardConfig {
        name: "client-output-buffer-limit",
        flags: MULTI_ARG_CONFIG,
        get: get_obuf_limits,
        set: |c, v| {
            let all: Vec<String> = v
                .iter()
                .flat_map(|s| s.split_whitespace())
                .map(String::from)
                .collect();
            set_obuf_limits(c, &all)
        },
    },
    StandardConfig {
        name: "notify-keyspace-events",
        flags: 0,
        get: |c| crate::notify::keyspace_events_flags_to_string(c.notify_keyspace_events),
        set: |c, v| {
            if v.len() != 1 {
                return Err("wrong number of arguments".into());
            }
            c.notify_keyspace_events = crate::notify::keyspace_events_string_to_flags(&v[0])
                .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
            Ok(())
        },
    },
    StandardConfig {
        name: "loglevel",
        flags: 0,
        get: |c| enum_name(LOGLEVEL_ENUM, c.loglevel),
        set: |c, v| {
            c.loglevel = parse_enum(v, LOGLEVEL_ENUM)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "logfile",
        flags: IMMUTABLE_CONFIG,
        get: |c| c.logfile.clone(),
        set: |c, v| {
            c.logfile = v[0].clone();
            Ok(())
        },
    },
    StandardConfig {
        name: "enable-protected-configs",
        flags: IMMUTABLE_CONFIG,
        get: |c| enum_name(PROTECTED_ACTION_ENUM, c.enable_protected_configs),
        set: |c, v| {
            c.enable_protected_configs = parse_enum(v, PROTECTED_ACTION_ENUM)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "enable-debug-command",
        flags: IMMUTABLE_CONFIG,
        get: |c| enum_name(PROTECTED_ACTION_ENUM, c.enable_debug_command),
        set: |c, v| {
            c.enable_debug_command = parse_enum(v, PROTECTED_ACTION_ENUM)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "slowlog-log-slower-than",
        flags: 0,
        get: |c| c.slowlog_log_slower_than.to_string(),
        set: |c, v| {
            c.slowlog_log_slower_than = parse_num(v, -1, i64::MAX, false)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "slowlog-max-len",
        flags: 0,
        get: |c| c.slowlog_max_len.to_string(),
        set: |c, v| {
            c.slowlog_max_len = parse_num(v, 0, i64::MAX, false)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "daemonize",
        flags: IMMUTABLE_CONFIG,
        get: |c| yesno(c.daemonize),
        set: |c, v| {
            c.daemonize = parse_bool(v)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "io-threads",
        flags: IMMUTABLE_CONFIG,
        get: |c| c.io_threads.to_string(),
        set: |c, v| {
            c.io_threads = parse_num(v, 1, 128, false)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "io-threads-do-reads",
        flags: IMMUTABLE_CONFIG,
        get: |c| yesno(c.io_threads_do_reads),
        set: |c, v| {
            c.io_threads_do_reads = parse_bool(v)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "io-threads-always-active",
        flags: IMMUTABLE_CONFIG | HIDDEN_CONFIG,
        get: |c| yesno(c.io_threads_always_active),
        set: |c, v| {
            c.io_threads_always_active = parse_bool(v)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "trace-timeline",
        flags: IMMUTABLE_CONFIG | HIDDEN_CONFIG,
        get: |c| c.trace_timeline.clone(),
        set: |c, v| {
            c.trace_timeline = v[0].clone();
            Ok(())
        },
    },
    StandardConfig {
        name: "maxmemory",
        flags: 0,
        get: |c| c.maxmemory.to_string(),
        set: |c, v| {
            c.maxmemory = parse_num(v, 0, i64::MAX, true)? as u64;
            Ok(())
        },
    },
    StandardConfig {
        name: "maxmemory-policy",
        flags: 0,
        get: |c| crate::evict::policy_name(c.maxmemory_policy).to_string(),
        set: |c, v| {
            c.maxmemory_policy = crate::evict::policy_from_name(&v[0].to_ascii_lowercase())
                .ok_or_else(|| {
                    "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction".to_string()
                })?;
            Ok(())
        },
    },
    StandardConfig {
        name: "maxmemory-samples",
        flags: 0,
        get: |c| c.maxmemory_samples.to_string(),
        set: |c, v| {
            c.maxmemory_samples = parse_num(v, 1, i32::MAX as i64, false)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "maxmemory-eviction-tenacity",
        flags: 0,
        get: |c| c.maxmemory_eviction_tenacity.to_string(),
        set: |c, v| {
            c.maxmemory_eviction_tenacity = parse_num(v, 0, 100, false)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "lfu-log-factor",
        flags: 0,
        get: |c| c.lfu_log_factor.to_string(),
        set: |c, v| {
            c.lfu_log_factor = parse_num(v, 0, i32::MAX as i64, false)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "lfu-decay-time",
        flags: 0,
        get: |c| c.lfu_decay_time.to_string(),
        set: |c, v| {
            c.lfu_decay_time = parse_num(v, 0, i32::MAX as i64, false)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "activerehashing",
        flags: 0,
        get: |c| yesno(c.activerehashing),
        set: |c, v| {
            c.activerehashing = parse_bool(v)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "active-expire-effort",
        flags: 0,
        get: |c| c.active_expire_effort.to_string(),
        set: |c, v| {
            c.active_expire_effort = parse_num(v, 1, 10, false)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "latency-tracking",
        flags: 0,
        get: |c| yesno(c.latency_tracking),
        set: |c, v| {
            c.latency_tracking = parse_bool(v)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "dir",
        flags: PROTECTED_CONFIG,
        get: |c| c.dir.clone(),
        set: |c, v| {
            std::env::set_current_dir(&v[0]).map_err(|e| e.to_string())?;
            c.dir = std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            Ok(())
        },
    },
    StandardConfig {
        name: "save",
        flags: MULTI_ARG_CONFIG,
        get: |c| c.save.clone(),
        set: set_save,
    },
    StandardConfig {
        name: "appendonly",
        flags: 0,
        get: |c| yesno(c.appendonly),
        set: |c, v| {
            // Turning it on or off at runtime happens in aof::update_appendonly.
            c.appendonly = parse_bool(v)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "appendfsync",
        flags: 0,
        get: |c| {
            match c.appendfsync {
                crate::aof::AOF_FSYNC_ALWAYS => "always",
                crate::aof::AOF_FSYNC_NO => "no",
                _ => "everysec",
            }
            .to_string()
        },
        set: |c, v| {
            c.appendfsync = match v[0].to_ascii_lowercase().as_str() {
                "everysec" => crate::aof::AOF_FSYNC_EVERYSEC,
                "always" => crate::aof::AOF_FSYNC_ALWAYS,
                "no" => crate::aof::AOF_FSYNC_NO,
                _ => {
                    return Err(
                        "argument(s) must be one of the following: everysec, always, no".into(),
                    )
                }
            };
            Ok(())
        },
    },
    StandardConfig {
        name: "appendfilename",
        flags: IMMUTABLE_CONFIG,
        get: |c| c.appendfilename.clone(),
        set: |c, v| {
            if v[0].is_empty() {
                return Err("appendfilename can't be empty".into());
            }
            if v[0].contains('/') || v[0].contains('\\') {
                return Err("appendfilename can't be a path, just a filename".into());
            }
            c.appendfilename = v[0].clone();
            Ok(())
        },
    },
    StandardConfig {
        name: "appenddirname",
        flags: IMMUTABLE_CONFIG,
        get: |c| c.appenddirname.clone(),
        set: |c, v| {
            if v[0].is_empty() {
                return Err("appenddirname can't be empty".into());
            }
            if v[0].contains('/') || v[0].contains('\\') {
                return Err("appenddirname can't be a path, just a dirname".into());
            }
            c.appenddirname = v[0].clone();
            Ok(())
        },
    },
    StandardConfig {
        name: "aof-load-truncated",
        flags: 0,
        get: |c| yesno(c.aof_load_truncated),
        set: |c, v| {
            c.aof_load_truncated = parse_bool(v)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "aof-use-rdb-preamble",
        flags: 0,
        get: |c| yesno(c.aof_use_rdb_preamble),
        set: |c, v| {
            c.aof_use_rdb_preamble = parse_bool(v)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "aof-timestamp-enabled",
        flags: 0,
        get: |c| yesno(c.aof_timestamp_enabled),
        set: |c, v| {
            c.aof_timestamp_enabled = parse_bool(v)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "aof-disable-auto-gc",
        flags: 0,
        get: |c| yesno(c.aof_disable_auto_gc),
        set: |c, v| {
            c.aof_disable_auto_gc = parse_bool(v)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "no-appendfsync-on-rewrite",
        flags: 0,
        get: |c| yesno(c.no_appendfsync_on_rewrite),
        set: |c, v| {
            c.no_appendfsync_on_rewrite = parse_bool(v)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "auto-aof-rewrite-percentage",
        flags: 0,
        get: |c| c.auto_aof_rewrite_percentage.to_string(),
        set: |c, v| {
            c.auto_aof_rewrite_percentage = parse_num(v, 0, i32::MAX as i64, false)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "auto-aof-rewrite-min-size",
        flags: 0,
        get: |c| c.auto_aof_rewrite_min_size.to_string(),
        set: |c, v| {
            c.auto_aof_rewrite_min_size = parse_num(v, 0, i64::MAX, true)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "aof-rewrite-incremental-fsync",
        flags: 0,
        get: |c| yesno(c.aof_rewrite_incremental_fsync),
        set: |c, v| {
            c.aof_rewrite_incremental_fsync = parse_bool(v)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "dbfilename",
        flags: PROTECTED_CONFIG,
        get: |c| c.dbfilename.clone(),
        set: |c, v| {
            if v[0].contains('/') {
                return Err("dbfilename can't be a path, just a filename".into());
            }
            c.dbfilename = v[0].clone();
            Ok(())
        },
    },
    StandardConfig {
        name: "rdbcompression",
        flags: 0,
        get: |c| yesno(c.rdbcompression),
        set: |c, v| {
            c.rdbcompression = parse_bool(v)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "rdbchecksum",
        flags: IMMUTABLE_CONFIG,
        get: |c| yesno(c.rdbchecksum),
        set: |c, v| {
            c.rdbchecksum = parse_bool(v)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "rdb-save-incremental-fsync",
        flags: 0,
        get: |c| yesno(c.rdb_save_incremental_fsync),
        set: |c, v| {
            c.rdb_save_incremental_fsync = parse_bool(v)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "stop-writes-on-bgsave-error",
        flags: 0,
        get: |c| yesno(c.stop_writes_on_bgsave_error),
        set: |c, v| {
            c.stop_writes_on_bgsave_error = parse_bool(v)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "rdb-key-save-delay",
        flags: HIDDEN_CONFIG,
        get: |c| c.rdb_key_save_delay.to_string(),
        set: |c, v| {
            c.rdb_key_save_delay = parse_num(v, i32::MIN as i64, i32::MAX as i64, false)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "key-load-delay",
        flags: HIDDEN_CONFIG,
        get: |c| c.key_load_delay.to_string(),
        set: |c, v| {
            c.key_load_delay = parse_num(v, i32::MIN as i64, i32::MAX as i64, false)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "loading-process-events-interval-bytes",
        flags: HIDDEN_CONFIG,
        get: |c| c.loading_process_events_interval_bytes.to_string(),
        set: |c, v| {
            c.loading_process_events_interval_bytes = parse_num(v, 1024, i32::MAX as i64, false)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "sanitize-dump-payload",
        flags: 0,
        get: |c| ["no", "yes", "clients"][c.sanitize_dump_payload as usize].to_string(),
        set: |c, v| {
            c.sanitize_dump_payload = match v[0].to_ascii_lowercase().as_str() {
                "no" => 0,
                "yes" => 1,
                "clients" => 2,
                _ => {
                    return Err("argument(s) must be one of the following: no, yes, clients".into())
                }
            };
            Ok(())
        },
    },
    StandardConfig {
        name: "list-max-listpack-size",
        flags: 0,
        get: |c| c.list_max_listpack_size.to_string(),
        set: |c, v| {
            c.list_max_listpack_size = parse_num(v, i32::MIN as i64, i32::MAX as i64, false)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "list-compress-depth",
        flags: 0,
        get: |c| c.list_compress_depth.to_string(),
        set: |c, v| {
            c.list_compress_depth = parse_num(v, 0, i32::MAX as i64, false)?;
            Ok(())
        },
    },
    StandardConfig {
        name: "hash-max-listpack-entries",
        flags: 0,
        get: |c| c.hash_max_listpack_entries.to_string(),
        set: |c, v| {
            c.hash_max_listpack_entries = parse_num(v, 0, i64::MAX, false)? as usize;
            Ok(())
        },
    },
    StandardConfig {
        name: "hash-max-listpack-value",
        flags: 0,
        get: |c| c.hash_max_listpack_value.to_string(),
        set: |c, v| {
            c.hash_max_listpack_value = parse_num(v, 0, i64::MAX, true)? as usize;
            Ok(())
        },
    },
    StandardConfig {
        name: "set-max-intset-entries",
        flags: 0,
        get: |c| c.set_max_intset_entries.to_string(),
        set: |c, v| {
            c.set_max_intset_entries = parse_num(v, 0, i64::MAX, false)? as usize;
            Ok(())
        },
    },
    StandardConfig {
        name: "zset-max-listpack-entries",
        flags: 0,
        get: |c| c.zset_max_listpack_entries.to_string(),
        set: |c, v| {
            c.zset_max_listpack_entries = parse_num(v, 0, i64::MAX, false)? as usize;
            Ok(())
        },
    },
    StandardConfig {
        name: "zset-max-listpack-value",
        flags: 0,
        get: |c| c.zset_max_listpack_value.to_string(),
        set: |c, v| {
            c.zset_max_listpack_value = parse_num(v, 0, i64::MAX, true)? as usize;
            Ok(())
        },
    },
    StandardConfig {
        name: "busy-reply-threshold",
        flags: 0,
        get: |c| c.busy_reply_threshold.to_string(),
        set: |c, v| {
            c.busy_reply_threshold = parse_num(v, 0, i64::MAX, false)?;
            Ok(())
        },
    },
];

/// Old names Redis 7.0 still accepts for a config (config.c: the alias of
/// standardConfig, registered as a second dict entry flagged ALIAS_CONFIG).
static ALIASES: &[(&str, &str)] = &[
    ("list-max-ziplist-size", "list-max-listpack-size"),
    ("hash-max-ziplist-entries", "hash-max-listpack-entries"),
    ("hash-max-ziplist-value", "hash-max-listpack-value"),
    ("zset-max-ziplist-entries", "zset-max-listpack-entries"),
    ("zset-max-ziplist-value", "zset-max-listpack-value"),
    ("lua-time-limit", "busy-reply-threshold"),
];

/// config.c: lookupConfig
fn lookup_config(name: &str) -> Option<&'static StandardConfig> {
    let name = name.to_ascii_lowercase();
    let name = ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name.as_str(), |(_, real)| real);
    CONFIGS.iter().find(|c| c.name == name)
}

/// config.c: loadServerConfigFromString
pub fn load_server_config_from_string(cfg: &mut Config, text: &str) -> Result<(), String> {
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let argv = split_args(line.as_bytes()).ok_or_else(|| {
            fatal_config_error(i + 1, line, "Unbalanced quotes in configuration line")
        })?;
        if argv.is_empty() {
            continue;
        }
        let argv: Vec<String> = argv
            .into_iter()
            .map(|a| String::from_utf8_lossy(&a).into_owned())
            .collect();
        let name = argv[0].to_ascii_lowercase();
        let Some(sc) = lookup_config(&name) else {
            return Err(fatal_config_error(
                i + 1,
                line,
                "Bad directive or wrong number of arguments",
            ));
        };
        if argv.len() < 2 || (sc.flags & MULTI_ARG_CONFIG == 0 && argv.len() != 2) {
            return Err(fatal_config_error(i + 1, line, "wrong number of arguments"));
        }
        (sc.set)(cfg, &argv[1..]).map_err(|e| fatal_config_error(i + 1, line, &e))?;
    }
    Ok(())
}

/// config.c: the "FATAL CONFIG FILE ERROR" report
fn fatal_config_error(linenum: usize, line: &str, err: &str) -> String {
    format!(
        "\n*** FATAL CONFIG FILE ERROR (Redis {}) ***\nReading the configuration file, at line {}\n>>> '{}'\n{}",
        crate::server::REDIS_VERSION,
        linenum,
        line,
        err
    )
}

// ANCHOR: config_set_command
/// config.c: configSetCommand
///
/// All pairs are checked first, then applied; if one fails to apply the earlier
/// ones are rolled back, so CONFIG SET is all or nothing, as in Redis 7.0.
pub fn config_set_command(s: &mut Server, c: &mut Client) {
    if c.argv.len() % 2 == 1 {
        add_reply_error(s, c, crate::resp::shared::SYNTAXERR);
        return;
    }
    // Secrets never reach SLOWLOG, even when the command fails.
    for i in (2..c.argv.len()).step_by(2) {
        let name = String::from_utf8_lossy(&c.argv[i]).into_owned();
        if lookup_config(&name).is_some_and(|sc| sc.flags & SENSITIVE_CONFIG != 0) {
            c.redact_command_argument(i + 1);
        }
    }
    let mut chosen: Vec<(&'static StandardConfig, String, String)> = Vec::new();
    let mut invalid_name: Option<String> = None;
    let mut err: Option<(String, String)> = None;
    for pair in c.argv[2..].chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]).into_owned();
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        let Some(sc) = lookup_config(&name) else {
            if invalid_name.is_none() && err.is_none() {
                invalid_name = Some(name);
            }
            continue;
        };
        if invalid_name.is_some() || err.is_some() {
            continue;
        }
        if sc.flags & IMMUTABLE_CONFIG != 0 {
            err = Some((name, "can't set immutable config".into()));
            continue;
        }
        if sc.flags & PROTECTED_CONFIG != 0
            && !crate::server::allow_protected_action(s.config.enable_protected_configs, c)
        {
            err = Some((name, "can't set protected config".into()));
            continue;
        }
        if chosen.iter().any(|(x, _, _)| std::ptr::eq(*x, sc)) {
            err = Some((name, "duplicate parameter".into()));
            continue;
        }
        chosen.push((sc, name, value));
    }
    if let Some(name) = invalid_name {
        let msg = format!(
            "Unknown option or number of arguments for CONFIG SET - '{}'",
            name
        );
        add_reply_error(s, c, &msg);
        return;
    }
    if let Some((name, e)) = err {
        let msg = format!(
            "CONFIG SET failed (possibly related to argument '{}') - {}",
            name, e
        );
        add_reply_error(s, c, &msg);
        return;
    }
    let before = s.config.clone();
    for (sc, name, value) in &chosen {
        let args: Vec<String> = if sc.flags & MULTI_ARG_CONFIG != 0 {
            let v: Vec<String> = value.split_whitespace().map(String::from).collect();
            if v.is_empty() {
                vec![String::new()]
            } else {
                v
            }
        } else {
            vec![value.clone()]
        };
        if let Err(e) = (sc.set)(&mut s.config, &args) {
            s.config = before;
            // A value that fails to set is reported by the parameter's own name.
            let _ = name;
            let msg = format!(
                "CONFIG SET failed (possibly related to argument '{}') - {}",
                sc.name, e
            );
            add_reply_error(s, c, &msg);
            return;
        }
    }
    if let Err((name, e)) = s.apply_config_changes(&before) {
        s.config = before;
        let msg = format!(
            "CONFIG SET failed (possibly related to argument '{}') - {}",
            name, e
        );
        add_reply_error(s, c, &msg);
        return;
    }
    c.add_reply(crate::resp::shared::OK);
}
// ANCHOR_END: config_set_command

/// config.c: configGetCommand
pub fn config_get_command(s: &mut Server, c: &mut Client) {
    // Keyed by the parameter; the reply shows the name as the first argument that
    // matched it spelled it (an exact name keeps the caller's case, as in Redis).
    // An alias is its own entry in Redis's config dict, so a pattern lists it
    // beside the name it stands for.
    let mut matches: BTreeMap<String, (String, String)> = BTreeMap::new();
    for pat in &c.argv[2..] {
        let pat_s = String::from_utf8_lossy(pat);
        if !pat.iter().any(|b| matches!(b, b'[' | b'*' | b'?')) {
            if let Some(sc) = lookup_config(&pat_s) {
                matches
                    .entry(pat_s.to_ascii_lowercase())
                    .or_insert_with(|| (pat_s.to_string(), (sc.get)(&s.config)));
            }
            continue;
        }
        let names = CONFIGS
            .iter()
            .filter(|sc| sc.flags & HIDDEN_CONFIG == 0)
            .map(|sc| (sc.name, sc))
            .chain(ALIASES.iter().filter_map(|(alias, real)| {
                CONFIGS
                    .iter()
                    .find(|sc| sc.name == *real)
                    .map(|sc| (*alias, sc))
            }));
        for (name, sc) in names {
            if stringmatchlen(pat, name.as_bytes(), true) {
                matches
                    .entry(name.to_string())
                    .or_insert_with(|| (name.to_string(), (sc.get)(&s.config)));
            }
        }
    }
    c.add_reply_map_len(matches.len());
    for (_, (k, v)) in matches {
        c.add_reply_bulk(k.as_bytes());
        c.add_reply_bulk(v.as_bytes());
    }
}

/// config.c: configResetStatCommand
pub fn config_resetstat_command(s: &mut Server, c: &mut Client) {
    s.reset_server_stats();
    c.add_reply(crate::resp::shared::OK);
}

/// config.c: configRewriteCommand
///
/// Simpler than Redis's line-preserving rewrite: keeps comments and unknown lines,
/// replaces the lines of every parameter that differs from its default.
pub fn config_rewrite_command(s: &mut Server, c: &mut Client) {
    let Some(path) = s.config.configfile.clone() else {
        add_reply_error(s, c, "The server is running without a config file");
        return;
    };
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let defaults = Config::default();
    let mut out = String::new();
    let mut written = std::collections::HashSet::new();
    for line in old.lines() {
        let name = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match lookup_config(&name) {
            Some(sc) if !line.trim_start().starts_with('#') => {
                if written.insert(sc.name) {
                    out.push_str(&rewrite_line(sc, &s.config));
                }
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    for sc in CONFIGS {
        if !written.contains(sc.name) && (sc.get)(&s.config) != (sc.get)(&defaults) {
            out.push_str(&rewrite_line(sc, &s.config));
        }
    }
    match std::fs::write(&path, out) {
        Ok(()) => c.add_reply(crate::resp::shared::OK),
        Err(e) => {
            let msg = format!("Rewriting config file: {}", e);
            add_reply_error(s, c, &msg);
        }
    }
}

fn rewrite_line(sc: &StandardConfig, cfg: &Config) -> String {
    let v = (sc.get)(cfg);
    if sc.flags & MULTI_ARG_CONFIG != 0 || v.is_empty() {
        if v.is_empty() {
            format!("{} \"\"\n", sc.name)
        } else {
            format!("{} {}\n", sc.name, v)
        }
    } else {
        format!("{} {}\n", sc.name, quote_if_needed(&v))
    }
}

fn quote_if_needed(v: &str) -> String {
    if v.bytes()
        .any(|b| b.is_ascii_whitespace() || b == b'"' || b == b'\'')
    {
        format!("{:?}", v)
    } else {
        v.to_string()
    }
}

/// config.c: configHelpCommand
pub fn config_help_command(_s: &mut Server, c: &mut Client) {
    add_reply_help(
        c,
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
}
