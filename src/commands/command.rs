//! Port of server.c (the COMMAND command family): COMMAND, COUNT, LIST, INFO, DOCS, GETKEYS,
//! GETKEYSANDFLAGS and HELP, with the helpers that describe a command in a reply, plus the
//! key-spec half of db.c's key extraction (getKeysFromCommandWithSpecs) that GETKEYS needs.
//!
//! Everything here reads the static table (`table.rs`); nothing mutates server state.
//! One difference from Redis is visible on the wire: Redis walks its command dicts in hash
//! order, which changes from run to run, while we walk the table in its (alphabetical)
//! order. Redis marks the affected commands `nondeterministic_output_order` for this reason.

use bytes::Bytes;

use super::{
    ArgType, BeginSearch, CommandArg, CommandTable, FindKeys, RedisCommand, ACL_CATEGORY_NAMES,
    CMD_ARG_MULTIPLE, CMD_ARG_MULTIPLE_TOKEN, CMD_ARG_OPTIONAL, CMD_DOC_DEPRECATED, CMD_DOC_SYSCMD,
    CMD_FLAG_NAMES, CMD_KEY_ACCESS, CMD_KEY_FLAG_NAMES, CMD_KEY_INCOMPLETE, CMD_KEY_NOT_KEY,
    CMD_KEY_OW, CMD_KEY_RW, CMD_KEY_UPDATE, CMD_KEY_VARIABLE_FLAGS, CMD_MODULE, CMD_MODULE_GETKEYS,
    CMD_NO_MANDATORY_KEYS,
};
use crate::networking::Client;
use crate::resp::{add_reply_error, add_reply_error_object, add_reply_help, shared};
use crate::server::Server;
use crate::util;

/// Names of the COMMAND DOCS `doc_flags` (server.c: addReplyDocFlagsForCommand).
const DOC_FLAG_NAMES: &[(u64, &str)] = &[
    (CMD_DOC_DEPRECATED as u64, "deprecated"),
    (CMD_DOC_SYSCMD as u64, "syscmd"),
];

/// Names of the argument flags (server.c: addReplyFlagsForArg).
const ARG_FLAG_NAMES: &[(u64, &str)] = &[
    (CMD_ARG_OPTIONAL as u64, "optional"),
    (CMD_ARG_MULTIPLE as u64, "multiple"),
    (CMD_ARG_MULTIPLE_TOKEN as u64, "multiple_token"),
];

// ---------------------------------------------------------------------------------------
// Describing a command: COMMAND INFO's array and COMMAND DOCS's map.
// ---------------------------------------------------------------------------------------

/// server.c: addReplyCommandFlags
///
/// A set of the names whose bit is present, in table order. Counting first gives the
/// length up front, so no deferred header is needed.
fn add_reply_command_flags(c: &mut Client, flags: u64, names: &[(u64, &str)]) {
    let count = names.iter().filter(|(bit, _)| flags & bit != 0).count();
    c.add_reply_set_len(count);
    for &(bit, name) in names {
        if flags & bit != 0 {
            c.add_reply_status(name);
        }
    }
}

/// server.c: addReplyFlagsForCommand
fn add_reply_flags_for_command(c: &mut Client, cmd: &RedisCommand) {
    add_reply_command_flags(c, cmd.flags, CMD_FLAG_NAMES);
}

/// server.c: addReplyDocFlagsForCommand
fn add_reply_doc_flags_for_command(c: &mut Client, cmd: &RedisCommand) {
    add_reply_command_flags(c, cmd.doc_flags as u64, DOC_FLAG_NAMES);
}

/// server.c: addReplyFlagsForKeyArgs
pub fn add_reply_flags_for_key_args(c: &mut Client, flags: u64) {
    add_reply_command_flags(c, flags, CMD_KEY_FLAG_NAMES);
}

/// server.c: addReplyFlagsForArg
fn add_reply_flags_for_arg(c: &mut Client, flags: u32) {
    add_reply_command_flags(c, flags as u64, ARG_FLAG_NAMES);
}

