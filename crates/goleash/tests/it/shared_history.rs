//! `--db postgres://…`: watches writing one history in a real PostgreSQL server, each its
//! shard of targets, and `goleash report` reading it.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::support::postgres::Postgres;
use crate::watch::{COMPRESSED, Watch, goleash, of_kind, watchsvc};

fn report(db: &str) -> (i32, Value, String) {
    let out = goleash()
        .args(["report", "--db", db, "--format", "json"])
        .output()
        .expect("run goleash report");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), doc, stderr)
}

fn count(pg: &Postgres, sql: &str) -> usize {
    pg.sql(sql)
        .parse()
        .unwrap_or_else(|_| panic!("{sql} is not a count"))
}

#[test]
fn watches_write_their_shards_of_one_postgres_history_and_report_reads_it() {
    let pg = Postgres::start();
    let db = pg.url();
    let leaky = watchsvc(&["-load", "steady", "-rps", "20", "-leak-every", "10"]);
    let healthy = watchsvc(&["-load", "bursty"]);
    let (leaky_url, healthy_url) = (
        format!("http://{}", leaky.addr),
        format!("http://{}", healthy.addr),
    );
    let shard = |url: &str| {
        Watch::start(
            Path::new(&db),
            // Long enough for a loaded machine: the watches are stopped once the leak is
            // found.
            &[&COMPRESSED[..], &["--duration", "120s", url]].concat(),
        )
    };
    let a = shard(&leaky_url);
    let b = shard(&healthy_url);
    a.wait_for(Duration::from_secs(30), |e| e["event"] == "sample")
        .unwrap_or_else(|| panic!("no sample from watch a: {}", a.stderr()));

    // A second watch of a target already written is refused, and says why.
    let out = goleash()
        .args(["watch", "--db", &db, "--duration", "2s", &leaky_url])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("another goleash watch is writing the history of"),
        "{stderr}"
    );

    a.wait_for(Duration::from_secs(110), |e| {
        e["event"] == "alert" && e["verdict"] == "leak"
    })
    .unwrap_or_else(|| panic!("the leaky shard raised no leak: {}", a.stderr()));
    a.interrupt();
    b.interrupt();
    let (code_a, events_a) = a.finish(Duration::from_secs(60));
    let (code_b, events_b) = b.finish(Duration::from_secs(60));
    assert_eq!((code_a, code_b), (0, 0));
    assert!(
        of_kind(&events_a, "alert")
            .iter()
            .any(|e| e["verdict"] == "leak"),
        "the leaky shard raised no leak: {events_a:#?}"
    );
    assert!(
        of_kind(&events_b, "alert")
            .iter()
            .all(|e| e["verdict"] != "leak")
    );
    // Every sample printed is committed, in one history.
    let printed = of_kind(&events_a, "sample").len() + of_kind(&events_b, "sample").len();
    assert_eq!(count(&pg, "SELECT count(*) FROM samples"), printed);
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM sessions WHERE stopped IS NOT NULL"
        ),
        2
    );
    assert_eq!(pg.sql("SELECT version FROM goleash_schema"), "2");

    let (code, doc, stderr) = report(&db);
    assert_eq!(code, 1, "a history with a leak: {stderr}");
    assert_eq!(doc["db"], db.as_str());
    let targets = doc["targets"].as_array().expect("targets");
    assert_eq!(targets.len(), 2, "{doc:#}");
    let of = |addr: &str| {
        targets
            .iter()
            .find(|t| t["target"].as_str().unwrap().contains(addr))
            .unwrap_or_else(|| panic!("no {addr} in the report"))
    };
    assert_eq!(of(&leaky.addr)["verdict"], "leak");
    assert_ne!(of(&healthy.addr)["verdict"], "leak");
    let leak = of(&leaky.addr)["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["verdict"] == "leak")
        .expect("the leaking stack in the report");
    assert_eq!(leak["leak_site"]["function"], "main.search.func1");
    // The stack as the profile that first showed it has it: a debug=0 profile keeps the
    // runtime's frames, a goroutineleak traceback (the proof, often first) elides them.
    assert!(
        leak["frames"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["function"] == "main.search.func1"),
        "{leak:#}"
    );
    assert!(!of(&leaky.addr)["dumps"].as_array().unwrap().is_empty());

    // A history written by a newer goleash is refused, not misread.
    pg.sql("UPDATE goleash_schema SET version = 99");
    let (code, _, stderr) = report(&db);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("written by a newer goleash (schema 99"),
        "{stderr}"
    );
}

#[test]
fn a_watch_killed_mid_write_leaves_a_postgres_history_the_next_one_continues() {
    let pg = Postgres::start();
    let db = pg.url();
    let leaky = watchsvc(&["-load", "steady", "-rps", "20", "-leak-every", "10"]);
    let url = format!("http://{}", leaky.addr);
    let first = Watch::start(Path::new(&db), &[&COMPRESSED[..], &[url.as_str()]].concat());
    first
        .wait_for(Duration::from_secs(30), |e| {
            e["event"] == "sample" && e["source"] == "profile"
        })
        .unwrap_or_else(|| panic!("no profile sample: {}", first.stderr()));
    std::thread::sleep(Duration::from_secs(2));
    let events = first.kill();
    let printed = of_kind(&events, "sample").len();
    let stored = count(&pg, "SELECT count(*) FROM samples");
    // Printed only once committed; at most the sample being written when it died is
    // committed and unprinted.
    assert!(
        stored == printed || stored == printed + 1,
        "{stored} stored, {printed} printed"
    );

    // The lock died with the connection: the next watch takes the target and continues.
    let second = Watch::start(
        Path::new(&db),
        &[&COMPRESSED[..], &["--duration", "3s", &url]].concat(),
    );
    let (code, events) = second.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "{events:#?}");
    assert!(
        of_kind(&events, "restart").is_empty(),
        "the same process continues: {events:#?}"
    );
    assert_eq!(count(&pg, "SELECT count(*) FROM targets"), 1);
    assert_eq!(count(&pg, "SELECT count(*) FROM processes"), 1);
    assert_eq!(
        count(&pg, "SELECT count(*) FROM samples"),
        stored + of_kind(&events, "sample").len()
    );
    let (code, doc, stderr) = report(&db);
    assert!(code == 0 || code == 1, "{stderr}");
    assert_eq!(
        doc["targets"][0]["samples"].as_array().unwrap().len(),
        count(&pg, "SELECT count(*) FROM samples")
    );
}
