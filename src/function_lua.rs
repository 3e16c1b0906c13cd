//! Port of function_lua.c: the Lua engine behind FUNCTION LOAD and FCALL.
//!
//! The engine owns its own interpreter, sandboxed as EVAL's is (script_lua.rs builds
//! both). Two environments share it: while a library's code runs at load time, globals
//! resolve to a small "library API" (only `redis.register_function`, `redis.log` and
//! the version fields); once loaded, the functions it registered see the full sandbox.
//! Both are reached through one empty global table whose metatable's `__index` is
//! switched between them, so the registered closures keep a single environment.

use crate::functions::{self, FunctionInfo, FunctionLibInfo};
use crate::script::{ScriptRunCtx, SCRIPTS_FLAGS_DEF};
use crate::script_lua;
use bytes::Bytes;
use mlua::ffi::{self, lua_State};
use std::ffi::{c_int, c_void, CStr};
use std::time::Instant;

/// function_lua.c: LUA_ENGINE_NAME
pub const LUA_ENGINE_NAME: &str = "LUA";
/// function_lua.c: REGISTRY_ERROR_HANDLER_NAME
const REGISTRY_ERROR_HANDLER_NAME: &CStr = c"__ERROR_HANDLER__";
/// function_lua.c: REGISTRY_LOAD_CTX_NAME
const REGISTRY_LOAD_CTX_NAME: &CStr = c"__LIBRARY_CTX__";
/// function_lua.c: LIBRARY_API_NAME
const LIBRARY_API_NAME: &CStr = c"__LIBRARY_API__";
/// function_lua.c: GLOBALS_API_NAME
const GLOBALS_API_NAME: &CStr = c"__GLOBALS_API__";
/// The metatable of the functions' global table, whose `__index` is switched.
const GLOBALS_META_NAME: &CStr = c"__FUNCTIONS_GLOBALS_META__";

/// function_lua.c: loadCtx
struct LoadCtx {
    li: *mut FunctionLibInfo,
    start_time: Instant,
    timeout_ms: u64,
}

/// function_lua.c: luaEngineInitEngine
///
/// Returns the engine's interpreter.
pub fn lua_engine_init_engine() -> *mut lua_State {
    let lua = script_lua::new_sandboxed_lua(false);
    unsafe {
        // The error handler: the one EVAL uses, kept in the registry instead of a global.
        ffi::lua_getfield(
            lua,
            ffi::LUA_REGISTRYINDEX,
            script_lua::REGISTRY_REAL_GLOBALS.as_ptr(),
        );
        let g = ffi::lua_gettop(lua);
        ffi::lua_pushstring(lua, c"__redis__err__handler".as_ptr());
        ffi::lua_rawget(lua, g);
        ffi::lua_setfield(
            lua,
            ffi::LUA_REGISTRYINDEX,
            REGISTRY_ERROR_HANDLER_NAME.as_ptr(),
        );
        ffi::lua_pushstring(lua, c"__redis__err__handler".as_ptr());
        ffi::lua_pushnil(lua);
        ffi::lua_rawset(lua, g);
        ffi::lua_pop(lua, 1);

        // The library API: globals {redis = {register_function, log, ...}}, both
        // read-only and raising on a missing name.
        ffi::lua_newtable(lua);
        let lib_globals = ffi::lua_gettop(lua);
        ffi::lua_newtable(lua);
        let lib_redis = ffi::lua_gettop(lua);
        ffi::lua_pushcfunction(lua, lua_register_function);
        ffi::lua_setfield(lua, lib_redis, c"register_function".as_ptr());
        script_lua::lua_register_log_function(lua);
        script_lua::lua_register_version(lua);
        script_lua::lua_set_error_metatable(lua, lib_redis);
        script_lua::push_readonly_proxy(lua, lib_redis, 0);
        ffi::lua_setfield(lua, lib_globals, c"redis".as_ptr());
        ffi::lua_pop(lua, 1); // lib_redis
        script_lua::lua_set_error_metatable(lua, lib_globals);
        script_lua::push_readonly_proxy(lua, lib_globals, 0);
        ffi::lua_setfield(lua, ffi::LUA_REGISTRYINDEX, LIBRARY_API_NAME.as_ptr());
        ffi::lua_pop(lua, 1); // lib_globals

        // The default globals (the sandbox's read-only view).
        ffi::lua_pushvalue(lua, ffi::LUA_GLOBALSINDEX);
        ffi::lua_setfield(lua, ffi::LUA_REGISTRYINDEX, GLOBALS_API_NAME.as_ptr());

        // New, empty, read-only globals whose __index is switched at load time.
        ffi::lua_newtable(lua);
        ffi::lua_newtable(lua);
        ffi::lua_pushvalue(lua, ffi::LUA_GLOBALSINDEX);
        ffi::lua_setfield(lua, -2, c"__index".as_ptr());
        ffi::lua_pushcfunction(lua, script_lua::lua_readonly_table_error);
        ffi::lua_setfield(lua, -2, c"__newindex".as_ptr());
        ffi::lua_pushvalue(lua, -1);
        ffi::lua_setfield(lua, ffi::LUA_REGISTRYINDEX, GLOBALS_META_NAME.as_ptr());
        ffi::lua_setmetatable(lua, -2);
        ffi::lua_replace(lua, ffi::LUA_GLOBALSINDEX);
    }
    lua
}

