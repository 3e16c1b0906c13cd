//! Port of server.c and server.h: the server state, processCommand, call, serverCron,
//! beforeSleep, INFO and the small server commands.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use mio::net::TcpListener;
use mio::Token;
use tracing::{debug_span, trace};

use crate::ae::{self, EventLoop, AE_READABLE};
use crate::commands::{
    CommandStats, CommandTable, RedisCommand, CMD_ADMIN, CMD_FAST, CMD_NO_AUTH, CMD_PROTECTED,
    CMD_READONLY, CMD_SKIP_MONITOR, CMD_SKIP_SLOWLOG, CMD_WRITE,
};
use crate::config::{Config, PROTECTED_ACTION_ALLOWED_LOCAL, PROTECTED_ACTION_ALLOWED_YES};
use crate::db::Db;
use crate::multi;
use crate::networking::{
    self, Client, CLIENT_BLOCKED, CLIENT_CLOSE_ASAP, CLIENT_MULTI, CLIENT_PUBSUB,
};
use crate::resp::{add_reply_error, shared};
use crate::slowlog::SlowLog;
use crate::util;

pub const REDIS_VERSION: &str = "7.0.15";

// Log levels (server.h: LL_*).
pub const LL_DEBUG: u8 = 0;
pub const LL_VERBOSE: u8 = 1;
pub const LL_NOTICE: u8 = 2;
pub const LL_WARNING: u8 = 3;

/// CLIENT PAUSE kinds (server.h: pause_type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseType {
    Off,
    Write,
    All,
}

/// A command filter (module.c: moduleCallCommandFilters): sees and may rewrite argv
/// before the command is looked up.
pub type CommandFilter = fn(&mut Vec<Bytes>);

// What call() does besides running the command (server.h: CMD_CALL_*).
pub const CMD_CALL_SLOWLOG: u32 = 1 << 0;
pub const CMD_CALL_STATS: u32 = 1 << 1;
pub const CMD_CALL_PROPAGATE_AOF: u32 = 1 << 2;
pub const CMD_CALL_PROPAGATE_REPL: u32 = 1 << 3;
pub const CMD_CALL_PROPAGATE: u32 = CMD_CALL_PROPAGATE_AOF | CMD_CALL_PROPAGATE_REPL;
pub const CMD_CALL_FULL: u32 = CMD_CALL_SLOWLOG | CMD_CALL_STATS | CMD_CALL_PROPAGATE;

/// One operation waiting to be propagated to the AOF and replicas (server.h: redisOp).
#[derive(Debug, Clone)]
pub struct RedisOp {
    pub dbid: usize,
    pub argv: Vec<Bytes>,
}

/// The whole server (server.h: struct redisServer). Owned by the main thread; never `Send`.
pub struct Server {
    pub el: EventLoop,
    pub config: Config,
    pub listeners: Vec<TcpListener>,
    pub listen_addrs: Vec<SocketAddr>,
    /// Clients by token; a client being served is taken out and put back.
    pub clients: Vec<Option<Box<Client>>>,
    free_tokens: Vec<usize>,
    nclients: usize,
    pub next_client_id: u64,
    pub current_client: Option<u64>,
    pub clients_pending_write: Vec<(Token, u64)>,
    pub clients_to_close: Vec<(Token, u64)>,
    /// Clients held by CLIENT PAUSE (blocked with BLOCKED_POSTPONE in Redis).
    pub postponed_clients: Vec<(Token, u64)>,
    pub client_pause_type: PauseType,
    pub client_pause_end_time: i64,
    /// Blocked clients, the keys they wait on, ready keys, timeouts (blocked.rs).
    pub bstate: crate::blocked::BlockedState,
    pub db: Vec<Db>,
    pub commands: CommandTable,
    pub command_stats: Vec<CommandStats>,
    pub command_filters: Vec<CommandFilter>,
    pub errors: BTreeMap<Vec<u8>, u64>,
    pub slowlog: SlowLog,
    // Cached clock (server.h: mstime, unixtime, ustime).
    pub ustime: i64,
    pub mstime: i64,
    pub unixtime: i64,
    pub start_time: i64,
    pub hz: i64,
    pub cronloops: u64,
    pub run_id: String,
    pub verbosity: u8,
    pub dirty: u64,
    pub shutdown_asap: bool,
    pub executable: String,
    /// The I/O threads and their state (networking.c: io_threads*).
    pub io_threads: crate::io_threads::IoThreads,
    /// Clients whose read waits for an I/O thread (server.h: clients_pending_read).
    pub clients_pending_read: Vec<(Token, u64)>,
    pub stat_io_reads_processed: u64,
    pub stat_io_writes_processed: u64,
    /// The thread that owns the server; `call` checks it in debug builds.
    pub main_thread: std::thread::ThreadId,
    /// `Server` must never be sent to another thread: the I/O threads' safety rests
    /// on it. A raw pointer is neither `Send` nor `Sync`, so this makes it explicit.
    _not_send: std::marker::PhantomData<*const ()>,
    // Statistics (server.h: stat_*).
    pub stat_numcommands: u64,
    pub stat_numconnections: u64,
    pub stat_rejected_conn: u64,
    pub stat_net_input_bytes: u64,
    pub stat_net_output_bytes: u64,
    pub stat_total_error_replies: u64,
    pub stat_unexpected_error_replies: u64,
    pub stat_total_reads_processed: u64,
    pub stat_total_writes_processed: u64,
    pub stat_keyspace_hits: u64,
    pub stat_keyspace_misses: u64,
    pub stat_expiredkeys: u64,
    pub stat_evictedclients: u64,
    pub stat_client_qbuf_limit_disconnections: u64,
    // The keyspace: clocks, expiry, eviction and propagation state.
    /// The LRU clock, refreshed by serverCron (server.h: lruclock).
    pub lruclock: u32,
    pub stat_evictedkeys: u64,
    /// Running estimate of the share of sampled TTL keys found already expired.
    pub stat_expired_stale_perc: f64,
    pub stat_expired_time_cap_reached_count: u64,
    pub stat_expire_cycle_time_used: u64,
    pub stat_total_eviction_exceeded_time: u64,
    pub stat_last_eviction_exceeded_time: u64,
    /// DEBUG SET-ACTIVE-EXPIRE (server.h: active_expire_enabled).
    pub active_expire_enabled: bool,
    /// The statics of activeExpireCycle, kept here instead.
    pub expire_cycle: crate::expire::ExpireCycleState,
    /// The eviction pool (Redis's EvictionPoolLRU in evict.c).
    pub eviction_pool: Vec<crate::evict::EvictionPoolEntry>,
    /// Operations to propagate once the current command ends (server.h: also_propagate).
    pub also_propagate: Vec<crate::server::RedisOp>,
    /// The argv a command asked to propagate instead of its own (what Redis's
    /// rewriteClientCommandVector leaves in c->argv).
    pub propagate_argv: Option<Vec<Bytes>>,
    /// Propagate the current command even if it changed nothing (forceCommandPropagation).
    pub force_propagation: bool,
    /// EXEC is running its queued commands (server.h: in_exec).
    pub in_exec: bool,
    /// How deep `call` is nested: EXEC and scripts call it from inside a command
    /// (server.h: in_nested_call).
    pub in_nested_call: u32,
    /// The error count when the innermost `call` started, so a command is counted
    /// as failed only for its own errors (server.c: incrCommandStatsOnError's
    /// prev_err_count).
    pub prev_err_count: u64,
    /// WATCH marks for clients that were out of the client table when their key was
    /// touched: (token, id, drop its watches too); see multi.rs.
    pub pending_dirty_cas: Vec<(Token, u64, bool)>,
    /// Every subscription, by channel and by pattern (pubsub.rs).
    pub pubsub: crate::pubsub::PubSubServer,
    /// The MONITOR clients (server.h: monitors).
    pub monitors: Vec<(Token, u64)>,
    /// Client id -> token (server.h: clients_index), for lookupClientByID.
    pub clients_index: std::collections::HashMap<u64, Token>,
    /// Client-side caching (tracking.rs).
    pub tracking: crate::tracking::TrackingState,
    /// The stream persistence and replicas will consume, recorded when enabled (DEBUG
    /// PROPAGATED ON); with the db the stream last SELECTed (server.h: slaveseldb).
    pub propagated: Option<Vec<Vec<Bytes>>>,
    pub propagated_seldb: i64,
    /// used_memory right after startup (server.h: initial_memory_usage).
    pub initial_memory_usage: usize,
    /// Eviction state from evict.c: the eviction timer is installed / when memory went
    /// over the limit (microseconds, 0 when under it) / the random policies' cursor.
    pub eviction_proc_running: bool,
    pub eviction_exceeded_start_us: i64,
    pub eviction_next_db: usize,
    /// The Lua interpreter and script cache (eval.c: lctx).
    pub lctx: crate::eval::LuaCtx,
    /// Function libraries and their Lua engine (functions.c: curr_functions_lib_ctx).
    pub functions: crate::functions::FunctionsCtx,
    /// The event loop is being turned from inside a command (networking.c:
    /// ProcessingEventsWhileBlocked): before_sleep does I/O only.
    pub processing_events_while_blocked: bool,
    // ANCHOR: server_persistence_fields
    /// The one fork child alive (an RDB save or an AOF rewrite), -1 when none
    /// (server.h: child_pid).
    pub child_pid: libc::pid_t,
    /// What that child does (server.h: child_type).
    pub child_type: ChildType,
    /// In a fork child, what it was forked for (server.h: in_fork_child).
    pub in_fork_child: ChildType,
    /// `dirty` when the last BGSAVE started: what a successful save can subtract.
    pub dirty_before_bgsave: u64,
    /// Unix time of the last successful save (server.h: lastsave).
    pub lastsave: i64,
    /// Unix time of the last BGSAVE attempt (server.h: lastbgsave_try).
    pub lastbgsave_try: i64,
    /// Did the last background save succeed (server.h: lastbgsave_status == C_OK).
    pub lastbgsave_status_ok: bool,
    /// Seconds the last BGSAVE took, -1 before any (server.h: rdb_save_time_last).
    pub rdb_save_time_last: i64,
    /// Unix time the current BGSAVE started, -1 when none (rdb_save_time_start).
    pub rdb_save_time_start: i64,
    /// BGSAVE SCHEDULE asked for a save once the running child ends.
    pub rdb_bgsave_scheduled: bool,
    /// What the last load found (server.h: rdb_last_load_keys_loaded/_expired).
    pub rdb_last_load_keys_loaded: u64,
    pub rdb_last_load_keys_expired: u64,
    /// Saves started (server.h: stat_rdb_saves).
    pub stat_rdb_saves: u64,
    /// Microseconds the last fork took, and how many forks so far.
    pub stat_fork_time: i64,
    pub stat_total_forks: u64,
    /// Loading a data file right now (server.h: loading): keys do not expire and
    /// nothing is propagated meanwhile.
    pub loading: bool,
    /// Progress of the load in course, for INFO (server.h: loading_start_time,
    /// loading_total_bytes, loading_rdb_used_mem, loading_loaded_bytes).
    pub loading_start_time: i64,
    pub loading_total_bytes: u64,
    pub loading_rdb_used_mem: u64,
    pub loading_loaded_bytes: u64,
    /// The pipe a fork child reports through (server.h: child_info_pipe).
    pub child_info_pipe: [libc::c_int; 2],
    /// Copy-on-write bytes: the running child's, and the last RDB and AOF children's.
    pub stat_current_cow_peak: u64,
    pub stat_current_cow_bytes: u64,
    pub stat_rdb_cow_bytes: u64,
    pub stat_aof_cow_bytes: u64,
    // ANCHOR_END: server_persistence_fields
    /// The append-only file's state (server.h: the aof_* fields; aof.rs).
    pub aof: crate::aof::AofState,
    inst_ops: InstMetric,
    inst_in: InstMetric,
    inst_out: InstMetric,
}

