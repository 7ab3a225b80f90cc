//! A history written by goleash 0.1.0 (`tests/data/history-0.1.0/demo.db`, schema
//! version 1) opens with this release, reports exactly what 0.1.0 reported of it, and
//! continues: a new watch adds to it, and what was there reads the same afterwards.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::kill::Simulated;
use super::{Watch, goleash, workdir};
use crate::support::go::workspace;

/// The URL the 0.1.0 demo watched; nothing listens there now.
const OLD_TARGET: &str = "http://127.0.0.1:41833/debug/pprof";

fn report(dir: &Path, format: &str) -> Vec<u8> {
    let out = dir.join(format!("report.{format}"));
    let status = goleash()
        .current_dir(dir)
        .args([
            "report",
            "--no-source",
            "--db",
            "demo-0.1.0.db",
            "--format",
            format,
        ])
        .arg("-o")
        .arg(&out)
        .status()
        .expect("run goleash report");
    // The history holds a leak: exit status 1, as for every command that finds one.
    assert_eq!(status.code(), Some(1), "goleash report --format {format}");
    std::fs::read(&out).expect("the report was written")
}

fn golden(format: &str) -> Vec<u8> {
    let path = workspace().join(format!("tests/data/golden/report/demo-0.1.0.{format}"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_history_written_by_0_1_0_reports_the_same_and_continues() {
    let dir = workdir("history-0.1.0");
    std::fs::copy(
        workspace().join("tests/data/history-0.1.0/demo.db"),
        dir.join("demo-0.1.0.db"),
    )
    .expect("copy the 0.1.0 history");

    for format in ["json", "text", "html"] {
        assert!(
            report(&dir, format) == golden(format),
            "the {format} report of the 0.1.0 history changed"
        );
    }

    // Continue it: the old target (now down) and a new one, in a new session.
    let simulated = Simulated::start(1);
    let watch = Watch::start(
        &dir.join("demo-0.1.0.db"),
        &[
            OLD_TARGET,
            &simulated.urls[0],
            "--duration",
            "3s",
            // The settings the demo recorded, so that the report judges the old series
            // as it did.
            "--interval",
            "250ms",
            "--warmup",
            "2s",
            "--cooldown",
            "3s",
        ],
    );
    let (code, events) = watch.finish(Duration::from_secs(60));
    assert_eq!(code, 0, "the continued watch failed: {events:?}");
    assert!(
        events.iter().any(|e| e["event"] == "sample"
            && e["target"]
                .as_str()
                .is_some_and(|t| t.starts_with(simulated.urls[0].as_str()))),
        "the new target was not sampled"
    );

    let before: Value = serde_json::from_slice(&golden("json")).unwrap();
    let after: Value = serde_json::from_slice(&report(&dir, "json")).unwrap();
    let targets = after["targets"].as_array().expect("targets");
    assert_eq!(targets.len(), 2, "{after}");
    let old = targets
        .iter()
        .find(|t| t["target"] == OLD_TARGET)
        .expect("the old target is still reported");
    let changed: Vec<&String> = old
        .as_object()
        .expect("a target is an object")
        .iter()
        .filter(|(key, value)| before["targets"][0][key.as_str()] != **value)
        .map(|(key, _)| key)
        .collect();
    assert!(
        changed.is_empty(),
        "what 0.1.0 recorded reads differently: {changed:?}"
    );
    assert_eq!(after["from"], before["from"]);
}

/// Without --db the history goes under the user's state directory, never the working
/// directory, and `goleash report` finds it there; --db keeps an explicit path.
#[test]
fn the_default_history_lives_in_the_state_directory() {
    let dir = workdir("watch-default-db");
    let (cwd, state, home) = (dir.join("repo"), dir.join("state"), dir.join("home"));
    for d in [&cwd, &state, &home] {
        std::fs::create_dir_all(d).unwrap();
    }
    let service = super::watchsvc(&["-load", "none"]);
    let url = format!("http://{}", service.addr);
    let watch = |env: &[(&str, &Path)], unset: &[&str]| {
        let mut command = goleash();
        command
            .current_dir(&cwd)
            .args(["watch", "--format", "json", "--duration", "1s", &url]);
        for (k, v) in env {
            command.env(k, v);
        }
        for k in unset {
            command.env_remove(k);
        }
        let output = command.output().expect("run goleash watch");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let start: Value = serde_json::from_slice(
            output
                .stdout
                .split(|&b| b == b'\n')
                .next()
                .unwrap_or_default(),
        )
        .expect("the start event");
        start["db"].as_str().unwrap().to_string()
    };
    let xdg = watch(&[("XDG_STATE_HOME", &state), ("HOME", &home)], &[]);
    assert_eq!(Path::new(&xdg), state.join("goleash/watch.db"));
    assert!(state.join("goleash/watch.db").is_file());
    let fallback = watch(&[("HOME", &home)], &["XDG_STATE_HOME"]);
    assert_eq!(
        Path::new(&fallback),
        home.join(".local/state/goleash/watch.db")
    );
    assert!(
        std::fs::read_dir(&cwd).unwrap().next().is_none(),
        "the watch wrote into the working directory"
    );
    let report = goleash()
        .current_dir(&cwd)
        .env("XDG_STATE_HOME", &state)
        .args(["report", "--no-source", "--format", "json"])
        .output()
        .expect("run goleash report");
    let doc: Value = serde_json::from_slice(&report.stdout).expect("the report is JSON");
    assert_eq!(doc["db"], xdg);
    assert_eq!(doc["targets"][0]["target"], format!("{url}/debug/pprof"));
    // An explicit --db is kept as given, relative to the working directory.
    let explicit = goleash()
        .current_dir(&cwd)
        .env("XDG_STATE_HOME", &state)
        .args(["watch", "--duration", "1s", "--db", "mine.db", &url])
        .output()
        .expect("run goleash watch");
    assert_eq!(explicit.status.code(), Some(0));
    assert!(cwd.join("mine.db").is_file());
}
