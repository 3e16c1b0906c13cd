//! Port of aof.c: the append-only file: feeding it from the propagation stream,
//! writing and fsyncing it before replies leave, the 7.0 multi-part layout (manifest,
//! base and incr files), loading it at start-up, and rewriting it in a child.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::bio::{Bio, BIO_AOF_FSYNC};
use crate::networking::{Client, CLIENT_DENY_BLOCKING, CLIENT_MULTI};
use crate::server::{Server, LL_DEBUG, LL_NOTICE, LL_VERBOSE, LL_WARNING};
use crate::server_log;

// server.h: aof_state
pub const AOF_OFF: u8 = 0;
pub const AOF_ON: u8 = 1;
pub const AOF_WAIT_REWRITE: u8 = 2;

// server.h: appendfsync policies
pub const AOF_FSYNC_NO: u8 = 0;
pub const AOF_FSYNC_ALWAYS: u8 = 1;
pub const AOF_FSYNC_EVERYSEC: u8 = 2;

// server.h: what loading one AOF file returns
pub const AOF_OK: i32 = 0;
pub const AOF_NOT_EXIST: i32 = 1;
pub const AOF_EMPTY: i32 = 2;
pub const AOF_OPEN_ERR: i32 = 3;
pub const AOF_FAILED: i32 = 4;
pub const AOF_TRUNCATED: i32 = 5;

/// server.h: AOF_REWRITE_ITEMS_PER_CMD
pub const AOF_REWRITE_ITEMS_PER_CMD: usize = 64;
/// server.h: AOF_ANNOTATION_LINE_MAX_LEN
pub const AOF_ANNOTATION_LINE_MAX_LEN: usize = 1024;
/// aof.c: AOF_WRITE_LOG_ERROR_RATE (seconds between two write-error log lines)
const AOF_WRITE_LOG_ERROR_RATE: i64 = 30;
/// server.h: CLIENT_ID_AOF
pub const CLIENT_ID_AOF: u64 = u64::MAX;

// aof.c: manifest keywords and file name parts
const MANIFEST_NAME_SUFFIX: &str = ".manifest";
const TEMP_FILE_NAME_PREFIX: &str = "temp-";
const BASE_FILE_SUFFIX: &str = ".base";
const INCR_FILE_SUFFIX: &str = ".incr";
const RDB_FORMAT_SUFFIX: &str = ".rdb";
const AOF_FORMAT_SUFFIX: &str = ".aof";
const MANIFEST_MAX_LINE: usize = 1024;
pub const AOF_FILE_TYPE_BASE: u8 = b'b';
pub const AOF_FILE_TYPE_HIST: u8 = b'h';
pub const AOF_FILE_TYPE_INCR: u8 = b'i';

/// The text of an errno, as C's strerror prints it.
pub fn strerror(errno: i32) -> String {
    // SAFETY: strerror returns a pointer to a static (or thread-local) NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(libc::strerror(errno)) }
        .to_string_lossy()
        .into_owned()
}

/// strerror of an io::Error (without Rust's " (os error N)").
pub fn strerror_io(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => strerror(n),
        None => e.to_string(),
    }
}

fn errno_of(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

// ANCHOR: aof_file
/// The open AOF (Redis's `aof_fd`), shared with the bio thread that fsyncs it.
///
/// Ferredis only: when the environment variable FERREDIS_TEST_DROP_UNSYNCED is set
/// (tests set it), writes stay in an in-memory "page cache" that only `fsync` moves
/// to the file, so killing the process models a power loss: whatever was not
/// fsynced is gone. When FERREDIS_TEST_AOF_WRITE_ERROR names a file that exists,
/// writes fail with ENOSPC, so tests can model a full disk.
pub struct AofFile {
    file: File,
    unsynced: Option<Mutex<Vec<u8>>>,
    fail_flag: Option<PathBuf>,
}

impl AofFile {
    /// Opens for appending (O_WRONLY|O_APPEND|O_CREAT, plus O_TRUNC if asked).
    pub fn open(path: &Path, truncate: bool) -> io::Result<AofFile> {
        if truncate {
            File::create(path)?;
        }
        let file = OpenOptions::new().append(true).create(true).open(path)?;
        let unsynced = std::env::var_os("FERREDIS_TEST_DROP_UNSYNCED")
            .filter(|v| !v.is_empty() && v != "0")
            .map(|_| Mutex::new(Vec::new()));
        let fail_flag = std::env::var_os("FERREDIS_TEST_AOF_WRITE_ERROR").map(PathBuf::from);
        Ok(AofFile {
            file,
            unsynced,
            fail_flag,
        })
    }

    /// write(2): how much was taken, or the error.
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        if let Some(flag) = &self.fail_flag {
            if flag.exists() {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
        }
        match &self.unsynced {
            Some(cache) => {
                cache.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            None => (&self.file).write(buf),
        }
    }

    /// redis_fsync (fdatasync on Linux).
    pub fn fsync(&self) -> io::Result<()> {
        if let Some(cache) = &self.unsynced {
            let mut cache = cache.lock().unwrap();
            (&self.file).write_all(&cache)?;
            cache.clear();
        }
        self.file.sync_data()
    }

    /// ftruncate(2) to `len` bytes.
    pub fn truncate(&self, len: u64) -> io::Result<()> {
        if let Some(cache) = &self.unsynced {
            let on_disk = self.file.metadata()?.len();
            let mut cache = cache.lock().unwrap();
            if len >= on_disk {
                cache.truncate((len - on_disk) as usize);
                return Ok(());
            }
            cache.clear();
        }
        self.file.set_len(len)
    }
}
// ANCHOR_END: aof_file

/// One file of the manifest (aof.h: aofInfo).
#[derive(Debug, Clone, PartialEq)]
pub struct AofInfo {
    pub file_name: String,
    pub file_seq: i64,
    pub file_type: u8,
}

impl AofInfo {
    /// aof.c: aofInfoFormat
    fn format(&self, buf: &mut String) {
        let name = if needs_quoting(&self.file_name) {
            repr_string(&self.file_name)
        } else {
            self.file_name.clone()
        };
        buf.push_str(&format!(
            "file {} seq {} type {}\n",
            name, self.file_seq, self.file_type as char
        ));
    }
}

/// sdsneedsrepr: a name with spaces, quotes or non-printables is written quoted.
fn needs_quoting(s: &str) -> bool {
    s.bytes().any(|b| {
        b == b'\\'
            || b == b'"'
            || b == b'\n'
            || b == b'\r'
            || b == b'\t'
            || b == b'\x07'
            || b == b'\x08'
            || !(0x20..0x7f).contains(&b)
            || b == b' '
    })
}

/// sdscatrepr
fn repr_string(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{:02x}", b)),
        }
    }
    out.push('"');
    out
}

/// The multi-part AOF's table of contents (aof.h: aofManifest).
#[derive(Debug, Clone, Default)]
pub struct AofManifest {
    pub base_aof_info: Option<AofInfo>,
    pub incr_aof_list: Vec<AofInfo>,
    pub history_aof_list: Vec<AofInfo>,
    pub curr_base_file_seq: i64,
    pub curr_incr_file_seq: i64,
    /// Changed since it was last persisted.
    pub dirty: bool,
}

/// Everything server.h keeps about the AOF (the `aof_*` fields of redisServer).
pub struct AofState {
    /// AOF_ON, AOF_OFF or AOF_WAIT_REWRITE (server.h: aof_state).
    pub state: u8,
    /// The incr file being appended to (server.h: aof_fd).
    pub fd: Option<Arc<AofFile>>,
    /// What the commands of this event-loop turn appended (server.h: aof_buf).
    pub buf: Vec<u8>,
    /// The db the AOF last SELECTed, -1 to force a SELECT (server.h: aof_selected_db).
    pub selected_db: i64,
    pub manifest: AofManifest,
    /// Unix time of the last fsync (server.h: aof_last_fsync).
    pub last_fsync: i64,
    /// The last `#TS:` annotation written (server.h: aof_cur_timestamp).
    pub cur_timestamp: i64,
    pub rewrite_base_size: i64,
    pub current_size: i64,
    /// Size of the incr file, and how much of it is known fsynced.
    pub last_incr_size: i64,
    pub last_incr_fsync_offset: i64,
    /// When an everysec write started being postponed, 0 if none (server.h:
    /// aof_flush_postponed_start).
    pub flush_postponed_start: i64,
    pub delayed_fsync: u64,
    /// C_OK / C_ERR of the last write (server.h: aof_last_write_status).
    pub last_write_ok: bool,
    pub last_write_errno: i32,
    last_write_error_log: i64,
    pub rewrite_scheduled: bool,
    pub rewrite_time_last: i64,
    pub rewrite_time_start: i64,
    pub lastbgrewrite_ok: bool,
    pub stat_aof_rewrites: u64,
    pub stat_aofrw_consecutive_failures: u64,
    /// aofRewriteLimited's statics.
    next_delay_minutes: i64,
    next_rewrite_time: i64,
    pub bio: Bio,
}

impl AofState {
    /// server.c: initServerConfig / initServer, the AOF part.
    pub fn new(appendonly: bool) -> AofState {
        AofState {
            state: if appendonly { AOF_ON } else { AOF_OFF },
            fd: None,
            buf: Vec::new(),
            selected_db: -1,
            manifest: AofManifest::default(),
            last_fsync: crate::util::mstime() / 1000,
            cur_timestamp: 0,
            rewrite_base_size: 0,
            current_size: 0,
            last_incr_size: 0,
            last_incr_fsync_offset: 0,
            flush_postponed_start: 0,
            delayed_fsync: 0,
            last_write_ok: true,
            last_write_errno: 0,
            last_write_error_log: 0,
            rewrite_scheduled: false,
            rewrite_time_last: -1,
            rewrite_time_start: -1,
            lastbgrewrite_ok: true,
            stat_aof_rewrites: 0,
            stat_aofrw_consecutive_failures: 0,
            next_delay_minutes: 0,
            next_rewrite_time: 0,
            bio: Bio::default(),
        }
    }
}

/// util.c: makePath
fn make_path(dir: &str, name: &str) -> PathBuf {
    Path::new(dir).join(name)
}

/// aof.c: getAofManifestFileName
fn get_aof_manifest_file_name(s: &Server) -> String {
    format!("{}{}", s.config.appendfilename, MANIFEST_NAME_SUFFIX)
}

/// aof.c: getTempAofManifestFileName
fn get_temp_aof_manifest_file_name(s: &Server) -> String {
    format!(
        "{}{}{}",
        TEMP_FILE_NAME_PREFIX, s.config.appendfilename, MANIFEST_NAME_SUFFIX
    )
}

/// aof.c: getAofManifestAsString
pub fn get_aof_manifest_as_string(am: &AofManifest) -> String {
    let mut buf = String::new();
    if let Some(b) = &am.base_aof_info {
        b.format(&mut buf);
    }
    for ai in &am.history_aof_list {
        ai.format(&mut buf);
    }
    for ai in &am.incr_aof_list {
        ai.format(&mut buf);
    }
    buf
}