/// acl.c: addReplyCommandCategories
///
/// Redis fills in the set length afterwards; we count first, which yields the same bytes.
fn add_reply_command_categories(c: &mut Client, cmd: &RedisCommand) {
    let cats = cmd.acl_categories;
    let count = ACL_CATEGORY_NAMES
        .iter()
        .filter(|(bit, _)| cats & bit != 0)
        .count();
    c.add_reply_set_len(count);
    for &(bit, name) in ACL_CATEGORY_NAMES {
        if cats & bit != 0 {
            c.add_reply_proto(b"+@");
            c.add_reply_proto(name.as_bytes());
            c.add_reply_proto(b"\r\n");
        }
    }
}

/// server.c: addReplyCommandArgList
fn add_reply_command_arg_list(c: &mut Client, args: &[CommandArg]) {
    c.add_reply_array_len(args.len());
    for arg in args {
        let nested = matches!(arg.type_, ArgType::Oneof | ArgType::Block);
        let maplen = 2
            + usize::from(arg.key_spec_index != -1)
            + usize::from(arg.token.is_some())
            + usize::from(arg.summary.is_some())
            + usize::from(arg.since.is_some())
            + usize::from(arg.deprecated_since.is_some())
            + usize::from(arg.flags != 0)
            + usize::from(nested);
        c.add_reply_map_len(maplen);

        c.add_reply_bulk(b"name");
        c.add_reply_bulk(arg.name.as_bytes());
        c.add_reply_bulk(b"type");
        c.add_reply_bulk(arg.type_.name().as_bytes());
        if arg.key_spec_index != -1 {
            c.add_reply_bulk(b"key_spec_index");
            c.add_reply_long_long(arg.key_spec_index as i64);
        }
        if let Some(token) = arg.token {
            c.add_reply_bulk(b"token");
            c.add_reply_bulk(token.as_bytes());
        }
        if let Some(summary) = arg.summary {
            c.add_reply_bulk(b"summary");
            c.add_reply_bulk(summary.as_bytes());
        }
        if let Some(since) = arg.since {
            c.add_reply_bulk(b"since");
            c.add_reply_bulk(since.as_bytes());
        }
        if let Some(dep) = arg.deprecated_since {
            c.add_reply_bulk(b"deprecated_since");
            c.add_reply_bulk(dep.as_bytes());
        }
        if arg.flags != 0 {
            c.add_reply_bulk(b"flags");
            add_reply_flags_for_arg(c, arg.flags);
        }
        if nested {
            c.add_reply_bulk(b"arguments");
            add_reply_command_arg_list(c, arg.subargs);
        }
    }
}

/// server.c: addReplyCommandHistory
fn add_reply_command_history(c: &mut Client, cmd: &RedisCommand) {
    c.add_reply_set_len(cmd.history.len());
    for &(since, changes) in cmd.history {
        c.add_reply_array_len(2);
        c.add_reply_bulk(since.as_bytes());
        c.add_reply_bulk(changes.as_bytes());
    }
}

/// server.c: addReplyCommandTips
fn add_reply_command_tips(c: &mut Client, cmd: &RedisCommand) {
    c.add_reply_set_len(cmd.tips.len());
    for tip in cmd.tips {
        c.add_reply_bulk(tip.as_bytes());
    }
}

