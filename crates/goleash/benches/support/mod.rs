//! What the benches share.

use std::process::Child;

/// Waits for a child; returns its exit code, CPU seconds and peak RSS in KiB.
// The child is reaped by wait4, which std's Child::wait cannot replace: only it returns the
// child's resource usage.
#[allow(clippy::zombie_processes)]
pub fn reap(child: Child) -> (i32, f64, u64) {
    let mut status = 0;
    // SAFETY: wait4 writes the exit status and resource usage of our own child into the
    // values given; std's Child is not waited on afterwards.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (
        libc::WEXITSTATUS(status),
        seconds(usage.ru_utime) + seconds(usage.ru_stime),
        usage.ru_maxrss as u64,
    )
}

/// The number in the environment variable `name` (a bench's size or length), or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
