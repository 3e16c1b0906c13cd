//! Port of server.c: main. Parses `ferredis-server [config-file] [--name value ...]`,
//! initialises the server and runs the event loop.

use ferredis::config::{load_server_config_from_string, Config};
use ferredis::server::{self, Server, LL_NOTICE, LL_WARNING};
use ferredis::server_log;

#[global_allocator]
static ALLOC: ferredis::zmalloc::Zmalloc = ferredis::zmalloc::Zmalloc;

/// server.c: version
fn version() -> String {
    format!(
        "Redis server v={} sha=00000000:0 malloc={} bits=64 build=ferredis-{}",
        server::REDIS_VERSION,
        ferredis::zmalloc::ZMALLOC_LIB,
        env!("CARGO_PKG_VERSION")
    )
}

/// server.c: main (argument handling follows Redis: the first non-option argument is
/// the config file, "-" reads it from stdin, then `--name value` pairs are appended
/// as config lines)
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut config = Config::default();
    let mut text = String::new();
    let mut j = 0;
    if let Some(first) = args.first() {
        match first.as_str() {
            "-v" | "--version" => {
                println!("{}", version());
                return;
            }
            "-h" | "--help" => {
                println!("Usage: ./ferredis-server [/path/to/redis.conf] [options] [-]\n       ./ferredis-server - (read config from stdin)\n       ./ferredis-server -v or --version\n       ./ferredis-server -h or --help\n\nExamples:\n       ./ferredis-server (run the server with default conf)\n       ./ferredis-server /etc/redis/6379.conf\n       ./ferredis-server --port 7777\n       ./ferredis-server /etc/myredis.conf --loglevel verbose");
                return;
            }
            f if !f.starts_with("--") => {
                let content = if f == "-" {
                    let mut s = String::new();
                    let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s);
                    s
                } else {
                    match std::fs::read_to_string(f) {
                        Ok(s) => {
                            config.configfile = std::fs::canonicalize(f)
                                .ok()
                                .map(|p| p.display().to_string());
                            s
                        }
                        Err(e) => {
                            eprintln!("Fatal error, can't open config file '{}': {}", f, e);
                            std::process::exit(1);
                        }
                    }
                };
                text.push_str(&content);
                text.push('\n');
                j = 1;
            }
            _ => {}
        }
    }
    // "--port 7777 --bind 127.0.0.1 ::1" becomes "port 7777\nbind 127.0.0.1 ::1".
    let mut line = String::new();
    while j < args.len() {
        let a = &args[j];
        if let Some(name) = a.strip_prefix("--") {
            if !line.is_empty() {
                text.push_str(&line);
                text.push('\n');
            }
            line = name.to_string();
        } else {
            line.push(' ');
            line.push_str(&quote(a));
        }
        j += 1;
    }
    if !line.is_empty() {
        text.push_str(&line);
        text.push('\n');
    }
    if let Err(e) = load_server_config_from_string(&mut config, &text) {
        eprintln!("{}", e);
        std::process::exit(1);
    }
    ferredis::log::init(&config.logfile, &config.trace_timeline);
    ferredis::log::set_logfile(&config.logfile);
    let mut s = match Server::new(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}", e);
            std::process::exit(1);
        }
    };
    server_log!(
        s,
        LL_WARNING,
        "oO0OoO0OoO0Oo Ferredis is starting oO0OoO0OoO0Oo"
    );
    server_log!(
        s,
        LL_WARNING,
        "Ferredis version={}, bits=64, pid={}, just started",
        server::REDIS_VERSION,
        std::process::id()
    );
    let addrs: Vec<String> = s.listen_addrs.iter().map(|a| a.to_string()).collect();
    server_log!(
        s,
        LL_NOTICE,
        "Running mode=standalone, port={} ({})",
        s.config.port,
        addrs.join(", ")
    );
    server::setup_signal_handlers();
    server_log!(s, LL_NOTICE, "Server initialized");
    // server.c: main, around loadDataFromDisk.
    ferredis::aof::aof_load_manifest_from_disk(&mut s);
    server::load_data_from_disk(&mut s);
    ferredis::aof::aof_open_if_needed_on_server_start(&mut s);
    ferredis::aof::aof_del_history_files(&mut s);
    server::run(&mut s);
}

/// Quote an argument so the config parser reads it back as one token.
fn quote(a: &str) -> String {
    if a.is_empty()
        || a.bytes()
            .any(|b| b.is_ascii_whitespace() || b == b'"' || b == b'\'')
    {
        let mut q = String::from("\"");
        for ch in a.chars() {
            match ch {
                '"' => q.push_str("\\\""),
                '\\' => q.push_str("\\\\"),
                '\n' => q.push_str("\\n"),
                '\r' => q.push_str("\\r"),
                c => q.push(c),
            }
        }
        q.push('"');
        q
    } else {
        a.to_string()
    }
}
