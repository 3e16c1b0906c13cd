//! Port of eval.c: EVAL, EVALSHA, their read-only forms, SCRIPT, and the script cache.
//!
//! Each script is compiled once, as text, into a Lua function kept in the
//! interpreter's registry under `f_<sha1 of the body>`; EVALSHA looks it up by that name.
//! The body never becomes part of another chunk, so a script cannot close a wrapper
//! function early and run code outside it.

use crate::networking::{Client, CLIENT_DENY_BLOCKING, CLIENT_SCRIPT};
use crate::resp::{add_reply_error, add_reply_help, add_reply_subcommand_syntax_error, shared};
use crate::script::{self, SCRIPTS_FLAGS_DEF, SCRIPT_EVAL_MODE, SCRIPT_FLAG_EVAL_COMPAT_MODE};
use crate::script_lua;
use crate::server::Server;
use bytes::Bytes;
use mlua::ffi::{self, lua_State};
use std::collections::HashMap;
use std::ffi::{CStr, CString};

/// server.c: shared.noscripterr
const NOSCRIPTERR: &str = "-NOSCRIPT No matching script. Please use EVAL.";

/// eval.c: luaScript
pub struct LuaScript {
    pub flags: u64,
    pub body: Bytes,
}

/// eval.c: struct luaCtx (lctx)
pub struct LuaCtx {
    /// The one interpreter all scripts share.
    pub lua: *mut lua_State,
    /// The client scripts run their commands as; lent to a script while it runs.
    pub lua_client: Option<Box<Client>>,
    /// SHA1 (lower-case hex) -> script.
    pub lua_scripts: HashMap<String, LuaScript>,
    /// Bytes held by the cached bodies and their names (eval.c: lua_scripts_mem).
    pub lua_scripts_mem: u64,
    /// A script is running: the clock is frozen (script.c: scriptIsRunning).
    pub script_running: bool,
    /// Memory was over maxmemory when the running script started.
    pub pre_command_oom_state: bool,
    /// The running script passed busy-reply-threshold (script.c: scriptIsTimedout).
    pub script_timedout: bool,
    /// The running script's context, null when none runs (script.c: curr_run_ctx).
    pub curr_run_ctx: *mut script::ScriptRunCtx,
}

impl LuaCtx {
    /// eval.c: scriptingInit(1)
    pub fn new(now_ms: i64) -> LuaCtx {
        // The script client is the first client Redis creates: id 1, no socket.
        let mut c = Client::new(1, mio::Token(usize::MAX), None, now_ms / 1000);
        c.flags |= CLIENT_SCRIPT | CLIENT_DENY_BLOCKING;
        LuaCtx {
            lua: script_lua::scripting_init_lua(),
            lua_client: Some(Box::new(c)),
            lua_scripts: HashMap::new(),
            lua_scripts_mem: 0,
            script_running: false,
            pre_command_oom_state: false,
            script_timedout: false,
            curr_run_ctx: std::ptr::null_mut(),
        }
    }
}

impl Drop for LuaCtx {
    /// eval.c: scriptingRelease
    fn drop(&mut self) {
        if !self.lua.is_null() {
            unsafe { ffi::lua_close(self.lua) };
        }
    }
}

/// eval.c: sha1hex
pub fn sha1hex(script: &[u8]) -> String {
    sha1_smol::Sha1::from(script).digest().to_string()
}

/// eval.c: scriptingReset
fn scripting_reset(s: &mut Server) {
    // Dropping a Lua state frees everything it holds; ASYNC frees the same way here, as
    // the cache is freed in one go either way.
    unsafe { ffi::lua_close(s.lctx.lua) };
    s.lctx.lua = script_lua::scripting_init_lua();
    s.lctx.lua_scripts.clear();
    s.lctx.lua_scripts_mem = 0;
}

/// A script's name in the Lua registry, `f_<sha1 hex>` and a NUL, built on the stack
/// like Redis's `char funcname[43]`: EVALSHA builds it twice per call (here and in
/// getCommandFlags), so it costs no allocation.
struct FuncName {
    buf: [u8; 43],
    len: usize,
}