/// server.h: CHILD_TYPE_* (what a fork child is for)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildType {
    None,
    Rdb,
    Aof,
}

/// server.h: SERVER_CHILD_NOERROR_RETVAL (a child that stopped on request, not failed)
pub const SERVER_CHILD_NOERROR_RETVAL: i32 = 255;
/// server.h: CONFIG_BGSAVE_RETRY_DELAY (seconds before a failed save point retries)
pub const CONFIG_BGSAVE_RETRY_DELAY: i64 = 5;

/// A moving average sampled in serverCron (server.c: trackInstantaneousMetric).
#[derive(Default)]
struct InstMetric {
    samples: [f64; 16],
    idx: usize,
    last_sample_time: i64,
    last_sample_count: u64,
}

impl InstMetric {
    fn track(&mut self, count: u64, now_ms: i64) {
        let t = now_ms - self.last_sample_time;
        let ops = count.saturating_sub(self.last_sample_count);
        let per_sec = if t > 0 {
            ops as f64 * 1000.0 / t as f64
        } else {
            0.0
        };
        self.samples[self.idx] = per_sec;
        self.idx = (self.idx + 1) % self.samples.len();
        self.last_sample_time = now_ms;
        self.last_sample_count = count;
    }
    fn get(&self) -> f64 {
        self.samples.iter().sum::<f64>() / self.samples.len() as f64
    }
}

/// Log a line in Redis's format: `pid:M dd Mon yyyy hh:mm:ss.mmm * message`.
#[macro_export]
macro_rules! server_log {
    ($s:expr, $level:expr, $($arg:tt)*) => {
        if $level >= $s.verbosity {
            $crate::server::server_log_raw($level, &format!($($arg)*));
        }
    };
}

/// server.c: serverLogRaw
///
/// Every log line goes through `tracing`, so RUST_LOG can widen or narrow it; the
/// formatter in main.rs prints it the way Redis does.
pub fn server_log_raw(level: u8, msg: &str) {
    if crate::log::in_fork_child() {
        crate::log::child_log_raw(level, msg);
        return;
    }
    match level {
        LL_DEBUG => tracing::trace!(target: "ferredis::log", "{}", msg),
        LL_VERBOSE => tracing::debug!(target: "ferredis::log", "{}", msg),
        LL_NOTICE => tracing::info!(target: "ferredis::log", "{}", msg),
        _ => tracing::warn!(target: "ferredis::log", "{}", msg),
    }
}

impl Server {
    /// server.c: initServerConfig + initServer
    pub fn new(config: Config) -> io::Result<Server> {
        let commands = CommandTable::new();
        let stats_len = commands.stats_len();
        let now = util::ustime();
        let config_appendonly = config.appendonly;
        let mut s = Server {
            el: EventLoop::new(config.maxclients as usize + 128)?,
            db: (0..config.databases).map(Db::new).collect(),
            verbosity: config.loglevel,
            hz: config.hz,
            config,
            listeners: Vec::new(),
            listen_addrs: Vec::new(),
            clients: Vec::new(),
            free_tokens: Vec::new(),
            nclients: 0,
            // Redis 7.0 creates two internal clients at startup (the Lua scripting client
            // and the function engine's), ids 1 and 2, so the first connection gets 3.
            // When the scripting stage creates those clients, they take these ids instead.
            next_client_id: 3,
            current_client: None,
            clients_pending_write: Vec::new(),
            clients_to_close: Vec::new(),
            postponed_clients: Vec::new(),
            client_pause_type: PauseType::Off,
            client_pause_end_time: 0,
            bstate: Default::default(),
            commands,
            command_stats: vec![CommandStats::default(); stats_len],
            command_filters: Vec::new(),
            errors: BTreeMap::new(),
            slowlog: SlowLog::default(),
            ustime: now,
            mstime: now / 1000,
            unixtime: now / 1_000_000,
            start_time: now / 1_000_000,
            cronloops: 0,
            run_id: util::get_random_hex_chars(40),
            dirty: 0,
            shutdown_asap: false,
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            io_threads: crate::io_threads::IoThreads::init(1, false),
            clients_pending_read: Vec::new(),
            stat_io_reads_processed: 0,
            stat_io_writes_processed: 0,
            main_thread: std::thread::current().id(),
            _not_send: std::marker::PhantomData,
            stat_numcommands: 0,
            stat_numconnections: 0,
            stat_rejected_conn: 0,
            stat_net_input_bytes: 0,
            stat_net_output_bytes: 0,
            stat_total_error_replies: 0,
            stat_unexpected_error_replies: 0,
            stat_total_reads_processed: 0,
            stat_total_writes_processed: 0,
            stat_keyspace_hits: 0,
            stat_keyspace_misses: 0,
            stat_expiredkeys: 0,
            stat_evictedclients: 0,
            stat_client_qbuf_limit_disconnections: 0,
            lruclock: crate::evict::get_lru_clock(),
            stat_evictedkeys: 0,
            stat_expired_stale_perc: 0.0,
            stat_expired_time_cap_reached_count: 0,
            stat_expire_cycle_time_used: 0,
            stat_total_eviction_exceeded_time: 0,
            stat_last_eviction_exceeded_time: 0,
            active_expire_enabled: true,
            expire_cycle: Default::default(),
            eviction_pool: crate::evict::eviction_pool_alloc(),
            also_propagate: Vec::new(),
            propagate_argv: None,
            force_propagation: false,
            in_exec: false,
            in_nested_call: 0,
            prev_err_count: 0,
            pending_dirty_cas: Vec::new(),
            pubsub: Default::default(),
            monitors: Vec::new(),
            clients_index: std::collections::HashMap::new(),
            tracking: Default::default(),
            propagated: None,
            propagated_seldb: -1,
            initial_memory_usage: 0,
            eviction_proc_running: false,
            eviction_exceeded_start_us: 0,
            eviction_next_db: 0,
            lctx: crate::eval::LuaCtx::new(now / 1000),
            functions: crate::functions::FunctionsCtx::new(now / 1000),
            processing_events_while_blocked: false,
            child_pid: -1,
            child_type: ChildType::None,
            in_fork_child: ChildType::None,
            dirty_before_bgsave: 0,
            lastsave: now / 1_000_000,
            lastbgsave_try: 0,
            lastbgsave_status_ok: true,
            rdb_save_time_last: -1,
            rdb_save_time_start: -1,
            rdb_bgsave_scheduled: false,
            rdb_last_load_keys_loaded: 0,
            rdb_last_load_keys_expired: 0,
            stat_rdb_saves: 0,
            stat_fork_time: 0,
            stat_total_forks: 0,
            loading: false,
            loading_start_time: 0,
            loading_total_bytes: 0,
            loading_rdb_used_mem: 0,
            loading_loaded_bytes: 0,
            aof: crate::aof::AofState::new(config_appendonly),
            child_info_pipe: [-1, -1],
            stat_current_cow_peak: 0,
            stat_current_cow_bytes: 0,
            stat_rdb_cow_bytes: 0,
            stat_aof_cow_bytes: 0,
            inst_ops: InstMetric::default(),
            inst_in: InstMetric::default(),
            inst_out: InstMetric::default(),
        };
        s.listen_to_port()?;
        s.io_threads = crate::io_threads::IoThreads::init(
            s.config.io_threads as usize,
            s.config.io_threads_always_active,
        );
        s.initial_memory_usage = crate::zmalloc::used_memory();
        s.el.create_time_event(s.mstime, 1, server_cron);
        s.el.before_sleep = Some(before_sleep);
        s.el.after_sleep = Some(after_sleep);
        Ok(s)
    }