/// server.c: addReplyCommandKeySpecs
fn add_reply_command_key_specs(c: &mut Client, cmd: &RedisCommand) {
    c.add_reply_set_len(cmd.key_specs.len());
    for spec in cmd.key_specs {
        c.add_reply_map_len(3 + usize::from(spec.notes.is_some()));
        if let Some(notes) = spec.notes {
            c.add_reply_bulk(b"notes");
            c.add_reply_bulk(notes.as_bytes());
        }
        c.add_reply_bulk(b"flags");
        add_reply_flags_for_key_args(c, spec.flags);

        c.add_reply_bulk(b"begin_search");
        c.add_reply_map_len(2);
        c.add_reply_bulk(b"type");
        match spec.begin_search {
            BeginSearch::Unknown => {
                c.add_reply_bulk(b"unknown");
                c.add_reply_bulk(b"spec");
                c.add_reply_map_len(0);
            }
            BeginSearch::Index(pos) => {
                c.add_reply_bulk(b"index");
                c.add_reply_bulk(b"spec");
                c.add_reply_map_len(1);
                c.add_reply_bulk(b"index");
                c.add_reply_long_long(pos as i64);
            }
            BeginSearch::Keyword { keyword, startfrom } => {
                c.add_reply_bulk(b"keyword");
                c.add_reply_bulk(b"spec");
                c.add_reply_map_len(2);
                c.add_reply_bulk(b"keyword");
                c.add_reply_bulk(keyword.as_bytes());
                c.add_reply_bulk(b"startfrom");
                c.add_reply_long_long(startfrom as i64);
            }
            BeginSearch::Invalid => panic!("invalid begin_search in key spec of {}", cmd.fullname),
        }

        c.add_reply_bulk(b"find_keys");
        c.add_reply_map_len(2);
        c.add_reply_bulk(b"type");
        match spec.find_keys {
            FindKeys::Unknown => {
                c.add_reply_bulk(b"unknown");
                c.add_reply_bulk(b"spec");
                c.add_reply_map_len(0);
            }
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => {
                c.add_reply_bulk(b"range");
                c.add_reply_bulk(b"spec");
                c.add_reply_map_len(3);
                c.add_reply_bulk(b"lastkey");
                c.add_reply_long_long(lastkey as i64);
                c.add_reply_bulk(b"keystep");
                c.add_reply_long_long(keystep as i64);
                c.add_reply_bulk(b"limit");
                c.add_reply_long_long(limit as i64);
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                c.add_reply_bulk(b"keynum");
                c.add_reply_bulk(b"spec");
                c.add_reply_map_len(3);
                c.add_reply_bulk(b"keynumidx");
                c.add_reply_long_long(keynumidx as i64);
                c.add_reply_bulk(b"firstkey");
                c.add_reply_long_long(firstkey as i64);
                c.add_reply_bulk(b"keystep");
                c.add_reply_long_long(keystep as i64);
            }
            FindKeys::Invalid => panic!("invalid find_keys in key spec of {}", cmd.fullname),
        }
    }
}

/// server.c: addReplyCommandSubCommands
///
/// INFO lists subcommands as an array of descriptions, DOCS as a map from full name to
/// description; a command without subcommands gets an empty set.
fn add_reply_command_sub_commands(
    c: &mut Client,
    cmd: &RedisCommand,
    reply: fn(&mut Client, &RedisCommand),
    use_map: bool,
) {
    if !cmd.is_container() {
        c.add_reply_set_len(0);
        return;
    }
    if use_map {
        c.add_reply_map_len(cmd.subcommands.len());
    } else {
        c.add_reply_array_len(cmd.subcommands.len());
    }
    for sub in cmd.subcommands {
        if use_map {
            c.add_reply_bulk(sub.fullname.as_bytes());
        }
        reply(c, sub);
    }
}

// ANCHOR: add_reply_command_info
/// server.c: addReplyCommandInfo
///
/// The ten-element description COMMAND and COMMAND INFO print; an unknown name is a null.
pub fn add_reply_command_info(c: &mut Client, cmd: Option<&RedisCommand>) {
    let Some(cmd) = cmd else {
        c.add_reply_null();
        return;
    };
    let (firstkey, lastkey, keystep) = cmd.legacy_range;
    c.add_reply_array_len(10);
    c.add_reply_bulk(cmd.fullname.as_bytes());
    c.add_reply_long_long(cmd.arity as i64);
    add_reply_flags_for_command(c, cmd);
    c.add_reply_long_long(firstkey as i64);
    c.add_reply_long_long(lastkey as i64);
    c.add_reply_long_long(keystep as i64);
    add_reply_command_categories(c, cmd);
    add_reply_command_tips(c, cmd);
    add_reply_command_key_specs(c, cmd);
    add_reply_command_sub_commands(c, cmd, add_reply_command_info_some, false);
}
// ANCHOR_END: add_reply_command_info