/// aof.c: aofLoadManifestFromDisk
pub fn aof_load_manifest_from_disk(s: &mut Server) {
    s.aof.manifest = AofManifest::default();
    let dir = s.config.appenddirname.clone();
    if !Path::new(&dir).is_dir() {
        server_log!(s, LL_DEBUG, "The AOF directory {} doesn't exist", dir);
        return;
    }
    let am_name = get_aof_manifest_file_name(s);
    let am_filepath = make_path(&dir, &am_name);
    if !am_filepath.exists() {
        server_log!(
            s,
            LL_DEBUG,
            "The AOF manifest file {} doesn't exist",
            am_name
        );
        return;
    }
    let am = aof_load_manifest_from_file(s, &am_filepath);
    s.aof.manifest = am;
}

/// aof.c: aofLoadManifestFromFile
///
/// Strict: any problem logs Redis's report and exits, as a wrong manifest could
/// otherwise load a partial dataset.
pub fn aof_load_manifest_from_file(s: &Server, am_filepath: &Path) -> AofManifest {
    let data = match std::fs::read(am_filepath) {
        Ok(d) => d,
        Err(e) => {
            server_log!(
                s,
                LL_WARNING,
                "Fatal error: can't open the AOF manifest file {} for reading: {}",
                am_filepath.display(),
                strerror_io(&e)
            );
            std::process::exit(1);
        }
    };
    match parse_manifest(&data) {
        Ok(am) => am,
        Err((err, line, linenum)) => {
            server_log!(s, LL_WARNING, "\n*** FATAL AOF MANIFEST FILE ERROR ***\n");
            if let Some(line) = line {
                server_log!(
                    s,
                    LL_WARNING,
                    "Reading the manifest file, at line {}\n",
                    linenum
                );
                server_log!(s, LL_WARNING, ">>> '{}'\n", line);
            }
            server_log!(s, LL_WARNING, "{}\n", err);
            std::process::exit(1);
        }
    }
}

type ManifestError = (&'static str, Option<String>, usize);

/// The parsing half of aofLoadManifestFromFile: lines read as fgets would, with
/// MANIFEST_MAX_LINE bytes at most.
fn parse_manifest(data: &[u8]) -> Result<AofManifest, ManifestError> {
    let mut am = AofManifest::default();
    let mut maxseq = 0;
    let mut linenum = 0;
    let mut pos = 0;
    loop {
        if pos >= data.len() {
            if linenum == 0 {
                return Err(("Found an empty AOF manifest", None, 0));
            }
            break;
        }
        let rest = &data[pos..];
        let take = match rest.iter().position(|&b| b == b'\n') {
            Some(i) if i < MANIFEST_MAX_LINE => i + 1,
            _ => rest.len().min(MANIFEST_MAX_LINE),
        };
        let buf = &rest[..take];
        pos += take;
        linenum += 1;
        if buf[0] == b'#' {
            continue;
        }
        if !buf.contains(&b'\n') {
            return Err((
                "The AOF manifest file contains too long line",
                None,
                linenum,
            ));
        }
        let line = String::from_utf8_lossy(buf)
            .trim_matches(|c| c == ' ' || c == '\t' || c == '\r' || c == '\n')
            .to_string();
        if line.is_empty() {
            return Err(("Invalid AOF manifest file format", Some(line), linenum));
        }
        let argv = match crate::networking::split_args(line.as_bytes()) {
            Some(a) if a.len() >= 6 && a.len() % 2 == 0 => a,
            _ => return Err(("Invalid AOF manifest file format", Some(line), linenum)),
        };
        let mut name: Option<String> = None;
        let mut seq: i64 = 0;
        let mut ftype: u8 = 0;
        for pair in argv.chunks(2) {
            let k = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
            match k.as_str() {
                "file" => {
                    let n = String::from_utf8_lossy(&pair[1]).into_owned();
                    if n.contains('/') || n.contains('\\') {
                        return Err(("File can't be a path, just a filename", Some(line), linenum));
                    }
                    name = Some(n);
                }
                "seq" => seq = atoll(&pair[1]),
                "type" => ftype = pair[1].first().copied().unwrap_or(0),
                _ => {}
            }
        }
        let (Some(file_name), true, true) = (name, seq != 0, ftype != 0) else {
            return Err(("Invalid AOF manifest file format", Some(line), linenum));
        };
        let ai = AofInfo {
            file_name,
            file_seq: seq,
            file_type: ftype,
        };
        match ftype {
            AOF_FILE_TYPE_BASE => {
                if am.base_aof_info.is_some() {
                    return Err(("Found duplicate base file information", Some(line), linenum));
                }
                am.curr_base_file_seq = seq;
                am.base_aof_info = Some(ai);
            }
            AOF_FILE_TYPE_HIST => am.history_aof_list.push(ai),
            AOF_FILE_TYPE_INCR => {
                if seq <= maxseq {
                    return Err(("Found a non-monotonic sequence number", Some(line), linenum));
                }
                am.incr_aof_list.push(ai);
                am.curr_incr_file_seq = seq;
                maxseq = seq;
            }
            _ => return Err(("Unknown AOF file type", Some(line), linenum)),
        }
    }
    Ok(am)
}

/// C's atoll: leading spaces, a sign, digits; anything after is ignored.
fn atoll(b: &[u8]) -> i64 {
    let s = String::from_utf8_lossy(b);
    let t = s.trim_start();
    let mut end = 0;
    for (i, ch) in t.char_indices() {
        if ch.is_ascii_digit() || (i == 0 && (ch == '-' || ch == '+')) {
            end = i + 1;
        } else {
            break;
        }
    }
    t[..end].parse().unwrap_or(0)
}

/// aof.c: getNewBaseFileNameAndMarkPreAsHistory
pub fn get_new_base_file_name_and_mark_pre_as_history(s: &Server, am: &mut AofManifest) -> String {
    if let Some(mut b) = am.base_aof_info.take() {
        b.file_type = AOF_FILE_TYPE_HIST;
        am.history_aof_list.insert(0, b);
    }
    let format_suffix = if s.config.aof_use_rdb_preamble {
        RDB_FORMAT_SUFFIX
    } else {
        AOF_FORMAT_SUFFIX
    };
    am.curr_base_file_seq += 1;
    let name = format!(
        "{}.{}{}{}",
        s.config.appendfilename, am.curr_base_file_seq, BASE_FILE_SUFFIX, format_suffix
    );
    am.base_aof_info = Some(AofInfo {
        file_name: name.clone(),
        file_seq: am.curr_base_file_seq,
        file_type: AOF_FILE_TYPE_BASE,
    });
    am.dirty = true;
    name
}

/// aof.c: getNewIncrAofName
pub fn get_new_incr_aof_name(s: &Server, am: &mut AofManifest) -> String {
    am.curr_incr_file_seq += 1;
    let name = format!(
        "{}.{}{}{}",
        s.config.appendfilename, am.curr_incr_file_seq, INCR_FILE_SUFFIX, AOF_FORMAT_SUFFIX
    );
    am.incr_aof_list.push(AofInfo {
        file_name: name.clone(),
        file_seq: am.curr_incr_file_seq,
        file_type: AOF_FILE_TYPE_INCR,
    });
    am.dirty = true;
    name
}

/// aof.c: getTempIncrAofName
pub fn get_temp_incr_aof_name(s: &Server) -> String {
    format!(
        "{}{}{}",
        TEMP_FILE_NAME_PREFIX, s.config.appendfilename, INCR_FILE_SUFFIX
    )
}

/// aof.c: getLastIncrAofName
pub fn get_last_incr_aof_name(s: &Server, am: &mut AofManifest) -> String {
    match am.incr_aof_list.last() {
        Some(ai) => ai.file_name.clone(),
        None => get_new_incr_aof_name(s, am),
    }
}

/// aof.c: markRewrittenIncrAofAsHistory
pub fn mark_rewritten_incr_aof_as_history(s: &Server, am: &mut AofManifest) {
    if am.incr_aof_list.is_empty() {
        return;
    }
    // With the AOF on, the last incr file is the one being written: it stays.
    let keep = if s.aof.fd.is_some() { 1 } else { 0 };
    let n = am.incr_aof_list.len() - keep;
    let moved: Vec<AofInfo> = am.incr_aof_list.drain(..n).collect();
    // Walked from the tail, each inserted at the head: the order is kept.
    for mut ai in moved.into_iter().rev() {
        ai.file_type = AOF_FILE_TYPE_HIST;
        am.history_aof_list.insert(0, ai);
    }
    am.dirty = true;
}

/// util.c: fsyncFileDir
fn fsync_file_dir(path: &Path) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

/// aof.c: writeAofManifestFile
///
/// Temp file, fsync, rename over the manifest, fsync of the directory: a crash
/// leaves either the old manifest or the new one, never half of one.
fn write_aof_manifest_file(s: &Server, buf: &str) -> bool {
    let dir = &s.config.appenddirname;
    let am_name = get_aof_manifest_file_name(s);
    let am_filepath = make_path(dir, &am_name);
    let tmp_am_name = get_temp_aof_manifest_file_name(s);
    let tmp_am_filepath = make_path(dir, &tmp_am_name);
    let mut f = match OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp_am_filepath)
    {
        Ok(f) => f,
        Err(e) => {
            server_log!(
                s,
                LL_WARNING,
                "Can't open the AOF manifest file {}: {}",
                tmp_am_name,
                strerror_io(&e)
            );
            return false;
        }
    };
    if let Err(e) = f.write_all(buf.as_bytes()) {
        server_log!(
            s,
            LL_WARNING,
            "Error trying to write the temporary AOF manifest file {}: {}",
            tmp_am_name,
            strerror_io(&e)
        );
        return false;
    }
    if let Err(e) = f.sync_data() {
        server_log!(
            s,
            LL_WARNING,
            "Fail to fsync the temp AOF file {}: {}.",
            tmp_am_name,
            strerror_io(&e)
        );
        return false;
    }
    if let Err(e) = std::fs::rename(&tmp_am_filepath, &am_filepath) {
        server_log!(
            s,
            LL_WARNING,
            "Error trying to rename the temporary AOF manifest file {} into {}: {}",
            tmp_am_name,
            am_name,
            strerror_io(&e)
        );
        return false;
    }
    if let Err(e) = fsync_file_dir(&am_filepath) {
        server_log!(
            s,
            LL_WARNING,
            "Fail to fsync AOF directory {}: {}.",
            am_filepath.display(),
            strerror_io(&e)
        );
        return false;
    }
    true
}

/// aof.c: persistAofManifest
pub fn persist_aof_manifest(s: &Server, am: &mut AofManifest) -> bool {
    if !am.dirty {
        return true;
    }
    let text = get_aof_manifest_as_string(am);
    let ok = write_aof_manifest_file(s, &text);
    if ok {
        am.dirty = false;
    }
    ok
}

