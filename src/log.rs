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
