//! Port of functions.c: function libraries (FUNCTION LOAD/LIST/DELETE/FLUSH/DUMP/RESTORE/
//! STATS/KILL) and running their functions (FCALL, FCALL_RO).
//!
//! Redis keeps a table of engines; 7.0 ships one, Lua, and so does this port: the engine
//! is function_lua.rs, called directly rather than through a table of callbacks.
//! Libraries are kept sorted by name (Redis's dict order is a random hash order, so no
//! client can rely on it). DUMP's payload is the RDB encoding Redis uses; as this port
//! has no rdb.rs yet, the few pieces of it that the payload needs live here.

use crate::function_lua::{self, LUA_ENGINE_NAME};
use crate::networking::{Client, CLIENT_DENY_BLOCKING, CLIENT_SCRIPT};
use crate::rdb::Rio;
use crate::resp::{add_reply_error, add_reply_help, add_reply_subcommand_syntax_error, shared};
use crate::script::{self, SCRIPTS_FLAGS_DEF};
use crate::server::Server;
use bytes::Bytes;
use mlua::ffi::lua_State;
use std::collections::{BTreeMap, HashMap};

/// functions.c: LOAD_TIMEOUT_MS
const LOAD_TIMEOUT_MS: u64 = 500;

/// server.c: shared.slowevalerr
pub const SLOWEVALERR: &str =
    "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

const LIBRARY_NAME_ERR: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// functions.h: functionInfo
pub struct FunctionInfo {
    pub name: Bytes,
    /// The callback, kept in the engine's registry (function_lua.c: luaFunctionCtx).
    pub lua_ref: std::ffi::c_int,
    pub desc: Option<Bytes>,
    pub f_flags: u64,
}

/// functions.h: functionLibInfo
pub struct FunctionLibInfo {
    pub name: Bytes,
    /// The functions in the order the library registered them.
    pub functions: Vec<FunctionInfo>,
    pub code: Bytes,
}

/// functions.c: functionsLibCtx
#[derive(Default)]
pub struct FunctionsLibCtx {
    pub libraries: BTreeMap<Bytes, FunctionLibInfo>,
    /// Function name, lower-cased (Redis's dict is case-insensitive) -> its library.
    pub functions: HashMap<Vec<u8>, Bytes>,
    /// Bytes held by names, descriptions and code (functions.c: cache_memory).
    pub cache_memory: u64,
}

/// The functions' global state: the Lua engine, its client and the current libraries.
pub struct FunctionsCtx {
    pub lua: *mut lua_State,
    /// The client the engine's functions call commands as (engineInfo.c in Redis).
    pub engine_client: Option<Box<Client>>,
    pub lib_ctx: FunctionsLibCtx,
}

impl FunctionsCtx {
    /// functions.c: functionsInit
    pub fn new(now_ms: i64) -> FunctionsCtx {
        // The second client Redis creates, after EVAL's.
        let mut c = Client::new(2, mio::Token(usize::MAX - 1), None, now_ms / 1000);
        c.flags |= CLIENT_SCRIPT | CLIENT_DENY_BLOCKING;
        FunctionsCtx {
            lua: function_lua::lua_engine_init_engine(),
            engine_client: Some(Box::new(c)),
            lib_ctx: FunctionsLibCtx::default(),
        }
    }
}

impl Drop for FunctionsCtx {
    fn drop(&mut self) {
        if !self.lua.is_null() {
            unsafe { mlua::ffi::lua_close(self.lua) };
        }
    }
}

/// functions.c: functionMallocSize + libraryMallocSize, as bytes of payload.
fn library_malloc_size(li: &FunctionLibInfo) -> u64 {
    let f: usize = li
        .functions
        .iter()
        .map(|f| f.name.len() + f.desc.as_ref().map_or(0, |d| d.len()) + 48)
        .sum();
    (f + li.name.len() + li.code.len() + 64) as u64
}

/// functions.c: engineLibraryFree
fn engine_library_free(lua: *mut lua_State, li: FunctionLibInfo) {
    for fi in &li.functions {
        function_lua::lua_engine_free_function(lua, fi);
    }
}

impl FunctionsLibCtx {
    /// functions.c: functionsLibCtxClear
    fn clear(&mut self, lua: *mut lua_State) {
        for (_, li) in std::mem::take(&mut self.libraries) {
            engine_library_free(lua, li);
        }
        self.functions.clear();
        self.cache_memory = 0;
    }

