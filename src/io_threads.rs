//! Port of networking.c's "Threaded I/O" section: optional threads that read, parse
//! and write for the main thread, which alone executes commands.
//!
//! The handshake is Redis 7.0's. The main thread hands each I/O thread a batch of
//! clients, publishes the batch size in the thread's own cache-line-padded atomic
//! counter, does its own share, then spins until every counter is back to zero. A
//! thread spins on its counter, handles its batch, and zeroes the counter.
//!
//! What moves to a thread is a client's I/O half only: `Box<ClientIo>` (socket, query
//! buffer, parsed arguments, reply buffers). `Server` is not `Send`, so no thread can
//! be given the keyspace: the compiler refuses, it is not a convention.
//!
//! The compiler checks it. A client's I/O half may cross threads:
//!
//! ```
//! fn needs_send<T: Send>() {}
//! needs_send::<ferredis::networking::ClientIo>();
//! ```
//!
//! The server may not, so no I/O thread can ever reach the keyspace:
//!
//! ```compile_fail
//! fn needs_send<T: Send>() {}
//! needs_send::<ferredis::server::Server>();
//! ```
//!
//! Parking differs in mechanism, not in effect: Redis parks an idle thread by making
//! it lock a mutex the main thread holds while threads are stopped. Here a stopped
//! thread calls `std::thread::park` and the main thread `unpark`s it when threads
//! start again; an active thread that spun for a while without work parks too and is
//! unparked with its next batch, so a forced-on configuration does not burn idle cores.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use mio::Token;
use tracing::debug_span;

use crate::networking::{self, ClientIo, ParseLimits};
use crate::server::Server;

/// Most I/O threads, as Redis (IO_THREADS_MAX_NUM).
pub const IO_THREADS_MAX_NUM: usize = 128;

/// Spins before a thread without work parks. Redis spins a million times, then
/// blocks on its mutex; with a pause instruction in each spin, a much shorter wait
/// (a few milliseconds) keeps idle threads from taking cores from the main thread.
const SPINS_BEFORE_PARK: usize = 50_000;

/// What the I/O threads are doing right now (networking.c: io_threads_op).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoThreadsOp {
    Idle,
    Read,
    Write,
}

/// One client handed to an I/O thread: its token, its id and its I/O half.
pub struct IoJob {
    pub token: Token,
    pub id: u64,
    pub io: Box<ClientIo>,
    /// What the parser may accept from this client (it depends on its login state).
    pub limits: ParseLimits,
    /// client-query-buffer-limit.
    pub max_querybuf_len: usize,
}

/// A pending counter alone on its cache line, so threads polling their own counter
/// do not slow each other down (networking.c: threads_pending).
#[repr(align(64))]
#[derive(Default)]
pub struct ThreadsPending {
    value: AtomicUsize,
}

/// What the main thread shares with one I/O thread.
pub struct IoThreadShared {
    pending: ThreadsPending,
    /// The batch: filled by the main thread before `pending` is set, taken back after
    /// it returns to zero. The counter orders the accesses; the mutex is never
    /// contended and keeps the hand-over safe Rust.
    jobs: Mutex<Vec<IoJob>>,
    op: Mutex<IoThreadsOp>,
    /// Threads are stopped (Redis holds the thread's mutex).
    stopped: AtomicBool,
}

/// The I/O threads (networking.c: io_threads, io_threads_pending, io_threads_list).
pub struct IoThreads {
    pub num: usize,
    pub active: bool,
    pub op: IoThreadsOp,
    shared: Vec<Arc<IoThreadShared>>,
    handles: Vec<JoinHandle<()>>,
    /// The main thread's own share (io_threads_list[0]).
    main_list: Vec<IoJob>,
    /// Ferredis's switch to keep threads on under light load, so tests use them.
    pub always_active: bool,
}

