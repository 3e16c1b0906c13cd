//! Port of childinfo.c: the pipe a fork child reports through (how much memory the
//! copy-on-write duplicated while it saved).
//!
//! The child measures its `Private_Dirty` pages (the pages the kernel had to copy
//! because the parent or the child wrote to them) and writes one fixed-size message;
//! the parent reads it without blocking when it reaps the child.

use crate::server::{Server, LL_NOTICE, LL_WARNING};

/// server.h: childInfoType
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum ChildInfoType {
    CurrentInfo = 0,
    AofCowSize = 1,
    RdbCowSize = 2,
}

/// One message: the type and the copy-on-write bytes (childinfo.c: child_info_data,
/// without the key count and progress this port does not report).
const CHILD_INFO_LEN: usize = 16;

/// childinfo.c: openChildInfoPipe (non-blocking; on error both ends stay -1)
pub fn open_child_info_pipe(s: &mut Server) {
    let mut fds = [-1; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK) } == 0 {
        s.child_info_pipe = fds;
    } else {
        close_child_info_pipe(s);
    }
}

/// childinfo.c: closeChildInfoPipe
pub fn close_child_info_pipe(s: &mut Server) {
    for fd in &mut s.child_info_pipe {
        if *fd != -1 {
            // SAFETY: closing a descriptor we opened.
            unsafe { libc::close(*fd) };
            *fd = -1;
        }
    }
}

/// zmalloc.c: zmalloc_get_private_dirty (this process, from /proc/self/smaps_rollup)
pub fn zmalloc_get_private_dirty() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/smaps_rollup") else {
        return 0;
    };
    text.lines()
        .filter_map(|l| l.strip_prefix("Private_Dirty:"))
        .filter_map(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .sum::<u64>()
        * 1024
}

/// childinfo.c: sendChildCowInfo (sendChildInfoGeneric for the final report)
///
/// Called in the child when its work is done: logs and sends the copied bytes.
pub fn send_child_cow_info(s: &mut Server, info_type: ChildInfoType, pname: &str) {
    if s.child_info_pipe[1] == -1 {
        return;
    }
    let cow = zmalloc_get_private_dirty();
    // One reading: current, peak and average are the same number.
    crate::server_log!(
        s,
        LL_NOTICE,
        "Fork CoW for {}: current {} MB, peak {} MB, average {} MB",
        pname,
        cow >> 20,
        cow >> 20,
        cow >> 20
    );
    let mut msg = [0u8; CHILD_INFO_LEN];
    msg[..8].copy_from_slice(&(info_type as u64).to_ne_bytes());
    msg[8..].copy_from_slice(&cow.to_ne_bytes());
    // SAFETY: writing our buffer to the pipe.
    let n = unsafe { libc::write(s.child_info_pipe[1], msg.as_ptr().cast(), msg.len()) };
    if n != msg.len() as isize {
        crate::server_log!(
            s,
            LL_WARNING,
            "Child failed reporting info to parent, exiting. {}",
            crate::server::strerror(&std::io::Error::last_os_error())
        );
        crate::server::exit_from_child(1);
    }
}

/// childinfo.c: updateChildInfo
fn update_child_info(s: &mut Server, info_type: u64, cow: u64) {
    s.stat_current_cow_peak = s.stat_current_cow_peak.max(cow);
    if info_type == ChildInfoType::CurrentInfo as u64 {
        s.stat_current_cow_bytes = cow;
    } else if info_type == ChildInfoType::AofCowSize as u64 {
        s.stat_aof_cow_bytes = s.stat_current_cow_peak;
    } else if info_type == ChildInfoType::RdbCowSize as u64 {
        s.stat_rdb_cow_bytes = s.stat_current_cow_peak;
    }
}

/// childinfo.c: receiveChildInfo (drain the pipe without blocking)
pub fn receive_child_info(s: &mut Server) {
    if s.child_info_pipe[0] == -1 {
        return;
    }
    loop {
        let mut msg = [0u8; CHILD_INFO_LEN];
        // SAFETY: reading into our buffer; the descriptor is non-blocking. Messages
        // are far below PIPE_BUF, so each arrives whole or not at all.
        let n = unsafe { libc::read(s.child_info_pipe[0], msg.as_mut_ptr().cast(), msg.len()) };
        if n != CHILD_INFO_LEN as isize {
            break;
        }
        let info_type = u64::from_ne_bytes(msg[..8].try_into().unwrap());
        let cow = u64::from_ne_bytes(msg[8..].try_into().unwrap());
        update_child_info(s, info_type, cow);
    }
}