    /// functions.c: libraryUnlink
    fn library_unlink(&mut self, name: &[u8]) -> Option<FunctionLibInfo> {
        let li = self.libraries.remove(name)?;
        for fi in &li.functions {
            self.functions.remove(&fi.name.to_ascii_lowercase());
        }
        self.cache_memory -= library_malloc_size(&li);
        Some(li)
    }

    /// functions.c: libraryLink
    fn library_link(&mut self, li: FunctionLibInfo) {
        for fi in &li.functions {
            self.functions
                .insert(fi.name.to_ascii_lowercase(), li.name.clone());
        }
        self.cache_memory += library_malloc_size(&li);
        self.libraries.insert(li.name.clone(), li);
    }

    /// The function named `name` (case-insensitive), with its library.
    pub fn find_function(&self, name: &[u8]) -> Option<&FunctionInfo> {
        let lib = self.functions.get(&name.to_ascii_lowercase())?;
        self.libraries
            .get(lib)?
            .functions
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// functions.c: functionsNum
    pub fn functions_num(&self) -> usize {
        self.functions.len()
    }
}

/// functions.c: functionLibCreateFunction
///
/// On error the function is handed back for the engine to free.
pub fn function_lib_create_function(
    li: &mut FunctionLibInfo,
    fi: FunctionInfo,
) -> Result<(), (FunctionInfo, String)> {
    if !functions_verify_name(&fi.name) {
        return Err((fi, LIBRARY_NAME_ERR.into()));
    }
    if li.functions.iter().any(|f| f.name == fi.name) {
        return Err((fi, "Function already exists in the library".into()));
    }
    li.functions.push(fi);
    Ok(())
}

/// functions.c: libraryJoin
///
/// Moves every library of `src` into `dst`; on a collision (without `replace`, or of a
/// function name) nothing moves and `dst` is as it was.
fn library_join(
    lua: *mut lua_State,
    dst: &mut FunctionsLibCtx,
    src: &mut FunctionsLibCtx,
    replace: bool,
) -> Result<(), String> {
    let mut old_libraries = Vec::new();
    let mut result = Ok(());
    for name in src.libraries.keys() {
        if dst.libraries.contains_key(name) {
            if !replace {
                result = Err(format!(
                    "Library {} already exists",
                    String::from_utf8_lossy(name)
                ));
                break;
            }
            old_libraries.push(dst.library_unlink(name).expect("present"));
        }
    }
    if result.is_ok() {
        if let Some(lib) = src
            .functions
            .keys()
            .find(|f| dst.functions.contains_key(*f))
        {
            let name = src
                .libraries
                .get(&src.functions[lib])
                .and_then(|li| {
                    li.functions
                        .iter()
                        .find(|f| f.name.eq_ignore_ascii_case(lib))
                })
                .map(|f| f.name.clone())
                .unwrap_or_default();
            result = Err(format!(
                "Function {} already exists",
                String::from_utf8_lossy(&name)
            ));
        }
    }
    if result.is_err() {
        for li in old_libraries {
            dst.library_link(li);
        }
        return result;
    }
    for (_, li) in std::mem::take(&mut src.libraries) {
        dst.library_link(li);
    }
    src.clear(lua);
    for li in old_libraries {
        engine_library_free(lua, li);
    }
    Ok(())
}

/// functions.c: functionsVerifyName
fn functions_verify_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

/// functions.c: functionsLibMataData
struct FunctionsLibMetaData {
    engine: Vec<u8>,
    name: Vec<u8>,
    code: Vec<u8>,
}

/// functions.c: functionExtractLibMetaData
fn function_extract_lib_meta_data(payload: &[u8]) -> Result<FunctionsLibMetaData, String> {
    if !payload.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    // Redis reads the payload as a C string: nothing past a NUL counts.
    let cstr = &payload[..payload
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(payload.len())];
    let Some(shebang_end) = cstr.iter().position(|&b| b == b'\n') else {
        return Err("Invalid library metadata".into());
    };
    let parts = match crate::networking::split_args(&payload[..shebang_end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("Invalid library metadata".into()),
    };
    let engine = parts[0].get(2..).unwrap_or_default().to_vec();
    let mut name = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(part[5..].to_vec());
            continue;
        }
        return Err(format!(
            "Invalid metadata value given: {}",
            String::from_utf8_lossy(part)
        ));
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    Ok(FunctionsLibMetaData {
        engine,
        name,
        code: payload[shebang_end..].to_vec(),
    })
}

/// functions.c: functionsCreateWithLibraryCtx
///
/// Returns the library's name.
pub(crate) fn functions_create_with_library_ctx(
    lua: *mut lua_State,
    code: &Bytes,
    replace: bool,
    lib_ctx: &mut FunctionsLibCtx,
    timeout_ms: u64,
) -> Result<Bytes, String> {
    let md = function_extract_lib_meta_data(code)?;
    if !functions_verify_name(&md.name) {
        return Err(LIBRARY_NAME_ERR.into());
    }
    if !md.engine.eq_ignore_ascii_case(LUA_ENGINE_NAME.as_bytes()) {
        return Err(format!(
            "Engine '{}' not found",
            String::from_utf8_lossy(&md.engine)
        ));
    }
    let name = Bytes::from(md.name);
    if lib_ctx.libraries.contains_key(&name) && !replace {
        return Err(format!(
            "Library '{}' already exists",
            String::from_utf8_lossy(&name)
        ));
    }
    let old_li = lib_ctx.library_unlink(&name);
    let mut new_li = FunctionLibInfo {
        name: name.clone(),
        functions: Vec::new(),
        code: code.clone(),
    };
    let created =
        function_lua::lua_engine_create(lua, &mut new_li, &md.code, timeout_ms).and_then(|()| {
            if new_li.functions.is_empty() {
                return Err("No functions registered".to_string());
            }
            match new_li
                .functions
                .iter()
                .find(|f| lib_ctx.functions.contains_key(&f.name.to_ascii_lowercase()))
            {
                Some(f) => Err(format!(
                    "Function {} already exists",
                    String::from_utf8_lossy(&f.name)
                )),
                None => Ok(()),
            }
        });
    match created {
        Ok(()) => {
            lib_ctx.library_link(new_li);
            if let Some(old) = old_li {
                engine_library_free(lua, old);
            }
            Ok(name)
        }
        Err(e) => {
            engine_library_free(lua, new_li);
            if let Some(old) = old_li {
                lib_ctx.library_link(old);
            }
            Err(e)
        }
    }
}

/// functions.c: fcallGetCommandFlags
pub fn fcall_get_command_flags(s: &Server, argv: &[Bytes], cmd_flags: u64) -> u64 {
    match argv
        .get(1)
        .and_then(|n| s.functions.lib_ctx.find_function(n))
    {
        Some(fi) => script::script_flags_to_cmd_flags(cmd_flags, fi.f_flags),
        None => cmd_flags,
    }
}

/// functions.c: fcallCommandGeneric
fn fcall_command_generic(s: &mut Server, c: &mut Client, ro: bool) {
    // Monitors see the FCALL before the commands it runs.
    let argv = c.argv.clone();
    crate::replication::replication_feed_monitors(s, c, c.db, &argv);

    let Some(fi) = s.functions.lib_ctx.find_function(&c.argv[1]) else {
        add_reply_error(s, c, "Function not found");
        return;
    };
    let (fname, f_flags, lua_ref) = (fi.name.clone(), fi.f_flags, fi.lua_ref);
    let Some(numkeys) = crate::util::string2ll(&c.argv[2]) else {
        add_reply_error(s, c, "Bad number of keys provided");
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
    let Some(mut engine_client) = s.functions.engine_client.take() else {
        // Only possible if a function ran FCALL, which CMD_NOSCRIPT forbids.
        add_reply_error(s, c, "Script client busy");
        return;
    };
    let funcname = String::from_utf8_lossy(&fname).into_owned();
    let Some(mut rctx) =
        script::script_prepare_for_run(s, &mut engine_client, c, &funcname, f_flags, ro)
    else {
        s.functions.engine_client = Some(engine_client);
        return;
    };
    let keys: Vec<Bytes> = c.argv[3..3 + numkeys].to_vec();
    let args: Vec<Bytes> = c.argv[3 + numkeys..].to_vec();
    let busy_reply_threshold = s.config.busy_reply_threshold;
    let lua = s.functions.lua;
    let fi = FunctionInfo {
        name: fname,
        lua_ref,
        desc: None,
        f_flags,
    };
    s.lctx.curr_run_ctx = &mut rctx as *mut script::ScriptRunCtx;
    function_lua::lua_engine_call(&mut rctx, lua, &fi, &keys, &args, busy_reply_threshold);
    s.lctx.curr_run_ctx = std::ptr::null_mut();
    script::script_reset_run(s, &rctx);
    s.functions.engine_client = Some(engine_client);
}

/// functions.c: fcallCommand
pub fn fcall_command(s: &mut Server, c: &mut Client) {
    fcall_command_generic(s, c, false);
}

/// functions.c: fcallroCommand
pub fn fcall_ro_command(s: &mut Server, c: &mut Client) {
    fcall_command_generic(s, c, true);
}

/// functions.c: functionLoadCommand
pub fn function_load_command(s: &mut Server, c: &mut Client) {
    let mut replace = false;
    let mut argc_pos = 2;
    while argc_pos < c.argv.len() - 1 {
        let next = c.argv[argc_pos].clone();
        argc_pos += 1;
        if next.eq_ignore_ascii_case(b"replace") {
            replace = true;
            continue;
        }
        let msg = format!("Unknown option given: {}", String::from_utf8_lossy(&next));
        add_reply_error(s, c, &msg);
        return;
    }
    if argc_pos >= c.argv.len() {
        add_reply_error(s, c, "Function code is missing");
        return;
    }
    let code = c.argv[argc_pos].clone();
    let lua = s.functions.lua;
    match functions_create_with_library_ctx(
        lua,
        &code,
        replace,
        &mut s.functions.lib_ctx,
        LOAD_TIMEOUT_MS,
    ) {
        Ok(name) => {
            s.dirty += 1;
            c.add_reply_bulk(&name);
        }
        Err(e) => add_reply_error(s, c, &e),
    }
}

/// functions.c: functionDeleteCommand
pub fn function_delete_command(s: &mut Server, c: &mut Client) {
    let Some(li) = s.functions.lib_ctx.library_unlink(&c.argv[2]) else {
        add_reply_error(s, c, "Library not found");
        return;
    };
    engine_library_free(s.functions.lua, li);
    s.dirty += 1;
    c.add_reply(shared::OK);
}

/// functions.c: functionListReplyFlags
fn function_list_reply_flags(c: &mut Client, fi: &FunctionInfo) {
    let flags: Vec<&str> = SCRIPTS_FLAGS_DEF
        .iter()
        .filter(|(f, _)| fi.f_flags & f != 0)
        .map(|(_, n)| *n)
        .collect();
    c.add_reply_set_len(flags.len());
    for f in flags {
        c.add_reply_status(f);
    }
}

/// functions.c: functionListCommand
pub fn function_list_command(s: &mut Server, c: &mut Client) {
    let mut with_code = false;
    let mut library_name: Option<Bytes> = None;
    let mut i = 2;
    while i < c.argv.len() {
        let next = c.argv[i].clone();
        if !with_code && next.eq_ignore_ascii_case(b"withcode") {
            with_code = true;
            i += 1;
            continue;
        }
        if library_name.is_none() && next.eq_ignore_ascii_case(b"libraryname") {
            if i >= c.argv.len() - 1 {
                add_reply_error(s, c, "library name argument was not given");
                return;
            }
            library_name = Some(c.argv[i + 1].clone());
            i += 2;
            continue;
        }
        let msg = format!("Unknown argument {}", String::from_utf8_lossy(&next));
        add_reply_error(s, c, &msg);
        return;
    }
    let libs: Vec<&FunctionLibInfo> = s
        .functions
        .lib_ctx
        .libraries
        .values()
        .filter(|li| {
            library_name
                .as_ref()
                .is_none_or(|p| crate::util::stringmatchlen(p, &li.name, true))
        })
        .collect();
    c.add_reply_array_len(libs.len());
    for li in libs {
        c.add_reply_map_len(if with_code { 4 } else { 3 });
        c.add_reply_bulk(b"library_name");
        c.add_reply_bulk(&li.name);
        c.add_reply_bulk(b"engine");
        c.add_reply_bulk(LUA_ENGINE_NAME.as_bytes());
        c.add_reply_bulk(b"functions");
        c.add_reply_array_len(li.functions.len());
        for fi in &li.functions {
            c.add_reply_map_len(3);
            c.add_reply_bulk(b"name");
            c.add_reply_bulk(&fi.name);
            c.add_reply_bulk(b"description");
            match &fi.desc {
                Some(d) => c.add_reply_bulk(d),
                None => c.add_reply_null(),
            }
            c.add_reply_bulk(b"flags");
            function_list_reply_flags(c, fi);
        }
        if with_code {
            c.add_reply_bulk(b"library_code");
            c.add_reply_bulk(&li.code);
        }
    }
}

/// functions.c: functionFlushCommand
pub fn function_flush_command(s: &mut Server, c: &mut Client) {
    if c.argv.len() > 3 {
        add_reply_subcommand_syntax_error(s, c);
        return;
    }
    let ok = c.argv.len() == 2
        || c.argv[2].eq_ignore_ascii_case(b"sync")
        || c.argv[2].eq_ignore_ascii_case(b"async");
    if !ok {
        add_reply_error(s, c, "FUNCTION FLUSH only supports SYNC|ASYNC option");
        return;
    }
    // ASYNC frees in the background in Redis; here both free at once.
    let lua = s.functions.lua;
    s.functions.lib_ctx.clear(lua);
    s.dirty += 1;
    c.add_reply(shared::OK);
}

/// functions.c: functionKillCommand
pub fn function_kill_command(s: &mut Server, c: &mut Client) {
    script::script_kill(s, c, false);
}

/// functions.c: functionStatsCommand
pub fn function_stats_command(s: &mut Server, c: &mut Client) {
    let curr = s.lctx.curr_run_ctx;
    // SAFETY: a non-null context is the running script's, alive until it ends.
    let running = unsafe { curr.as_ref() };
    if running.is_some_and(|r| r.flags & script::SCRIPT_EVAL_MODE != 0) {
        crate::resp::add_reply_error_object(s, c, SLOWEVALERR);
        return;
    }
    c.add_reply_map_len(2);
    c.add_reply_bulk(b"running_script");
    match running {
        None => c.add_reply_null(),
        Some(r) => {
            c.add_reply_map_len(3);
            c.add_reply_bulk(b"name");
            c.add_reply_bulk(r.funcname.as_bytes());
            c.add_reply_bulk(b"command");
            // SAFETY: the caller outlives the run.
            let argv = unsafe { (&*r.original_client).argv.clone() };
            c.add_reply_array_len(argv.len());
            for a in &argv {
                c.add_reply_bulk(a);
            }
            c.add_reply_bulk(b"duration_ms");
            c.add_reply_long_long(r.start_time.elapsed().as_millis() as i64);
        }
    }
    c.add_reply_bulk(b"engines");
    c.add_reply_map_len(1);
    c.add_reply_bulk(LUA_ENGINE_NAME.as_bytes());
    c.add_reply_map_len(2);
    let n_lib = s.functions.lib_ctx.libraries.len() as i64;
    // Redis's engine stats count each library's functions, which differs from the
    // case-insensitive function table when a library registers `f` and `F`.
    let n_functions: usize = s
        .functions
        .lib_ctx
        .libraries
        .values()
        .map(|li| li.functions.len())
        .sum();
    let n_functions = n_functions as i64;
    c.add_reply_bulk(b"libraries_count");
    c.add_reply_long_long(n_lib);
    c.add_reply_bulk(b"functions_count");
    c.add_reply_long_long(n_functions);
}

/// functions.c: functionHelpCommand
pub fn function_help_command(_s: &mut Server, c: &mut Client) {
    const HELP: &[&str] = &[
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
    ];
    add_reply_help(c, HELP);
}

// ---------------------------------------------------------------------------------------
// The DUMP payload: RDB opcodes and strings, the RDB version, a CRC64.
// ---------------------------------------------------------------------------------------

use crate::rdb::{RDB_OPCODE_FUNCTION, RDB_OPCODE_FUNCTION2};

/// functions.c: functionDumpCommand (rdb.c: rdbSaveFunctions for the body)
pub fn function_dump_command(s: &mut Server, c: &mut Client) {
    let mut payload = Vec::new();
    for li in s.functions.lib_ctx.libraries.values() {
        payload.push(RDB_OPCODE_FUNCTION2);
        crate::rdb::rdb_save_raw_string(&mut payload, &li.code, s.config.rdbcompression);
    }
    payload.extend_from_slice(&crate::rdb::RDB_VERSION.to_le_bytes());
    let crc = crate::crc64::crc64(0, &payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    c.add_reply_bulk(&payload);
}

/// rdb.c: rdbGenericLoadStringObject, as the bytes a library's fields need.
fn load_string(rdb: &mut Rio) -> Option<Vec<u8>> {
    crate::rdb::rdb_generic_load_string_object(rdb)
        .ok()
        .map(|b| b.to_vec())
}

/// rdb.c: rdbFunctionLoad (`replace`: RDBFLAGS_ALLOW_DUP, a library may replace one)
pub(crate) fn rdb_function_load(
    lua: *mut lua_State,
    rdb: &mut Rio,
    lib_ctx: &mut FunctionsLibCtx,
    opcode: u8,
    replace: bool,
) -> Result<(), String> {
    let payload = if opcode == RDB_OPCODE_FUNCTION {
        // 7.0 release candidates saved name, engine and description beside the code.
        let name = load_string(rdb).ok_or("Failed loading library name")?;
        let engine = load_string(rdb).ok_or("Failed loading engine name")?;
        let has_desc = crate::rdb::rdb_load_len_by_ref(rdb)
            .map_err(|_| "Failed loading library description indicator")?
            .0;
        if has_desc != 0 {
            load_string(rdb).ok_or("Failed loading library description")?;
        }
        let blob = load_string(rdb).ok_or("Failed loading library blob")?;
        let mut p = b"#!".to_vec();
        p.extend_from_slice(&engine);
        p.extend_from_slice(b" name=");
        p.extend_from_slice(&name);
        p.push(b'\n');
        p.extend_from_slice(&blob);
        p
    } else {
        load_string(rdb).ok_or("Failed loading library payload")?
    };
    functions_create_with_library_ctx(lua, &Bytes::from(payload), replace, lib_ctx, 0)?;
    Ok(())
}

/// functions.c: functionRestoreCommand
pub fn function_restore_command(s: &mut Server, c: &mut Client) {
    if c.argv.len() > 4 {
        add_reply_subcommand_syntax_error(s, c);
        return;
    }
    #[derive(PartialEq)]
    enum RestorePolicy {
        Flush,
        Append,
        Replace,
    }
    let mut policy = RestorePolicy::Append;
    if c.argv.len() == 4 {
        let p = &c.argv[3];
        policy = if p.eq_ignore_ascii_case(b"append") {
            RestorePolicy::Append
        } else if p.eq_ignore_ascii_case(b"replace") {
            RestorePolicy::Replace
        } else if p.eq_ignore_ascii_case(b"flush") {
            RestorePolicy::Flush
        } else {
            add_reply_error(
                s,
                c,
                "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            );
            return;
        };
    }
    let data = c.argv[2].clone();
    if !crate::cluster::verify_dump_payload(&data) {
        add_reply_error(s, c, "DUMP payload version or checksum are wrong");
        return;
    }
    let lua = s.functions.lua;
    let mut lib_ctx = FunctionsLibCtx::default();
    let mut rdb = Rio::new(&data);
    let mut result = Ok(());
    // Everything but the last 10 bytes (version and CRC) is libraries.
    while data.len() - rdb.pos > 10 {
        let Some(t) = rdb.read(1).ok().map(|b| b[0]) else {
            result = Err("can not read data type".to_string());
            break;
        };
        if t != RDB_OPCODE_FUNCTION && t != RDB_OPCODE_FUNCTION2 {
            result = Err("given type is not a function".to_string());
            break;
        }
        if let Err(e) = rdb_function_load(lua, &mut rdb, &mut lib_ctx, t, false) {
            result = Err(e);
            break;
        }
    }
    if result.is_ok() {
        if policy == RestorePolicy::Flush {
            let mut old = std::mem::replace(&mut s.functions.lib_ctx, lib_ctx);
            old.clear(lua);
            lib_ctx = FunctionsLibCtx::default();
        } else {
            result = library_join(
                lua,
                &mut s.functions.lib_ctx,
                &mut lib_ctx,
                policy == RestorePolicy::Replace,
            );
        }
    }
    lib_ctx.clear(lua);
    match result {
        Ok(()) => {
            s.dirty += 1;
            c.add_reply(shared::OK);
        }
        Err(e) => add_reply_error(s, c, &e),
    }
}

/// functions.c: functionsLibCtxClearCurrent (emptyData without EMPTYDB_NOFUNCTIONS)
pub fn functions_lib_ctx_clear_current(s: &mut Server) {
    let lua = s.functions.lua;
    s.functions.lib_ctx.clear(lua);
}

/// functions.c: functionsMemory
pub fn functions_memory(s: &Server) -> u64 {
    crate::script_lua::lua_memory(s.functions.lua)
}

/// functions.c: functionsMemoryOverhead (the dicts' overhead is not modelled)
pub fn functions_memory_overhead(s: &Server) -> u64 {
    s.functions.lib_ctx.cache_memory
}