impl IoThreads {
    /// networking.c: initThreadedIO
    pub fn init(num: usize, always_active: bool) -> IoThreads {
        let mut t = IoThreads {
            num: num.clamp(1, IO_THREADS_MAX_NUM),
            active: false,
            op: IoThreadsOp::Idle,
            shared: Vec::new(),
            handles: Vec::new(),
            main_list: Vec::new(),
            always_active,
        };
        if t.num == 1 {
            return t;
        }
        for i in 1..t.num {
            let shared = Arc::new(IoThreadShared {
                pending: ThreadsPending::default(),
                jobs: Mutex::new(Vec::new()),
                op: Mutex::new(IoThreadsOp::Idle),
                stopped: AtomicBool::new(true),
            });
            let s2 = shared.clone();
            let h = std::thread::Builder::new()
                .name(format!("io_thd_{i}"))
                .spawn(move || io_thread_main(i, s2))
                .expect("Fatal: Can't initialize IO thread.");
            t.shared.push(shared);
            t.handles.push(h);
        }
        t
    }

    /// Make sure thread j sees its new batch. `unpark` leaves a token when the thread
    /// is not parked, so it is always safe to call: a thread about to park returns at
    /// once. (Checking a "parked" flag first would race with the thread setting it.)
    fn wake(&self, j: usize) {
        self.handles[j].thread().unpark();
    }

    /// networking.c: startThreadedIO
    pub fn start(&mut self) {
        debug_assert!(!self.active);
        for (j, sh) in self.shared.iter().enumerate() {
            sh.stopped.store(false, Ordering::Release);
            self.wake(j);
        }
        self.active = true;
    }

    /// networking.c: stopThreadedIO (pending reads are served first by the caller)
    pub fn stop(&mut self) {
        for sh in &self.shared {
            sh.stopped.store(true, Ordering::Release);
        }
        self.active = false;
    }

    /// Fan out: give thread j its batch and publish the count (setIOPendingCount).
    fn fan_out(&mut self, mut lists: Vec<Vec<IoJob>>) {
        for (j, sh) in self.shared.iter().enumerate() {
            let batch = std::mem::take(&mut lists[j + 1]);
            let n = batch.len();
            *sh.op.lock().unwrap() = self.op;
            *sh.jobs.lock().unwrap() = batch;
            sh.pending.value.store(n, Ordering::Release);
            if n > 0 {
                self.wake(j);
            }
        }
        self.main_list = std::mem::take(&mut lists[0]);
    }

    /// Fan in: spin until every thread has zeroed its counter, then take the batches
    /// back (the wait loop of handleClientsWith...UsingThreads).
    fn fan_in(&mut self) -> Vec<IoJob> {
        loop {
            let pending: usize = self
                .shared
                .iter()
                .map(|sh| sh.pending.value.load(Ordering::Acquire))
                .sum();
            if pending == 0 {
                break;
            }
            std::hint::spin_loop();
        }
        let mut all = std::mem::take(&mut self.main_list);
        for sh in &self.shared {
            all.append(&mut sh.jobs.lock().unwrap());
        }
        all
    }
}

// ANCHOR: io_thread_main
/// networking.c: IOThreadMain
///
/// Spin on the own pending counter; when it is non-zero, read or write every client
/// of the batch, then zero the counter. Park when stopped or idle for long.
fn io_thread_main(id: usize, sh: Arc<IoThreadShared>) {
    loop {
        // Stopped threads wait without spinning (Redis blocks them on a mutex).
        if sh.stopped.load(Ordering::Acquire) && sh.pending.value.load(Ordering::Acquire) == 0 {
            std::thread::park();
            continue;
        }
        let mut spins = 0;
        while sh.pending.value.load(Ordering::Acquire) == 0 && spins < SPINS_BEFORE_PARK {
            std::hint::spin_loop();
            spins += 1;
        }
        if sh.pending.value.load(Ordering::Acquire) == 0 {
            // Park until unparked with work or restarted. An unpark sent before this
            // point leaves a token, so park returns at once and nothing is lost.
            std::thread::park();
            continue;
        }
        let op = *sh.op.lock().unwrap();
        let _span = debug_span!("io_thread", id, ?op).entered();
        {
            let mut jobs = sh.jobs.lock().unwrap();
            for job in jobs.iter_mut() {
                match op {
                    IoThreadsOp::Write => networking::write_to_socket(&mut job.io, job.id),
                    IoThreadsOp::Read => networking::read_and_parse_in_thread(
                        &mut job.io,
                        job.id,
                        job.limits,
                        job.max_querybuf_len,
                    ),
                    IoThreadsOp::Idle => unreachable!("io_threads_op value is unknown"),
                }
            }
        }
        sh.pending.value.store(0, Ordering::Release);
    }
}
// ANCHOR_END: io_thread_main

