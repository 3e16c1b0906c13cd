//! The log line format of server.c's serverLogRaw, as a `tracing` formatter.
//!
//! No Redis counterpart as a file: Redis writes its log with fprintf. Here every log
//! line and every pipeline trace goes through `tracing`, and this formatter prints
//! them the way Redis does: `pid:M 21 Nov 2026 22:11:40.123 * message`.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats events as Redis log lines; pipeline traces also show thread and span chain.
pub struct RedisLogFormat;

impl<S, N> FormatEvent<S, N> for RedisLogFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let level = match *meta.level() {
            Level::ERROR | Level::WARN => '#',
            Level::INFO => '*',
            Level::DEBUG => '-',
            Level::TRACE => '.',
        };
        write!(
            writer,
            "{}:M {} {} ",
            std::process::id(),
            timestamp(),
            level
        )?;
        if meta.target() != "ferredis::log" {
            let t = std::thread::current();
            write!(writer, "[{}] ", t.name().unwrap_or("?"))?;
            if let Some(scope) = ctx.event_scope() {
                for span in scope.from_root() {
                    write!(writer, "{}", span.name())?;
                    let ext = span.extensions();
                    if let Some(fields) = ext.get::<FormattedFields<N>>() {
                        if !fields.is_empty() {
                            write!(writer, "{{{}}}", fields)?;
                        }
                    }
                    write!(writer, ": ")?;
                }
            }
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// "21 Nov 2026 22:11:40.123" in local time, as Redis prints it.
fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r writes only into `tm`.
    unsafe { libc::localtime_r(&secs, &mut tm) };
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        tm.tm_mday,
        MON[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_millis()
    )
}

/// The timeline writer's guard: dropping it flushes the trace file. Held for the
/// life of the process, like the subscriber itself.
static TIMELINE_GUARD: std::sync::Mutex<Option<tracing_chrome::FlushGuard>> =
    std::sync::Mutex::new(None);

/// Install the subscriber: RUST_LOG when set, otherwise every Redis log line (the
/// `loglevel` filter is applied by `server_log!` itself, so CONFIG SET loglevel works).
/// With `trace-timeline <file>`, every pipeline span of every thread also goes to a
/// Chrome/Perfetto trace, one lane per thread (scripts/timeline draws it).
pub fn init(logfile: &str, timeline: &str) {
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("ferredis::log=trace"));
    let writer = if logfile.is_empty() {
        BoxMakeWriter::new(std::io::stdout)
    } else {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logfile)
        {
            Ok(f) => BoxMakeWriter::new(std::sync::Mutex::new(f)),
            Err(e) => {
                eprintln!("Can't open the log file: {}", e);
                std::process::exit(1);
            }
        }
    };
    if timeline.is_empty() {
        // A global filter lets disabled spans cost nothing: their callsites are
        // switched off once. (A per-layer filter, needed below, makes every pipeline
        // span be created and then discarded, measurably slowing each command.)
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(log_layer(writer))
            .try_init();
        return;
    }
    let log_layer = log_layer(writer).with_filter(filter);
    let timeline_layer = (!timeline.is_empty()).then(|| {
        let (layer, guard) = tracing_chrome::ChromeLayerBuilder::new()
            .file(timeline)
            .include_args(true)
            .build();
        *TIMELINE_GUARD.lock().unwrap() = Some(guard);
        layer.with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target("ferredis", tracing::Level::DEBUG),
        )
    });
    let _ = tracing_subscriber::registry()
        .with(log_layer)
        .with(timeline_layer)
        .try_init();
}

/// The layer that prints Redis-style log lines.
fn log_layer<S>(
    writer: tracing_subscriber::fmt::writer::BoxMakeWriter,
) -> impl tracing_subscriber::Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .event_format(RedisLogFormat)
        .with_writer(writer)
}

/// Write out the timeline trace (called on shutdown).
pub fn flush_timeline() {
    TIMELINE_GUARD.lock().unwrap().take();
}

// ANCHOR: child_log
// Logging from a fork child. After fork() only the forking thread exists in the
// child; a lock another thread held at that instant (the tracing writer's, stdout's,
// glibc's time zone lock behind localtime) stays locked forever there. So the child
// formats its lines by hand and writes them with write(2): no lock on the way.

