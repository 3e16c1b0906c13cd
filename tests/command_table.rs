//! The command table and the key-spec machinery, without a server.
//!
//! Byte-for-byte COMMAND INFO/DOCS comparisons against redis-server live in the
//! differential harness; these tests pin the table's shape and lookups, and check key
//! extraction against answers the real Redis 7.0 gave to COMMAND GETKEYSANDFLAGS.

use bytes::Bytes;
use ferredis::commands::command::{
    does_command_have_keys, get_keys_from_command_with_specs, get_keys_using_key_specs,
    KeyReference, GET_KEYSPEC_DEFAULT, GET_KEYSPEC_RETURN_PARTIAL,
};
use ferredis::commands::*;

fn argv(words: &[&str]) -> Vec<Bytes> {
    words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

fn table() -> CommandTable {
    CommandTable::new()
}

#[test]
fn ids_are_unique_dense_and_follow_all_order() {
    let t = table();
    assert!(!t.all.is_empty());
    for (i, cmd) in t.all.iter().enumerate() {
        assert_eq!(
            cmd.id, i,
            "{} has id {}, expected {}",
            cmd.fullname, cmd.id, i
        );
    }
    assert_eq!(t.stats_len(), t.all.len());
}

#[test]
fn count_is_top_level_commands() {
    let t = table();
    let top = t.all.iter().filter(|c| !c.fullname.contains('|')).count();
    assert_eq!(t.count, top);
    assert_eq!(t.count, table::COMMANDS.len());
    let subs: usize = table::COMMANDS.iter().map(|c| c.subcommands.len()).sum();
    assert_eq!(t.all.len(), t.count + subs);
}

#[test]
fn lookup_is_case_insensitive() {
    let t = table();
    for name in ["get", "GET", "GeT"] {
        let cmd = t.lookup_command(&argv(&[name, "k"])).expect(name);
        assert_eq!(cmd.fullname, "get");
    }
    assert_eq!(t.lookup_base(b"PiNg").unwrap().fullname, "ping");
    assert!(t.lookup_command(&argv(&["nosuch"])).is_none());
    assert!(t.lookup_base(b"").is_none());
}

#[test]
fn lookup_resolves_subcommands() {
    let t = table();
    let id = t.lookup_command(&argv(&["CLIENT", "Id"])).unwrap();
    assert_eq!((id.fullname, id.declared_name), ("client|id", "id"));
    let get = t
        .lookup_command(&argv(&["config", "GET", "maxmemory"]))
        .unwrap();
    assert_eq!(get.fullname, "config|get");
    let noevict = t
        .lookup_command(&argv(&["client", "NO-EVICT", "on"]))
        .unwrap();
    assert_eq!(noevict.fullname, "client|no-evict");
    // A container alone is the container; an unknown subcommand is no command at all.
    assert_eq!(
        t.lookup_command(&argv(&["client"])).unwrap().fullname,
        "client"
    );
    assert!(t.lookup_command(&argv(&["client", "nosuch"])).is_none());
    // A command without subcommands ignores what follows it.
    assert_eq!(
        t.lookup_command(&argv(&["set", "k", "v"]))
            .unwrap()
            .fullname,
        "set"
    );
}

#[test]
fn lookup_by_fullname() {
    let t = table();
    assert_eq!(
        t.lookup_by_fullname(b"CLIENT|ID").unwrap().fullname,
        "client|id"
    );
    assert_eq!(
        t.lookup_by_fullname(b"command").unwrap().fullname,
        "command"
    );
    assert!(t.lookup_by_fullname(b"client|nosuch").is_none());
    assert!(t.lookup_by_fullname(b"get|x").is_none());
    assert!(t.lookup_by_fullname(b"client|id|x").is_none());
    assert!(t.lookup_by_fullname(b"").is_none());
    assert!(t.lookup_by_fullname(b"|").is_none());
}

#[test]
fn every_command_has_a_proc_except_pure_containers() {
    let t = table();
    let containers: Vec<&str> = t
        .all
        .iter()
        .filter(|c| c.proc_.is_none())
        .map(|c| c.fullname)
        .collect();
    assert_eq!(
        containers,
        ["client", "config", "function", "memory", "object", "pubsub", "script", "slowlog"]
    );
    for cmd in &t.all {
        if cmd.proc_.is_none() {
            assert!(cmd.is_container(), "{} has no proc", cmd.fullname);
        }
    }
    // COMMAND is a container that also runs on its own.
    let command = t.lookup_base(b"command").unwrap();
    assert!(command.is_container() && command.proc_.is_some());
}

#[test]
fn names_are_consistent() {
    for cmd in table::COMMANDS {
        assert_eq!(cmd.fullname, cmd.declared_name);
        assert_eq!(cmd.declared_name, cmd.declared_name.to_ascii_lowercase());
        for sub in cmd.subcommands {
            assert_eq!(
                sub.fullname,
                format!("{}|{}", cmd.declared_name, sub.declared_name)
            );
            assert_eq!(sub.declared_name, sub.declared_name.to_ascii_lowercase());
            assert!(sub.subcommands.is_empty(), "one level of subcommands only");
        }
    }
}

#[test]
fn every_command_is_documented() {
    for cmd in table().all {
        assert!(!cmd.summary.is_empty(), "{} has no summary", cmd.fullname);
        assert!(!cmd.since.is_empty(), "{} has no since", cmd.fullname);
        assert!(!cmd.group.is_empty(), "{} has no group", cmd.fullname);
        for spec in cmd.key_specs {
            assert!(!matches!(spec.begin_search, BeginSearch::Invalid));
            assert!(!matches!(spec.find_keys, FindKeys::Invalid));
        }
    }
}

#[test]
fn facts_match_redis_7_0() {
    let t = table();
    let get = t.lookup_base(b"get").unwrap();
    assert_eq!(get.arity, 2);
    assert_eq!(get.flags, CMD_READONLY | CMD_FAST);
    assert_eq!(
        get.acl_categories,
        ACL_CATEGORY_READ | ACL_CATEGORY_STRING | ACL_CATEGORY_FAST
    );
    assert_eq!(get.legacy_range, (1, 1, 1));
    assert_eq!(get.group, "string");

    let set = t.lookup_base(b"set").unwrap();
    assert_eq!(set.arity, -3);
    assert_eq!(
        set.key_specs[0].flags,
        CMD_KEY_RW | CMD_KEY_ACCESS | CMD_KEY_UPDATE | CMD_KEY_VARIABLE_FLAGS
    );
    assert!(set.key_specs[0].notes.is_some());
    assert_eq!(set.history.len(), 4);

    let del = t.lookup_base(b"del").unwrap();
    assert_eq!(del.legacy_range, (1, -1, 1));
    // Flags Redis hides from COMMAND INFO are still in the table.
    assert!(t.lookup_base(b"debug").unwrap().flags & CMD_PROTECTED != 0);
    assert!(t.lookup_base(b"ping").unwrap().flags & CMD_SENTINEL != 0);
    assert_eq!(t.lookup_base(b"debug").unwrap().doc_flags, CMD_DOC_SYSCMD);
}

#[test]
fn hidden_flags_have_no_reply_name() {
    for hidden in [
        CMD_MAY_REPLICATE,
        CMD_SENTINEL,
        CMD_ONLY_SENTINEL,
        CMD_PROTECTED,
    ] {
        assert!(CMD_FLAG_NAMES.iter().all(|&(bit, _)| bit != hidden));
    }
    assert_eq!(CMD_FLAG_NAMES.len(), 20);
}

// ---------------------------------------------------------------------------------------
// Key extraction.
// ---------------------------------------------------------------------------------------

/// Keys as (argument, flags) for a command line, the shape GETKEYSANDFLAGS replies with.
fn keys_of(cmd: &RedisCommand, line: &[&str], search_flags: u32) -> Option<Vec<(String, u64)>> {
    let argv = argv(line);
    let mut result: Vec<KeyReference> = Vec::new();
    get_keys_using_key_specs(cmd, &argv, search_flags, &mut result)?;
    Some(
        result
            .iter()
            .map(|k| (line[k.pos].to_string(), k.flags))
            .collect(),
    )
}

fn synthetic(fullname: &'static str, arity: i32, key_specs: &'static [KeySpec]) -> RedisCommand {
    RedisCommand {
        id: 0,
        declared_name: fullname,
        fullname,
        summary: "test",
        since: "7.0.0",
        group: "generic",
        complexity: None,
        doc_flags: 0,
        deprecated_since: None,
        replaced_by: None,
        history: &[],
        tips: &[],
        proc_: None,
        arity,
        flags: 0,
        acl_categories: 0,
        key_specs,
        legacy_range: (0, 0, 0),
        args: &[],
        subcommands: &[],
    }
}

const RO_ACCESS: u64 = CMD_KEY_RO | CMD_KEY_ACCESS;
const OW_UPDATE: u64 = CMD_KEY_OW | CMD_KEY_UPDATE;
const RW_ACCESS_DELETE: u64 = CMD_KEY_RW | CMD_KEY_ACCESS | CMD_KEY_DELETE;

fn k(name: &str, flags: u64) -> (String, u64) {
    (name.to_string(), flags)
}

#[test]
fn index_and_range_specs() {
    let t = table();
    let del = t.lookup_base(b"del").unwrap();
    assert_eq!(
        keys_of(del, &["del", "a", "b", "c"], GET_KEYSPEC_DEFAULT).unwrap(),
        [
            k("a", CMD_KEY_RM | CMD_KEY_DELETE),
            k("b", CMD_KEY_RM | CMD_KEY_DELETE),
            k("c", CMD_KEY_RM | CMD_KEY_DELETE)
        ]
    );
    // MSET: every other argument (keystep 2).
    static MSET: &[KeySpec] = &[KeySpec {
        notes: None,
        flags: OW_UPDATE,
        begin_search: BeginSearch::Index(1),
        find_keys: FindKeys::Range {
            lastkey: -1,
            keystep: 2,
            limit: 0,
        },
    }];
    let mset = synthetic("mset", -3, MSET);
    assert_eq!(
        keys_of(&mset, &["mset", "a", "1", "b", "2"], 0).unwrap(),
        [k("a", OW_UPDATE), k("b", OW_UPDATE)]
    );
    // BLPOP: all but the last argument (lastkey -2).
    static BLPOP: &[KeySpec] = &[KeySpec {
        notes: None,
        flags: RW_ACCESS_DELETE,
        begin_search: BeginSearch::Index(1),
        find_keys: FindKeys::Range {
            lastkey: -2,
            keystep: 1,
            limit: 0,
        },
    }];
    let blpop = synthetic("blpop", -3, BLPOP);
    assert_eq!(
        keys_of(&blpop, &["blpop", "a", "b", "0"], 0).unwrap(),
        [k("a", RW_ACCESS_DELETE), k("b", RW_ACCESS_DELETE)]
    );
}

#[test]
fn keynum_specs() {
    // ZUNIONSTORE dst numkeys key... : an index spec, then a keynum spec.
    static ZUNIONSTORE: &[KeySpec] = &[
        KeySpec {
            notes: None,
            flags: OW_UPDATE,
            begin_search: BeginSearch::Index(1),
            find_keys: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        },
        KeySpec {
            notes: None,
            flags: RO_ACCESS,
            begin_search: BeginSearch::Index(2),
            find_keys: FindKeys::Keynum {
                keynumidx: 0,
                firstkey: 1,
                keystep: 1,
            },
        },
    ];
    let z = synthetic("zunionstore", -4, ZUNIONSTORE);
    assert_eq!(
        keys_of(
            &z,
            &["zunionstore", "dst", "2", "a", "b", "weights", "1", "2"],
            0
        )
        .unwrap(),
        [k("dst", OW_UPDATE), k("a", RO_ACCESS), k("b", RO_ACCESS)]
    );
    // LMPOP numkeys key... : a negative or zero count does not fit the spec.
    static LMPOP: &[KeySpec] = &[KeySpec {
        notes: None,
        flags: RW_ACCESS_DELETE,
        begin_search: BeginSearch::Index(1),
        find_keys: FindKeys::Keynum {
            keynumidx: 0,
            firstkey: 1,
            keystep: 1,
        },
    }];
    let lmpop = synthetic("lmpop", -4, LMPOP);
    assert_eq!(
        keys_of(&lmpop, &["lmpop", "2", "a", "b", "left"], 0).unwrap(),
        [k("a", RW_ACCESS_DELETE), k("b", RW_ACCESS_DELETE)]
    );
    assert_eq!(keys_of(&lmpop, &["lmpop", "-1", "a", "left"], 0), None);
    assert_eq!(keys_of(&lmpop, &["lmpop", "x", "a", "left"], 0), None);
    assert_eq!(keys_of(&lmpop, &["lmpop", "0", "left"], 0), None);
    assert_eq!(keys_of(&lmpop, &["lmpop", "9", "a", "left"], 0), None);
}

#[test]
fn keyword_specs() {
    // XREAD ... STREAMS key... id... : the keys are the first half after the keyword.
    static XREAD: &[KeySpec] = &[KeySpec {
        notes: None,
        flags: RO_ACCESS,
        begin_search: BeginSearch::Keyword {
            keyword: "STREAMS",
            startfrom: 1,
        },
        find_keys: FindKeys::Range {
            lastkey: -1,
            keystep: 1,
            limit: 2,
        },
    }];
    let xread = synthetic("xread", -4, XREAD);
    assert_eq!(
        keys_of(
            &xread,
            &["xread", "count", "2", "streams", "s1", "s2", "0", "0"],
            0
        )
        .unwrap(),
        [k("s1", RO_ACCESS), k("s2", RO_ACCESS)]
    );
    assert_eq!(
        keys_of(&xread, &["xread", "streams", "s1", "s2", "0"], 0).unwrap(),
        [k("s1", RO_ACCESS)]
    );
    // GEORADIUS key ... [STORE key]: a keyword that is absent contributes nothing.
    static GEORADIUS: &[KeySpec] = &[
        KeySpec {
            notes: None,
            flags: RO_ACCESS,
            begin_search: BeginSearch::Index(1),
            find_keys: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        },
        KeySpec {
            notes: None,
            flags: OW_UPDATE,
            begin_search: BeginSearch::Keyword {
                keyword: "STORE",
                startfrom: 6,
            },
            find_keys: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        },
    ];
    let geo = synthetic("georadius", -6, GEORADIUS);
    assert_eq!(
        keys_of(
            &geo,
            &["georadius", "k", "1", "2", "3", "m", "store", "dst"],
            0
        )
        .unwrap(),
        [k("k", RO_ACCESS), k("dst", OW_UPDATE)]
    );
    assert_eq!(
        keys_of(&geo, &["georadius", "k", "1", "2", "3", "m"], 0).unwrap(),
        [k("k", RO_ACCESS)]
    );
    // MIGRATE ... KEYS key...: searched backwards; the spec is incomplete, so a full
    // search fails and a partial one keeps what it found.
    static MIGRATE: &[KeySpec] = &[
        KeySpec {
            notes: None,
            flags: RW_ACCESS_DELETE,
            begin_search: BeginSearch::Index(3),
            find_keys: FindKeys::Range {
                lastkey: 0,
                keystep: 1,
                limit: 0,
            },
        },
        KeySpec {
            notes: None,
            flags: RW_ACCESS_DELETE | CMD_KEY_INCOMPLETE,
            begin_search: BeginSearch::Keyword {
                keyword: "KEYS",
                startfrom: -2,
            },
            find_keys: FindKeys::Range {
                lastkey: -1,
                keystep: 1,
                limit: 0,
            },
        },
    ];
    let migrate = synthetic("migrate", -6, MIGRATE);
    let line = ["migrate", "h", "p", "", "0", "5", "keys", "a", "b"];
    assert_eq!(keys_of(&migrate, &line, GET_KEYSPEC_DEFAULT), None);
    let inc = RW_ACCESS_DELETE | CMD_KEY_INCOMPLETE;
    assert_eq!(
        keys_of(&migrate, &line, GET_KEYSPEC_RETURN_PARTIAL).unwrap(),
        [k("", RW_ACCESS_DELETE), k("a", inc), k("b", inc)]
    );
}

#[test]
fn set_flags_depend_on_get() {
    let t = table();
    let set = t.lookup_base(b"set").unwrap();
    assert!(does_command_have_keys(set));
    let mut result = Vec::new();
    // SET's spec has variable flags, so its own key finder answers.
    assert_eq!(
        get_keys_from_command_with_specs(set, &argv(&["set", "k", "v"]), 0, &mut result),
        1
    );
    assert_eq!(
        result,
        [KeyReference {
            pos: 1,
            flags: CMD_KEY_OW | CMD_KEY_UPDATE
        }]
    );
    result.clear();
    let line = argv(&["set", "k", "v", "EX", "10", "GeT"]);
    assert_eq!(
        get_keys_from_command_with_specs(set, &line, 0, &mut result),
        1
    );
    assert_eq!(
        result,
        [KeyReference {
            pos: 1,
            flags: CMD_KEY_RW | CMD_KEY_ACCESS | CMD_KEY_UPDATE
        }]
    );
}

#[test]
fn commands_without_keys() {
    let t = table();
    for name in ["ping", "config", "info", "client", "command", "select"] {
        assert!(
            !does_command_have_keys(t.lookup_base(name.as_bytes()).unwrap()),
            "{name}"
        );
    }
    for name in ["get", "set", "del", "exists"] {
        assert!(
            does_command_have_keys(t.lookup_base(name.as_bytes()).unwrap()),
            "{name}"
        );
    }
}