    /// server.c: listenToPort (a leading '-' makes an address optional, as in Redis)
    fn listen_to_port(&mut self) -> io::Result<()> {
        let binds = self.config.bind.clone();
        for b in binds {
            let (optional, addr) = match b.strip_prefix('-') {
                Some(a) => (true, a.to_string()),
                None => (false, b.clone()),
            };
            let sa = bind_address(&addr, self.config.port)?;
            match bind_listener(sa, self.config.tcp_backlog as i32) {
                Ok(mut l) => {
                    let token = Token(self.listeners.len());
                    self.el.create_file_event(
                        &mut l,
                        token,
                        AE_READABLE,
                        networking::accept_tcp_handler,
                    )?;
                    self.listen_addrs.push(l.local_addr()?);
                    self.listeners.push(l);
                    self.clients.push(None);
                }
                Err(e) if optional && e.kind() != io::ErrorKind::AddrInUse => {
                    server_log!(
                        self,
                        LL_WARNING,
                        "Warning: Could not create server TCP listening socket {}: {}",
                        sa,
                        e
                    );
                }
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("Could not create server TCP listening socket {}: {}", sa, e),
                    ))
                }
            }
        }
        if self.listeners.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "no listening socket",
            ));
        }
        Ok(())
    }

    pub fn listener_index(&self, token: Token) -> usize {
        token.0
    }

    pub fn alloc_client_token(&mut self) -> Token {
        self.nclients += 1;
        if let Some(t) = self.free_tokens.pop() {
            Token(t)
        } else {
            self.clients.push(None);
            Token(self.clients.len() - 1)
        }
    }

    pub fn release_client_token(&mut self, token: Token) {
        self.nclients -= 1;
        self.free_tokens.push(token.0);
    }

    pub fn connected_clients(&self) -> usize {
        self.nclients
    }

    /// Take a client out of the table while it is being served.
    #[inline]
    pub fn take_client(&mut self, token: Token) -> Option<Box<Client>> {
        if token.0 < self.listeners.len() {
            return None;
        }
        self.clients.get_mut(token.0).and_then(|c| c.take())
    }

    /// Put a client back after serving it, and queue its replies for writing.
    #[inline]
    pub fn put_client(&mut self, mut c: Box<Client>) {
        if !self.pending_dirty_cas.is_empty() {
            crate::multi::apply_pending_dirty_cas(self, &mut c);
        }
        if !self.pubsub.pending.is_empty() {
            crate::pubsub::deliver_pending(self, &mut c);
        }
        networking::queue_if_pending_write(self, &mut c);
        let idx = c.token.0;
        self.clients[idx] = Some(c);
    }

    /// Every connected client except the one being served.
    pub fn other_clients(&self) -> impl Iterator<Item = &Client> {
        self.clients.iter().filter_map(|c| c.as_deref())
    }

    /// networking.c: lookupClientByID (the token; the client may be out being served)
    pub fn lookup_client_by_id(&self, id: u64) -> Option<Token> {
        self.clients_index.get(&id).copied()
    }

    pub fn on_client_freed(&mut self, c: &Client) {
        self.release_client_token(c.token);
    }

    /// acl.c: authRequired
    #[inline]
    pub fn auth_required(&self, c: &Client) -> bool {
        self.config.requirepass.is_some() && !c.authenticated
    }

    /// server.c: incrementErrorCount
    pub fn increment_error_count(&mut self, code: &[u8]) {
        if let Some(n) = self.errors.get_mut(code) {
            *n += 1;
            return;
        }
        // Redis stops tracking new error codes past 128 of them.
        if self.errors.len() >= 128 {
            return;
        }
        self.errors.insert(code.to_vec(), 1);
    }

    /// server.c: resetServerStats (and resetCommandTableStats, resetErrorTableStats)
    pub fn reset_server_stats(&mut self) {
        for st in self.command_stats.iter_mut() {
            *st = CommandStats::default();
        }
        self.errors.clear();
        self.stat_numcommands = 0;
        self.stat_numconnections = 0;
        self.stat_rejected_conn = 0;
        self.stat_net_input_bytes = 0;
        self.stat_net_output_bytes = 0;
        self.stat_total_error_replies = 0;
        self.stat_unexpected_error_replies = 0;
        self.stat_total_reads_processed = 0;
        self.stat_total_writes_processed = 0;
        self.stat_keyspace_hits = 0;
        self.stat_keyspace_misses = 0;
        self.stat_expiredkeys = 0;
        self.stat_evictedclients = 0;
        self.stat_evictedkeys = 0;
        self.stat_expired_stale_perc = 0.0;
        self.stat_expired_time_cap_reached_count = 0;
        self.stat_expire_cycle_time_used = 0;
        self.stat_total_eviction_exceeded_time = 0;
    }

    /// Apply what CONFIG SET changed (the `apply` functions of config.c).
    pub fn apply_config_changes(&mut self, before: &Config) -> Result<(), (String, String)> {
        self.verbosity = self.config.loglevel;
        self.hz = self.config.hz;
        if self.config.port != before.port || self.config.bind != before.bind {
            let old_listeners = std::mem::take(&mut self.listeners);
            let old_addrs = std::mem::take(&mut self.listen_addrs);
            let nlisteners = old_listeners.len();
            // Listener tokens are the first slots; rebinding keeps the same count or
            // fails, so client tokens never collide with them.
            match self.rebind(nlisteners) {
                Ok(()) => {
                    for mut l in old_listeners {
                        let _ = self.el.delete_file_event(&mut l, Token(0), AE_READABLE);
                    }
                }
                Err(e) => {
                    self.listeners = old_listeners;
                    self.listen_addrs = old_addrs;
                    let name = if self.config.port != before.port {
                        "port"
                    } else {
                        "bind"
                    };
                    return Err((name.into(), e.to_string()));
                }
            }
        }
        if self.config.appendonly != before.appendonly {
            crate::aof::update_appendonly(self).map_err(|e| ("appendonly".to_string(), e))?;
        }
        // config.c: updateAofAutoGCEnabled: history kept while GC was off goes now.
        if before.aof_disable_auto_gc && !self.config.aof_disable_auto_gc {
            crate::aof::aof_del_history_files(self);
        }
        Ok(())
    }

    fn rebind(&mut self, slots: usize) -> io::Result<()> {
        let mut new = Vec::new();
        for b in &self.config.bind {
            let sa = bind_address(b.trim_start_matches('-'), self.config.port)?;
            match bind_listener(sa, self.config.tcp_backlog as i32) {
                Ok(l) => new.push(l),
                Err(_) if b.starts_with('-') => {}
                Err(e) => return Err(e),
            }
        }
        if new.is_empty() || new.len() > slots {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Unable to listen on this port",
            ));
        }
        for (i, mut l) in new.into_iter().enumerate() {
            self.el.create_file_event(
                &mut l,
                Token(i),
                AE_READABLE,
                networking::accept_tcp_handler,
            )?;
            self.listen_addrs.push(l.local_addr()?);
            self.listeners.push(l);
        }
        Ok(())
    }

    /// evict.c: LRU_CLOCK (the cached clock, refreshed hz times a second, is precise
    /// enough at 1 s resolution unless hz is below 1)
    #[inline]
    pub fn lru_clock(&self) -> u32 {
        if 1000 / self.hz.max(1) <= crate::object::LRU_CLOCK_RESOLUTION {
            self.lruclock
        } else {
            crate::evict::get_lru_clock()
        }
    }

    /// server.h: server.maxmemory_policy & MAXMEMORY_FLAG_LFU
    #[inline]
    pub fn maxmemory_policy_is_lfu(&self) -> bool {
        self.config.maxmemory_policy & crate::evict::MAXMEMORY_FLAG_LFU != 0
    }

    /// object.c: the shared-integer test of tryObjectEncoding: with maxmemory and an
    /// LRU/LFU policy every value needs its own access time.
    #[inline]
    pub fn maxmemory_no_shared_integers(&self) -> bool {
        self.config.maxmemory != 0
            && self.config.maxmemory_policy & crate::evict::MAXMEMORY_FLAG_NO_SHARED_INTEGERS != 0
    }

    /// server.c: updateCachedTime
    #[inline]
    pub fn update_cached_time(&mut self) {
        // A running script sees one instant, as do the commands it calls.
        if self.lctx.script_running {
            return;
        }
        self.ustime = util::ustime();
        self.mstime = self.ustime / 1000;
        self.unixtime = self.mstime / 1000;
    }
}

/// One `bind` entry as a socket address: "*" is every IPv4 address, and an IPv6
/// address gets its brackets.
fn bind_address(addr: &str, port: u16) -> io::Result<SocketAddr> {
    let addr = if addr == "*" { "0.0.0.0" } else { addr };
    let text = if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    };
    text.parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}")))
}

/// anet.c: anetTcpServer (SO_REUSEADDR, IPV6_V6ONLY, backlog)
fn bind_listener(sa: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    // mio's bind uses a fixed backlog; that is close enough to tcp-backlog 511.
    let _ = backlog;
    TcpListener::bind(sa)
}

// ANCHOR: process_command
/// server.c: processCommand
///
/// The checks run in Redis 7.0's order; a command that passes them all is executed by
/// `call` to completion before this client's next command is even parsed.
pub fn process_command(s: &mut Server, c: &mut Client) -> bool {
    let _span = debug_span!("process_command", client = c.id).entered();
    call_command_filters(s, c);
    if c.argv.is_empty() {
        return true;
    }
    // A browser or HTTP client talking to Redis: drop it without a reply.
    if c.argv[0].eq_ignore_ascii_case(b"host:") || c.argv[0].eq_ignore_ascii_case(b"post") {
        security_warning_command(s, c);
        return false;
    }
    let cmd = s.commands.lookup_command(&c.argv);
    c.cmd = cmd;
    if cmd.is_some() {
        c.lastcmd = cmd;
    }
    let Some(cmd) = cmd else {
        let err = command_check_existence_error(s, c);
        reject_command(s, c, &err);
        return true;
    };
    if !command_check_arity(cmd, c.argv.len()) {
        let err = format!("wrong number of arguments for '{}' command", cmd.fullname);
        reject_command(s, c, &err);
        return true;
    }
    if cmd.flags & CMD_PROTECTED != 0
        && cmd.declared_name == "debug"
        && !allow_protected_action(s.config.enable_debug_command, c)
    {
        reject_command(
            s,
            c,
            "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
        );
        return true;
    }
    if s.auth_required(c) && cmd.flags & CMD_NO_AUTH == 0 {
        reject_command(s, c, shared::NOAUTHERR);
        return true;
    }
    let in_multi = c.flags & CLIENT_MULTI != 0;
    // ANCHOR: process_command_pubsub_context
    // A RESP2 connection in subscribed mode carries pushes; only the commands that
    // manage subscriptions (and PING, QUIT, RESET) may share it.
    if c.flags & CLIENT_PUBSUB != 0
        && c.resp == 2
        && !matches!(
            cmd.declared_name,
            "ping"
                | "subscribe"
                | "ssubscribe"
                | "unsubscribe"
                | "sunsubscribe"
                | "psubscribe"
                | "punsubscribe"
                | "quit"
                | "reset"
        )
    {
        let err = format!(
            "Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            cmd.fullname
        );
        reject_command(s, c, err);
        return true;
    }
    // ANCHOR_END: process_command_pubsub_context
    if in_multi && cmd.flags & crate::commands::CMD_NO_MULTI != 0 {
        reject_command(s, c, "Command not allowed inside a transaction");
        return true;
    }
    // EXEC is as much a write (or deny-oom) command as the commands it will run.
    let is_exec = cmd.declared_name == "exec";
    // A script's shebang flags stand in for EVAL's own (server.c: getCommandFlags).
    let cmd_flags = get_command_flags(s, c, cmd)
        | if is_exec {
            multi::exec_borrowed_flags(c)
        } else {
            0
        };
    // The transaction commands themselves always run; everything else is queued.
    let is_transaction_control = matches!(
        cmd.declared_name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    );
    // ANCHOR: process_command_oom
    // Free memory before a command that may need it; refuse it when that fails.
    // No eviction while a busy script is still running: it sees the data it started with.
    if s.config.maxmemory > 0 && !s.lctx.script_timedout {
        let out_of_memory = crate::evict::perform_evictions(s) == crate::evict::EVICT_FAIL;
        let mut reject_cmd_on_oom = cmd_flags & crate::commands::CMD_DENYOOM != 0;
        // Queueing can use unbounded memory, so in MULTI everything is refused but
        // the commands that end the transaction (or the connection).
        if in_multi && !matches!(cmd.declared_name, "exec" | "discard" | "quit" | "reset") {
            reject_cmd_on_oom = true;
        }
        if out_of_memory && reject_cmd_on_oom {
            reject_command(
                s,
                c,
                "-OOM command not allowed when used memory > 'maxmemory'.",
            );
            return true;
        }
    }
    // ANCHOR_END: process_command_oom
    // Keep the client-side caching table under tracking-table-max-keys.
    if s.tracking.clients > 0 {
        crate::tracking::tracking_limit_used_slots(s);
    }
    // ANCHOR: process_command_misconf
    // Persistence is failing: refuse what would change data we cannot save (and
    // PING, so a health check notices).
    let is_write_command = cmd_flags & CMD_WRITE != 0;
    if (is_write_command || cmd.declared_name == "ping")
        && write_commands_denied_by_disk_error(s) != DiskErrorType::None
    {
        let err = write_commands_get_disk_error_message(s, write_commands_denied_by_disk_error(s));
        reject_command(s, c, &err);
        return true;
    }
    // ANCHOR_END: process_command_misconf
    // ANCHOR: process_command_loading
    // The loop turns while a data file loads; only commands flagged `loading` (INFO,
    // PING is not one) may see the half-loaded server.
    let is_denyloading_command = cmd_flags & crate::commands::CMD_LOADING == 0
        || (is_exec && c.mstate.cmd_inv_flags & crate::commands::CMD_LOADING != 0);
    if s.loading && is_denyloading_command {
        reject_command(s, c, shared::LOADINGERR);
        return true;
    }
    // ANCHOR_END: process_command_loading
    // A script past busy-reply-threshold lets the loop turn, but only commands flagged
    // allow-busy (SCRIPT KILL, SHUTDOWN NOSAVE, ...) may run meanwhile.
    if s.lctx.script_timedout && cmd.flags & crate::commands::CMD_ALLOW_BUSY == 0 {
        // SAFETY: a timed-out script's context is alive until the script ends.
        let is_eval = unsafe { s.lctx.curr_run_ctx.as_ref() }
            .is_none_or(|r| r.flags & crate::script::SCRIPT_EVAL_MODE != 0);
        let err = if is_eval {
            crate::functions::SLOWEVALERR
        } else {
            "-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
        };
        reject_command(s, c, err);
        return true;
    }
    // A replica (or a MONITOR client) may not reach the keyspace.
    if c.flags & networking::CLIENT_SLAVE != 0
        && cmd_flags & (CMD_WRITE | crate::commands::CMD_MAY_REPLICATE | CMD_READONLY) != 0
    {
        reject_command(s, c, "Replica can't interact with the keyspace");
        return true;
    }
    // CLIENT PAUSE: hold the client until the pause ends (blockClient BLOCKED_POSTPONE).
    let may_write = cmd_flags & (CMD_WRITE | crate::commands::CMD_MAY_REPLICATE) != 0;
    if s.client_pause_type == PauseType::All
        || (s.client_pause_type == PauseType::Write && may_write)
    {
        crate::blocked::block_client(s, c, crate::blocked::BlockedType::Postpone);
        return true;
    }
    // ANCHOR: process_command_queue
    if in_multi && !is_transaction_control {
        multi::queue_multi_command(c, cmd_flags);
        c.add_reply(shared::QUEUED);
        return true;
    }
    // ANCHOR_END: process_command_queue
    call(s, c, CMD_CALL_FULL);
    // Waiters on keys this command made ready are served now, before any other
    // client's command: they see the whole effect of this one.
    if !s.bstate.ready_keys.is_empty() {
        crate::blocked::handle_clients_blocked_on_keys(s);
    }
    true
}
// ANCHOR_END: process_command