/// Points the functions' globals at the registry table `api`.
unsafe fn set_globals_index(lua: *mut lua_State, api: &CStr) {
    ffi::lua_getfield(lua, ffi::LUA_REGISTRYINDEX, GLOBALS_META_NAME.as_ptr());
    ffi::lua_getfield(lua, ffi::LUA_REGISTRYINDEX, api.as_ptr());
    ffi::lua_setfield(lua, -2, c"__index".as_ptr());
    ffi::lua_pop(lua, 1);
}

/// function_lua.c: luaEngineLoadHook
unsafe extern "C-unwind" fn lua_engine_load_hook(lua: *mut lua_State, _ar: *mut ffi::lua_Debug) {
    let load_ctx = script_lua::lua_get_from_registry(lua, REGISTRY_LOAD_CTX_NAME) as *const LoadCtx;
    if load_ctx.is_null() {
        return;
    }
    let elapsed = (*load_ctx).start_time.elapsed().as_millis() as u64;
    if (*load_ctx).timeout_ms > 0 && elapsed > (*load_ctx).timeout_ms {
        // Fire on every line from now on, so pcall cannot swallow the timeout.
        ffi::lua_sethook(lua, Some(lua_engine_load_hook), ffi::LUA_MASKLINE, 0);
        script_lua::lua_push_error(lua, "FUNCTION LOAD timeout");
        ffi::lua_error(lua);
    }
}

/// function_lua.c: luaEngineCreate
///
/// Runs the library's code (without its shebang line) so it registers its functions
/// into `li`.
pub(crate) fn lua_engine_create(
    lua: *mut lua_State,
    li: &mut FunctionLibInfo,
    code: &[u8],
    timeout_ms: u64,
) -> Result<(), String> {
    unsafe {
        set_globals_index(lua, LIBRARY_API_NAME);
        let result = (|| {
            script_lua::lua_load_chunk(lua, code, c"@user_function")
                .map_err(|e| format!("Error compiling function: {e}"))?;
            let mut load_ctx = LoadCtx {
                li: li as *mut FunctionLibInfo,
                start_time: Instant::now(),
                timeout_ms,
            };
            script_lua::lua_save_on_registry(
                lua,
                REGISTRY_LOAD_CTX_NAME,
                &mut load_ctx as *mut LoadCtx as *mut c_void,
            );
            ffi::lua_sethook(lua, Some(lua_engine_load_hook), ffi::LUA_MASKCOUNT, 100_000);
            let err = ffi::lua_pcall(lua, 0, 0, 0);
            script_lua::lua_save_on_registry(lua, REGISTRY_LOAD_CTX_NAME, std::ptr::null_mut());
            if err != 0 {
                let info = script_lua::lua_extract_error_information(lua);
                ffi::lua_pop(lua, 1);
                let msg = info
                    .msg
                    .map(|m| String::from_utf8_lossy(&m).into_owned())
                    .unwrap_or_else(|| "(null)".into());
                return Err(format!("Error registering functions: {msg}"));
            }
            Ok(())
        })();
        set_globals_index(lua, GLOBALS_API_NAME);
        ffi::lua_sethook(lua, None, 0, 0);
        result
    }
}

