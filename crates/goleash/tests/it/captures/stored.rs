//! Captures stored in `tests/data/go<release>/`: the same checks as the live tests, on
//! files, without Go. `GOLEASH_REGEN_DATA=1 cargo test -p goleash --test it captures`
//! rewrites them from a live run (see `tests/data/README.md`).

use std::path::{Path, PathBuf};

use super::crash::Crash;
use super::leakysvc::{Captured, Expect, keep};
use crate::support::go::workspace;
use crate::support::truth::{Markers, Truth};

fn data_dir() -> PathBuf {
    workspace().join("tests/data")
}

/// With `GOLEASH_REGEN_DATA` set, writes a live capture set to
/// `tests/data/go<major.minor>/<set>/`, replacing what was there.
pub(super) fn store(
    version: &str,
    set: &str,
    files: &[(String, Vec<u8>)],
    truth: &Truth,
    markers: &Markers,
) {
    if std::env::var_os("GOLEASH_REGEN_DATA").is_none() {
        return;
    }
    let release = version.rsplit_once('.').map_or(version, |(r, _)| r);
    let dir = data_dir().join(format!("go{release}")).join(set);
    let _ = std::fs::remove_dir_all(&dir);
    keep(&dir, files, truth, markers);
}

/// A stored set: its files, ground truth and markers as they were when it was captured.
struct Stored {
    dir: PathBuf,
    truth: Truth,
    markers: Markers,
}

impl Stored {
    fn open(release: &str, set: &str) -> Stored {
        let dir = data_dir().join(release).join(set);
        let read = |name: &str| read(&dir, name);
        let markers = serde_json::from_slice(&read("markers.json")).expect("markers.json");
        Stored {
            truth: Truth::parse(&read("truth.json")),
            markers,
            dir,
        }
    }

    fn read(&self, name: &str) -> Vec<u8> {
        read(&self.dir, name)
    }

    fn what(&self) -> String {
        format!("stored {}", self.dir.display())
    }
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    let path = dir.join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn captured(set: &Stored, profile: &str) -> Captured {
    Captured {
        debug2: set.read(&format!("{profile}_debug2.txt")),
        debug1: set.read(&format!("{profile}_debug1.txt")),
        debug0: set.read(&format!("{profile}_debug0.pb.gz")),
    }
}

#[test]
fn stored_leakysvc_go1_21() {
    let set = Stored::open("go1.21", "leakysvc");
    let goroutine = captured(&set, "goroutine");
    let what = set.what();
    Expect::new(set.truth, set.markers).check_profiles(&goroutine, None, &what);
}

#[test]
fn stored_leakysvc_go1_27() {
    let set = Stored::open("go1.27", "leakysvc");
    let goroutine = captured(&set, "goroutine");
    let leak = captured(&set, "goroutineleak");
    let what = set.what();
    Expect::new(set.truth, set.markers).check_profiles(&goroutine, Some(&leak), &what);
}

#[test]
fn stored_sigquit_gotraceback_crash_go1_27() {
    let set = Stored::open("go1.27", "leakysvc-crash");
    let stderr = set.read("sigquit.stderr.txt");
    let what = set.what();
    Expect::new(set.truth, set.markers).check_sigquit_crash(&stderr, &what);
}

#[test]
fn stored_test_timeout_go1_21() {
    let set = Stored::open("go1.21", "testtimeout");
    let output = set.read("gotest_timeout_2s.txt");
    let what = set.what();
    Crash::new(set.truth, set.markers, what).check_test_timeout(&output);
}