/// server.c: getCommandFlags
fn get_command_flags(s: &Server, c: &Client, cmd: &RedisCommand) -> u64 {
    match cmd.fullname {
        "eval" | "eval_ro" => crate::eval::eval_get_command_flags(s, &c.argv, false, cmd.flags),
        "evalsha" | "evalsha_ro" => {
            crate::eval::eval_get_command_flags(s, &c.argv, true, cmd.flags)
        }
        "fcall" | "fcall_ro" => crate::functions::fcall_get_command_flags(s, &c.argv, cmd.flags),
        _ => cmd.flags,
    }
}

/// module.c: moduleCallCommandFilters
///
/// Filters may rewrite argv before anything else looks at it.
fn call_command_filters(s: &mut Server, c: &mut Client) {
    for i in 0..s.command_filters.len() {
        (s.command_filters[i])(&mut c.argv);
    }
}

/// server.c: commandCheckArity
#[inline]
fn command_check_arity(cmd: &RedisCommand, argc: usize) -> bool {
    let argc = argc as i32;
    !((cmd.arity > 0 && cmd.arity != argc) || argc < -cmd.arity)
}

/// server.c: commandCheckExistence (the error text)
///
/// Built from raw bytes, as Redis's printf does: arguments are quoted as C strings, so
/// each stops at its first NUL byte and at `%.128s`'s 128 bytes; any other byte, valid
/// UTF-8 or not, is sent as is.
fn command_check_existence_error(s: &Server, c: &Client) -> Vec<u8> {
    let trunc = |b: &[u8], n: usize| -> Vec<u8> {
        let b = &b[..b.iter().position(|&x| x == 0).unwrap_or(b.len())];
        b[..b.len().min(n)].to_vec()
    };
    let is_container = c.argv.len() > 1
        && s.commands
            .lookup_base(&c.argv[0])
            .map(|b| b.is_container())
            .unwrap_or(false);
    let mut msg = Vec::new();
    if is_container {
        msg.extend_from_slice(b"unknown subcommand '");
        msg.extend_from_slice(&trunc(&c.argv[1], 128));
        msg.extend_from_slice(b"'. Try ");
        msg.extend_from_slice(&c.argv[0].to_ascii_uppercase());
        msg.extend_from_slice(b" HELP.");
    } else {
        let mut args = Vec::new();
        for a in &c.argv[1..] {
            if args.len() >= 128 {
                break;
            }
            let room = 128 - args.len();
            args.push(b'\'');
            args.extend_from_slice(&trunc(a, room));
            args.extend_from_slice(b"' ");
        }
        msg.extend_from_slice(b"unknown command '");
        msg.extend_from_slice(&trunc(&c.argv[0], 128));
        msg.extend_from_slice(b"', with args beginning with: ");
        msg.extend_from_slice(&args);
    }
    for b in msg.iter_mut() {
        if *b == b'\r' || *b == b'\n' {
            *b = b' ';
        }
    }
    msg
}

/// server.c: allowProtectedAction
pub fn allow_protected_action(config: u8, c: &Client) -> bool {
    config == PROTECTED_ACTION_ALLOWED_YES
        || (config == PROTECTED_ACTION_ALLOWED_LOCAL
            && (c.peer.starts_with("127.") || c.peer.starts_with("::1")))
}

/// server.c: rejectCommand / rejectCommandFormat
pub fn reject_command(s: &mut Server, c: &mut Client, err: impl AsRef<[u8]>) {
    multi::flag_transaction(c);
    if let Some(cmd) = c.cmd {
        s.command_stats[cmd.id].rejected_calls += 1;
    }
    // Bytes, not str: an unknown command's error quotes the client's raw bytes.
    let mut err = err.as_ref();
    if err.starts_with(b"-") {
        err = err.strip_suffix(b"\r\n").unwrap_or(err);
    }
    if c.cmd.is_some_and(|cmd| cmd.declared_name == "exec") {
        multi::exec_command_abort(s, c, err);
        return;
    }
    crate::resp::add_reply_error_length(s, c, err);
}

/// networking.c: securityWarningCommand
fn security_warning_command(s: &mut Server, c: &mut Client) {
    server_log!(
        s,
        LL_WARNING,
        "Possible SECURITY ATTACK detected. It looks like somebody is sending POST or Host: commands to Redis. This is likely due to an attacker attempting to use Cross Protocol Scripting to compromise your Redis instance. Connection from {} aborted.",
        c.peer
    );
    networking::free_client_async(s, c);
}

// ANCHOR: call
/// server.c: call
///
/// The only place a command's proc runs. It runs to completion, on the main thread,
/// with the whole server borrowed mutably: no other command can interleave with it.
pub fn call(s: &mut Server, c: &mut Client, flags: u32) {
    let cmd = c.cmd.expect("call() needs a looked-up command");
    // A command may ask not to be propagated as itself (EVAL); that request lasts
    // for this call only, as call() can be nested.
    let client_old_flags = c.flags;
    c.flags &= !networking::CLIENT_PREVENT_PROP;
    // Commands run on the main thread only; I/O threads never get here.
    #[cfg(debug_assertions)]
    crate::io_threads::assert_main_thread(s);
    let _span = debug_span!("call", client = c.id, cmd = cmd.fullname).entered();
    s.prev_err_count = s.stat_total_error_replies;
    let dirty_before = s.dirty;
    let start = std::time::Instant::now();
    // Commands see one instant (Redis's commandTimeSnapshot); the commands EXEC or a
    // script runs see the instant of the outermost one.
    if s.in_nested_call == 0 {
        s.update_cached_time();
    }
    s.in_nested_call += 1;
    (cmd.proc_.expect("container commands never reach call()"))(s, c);
    s.in_nested_call -= 1;
    let duration = start.elapsed().as_micros() as u64;
    // Only this command's own errors count: EXEC's inner commands moved the mark.
    let failed = s.stat_total_error_replies > s.prev_err_count;
    s.prev_err_count = s.stat_total_error_replies;
    // A command that changed the dataset is propagated, after whatever it asked to
    // propagate itself (deletions of keys it found expired, for one). EXEC never is:
    // its commands were, one by one, and the outermost call wraps them.
    // SAVE resets `dirty` to 0: a negative change counts as none.
    let dirty = s.dirty.saturating_sub(dirty_before);
    // Ferredis has one stream for the AOF and replicas: a command goes into it unless
    // both destinations are refused, by the caller's flags or by the command.
    let mut to_aof =
        flags & CMD_CALL_PROPAGATE_AOF != 0 && c.flags & networking::CLIENT_PREVENT_AOF_PROP == 0;
    let mut to_repl =
        flags & CMD_CALL_PROPAGATE_REPL != 0 && c.flags & networking::CLIENT_PREVENT_REPL_PROP == 0;
    if dirty == 0 && !s.force_propagation {
        to_aof = false;
        to_repl = false;
    }
    if (to_aof || to_repl)
        && cmd.flags & crate::commands::CMD_MODULE == 0
        && cmd.declared_name != "exec"
    {
        let argv = s.propagate_argv.take();
        if should_propagate(s) {
            let argv = argv.unwrap_or_else(|| c.argv.clone());
            s.also_propagate.push(RedisOp { dbid: c.db, argv });
        }
    }
    s.propagate_argv = None;
    s.force_propagation = false;
    c.flags &= !networking::CLIENT_PREVENT_PROP;
    c.flags |= client_old_flags & networking::CLIENT_PREVENT_PROP;
    trace!(usec = duration, "executed");
    // A tracking client may now cache what a read-only command read.
    if cmd.flags & CMD_READONLY != 0
        && !matches!(cmd.declared_name, "eval_ro" | "evalsha_ro" | "fcall_ro")
        && crate::tracking::wants_keys_remembered(c)
    {
        crate::tracking::tracking_remember_keys(s, c);
    }
    // Administrative commands are too sensitive to show to MONITOR clients.
    if !s.monitors.is_empty() && cmd.flags & (CMD_SKIP_MONITOR | CMD_ADMIN) == 0 {
        let argv = c.original_argv.clone().unwrap_or_else(|| c.argv.clone());
        crate::replication::replication_feed_monitors(s, c, c.db, &argv);
    }
    if flags & CMD_CALL_SLOWLOG != 0 && cmd.flags & CMD_SKIP_SLOWLOG == 0 {
        crate::slowlog::slowlog_push_entry_if_needed(s, c, duration as i64);
    }
    let st = &mut s.command_stats[cmd.id];
    if flags & CMD_CALL_STATS != 0 {
        st.calls += 1;
        st.microseconds += duration;
    }
    if failed {
        st.failed_calls += 1;
    }
    s.stat_numcommands += 1;
    // server.c: afterCommand. At the outermost call what the command (and any
    // commands it ran) produced is propagated, as one transaction if several.
    if s.in_nested_call == 0 {
        propagate_pending_commands(s);
        // After the reply, so a client is told of its own change after the answer.
        if !s.tracking.pending_keys.is_empty() {
            crate::tracking::tracking_handle_pending_key_invalidations(s, c);
        }
        if !s.pending_dirty_cas.is_empty() {
            multi::apply_pending_dirty_cas(s, c);
        }
        if !s.pubsub.pending.is_empty() {
            crate::pubsub::deliver_pending(s, c);
        }
    }
}
// ANCHOR_END: call