impl FuncName {
    /// The digest part, the script cache's key; "" when the bytes are not UTF-8 (no
    /// script has such a name).
    fn sha(&self) -> &str {
        std::str::from_utf8(&self.buf[2..self.len]).unwrap_or("")
    }

    /// The name as a C string for lua_getfield; None when it holds a NUL byte (no
    /// script has such a name either).
    fn as_cstr(&self) -> Option<&CStr> {
        CStr::from_bytes_with_nul(&self.buf[..self.len + 1]).ok()
    }
}

/// eval.c: evalCalcFunctionName
fn eval_calc_function_name(evalsha: bool, script: &[u8]) -> FuncName {
    let mut f = FuncName {
        buf: [0; 43],
        len: 42,
    };
    f.buf[..2].copy_from_slice(b"f_");
    if evalsha {
        // A name that is not a hex digest simply matches no script.
        let sha = &script[..40.min(script.len())];
        f.len = 2 + sha.len();
        f.buf[2..f.len].copy_from_slice(sha);
        f.buf[2..f.len].make_ascii_lowercase();
    } else {
        f.buf[2..42].copy_from_slice(sha1hex(script).as_bytes());
    }
    f
}

/// eval.c: evalExtractShebangFlags
///
/// Returns the script's flags and the length of its shebang line (0 without one).
pub fn eval_extract_shebang_flags(body: &[u8]) -> Result<(u64, usize), String> {
    let mut script_flags = SCRIPT_FLAG_EVAL_COMPAT_MODE;
    let mut shebang_len = 0;
    if body.starts_with(b"#!") {
        let Some(end) = body.iter().position(|&b| b == b'\n') else {
            return Err("Invalid script shebang".into());
        };
        shebang_len = end;
        let parts = crate::networking::split_args(&body[..end]).unwrap_or_default();
        if parts.is_empty() {
            return Err("Invalid engine in script shebang".into());
        }
        if parts[0] != b"#!lua" {
            return Err(format!(
                "Unexpected engine in script shebang: {}",
                String::from_utf8_lossy(&parts[0])
            ));
        }
        script_flags &= !SCRIPT_FLAG_EVAL_COMPAT_MODE;
        for part in &parts[1..] {
            if let Some(list) = part.strip_prefix(b"flags=") {
                // "flags=" alone declares no flags.
                let flags = list.split(|&b| b == b',').filter(|_| !list.is_empty());
                for flag in flags {
                    match SCRIPTS_FLAGS_DEF
                        .iter()
                        .find(|(_, name)| name.as_bytes() == flag)
                    {
                        Some((f, _)) => script_flags |= f,
                        None => {
                            return Err(format!(
                                "Unexpected flag in script shebang: {}",
                                String::from_utf8_lossy(flag)
                            ))
                        }
                    }
                }
            } else {
                return Err(format!(
                    "Unknown lua shebang option: {}",
                    String::from_utf8_lossy(part)
                ));
            }
        }
    }
    Ok((script_flags, shebang_len))
}

/// eval.c: evalGetCommandFlags
///
/// The flags processCommand should apply to an EVAL: a script with a shebang declares
/// its own (no-writes, allow-oom...), one without keeps the command's.
pub fn eval_get_command_flags(s: &Server, argv: &[Bytes], evalsha: bool, cmd_flags: u64) -> u64 {
    if argv.len() < 2 || (evalsha && argv[1].len() != 40) {
        return cmd_flags;
    }
    let funcname = eval_calc_function_name(evalsha, &argv[1]);
    let script_flags = match s.lctx.lua_scripts.get(funcname.sha()) {
        Some(l) => l.flags,
        None if evalsha => return cmd_flags,
        None => match eval_extract_shebang_flags(&argv[1]) {
            Ok((f, _)) => f,
            Err(_) => return cmd_flags,
        },
    };
    if script_flags & SCRIPT_FLAG_EVAL_COMPAT_MODE != 0 {
        return cmd_flags;
    }
    script::script_flags_to_cmd_flags(cmd_flags, script_flags)
}