/// The log file (empty for stdout), remembered for the child.
static LOGFILE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
/// Local time's offset from UTC in seconds, measured by the parent before forking.
static UTC_OFFSET: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
/// Set in a fork child: log lines take the lock-free path.
static IN_FORK_CHILD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Remember where the log goes (called by `init`'s caller, before any fork).
pub fn set_logfile(logfile: &str) {
    let _ = LOGFILE.set(logfile.to_string());
}

/// Called by the parent just before fork(): measure the time zone offset while
/// taking glibc's lock is still safe.
pub fn prepare_fork() {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as libc::time_t;
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r writes only into `tm`.
    unsafe { libc::localtime_r(&secs, &mut tm) };
    UTC_OFFSET.store(tm.tm_gmtoff, std::sync::atomic::Ordering::Relaxed);
}

/// Called first thing in the child.
pub fn set_in_fork_child() {
    IN_FORK_CHILD.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Are we a fork child (server.in_fork_child != CHILD_TYPE_NONE)?
pub fn in_fork_child() -> bool {
    IN_FORK_CHILD.load(std::sync::atomic::Ordering::Relaxed)
}

/// server.c: serverLogRaw as a fork child writes it: `pid:C date level message`.
pub fn child_log_raw(level: u8, msg: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let offset = UTC_OFFSET.load(std::sync::atomic::Ordering::Relaxed);
    let line = child_log_line(now, offset, std::process::id(), level, msg);
    let logfile = LOGFILE.get().map(String::as_str).unwrap_or("");
    // SAFETY: plain system calls on a buffer we own.
    unsafe {
        if logfile.is_empty() {
            libc::write(1, line.as_ptr().cast(), line.len());
        } else if let Ok(path) = std::ffi::CString::new(logfile) {
            let fd = libc::open(
                path.as_ptr(),
                libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT,
                0o644,
            );
            if fd >= 0 {
                libc::write(fd, line.as_ptr().cast(), line.len());
                libc::close(fd);
            }
        }
    }
}

/// One child log line, formatted without the C library's time functions.
fn child_log_line(
    now: std::time::Duration,
    utc_offset: i64,
    pid: u32,
    level: u8,
    msg: &str,
) -> String {
    let local = now.as_secs() as i64 + utc_offset;
    let (days, sod) = (local.div_euclid(86400), local.rem_euclid(86400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + (month <= 2) as i64;
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mark = ['.', '-', '*', '#'][level.min(3) as usize];
    format!(
        "{}:C {:02} {} {} {:02}:{:02}:{:02}.{:03} {} {}\n",
        pid,
        day,
        MON[(month - 1) as usize],
        year,
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        now.subsec_millis(),
        mark,
        msg
    )
}
// ANCHOR_END: child_log

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-made date agrees with glibc's gmtime_r over many years.
    #[test]
    fn child_log_dates_match_the_c_library() {
        const MON: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let mut t: i64 = 0;
        while t < 4_200_000_000 {
            let mut tm: libc::tm = unsafe { std::mem::zeroed() };
            let secs = t as libc::time_t;
            // SAFETY: gmtime_r writes only into `tm`.
            unsafe { libc::gmtime_r(&secs, &mut tm) };
            let want = format!(
                "7:C {:02} {} {} {:02}:{:02}:{:02}.250 * hi\n",
                tm.tm_mday,
                MON[tm.tm_mon as usize],
                tm.tm_year + 1900,
                tm.tm_hour,
                tm.tm_min,
                tm.tm_sec
            );
            let now = std::time::Duration::from_millis(t as u64 * 1000 + 250);
            assert_eq!(child_log_line(now, 0, 7, 2, "hi"), want);
            t += 86_399 * 13 + 7;
        }
        // The parent's offset moves the clock, not the format.
        let now = std::time::Duration::from_secs(0);
        assert!(
            child_log_line(now, 3600, 1, 3, "x").starts_with("1:C 01 Jan 1970 01:00:00.000 # x")
        );
    }
}