/// networking.c: stopThreadedIOIfNeeded
///
/// Threads help only when there is enough to do: fewer pending writes than twice the
/// thread count stops them (unless forced on). Returns true when threads are off.
pub fn stop_threaded_io_if_needed(s: &mut Server) -> bool {
    let pending = s.clients_pending_write.len();
    if s.io_threads.num == 1 {
        return true;
    }
    if s.io_threads.always_active {
        return false;
    }
    if pending < s.io_threads.num * 2 {
        if s.io_threads.active {
            stop_threaded_io(s);
        }
        return true;
    }
    false
}

/// networking.c: stopThreadedIO
fn stop_threaded_io(s: &mut Server) {
    handle_clients_with_pending_reads_using_threads(s);
    s.io_threads.stop();
}

/// Split the queued clients round-robin over the threads; index 0 is the main thread.
fn distribute(s: &mut Server, queue: &[(Token, u64)]) -> Vec<Vec<IoJob>> {
    let n = s.io_threads.num;
    let mut lists: Vec<Vec<IoJob>> = (0..n).map(|_| Vec::new()).collect();
    let mut item = 0;
    let max_bulk = s.config.proto_max_bulk_len;
    let needs_pass = s.config.requirepass.is_some();
    let max_querybuf_len = s.config.client_max_querybuf_len;
    for &(token, id) in queue {
        let Some(c) = s.clients.get_mut(token.0).and_then(|c| c.as_deref_mut()) else {
            continue;
        };
        if c.id != id {
            continue;
        }
        let limits = networking::parse_limits(max_bulk, needs_pass && !c.authenticated);
        let Some(io) = c.io.take() else { continue };
        lists[item % n].push(IoJob {
            token,
            id,
            io,
            limits,
            max_querybuf_len,
        });
        item += 1;
    }
    lists
}

/// Give every I/O half back to its client; returns the clients, in batch order.
fn reunite(s: &mut Server, jobs: Vec<IoJob>) -> Vec<(Token, u64)> {
    let mut order = Vec::with_capacity(jobs.len());
    for job in jobs {
        if let Some(c) = s
            .clients
            .get_mut(job.token.0)
            .and_then(|c| c.as_deref_mut())
        {
            if c.id == job.id {
                c.io = Some(job.io);
                order.push((job.token, job.id));
            }
        }
    }
    order
}

// ANCHOR: handle_clients_with_pending_writes_using_threads
/// networking.c: handleClientsWithPendingWritesUsingThreads
pub fn handle_clients_with_pending_writes_using_threads(s: &mut Server) -> usize {
    let processed = s.clients_pending_write.len();
    if processed == 0 {
        return 0;
    }
    if s.io_threads.num == 1 || stop_threaded_io_if_needed(s) {
        return networking::handle_clients_with_pending_writes(s);
    }
    if !s.io_threads.active {
        s.io_threads.start();
    }
    let mut queue = std::mem::take(&mut s.clients_pending_write);
    // Clients about to be closed are not written to.
    queue.retain(
        |&(token, id)| match s.clients.get_mut(token.0).and_then(|c| c.as_deref_mut()) {
            Some(c) if c.id == id => {
                c.flags &= !networking::CLIENT_PENDING_WRITE;
                c.flags & networking::CLIENT_CLOSE_ASAP == 0
            }
            _ => false,
        },
    );
    let lists = distribute(s, &queue);
    s.io_threads.op = IoThreadsOp::Write;
    s.io_threads.fan_out(lists);
    // The main thread does its own share while the threads do theirs.
    for job in s.io_threads.main_list.iter_mut() {
        networking::write_to_socket(&mut job.io, job.id);
    }
    let jobs = s.io_threads.fan_in();
    s.io_threads.op = IoThreadsOp::Idle;
    let order = reunite(s, jobs);
    for (token, id) in order {
        networking::after_threaded_write(s, token, id);
    }
    s.stat_io_writes_processed += processed as u64;
    processed
}
// ANCHOR_END: handle_clients_with_pending_writes_using_threads