/// eval.c: luaCreateFunction
///
/// Compiles `body` and registers it as `f_<sha>`, unless it is cached already. Returns
/// the SHA1, or None after replying with the error (when `c` is given).
pub fn lua_create_function(s: &mut Server, c: Option<&mut Client>, body: &Bytes) -> Option<String> {
    let sha = sha1hex(body);
    if s.lctx.lua_scripts.contains_key(&sha) {
        return Some(sha);
    }
    let (script_flags, shebang_len) = match eval_extract_shebang_flags(body) {
        Ok(v) => v,
        Err(e) => {
            if let Some(c) = c {
                add_reply_error(s, c, &e);
            }
            return None;
        }
    };
    // The shebang line is skipped but its newline kept, so line numbers stay right.
    let code = &body[shebang_len..];
    let lua = s.lctx.lua;
    let funcname = CString::new(format!("f_{sha}")).expect("hex has no NUL");
    unsafe {
        if let Err(msg) = script_lua::lua_load_chunk(lua, code, c"@user_script") {
            if let Some(c) = c {
                add_reply_error(
                    s,
                    c,
                    &format!("Error compiling script (new function): {msg}"),
                );
            }
            return None;
        }
        ffi::lua_setfield(lua, ffi::LUA_REGISTRYINDEX, funcname.as_ptr());
    }
    s.lctx.lua_scripts_mem += (sha.len() + body.len()) as u64;
    s.lctx.lua_scripts.insert(
        sha.clone(),
        LuaScript {
            flags: script_flags,
            body: Bytes::copy_from_slice(body),
        },
    );
    Some(sha)
}

// ANCHOR: eval_generic_command
/// eval.c: evalGenericCommand
fn eval_generic_command(s: &mut Server, c: &mut Client, evalsha: bool) {
    let Some(numkeys) = crate::object::get_long_long_from_object_or_reply(s, c, 2) else {
        return;
    };
    if numkeys > c.argv.len() as i64 - 3 {
        add_reply_error(s, c, "Number of keys can't be greater than number of args");
        return;
    } else if numkeys < 0 {
        add_reply_error(s, c, "Number of keys can't be negative");
        return;
    }
    let numkeys = numkeys as usize;
    let funcname = eval_calc_function_name(evalsha, &c.argv[1]);
    let cfuncname = funcname.as_cstr().unwrap_or_default();
    let lua = s.lctx.lua;

    unsafe {
        // The error handler, then the function.
        // Read raw from the real globals: nothing may raise outside a protected call.
        ffi::lua_getfield(
            lua,
            ffi::LUA_REGISTRYINDEX,
            script_lua::REGISTRY_REAL_GLOBALS.as_ptr(),
        );
        ffi::lua_pushstring(lua, c"__redis__err__handler".as_ptr());
        ffi::lua_rawget(lua, -2);
        ffi::lua_remove(lua, -2);
        ffi::lua_getfield(lua, ffi::LUA_REGISTRYINDEX, cfuncname.as_ptr());
        if ffi::lua_isnil(lua, -1) != 0 {
            ffi::lua_pop(lua, 1);
            if evalsha {
                ffi::lua_pop(lua, 1);
                crate::resp::add_reply_error_object(s, c, NOSCRIPTERR);
                return;
            }
            let body = c.argv[1].clone();
            if lua_create_function(s, Some(c), &body).is_none() {
                ffi::lua_pop(lua, 1);
                return;
            }
            ffi::lua_getfield(lua, ffi::LUA_REGISTRYINDEX, cfuncname.as_ptr());
        }
    }

    let sha = funcname.sha();
    let script_flags = s
        .lctx
        .lua_scripts
        .get(sha)
        .map_or(SCRIPT_FLAG_EVAL_COMPAT_MODE, |l| l.flags);
    let ro = matches!(
        c.cmd.map(|cmd| cmd.fullname),
        Some("eval_ro") | Some("evalsha_ro")
    );

    let Some(mut lua_client) = s.lctx.lua_client.take() else {
        // Only possible if a script ran EVAL, which CMD_NOSCRIPT forbids.
        unsafe { ffi::lua_pop(lua, 2) };
        add_reply_error(s, c, "Script client busy");
        return;
    };
    // KEYS and ARGV are read straight from the caller's argv, lent out of the client
    // for the run (the script reaches the caller only through a raw pointer) and put
    // back after: no copy per call.
    let argv = std::mem::take(&mut c.argv);
    let Some(mut rctx) =
        script::script_prepare_for_run(s, &mut lua_client, c, sha, script_flags, ro)
    else {
        unsafe { ffi::lua_pop(lua, 2) };
        s.lctx.lua_client = Some(lua_client);
        c.argv = argv;
        return;
    };
    rctx.flags |= SCRIPT_EVAL_MODE;

    let (keys, args) = argv[3..].split_at(numkeys);
    let busy_reply_threshold = s.config.busy_reply_threshold;
    s.lctx.curr_run_ctx = &mut rctx as *mut script::ScriptRunCtx;
    unsafe {
        script_lua::lua_call_function(&mut rctx, lua, keys, args, busy_reply_threshold);
        ffi::lua_pop(lua, 1); // the error handler
    }
    s.lctx.curr_run_ctx = std::ptr::null_mut();
    script::script_reset_run(s, &rctx);
    s.lctx.lua_client = Some(lua_client);
    c.argv = argv;
}
// ANCHOR_END: eval_generic_command