/// util.c: dirCreateIfMissing
fn dir_create_if_missing(dir: &str) -> io::Result<()> {
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// aof.c: aofUpgradePrepare
///
/// A 6.x-style single `appendonly.aof` in `dir` becomes the base of a new manifest.
fn aof_upgrade_prepare(s: &mut Server) {
    let dir = s.config.appenddirname.clone();
    if let Err(e) = dir_create_if_missing(&dir) {
        server_log!(
            s,
            LL_WARNING,
            "Can't open or create append-only dir {}: {}",
            dir,
            strerror_io(&e)
        );
        std::process::exit(1);
    }
    let mut am = std::mem::take(&mut s.aof.manifest);
    am.base_aof_info = Some(AofInfo {
        file_name: s.config.appendfilename.clone(),
        file_seq: 1,
        file_type: AOF_FILE_TYPE_BASE,
    });
    am.curr_base_file_seq = 1;
    am.dirty = true;
    if !persist_aof_manifest(s, &mut am) {
        std::process::exit(1);
    }
    s.aof.manifest = am;
    let name = s.config.appendfilename.clone();
    if let Err(e) = std::fs::rename(&name, make_path(&dir, &name)) {
        server_log!(
            s,
            LL_WARNING,
            "Error trying to move the old AOF file {} into dir {}: {}",
            name,
            dir,
            strerror_io(&e)
        );
        std::process::exit(1);
    }
    server_log!(
        s,
        LL_NOTICE,
        "Successfully migrated an old-style AOF file ({}) into the AOF directory ({}).",
        name,
        dir
    );
}

/// bio.c: bg_unlink
///
/// Unlinks now and lets the bio thread close the last descriptor, where the file
/// system actually frees the blocks.
pub fn bg_unlink(s: &mut Server, path: &Path) -> io::Result<()> {
    match File::open(path) {
        Err(_) => std::fs::remove_file(path),
        Ok(f) => {
            let r = std::fs::remove_file(path);
            s.aof.bio.bio_create_close_plain_job(f);
            r
        }
    }
}

/// aof.c: aofDelHistoryFiles
pub fn aof_del_history_files(s: &mut Server) -> bool {
    if s.config.aof_disable_auto_gc || s.aof.manifest.history_aof_list.is_empty() {
        return true;
    }
    let hist = std::mem::take(&mut s.aof.manifest.history_aof_list);
    for ai in hist {
        server_log!(
            s,
            LL_NOTICE,
            "Removing the history file {} in the background",
            ai.file_name
        );
        let p = make_path(&s.config.appenddirname, &ai.file_name);
        let _ = bg_unlink(s, &p);
    }
    s.aof.manifest.dirty = true;
    let mut am = std::mem::take(&mut s.aof.manifest);
    let ok = persist_aof_manifest(s, &mut am);
    s.aof.manifest = am;
    ok
}

/// aof.c: aofDelTempIncrAofFile
pub fn aof_del_temp_incr_aof_file(s: &mut Server) {
    let name = get_temp_incr_aof_name(s);
    let p = make_path(&s.config.appenddirname, &name);
    server_log!(
        s,
        LL_NOTICE,
        "Removing the temp incr aof file {} in the background",
        name
    );
    let _ = bg_unlink(s, &p);
}

/// aof.c: aofOpenIfNeededOnServerStart
///
/// After loading: make sure a base exists (an empty dataset gets one), open the last
/// incr file for appending (or create one) and persist the manifest. Any failure
/// exits, as Redis does: a server that cannot log its writes must not accept them.
pub fn aof_open_if_needed_on_server_start(s: &mut Server) {
    if s.aof.state != AOF_ON {
        return;
    }
    let dir = s.config.appenddirname.clone();
    if let Err(e) = dir_create_if_missing(&dir) {
        server_log!(
            s,
            LL_WARNING,
            "Can't open or create append-only dir {}: {}",
            dir,
            strerror_io(&e)
        );
        std::process::exit(1);
    }
    let mut am = std::mem::take(&mut s.aof.manifest);
    let incr_aof_len = am.incr_aof_list.len();
    if am.base_aof_info.is_none() && incr_aof_len == 0 {
        let base_name = get_new_base_file_name_and_mark_pre_as_history(s, &mut am);
        let base_filepath = make_path(&dir, &base_name);
        if !rewrite_append_only_file(s, &base_filepath) {
            std::process::exit(1);
        }
        server_log!(
            s,
            LL_NOTICE,
            "Creating AOF base file {} on server start",
            base_name
        );
    }
    let aof_name = get_last_incr_aof_name(s, &mut am);
    let aof_filepath = make_path(&dir, &aof_name);
    match AofFile::open(&aof_filepath, false) {
        Ok(f) => s.aof.fd = Some(Arc::new(f)),
        Err(e) => {
            server_log!(
                s,
                LL_WARNING,
                "Can't open the append-only file {}: {}",
                aof_name,
                strerror_io(&e)
            );
            std::process::exit(1);
        }
    }
    if !persist_aof_manifest(s, &mut am) {
        std::process::exit(1);
    }
    s.aof.manifest = am;
    s.aof.last_incr_size = get_append_only_file_size(s, &aof_name, None);
    s.aof.last_incr_fsync_offset = s.aof.last_incr_size;
    if incr_aof_len > 0 {
        server_log!(
            s,
            LL_NOTICE,
            "Opening AOF incr file {} on server start",
            aof_name
        );
    } else {
        server_log!(
            s,
            LL_NOTICE,
            "Creating AOF incr file {} on server start",
            aof_name
        );
    }
}

/// aof.c: aofFileExist
fn aof_file_exist(s: &Server, name: &str) -> bool {
    make_path(&s.config.appenddirname, name).exists()
}

/// aof.c: openNewIncrAofForAppend
///
/// At the start of a rewrite: new writes go to a fresh incr file, so the child's
/// base plus the incr files after it are the whole dataset. Atomic: on failure the
/// manifest and the open file are unchanged.
pub fn open_new_incr_aof_for_append(s: &mut Server) -> bool {
    if s.aof.state == AOF_OFF {
        return true;
    }
    let mut temp_am: Option<AofManifest> = None;
    let new_aof_name = if s.aof.state == AOF_WAIT_REWRITE {
        get_temp_incr_aof_name(s)
    } else {
        let mut am = s.aof.manifest.clone();
        let n = get_new_incr_aof_name(s, &mut am);
        temp_am = Some(am);
        n
    };
    let path = make_path(&s.config.appenddirname, &new_aof_name);
    let newfd = match AofFile::open(&path, true) {
        Ok(f) => Arc::new(f),
        Err(e) => {
            server_log!(
                s,
                LL_WARNING,
                "Can't open the append-only file {}: {}",
                new_aof_name,
                strerror_io(&e)
            );
            return false;
        }
    };
    if let Some(am) = temp_am.as_mut() {
        if !persist_aof_manifest(s, am) {
            return false;
        }
    }
    server_log!(
        s,
        LL_NOTICE,
        "Creating AOF incr file {} on background rewrite",
        new_aof_name
    );
    // The old file's fsync can wait for the bio thread: under always it is
    // already synced, under everysec a delay is allowed as long as it happens.
    if let Some(old) = s.aof.fd.take() {
        s.aof.bio.bio_create_close_job(old, true);
        s.aof.last_fsync = s.unixtime;
    }
    s.aof.fd = Some(newfd);
    s.aof.last_incr_size = 0;
    s.aof.last_incr_fsync_offset = 0;
    if let Some(am) = temp_am {
        s.aof.manifest = am;
    }
    true
}

/// aof.c: AOF_REWRITE_LIMITE_THRESHOLD / AOF_REWRITE_LIMITE_MAX_MINUTES
const AOF_REWRITE_LIMITE_THRESHOLD: u64 = 3;
const AOF_REWRITE_LIMITE_MAX_MINUTES: i64 = 60;

/// aof.c: aofRewriteLimited
///
/// After three failed rewrites in a row, automatic ones back off 1, 2, 4 ... 60
/// minutes, so a failing disk does not fill the directory with tiny incr files.
pub fn aof_rewrite_limited(s: &mut Server) -> bool {
    if s.aof.stat_aofrw_consecutive_failures < AOF_REWRITE_LIMITE_THRESHOLD {
        s.aof.next_delay_minutes = 0;
        s.aof.next_rewrite_time = 0;
        return false;
    }
    if s.aof.next_rewrite_time != 0 {
        if s.unixtime < s.aof.next_rewrite_time {
            return true;
        }
        s.aof.next_rewrite_time = 0;
        return false;
    }
    s.aof.next_delay_minutes = if s.aof.next_delay_minutes == 0 {
        1
    } else {
        s.aof.next_delay_minutes * 2
    }
    .min(AOF_REWRITE_LIMITE_MAX_MINUTES);
    s.aof.next_rewrite_time = s.unixtime + s.aof.next_delay_minutes * 60;
    server_log!(
        s,
        LL_WARNING,
        "Background AOF rewrite has repeatedly failed and triggered the limit, will retry in {} minutes",
        s.aof.next_delay_minutes
    );
    true
}

/// aof.c: aofFsyncInProgress
pub fn aof_fsync_in_progress(s: &Server) -> bool {
    s.aof.bio.bio_pending_jobs_of_type(BIO_AOF_FSYNC) != 0
}

/// aof.c: aof_background_fsync
fn aof_background_fsync(s: &mut Server) {
    if let Some(f) = s.aof.fd.clone() {
        s.aof.bio.bio_create_fsync_job(f);
    }
}

/// The background fsync's status, as the main thread reads it.
pub fn aof_bio_fsync_ok(s: &Server) -> bool {
    s.aof.bio.shared.aof_fsync_ok.load(Ordering::SeqCst)
}

use crate::server::{has_active_child_process, ChildType};

/// aof.c: stopAppendOnly
pub fn stop_append_only(s: &mut Server) {
    flush_append_only_file(s, true);
    if let Some(f) = s.aof.fd.take() {
        match f.fsync() {
            Err(e) => server_log!(
                s,
                LL_WARNING,
                "Fail to fsync the AOF file: {}",
                strerror_io(&e)
            ),
            Ok(()) => s.aof.last_fsync = s.unixtime,
        }
    }
    s.aof.selected_db = -1;
    s.aof.state = AOF_OFF;
    s.aof.rewrite_scheduled = false;
    s.aof.last_incr_size = 0;
    s.aof.last_incr_fsync_offset = 0;
    kill_append_only_child(s);
    s.aof.buf = Vec::new();
}

/// aof.c: killAppendOnlyChild
pub fn kill_append_only_child(s: &mut Server) {
    if !is_aof_child(s) {
        return;
    }
    server_log!(
        s,
        LL_NOTICE,
        "Killing running AOF rewrite child: {}",
        s.child_pid
    );
    let pid = s.child_pid;
    // SAFETY: signalling and reaping our own child.
    unsafe {
        if libc::kill(pid, libc::SIGUSR1) != -1 {
            let mut statloc = 0;
            while libc::waitpid(-1, &mut statloc, 0) != pid {}
        }
    }
    aof_remove_temp_file(s, pid);
    crate::server::reset_child_state(s);
    s.aof.rewrite_time_start = -1;
}

/// aof.c: aofRemoveTempFile
pub fn aof_remove_temp_file(s: &mut Server, childpid: libc::pid_t) {
    let _ = bg_unlink(
        s,
        Path::new(&format!("temp-rewriteaof-bg-{}.aof", childpid)),
    );
    let _ = bg_unlink(s, Path::new(&format!("temp-rewriteaof-{}.aof", childpid)));
}

/// aof.c: startAppendOnly
pub fn start_append_only(s: &mut Server) -> bool {
    s.aof.state = AOF_WAIT_REWRITE;
    if has_active_child_process(s) && !is_aof_child(s) {
        s.aof.rewrite_scheduled = true;
        server_log!(
            s,
            LL_WARNING,
            "AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible."
        );
    } else if s.in_exec {
        s.aof.rewrite_scheduled = true;
        server_log!(
            s,
            LL_WARNING,
            "AOF was enabled during a transaction. An AOF background was scheduled to start when possible."
        );
    } else {
        // A rewrite already running does not accumulate the new incr file: restart it.
        if is_aof_child(s) {
            server_log!(
                s,
                LL_WARNING,
                "AOF was enabled but there is already an AOF rewriting in background. Stopping background AOF and starting a rewrite now."
            );
            kill_append_only_child(s);
        }
        if !rewrite_append_only_file_background(s) {
            s.aof.state = AOF_OFF;
            server_log!(
                s,
                LL_WARNING,
                "Redis needs to enable the AOF but can't trigger a background AOF rewrite operation. Check the above logs for more info about the error."
            );
            return false;
        }
    }
    s.aof.last_fsync = s.unixtime;
    if !aof_bio_fsync_ok(s) {
        server_log!(
            s,
            LL_WARNING,
            "AOF reopen, just ignore the AOF fsync error in bio job"
        );
        s.aof.bio.shared.aof_fsync_ok.store(true, Ordering::SeqCst);
    }
    if !s.aof.last_write_ok {
        server_log!(s, LL_WARNING, "AOF reopen, just ignore the last error.");
        s.aof.last_write_ok = true;
    }
    true
}

/// config.c: updateAppendonly (CONFIG SET appendonly)
pub fn update_appendonly(s: &mut Server) -> Result<(), String> {
    if !s.config.appendonly && s.aof.state != AOF_OFF {
        stop_append_only(s);
    } else if s.config.appendonly && s.aof.state == AOF_OFF && !start_append_only(s) {
        return Err("Unable to turn on AOF. Check server logs.".into());
    }
    Ok(())
}

/// aof.c: aofWrite
///
/// Retries short writes and EINTR; an error after a partial write reports the part.
fn aof_write(f: &AofFile, mut buf: &[u8]) -> Result<usize, (usize, io::Error)> {
    let mut totwritten = 0;
    while !buf.is_empty() {
        match f.write(buf) {
            Ok(0) => {
                return Err((totwritten, io::Error::from_raw_os_error(libc::ENOSPC)));
            }
            Ok(n) => {
                buf = &buf[n..];
                totwritten += n;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err((totwritten, e)),
        }
    }
    Ok(totwritten)
}

// ANCHOR: flush_append_only_file
/// aof.c: flushAppendOnlyFile
///
/// Called before the event loop sleeps, so before any reply of this turn is
/// written: under `always` the data is on disk before a client can see its
/// acknowledgement. Under `everysec` a write may wait up to two seconds for a
/// background fsync still running (a write would block behind it anyway).
pub fn flush_append_only_file(s: &mut Server, force: bool) {
    let Some(fd) = s.aof.fd.clone() else {
        return;
    };
    let fsync = s.config.appendfsync;
    let mut sync_in_progress = false;
    if s.aof.buf.is_empty() {
        // Nothing new, but an everysec fsync may still be owed for data written
        // before the writes stopped, or the policy just became always.
        let owed = s.aof.last_incr_fsync_offset != s.aof.last_incr_size;
        let everysec_due = fsync == AOF_FSYNC_EVERYSEC
            && s.unixtime > s.aof.last_fsync
            && !aof_fsync_in_progress(s);
        if owed && (everysec_due || fsync == AOF_FSYNC_ALWAYS) {
            try_fsync(s, &fd, false);
        }
        return;
    }
    if fsync == AOF_FSYNC_EVERYSEC {
        sync_in_progress = aof_fsync_in_progress(s);
    }
    if fsync == AOF_FSYNC_EVERYSEC && !force && sync_in_progress {
        if s.aof.flush_postponed_start == 0 {
            s.aof.flush_postponed_start = s.unixtime;
            return;
        } else if s.unixtime - s.aof.flush_postponed_start < 2 {
            return;
        }
        s.aof.delayed_fsync += 1;
        server_log!(
            s,
            LL_NOTICE,
            "Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF buffer without waiting for fsync to complete, this may slow down Redis."
        );
    }
    let res = aof_write(&fd, &s.aof.buf);
    s.aof.flush_postponed_start = 0;
    let buflen = s.aof.buf.len();
    let mut nwritten: i64 = match &res {
        Ok(n) => *n as i64,
        Err((0, _)) => -1,
        Err((n, _)) => *n as i64,
    };
    if nwritten != buflen as i64 {
        let mut can_log = false;
        if s.unixtime - s.aof.last_write_error_log > AOF_WRITE_LOG_ERROR_RATE {
            can_log = true;
            s.aof.last_write_error_log = s.unixtime;
        }
        if nwritten == -1 {
            let e = res.as_ref().err().map(|(_, e)| errno_of(e)).unwrap_or(0);
            if can_log {
                server_log!(
                    s,
                    LL_WARNING,
                    "Error writing to the AOF file: {}",
                    strerror(e)
                );
            }
            s.aof.last_write_errno = e;
        } else {
            if can_log {
                server_log!(
                    s,
                    LL_WARNING,
                    "Short write while writing to the AOF file: (nwritten={}, expected={})",
                    nwritten,
                    buflen
                );
            }
            match fd.truncate(s.aof.last_incr_size as u64) {
                Err(e) => {
                    if can_log {
                        server_log!(
                            s,
                            LL_WARNING,
                            "Could not remove short write from the append-only file.  Redis may refuse to load the AOF the next time it starts.  ftruncate: {}",
                            strerror_io(&e)
                        );
                    }
                }
                // Nothing partial is left in the file.
                Ok(()) => nwritten = -1,
            }
            s.aof.last_write_errno = libc::ENOSPC;
        }
        if fsync == AOF_FSYNC_ALWAYS {
            // The replies are already in the clients' buffers and the dataset
            // changed: the promise can no longer be kept, so stop.
            server_log!(
                s,
                LL_WARNING,
                "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting..."
            );
            crate::log::flush_timeline();
            std::process::exit(1);
        }
        s.aof.last_write_ok = false;
        if nwritten > 0 {
            s.aof.current_size += nwritten;
            s.aof.last_incr_size += nwritten;
            s.aof.buf.drain(..nwritten as usize);
        }
        return;
    } else if !s.aof.last_write_ok {
        server_log!(
            s,
            LL_WARNING,
            "AOF write error looks solved, Redis can write again."
        );
        s.aof.last_write_ok = true;
    }
    s.aof.current_size += nwritten;
    s.aof.last_incr_size += nwritten;
    if s.aof.buf.capacity() < 4000 {
        s.aof.buf.clear();
    } else {
        s.aof.buf = Vec::new();
    }
    try_fsync(s, &fd, sync_in_progress);
}
// ANCHOR_END: flush_append_only_file

/// The `try_fsync:` tail of flushAppendOnlyFile.
fn try_fsync(s: &mut Server, fd: &Arc<AofFile>, sync_in_progress: bool) {
    if s.config.no_appendfsync_on_rewrite && has_active_child_process(s) {
        return;
    }
    let fsync = s.config.appendfsync;
    if fsync == AOF_FSYNC_ALWAYS {
        if let Err(e) = fd.fsync() {
            server_log!(
                s,
                LL_WARNING,
                "Can't persist AOF for fsync error when the AOF fsync policy is 'always': {}. Exiting...",
                strerror_io(&e)
            );
            crate::log::flush_timeline();
            std::process::exit(1);
        }
        s.aof.last_incr_fsync_offset = s.aof.last_incr_size;
        s.aof.last_fsync = s.unixtime;
    } else if fsync == AOF_FSYNC_EVERYSEC && s.unixtime > s.aof.last_fsync {
        if !sync_in_progress {
            aof_background_fsync(s);
            s.aof.last_incr_fsync_offset = s.aof.last_incr_size;
        }
        s.aof.last_fsync = s.unixtime;
    }
}

/// aof.c: catAppendOnlyGenericCommand
pub fn cat_append_only_generic_command(dst: &mut Vec<u8>, argv: &[Bytes]) {
    // write! into a Vec cannot fail, and formats the lengths without allocating.
    let _ = write!(dst, "*{}\r\n", argv.len());
    for a in argv {
        let _ = write!(dst, "${}\r\n", a.len());
        dst.extend_from_slice(a);
        dst.extend_from_slice(b"\r\n");
    }
}

/// aof.c: genAofTimestampAnnotationIfNeeded
fn gen_aof_timestamp_annotation_if_needed(s: &mut Server, force: bool) -> Option<String> {
    if force || s.aof.cur_timestamp < s.unixtime {
        s.aof.cur_timestamp = if force {
            crate::util::mstime() / 1000
        } else {
            s.unixtime
        };
        return Some(format!("#TS:{}\r\n", s.aof.cur_timestamp));
    }
    None
}

// ANCHOR: feed_append_only_file
/// aof.c: feedAppendOnlyFile
///
/// Commands arrive here already in their replayable form (SET EX as SET PXAT,
/// EXPIRE as PEXPIREAT, SPOP as SREM): the AOF only adds a SELECT when the
/// database changes, and buffers; before_sleep writes the buffer.
pub fn feed_append_only_file(s: &mut Server, dictid: usize, argv: &[Bytes]) {
    // Redis formats into a temporary buffer and drops it unless the AOF is on (or
    // waits for its first rewrite); appending in place saves that copy.
    let keep = s.aof.state == AOF_ON || s.aof.state == AOF_WAIT_REWRITE && is_aof_child(s);
    let mut scratch = Vec::new();
    let mut buf = std::mem::take(&mut s.aof.buf);
    let out = if keep { &mut buf } else { &mut scratch };
    if s.config.aof_timestamp_enabled {
        if let Some(ts) = gen_aof_timestamp_annotation_if_needed(s, false) {
            out.extend_from_slice(ts.as_bytes());
        }
    }
    if dictid as i64 != s.aof.selected_db {
        let seldb = dictid.to_string();
        let _ = write!(
            out,
            "*2\r\n$6\r\nSELECT\r\n${}\r\n{}\r\n",
            seldb.len(),
            seldb
        );
        s.aof.selected_db = dictid as i64;
    }
    cat_append_only_generic_command(out, argv);
    s.aof.buf = buf;
}
// ANCHOR_END: feed_append_only_file

/// server.child_type == CHILD_TYPE_AOF
fn is_aof_child(s: &Server) -> bool {
    s.child_type == ChildType::Aof
}

/// aof.c: createAOFClient
fn create_aof_client(s: &Server) -> Client {
    let mut c = Client::new(CLIENT_ID_AOF, mio::Token(usize::MAX - 1), None, s.unixtime);
    // Never blocked: nobody would unblock it, and order would be lost.
    c.flags = CLIENT_DENY_BLOCKING;
    c
}

/// fgets(3) on a buffered file: up to `max - 1` bytes or through the newline.
fn fgets<R: BufRead>(r: &mut R, max: usize, out: &mut Vec<u8>) -> io::Result<bool> {
    out.clear();
    while out.len() < max - 1 {
        let avail = r.fill_buf()?;
        if avail.is_empty() {
            break;
        }
        let room = max - 1 - out.len();
        let chunk = &avail[..avail.len().min(room)];
        if let Some(i) = chunk.iter().position(|&b| b == b'\n') {
            out.extend_from_slice(&chunk[..=i]);
            r.consume(i + 1);
            return Ok(true);
        }
        let n = chunk.len();
        out.extend_from_slice(chunk);
        r.consume(n);
    }
    Ok(!out.is_empty())
}

/// C's strtol on a `$<len>` line (digits after the `$`, the rest ignored).
fn strtol_len(b: &[u8]) -> i64 {
    atoll(b)
}

/// Why the command loop of loadSingleAppendOnlyFile stopped.
enum LoadStop {
    /// Clean end of file.
    Eof,
    /// The file ended inside a command.
    ShortRead,
    /// A read failed for another reason.
    ReadErr(io::Error),
    /// Not the AOF protocol.
    FmtErr,
    /// Unknown command (already logged).
    Failed,
}

/// A reader that counts the bytes consumed (ftello).
struct CountingReader<R> {
    inner: BufReader<R>,
    pos: u64,
}

impl<R: Read> CountingReader<R> {
    fn fgets(&mut self, max: usize, out: &mut Vec<u8>) -> io::Result<bool> {
        let r = fgets(&mut self.inner, max, out);
        self.pos += out.len() as u64;
        r
    }
    /// fread of exactly `n` bytes: Ok(false) on a short read (EOF).
    fn read_exact_or_eof(&mut self, out: &mut Vec<u8>, n: usize) -> io::Result<bool> {
        out.clear();
        let got = (&mut self.inner).take(n as u64).read_to_end(out)?;
        self.pos += got as u64;
        Ok(got == n)
    }
}

// ANCHOR: load_single_append_only_file
/// aof.c: loadSingleAppendOnlyFile
///
/// Replays one file: an RDB-format base through the RDB loader, then (or else)
/// commands in the replication protocol, each executed by a fake client. A
/// transaction cut short by the end of the file is dropped whole.
pub fn load_single_append_only_file(s: &mut Server, filename: &str) -> i32 {
    let aof_filepath = make_path(&s.config.appenddirname, filename);
    let file = match File::open(&aof_filepath) {
        Ok(f) => f,
        Err(e) => {
            if e.kind() != io::ErrorKind::NotFound || aof_filepath.exists() {
                server_log!(
                    s,
                    LL_WARNING,
                    "Fatal error: can't open the append log file {} for reading: {}",
                    filename,
                    strerror_io(&e)
                );
                return AOF_OPEN_ERR;
            }
            server_log!(
                s,
                LL_WARNING,
                "The append log file {} doesn't exist: {}",
                filename,
                strerror_io(&e)
            );
            return AOF_NOT_EXIST;
        }
    };
    if file.metadata().map(|m| m.len() == 0).unwrap_or(false) {
        return AOF_EMPTY;
    }
    // Nothing replayed may be appended to the file being read.
    let old_aof_state = s.aof.state;
    s.aof.state = AOF_OFF;
    let old_client = s.current_client;
    let mut fake = create_aof_client(s);
    s.current_client = Some(fake.id);
    let mut ret = AOF_OK;
    let mut valid_up_to: u64 = 0;
    let mut valid_before_multi: u64 = 0;

    let mut file = file;
    let mut sig = [0u8; 5];
    let is_rdb = file.read_exact(&mut sig).is_ok() && &sig == b"REDIS";
    let mut start_pos = 0u64;
    let mut stop = LoadStop::Eof;
    if file.seek(SeekFrom::Start(0)).is_err() {
        stop = LoadStop::ReadErr(io::Error::last_os_error());
    } else if is_rdb {
        let old_style = filename == s.config.appendfilename;
        if old_style {
            server_log!(s, LL_NOTICE, "Reading RDB preamble from AOF file...");
        } else {
            server_log!(s, LL_NOTICE, "Reading RDB base file on AOF loading...");
        }
        match load_rdb_part(s, &mut file) {
            Ok(consumed) => {
                start_pos = consumed;
                crate::rdb::loading_abs_progress(s, consumed);
                if old_style {
                    server_log!(s, LL_NOTICE, "Reading the remaining AOF tail...");
                }
            }
            Err(e) => {
                if old_style {
                    server_log!(
                        s,
                        LL_WARNING,
                        "Error reading the RDB preamble of the AOF file {}, AOF loading aborted",
                        filename
                    );
                } else {
                    server_log!(
                        s,
                        LL_WARNING,
                        "Error reading the RDB base file {}, AOF loading aborted",
                        filename
                    );
                }
                // Never cut an RDB part: a damaged snapshot is not a log with a
                // torn tail (Redis 7.0.15 may truncate a short RDB base to 0 bytes
                // here; refusing to start keeps the data for redis-check-aof).
                server_log!(s, LL_VERBOSE, "RDB load error: {}", e);
                stop = LoadStop::Failed;
            }
        }
    }
    if matches!(stop, LoadStop::Eof) && file.seek(SeekFrom::Start(start_pos)).is_ok() {
        let mut rd = CountingReader {
            inner: BufReader::with_capacity(64 * 1024, file),
            pos: start_pos,
        };
        valid_up_to = start_pos;
        let mut last_progress = start_pos;
        stop = replay_commands(
            s,
            &mut fake,
            &mut rd,
            filename,
            &mut valid_up_to,
            &mut valid_before_multi,
            &mut last_progress,
        );
        if matches!(stop, LoadStop::Eof) {
            crate::rdb::loading_incr_progress(s, rd.pos - last_progress);
        }
        if matches!(stop, LoadStop::Eof) && fake.flags & CLIENT_MULTI != 0 {
            server_log!(
                s,
                LL_WARNING,
                "Revert incomplete MULTI/EXEC transaction in AOF file {}",
                filename
            );
            valid_up_to = valid_before_multi;
            stop = LoadStop::ShortRead;
        }
    }
    match stop {
        LoadStop::Eof => {}
        LoadStop::Failed => ret = AOF_FAILED,
        LoadStop::FmtErr => {
            server_log!(
                s,
                LL_WARNING,
                "Bad file format reading the append only file {}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>",
                filename
            );
            ret = AOF_FAILED;
        }
        LoadStop::ReadErr(e) => {
            server_log!(
                s,
                LL_WARNING,
                "Unrecoverable error reading the append only file {}: {}",
                filename,
                strerror_io(&e)
            );
            ret = AOF_FAILED;
        }
        LoadStop::ShortRead => {
            ret = AOF_FAILED;
            let mut truncated = false;
            if s.config.aof_load_truncated {
                server_log!(
                    s,
                    LL_WARNING,
                    "!!! Warning: short read while loading the AOF file {}!!!",
                    filename
                );
                server_log!(
                    s,
                    LL_WARNING,
                    "!!! Truncating the AOF {} at offset {} !!!",
                    filename,
                    valid_up_to
                );
                let r = OpenOptions::new()
                    .write(true)
                    .open(&aof_filepath)
                    .and_then(|f| f.set_len(valid_up_to));
                match r {
                    Err(e) => server_log!(
                        s,
                        LL_WARNING,
                        "Error truncating the AOF file {}: {}",
                        filename,
                        strerror_io(&e)
                    ),
                    Ok(()) => {
                        server_log!(
                            s,
                            LL_WARNING,
                            "AOF {} loaded anyway because aof-load-truncated is enabled",
                            filename
                        );
                        ret = AOF_TRUNCATED;
                        truncated = true;
                    }
                }
            }
            if !truncated {
                server_log!(
                    s,
                    LL_WARNING,
                    "Unexpected end of file reading the append only file {}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.",
                    filename
                );
            }
        }
    }
    s.aof.state = old_aof_state;
    s.current_client = old_client;
    ret
}
// ANCHOR_END: load_single_append_only_file

/// The RDB part of an AOF file (base in RDB format, or a 6.x preamble): returns
/// how many bytes the RDB stream used.
fn load_rdb_part(s: &mut Server, file: &mut File) -> Result<u64, String> {
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let clone = file.try_clone().map_err(|e| e.to_string())?;
    let mut r = crate::rdb::Rio::with_file(clone, len as usize);
    crate::rdb::rdb_load_rio(s, &mut r, crate::rdb::RDBFLAGS_AOF_PREAMBLE)?;
    Ok(r.pos as u64)
}

/// The command loop of loadSingleAppendOnlyFile.
fn replay_commands<R: Read>(
    s: &mut Server,
    fake: &mut Client,
    rd: &mut CountingReader<R>,
    filename: &str,
    valid_up_to: &mut u64,
    valid_before_multi: &mut u64,
    last_progress: &mut u64,
) -> LoadStop {
    let mut buf = Vec::with_capacity(AOF_ANNOTATION_LINE_MAX_LEN);
    let mut arg = Vec::new();
    let mut loops: u64 = 0;
    loop {
        // Serve the clients every 1024 commands (their -LOADING, INFO...).
        if loops.is_multiple_of(1024) {
            crate::rdb::loading_incr_progress(s, rd.pos - *last_progress);
            *last_progress = rd.pos;
            crate::networking::process_events_while_blocked(s);
        }
        loops += 1;
        match rd.fgets(AOF_ANNOTATION_LINE_MAX_LEN, &mut buf) {
            Ok(false) => return LoadStop::Eof,
            Ok(true) => {}
            Err(e) => return LoadStop::ReadErr(e),
        }
        if buf[0] == b'#' {
            continue;
        }
        if buf[0] != b'*' {
            return LoadStop::FmtErr;
        }
        if buf.len() == 1 {
            return LoadStop::ShortRead;
        }
        let argc = atoll(&buf[1..]);
        if argc < 1 {
            return LoadStop::FmtErr;
        }
        let mut argv: Vec<Bytes> = Vec::with_capacity((argc as usize).min(1024));
        for _ in 0..argc {
            match rd.fgets(AOF_ANNOTATION_LINE_MAX_LEN, &mut buf) {
                Ok(false) => return LoadStop::ShortRead,
                Err(e) => return LoadStop::ReadErr(e),
                Ok(true) => {}
            }
            if buf[0] != b'$' {
                return LoadStop::FmtErr;
            }
            let len = strtol_len(&buf[1..]);
            if len < 0 {
                return LoadStop::FmtErr;
            }
            match rd.read_exact_or_eof(&mut arg, len as usize) {
                Ok(true) => {}
                Ok(false) => return LoadStop::ShortRead,
                Err(e) => return LoadStop::ReadErr(e),
            }
            argv.push(Bytes::from(std::mem::take(&mut arg)));
            let mut crlf = Vec::new();
            match rd.read_exact_or_eof(&mut crlf, 2) {
                Ok(true) => {}
                Ok(false) => return LoadStop::ShortRead,
                Err(e) => return LoadStop::ReadErr(e),
            }
        }
        let cmd = s
            .commands
            .lookup_command(&argv)
            .filter(|c| c.proc_.is_some());
        let Some(cmd) = cmd else {
            server_log!(
                s,
                LL_WARNING,
                "Unknown command '{}' reading the append only file {}",
                String::from_utf8_lossy(&argv[0]),
                filename
            );
            return LoadStop::Failed;
        };
        // Redis does not check arity here; a proc given the wrong number of
        // arguments could misbehave, so such a file is reported as malformed.
        let n = argv.len() as i32;
        if (cmd.arity > 0 && cmd.arity != n) || n < -cmd.arity {
            return LoadStop::FmtErr;
        }
        if cmd.declared_name == "multi" {
            *valid_before_multi = *valid_up_to;
        }
        fake.argv = argv;
        fake.cmd = Some(cmd);
        fake.lastcmd = Some(cmd);
        if fake.flags & CLIENT_MULTI != 0 && cmd.declared_name != "exec" {
            crate::multi::queue_multi_command(fake, cmd.flags);
        } else {
            s.update_cached_time();
            (cmd.proc_.expect("checked above"))(s, fake);
        }
        // Nobody reads the fake client's replies; nothing it did is propagated.
        fake.buf.clear();
        fake.reply.clear();
        fake.reply_bytes = 0;
        fake.argv.clear();
        s.also_propagate.clear();
        if s.config.aof_load_truncated {
            *valid_up_to = rd.pos;
        }
        if s.config.key_load_delay != 0 {
            crate::debug::debug_delay(s.config.key_load_delay);
        }
    }
}

/// aof.c: loadAppendOnlyFiles
pub fn load_append_only_files(s: &mut Server) -> i32 {
    // A 6.x-style appendonly.aof in `dir` and no manifest for it: migrate it.
    let name = s.config.appendfilename.clone();
    if Path::new(&name).exists() {
        let am = &s.aof.manifest;
        let upgrade = !Path::new(&s.config.appenddirname).is_dir()
            || (am.base_aof_info.is_none() && am.incr_aof_list.is_empty())
            || (am.incr_aof_list.is_empty()
                && am
                    .base_aof_info
                    .as_ref()
                    .is_some_and(|b| b.file_name == name)
                && !aof_file_exist(s, &name));
        if upgrade {
            aof_upgrade_prepare(s);
        }
    }
    let am = s.aof.manifest.clone();
    if am.base_aof_info.is_none() && am.incr_aof_list.is_empty() {
        return AOF_NOT_EXIST;
    }
    let total_num = am.base_aof_info.iter().count() + am.incr_aof_list.len();
    let mut status = AOF_OK;
    let total_size = get_base_and_incr_append_only_files_size(s, &am, &mut status);
    if status != AOF_OK {
        return if status == AOF_NOT_EXIST {
            AOF_FAILED
        } else {
            status
        };
    } else if total_size == 0 {
        return AOF_EMPTY;
    }
    crate::rdb::start_loading(s, total_size as u64, crate::rdb::RDBFLAGS_AOF_PREAMBLE);
    let mut ret = AOF_OK;
    let mut aof_num = 0;
    let mut base_size = 0;
    let mut files: Vec<(&AofInfo, bool)> = Vec::new();
    if let Some(b) = &am.base_aof_info {
        files.push((b, true));
    }
    for ai in &am.incr_aof_list {
        files.push((ai, false));
    }
    for (ai, is_base) in files {
        let aof_name = ai.file_name.clone();
        if is_base {
            base_size = get_append_only_file_size(s, &aof_name, None);
        }
        aof_num += 1;
        let last_file = aof_num == total_num;
        let start = std::time::Instant::now();
        ret = load_single_append_only_file(s, &aof_name);
        if ret == AOF_OK || (ret == AOF_TRUNCATED && last_file) {
            server_log!(
                s,
                LL_NOTICE,
                "DB loaded from {} file {}: {:.3} seconds",
                if is_base { "base" } else { "incr" },
                aof_name,
                start.elapsed().as_secs_f64()
            );
        }
        if !is_base && ret == AOF_EMPTY {
            ret = AOF_OK;
        }
        if ret == AOF_TRUNCATED && !last_file {
            ret = AOF_FAILED;
            server_log!(
                s,
                LL_WARNING,
                "Fatal error: the truncated file is not the last file"
            );
        }
        if ret == AOF_OPEN_ERR || ret == AOF_FAILED {
            crate::rdb::stop_loading(s, false);
            return ret;
        }
    }
    s.aof.current_size = total_size;
    s.aof.rewrite_base_size = base_size;
    crate::rdb::stop_loading(s, ret == AOF_OK || ret == AOF_TRUNCATED);
    ret
}

/// aof.c: getAppendOnlyFileSize
pub fn get_append_only_file_size(s: &Server, filename: &str, status: Option<&mut i32>) -> i64 {
    let p = make_path(&s.config.appenddirname, filename);
    match std::fs::metadata(&p) {
        Ok(m) => {
            if let Some(st) = status {
                *st = AOF_OK;
            }
            m.len() as i64
        }
        Err(e) => {
            if let Some(st) = status {
                *st = if e.kind() == io::ErrorKind::NotFound {
                    AOF_NOT_EXIST
                } else {
                    AOF_OPEN_ERR
                };
            }
            server_log!(
                s,
                LL_WARNING,
                "Unable to obtain the AOF file {} length. stat: {}",
                filename,
                strerror_io(&e)
            );
            0
        }
    }
}

/// aof.c: getBaseAndIncrAppendOnlyFilesSize
fn get_base_and_incr_append_only_files_size(s: &Server, am: &AofManifest, status: &mut i32) -> i64 {
    let mut size = 0;
    for ai in am.base_aof_info.iter().chain(am.incr_aof_list.iter()) {
        size += get_append_only_file_size(s, &ai.file_name, Some(status));
        if *status != AOF_OK {
            return 0;
        }
    }
    size
}

/// server.c: loadDataFromDisk, the AOF branch.
///
/// Returns false when the AOF is off and the RDB file should be loaded instead.
pub fn load_data_from_disk_aof(s: &mut Server) -> bool {
    if s.aof.state != AOF_ON {
        return false;
    }
    let start = std::time::Instant::now();
    let ret = load_append_only_files(s);
    if ret == AOF_FAILED || ret == AOF_OPEN_ERR {
        crate::log::flush_timeline();
        std::process::exit(1);
    }
    if ret != AOF_NOT_EXIST {
        server_log!(
            s,
            LL_NOTICE,
            "DB loaded from append only file: {:.3} seconds",
            start.elapsed().as_secs_f64()
        );
    }
    true
}

/// server.c: the AOF steps of main() around loadDataFromDisk.
pub fn aof_init_on_server_start(s: &mut Server) {
    aof_load_manifest_from_disk(s);
    load_data_from_disk_aof(s);
    aof_open_if_needed_on_server_start(s);
    aof_del_history_files(s);
}

// ---------------------------------------------------------------------------
// Rewrite: the commands that rebuild the dataset.
// ---------------------------------------------------------------------------

fn write_bulk_count(out: &mut Vec<u8>, prefix: u8, n: usize) {
    out.push(prefix);
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn write_bulk_string(out: &mut Vec<u8>, s: &[u8]) {
    write_bulk_count(out, b'$', s.len());
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
}

fn write_bulk_long_long(out: &mut Vec<u8>, v: i64) {
    write_bulk_string(out, v.to_string().as_bytes());
}

/// Emits `cmd key item...` commands of at most AOF_REWRITE_ITEMS_PER_CMD items each
/// (the shared shape of rewriteListObject, rewriteSetObject, ...).
fn rewrite_items<'a, I>(
    out: &mut Vec<u8>,
    cmd: &str,
    key: &[u8],
    per_item: usize,
    items: I,
    total: usize,
) where
    I: Iterator<Item = Vec<&'a [u8]>>,
{
    let mut count = 0;
    let mut left = total;
    for item in items {
        if count == 0 {
            let cmd_items = left.min(AOF_REWRITE_ITEMS_PER_CMD);
            write_bulk_count(out, b'*', 2 + cmd_items * per_item);
            write_bulk_string(out, cmd.as_bytes());
            write_bulk_string(out, key);
        }
        for part in item {
            write_bulk_string(out, part);
        }
        count += 1;
        if count == AOF_REWRITE_ITEMS_PER_CMD {
            count = 0;
        }
        left -= 1;
    }
}

// ANCHOR: rewrite_append_only_file_rio
/// aof.c: rewriteAppendOnlyFileRio
///
/// The dataset as commands: FUNCTION LOAD per library, then per database a SELECT
/// and for each key the fewest commands that rebuild it (variadic RPUSH/SADD/ZADD/
/// HMSET of up to 64 items), then PEXPIREAT for keys with a TTL.
pub fn rewrite_append_only_file_rio<W: Write>(s: &mut Server, w: &mut W) -> io::Result<()> {
    use crate::object::Value;
    // Built in pieces and handed to the writer every 64 KiB: a forked child must
    // not hold a second copy of the dataset.
    let mut buf = Vec::with_capacity(2 * REWRITE_CHUNK);
    let out = &mut buf;
    if s.config.aof_timestamp_enabled {
        if let Some(ts) = gen_aof_timestamp_annotation_if_needed(s, true) {
            out.extend_from_slice(ts.as_bytes());
        }
    }
    for li in s.functions.lib_ctx.libraries.values() {
        out.extend_from_slice(b"*3\r\n$8\r\nFUNCTION\r\n$4\r\nLOAD\r\n");
        write_bulk_string(out, &li.code);
    }
    for j in 0..s.db.len() {
        let db = &s.db[j];
        if db.dict.is_empty() {
            continue;
        }
        out.extend_from_slice(b"*2\r\n$6\r\nSELECT\r\n");
        write_bulk_long_long(out, j as i64);
        for de in db.dict.iter() {
            let key = &de.key[..];
            let o = &de.val;
            match &o.ptr {
                Value::Int(v) => {
                    out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
                    write_bulk_string(out, key);
                    write_bulk_long_long(out, *v);
                }
                Value::EmbStr(b) => {
                    out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
                    write_bulk_string(out, key);
                    write_bulk_string(out, b);
                }
                Value::Raw(b) => {
                    out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
                    write_bulk_string(out, key);
                    write_bulk_string(out, b);
                }
                Value::List(l) => {
                    let n = l.elements.len();
                    rewrite_items(
                        out,
                        "RPUSH",
                        key,
                        1,
                        l.elements.iter().map(|e| vec![&e[..]]),
                        n,
                    );
                }
                Value::Set(set) => match &**set {
                    crate::t_set::Set::Intset(v) => {
                        let strs: Vec<String> = v.iter().map(|x| x.to_string()).collect();
                        let n = strs.len();
                        rewrite_items(
                            out,
                            "SADD",
                            key,
                            1,
                            strs.iter().map(|e| vec![e.as_bytes()]),
                            n,
                        );
                    }
                    crate::t_set::Set::HashTable(d) => {
                        let n = d.len();
                        rewrite_items(out, "SADD", key, 1, d.iter().map(|e| vec![&e.key[..]]), n);
                    }
                },
                Value::ZSet(z) => {
                    // Listpacks go in order; a skiplist zset goes in its dict's order,
                    // as Redis walks the dict.
                    let pairs: Vec<(String, std::borrow::Cow<'_, [u8]>)> = match &**z {
                        crate::t_zset::ZSet::Listpack(_) => z
                            .iter_pairs()
                            .map(|(e, sc)| (crate::util::d2string(sc), e))
                            .collect(),
                        crate::t_zset::ZSet::Skiplist { dict, .. } => dict
                            .iter()
                            .map(|e| (crate::util::d2string(e.val), (&e.key[..]).into()))
                            .collect(),
                    };
                    let n = pairs.len();
                    rewrite_items(
                        out,
                        "ZADD",
                        key,
                        2,
                        pairs.iter().map(|(sc, e)| vec![sc.as_bytes(), &e[..]]),
                        n,
                    );
                }
                Value::Hash(h) => match &**h {
                    crate::t_hash::Hash::Listpack(_) => {
                        let n = h.len();
                        let pairs: Vec<_> = h.iter().collect();
                        rewrite_items(
                            out,
                            "HMSET",
                            key,
                            2,
                            pairs.iter().map(|(f, x)| vec![&f[..], &x[..]]),
                            n,
                        );
                    }
                    crate::t_hash::Hash::HashTable(d) => {
                        let n = d.len();
                        rewrite_items(
                            out,
                            "HMSET",
                            key,
                            2,
                            d.iter().map(|e| vec![&e.key[..], &e.val[..]]),
                            n,
                        );
                    }
                },
            }
            if let Some(when) = db.expires.get(key) {
                out.extend_from_slice(b"*3\r\n$9\r\nPEXPIREAT\r\n");
                write_bulk_string(out, key);
                write_bulk_long_long(out, when.val);
            }
            if out.len() >= REWRITE_CHUNK {
                w.write_all(out)?;
                out.clear();
            }
            // rdb-key-save-delay slows the rewrite down for tests, as in Redis.
            if s.config.rdb_key_save_delay > 0 {
                w.write_all(out)?;
                out.clear();
                std::thread::sleep(std::time::Duration::from_micros(
                    s.config.rdb_key_save_delay as u64,
                ));
            }
        }
    }
    w.write_all(out)
}

/// How much of the rewrite is buffered before it is written.
const REWRITE_CHUNK: usize = 64 * 1024;
/// rio.h: REDIS_AUTOSYNC_BYTES (aof-rewrite-incremental-fsync's step)
const REDIS_AUTOSYNC_BYTES: usize = 4 * 1024 * 1024;

/// rio.c: rioSetAutoSync: a file that fsyncs every few MB, so the final fsync does
/// not have gigabytes of dirty pages to push at once.
struct AutoSyncFile {
    f: File,
    unsynced: usize,
    autosync: usize,
}

impl Write for AutoSyncFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.f.write_all(buf)?;
        self.unsynced += buf.len();
        if self.autosync > 0 && self.unsynced >= self.autosync {
            self.f.sync_data()?;
            self.unsynced = 0;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
// ANCHOR_END: rewrite_append_only_file_rio

/// aof.c: rewriteAppendOnlyFile
///
/// Writes a whole base (an RDB stream with the aof-base AUX field, or commands when
/// aof-use-rdb-preamble is no) to a temp file, fsyncs it and renames it into place.
pub fn rewrite_append_only_file(s: &mut Server, filename: &Path) -> bool {
    // Not the name the background child's parent looks for.
    let tmpfile = format!("temp-rewriteaof-{}.aof", std::process::id());
    let r = (|| -> io::Result<()> {
        let f = File::create(&tmpfile)?;
        let mut w = AutoSyncFile {
            f,
            unsynced: 0,
            autosync: if s.config.aof_rewrite_incremental_fsync {
                REDIS_AUTOSYNC_BYTES
            } else {
                0
            },
        };
        if s.config.aof_use_rdb_preamble {
            crate::rdb::rdb_save_rio_to(s, &mut w, crate::rdb::RDBFLAGS_AOF_PREAMBLE)?;
        } else {
            rewrite_append_only_file_rio(s, &mut w)?;
        }
        w.f.sync_all()
    })();
    if let Err(e) = r {
        server_log!(
            s,
            LL_WARNING,
            "Write error writing append only file on disk: {}",
            strerror_io(&e)
        );
        let _ = std::fs::remove_file(&tmpfile);
        return false;
    }
    if let Err(e) = std::fs::rename(&tmpfile, filename) {
        server_log!(
            s,
            LL_WARNING,
            "Error moving temp append only file on the final destination: {}",
            strerror_io(&e)
        );
        let _ = std::fs::remove_file(&tmpfile);
        return false;
    }
    true
}

// ANCHOR: rewrite_append_only_file_background
/// aof.c: rewriteAppendOnlyFileBackground
///
/// The parent switches to a new incr file and forks; the child writes the dataset
/// as of the fork into a temp base file. Nothing is copied: the child's view is the
/// parent's memory at the fork, copy-on-write, while the parent keeps serving and
/// appending to the new incr file.
pub fn rewrite_append_only_file_background(s: &mut Server) -> bool {
    if has_active_child_process(s) {
        return false;
    }
    let dir = s.config.appenddirname.clone();
    if let Err(e) = dir_create_if_missing(&dir) {
        server_log!(
            s,
            LL_WARNING,
            "Can't open or create append-only dir {}: {}",
            dir,
            strerror_io(&e)
        );
        s.aof.lastbgrewrite_ok = false;
        return false;
    }
    // The new incr file starts with a SELECT.
    s.aof.selected_db = -1;
    flush_append_only_file(s, true);
    if !open_new_incr_aof_for_append(s) {
        s.aof.lastbgrewrite_ok = false;
        return false;
    }
    s.aof.stat_aof_rewrites += 1;
    match crate::server::redis_fork(s, ChildType::Aof) {
        Ok(0) => {
            let tmpfile = format!("temp-rewriteaof-bg-{}.aof", std::process::id());
            if rewrite_append_only_file(s, Path::new(&tmpfile)) {
                server_log!(
                    s,
                    LL_NOTICE,
                    "Successfully created the temporary AOF base file {}",
                    tmpfile
                );
                crate::server::exit_from_child(0);
            }
            crate::server::exit_from_child(1);
        }
        Ok(childpid) => {
            server_log!(
                s,
                LL_NOTICE,
                "Background append only file rewriting started by pid {}",
                childpid
            );
            s.aof.rewrite_scheduled = false;
            s.aof.rewrite_time_start = crate::util::mstime() / 1000;
            true
        }
        Err(e) => {
            s.aof.lastbgrewrite_ok = false;
            server_log!(
                s,
                LL_WARNING,
                "Can't rewrite append only file in background: fork: {}",
                e
            );
            false
        }
    }
}
// ANCHOR_END: rewrite_append_only_file_background

// ANCHOR: background_rewrite_done_handler
/// aof.c: backgroundRewriteDoneHandler
///
/// The child is done: its temp file becomes the new base, the incr files it covers
/// become history, and the manifest saying so is persisted before anything is
/// deleted. A failure at any step leaves the old manifest, which still describes a
/// complete dataset.
pub fn background_rewrite_done_handler(s: &mut Server, exitcode: i32, bysignal: i32) {
    if bysignal == 0 && exitcode == 0 {
        let start = std::time::Instant::now();
        server_log!(
            s,
            LL_NOTICE,
            "Background AOF rewrite terminated with success"
        );
        let tmpfile = format!("temp-rewriteaof-bg-{}.aof", s.child_pid);
        let dir = s.config.appenddirname.clone();
        let mut temp_am = s.aof.manifest.clone();
        let new_base_filename = get_new_base_file_name_and_mark_pre_as_history(s, &mut temp_am);
        let new_base_filepath = make_path(&dir, &new_base_filename);
        if let Err(e) = std::fs::rename(&tmpfile, &new_base_filepath) {
            server_log!(
                s,
                LL_WARNING,
                "Error trying to rename the temporary AOF base file {} into {}: {}",
                tmpfile,
                new_base_filepath.display(),
                strerror_io(&e)
            );
            rewrite_failed(s);
            return background_rewrite_cleanup(s);
        }
        server_log!(
            s,
            LL_NOTICE,
            "Successfully renamed the temporary AOF base file {} into {}",
            tmpfile,
            new_base_filename
        );
        let mut new_incr_filepath = None;
        if s.aof.state == AOF_WAIT_REWRITE {
            // AOF just turned on: the writes buffered since go to the first incr file.
            let temp_incr_aof_name = get_temp_incr_aof_name(s);
            let temp_incr_filepath = make_path(&dir, &temp_incr_aof_name);
            let new_incr_filename = get_new_incr_aof_name(s, &mut temp_am);
            let p = make_path(&dir, &new_incr_filename);
            if let Err(e) = std::fs::rename(&temp_incr_filepath, &p) {
                server_log!(
                    s,
                    LL_WARNING,
                    "Error trying to rename the temporary AOF incr file {} into {}: {}",
                    temp_incr_filepath.display(),
                    p.display(),
                    strerror_io(&e)
                );
                let _ = bg_unlink(s, &new_base_filepath);
                rewrite_failed(s);
                return background_rewrite_cleanup(s);
            }
            server_log!(
                s,
                LL_NOTICE,
                "Successfully renamed the temporary AOF incr file {} into {}",
                temp_incr_aof_name,
                new_incr_filename
            );
            new_incr_filepath = Some(p);
        }
        mark_rewritten_incr_aof_as_history(s, &mut temp_am);
        if !persist_aof_manifest(s, &mut temp_am) {
            let _ = bg_unlink(s, &new_base_filepath);
            if let Some(p) = new_incr_filepath {
                let _ = bg_unlink(s, &p);
            }
            rewrite_failed(s);
            return background_rewrite_cleanup(s);
        }
        s.aof.manifest = temp_am;
        if s.aof.state != AOF_OFF {
            s.aof.current_size =
                get_append_only_file_size(s, &new_base_filename, None) + s.aof.last_incr_size;
            s.aof.rewrite_base_size = s.aof.current_size;
        }
        aof_del_history_files(s);
        s.aof.lastbgrewrite_ok = true;
        s.aof.stat_aofrw_consecutive_failures = 0;
        server_log!(s, LL_NOTICE, "Background AOF rewrite finished successfully");
        if s.aof.state == AOF_WAIT_REWRITE {
            s.aof.state = AOF_ON;
        }
        server_log!(
            s,
            LL_VERBOSE,
            "Background AOF rewrite signal handler took {}us",
            start.elapsed().as_micros()
        );
    } else if bysignal == 0 {
        rewrite_failed(s);
        server_log!(
            s,
            LL_WARNING,
            "Background AOF rewrite terminated with error"
        );
    } else {
        // SIGUSR1 is how a child is stopped on purpose: not a failure.
        if bysignal != libc::SIGUSR1 {
            rewrite_failed(s);
        }
        server_log!(
            s,
            LL_WARNING,
            "Background AOF rewrite terminated by signal {}",
            bysignal
        );
    }
    background_rewrite_cleanup(s);
}
// ANCHOR_END: background_rewrite_done_handler

fn rewrite_failed(s: &mut Server) {
    s.aof.lastbgrewrite_ok = false;
    s.aof.stat_aofrw_consecutive_failures += 1;
}

/// The `cleanup:` tail of backgroundRewriteDoneHandler.
fn background_rewrite_cleanup(s: &mut Server) {
    let pid = s.child_pid;
    aof_remove_temp_file(s, pid);
    if s.aof.state == AOF_WAIT_REWRITE {
        s.aof.buf = Vec::new();
        aof_del_temp_incr_aof_file(s);
    }
    s.aof.rewrite_time_last = crate::util::mstime() / 1000 - s.aof.rewrite_time_start;
    s.aof.rewrite_time_start = -1;
    // Still waiting to switch the AOF on: try again.
    if s.aof.state == AOF_WAIT_REWRITE {
        s.aof.rewrite_scheduled = true;
    }
}

/// server.c: serverCron, the scheduled rewrite (BGREWRITEAOF while another child ran)
pub fn aof_cron_scheduled_rewrite(s: &mut Server) {
    if !has_active_child_process(s) && s.aof.rewrite_scheduled && !aof_rewrite_limited(s) {
        rewrite_append_only_file_background(s);
    }
}

/// server.c: serverCron, the automatic rewrite (auto-aof-rewrite-percentage/min-size)
pub fn aof_cron_auto_rewrite(s: &mut Server) {
    if s.aof.state == AOF_ON
        && !has_active_child_process(s)
        && s.config.auto_aof_rewrite_percentage > 0
        && s.aof.current_size > s.config.auto_aof_rewrite_min_size
    {
        let base = if s.aof.rewrite_base_size > 0 {
            s.aof.rewrite_base_size
        } else {
            1
        };
        let growth = (s.aof.current_size * 100 / base) - 100;
        if growth >= s.config.auto_aof_rewrite_percentage && !aof_rewrite_limited(s) {
            server_log!(
                s,
                LL_NOTICE,
                "Starting automatic rewriting of AOF on {}% growth",
                growth
            );
            rewrite_append_only_file_background(s);
        }
    }
}

/// aof.c: bgrewriteaofCommand
pub fn bgrewriteaof_command(s: &mut Server, c: &mut Client) {
    if is_aof_child(s) {
        crate::resp::add_reply_error(
            s,
            c,
            "Background append only file rewriting already in progress",
        );
    } else if has_active_child_process(s) || s.in_exec {
        s.aof.rewrite_scheduled = true;
        s.aof.stat_aofrw_consecutive_failures = 0;
        c.add_reply_status("Background append only file rewriting scheduled");
    } else if rewrite_append_only_file_background(s) {
        c.add_reply_status("Background append only file rewriting started");
    } else {
        crate::resp::add_reply_error(
            s,
            c,
            "Can't execute an AOF background rewriting. Please check the server logs for more information.",
        );
    }
}

/// debug.c: DEBUG LOADAOF: flush the AOF, empty the dataset and load it back from
/// the files, as a restart would.
pub fn debug_loadaof(s: &mut Server, c: &mut Client) {
    if s.aof.state == AOF_ON {
        flush_append_only_file(s, true);
    }
    crate::db::empty_data(s, -1);
    aof_load_manifest_from_disk(s);
    aof_del_history_files(s);
    let ret = load_append_only_files(s);
    if ret != AOF_OK && ret != AOF_EMPTY {
        crate::log::flush_timeline();
        std::process::exit(1);
    }
    // What was just loaded is not a change to persist or propagate.
    s.dirty = 0;
    server_log!(s, LL_WARNING, "Append Only File loaded by DEBUG LOADAOF");
    c.add_reply(crate::resp::shared::OK);
}

/// server.c: the AOF part of serverCron
pub fn aof_cron(s: &mut Server) {
    if s.aof.state == AOF_OFF {
        return;
    }
    // A flush postponed by a slow background fsync: try again every cron.
    if s.aof.flush_postponed_start != 0 {
        flush_append_only_file(s, false);
    }
    // After a write error, retry once a second so writes can resume.
    if !s.aof.last_write_ok && s.cronloops.is_multiple_of(s.hz.max(1) as u64) {
        flush_append_only_file(s, false);
    }
}

/// server.c: the AOF part of beforeSleep: written (and under always, fsynced)
/// before handleClientsWithPendingWrites sends this turn's replies.
pub fn aof_before_sleep(s: &mut Server) {
    if s.aof.state == AOF_ON || s.aof.state == AOF_WAIT_REWRITE {
        flush_append_only_file(s, false);
    }
}

/// server.c: the AOF part of prepareForShutdown
pub fn aof_prepare_for_shutdown(s: &mut Server) {
    if is_aof_child(s) {
        // Ferredis's shutdown cannot be refused yet, so a first AOF still being
        // written is abandoned as Redis's SHUTDOWN FORCE would.
        if s.aof.state == AOF_WAIT_REWRITE {
            server_log!(s, LL_WARNING, "Writing initial AOF. Exit anyway.");
        }
        server_log!(
            s,
            LL_WARNING,
            "There is a child rewriting the AOF. Killing it!"
        );
        kill_append_only_child(s);
    }
    if s.aof.state != AOF_OFF {
        server_log!(s, LL_NOTICE, "Calling fsync() on the AOF file.");
        flush_append_only_file(s, true);
        if let Some(f) = s.aof.fd.clone() {
            if let Err(e) = f.fsync() {
                server_log!(
                    s,
                    LL_WARNING,
                    "Fail to fsync the AOF file: {}.",
                    strerror_io(&e)
                );
            }
        }
    }
}

/// server.c: writeCommandsDeniedByDiskError, the AOF half: the errno to report while
/// the last AOF write or background fsync failed, None when writes are fine.
pub fn aof_disk_error_errno(s: &Server) -> Option<i32> {
    if s.aof.state == AOF_OFF {
        return None;
    }
    if !s.aof.last_write_ok {
        return Some(s.aof.last_write_errno);
    }
    if !aof_bio_fsync_ok(s) {
        return Some(s.aof.bio.shared.aof_fsync_errno.load(Ordering::SeqCst));
    }
    None
}

/// server.c: genRedisInfoString, the aof_* lines of # Persistence from aof_enabled
/// to module_fork_last_cow_size.
pub fn info_persistence_aof(s: &Server) -> String {
    let aof_child = is_aof_child(s);
    format!(
        "aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\naof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{}\r\naof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:{}\r\naof_last_write_status:{}\r\naof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
        (s.aof.state != AOF_OFF) as i32,
        aof_child as i32,
        s.aof.rewrite_scheduled as i32,
        s.aof.rewrite_time_last,
        if aof_child {
            crate::util::mstime() / 1000 - s.aof.rewrite_time_start
        } else {
            -1
        },
        if s.aof.lastbgrewrite_ok { "ok" } else { "err" },
        s.aof.stat_aof_rewrites,
        s.aof.stat_aofrw_consecutive_failures,
        if s.aof.last_write_ok && aof_bio_fsync_ok(s) {
            "ok"
        } else {
            "err"
        },
    )
}

/// server.c: genRedisInfoString, the block shown when appendonly is yes.
pub fn info_persistence_aof_enabled(s: &Server) -> String {
    if !s.config.appendonly {
        return String::new();
    }
    format!(
        "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:{}\r\naof_buffer_length:{}\r\naof_pending_bio_fsync:{}\r\naof_delayed_fsync:{}\r\n",
        s.aof.current_size,
        s.aof.rewrite_base_size,
        s.aof.rewrite_scheduled as i32,
        s.aof.buf.len(),
        s.aof.bio.bio_pending_jobs_of_type(BIO_AOF_FSYNC),
        s.aof.delayed_fsync
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip() {
        let text = b"file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\nfile appendonly.aof.2.incr.aof seq 2 type i\n";
        let am = parse_manifest(text).unwrap();
        assert_eq!(get_aof_manifest_as_string(&am).as_bytes(), &text[..]);
        assert_eq!(am.curr_incr_file_seq, 2);
    }

    #[test]
    fn manifest_errors() {
        assert_eq!(
            parse_manifest(b"").unwrap_err().0,
            "Found an empty AOF manifest"
        );
        assert_eq!(
            parse_manifest(b"file a seq 1 type b").unwrap_err().0,
            "The AOF manifest file contains too long line"
        );
        assert_eq!(
            parse_manifest(b"file a seq 2 type i\nfile b seq 1 type i\n")
                .unwrap_err()
                .0,
            "Found a non-monotonic sequence number"
        );
        assert_eq!(
            parse_manifest(b"file a/b seq 1 type b\n").unwrap_err().0,
            "File can't be a path, just a filename"
        );
    }

    #[test]
    fn commands_are_resp_arrays() {
        let mut out = Vec::new();
        cat_append_only_generic_command(
            &mut out,
            &[
                Bytes::from_static(b"SET"),
                Bytes::from_static(b"k"),
                Bytes::new(),
            ],
        );
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }
}