/// networking.c: postponeClientRead
///
/// With threaded reads on, the readable handler only queues the client; the read
/// and the parse happen in before_sleep, spread over the threads.
pub fn postpone_client_read(s: &mut Server, token: Token, id: u64, blocked: bool) -> bool {
    if s.io_threads.active
        && s.config.io_threads_do_reads
        && !blocked
        && s.io_threads.op == IoThreadsOp::Idle
    {
        s.clients_pending_read.push((token, id));
        return true;
    }
    false
}

// ANCHOR: handle_clients_with_pending_reads_using_threads
/// networking.c: handleClientsWithPendingReadsUsingThreads
///
/// Threads read and parse at most one command per client; the main thread then runs
/// those commands in queue order, and parses and runs the rest of each buffer.
pub fn handle_clients_with_pending_reads_using_threads(s: &mut Server) -> usize {
    if !s.io_threads.active || !s.config.io_threads_do_reads {
        return 0;
    }
    let queue = std::mem::take(&mut s.clients_pending_read);
    let processed = queue.len();
    if processed == 0 {
        return 0;
    }
    let lists = distribute(s, &queue);
    s.io_threads.op = IoThreadsOp::Read;
    s.io_threads.fan_out(lists);
    for job in s.io_threads.main_list.iter_mut() {
        networking::read_and_parse_in_thread(&mut job.io, job.id, job.limits, job.max_querybuf_len);
    }
    let jobs = s.io_threads.fan_in();
    s.io_threads.op = IoThreadsOp::Idle;
    reunite(s, jobs);
    // Commands run on the main thread, in the order the clients were queued.
    for &(token, id) in &queue {
        networking::after_threaded_read(s, token, id);
    }
    s.stat_io_reads_processed += processed as u64;
    processed
}
// ANCHOR_END: handle_clients_with_pending_reads_using_threads

/// Used by `call` in debug builds: commands run on the main thread only.
pub fn assert_main_thread(s: &Server) {
    debug_assert_eq!(
        std::thread::current().id(),
        s.main_thread,
        "a command ran outside the main thread"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::networking::{Client, ReadOutcome};

    /// The fan-out/fan-in handshake, hammered: many rounds of batches dealt to 3
    /// threads and the main thread. A lost wake-up would hang the test (the fan-in
    /// would spin forever); every job must come back exactly once, processed.
    #[test]
    fn handshake_loses_no_wakeup_and_no_job() {
        let mut t = IoThreads::init(4, true);
        t.start();
        let limits = ParseLimits {
            proto_max_bulk_len: 1 << 20,
            auth_required: false,
        };
        for round in 0..2_000u64 {
            let n = (round % 9) as usize; // 0..8 jobs, some threads get none
            let mut lists: Vec<Vec<IoJob>> = (0..t.num).map(|_| Vec::new()).collect();
            for i in 0..n {
                let mut c = Client::new(i as u64, Token(i), None, 0);
                let mut io = c.io.take().unwrap();
                io.last_read = ReadOutcome::None;
                lists[i % t.num].push(IoJob {
                    token: Token(i),
                    id: i as u64,
                    io,
                    limits,
                    max_querybuf_len: usize::MAX,
                });
            }
            t.op = IoThreadsOp::Read;
            t.fan_out(lists);
            for job in t.main_list.iter_mut() {
                crate::networking::read_and_parse_in_thread(
                    &mut job.io,
                    job.id,
                    job.limits,
                    job.max_querybuf_len,
                );
            }
            let mut back = t.fan_in();
            t.op = IoThreadsOp::Idle;
            back.sort_by_key(|j| j.id);
            let ids: Vec<u64> = back.iter().map(|j| j.id).collect();
            assert_eq!(ids, (0..n as u64).collect::<Vec<_>>(), "round {round}");
            // No socket: a processed job has seen its read report "closed".
            assert!(
                back.iter().all(|j| j.io.last_read == ReadOutcome::Closed),
                "round {round}"
            );
        }
    }
}