/// eval.c: evalCommand
pub fn eval_command(s: &mut Server, c: &mut Client) {
    // MONITOR shows the script before the commands it runs (EVAL skips call()'s feed).
    feed_monitors(s, c);
    eval_generic_command(s, c, false);
}

/// Feeds EVAL/EVALSHA to MONITOR clients; the argv is copied only when one listens.
fn feed_monitors(s: &mut Server, c: &mut Client) {
    if !s.monitors.is_empty() {
        let argv = c.argv.clone();
        crate::replication::replication_feed_monitors(s, c, c.db, &argv);
    }
}

/// eval.c: evalRoCommand
pub fn eval_ro_command(s: &mut Server, c: &mut Client) {
    eval_command(s, c);
}

/// eval.c: evalShaCommand
pub fn eval_sha_command(s: &mut Server, c: &mut Client) {
    feed_monitors(s, c);
    // Only a 40-character name can match; anything else fails fast.
    if c.argv[1].len() != 40 {
        crate::resp::add_reply_error_object(s, c, NOSCRIPTERR);
        return;
    }
    eval_generic_command(s, c, true);
}

/// eval.c: evalShaRoCommand
pub fn eval_sha_ro_command(s: &mut Server, c: &mut Client) {
    eval_sha_command(s, c);
}

/// eval.c: scriptCommand
pub fn script_command(s: &mut Server, c: &mut Client) {
    let argc = c.argv.len();
    let sub = c.argv[1].to_ascii_lowercase();
    if argc == 2 && sub == b"help" {
        const HELP: &[&str] = &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ];
        add_reply_help(c, HELP);
    } else if argc >= 2 && sub == b"flush" {
        let ok = argc == 2
            || (argc == 3
                && (c.argv[2].eq_ignore_ascii_case(b"sync")
                    || c.argv[2].eq_ignore_ascii_case(b"async")));
        if !ok {
            add_reply_error(s, c, "SCRIPT FLUSH only support SYNC|ASYNC option");
            return;
        }
        scripting_reset(s);
        c.add_reply(shared::OK);
    } else if argc >= 2 && sub == b"exists" {
        c.add_reply_array_len(argc - 2);
        for j in 2..argc {
            let sha = String::from_utf8_lossy(&c.argv[j]).to_ascii_lowercase();
            if s.lctx.lua_scripts.contains_key(&sha) {
                c.add_reply(shared::CONE);
            } else {
                c.add_reply(shared::CZERO);
            }
        }
    } else if argc == 3 && sub == b"load" {
        let body = c.argv[2].clone();
        if let Some(sha) = lua_create_function(s, Some(c), &body) {
            c.add_reply_bulk(sha.as_bytes());
        }
    } else if argc == 2 && sub == b"kill" {
        script::script_kill(s, c, true);
    } else {
        add_reply_subcommand_syntax_error(s, c);
    }
}

/// eval.c: evalMemory
pub fn eval_memory(s: &Server) -> u64 {
    script_lua::lua_memory(s.lctx.lua)
}

/// eval.c: evalScriptsMemory (bodies and names; the dict overhead is not modelled)
pub fn eval_scripts_memory(s: &Server) -> u64 {
    s.lctx.lua_scripts_mem
}