/// `add_reply_command_info` for a known command, in the shape
/// `add_reply_command_sub_commands` calls back.
fn add_reply_command_info_some(c: &mut Client, cmd: &RedisCommand) {
    add_reply_command_info(c, Some(cmd));
}

/// server.c: addReplyCommandDocs
///
/// A map whose optional fields appear only when the command has them; its length is
/// counted first so no deferred header is needed.
pub fn add_reply_command_docs(c: &mut Client, cmd: &RedisCommand) {
    let has_summary = !cmd.summary.is_empty();
    let has_since = !cmd.since.is_empty();
    let maplen = 1
        + usize::from(has_summary)
        + usize::from(has_since)
        + usize::from(cmd.flags & CMD_MODULE != 0)
        + usize::from(cmd.complexity.is_some())
        + usize::from(cmd.doc_flags != 0)
        + usize::from(cmd.deprecated_since.is_some())
        + usize::from(cmd.replaced_by.is_some())
        + usize::from(!cmd.history.is_empty())
        + usize::from(!cmd.args.is_empty())
        + usize::from(cmd.is_container());
    c.add_reply_map_len(maplen);

    if has_summary {
        c.add_reply_bulk(b"summary");
        c.add_reply_bulk(cmd.summary.as_bytes());
    }
    if has_since {
        c.add_reply_bulk(b"since");
        c.add_reply_bulk(cmd.since.as_bytes());
    }
    // The group is always present (module commands would say "module").
    c.add_reply_bulk(b"group");
    c.add_reply_bulk(cmd.group.as_bytes());
    if let Some(complexity) = cmd.complexity {
        c.add_reply_bulk(b"complexity");
        c.add_reply_bulk(complexity.as_bytes());
    }
    if cmd.flags & CMD_MODULE != 0 {
        // No modules in Ferredis; kept so the map length above stays honest.
        c.add_reply_bulk(b"module");
        c.add_reply_bulk(b"");
    }
    if cmd.doc_flags != 0 {
        c.add_reply_bulk(b"doc_flags");
        add_reply_doc_flags_for_command(c, cmd);
    }
    if let Some(dep) = cmd.deprecated_since {
        c.add_reply_bulk(b"deprecated_since");
        c.add_reply_bulk(dep.as_bytes());
    }
    if let Some(by) = cmd.replaced_by {
        c.add_reply_bulk(b"replaced_by");
        c.add_reply_bulk(by.as_bytes());
    }
    if !cmd.history.is_empty() {
        c.add_reply_bulk(b"history");
        add_reply_command_history(c, cmd);
    }
    if !cmd.args.is_empty() {
        c.add_reply_bulk(b"arguments");
        add_reply_command_arg_list(c, cmd.args);
    }
    if cmd.is_container() {
        c.add_reply_bulk(b"subcommands");
        add_reply_command_sub_commands(c, cmd, add_reply_command_docs, true);
    }
}

/// The top-level commands, in table order (Redis iterates `server.commands`).
fn top_level_commands(table: &CommandTable) -> impl Iterator<Item = &'static RedisCommand> + '_ {
    table
        .all
        .iter()
        .copied()
        .filter(|cmd| !cmd.fullname.contains('|'))
}

// ---------------------------------------------------------------------------------------
// The commands.
// ---------------------------------------------------------------------------------------

/// server.c: commandCommand
pub fn command_command(s: &mut Server, c: &mut Client) {
    c.add_reply_array_len(s.commands.count);
    for cmd in top_level_commands(&s.commands) {
        add_reply_command_info(c, Some(cmd));
    }
}

/// server.c: commandCountCommand
pub fn command_count_command(s: &mut Server, c: &mut Client) {
    c.add_reply_long_long(s.commands.count as i64);
}