// ANCHOR: propagate_pending_commands
/// server.c: propagatePendingCommands
///
/// Hands the operations the last command (or cron job) produced to the AOF (and
/// the `DEBUG PROPAGATED` test log, where replicas will listen), wrapped in
/// MULTI/EXEC when there are several so they are replayed atomically.
pub fn propagate_pending_commands(s: &mut Server) {
    if s.also_propagate.is_empty() {
        return;
    }
    let ops = std::mem::take(&mut s.also_propagate);
    let transaction = ops.len() > 1;
    let first_db = ops[0].dbid;
    let last_db = ops[ops.len() - 1].dbid;
    // MULTI takes the first command's db so its SELECT comes before it; EXEC the
    // last one's so that no SELECT is injected before it.
    if transaction {
        propagate_now(s, first_db, vec![Bytes::from_static(b"MULTI")]);
    }
    for op in ops {
        propagate_now(s, op.dbid, op.argv);
    }
    if transaction {
        propagate_now(s, last_db, vec![Bytes::from_static(b"EXEC")]);
    }
}
// ANCHOR_END: propagate_pending_commands

/// server.c: shouldPropagate
///
/// Nothing is propagated while loading; the AOF listens when it is on, the test
/// log when DEBUG PROPAGATED asked for it.
pub fn should_propagate(s: &Server) -> bool {
    !s.loading && (s.aof.state != crate::aof::AOF_OFF || s.propagated.is_some())
}

// ANCHOR: propagate_now
/// server.c: propagateNow
pub fn propagate_now(s: &mut Server, dbid: usize, argv: Vec<Bytes>) {
    if !should_propagate(s) {
        return;
    }
    if s.aof.state != crate::aof::AOF_OFF {
        crate::aof::feed_append_only_file(s, dbid, &argv);
    }
    if let Some(log) = s.propagated.as_mut() {
        // The test log stands where replicationFeedSlaves will: SELECT when the
        // stream's db changes.
        if s.propagated_seldb != dbid as i64 {
            log.push(vec![
                Bytes::from_static(b"SELECT"),
                Bytes::from(dbid.to_string()),
            ]);
            s.propagated_seldb = dbid as i64;
        }
        log.push(argv);
        // Keep the recording bounded: a test reads a few hundred entries at most.
        if log.len() > 100_000 {
            log.drain(..50_000);
        }
    }
}
// ANCHOR_END: propagate_now

/// server.c: alsoPropagate
pub fn also_propagate(s: &mut Server, dbid: usize, argv: Vec<Bytes>) {
    if !should_propagate(s) {
        return;
    }
    s.also_propagate.push(RedisOp { dbid, argv });
}

/// networking.c: processCommandAndResetClient
///
/// Returns false if the client must not be touched any more.
pub fn process_command_and_reset_client(s: &mut Server, c: &mut Client) -> bool {
    let old = s.current_client.replace(c.id);
    if process_command(s, c) {
        command_processed(c);
    } else {
        c.reset();
    }
    // Redis checks the limit as replies are appended; once per command is enough
    // to stop a client that pipelines requests but never reads the answers.
    if c.reply_bytes > 0 {
        networking::close_client_on_output_buffer_limit_reached(s, c);
    }
    s.current_client = old;
    true
}

/// networking.c: commandProcessed
fn command_processed(c: &mut Client) {
    // A paused client keeps its argv to run it later.
    if c.flags & CLIENT_BLOCKED != 0 {
        return;
    }
    c.reset();
}

/// networking.c: unpauseClients
///
/// Releases the clients held by CLIENT PAUSE: each is unblocked and queued, and
/// beforeSleep runs its held command, then whatever followed it in the buffer
/// (blocked.rs: process_unblocked_clients).
pub fn unpause_clients(s: &mut Server) {
    s.client_pause_type = PauseType::Off;
    s.client_pause_end_time = 0;
    let held = s.postponed_clients.clone();
    for (token, id) in held {
        let Some(mut c) = s.take_client(token) else {
            continue;
        };
        if c.id == id && c.flags & CLIENT_BLOCKED != 0 {
            crate::blocked::unblock_client(s, &mut c);
        }
        s.put_client(c);
    }
}

// ANCHOR: server_cron
/// server.c: serverCron
///
/// Runs `hz` times a second: metrics, client timeouts, the end of a CLIENT PAUSE.
pub fn server_cron(s: &mut Server, _id: i64) -> i64 {
    s.update_cached_time();
    s.cronloops += 1;
    let now = s.mstime;
    s.inst_ops.track(s.stat_numcommands, now);
    s.inst_in.track(s.stat_net_input_bytes, now);
    s.inst_out.track(s.stat_net_output_bytes, now);
    s.lruclock = crate::evict::get_lru_clock();
    crate::zmalloc::used_memory();
    clients_cron(s);
    databases_cron(s);
    if s.client_pause_type != PauseType::Off && s.client_pause_end_time <= s.mstime {
        unpause_clients(s);
    }
    // A BGREWRITEAOF asked for while another child ran starts once none does.
    crate::aof::aof_cron_scheduled_rewrite(s);
    // ANCHOR: server_cron_children
    // A child that ended is reaped here; with none alive, a save point may start one.
    if has_active_child_process(s) {
        check_children_done(s);
    } else {
        let now = s.unixtime;
        for (seconds, changes) in crate::rdb::save_params(&s.config.save) {
            // After a failed save, wait CONFIG_BGSAVE_RETRY_DELAY before retrying.
            if s.dirty >= changes
                && now - s.lastsave > seconds
                && (now - s.lastbgsave_try > CONFIG_BGSAVE_RETRY_DELAY || s.lastbgsave_status_ok)
            {
                server_log!(
                    s,
                    LL_NOTICE,
                    "{} changes in {} seconds. Saving...",
                    changes,
                    seconds
                );
                let filename = s.config.dbfilename.clone();
                let _ = crate::rdb::rdb_save_background(s, &filename);
                break;
            }
        }
        crate::aof::aof_cron_auto_rewrite(s);
    }
    // BGSAVE SCHEDULE (or a BGSAVE inside MULTI) starts once no child is alive.
    if !has_active_child_process(s)
        && s.rdb_bgsave_scheduled
        && (s.unixtime - s.lastbgsave_try > CONFIG_BGSAVE_RETRY_DELAY || s.lastbgsave_status_ok)
    {
        let filename = s.config.dbfilename.clone();
        if crate::rdb::rdb_save_background(s, &filename).is_ok() {
            s.rdb_bgsave_scheduled = false;
        }
    }
    // ANCHOR_END: server_cron_children
    crate::aof::aof_cron(s);
    check_shutdown_signal(s);
    if s.shutdown_asap {
        prepare_for_shutdown_and_exit(s);
    }
    1000 / s.hz.max(1)
}
// ANCHOR_END: server_cron

// ANCHOR: databases_cron
/// server.c: databasesCron
///
/// The slow active-expire cycle, then for up to 16 databases per run: shrink tables
/// that fell under 10% full, and give 1 ms of rehashing to one table being rehashed.
fn databases_cron(s: &mut Server) {
    if s.active_expire_enabled {
        crate::expire::active_expire_cycle(s, crate::expire::ACTIVE_EXPIRE_CYCLE_SLOW);
    }
    // No resizing or rehashing while a child shares our pages: each page touched
    // would be copied.
    if has_active_child_process(s) {
        return;
    }
    let dbs_per_call = CRON_DBS_PER_CALL.min(s.db.len());
    let n = s.db.len();
    for _ in 0..dbs_per_call {
        let id = s.expire_cycle.resize_db % n;
        crate::db::try_resize_hash_tables(&mut s.db[id]);
        s.expire_cycle.resize_db += 1;
    }
    if s.config.activerehashing {
        for _ in 0..dbs_per_call {
            let id = s.expire_cycle.rehash_db % n;
            if crate::db::incrementally_rehash(&mut s.db[id]) {
                // Used our millisecond: the next cron continues with this database.
                break;
            }
            s.expire_cycle.rehash_db += 1;
        }
    }
}
// ANCHOR_END: databases_cron

// ANCHOR: signal_handlers
/// The shutdown signal received and not yet acted on (server.h: last_sig_received
/// with shutdown_asap). A handler may only touch atomics; the cron does the rest.
static SHUTDOWN_SIGNAL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);
/// `temp-<pid>.rdb`, ready for the handler, which may not allocate.
static TEMP_RDB_PATH: std::sync::OnceLock<std::ffi::CString> = std::sync::OnceLock::new();

/// server.c: sigShutdownHandler
///
/// Schedules a shutdown (the cron saves if save points exist, then exits). A second
/// SIGINT means "now": exit at once, without saving.
extern "C" fn sig_shutdown_handler(sig: libc::c_int) {
    use std::sync::atomic::Ordering;
    if sig == libc::SIGINT && SHUTDOWN_SIGNAL.load(Ordering::Relaxed) != 0 {
        const MSG: &[u8] = b"You insist... exiting now.\n";
        // SAFETY: write, unlink and _exit are async-signal-safe.
        unsafe {
            libc::write(1, MSG.as_ptr().cast(), MSG.len());
            if let Some(p) = TEMP_RDB_PATH.get() {
                libc::unlink(p.as_ptr());
            }
            libc::_exit(1);
        }
    }
    SHUTDOWN_SIGNAL.store(sig, Ordering::Relaxed);
}

/// server.c: setupSignalHandlers (SIGTERM and SIGINT schedule a clean shutdown)
pub fn setup_signal_handlers() {
    let _ = TEMP_RDB_PATH.set(
        std::ffi::CString::new(format!("temp-{}.rdb", std::process::id())).unwrap_or_default(),
    );
    // SAFETY: installing a handler that only stores an atomic (or exits).
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = sig_shutdown_handler as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut act.sa_mask);
        libc::sigaction(libc::SIGTERM, &act, std::ptr::null_mut());
        libc::sigaction(libc::SIGINT, &act, std::ptr::null_mut());
    }
}

/// The cron's half of sigShutdownHandler: log what arrived and set shutdown_asap.
fn check_shutdown_signal(s: &mut Server) {
    let sig = SHUTDOWN_SIGNAL.load(std::sync::atomic::Ordering::Relaxed);
    if sig == 0 || s.shutdown_asap {
        return;
    }
    let msg = match sig {
        _ if s.loading => "Received shutdown signal during loading, scheduling shutdown.",
        libc::SIGINT => "Received SIGINT scheduling shutdown...",
        libc::SIGTERM => "Received SIGTERM scheduling shutdown...",
        _ => "Received shutdown signal, scheduling shutdown...",
    };
    server_log!(s, LL_WARNING, "{}", msg);
    s.shutdown_asap = true;
}
// ANCHOR_END: signal_handlers

