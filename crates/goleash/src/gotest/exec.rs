//! The `-exec` program of the `go test` that `goleash test` runs: `go test` starts it, in the
//! package's directory, as `goleash __test-exec DIR BINARY ARGS…` for every test binary.
//!
//! It runs the binary with `-test.trace` pointing into DIR and returns the binary's exit
//! status as its own, so `go test` sees the run it would have seen. Before the binary
//! starts it prints a marker line naming the trace: `go test -json` reports it as output
//! of the package, which is how `goleash test` learns which trace belongs to which
//! package. Afterwards it writes how the binary ended next to the trace, because only a
//! binary that ended normally (or was stopped by `-test.timeout`) stopped its trace.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use clap::Args;

/// What the marker line starts with; the trace's number follows.
pub const MARKER: &str = "goleash-test-exec: trace ";

/// Arguments of the hidden `__test-exec` subcommand.
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Where traces and exit records go.
    pub dir: PathBuf,
    /// The test binary.
    pub binary: OsString,
    /// Its arguments, as `go test` gives them.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<OsString>,
}

/// The trace of run `n` in `dir`.
pub fn trace_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n}.trace"))
}

/// The exit record of run `n` in `dir`: `exit CODE` or `signal NUMBER`.
pub fn exit_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n}.exit"))
}

/// How a test binary ended, as the exec wrapper recorded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
}

impl Exit {
    /// Reads an exit record; `None` when there is none (the wrapper itself was killed).
    pub fn read(path: &Path) -> Option<Exit> {
        let text = std::fs::read_to_string(path).ok()?;
        let (kind, value) = text.trim().split_once(' ')?;
        let value = value.parse().ok()?;
        match kind {
            "exit" => Some(Exit::Code(value)),
            "signal" => Some(Exit::Signal(value)),
            _ => None,
        }
    }
}

/// Runs the test binary; returns the exit code to end with (after re-raising a fatal
/// signal, which does not return).
pub fn run(args: &ExecArgs) -> Result<i32> {
    let n = claim_number(&args.dir)?;
    let trace = trace_path(&args.dir, n);
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{MARKER}{n}")?;
        stdout.flush()?;
    }
    let mut command = Command::new(&args.binary);
    command
        .arg(format!("-test.trace={}", trace.display()))
        .args(&args.args);
    // A panic then prints every goroutine: what leaked before it is in the dump, even when
    // the panic cut the trace short. The user's own choice wins.
    if std::env::var_os("GOTRACEBACK").is_none() {
        command.env("GOTRACEBACK", "all");
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", Path::new(&args.binary).display()))?;
    signals::forward_to(child.id());
    let status = child.wait().context("waiting for the test binary")?;
    let exit = exit_of(status);
    let record = match exit {
        Exit::Code(code) => format!("exit {code}\n"),
        Exit::Signal(signal) => format!("signal {signal}\n"),
    };
    std::fs::write(exit_path(&args.dir, n), record)
        .with_context(|| format!("writing to {}", args.dir.display()))?;
    match exit {
        Exit::Code(code) => Ok(code),
        Exit::Signal(signal) => {
            signals::die_of(signal);
            Ok(128 + signal)
        }
    }
}

/// The lowest number no other run in `dir` has taken: binaries of several packages run at
/// once, each in its own wrapper.
fn claim_number(dir: &Path) -> Result<u64> {
    for n in 1.. {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(trace_path(dir, n))
        {
            Ok(_) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("creating a trace file in {}", dir.display()));
            }
        }
    }
    unreachable!("some number is free")
}

#[cfg(unix)]
fn exit_of(status: std::process::ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        (None, None) => Exit::Code(1),
    }
}

#[cfg(not(unix))]
fn exit_of(status: std::process::ExitStatus) -> Exit {
    Exit::Code(status.code().unwrap_or(1))
}

/// `go test` stops a binary that outlives `-timeout` by sending SIGQUIT to the process it
/// started, which is this wrapper: the binary must get it, to print its goroutines and
/// exit as it would without goleash.
#[cfg(unix)]
mod signals {
    use std::sync::atomic::{AtomicI32, Ordering};

    static CHILD: AtomicI32 = AtomicI32::new(0);
    const FORWARDED: [libc::c_int; 4] = [libc::SIGQUIT, libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

    extern "C" fn forward(signal: libc::c_int) {
        let pid = CHILD.load(Ordering::SeqCst);
        if pid > 0 {
            // SAFETY: kill is async-signal-safe.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }

    pub fn forward_to(pid: u32) {
        CHILD.store(pid as i32, Ordering::SeqCst);
        for signal in FORWARDED {
            // SAFETY: the handler only reads an atomic and calls kill.
            unsafe {
                libc::signal(
                    signal,
                    forward as extern "C" fn(libc::c_int) as libc::sighandler_t,
                );
            }
        }
    }

    /// Ends this process by the signal that ended the binary, so `go test` reports the
    /// same `signal: …` it would have.
    pub fn die_of(signal: i32) {
        // SAFETY: restoring the default action and raising a signal at ourselves.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
    }
}

#[cfg(not(unix))]
mod signals {
    pub fn forward_to(_pid: u32) {}
    pub fn die_of(_signal: i32) {}
}
