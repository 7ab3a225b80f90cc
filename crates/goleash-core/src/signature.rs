//! Stack signatures: the identity of a stack across formats, processes and restarts.
//!
//! The same goroutine looks different in each format Go prints: a debug=2 dump hides the
//! runtime's own frames and wrapper functions, a SIGQUIT dump shows them, debug=0 keeps them
//! and drops `runtime.goexit`, debug=1 hides only the leading ones. Addresses, argument
//! values and goroutine ids change with every run. A signature therefore hashes only what
//! every format agrees on: the functions and lines of the frames a level-1 traceback would
//! print.

use std::fmt;

use xxhash_rust::xxh3::Xxh3;

use crate::intern::{FrameId, Tables};

/// The identity of a stack, stable across formats, processes and builds of the same code.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signature(pub u64);

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::str::FromStr for Signature {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(Signature)
    }
}

/// Whether a traceback at level 1 hides this function: the runtime's unexported functions
/// (`runtime.gopark`, `runtime.goexit`).
pub fn is_hidden_runtime(function: &[u8]) -> bool {
    match function.strip_prefix(b"runtime.") {
        Some(rest) => {
            // Method receivers like `runtime.(*Func).Name` are exported when the type is.
            let name = rest.strip_prefix(b"(*").unwrap_or(rest);
            !name.first().is_some_and(u8::is_ascii_uppercase) && function != b"runtime.gopanic"
        }
        None => false,
    }
}

/// Whether the function is a compiler-generated wrapper that level-1 tracebacks leave out:
/// `F.gowrap1`, `F.deferwrap2` (Go 1.22+) and method values `T.M-fm`.
pub fn is_wrapper(function: &[u8]) -> bool {
    if function.ends_with(b"-fm") {
        return true;
    }
    let Some(dot) = memchr::memrchr(b'.', function) else {
        return false;
    };
    let last = &function[dot + 1..];
    for prefix in [&b"gowrap"[..], b"deferwrap"] {
        if let Some(digits) = last.strip_prefix(prefix) {
            return !digits.is_empty() && digits.iter().all(u8::is_ascii_digit);
        }
    }
    false
}

/// The name every format agrees on: `runtime.gopanic` prints as `panic` in tracebacks.
pub fn canonical_function(function: &[u8]) -> &[u8] {
    if function == b"runtime.gopanic" {
        b"panic"
    } else {
        function
    }
}

/// The frames that take part in a signature, innermost first.
pub fn significant_frames(tables: &Tables, frames: &[FrameId]) -> Vec<FrameId> {
    let function = |id: &FrameId| tables.bytes(tables.get_frame(*id).function);
    let mut kept: Vec<FrameId> = frames
        .iter()
        .copied()
        .filter(|id| !is_hidden_runtime(function(id)) && !is_wrapper(function(id)))
        .collect();
    // debug=1 also hides exported runtime functions at the top (`runtime.Gosched`), and
    // level 1 hides a `panic` that is the innermost frame.
    let leading = kept
        .iter()
        .take_while(|id| function(id).starts_with(b"runtime.") || function(id) == b"panic")
        .count();
    if leading < kept.len() {
        kept.drain(..leading);
    }
    if kept.is_empty() {
        // A goroutine of the runtime itself: only level-2 dumps show it, always in full.
        kept = frames
            .iter()
            .copied()
            .filter(|id| function(id) != b"runtime.goexit")
            .collect();
    }
    kept
}

/// The signature of a stack given innermost first.
pub fn signature(tables: &Tables, frames: &[FrameId]) -> Signature {
    let mut hasher = Xxh3::new();
    for id in significant_frames(tables, frames) {
        let frame = tables.get_frame(id);
        hasher.update(canonical_function(tables.bytes(frame.function)));
        hasher.update(&[0]);
        hasher.update(&frame.line.to_le_bytes());
    }
    Signature(hasher.digest())
}

/// A hash of a `created by` frame (function and line of the `go` statement).
pub fn creator_hash(tables: &Tables, frame: FrameId) -> u64 {
    let frame = tables.get_frame(frame);
    let mut hasher = Xxh3::new();
    hasher.update(tables.bytes(frame.function));
    hasher.update(&[0]);
    hasher.update(&frame.line.to_le_bytes());
    hasher.digest()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intern::Frame;

    fn frame(t: &mut Tables, function: &str, line: u32) -> FrameId {
        let f = t.sym(function.as_bytes());
        let file = t.sym(b"/x.go");
        t.frame(Frame {
            function: f,
            file,
            line,
            offset: Some(1),
            inlined: false,
        })
    }

    #[test]
    fn level_two_and_level_one_stacks_agree() {
        let mut t = Tables::new();
        let gopark = frame(&mut t, "runtime.gopark", 474);
        let chanrecv = frame(&mut t, "runtime.chanrecv", 664);
        let recv1 = frame(&mut t, "runtime.chanrecv1", 506);
        let user = frame(&mut t, "main.worker", 34);
        let wrap = frame(&mut t, "main.main.gowrap1", 76);
        let goexit = frame(&mut t, "runtime.goexit", 1264);
        let level2 = signature(&t, &[gopark, chanrecv, recv1, user, wrap, goexit]);
        let level1 = signature(&t, &[user]);
        assert_eq!(level2, level1);
        let other = frame(&mut t, "main.worker", 35);
        assert_ne!(signature(&t, &[other]), level1);
    }

    #[test]
    fn runtime_goroutines_keep_their_frames() {
        let mut t = Tables::new();
        let gopark = frame(&mut t, "runtime.gopark", 474);
        let bgsweep = frame(&mut t, "runtime.bgsweep", 279);
        let goexit = frame(&mut t, "runtime.goexit", 1264);
        assert_eq!(
            significant_frames(&t, &[gopark, bgsweep, goexit]),
            vec![gopark, bgsweep]
        );
    }

    #[test]
    fn wrappers_and_panics() {
        assert!(is_wrapper(b"runtime.gcenable.gowrap1"));
        assert!(is_wrapper(b"main.(*T).serve-fm"));
        assert!(!is_wrapper(b"main.gowrap"));
        assert!(!is_wrapper(b"main.main.func1"));
        assert!(is_hidden_runtime(b"runtime.gopark"));
        assert!(!is_hidden_runtime(b"runtime.Gosched"));
        assert!(!is_hidden_runtime(b"runtime/pprof.writeGoroutineStacks"));
        assert!(!is_hidden_runtime(b"runtime.gopanic"));
        assert_eq!(canonical_function(b"runtime.gopanic"), b"panic");
    }
}