/// server.c: genRedisInfoString, the loading_* lines of the persistence section: how
/// far the load is and a linear guess of the seconds left.
fn info_loading_progress(s: &Server) -> String {
    let mut perc = 0.0;
    let mut remaining_bytes: i64 = 1;
    let loaded = s.loading_loaded_bytes as i64;
    if s.loading_total_bytes != 0 {
        perc = loaded as f64 / s.loading_total_bytes as f64 * 100.0;
        remaining_bytes = s.loading_total_bytes as i64 - loaded;
    } else if s.loading_rdb_used_mem != 0 {
        // used-mem only estimates the file size: never claim 100%.
        perc = (loaded as f64 / s.loading_rdb_used_mem as f64 * 100.0).min(99.99);
        remaining_bytes = (s.loading_rdb_used_mem as i64 - loaded).max(1);
    }
    let elapsed = util::mstime() / 1000 - s.loading_start_time;
    // Nothing to extrapolate from in the first second: Redis says 1.
    let eta = if elapsed == 0 {
        1
    } else {
        elapsed.saturating_mul(remaining_bytes) / (loaded + 1)
    };
    format!(
        "loading_start_time:{}\r\nloading_total_bytes:{}\r\nloading_rdb_used_mem:{}\r\nloading_loaded_bytes:{}\r\nloading_loaded_perc:{:.2}\r\nloading_eta_seconds:{}\r\n",
        s.loading_start_time,
        s.loading_total_bytes,
        s.loading_rdb_used_mem,
        s.loading_loaded_bytes,
        perc,
        eta
    )
}

/// server.c: whileBlockedCron
///
/// The part of serverCron that cannot wait for a long load to end: a SIGTERM that
/// arrived meanwhile shuts the server down now (never saving: prepare_for_shutdown
/// refuses to write a half-loaded dataset).
pub fn while_blocked_cron(s: &mut Server) {
    check_shutdown_signal(s);
    if s.shutdown_asap && s.loading {
        prepare_for_shutdown_and_exit(s);
    }
}

/// server.h: DISK_ERROR_TYPE_*
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskErrorType {
    None,
    Aof,
    Rdb,
}

/// server.c: writeCommandsDeniedByDiskError
pub fn write_commands_denied_by_disk_error(s: &Server) -> DiskErrorType {
    if s.config.stop_writes_on_bgsave_error
        && !crate::rdb::save_params(&s.config.save).is_empty()
        && !s.lastbgsave_status_ok
    {
        return DiskErrorType::Rdb;
    }
    if crate::aof::aof_disk_error_errno(s).is_some() {
        return DiskErrorType::Aof;
    }
    DiskErrorType::None
}

/// server.c: writeCommandsGetDiskErrorMessage (without the trailing CRLF)
pub fn write_commands_get_disk_error_message(s: &Server, t: DiskErrorType) -> String {
    match t {
        DiskErrorType::Rdb => shared::BGSAVEERR.to_string(),
        _ => format!(
            "-MISCONF Errors writing to the AOF file: {}",
            crate::aof::strerror(crate::aof::aof_disk_error_errno(s).unwrap_or(0))
        ),
    }
}

// ANCHOR: redis_fork
/// server.c: redisFork
///
/// Forks a child for `purpose`: `Ok(0)` in the child, `Ok(pid)` in the parent. Only
/// one child at a time. The child gets a copy-on-write view of the whole process:
/// the dataset as of this instant, for free, while the parent goes on serving.
pub fn redis_fork(s: &mut Server, purpose: ChildType) -> Result<libc::pid_t, String> {
    if has_active_child_process(s) {
        return Err(io::Error::from_raw_os_error(libc::EEXIST).to_string());
    }
    crate::childinfo::open_child_info_pipe(s);
    crate::log::prepare_fork();
    let start = util::ustime();
    // SAFETY: the child only runs code that takes no lock another thread may hold
    // (logging goes through log::child_log_raw; glibc's malloc resets its locks at
    // fork), and it leaves with _exit, never unwinding into the parent's state.
    let childpid = unsafe { libc::fork() };
    if childpid == 0 {
        crate::log::set_in_fork_child();
        s.in_fork_child = purpose;
        update_dict_resize_policy(s);
        close_child_unused_resource_after_fork(s);
        // If the parent dies, the child's report fails and it exits.
        if s.child_info_pipe[0] != -1 {
            // SAFETY: closing the child's copy of the read end.
            unsafe { libc::close(s.child_info_pipe[0]) };
            s.child_info_pipe[0] = -1;
        }
        return Ok(0);
    }
    if childpid == -1 {
        let err = strerror(&io::Error::last_os_error());
        crate::childinfo::close_child_info_pipe(s);
        return Err(err);
    }
    s.stat_current_cow_peak = 0;
    s.stat_current_cow_bytes = 0;
    s.stat_total_forks += 1;
    s.stat_fork_time = util::ustime() - start;
    s.child_pid = childpid;
    s.child_type = purpose;
    update_dict_resize_policy(s);
    Ok(childpid)
}
// ANCHOR_END: redis_fork

/// An OS error as strerror() prints it (Rust adds " (os error N)").
pub fn strerror(e: &io::Error) -> String {
    let t = e.to_string();
    match t.find(" (os error ") {
        Some(i) => t[..i].to_string(),
        None => t,
    }
}

/// server.c: closeChildUnusedResourceAfterFork (the listening sockets: a child
/// that outlives its parent must not keep the port)
fn close_child_unused_resource_after_fork(s: &mut Server) {
    use std::os::fd::AsRawFd;
    for l in &s.listeners {
        // SAFETY: closing our copy of the descriptor; the child never uses it again
        // and leaves with _exit, so nothing closes it twice.
        unsafe { libc::close(l.as_raw_fd()) };
    }
}

/// server.c: exitFromChild (_exit: no destructors, no flushing the parent's buffers)
pub fn exit_from_child(retcode: i32) -> ! {
    // SAFETY: _exit ends the process at once.
    unsafe { libc::_exit(retcode) }
}

/// server.c: hasActiveChildProcess
pub fn has_active_child_process(s: &Server) -> bool {
    s.child_pid != -1
}

/// server.c: updateDictResizePolicy
pub fn update_dict_resize_policy(s: &Server) {
    use crate::dict::{dict_set_resize_enabled, DictResizeEnable};
    if s.in_fork_child != ChildType::None {
        dict_set_resize_enabled(DictResizeEnable::Forbid);
    } else if has_active_child_process(s) {
        dict_set_resize_enabled(DictResizeEnable::Avoid);
    } else {
        dict_set_resize_enabled(DictResizeEnable::Enable);
    }
}

/// server.c: resetChildState
pub fn reset_child_state(s: &mut Server) {
    s.child_type = ChildType::None;
    s.child_pid = -1;
    s.stat_current_cow_peak = 0;
    s.stat_current_cow_bytes = 0;
    update_dict_resize_policy(s);
    crate::childinfo::close_child_info_pipe(s);
}

/// server.c: strChildType
fn str_child_type(t: ChildType) -> &'static str {
    match t {
        ChildType::Rdb => "RDB",
        ChildType::Aof => "AOF",
        ChildType::None => "Unknown",
    }
}

// ANCHOR: check_children_done
/// server.c: checkChildrenDone
///
/// Reaps an ended child without waiting (WNOHANG) and hands its exit status to the
/// handler of its kind.
pub fn check_children_done(s: &mut Server) {
    let mut statloc: libc::c_int = 0;
    // SAFETY: waitpid only writes the status word.
    let pid = unsafe { libc::waitpid(-1, &mut statloc, libc::WNOHANG) };
    if pid == 0 {
        return;
    }
    let mut exitcode = if libc::WIFEXITED(statloc) {
        libc::WEXITSTATUS(statloc)
    } else {
        -1
    };
    let mut bysignal = if libc::WIFSIGNALED(statloc) {
        libc::WTERMSIG(statloc)
    } else {
        0
    };
    // A child that stopped on request says so with this code: not a failure.
    if exitcode == SERVER_CHILD_NOERROR_RETVAL {
        bysignal = libc::SIGUSR1;
        exitcode = 1;
    }
    if pid == -1 {
        server_log!(
            s,
            LL_WARNING,
            "waitpid() returned an error: {}. child_type: {}, child_pid = {}",
            strerror(&io::Error::last_os_error()),
            str_child_type(s.child_type),
            s.child_pid
        );
    } else if pid == s.child_pid {
        match s.child_type {
            ChildType::Rdb => crate::rdb::background_save_done_handler(s, exitcode, bysignal),
            ChildType::Aof => crate::aof::background_rewrite_done_handler(s, exitcode, bysignal),
            ChildType::None => {}
        }
        if bysignal == 0 && exitcode == 0 {
            crate::childinfo::receive_child_info(s);
        }
        reset_child_state(s);
    } else {
        server_log!(
            s,
            LL_WARNING,
            "Warning, detected child with unmatched pid: {}",
            pid
        );
    }
}
// ANCHOR_END: check_children_done

// ANCHOR: load_data_from_disk
/// server.c: loadDataFromDisk
///
/// At start-up: the AOF when it is on, else the RDB file in `dir`. No file is a fresh
/// start; a bad file stops the server. Clients that connect meanwhile are accepted
/// but get -LOADING, so none ever sees half a dataset.
pub fn load_data_from_disk(s: &mut Server) {
    let start = util::ustime();
    if crate::aof::load_data_from_disk_aof(s) {
        return;
    }
    let filename = s.config.dbfilename.clone();
    match crate::rdb::rdb_load(s, &filename, crate::rdb::RDBFLAGS_NONE) {
        Ok(()) => {
            server_log!(
                s,
                LL_NOTICE,
                "DB loaded from disk: {:.3} seconds",
                (util::ustime() - start) as f64 / 1_000_000.0
            );
        }
        Err(crate::rdb::RdbLoadFileError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            match e {
                crate::rdb::RdbLoadFileError::Corrupt(msg) => {
                    server_log!(s, LL_WARNING, "{}", msg);
                    server_log!(
                        s,
                        LL_WARNING,
                        "Terminating server after rdb file reading failure."
                    );
                }
                crate::rdb::RdbLoadFileError::Io(e) => server_log!(
                    s,
                    LL_WARNING,
                    "Fatal error loading the DB: {}. Exiting.",
                    strerror(&e)
                ),
                crate::rdb::RdbLoadFileError::Invalid => server_log!(
                    s,
                    LL_WARNING,
                    "Fatal error loading the DB: Invalid argument. Exiting."
                ),
                crate::rdb::RdbLoadFileError::Fatal => {}
            }
            crate::log::flush_timeline();
            std::process::exit(1);
        }
    }
}
// ANCHOR_END: load_data_from_disk

/// server.h: CRON_DBS_PER_CALL
pub const CRON_DBS_PER_CALL: usize = 16;

