//! Port of ae.c and ae_epoll.c: the event loop, over `mio::Poll`.
//!
//! Redis's epoll backend is level-triggered: a socket with unread bytes is reported on
//! every turn of the loop, and Redis reads at most 16 KiB from it per turn so that one
//! busy client cannot starve the others. mio is edge-triggered: a socket is reported
//! once, and again only after new bytes arrive. To keep Redis's fairness this loop
//! emulates level triggering: a handler that stops before draining its socket (a full
//! 16 KiB read, a write cut at 64 KiB, an accept loop cut at 1000) calls
//! `mark_still_ready`, and the next turn fires that event again without waiting.

use std::io;
use std::time::Duration;

use mio::event::Source;
use mio::{Events, Interest, Poll, Token};

use crate::server::Server;

pub const AE_NONE: u8 = 0;
pub const AE_READABLE: u8 = 1;
pub const AE_WRITABLE: u8 = 2;
/// With AE_WRITABLE: never run the write handler after the read handler in the same
/// turn (ae.h: AE_BARRIER). Under appendfsync always a reply produced by this turn's
/// read must wait for before_sleep's fsync.
pub const AE_BARRIER: u8 = 4;

/// Returned by a time event that must not run again (ae.h: AE_NOMORE).
pub const AE_NOMORE: i64 = -1;

/// A file event handler: Redis's `aeFileProc`, given the server instead of `clientData`.
pub type FileProc = fn(&mut Server, Token);
/// A time event handler: returns the milliseconds until it runs again, or AE_NOMORE.
pub type TimeProc = fn(&mut Server, i64) -> i64;
/// The before/after sleep hooks.
pub type SleepProc = fn(&mut Server);

#[derive(Clone, Copy, Default)]
struct FileEvent {
    mask: u8,
    rfile_proc: Option<FileProc>,
    wfile_proc: Option<FileProc>,
    /// Index of this token in `fired` during the current turn, to merge duplicates.
    fired_turn: u64,
    fired_index: usize,
}

struct TimeEvent {
    id: i64,
    when_ms: i64,
    proc_: TimeProc,
}

/// One ready event handed to its handlers (ae.h: aeFiredEvent).
#[derive(Clone, Copy)]
struct FiredEvent {
    token: Token,
    mask: u8,
}

/// The event loop state (ae.h: aeEventLoop).
pub struct EventLoop {
    poll: Poll,
    events: Events,
    file_events: Vec<FileEvent>,
    time_events: Vec<TimeEvent>,
    time_event_next_id: i64,
    fired: Vec<FiredEvent>,
    still_ready: Vec<FiredEvent>,
    turn: u64,
    pub stop: bool,
    pub before_sleep: Option<SleepProc>,
    pub after_sleep: Option<SleepProc>,
    /// Set by before_sleep when work is already waiting (ae.c: aeSetDontWait).
    pub dont_wait: bool,
}

impl EventLoop {
    /// ae.c: aeCreateEventLoop
    pub fn new(setsize: usize) -> io::Result<EventLoop> {
        Ok(EventLoop {
            poll: Poll::new()?,
            events: Events::with_capacity(setsize.clamp(64, 1024)),
            file_events: Vec::new(),
            time_events: Vec::new(),
            time_event_next_id: 0,
            fired: Vec::new(),
            still_ready: Vec::new(),
            turn: 0,
            stop: false,
            before_sleep: None,
            after_sleep: None,
            dont_wait: false,
        })
    }

    fn slot(&mut self, token: Token) -> &mut FileEvent {
        if token.0 >= self.file_events.len() {
            self.file_events.resize(token.0 + 1, FileEvent::default());
        }
        &mut self.file_events[token.0]
    }

    /// ae.c: aeCreateFileEvent (and aeApiAddEvent)
    pub fn create_file_event<S: Source + ?Sized>(
        &mut self,
        source: &mut S,
        token: Token,
        mask: u8,
        proc_: FileProc,
    ) -> io::Result<()> {
        let old = self.slot(token).mask;
        let new = old | mask;
        let interest = interest_of(new).expect("non-empty mask");
        if old == AE_NONE {
            self.poll.registry().register(source, token, interest)?;
        } else if new != old {
            self.poll.registry().reregister(source, token, interest)?;
        }
        let fe = self.slot(token);
        fe.mask = new;
        if mask & AE_READABLE != 0 {
            fe.rfile_proc = Some(proc_);
        }
        if mask & AE_WRITABLE != 0 {
            fe.wfile_proc = Some(proc_);
        }
        Ok(())
    }

