//! Port of script.c: what every script run shares, whatever the engine: the run context,
//! the checks before a script starts, and the checks on each command it calls.

use crate::commands::{CMD_DENYOOM, CMD_MAY_REPLICATE, CMD_NOSCRIPT, CMD_STALE, CMD_WRITE};
use crate::networking::Client;
use crate::server::Server;

/// script.h: SCRIPT_FLAG_NO_WRITES and friends (the shebang's flags=...).
pub const SCRIPT_FLAG_NO_WRITES: u64 = 1 << 0;
pub const SCRIPT_FLAG_ALLOW_OOM: u64 = 1 << 1;
pub const SCRIPT_FLAG_ALLOW_STALE: u64 = 1 << 2;
pub const SCRIPT_FLAG_NO_CLUSTER: u64 = 1 << 3;
/// A script without a shebang: EVAL's historical behaviour.
pub const SCRIPT_FLAG_EVAL_COMPAT_MODE: u64 = 1 << 4;
pub const SCRIPT_FLAG_ALLOW_CROSS_SLOT: u64 = 1 << 5;

/// script.c: scripts_flags_def
pub const SCRIPTS_FLAGS_DEF: [(u64, &str); 5] = [
    (SCRIPT_FLAG_NO_WRITES, "no-writes"),
    (SCRIPT_FLAG_ALLOW_OOM, "allow-oom"),
    (SCRIPT_FLAG_ALLOW_STALE, "allow-stale"),
    (SCRIPT_FLAG_NO_CLUSTER, "no-cluster"),
    (SCRIPT_FLAG_ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
];

/// script.h: run flags
pub const SCRIPT_WRITE_DIRTY: u32 = 1 << 0;
pub const SCRIPT_TIMEDOUT: u32 = 1 << 3;
pub const SCRIPT_KILLED: u32 = 1 << 4;
pub const SCRIPT_READ_ONLY: u32 = 1 << 5;
pub const SCRIPT_ALLOW_OOM: u32 = 1 << 6;
pub const SCRIPT_EVAL_MODE: u32 = 1 << 7;
pub const SCRIPT_ALLOW_CROSS_SLOT: u32 = 1 << 8;

/// script.h: scriptRunCtx
///
/// Lives on EVAL's stack frame while the script runs; the Lua API reaches it through the
/// interpreter's registry, as in Redis. The pointers are the server, the script's own
/// client and the client that sent EVAL; all three outlive the run.
pub struct ScriptRunCtx {
    pub s: *mut Server,
    pub c: *mut Client,
    pub original_client: *mut Client,
    pub funcname: String,
    pub flags: u32,
    pub repl_flags: u32,
    pub start_time: std::time::Instant,
    pub snapshot_time: i64,
}

/// script.c: scriptFlagsToCmdFlags
pub fn script_flags_to_cmd_flags(mut cmd_flags: u64, script_flags: u64) -> u64 {
    cmd_flags &= !(CMD_STALE | CMD_DENYOOM | CMD_WRITE);
    if script_flags & (SCRIPT_FLAG_ALLOW_OOM | SCRIPT_FLAG_NO_WRITES) == 0 {
        cmd_flags |= CMD_DENYOOM;
    }
    if script_flags & SCRIPT_FLAG_NO_WRITES == 0 {
        cmd_flags |= CMD_WRITE;
    }
    if script_flags & SCRIPT_FLAG_ALLOW_STALE != 0 {
        cmd_flags |= CMD_STALE;
    }
    cmd_flags & !CMD_MAY_REPLICATE
}

/// script.c: scriptPrepareForRun
///
/// Checks that the script may start, then fills the run context. On refusal the error
/// has been sent to the caller and None is returned.
#[allow(clippy::too_many_arguments)]
pub fn script_prepare_for_run(
    s: &mut Server,
    engine_client: &mut Client,
    caller: &mut Client,
    funcname: &str,
    script_flags: u64,
    ro: bool,
) -> Option<ScriptRunCtx> {
    if script_flags & SCRIPT_FLAG_EVAL_COMPAT_MODE == 0 {
        // No replication and no cluster in this port: of the checks on a flagged
        // script, the disk-error, *_ro and OOM ones remain.
        let deny_write_type = crate::server::write_commands_denied_by_disk_error(s);
        if script_flags & SCRIPT_FLAG_NO_WRITES == 0
            && deny_write_type != crate::server::DiskErrorType::None
        {
            let msg = if deny_write_type == crate::server::DiskErrorType::Rdb {
                "-MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts.".to_string()
            } else {
                format!(
                    "-MISCONF Redis is configured to persist data to AOF, but it's currently unable to persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only scripts. AOF error: {}",
                    crate::aof::strerror(s.aof.last_write_errno)
                )
            };
            crate::resp::add_reply_error(s, caller, &msg);
            return None;
        }
        if script_flags & SCRIPT_FLAG_NO_WRITES == 0 && ro {
            crate::resp::add_reply_error(
                s,
                caller,
                "Can not execute a script with write flag using *_ro command.",
            );
            return None;
        }
        if pre_command_oom_state(s)
            && script_flags & (SCRIPT_FLAG_ALLOW_OOM | SCRIPT_FLAG_NO_WRITES) == 0
        {
            crate::resp::add_reply_error(
                s,
                caller,
                "-OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'",
            );
            return None;
        }
    }

    // The script client works in the caller's database, speaking RESP2 until the
    // script says otherwise.
    engine_client.db = caller.db;
    engine_client.resp = 2;
    if caller.flags & crate::networking::CLIENT_MULTI != 0 {
        engine_client.flags |= crate::networking::CLIENT_MULTI;
    }

    let mut flags = 0;
    if ro
        || (script_flags & SCRIPT_FLAG_EVAL_COMPAT_MODE == 0
            && script_flags & SCRIPT_FLAG_NO_WRITES != 0)
    {
        flags |= SCRIPT_READ_ONLY;
    }
    if script_flags & SCRIPT_FLAG_EVAL_COMPAT_MODE == 0 && script_flags & SCRIPT_FLAG_ALLOW_OOM != 0
    {
        flags |= SCRIPT_ALLOW_OOM;
    }
    if script_flags & SCRIPT_FLAG_EVAL_COMPAT_MODE != 0
        || script_flags & SCRIPT_FLAG_ALLOW_CROSS_SLOT != 0
    {
        flags |= SCRIPT_ALLOW_CROSS_SLOT;
    }
    s.update_cached_time();
    let snapshot_time = s.mstime;
    // From here on the clock stands still for the script and the commands it calls.
    s.lctx.script_running = true;
    s.lctx.pre_command_oom_state = pre_command_oom_state(s);
    Some(ScriptRunCtx {
        s: s as *mut Server,
        c: engine_client as *mut Client,
        original_client: caller as *mut Client,
        funcname: funcname.to_string(),
        flags,
        repl_flags: crate::script_lua::PROPAGATE_AOF | crate::script_lua::PROPAGATE_REPL,
        start_time: std::time::Instant::now(),
        snapshot_time,
    })
}

/// Whether used memory is above maxmemory when the script starts (Redis saves this in
/// processCommand as server.pre_command_oom_state, after trying to evict).
fn pre_command_oom_state(s: &Server) -> bool {
    s.config.maxmemory > 0 && !crate::evict::get_maxmemory_state(s).0
}

/// script.c: scriptResetRun
pub fn script_reset_run(s: &mut Server, run_ctx: &ScriptRunCtx) {
    // SAFETY: the script client outlives the run (see ScriptRunCtx).
    unsafe {
        let lc = &mut *run_ctx.c;
        lc.flags &= !crate::networking::CLIENT_MULTI;
    }
    if s.lctx.script_timedout {
        s.lctx.script_timedout = false;
        // Bytes the caller sent while its script ran were seen by a nested turn of the
        // loop that could not serve it (it was busy): look at its socket again.
        // SAFETY: the caller outlives the run.
        let token = unsafe { (*run_ctx.original_client).token };
        s.el.mark_still_ready(token, crate::ae::AE_READABLE);
    }
    // The script is not propagated as itself: its write commands were (server.c:
    // preventCommandPropagation; call() is to honour the flag).
    // SAFETY: the caller outlives the run.
    unsafe {
        let caller = &mut *run_ctx.original_client;
        caller.flags |= crate::networking::CLIENT_PREVENT_PROP;
    }
    s.lctx.script_running = false;
    s.update_cached_time();
}

// ANCHOR: script_interrupt
/// script.c: scriptInterrupt
///
/// Called from the Lua count hook. Past busy-reply-threshold the event loop keeps
/// turning (other clients get -BUSY, SCRIPT KILL can arrive). Returns true when the
/// script must be killed.
///
/// # Safety
/// `run_ctx` is the running script's context (it outlives this call).
pub unsafe fn script_interrupt(run_ctx: *mut ScriptRunCtx) -> bool {
    let s = &mut *(*run_ctx).s;
    if (*run_ctx).flags & SCRIPT_TIMEDOUT != 0 {
        crate::networking::process_events_while_blocked(s);
        return (*run_ctx).flags & SCRIPT_KILLED != 0;
    }
    let elapsed = (*run_ctx).start_time.elapsed().as_millis() as i64;
    if elapsed < s.config.busy_reply_threshold {
        return false;
    }
    crate::server_log!(
        s,
        crate::server::LL_WARNING,
        "Slow script detected: still in execution after {} milliseconds. You can try killing the script using the {} command. Script name is: {}.",
        elapsed,
        if (*run_ctx).flags & SCRIPT_EVAL_MODE != 0 { "SCRIPT KILL" } else { "FUNCTION KILL" },
        (*run_ctx).funcname
    );
    (*run_ctx).flags |= SCRIPT_TIMEDOUT;
    s.lctx.script_timedout = true;
    crate::networking::process_events_while_blocked(s);
    (*run_ctx).flags & SCRIPT_KILLED != 0
}
// ANCHOR_END: script_interrupt

/// script.c: scriptKill
pub fn script_kill(s: &mut Server, c: &mut Client, is_eval: bool) {
    let curr = s.lctx.curr_run_ctx;
    if curr.is_null() {
        crate::resp::add_reply_error(s, c, "-NOTBUSY No scripts in execution right now.");
        return;
    }
    // SAFETY: a non-null current context is the running script's, alive until it ends;
    // SCRIPT KILL only reaches here from inside that script's turn of the event loop.
    let flags = unsafe { (*curr).flags };
    if flags & SCRIPT_WRITE_DIRTY != 0 {
        crate::resp::add_reply_error(
            s,
            c,
            "-UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
        );
        return;
    }
    if is_eval && flags & SCRIPT_EVAL_MODE == 0 {
        crate::resp::add_reply_error(
            s,
            c,
            "-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.",
        );
        return;
    }
    if !is_eval && flags & SCRIPT_EVAL_MODE != 0 {
        crate::resp::add_reply_error_object(s, c, crate::functions::SLOWEVALERR);
        return;
    }
    unsafe { (*curr).flags |= SCRIPT_KILLED };
    c.add_reply(crate::resp::shared::OK);
}

/// script.c: scriptVerifyCommandArity
fn script_verify_command_arity(
    cmd: Option<&crate::commands::RedisCommand>,
    argc: usize,
) -> Result<(), String> {
    match cmd {
        None => Err("Unknown Redis command called from script".into()),
        Some(cmd) => {
            let argc = argc as i32;
            if (cmd.arity > 0 && cmd.arity != argc) || argc < -cmd.arity {
                Err("Wrong number of args calling Redis command from script".into())
            } else {
                Ok(())
            }
        }
    }
}

/// script.c: scriptVerifyWriteCommandAllow
fn script_verify_write_command_allow(
    s: &Server,
    run_ctx: &ScriptRunCtx,
    cmd_flags: u64,
) -> Result<(), String> {
    // May-replicate commands count as writes, so read-only scripts can run during
    // CLIENT PAUSE WRITE.
    if run_ctx.flags & SCRIPT_READ_ONLY != 0 && cmd_flags & (CMD_WRITE | CMD_MAY_REPLICATE) != 0 {
        return Err("Write commands are not allowed from read-only scripts.".into());
    }
    // Once the script has written, it cannot be stopped halfway.
    if cmd_flags & CMD_WRITE == 0 || run_ctx.flags & SCRIPT_WRITE_DIRTY != 0 {
        return Ok(());
    }
    let deny = crate::server::write_commands_denied_by_disk_error(s);
    if deny != crate::server::DiskErrorType::None {
        return Err(crate::server::write_commands_get_disk_error_message(
            s, deny,
        ));
    }
    // Replica and min-replicas checks have nothing to check in this port.
    Ok(())
}

/// script.c: scriptVerifyOOM
fn script_verify_oom(s: &Server, run_ctx: &ScriptRunCtx, cmd_flags: u64) -> Result<(), String> {
    if run_ctx.flags & SCRIPT_ALLOW_OOM != 0 {
        return Ok(());
    }
    // Only before the script's first write: once it changed data it cannot stop halfway.
    if s.config.maxmemory > 0
        && run_ctx.flags & SCRIPT_WRITE_DIRTY == 0
        && s.lctx.pre_command_oom_state
        && cmd_flags & CMD_DENYOOM != 0
    {
        return Err("-OOM command not allowed when used memory > 'maxmemory'.".into());
    }
    Ok(())
}

// ANCHOR: script_call
/// script.c: scriptCall
///
/// Runs the command in `c.argv` (the script client) after the checks scripts get; the
/// error for a refused command is returned for the caller to push into Lua.
pub fn script_call(
    run_ctx: &mut ScriptRunCtx,
    s: &mut Server,
    c: &mut Client,
) -> Result<(), String> {
    // Module command filters see script commands too.
    for i in 0..s.command_filters.len() {
        (s.command_filters[i])(&mut c.argv);
    }
    let cmd = s.commands.lookup_command(&c.argv);
    c.cmd = cmd;
    c.lastcmd = cmd;
    let checked = script_verify_command_arity(cmd, c.argv.len())
        .and_then(|()| {
            let cmd = cmd.expect("checked above");
            if cmd.flags & CMD_NOSCRIPT != 0 {
                Err("This Redis command is not allowed from script".into())
            } else {
                Ok(())
            }
        })
        .and_then(|()| script_verify_write_command_allow(s, run_ctx, cmd.map_or(0, |c| c.flags)))
        .and_then(|()| script_verify_oom(s, run_ctx, cmd.map_or(0, |c| c.flags)));
    if let Err(err) = checked {
        // scriptCall's error path: counted as an error reply and a rejected call.
        crate::resp::after_error_reply(s, err.as_bytes());
        if let Some(cmd) = cmd {
            s.command_stats[cmd.id].rejected_calls += 1;
        }
        return Err(err);
    }
    let cmd = cmd.expect("checked above");
    if cmd.flags & CMD_WRITE != 0 {
        run_ctx.flags |= SCRIPT_WRITE_DIRTY;
    }
    // redis.set_repl() chooses where the script's writes are propagated.
    let mut call_flags = crate::server::CMD_CALL_SLOWLOG | crate::server::CMD_CALL_STATS;
    if run_ctx.repl_flags & crate::script_lua::PROPAGATE_AOF != 0 {
        call_flags |= crate::server::CMD_CALL_PROPAGATE_AOF;
    }
    if run_ctx.repl_flags & crate::script_lua::PROPAGATE_REPL != 0 {
        call_flags |= crate::server::CMD_CALL_PROPAGATE_REPL;
    }
    crate::server::call(s, c, call_flags);
    Ok(())
}
// ANCHOR_END: script_call