/// server.c: clientsCron (idle timeouts and output-buffer soft limits)
fn clients_cron(s: &mut Server) {
    let maxidle = s.config.timeout;
    let mut to_free = Vec::new();
    for slot in s.clients.iter_mut() {
        let Some(c) = slot.as_deref_mut() else {
            continue;
        };
        if maxidle > 0 && c.flags & CLIENT_BLOCKED == 0 && s.unixtime - c.last_interaction > maxidle
        {
            to_free.push(c.token);
        }
    }
    for t in to_free {
        if let Some(c) = s.take_client(t) {
            server_log!(s, LL_VERBOSE, "Closing idle client");
            networking::free_client(s, c);
        }
    }
}

// ANCHOR: before_sleep
/// server.c: beforeSleep
///
/// Before the loop waits: free clients closed asynchronously, then write every
/// pending reply directly, installing a write handler only for what is left.
pub fn before_sleep(s: &mut Server) {
    // Inside a busy script: only move bytes; no expiry, nothing that changes data.
    if s.processing_events_while_blocked {
        crate::io_threads::handle_clients_with_pending_reads_using_threads(s);
        crate::aof::aof_before_sleep(s);
        crate::io_threads::handle_clients_with_pending_writes_using_threads(s);
        networking::free_clients_in_async_free_queue(s);
        return;
    }
    // BCAST clients hear, once per cycle, about the keys of their prefixes.
    crate::tracking::tracking_broadcast_invalidation_messages(s);
    // Blocked clients whose deadline passed get their null reply.
    crate::timeout::handle_blocked_clients_timeout(s);
    // A fast expire cycle when the slow one left work behind (at most 1 ms).
    if s.active_expire_enabled {
        crate::expire::active_expire_cycle(s, crate::expire::ACTIVE_EXPIRE_CYCLE_FAST);
    }
    // Reads queued for the I/O threads first: their commands may produce replies.
    crate::io_threads::handle_clients_with_pending_reads_using_threads(s);
    // Clients unblocked since the last turn run what they pipelined meanwhile.
    if !s.bstate.unblocked_clients.is_empty() {
        crate::blocked::process_unblocked_clients(s);
    }
    crate::blocked::handle_clients_blocked_on_keys(s);
    // ANCHOR: before_sleep_aof
    // The AOF is written (and under appendfsync always, fsynced) before any reply
    // of this turn is sent.
    crate::aof::aof_before_sleep(s);
    // ANCHOR_END: before_sleep_aof
    networking::free_clients_in_async_free_queue(s);
    crate::io_threads::handle_clients_with_pending_writes_using_threads(s);
    networking::free_clients_in_async_free_queue(s);
}
// ANCHOR_END: before_sleep

/// server.c: afterSleep
pub fn after_sleep(s: &mut Server) {
    s.update_cached_time();
}

/// server.h: SHUTDOWN_* flags
pub const SHUTDOWN_NOFLAGS: u32 = 0;
pub const SHUTDOWN_SAVE: u32 = 1;
pub const SHUTDOWN_NOSAVE: u32 = 2;
pub const SHUTDOWN_NOW: u32 = 4;
pub const SHUTDOWN_FORCE: u32 = 8;

/// server.c: prepareForShutdown, then exit (the cron's path: no flags; a failed
/// final save keeps the server running, as in Redis)
pub fn prepare_for_shutdown_and_exit(s: &mut Server) {
    if prepare_for_shutdown(s, SHUTDOWN_NOFLAGS) {
        std::process::exit(0);
    }
    s.shutdown_asap = false;
    SHUTDOWN_SIGNAL.store(0, std::sync::atomic::Ordering::Relaxed);
}

// ANCHOR: prepare_for_shutdown
/// server.c: prepareForShutdown + finishShutdown
///
/// Stops a saving child (its file would race the final save), writes the final
/// snapshot when save points exist (or SAVE was asked) unless NOSAVE, and returns
/// true when the process may exit. A failed save without FORCE cancels the shutdown.
pub fn prepare_for_shutdown(s: &mut Server, mut flags: u32) -> bool {
    // Never overwrite the file with a half-loaded dataset.
    if s.loading {
        flags = (flags & !SHUTDOWN_SAVE) | SHUTDOWN_NOSAVE;
    }
    server_log!(s, LL_WARNING, "User requested shutdown...");
    if s.child_type == ChildType::Rdb {
        server_log!(
            s,
            LL_WARNING,
            "There is a child saving an .rdb. Killing it!"
        );
        crate::rdb::kill_rdb_child(s);
        crate::rdb::rdb_remove_temp_file(s.child_pid);
    }
    // An AOF rewrite child is stopped, and the AOF flushed and fsynced.
    crate::aof::aof_prepare_for_shutdown(s);
    if (!crate::rdb::save_params(&s.config.save).is_empty() && flags & SHUTDOWN_NOSAVE == 0)
        || flags & SHUTDOWN_SAVE != 0
    {
        server_log!(
            s,
            LL_NOTICE,
            "Saving the final RDB snapshot before exiting."
        );
        let filename = s.config.dbfilename.clone();
        if crate::rdb::rdb_save(s, &filename).is_err() {
            if flags & SHUTDOWN_FORCE != 0 {
                server_log!(s, LL_WARNING, "Error trying to save the DB. Exit anyway.");
            } else {
                server_log!(s, LL_WARNING, "Error trying to save the DB, can't exit.");
                server_log!(
                    s,
                    LL_WARNING,
                    "Errors trying to shut down the server. Check the logs for more information."
                );
                return false;
            }
        }
    }
    // Flush what is already queued so clients see their last replies.
    networking::handle_clients_with_pending_writes(s);
    server_log!(s, LL_WARNING, "Redis is now ready to exit, bye bye...");
    crate::log::flush_timeline();
    true
}
// ANCHOR_END: prepare_for_shutdown

/// server.c: pingCommand
pub fn ping_command(s: &mut Server, c: &mut Client) {
    if c.argv.len() > 2 {
        crate::resp::add_reply_error_arity(s, c);
        return;
    }
    if c.flags & crate::networking::CLIENT_PUBSUB != 0 && c.resp == 2 {
        c.add_reply_array_len(2);
        c.add_reply_bulk(b"pong");
        let msg = if c.argv.len() == 1 {
            Bytes::new()
        } else {
            c.argv[1].clone()
        };
        c.add_reply_bulk(&msg);
    } else if c.argv.len() == 1 {
        c.add_reply(shared::PONG);
    } else {
        let msg = c.argv[1].clone();
        c.add_reply_bulk(&msg);
    }
}

/// server.c: echoCommand
pub fn echo_command(_s: &mut Server, c: &mut Client) {
    let msg = c.argv[1].clone();
    c.add_reply_bulk(&msg);
}

/// server.c: timeCommand
pub fn time_command(_s: &mut Server, c: &mut Client) {
    let now = util::ustime();
    c.add_reply_array_len(2);
    c.add_reply_bulk_long_long(now / 1_000_000);
    c.add_reply_bulk_long_long(now % 1_000_000);
}

/// server.c: shutdownCommand
pub fn shutdown_command(s: &mut Server, c: &mut Client) {
    let mut abort = false;
    let (mut nosave, mut save, mut other) = (false, false, false);
    for a in &c.argv[1..] {
        let a = a.to_ascii_lowercase();
        match a.as_slice() {
            b"nosave" => nosave = true,
            b"save" => save = true,
            b"now" | b"force" => other = true,
            b"abort" => abort = true,
            _ => {
                add_reply_error(s, c, shared::SYNTAXERR);
                return;
            }
        }
    }
    // ABORT takes no other flag, and NOSAVE contradicts SAVE.
    if (abort && (nosave || save || other)) || (nosave && save) {
        add_reply_error(s, c, shared::SYNTAXERR);
        return;
    }
    if abort {
        add_reply_error(s, c, "No shutdown in progress.");
        return;
    }
    if c.flags & CLIENT_MULTI != 0 {
        add_reply_error(s, c, "SHUTDOWN is not allowed inside a transaction");
        return;
    }
    // Under a busy script only SHUTDOWN NOSAVE may run: a save would write the
    // script's half-done changes.
    if !nosave && s.lctx.script_timedout {
        // SAFETY: a timed-out script's context is alive until the script ends.
        let is_eval = unsafe { s.lctx.curr_run_ctx.as_ref() }
            .is_none_or(|r| r.flags & crate::script::SCRIPT_EVAL_MODE != 0);
        let err = if is_eval {
            crate::functions::SLOWEVALERR
        } else {
            "-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
        };
        crate::resp::add_reply_error_object(s, c, err);
        return;
    }
    let mut flags = SHUTDOWN_NOFLAGS;
    if nosave {
        flags |= SHUTDOWN_NOSAVE;
    }
    if save {
        flags |= SHUTDOWN_SAVE;
    }
    for a in &c.argv[1..] {
        if a.eq_ignore_ascii_case(b"now") {
            flags |= SHUTDOWN_NOW;
        } else if a.eq_ignore_ascii_case(b"force") {
            flags |= SHUTDOWN_FORCE;
        }
    }
    // Redis closes the connection without a reply when the shutdown succeeds.
    if prepare_for_shutdown(s, flags) {
        std::process::exit(0);
    }
    add_reply_error(s, c, "Errors trying to SHUTDOWN. Check logs.");
}

/// server.c: bytesToHuman
pub fn bytes_to_human(n: u64) -> String {
    let n = n as f64;
    if n < 1024.0 {
        format!("{}B", n as u64)
    } else if n < 1024.0 * 1024.0 {
        format!("{:.2}K", n / 1024.0)
    } else if n < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", n / (1024.0 * 1024.0))
    } else if n < 1024.0 * 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}G", n / (1024.0 * 1024.0 * 1024.0))
    } else {
        format!("{:.2}T", n / (1024.0 * 1024.0 * 1024.0 * 1024.0))
    }
}

/// Every INFO section; the default set is all of them but `commandstats`.
const ALL_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "cluster",
    "keyspace",
];

