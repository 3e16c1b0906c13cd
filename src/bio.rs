//! Port of bio.c: background threads for the slow system calls the main thread must
//! not wait for (closing a file whose last unlink frees gigabytes, fsync of the AOF).
//!
//! As in Redis there is one thread per job type, each with its own queue, so an fsync
//! stuck on a busy disk never delays a close. Only BIO_CLOSE_FILE and BIO_AOF_FSYNC are
//! ported: lazy free has no counterpart here (values are dropped on the main thread).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::aof::AofFile;
use crate::server::{server_log_raw, LL_WARNING};

/// bio.h: BIO_CLOSE_FILE
pub const BIO_CLOSE_FILE: usize = 0;
/// bio.h: BIO_AOF_FSYNC
pub const BIO_AOF_FSYNC: usize = 1;
/// bio.h: BIO_NUM_OPS (without lazy free)
pub const BIO_NUM_OPS: usize = 2;

/// One queued job (bio.c: bio_job).
pub enum BioJob {
    /// Close a file, after an fsync if asked: dropping the last handle closes it.
    CloseFile {
        file: Arc<AofFile>,
        need_fsync: bool,
    },
    /// Close a plain file (bg_unlink's descriptor, whose close frees the blocks).
    ClosePlain(std::fs::File),
    /// fsync the AOF.
    AofFsync(Arc<AofFile>),
}

/// What the main thread and the bio threads share (bio.c's statics plus the two
/// `server.aof_bio_fsync_*` atomics).
pub struct BioShared {
    queues: [(Mutex<VecDeque<BioJob>>, Condvar); BIO_NUM_OPS],
    /// Jobs queued or running, per type (bio.c: bio_pending).
    pending: [Mutex<u64>; BIO_NUM_OPS],
    step: [Condvar; BIO_NUM_OPS],
    /// The last background fsync succeeded (server.h: aof_bio_fsync_status == C_OK).
    pub aof_fsync_ok: AtomicBool,
    /// errno of the last failed background fsync (server.h: aof_bio_fsync_errno).
    pub aof_fsync_errno: AtomicI32,
}

/// The handle the server keeps.
pub struct Bio {
    pub shared: Arc<BioShared>,
    started: bool,
}

impl Default for Bio {
    fn default() -> Self {
        Bio {
            shared: Arc::new(BioShared {
                queues: [
                    (Mutex::new(VecDeque::new()), Condvar::new()),
                    (Mutex::new(VecDeque::new()), Condvar::new()),
                ],
                pending: [Mutex::new(0), Mutex::new(0)],
                step: [Condvar::new(), Condvar::new()],
                aof_fsync_ok: AtomicBool::new(true),
                aof_fsync_errno: AtomicI32::new(0),
            }),
            started: false,
        }
    }
}

impl Bio {
    /// bio.c: bioInit
    ///
    /// Started on first use rather than at boot: a server without AOF never needs them.
    fn bio_init(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        for t in 0..BIO_NUM_OPS {
            let shared = self.shared.clone();
            let name = if t == BIO_CLOSE_FILE {
                "bio_close_file"
            } else {
                "bio_aof_fsync"
            };
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || bio_process_background_jobs(&shared, t))
                .expect("can't create the bio thread");
        }
    }

    /// bio.c: bioSubmitJob
    fn bio_submit_job(&mut self, t: usize, job: BioJob) {
        self.bio_init();
        let (q, cv) = &self.shared.queues[t];
        let mut q = q.lock().unwrap();
        q.push_back(job);
        *self.shared.pending[t].lock().unwrap() += 1;
        cv.notify_one();
    }

    /// bio.c: bioCreateCloseJob
    pub fn bio_create_close_job(&mut self, file: Arc<AofFile>, need_fsync: bool) {
        self.bio_submit_job(BIO_CLOSE_FILE, BioJob::CloseFile { file, need_fsync });
    }

    /// bio.c: bioCreateCloseJob (for a plain descriptor, as bg_unlink uses it)
    pub fn bio_create_close_plain_job(&mut self, file: std::fs::File) {
        self.bio_submit_job(BIO_CLOSE_FILE, BioJob::ClosePlain(file));
    }

    /// bio.c: bioCreateFsyncJob
    pub fn bio_create_fsync_job(&mut self, file: Arc<AofFile>) {
        self.bio_submit_job(BIO_AOF_FSYNC, BioJob::AofFsync(file));
    }

    /// bio.c: bioPendingJobsOfType
    pub fn bio_pending_jobs_of_type(&self, t: usize) -> u64 {
        *self.shared.pending[t].lock().unwrap()
    }

    /// bio.c: bioWaitStepOfType
    pub fn bio_wait_step_of_type(&self, t: usize) -> u64 {
        let mut p = self.shared.pending[t].lock().unwrap();
        if *p != 0 {
            p = self.shared.step[t].wait(p).unwrap();
        }
        *p
    }

    /// Waits until every queued job of a type is done (tests and shutdown).
    pub fn bio_drain(&self, t: usize) {
        while self.bio_wait_step_of_type(t) != 0 {}
    }
}

/// bio.c: bioProcessBackgroundJobs
fn bio_process_background_jobs(shared: &BioShared, t: usize) {
    loop {
        let job = {
            let (q, cv) = &shared.queues[t];
            let mut q = q.lock().unwrap();
            loop {
                if let Some(j) = q.pop_front() {
                    break j;
                }
                q = cv.wait(q).unwrap();
            }
        };
        match job {
            BioJob::CloseFile { file, need_fsync } => {
                if need_fsync {
                    let _ = file.fsync();
                }
                drop(file);
            }
            BioJob::ClosePlain(f) => drop(f),
            BioJob::AofFsync(file) => match file.fsync() {
                Err(e) => {
                    let was_ok = shared.aof_fsync_ok.swap(false, Ordering::SeqCst);
                    shared
                        .aof_fsync_errno
                        .store(e.raw_os_error().unwrap_or(libc::EIO), Ordering::SeqCst);
                    if was_ok {
                        server_log_raw(
                            LL_WARNING,
                            &format!(
                                "Fail to fsync the AOF file: {}",
                                crate::aof::strerror_io(&e)
                            ),
                        );
                    }
                }
                Ok(()) => shared.aof_fsync_ok.store(true, Ordering::SeqCst),
            },
        }
        let mut p = shared.pending[t].lock().unwrap();
        *p -= 1;
        shared.step[t].notify_all();
    }
}