    /// ae.c: aeDeleteFileEvent (and aeApiDelEvent)
    pub fn delete_file_event<S: Source + ?Sized>(
        &mut self,
        source: &mut S,
        token: Token,
        mask: u8,
    ) -> io::Result<()> {
        let fe = self.slot(token);
        let old = fe.mask;
        if old == AE_NONE {
            return Ok(());
        }
        // The barrier only means something with a write handler.
        let mask = if mask & AE_WRITABLE != 0 {
            mask | AE_BARRIER
        } else {
            mask
        };
        let new = old & !mask;
        fe.mask = new;
        if mask & AE_READABLE != 0 {
            fe.rfile_proc = None;
        }
        if mask & AE_WRITABLE != 0 {
            fe.wfile_proc = None;
        }
        match interest_of(new) {
            None => self.poll.registry().deregister(source),
            Some(i) if new != old => self.poll.registry().reregister(source, token, i),
            Some(_) => Ok(()),
        }
    }

    /// ae.c: aeGetFileEvents
    pub fn get_file_events(&self, token: Token) -> u8 {
        self.file_events
            .get(token.0)
            .map(|f| f.mask)
            .unwrap_or(AE_NONE)
    }

    /// Ask the loop to fire this event again next turn, as a level-triggered poller would.
    #[inline]
    pub fn mark_still_ready(&mut self, token: Token, mask: u8) {
        self.still_ready.push(FiredEvent { token, mask });
    }

    /// ae.c: aeCreateTimeEvent
    pub fn create_time_event(&mut self, now_ms: i64, after_ms: i64, proc_: TimeProc) -> i64 {
        let id = self.time_event_next_id;
        self.time_event_next_id += 1;
        self.time_events.push(TimeEvent {
            id,
            when_ms: now_ms + after_ms,
            proc_,
        });
        id
    }

    /// ae.c: usUntilEarliestTimer (in milliseconds)
    fn ms_until_earliest_timer(&self, now_ms: i64) -> Option<i64> {
        self.time_events
            .iter()
            .map(|t| (t.when_ms - now_ms).max(0))
            .min()
    }

    // ANCHOR: api_poll
    /// ae_epoll.c: aeApiPoll
    ///
    /// Waits for readiness, then adds the events handlers asked to see again.
    fn api_poll(&mut self, timeout: Option<Duration>) -> usize {
        self.turn += 1;
        let again = std::mem::take(&mut self.still_ready);
        let timeout = if again.is_empty() {
            timeout
        } else {
            Some(Duration::ZERO)
        };
        if let Err(e) = self.poll.poll(&mut self.events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                panic!("aeApiPoll: {e}");
            }
        }
        self.fired.clear();
        let turn = self.turn;
        let mut fired = std::mem::take(&mut self.fired);
        for ev in self.events.iter() {
            let mut mask = AE_NONE;
            // Errors and hang-ups are reported as readable, so the read sees them.
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                mask |= AE_READABLE;
            }
            if ev.is_writable() || ev.is_write_closed() || ev.is_error() {
                mask |= AE_WRITABLE;
            }
            push_fired(&mut self.file_events, &mut fired, turn, ev.token(), mask);
            // Data and the peer's FIN can arrive under one edge: a short read then
            // takes the data and the end-of-file would never be reported again. Read
            // once more next turn, so the EOF is seen and the client freed.
            if ev.is_read_closed() {
                self.still_ready.push(FiredEvent {
                    token: ev.token(),
                    mask: AE_READABLE,
                });
            }
        }
        for ev in again {
            push_fired(&mut self.file_events, &mut fired, turn, ev.token, ev.mask);
        }
        self.fired = fired;
        self.fired.len()
    }
    // ANCHOR_END: api_poll
}

fn push_fired(
    fes: &mut [FileEvent],
    fired: &mut Vec<FiredEvent>,
    turn: u64,
    token: Token,
    mask: u8,
) {
    if token.0 >= fes.len() {
        return;
    }
    let fe = &mut fes[token.0];
    if fe.fired_turn == turn {
        fired[fe.fired_index].mask |= mask;
    } else {
        fe.fired_turn = turn;
        fe.fired_index = fired.len();
        fired.push(FiredEvent { token, mask });
    }
}