/// server.c: genRedisInfoString
pub fn gen_redis_info_string(s: &Server, sections: &[String], current: Option<&Client>) -> String {
    let mut want: Vec<&str> = Vec::new();
    for sec in sections {
        match sec.as_str() {
            "default" => want.extend(ALL_SECTIONS.iter().filter(|x| **x != "commandstats")),
            "all" | "everything" => want.extend(ALL_SECTIONS),
            other => {
                if let Some(x) = ALL_SECTIONS.iter().find(|x| **x == other) {
                    want.push(x)
                }
            }
        }
    }
    if sections.is_empty() {
        want.extend(ALL_SECTIONS.iter().filter(|x| **x != "commandstats"));
    }
    let mut out = String::new();
    let nl = |out: &mut String| {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
    };
    let has = |n: &str| want.contains(&n);
    let uptime = s.unixtime - s.start_time;
    let nclients = s.connected_clients();
    if has("server") {
        nl(&mut out);
        out.push_str(&format!(
            "# Server\r\nredis_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:{}\r\n",
            REDIS_VERSION,
            std::env::consts::OS,
            std::env::consts::ARCH,
            std::process::id(),
            s.run_id,
            s.config.port,
            s.ustime,
            uptime,
            uptime / 86400,
            s.hz,
            s.config.hz,
            (s.mstime / 1000) & ((1 << 24) - 1),
            s.executable,
            s.config.configfile.clone().unwrap_or_default(),
            s.io_threads.active as u8,
        ));
    }
    if has("clients") {
        nl(&mut out);
        let blocked = s.bstate.blocked_clients;
        let in_timeout_table = s.bstate.clients_timeout_table.len();
        let mut max_in = 0;
        let mut max_out = 0;
        for c in s.other_clients().chain(current) {
            max_in = max_in.max(c.querybuf_peak);
            max_out = max_out.max(c.reply_bytes);
        }
        out.push_str(&format!(
            "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:{}\r\nclient_recent_max_output_buffer:{}\r\nblocked_clients:{}\r\ntracking_clients:{}\r\nclients_in_timeout_table:{}\r\n",
            nclients,
            s.config.maxclients,
            max_in,
            max_out,
            blocked,
            s.tracking.clients,
            in_timeout_table
        ));
    }
    if has("memory") {
        nl(&mut out);
        let used = crate::zmalloc::used_memory() as u64;
        let rss = crate::zmalloc::rss();
        let peak = crate::zmalloc::peak_memory() as u64;
        let mh = crate::object::get_memory_overhead_data(s, current);
        let memory_lua = crate::eval::eval_memory(s);
        let memory_functions = crate::functions::functions_memory(s);
        out.push_str(&format!(
            "# Memory\r\nused_memory:{}\r\nused_memory_human:{}\r\nused_memory_rss:{}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{:.2}%\r\nused_memory_overhead:{}\r\nused_memory_startup:{}\r\nused_memory_dataset:{}\r\nused_memory_dataset_perc:{:.2}%\r\ntotal_system_memory:{}\r\ntotal_system_memory_human:{}\r\nused_memory_lua:{}\r\nused_memory_vm_eval:{}\r\nused_memory_lua_human:{}\r\nused_memory_scripts_eval:{}\r\nnumber_of_cached_scripts:{}\r\nnumber_of_functions:{}\r\nnumber_of_libraries:{}\r\nused_memory_vm_functions:{}\r\nused_memory_vm_total:{}\r\nused_memory_vm_total_human:{}\r\nused_memory_functions:{}\r\nused_memory_scripts:{}\r\nused_memory_scripts_human:{}\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_not_counted_for_evict:0\r\nmem_allocator:{}\r\n",
            used,
            bytes_to_human(used),
            rss,
            bytes_to_human(rss),
            peak,
            bytes_to_human(peak),
            used as f64 * 100.0 / peak.max(1) as f64,
            mh.overhead_total,
            mh.startup_allocated,
            mh.dataset,
            mh.dataset_perc,
            crate::zmalloc::total_system_memory(),
            bytes_to_human(crate::zmalloc::total_system_memory()),
            memory_lua,
            memory_lua,
            bytes_to_human(memory_lua),
            crate::eval::eval_scripts_memory(s),
            s.lctx.lua_scripts.len(),
            s.functions.lib_ctx.functions_num(),
            s.functions.lib_ctx.libraries.len(),
            memory_functions,
            memory_functions + memory_lua,
            bytes_to_human(memory_functions + memory_lua),
            crate::functions::functions_memory_overhead(s),
            crate::eval::eval_scripts_memory(s) + crate::functions::functions_memory_overhead(s),
            bytes_to_human(
                crate::eval::eval_scripts_memory(s) + crate::functions::functions_memory_overhead(s)
            ),
            s.config.maxmemory,
            bytes_to_human(s.config.maxmemory),
            crate::evict::policy_name(s.config.maxmemory_policy),
            if used > 0 { rss as f64 / used as f64 } else { 0.0 },
            crate::zmalloc::ZMALLOC_LIB,
        ));
    }
    if has("persistence") {
        nl(&mut out);
        // ANCHOR: info_persistence
        let now = util::mstime() / 1000;
        let rdb_child = s.child_type == ChildType::Rdb;
        out.push_str(&format!(
            "# Persistence\r\nloading:{}\r\nasync_loading:0\r\ncurrent_cow_peak:{}\r\ncurrent_cow_size:{}\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\ncurrent_save_keys_processed:0\r\ncurrent_save_keys_total:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{}\r\nrdb_saves:{}\r\nrdb_last_cow_size:{}\r\nrdb_last_load_keys_expired:{}\r\nrdb_last_load_keys_loaded:{}\r\n",
            s.loading as i32,
            s.stat_current_cow_peak,
            s.stat_current_cow_bytes,
            s.dirty,
            rdb_child as i32,
            s.lastsave,
            if s.lastbgsave_status_ok { "ok" } else { "err" },
            s.rdb_save_time_last,
            if rdb_child { now - s.rdb_save_time_start } else { -1 },
            s.stat_rdb_saves,
            s.stat_rdb_cow_bytes,
            s.rdb_last_load_keys_expired,
            s.rdb_last_load_keys_loaded,
        ));
        // ANCHOR_END: info_persistence
        out.push_str(&crate::aof::info_persistence_aof(s));
        out.push_str(&crate::aof::info_persistence_aof_enabled(s));
        if s.loading {
            out.push_str(&info_loading_progress(s));
        }
    }
    if has("stats") {
        nl(&mut out);
        out.push_str(&format!(
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ninstantaneous_input_kbps:{:.2}\r\ninstantaneous_output_kbps:{:.2}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nexpired_stale_perc:{:.2}\r\nexpired_time_cap_reached_count:{}\r\nexpire_cycle_cpu_milliseconds:{}\r\nevicted_keys:{}\r\nevicted_clients:{}\r\ntotal_eviction_exceeded_time:{}\r\ncurrent_eviction_exceeded_time:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\nlatest_fork_usec:{}\r\ntotal_forks:{}\r\ntracking_total_keys:{}\r\ntracking_total_items:{}\r\ntracking_total_prefixes:{}\r\nunexpected_error_replies:{}\r\ntotal_error_replies:{}\r\ntotal_reads_processed:{}\r\ntotal_writes_processed:{}\r\nio_threaded_reads_processed:{}\r\nio_threaded_writes_processed:{}\r\n",
            s.stat_numconnections,
            s.stat_numcommands,
            s.inst_ops.get() as u64,
            s.stat_net_input_bytes,
            s.stat_net_output_bytes,
            s.inst_in.get() / 1024.0,
            s.inst_out.get() / 1024.0,
            s.stat_rejected_conn,
            s.stat_expiredkeys,
            s.stat_expired_stale_perc * 100.0,
            s.stat_expired_time_cap_reached_count,
            s.stat_expire_cycle_time_used / 1000,
            s.stat_evictedkeys,
            s.stat_evictedclients,
            (s.stat_total_eviction_exceeded_time
                + crate::evict::current_eviction_exceeded_time(s))
                / 1000,
            crate::evict::current_eviction_exceeded_time(s) / 1000,
            s.stat_keyspace_hits,
            s.stat_keyspace_misses,
            s.pubsub.channels.len(),
            s.pubsub.patterns.len(),
            s.pubsub.shard_channels.len(),
            s.stat_fork_time,
            s.stat_total_forks,
            s.tracking.table.len(),
            s.tracking.total_items,
            s.tracking.prefixes.len(),
            s.stat_unexpected_error_replies,
            s.stat_total_error_replies,
            s.stat_total_reads_processed,
            s.stat_total_writes_processed,
            s.stat_io_reads_processed,
            s.stat_io_writes_processed,
        ));
    }
    if has("replication") {
        nl(&mut out);
        out.push_str(&format!(
            "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n",
            s.run_id
        ));
    }
    if has("cpu") {
        nl(&mut out);
        let (user, sys) = cpu_times();
        out.push_str(&format!(
            "# CPU\r\nused_cpu_sys:{:.6}\r\nused_cpu_user:{:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n",
            sys, user
        ));
    }
    if has("modules") {
        nl(&mut out);
        out.push_str("# Modules\r\n");
    }
    if has("commandstats") {
        nl(&mut out);
        out.push_str("# Commandstats\r\n");
        for cmd in &s.commands.all {
            let st = s.command_stats[cmd.id];
            if st.calls == 0 && st.failed_calls == 0 && st.rejected_calls == 0 {
                continue;
            }
            let per = if st.calls > 0 {
                st.microseconds as f64 / st.calls as f64
            } else {
                0.0
            };
            out.push_str(&format!(
                "cmdstat_{}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}\r\n",
                cmd.fullname, st.calls, st.microseconds, per, st.rejected_calls, st.failed_calls
            ));
        }
    }
    if has("errorstats") {
        nl(&mut out);
        out.push_str("# Errorstats\r\n");
        for (code, n) in &s.errors {
            out.push_str(&format!(
                "errorstat_{}:count={}\r\n",
                String::from_utf8_lossy(code),
                n
            ));
        }
    }
    if has("cluster") {
        nl(&mut out);
        out.push_str("# Cluster\r\ncluster_enabled:0\r\n");
    }
    if has("keyspace") {
        nl(&mut out);
        out.push_str("# Keyspace\r\n");
        for (i, db) in s.db.iter().enumerate() {
            let keys = db.size();
            if keys > 0 {
                out.push_str(&format!(
                    "db{}:keys={},expires={},avg_ttl={}\r\n",
                    i,
                    keys,
                    db.expires_size(),
                    db.avg_ttl(s.mstime)
                ));
            }
        }
    }
    out
}

fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_utime), t(ru.ru_stime))
}

/// server.c: infoCommand
pub fn info_command(s: &mut Server, c: &mut Client) {
    let sections: Vec<String> = c.argv[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let info = gen_redis_info_string(s, &sections, Some(c));
    c.add_reply_verbatim(info.as_bytes(), "txt");
}

/// Install the command filter hook used by tests (module.c: RM_RegisterCommandFilter).
pub fn register_command_filter(s: &mut Server, f: CommandFilter) {
    s.command_filters.push(f);
}

/// server.c: main's loop entry
pub fn run(s: &mut Server) {
    server_log!(s, LL_NOTICE, "Ready to accept connections");
    ae::ae_main(s);
}

/// Is this command fast (for tests and the book)?
pub fn is_fast(cmd: &RedisCommand) -> bool {
    cmd.flags & CMD_FAST != 0
}

/// Used by CLIENT KILL and others to free a client that is not the current one.
pub fn free_client_by_token(s: &mut Server, token: Token) {
    if let Some(c) = s.take_client(token) {
        networking::free_client(s, c);
    }
}

/// Mark a client to be closed after the current turn.
pub fn close_asap(c: &mut Client) {
    c.flags |= CLIENT_CLOSE_ASAP;
}

/// server.c: monitorCommand
pub fn monitor_command(s: &mut Server, c: &mut Client) {
    if c.flags & networking::CLIENT_DENY_BLOCKING != 0 {
        add_reply_error(s, c, "MONITOR isn't allowed for DENY BLOCKING client");
        return;
    }
    // Already a replica or a monitor: nothing to do.
    if c.flags & networking::CLIENT_SLAVE != 0 {
        return;
    }
    c.flags |= networking::CLIENT_SLAVE | networking::CLIENT_MONITOR;
    s.monitors.push((c.token, c.id));
    c.add_reply(shared::OK);
}