/// function_lua.c: luaEngineCall
pub(crate) fn lua_engine_call(
    rctx: &mut ScriptRunCtx,
    lua: *mut lua_State,
    fi: &FunctionInfo,
    keys: &[Bytes],
    args: &[Bytes],
    busy_reply_threshold: i64,
) {
    unsafe {
        ffi::lua_getfield(
            lua,
            ffi::LUA_REGISTRYINDEX,
            REGISTRY_ERROR_HANDLER_NAME.as_ptr(),
        );
        ffi::lua_rawgeti(lua, ffi::LUA_REGISTRYINDEX, fi.lua_ref as ffi::lua_Integer);
        script_lua::lua_call_function(rctx, lua, keys, args, busy_reply_threshold);
        ffi::lua_pop(lua, 1); // the error handler
    }
}

/// function_lua.c: luaEngineFreeFunction
pub(crate) fn lua_engine_free_function(lua: *mut lua_State, fi: &FunctionInfo) {
    unsafe { ffi::luaL_unref(lua, ffi::LUA_REGISTRYINDEX, fi.lua_ref) };
}

/// What redis.register_function was given (function_lua.c: registerFunctionArgs).
struct RegisterFunctionArgs {
    name: Bytes,
    desc: Option<Bytes>,
    lua_ref: c_int,
    flags: u64,
}

unsafe fn lua_get_string(lua: *mut lua_State, idx: c_int) -> Option<Bytes> {
    if ffi::lua_isstring(lua, idx) == 0 {
        return None;
    }
    let mut len = 0usize;
    let p = ffi::lua_tolstring(lua, idx, &mut len);
    Some(Bytes::copy_from_slice(std::slice::from_raw_parts(
        p as *const u8,
        len,
    )))
}

/// function_lua.c: luaRegisterFunctionReadFlags (the table on top of the stack)
unsafe fn lua_register_function_read_flags(lua: *mut lua_State) -> Option<u64> {
    let mut flags = 0;
    let mut j = 1;
    loop {
        ffi::lua_pushnumber(lua, j as f64);
        j += 1;
        ffi::lua_gettable(lua, -2);
        if ffi::lua_type(lua, -1) == ffi::LUA_TNIL {
            ffi::lua_pop(lua, 1);
            return Some(flags);
        }
        let name = lua_get_string(lua, -1);
        ffi::lua_pop(lua, 1);
        let found = name.and_then(|n| {
            SCRIPTS_FLAGS_DEF
                .iter()
                .find(|(_, s)| s.as_bytes().eq_ignore_ascii_case(&n))
        });
        match found {
            Some((f, _)) => flags |= f,
            None => return None,
        }
    }
}