/// server.c: commandListFilterType
/// server.c: commandListFilter
///
/// The category that Redis looks up lazily and caches is resolved once, up front, here.
enum CommandListFilter {
    /// No modules exist, so this filter never matches (moduleIsModuleCommand is false).
    Module,
    /// An ACL category bit; 0 for an unknown category, which matches nothing.
    AclCat(u64),
    Pattern(Bytes),
}

/// server.c: shouldFilterFromCommandList
fn should_filter_from_command_list(cmd: &RedisCommand, filter: &CommandListFilter) -> bool {
    match filter {
        CommandListFilter::Module => true,
        CommandListFilter::AclCat(cat) => *cat == 0 || cmd.acl_categories & cat == 0,
        CommandListFilter::Pattern(pattern) => {
            !util::stringmatchlen(pattern, cmd.fullname.as_bytes(), true)
        }
    }
}

/// acl.c: ACLGetCommandCategoryFlagByName
fn acl_get_command_category_flag_by_name(name: &[u8]) -> u64 {
    ACL_CATEGORY_NAMES
        .iter()
        .find(|(_, n)| n.as_bytes().eq_ignore_ascii_case(name))
        .map_or(0, |&(bit, _)| bit)
}

/// server.c: commandListWithFilter
/// server.c: commandListWithoutFilter
///
/// One function for both (no filter lists everything). Each command is followed by its
/// subcommands, as Redis's recursive walk does.
fn command_list_with_filter(
    c: &mut Client,
    table: &CommandTable,
    filter: Option<&CommandListFilter>,
) -> usize {
    let mut numcmds = 0;
    for cmd in table.all.iter() {
        if filter.is_none_or(|f| !should_filter_from_command_list(cmd, f)) {
            c.add_reply_bulk(cmd.fullname.as_bytes());
            numcmds += 1;
        }
    }
    numcmds
}

/// server.c: commandListCommand
///
/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]
pub fn command_list_command(s: &mut Server, c: &mut Client) {
    let mut filter = None;
    let mut i = 2;
    while i < c.argv.len() {
        let moreargs = c.argv.len() - 1 - i;
        if c.argv[i].eq_ignore_ascii_case(b"filterby") && moreargs == 2 {
            let kind = &c.argv[i + 1];
            let arg = c.argv[i + 2].clone();
            filter = Some(if kind.eq_ignore_ascii_case(b"module") {
                CommandListFilter::Module
            } else if kind.eq_ignore_ascii_case(b"aclcat") {
                CommandListFilter::AclCat(acl_get_command_category_flag_by_name(&arg))
            } else if kind.eq_ignore_ascii_case(b"pattern") {
                CommandListFilter::Pattern(arg)
            } else {
                add_reply_error_object(s, c, shared::SYNTAXERR);
                return;
            });
            i += 2;
        } else {
            add_reply_error_object(s, c, shared::SYNTAXERR);
            return;
        }
        i += 1;
    }

    let replylen = c.add_reply_deferred_len();
    let numcmds = command_list_with_filter(c, &s.commands, filter.as_ref());
    c.set_deferred_array_len(replylen, numcmds);
}

/// server.c: commandInfoCommand
///
/// COMMAND INFO [name ...]: every command when no name is given, else one entry per
/// name (a null for an unknown one). Names may be "container|sub".
pub fn command_info_command(s: &mut Server, c: &mut Client) {
    if c.argv.len() == 2 {
        c.add_reply_array_len(s.commands.count);
        for cmd in top_level_commands(&s.commands) {
            add_reply_command_info(c, Some(cmd));
        }
    } else {
        let n = c.argv.len() - 2;
        c.add_reply_array_len(n);
        for i in 2..c.argv.len() {
            let cmd = s.commands.lookup_by_fullname(&c.argv[i]);
            add_reply_command_info(c, cmd);
        }
    }
}

