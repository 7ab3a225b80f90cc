//! SIGKILL at any moment: the history opens, is consistent, holds every sample the watch
//! reported, and the next watch continues it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use rusqlite::{Connection, params};
use serde_json::Value;

use super::{Watch, goleash, of_kind, workdir};

/// `goleash demo --serve N`: simulated services, killed when the test ends.
pub(super) struct Simulated {
    child: Child,
    pub(super) urls: Vec<String>,
}

impl Simulated {
    pub(super) fn start(n: usize) -> Simulated {
        let mut child = goleash()
            .args(["demo", "--serve", &n.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start goleash demo --serve");
        let stdout = child.stdout.take().expect("stdout is piped");
        let urls: Vec<String> = BufReader::new(stdout)
            .lines()
            .take(n)
            .map(|l| l.expect("a URL"))
            .collect();
        assert_eq!(urls.len(), n, "demo --serve printed its URLs");
        Simulated { child, urls }
    }
}

impl Drop for Simulated {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Checks the database after a kill; returns its sample count.
fn check(db: &Path, printed: &[Value], sessions: i64) -> i64 {
    let conn = Connection::open(db).expect("the history opens after SIGKILL");
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let dangling: i64 = conn
        .prepare("PRAGMA foreign_key_check")
        .unwrap()
        .query_map([], |_| Ok(()))
        .unwrap()
        .count() as i64;
    assert_eq!(dangling, 0, "rows refer to rows that are not there");
    let recorded: i64 = conn
        .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(recorded, sessions);
    let mut find = conn
        .prepare(
            "SELECT count(*) FROM samples s JOIN targets t ON t.id = s.target_id
             WHERE t.url = ?1 AND abs(s.t - ?2) < 1e-6 AND s.goroutines = ?3",
        )
        .unwrap();
    // A sample is reported once committed: every reported one must be there. (serde_json
    // parses floats to within one unit in the last place, hence the tolerance.)
    for sample in of_kind(printed, "sample") {
        let found: i64 = find
            .query_row(
                params![
                    sample["target"].as_str().unwrap(),
                    sample["t"].as_f64().unwrap(),
                    sample["goroutines"].as_i64().unwrap()
                ],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(found, 1, "a reported sample is missing: {sample}");
    }
    conn.query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn killing_a_watch_at_any_moment_loses_at_most_the_sample_in_flight() {
    let dir = workdir("watch-kill");
    let db = dir.join("history.db");
    // Many targets keep the writer busy most of the time, so that kills land inside
    // transactions as well as between them.
    let targets = Simulated::start(48);
    let mut args: Vec<&str> = vec!["--interval", "50ms"];
    args.extend(targets.urls.iter().map(String::as_str));
    let mut samples = 0;
    // Varied delays, so that kills land at different points of the write cycle.
    for (run, delay_ms) in [730u64, 1310, 470, 1990, 1120, 290, 860, 1530]
        .into_iter()
        .enumerate()
    {
        let watch = Watch::start(&db, &args);
        watch
            .wait_for(Duration::from_secs(20), |e| e["event"] == "sample")
            .unwrap_or_else(|| panic!("no sample; stderr: {}", watch.stderr()));
        std::thread::sleep(Duration::from_millis(delay_ms));
        let printed = watch.kill();
        let now = check(&db, &printed, run as i64 + 1);
        assert!(
            now > samples,
            "run {run} added no sample to the history ({samples} → {now})"
        );
        samples = now;
    }
    // The same processes still run: a clean watch continues their history.
    let conn = Connection::open(&db).unwrap();
    let processes: i64 = conn
        .query_row("SELECT count(*) FROM processes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(processes, 48, "one process per target across all the kills");
    let mut last = args.clone();
    last.extend(["--duration", "2s"]);
    let (code, events) = Watch::start(&db, &last).finish(Duration::from_secs(30));
    assert_eq!(code, 0);
    assert!(
        of_kind(&events, "restart").is_empty(),
        "a kill of the watch is no restart of a target"
    );
    let after: i64 = conn
        .query_row("SELECT count(*) FROM processes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(after, 48);
    assert!(check(&db, &events, 9) > samples);
    let stopped: i64 = conn
        .query_row(
            "SELECT count(*) FROM sessions WHERE stopped IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stopped, 1, "only the last session ended cleanly");
}