/// function_lua.c: luaRegisterFunctionReadNamedArgs
unsafe fn lua_register_function_read_named_args(
    lua: *mut lua_State,
) -> Result<RegisterFunctionArgs, &'static str> {
    if ffi::lua_istable(lua, 1) == 0 {
        return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
    }
    let mut name = None;
    let mut desc = None;
    let mut lua_ref = None;
    let mut flags = 0;
    let unref = |r: Option<c_int>| {
        if let Some(r) = r {
            ffi::luaL_unref(lua, ffi::LUA_REGISTRYINDEX, r);
        }
    };
    ffi::lua_pushnil(lua);
    while ffi::lua_next(lua, -2) != 0 {
        let err = if ffi::lua_isstring(lua, -2) == 0 {
            Some("named argument key given to redis.register_function is not a string")
        } else {
            let key = lua_get_string(lua, -2).unwrap_or_default();
            if key.eq_ignore_ascii_case(b"function_name") {
                name = lua_get_string(lua, -1);
                name.is_none().then_some(
                    "function_name argument given to redis.register_function must be a string",
                )
            } else if key.eq_ignore_ascii_case(b"description") {
                desc = lua_get_string(lua, -1);
                desc.is_none().then_some(
                    "description argument given to redis.register_function must be a string",
                )
            } else if key.eq_ignore_ascii_case(b"callback") {
                if ffi::lua_isfunction(lua, -1) == 0 {
                    Some("callback argument given to redis.register_function must be a function")
                } else {
                    // luaL_ref pops the value: the key is back on top for lua_next.
                    unref(lua_ref.take());
                    lua_ref = Some(ffi::luaL_ref(lua, ffi::LUA_REGISTRYINDEX));
                    continue;
                }
            } else if key.eq_ignore_ascii_case(b"flags") {
                if ffi::lua_istable(lua, -1) == 0 {
                    Some("flags argument to redis.register_function must be a table representing function flags")
                } else {
                    match lua_register_function_read_flags(lua) {
                        Some(f) => {
                            flags = f;
                            None
                        }
                        None => Some("unknown flag given"),
                    }
                }
            } else {
                Some("unknown argument given to redis.register_function")
            }
        };
        if let Some(err) = err {
            unref(lua_ref);
            return Err(err);
        }
        ffi::lua_pop(lua, 1);
    }
    let Some(name) = name else {
        unref(lua_ref);
        return Err("redis.register_function must get a function name argument");
    };
    let Some(lua_ref) = lua_ref else {
        return Err("redis.register_function must get a callback argument");
    };
    Ok(RegisterFunctionArgs {
        name,
        desc,
        lua_ref,
        flags,
    })
}

/// function_lua.c: luaRegisterFunctionReadPositionalArgs
unsafe fn lua_register_function_read_positional_args(
    lua: *mut lua_State,
) -> Result<RegisterFunctionArgs, &'static str> {
    let Some(name) = lua_get_string(lua, 1) else {
        return Err("first argument to redis.register_function must be a string");
    };
    if ffi::lua_isfunction(lua, 2) == 0 {
        return Err("second argument to redis.register_function must be a function");
    }
    let lua_ref = ffi::luaL_ref(lua, ffi::LUA_REGISTRYINDEX);
    Ok(RegisterFunctionArgs {
        name,
        desc: None,
        lua_ref,
        flags: 0,
    })
}

/// The work of redis.register_function, all but the raise: returns the error message.
unsafe fn register_function(lua: *mut lua_State) -> Option<String> {
    let load_ctx = script_lua::lua_get_from_registry(lua, REGISTRY_LOAD_CTX_NAME) as *mut LoadCtx;
    if load_ctx.is_null() {
        return Some("redis.register_function can only be called on FUNCTION LOAD command".into());
    }
    // function_lua.c: luaRegisterFunctionReadArgs
    let argc = ffi::lua_gettop(lua);
    let args = match argc {
        1 => lua_register_function_read_named_args(lua),
        2 => lua_register_function_read_positional_args(lua),
        _ => Err("wrong number of arguments to redis.register_function"),
    };
    let args = match args {
        Ok(a) => a,
        Err(e) => return Some(e.into()),
    };
    let fi = FunctionInfo {
        name: args.name,
        lua_ref: args.lua_ref,
        desc: args.desc,
        f_flags: args.flags,
    };
    match functions::function_lib_create_function(&mut *(*load_ctx).li, fi) {
        Ok(()) => None,
        Err((fi, e)) => {
            lua_engine_free_function(lua, &fi);
            Some(e)
        }
    }
}

/// function_lua.c: luaRegisterFunction (redis.register_function)
unsafe extern "C-unwind" fn lua_register_function(lua: *mut lua_State) -> c_int {
    let raise = match register_function(lua) {
        Some(err) => {
            script_lua::lua_push_error(lua, &err);
            true
        }
        None => false,
    };
    if raise {
        ffi::lua_error(lua);
    }
    0
}
