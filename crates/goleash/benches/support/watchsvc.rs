//! Building `fixtures/go/watch/watchsvc` with Go 1.27.3, for the benches that watch it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds watchsvc to `name` in the benches' scratch directory; returns its path.
pub fn build(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let go = root.join(".toolchains/go-1.27.3/bin/go");
    assert!(
        go.is_file(),
        "Go 1.27.3 is not installed: run scripts/toolchains.sh"
    );
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let status = Command::new(&go)
        .current_dir(root.join("fixtures/go"))
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod")
        .env("GOCACHE", root.join(".toolchains/gocache"))
        .env("GOPATH", root.join(".toolchains/gopath"))
        .env("CGO_ENABLED", "0")
        .args(["build", "-o"])
        .arg(&out)
        .arg("./watch/watchsvc")
        .status()
        .expect("run go build");
    assert!(status.success(), "go build of watchsvc failed");
    out
}