/// server.c: commandDocsCommand
///
/// COMMAND DOCS [name ...]: a map from full name to documentation; unknown names are
/// left out, so the length is only known at the end.
pub fn command_docs_command(s: &mut Server, c: &mut Client) {
    if c.argv.len() == 2 {
        c.add_reply_map_len(s.commands.count);
        for cmd in top_level_commands(&s.commands) {
            c.add_reply_bulk(cmd.fullname.as_bytes());
            add_reply_command_docs(c, cmd);
        }
    } else {
        let replylen = c.add_reply_deferred_len();
        let mut numcmds = 0;
        for i in 2..c.argv.len() {
            let Some(cmd) = s.commands.lookup_by_fullname(&c.argv[i]) else {
                continue;
            };
            c.add_reply_bulk(cmd.fullname.as_bytes());
            add_reply_command_docs(c, cmd);
            numcmds += 1;
        }
        c.set_deferred_map_len(replylen, numcmds);
    }
}

/// server.c: commandGetKeysCommand
pub fn command_getkeys_command(s: &mut Server, c: &mut Client) {
    get_keys_subcommand_impl(s, c, false);
}

/// server.c: commandGetKeysAndFlagsCommand
pub fn command_getkeysandflags_command(s: &mut Server, c: &mut Client) {
    get_keys_subcommand_impl(s, c, true);
}

/// server.c: getKeysSubcommandImpl
///
/// COMMAND GETKEYS / GETKEYSANDFLAGS <full command line>: the command named in argv[2]
/// (and argv[3] for a subcommand) is looked up and its keys found by its key specs.
fn get_keys_subcommand_impl(s: &mut Server, c: &mut Client, with_flags: bool) {
    // COMMAND GETKEYS has arity -4, so argv[2] exists; the guard only avoids a panic.
    let found = match c.argv.get(2..) {
        Some(line) if !line.is_empty() => s.commands.lookup_command(line),
        _ => None,
    };
    let Some(cmd) = found else {
        add_reply_error(s, c, "Invalid command specified");
        return;
    };
    if !does_command_have_keys(cmd) {
        add_reply_error(s, c, "The command has no key arguments");
        return;
    }
    let argc = (c.argv.len() - 2) as i64;
    let arity = cmd.arity as i64;
    if (arity > 0 && arity != argc) || argc < -arity {
        add_reply_error(s, c, "Invalid number of arguments specified for command");
        return;
    }

    let mut keys = Vec::new();
    let numkeys =
        get_keys_from_command_with_specs(cmd, &c.argv[2..], GET_KEYSPEC_DEFAULT, &mut keys);
    if numkeys == 0 {
        if cmd.flags & CMD_NO_MANDATORY_KEYS != 0 {
            c.add_reply_array_len(0);
        } else {
            add_reply_error(s, c, "Invalid arguments specified for command");
        }
        return;
    }
    c.add_reply_array_len(keys.len());
    for key in &keys {
        let name = c.argv[key.pos + 2].clone();
        if with_flags {
            c.add_reply_array_len(2);
            c.add_reply_bulk(&name);
            add_reply_flags_for_key_args(c, key.flags);
        } else {
            c.add_reply_bulk(&name);
        }
    }
}

/// server.c: commandHelpCommand
pub fn command_help_command(_s: &mut Server, c: &mut Client) {
    // The text is part of the reply, so it is Redis's own, byte for byte.
    const HELP: &[&str] = &[
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "GETKEYSANDFLAGS <full-command>",
        "    Return the keys and the access flags from a full Redis command.",
    ];
    add_reply_help(c, HELP);
}

// ---------------------------------------------------------------------------------------
// Finding the keys of a command line (db.c). Only what key specs and the built-in
// getkeys procs of the implemented commands need.
// ---------------------------------------------------------------------------------------

/// server.h: GET_KEYSPEC_DEFAULT
pub const GET_KEYSPEC_DEFAULT: u32 = 0;
/// server.h: GET_KEYSPEC_INCLUDE_NOT_KEYS (report not-key arguments as keys too)
pub const GET_KEYSPEC_INCLUDE_NOT_KEYS: u32 = 1 << 0;
/// server.h: GET_KEYSPEC_RETURN_PARTIAL (skip specs that fail instead of failing)
pub const GET_KEYSPEC_RETURN_PARTIAL: u32 = 1 << 1;