fn interest_of(mask: u8) -> Option<Interest> {
    match (mask & AE_READABLE != 0, mask & AE_WRITABLE != 0) {
        (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
        (true, false) => Some(Interest::READABLE),
        (false, true) => Some(Interest::WRITABLE),
        (false, false) => None,
    }
}

// ANCHOR: process_events
/// ae.c: aeProcessEvents
///
/// One turn of the loop: before_sleep, wait, after_sleep, then every fired file event
/// (readable before writable, or the reverse for AE_BARRIER), then due time events.
pub fn process_events(s: &mut Server) -> usize {
    if let Some(bs) = s.el.before_sleep {
        bs(s);
    }
    let now = crate::util::mstime();
    let timeout = if s.el.dont_wait {
        Some(Duration::ZERO)
    } else {
        s.el.ms_until_earliest_timer(now)
            .map(|ms| Duration::from_millis(ms as u64))
    };
    s.el.dont_wait = false;
    let numevents = s.el.api_poll(timeout);
    if let Some(asl) = s.el.after_sleep {
        asl(s);
    }
    dispatch_fired(s, numevents);
    process_time_events(s) + numevents
}
// ANCHOR_END: process_events

/// The file-event half of aeProcessEvents: runs the handlers of the events the last poll
/// fired.
fn dispatch_fired(s: &mut Server, numevents: usize) {
    for j in 0..numevents {
        let FiredEvent { token, mask } = s.el.fired[j];
        let fe = s.el.get(token);
        let mut fired = 0;
        // Normally read first, then write what the read produced; with AE_BARRIER
        // write first (old replies), and let this turn's replies wait for
        // before_sleep.
        let invert = fe.mask & AE_BARRIER != 0;
        if invert && fe.mask & mask & AE_WRITABLE != 0 {
            if let Some(p) = fe.wfile_proc {
                p(s, token);
                fired += 1;
            }
        }
        let fe = s.el.get(token);
        if fe.mask & mask & AE_READABLE != 0 {
            if let Some(p) = fe.rfile_proc {
                if fired == 0 || fe.wfile_proc.map(|w| w as usize) != Some(p as usize) {
                    p(s, token);
                    fired += 1;
                }
            }
        }
        // The read handler may have removed or replaced the write handler.
        let fe = s.el.get(token);
        if !invert && fe.mask & mask & AE_WRITABLE != 0 {
            if let Some(p) = fe.wfile_proc {
                if fired == 0 || fe.rfile_proc.map(|r| r as usize) != Some(p as usize) {
                    p(s, token);
                }
            }
        }
    }
}

/// ae.c: aeProcessEvents(AE_FILE_EVENTS|AE_DONT_WAIT|AE_CALL_BEFORE_SLEEP|AE_CALL_AFTER_SLEEP),
/// the turn processEventsWhileBlocked takes while a command (a busy script) is still
/// running: no waiting, no timers.
pub fn process_file_events_dont_wait(s: &mut Server) -> usize {
    // The loop this turn is nested in is still walking its own fired events: keep them
    // for it, and look at them here too, since the edges that fired them will not fire
    // again (a handler seeing a spurious event reads nothing and returns).
    let saved = std::mem::take(&mut s.el.fired);
    for ev in &saved {
        s.el.mark_still_ready(ev.token, ev.mask);
    }
    if let Some(bs) = s.el.before_sleep {
        bs(s);
    }
    let numevents = s.el.api_poll(Some(Duration::ZERO));
    if let Some(asl) = s.el.after_sleep {
        asl(s);
    }
    dispatch_fired(s, numevents);
    s.el.fired = saved;
    numevents
}

impl EventLoop {
    fn get(&self, token: Token) -> FileEvent {
        self.file_events.get(token.0).copied().unwrap_or_default()
    }
}

/// ae.c: processTimeEvents
fn process_time_events(s: &mut Server) -> usize {
    let now = crate::util::mstime();
    let mut processed = 0;
    let due: Vec<(i64, TimeProc)> =
        s.el.time_events
            .iter()
            .filter(|t| t.when_ms <= now)
            .map(|t| (t.id, t.proc_))
            .collect();
    for (id, p) in due {
        let ret = p(s, id);
        processed += 1;
        let now = crate::util::mstime();
        if ret == AE_NOMORE {
            s.el.time_events.retain(|t| t.id != id);
        } else if let Some(t) = s.el.time_events.iter_mut().find(|t| t.id == id) {
            t.when_ms = now + ret;
        }
    }
    processed
}

/// ae.c: aeMain
pub fn ae_main(s: &mut Server) {
    s.el.stop = false;
    while !s.el.stop {
        process_events(s);
    }
}

/// ae.c: aeStop
pub fn ae_stop(s: &mut Server) {
    s.el.stop = true;
}