/// server.h: keyReference: where a key sits in argv, and how the command uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyReference {
    pub pos: usize,
    pub flags: u64,
}

/// A command-specific key finder (server.h: redisGetKeysProc), for commands whose key
/// specs cannot tell the whole story. Returns the number of keys pushed.
pub type GetKeysProc = fn(&RedisCommand, &[Bytes], &mut Vec<KeyReference>) -> usize;

/// The command's own key finder, if it has one: Redis's `getkeys_proc` column of the
/// command table. `RedisCommand` has no such field yet, so the few commands that have
/// one are named here.
pub fn getkeys_proc(cmd: &RedisCommand) -> Option<GetKeysProc> {
    match cmd.fullname {
        "set" => Some(set_get_keys),
        _ => None,
    }
}

/// db.c: getAllKeySpecsFlags
///
/// The union of the specs' flags, or with `inv` the union of their complements (a bit is
/// set when at least one spec lacks it).
pub fn get_all_key_specs_flags(cmd: &RedisCommand, inv: bool) -> u64 {
    cmd.key_specs.iter().fold(0, |acc, spec| {
        acc | if inv { !spec.flags } else { spec.flags }
    })
}

/// db.c: doesCommandHaveKeys
pub fn does_command_have_keys(cmd: &RedisCommand) -> bool {
    getkeys_proc(cmd).is_some()
        || cmd.flags & CMD_MODULE_GETKEYS != 0
        || get_all_key_specs_flags(cmd, true) & CMD_KEY_NOT_KEY != 0
}

// ANCHOR: get_keys_using_key_specs
/// db.c: getKeysUsingKeySpecs
///
/// Walks every key spec over `argv` (argv[0] is the command name). Returns the number of
/// keys found, or None when a spec does not fit the arguments (unless
/// GET_KEYSPEC_RETURN_PARTIAL asks to skip such specs).
pub fn get_keys_using_key_specs(
    cmd: &RedisCommand,
    argv: &[Bytes],
    search_flags: u32,
    result: &mut Vec<KeyReference>,
) -> Option<usize> {
    let argc = argv.len() as i64;
    result.clear();

    for spec in cmd.key_specs {
        if spec.flags & CMD_KEY_NOT_KEY != 0 && search_flags & GET_KEYSPEC_INCLUDE_NOT_KEYS == 0 {
            continue;
        }
        // Each spec either adds its keys (Some) or is invalid for these arguments (None).
        let found = (|| -> Option<()> {
            let mut first: i64 = match spec.begin_search {
                BeginSearch::Index(pos) => pos as i64,
                BeginSearch::Keyword { keyword, startfrom } => {
                    let startfrom = startfrom as i64;
                    // A positive start searches forward to the end, a negative one backward
                    // from the end down to argv[1].
                    let (start, end) = if startfrom > 0 {
                        (startfrom, argc - 1)
                    } else {
                        (argc + startfrom, 1)
                    };
                    let mut found = 0;
                    let mut i = start;
                    while i != end {
                        if i >= argc || i < 1 {
                            break;
                        }
                        if argv[i as usize].eq_ignore_ascii_case(keyword.as_bytes()) {
                            found = i + 1;
                            break;
                        }
                        i = if start <= end { i + 1 } else { i - 1 };
                    }
                    if found == 0 {
                        // No keyword, no keys from this spec; not an error.
                        return Some(());
                    }
                    found
                }
                BeginSearch::Unknown => return None,
                BeginSearch::Invalid => panic!("invalid key spec in {}", cmd.fullname),
            };

            let (last, step) = match spec.find_keys {
                FindKeys::Range {
                    lastkey,
                    keystep,
                    limit,
                } => {
                    let (lastkey, limit) = (lastkey as i64, limit as i64);
                    let last = if lastkey >= 0 {
                        first + lastkey
                    } else if limit == 0 {
                        argc + lastkey
                    } else {
                        assert_eq!(lastkey, -1, "a limited range must end at -1");
                        first + ((argc - first) / limit + lastkey)
                    };
                    (last, keystep as i64)
                }
                FindKeys::Keynum {
                    keynumidx,
                    firstkey,
                    keystep,
                } => {
                    let idx = first + keynumidx as i64;
                    // Redis checks only keynumidx against argc; we also keep the read in
                    // bounds.
                    if keynumidx as i64 >= argc || idx >= argc {
                        return None;
                    }
                    let numkeys = util::string2ll(&argv[idx as usize]).filter(|&n| n >= 0)?;
                    first += firstkey as i64;
                    (first + numkeys - 1, keystep as i64)
                }
                FindKeys::Unknown => return None,
                FindKeys::Invalid => panic!("invalid key spec in {}", cmd.fullname),
            };

            // Out-of-range bounds mean the arguments do not fit the spec.
            if last >= argc || last < first || first >= argc {
                return None;
            }
            let mut i = first;
            while i <= last {
                if i >= argc || i < first {
                    // Only commands without a fixed arity can get here; the command itself
                    // reports the bad arguments later.
                    if cmd.flags & CMD_MODULE != 0 || cmd.arity < 0 {
                        i += step;
                        continue;
                    }
                    panic!(
                        "{}: key spec positions do not match the arity",
                        cmd.fullname
                    );
                }
                result.push(KeyReference {
                    pos: i as usize,
                    flags: spec.flags,
                });
                i += step;
            }
            // An incomplete spec fails after contributing its keys, so a partial search
            // still sees them.
            if spec.flags & CMD_KEY_INCOMPLETE != 0 {
                return None;
            }
            Some(())
        })();

        if found.is_none() {
            if search_flags & GET_KEYSPEC_RETURN_PARTIAL != 0 {
                continue;
            }
            result.clear();
            return None;
        }
    }
    Some(result.len())
}
// ANCHOR_END: get_keys_using_key_specs

/// db.c: getKeysFromCommandWithSpecs
///
/// Key specs are preferred when the command has a real-key spec and none of its specs
/// has variable flags; otherwise, or when the specs fail, the command's own key finder
/// decides. Returns the number of keys in `result`.
pub fn get_keys_from_command_with_specs(
    cmd: &RedisCommand,
    argv: &[Bytes],
    search_flags: u32,
    result: &mut Vec<KeyReference>,
) -> usize {
    let has_keyspec = get_all_key_specs_flags(cmd, true) & CMD_KEY_NOT_KEY != 0;
    let has_varflags = get_all_key_specs_flags(cmd, false) & CMD_KEY_VARIABLE_FLAGS != 0;

    if has_keyspec && !has_varflags {
        if let Some(n) = get_keys_using_key_specs(cmd, argv, search_flags, result) {
            return n;
        }
    }
    result.clear();
    // (Module commands with their own key callback would be asked here.)
    match getkeys_proc(cmd) {
        Some(getkeys) => getkeys(cmd, argv, result),
        None => 0,
    }
}

/// db.c: setGetKeys
///
/// SET's key is always argv[1]; whether SET reads it depends on the GET option, which a
/// key spec cannot express.
pub fn set_get_keys(_cmd: &RedisCommand, argv: &[Bytes], result: &mut Vec<KeyReference>) -> usize {
    // Redis compares the C string, so anything after a NUL byte is ignored.
    let is_get = |arg: &Bytes| {
        arg.len() >= 3
            && arg[..3].eq_ignore_ascii_case(b"get")
            && arg.get(3).is_none_or(|&b| b == 0)
    };
    let has_get = argv.iter().skip(3).any(is_get);
    let flags = if has_get {
        CMD_KEY_RW | CMD_KEY_ACCESS | CMD_KEY_UPDATE
    } else {
        CMD_KEY_OW | CMD_KEY_UPDATE
    };
    result.push(KeyReference { pos: 1, flags });
    1
}
