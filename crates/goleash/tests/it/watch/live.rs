//! Leaks found, healthy bursts left alone, restarts marked, dead targets isolated: the
//! real `goleash watch` against real Go services, with compressed trend windows.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{COMPRESSED, Watch, goleash, of_kind, watchsvc, watchsvc_line, workdir};
use crate::support::service::Service;

fn url(addr: &str) -> String {
    format!("http://{addr}")
}

fn base(addr: &str) -> String {
    format!("http://{addr}/debug/pprof")
}

fn report_json(db: &std::path::Path) -> Value {
    let output = goleash()
        .args(["report", "--format", "json", "--db"])
        .arg(db)
        .output()
        .expect("run goleash report");
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "report failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the report is JSON")
}

fn report_text(db: &std::path::Path) -> String {
    let output = goleash()
        .args(["report", "--format", "text", "--color", "never", "--db"])
        .arg(db)
        .output()
        .expect("run goleash report");
    assert!(
        output.status.code() == Some(1),
        "a report of a leak exits 1: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("the report is UTF-8")
}

fn summary(events: &[Value]) -> &Value {
    of_kind(events, "summary")
        .pop()
        .expect("the watch printed its summary")
}

fn target_summary<'a>(summary: &'a Value, addr: &str) -> &'a Value {
    summary["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|t| t["target"] == base(addr))
        .unwrap_or_else(|| panic!("no summary for {addr}"))
}

#[test]
fn a_slow_leak_under_steady_load_is_found_at_its_line() {
    let dir = workdir("watch-leak");
    let db = dir.join("history.db");
    let service = watchsvc(&["-load", "steady", "-rps", "20", "-leak-every", "10"]);
    let started = Instant::now();
    let mut args = COMPRESSED.to_vec();
    let address = url(&service.addr);
    // The trend alone: the runtime's proof, which comes first on Go 1.27, is tested in
    // watch::evidence.
    args.extend(["--fail-on-leak", "--no-leak-profile", &address]);
    let watch = Watch::start(&db, &args);
    // About 22 s on a quiet machine: 2 s of warm-up, six 3 s windows, and enough
    // profiles in them; more when the machine is busy and profiles cost more.
    let alert = watch
        .wait_for(Duration::from_secs(60), |e| {
            e["event"] == "alert" && e["scope"] == "group" && e["verdict"] == "leak"
        })
        .unwrap_or_else(|| {
            panic!(
                "no leak found within 60 s; events: {:#?}\nstderr: {}",
                watch
                    .events()
                    .iter()
                    .filter(|e| e["event"] != "sample")
                    .collect::<Vec<_>>(),
                watch.stderr()
            )
        });
    let found_after = started.elapsed();
    let site = &alert["leak_site"];
    assert_eq!(site["function"], "main.search.func1", "{alert:#}");
    assert_eq!(site["line"], watchsvc_line("// LEAK:"), "{alert:#}");
    assert!(
        site["file"]
            .as_str()
            .unwrap()
            .ends_with("watch/watchsvc/main.go"),
        "{alert:#}"
    );
    assert_eq!(alert["blocking"], "chan send");
    assert!(alert["hint"].as_str().is_some_and(|h| !h.is_empty()));
    // The source is at the paths in the dump: the alert says why the send cannot end.
    let exits = alert["exit_conditions"]
        .as_array()
        .unwrap_or_else(|| panic!("no exit conditions in the alert: {alert:#}"));
    assert!(
        !exits.is_empty() && exits.iter().all(|c| c["can_happen"] != true),
        "{exits:#?}"
    );
    // One leaked goroutine in ten requests at 20 a second: 120 a minute.
    let slope = alert["slope_per_minute"].as_f64().unwrap();
    assert!((60.0..=200.0).contains(&slope), "slope {slope}");
    assert!(alert["p_value"].as_f64().unwrap() <= 0.01);
    assert!(alert["count_after"].as_u64() > alert["count_before"].as_u64());

    // The leak is followed by a dump, kept as evidence.
    watch
        .wait_for(Duration::from_secs(20), |e| {
            e["event"] == "dump" && e["profile"] == "goroutine"
        })
        .expect("a dump was kept as evidence");
    watch.interrupt();
    let (code, events) = watch.finish(Duration::from_secs(30));
    assert_eq!(code, 1, "--fail-on-leak exits 1 after a leak");
    let summary = summary(&events);
    assert!(summary["leaks"].as_u64().unwrap() >= 1);
    assert_eq!(summary["settings"]["compressed"], true);
    let dumps = of_kind(&events, "dump");
    assert!(
        dumps.iter().all(|d| d["profile"] == "goroutine"),
        "--no-leak-profile asked for the goroutineleak profile: {dumps:#?}"
    );
    assert_eq!(summary["targets"][0]["proof_available"], false);
    assert_eq!(summary["targets"][0]["proof_looks"], 0);
    // None of the healthy stacks was called a leak.
    for alert in of_kind(&events, "alert") {
        if alert["scope"] == "group" {
            assert_eq!(
                alert["leak_site"]["function"], "main.search.func1",
                "{alert:#}"
            );
        }
    }
    eprintln!("leak found after {found_after:?}");

    // A second watch continues the history of the same process: it does not alert on the
    // leak again, and its gate still fails on it.
    let again = Watch::start(
        &db,
        &[
            "--duration",
            "3s",
            "--fail-on-leak",
            "--no-leak-profile",
            &address,
        ],
    );
    let (code, events) = again.finish(Duration::from_secs(30));
    let later = of_kind(&events, "summary")
        .pop()
        .expect("the second watch printed its summary");
    assert_eq!(code, 1, "{later:#}");
    assert_eq!(later["leaks"], 0, "{later:#}");
    assert_eq!(later["earlier_leaks"], 1, "{later:#}");

    let report = report_json(&db);
    let target = &report["targets"][0];
    assert_eq!(target["verdict"], "leak");
    let leak = target["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["alerted"] == true)
        .expect("the report names the leaking stack");
    assert_eq!(leak["leak_site"]["function"], "main.search.func1");
    assert_eq!(leak["verdict"], "leak");
    // The history keeps verdicts, not exit conditions: the report reads them from the
    // source at hand, on the latest dump kept. The send has no way out: its receiver left.
    let exits = leak["exit_conditions"]
        .as_array()
        .unwrap_or_else(|| panic!("no exit conditions in the report: {leak:#}"));
    assert!(!exits.is_empty(), "{leak:#}");
    assert!(
        exits.iter().all(|c| c["can_happen"] != true),
        "a way out that can happen, for a send nobody receives: {exits:#?}"
    );
    let text = report_text(&db);
    assert!(text.contains("exits when"), "{text}");
    assert!(
        target["dumps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["role"] == "evidence")
    );
    assert!(
        target["diff"]["rows"][0]["delta"].as_i64() > Some(10),
        "{:#}",
        target["diff"]
    );
}

#[test]
fn bursty_healthy_load_that_rises_and_falls_is_never_flagged() {
    let dir = workdir("watch-bursty");
    let db = dir.join("history.db");
    let service = watchsvc(&[
        "-load",
        "bursty",
        "-burst-period",
        "2s",
        "-burst-max",
        "60",
        "-cycle",
        "16s",
    ]);
    let mut args = COMPRESSED.to_vec();
    let address = url(&service.addr);
    args.extend(["--duration", "40s", "--fail-on-leak", &address]);
    let watch = Watch::start(&db, &args);
    let (code, events) = watch.finish(Duration::from_secs(60));
    let alerts = of_kind(&events, "alert");
    assert!(
        alerts.is_empty(),
        "healthy bursts were flagged: {alerts:#?}"
    );
    assert_eq!(code, 0);
    // The test is only worth something if the count did swing and was judged.
    let counts: Vec<u64> = of_kind(&events, "sample")
        .iter()
        .map(|s| s["goroutines"].as_u64().unwrap())
        .collect();
    let (low, high) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(high - low >= 100, "the load was not bursty: {low}..{high}");
    let target = target_summary(summary(&events), &service.addr);
    let status = target["trend"]["status"].as_str().unwrap();
    assert!(
        matches!(status, "flat" | "falling"),
        "the trend was not judged: {status}"
    );
    // The report compares the first and the last dump kept, taken at different loads: the
    // trends judge that comparison, so a burst caught in one of them is no leak there.
    let report = report_json(&db);
    let rows = report["targets"][0]["diff"]["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no first-to-last diff: {:#}", report["targets"][0]["dumps"]));
    for row in rows {
        assert!(
            row["verdict"] == "expected" || row["verdict"] == "lingering",
            "the report's diff flags a healthy burst: {row:#}"
        );
    }
}

/// Ctrl-C: the watch stops cleanly and prints its summary.
/// Kills a service and starts it again on the same port after 2 s: long enough for the
/// watch to find nothing listening in between.
fn kill_and_restart(service: Service, args: &[&str]) -> Service {
    let addr = service.addr.clone();
    service.signal("KILL");
    std::thread::sleep(Duration::from_secs(2));
    let mut with_addr = vec!["-addr", addr.as_str()];
    with_addr.extend_from_slice(args);
    let restarted = watchsvc(&with_addr);
    assert_eq!(restarted.addr, addr, "restarted on the same port");
    restarted
}

#[test]
fn a_restart_mid_watch_is_marked_and_not_read_as_a_leak_ending() {
    let dir = workdir("watch-restart");
    let db = dir.join("history.db");
    let leaky = ["-load", "steady", "-rps", "20", "-leak-every", "10"];
    let without_metrics = [
        "-load",
        "steady",
        "-rps",
        "20",
        "-leak-every",
        "10",
        "-metrics=false",
    ];
    let a = watchsvc(&leaky);
    let b = watchsvc(&without_metrics);
    let mut args = COMPRESSED.to_vec();
    let (url_a, url_b) = (url(&a.addr), url(&b.addr));
    args.extend([url_a.as_str(), url_b.as_str()]);
    let watch = Watch::start(&db, &args);
    for service in [&a, &b] {
        let target = base(&service.addr);
        watch
            .wait_for(Duration::from_secs(60), |e| {
                e["event"] == "alert" && e["verdict"] == "leak" && e["target"] == target
            })
            .unwrap_or_else(|| panic!("no leak found in {target} before the restart"));
    }
    let a = kill_and_restart(a, &leaky);
    let b = kill_and_restart(b, &without_metrics);
    // Either evidence may come first: the new start time on /metrics, or the refused
    // connections while the port was closed; without /metrics, the refusals or the fall
    // of the count. Whichever it is, there must be exactly one restart.
    const START_TIME: &str = "process_start_time_seconds changed";
    const REFUSED: &str = "the target refused connections, then answered again";
    const FELL: &str = "the count fell through its floor back to its start-up level";
    for (service, reasons) in [(&a, [START_TIME, REFUSED]), (&b, [REFUSED, FELL])] {
        let target = base(&service.addr);
        let restart = watch
            .wait_for(Duration::from_secs(10), |e| {
                e["event"] == "restart" && e["target"] == target
            })
            .unwrap_or_else(|| panic!("no restart seen for {target}"));
        assert!(
            reasons.contains(&restart["reason"].as_str().unwrap()),
            "{restart:#}"
        );
    }
    std::thread::sleep(Duration::from_secs(4));
    watch.interrupt();
    let (code, events) = watch.finish(Duration::from_secs(20));
    assert_eq!(code, 0);
    let summary = summary(&events);
    for service in [&a, &b] {
        let target = base(&service.addr);
        let mine = |kind: &str| -> Vec<Value> {
            of_kind(&events, kind)
                .into_iter()
                .filter(|e| e["target"] == target)
                .cloned()
                .collect()
        };
        let restarts = mine("restart");
        assert_eq!(restarts.len(), 1, "{restarts:#?}");
        let restart = &restarts[0];
        let new_process = restart["process"].as_i64().unwrap();
        // The leak was found once, in the first process; the drop to a fresh process's
        // count ended nothing and started no verdict.
        let leaks: Vec<Value> = mine("alert")
            .into_iter()
            .filter(|a| a["scope"] == "group")
            .collect();
        assert_eq!(leaks.len(), 1, "{leaks:#?}");
        assert!(leaks[0]["process"].as_i64().unwrap() < new_process);
        assert!(
            mine("alert")
                .iter()
                .all(|a| a["process"].as_i64().unwrap() < new_process),
            "an alert in the new process"
        );
        let restart_t = restart["t"].as_f64().unwrap();
        for sample in mine("sample") {
            let process = sample["process"].as_i64().unwrap();
            if sample["t"].as_f64().unwrap() < restart_t {
                assert!(process < new_process, "{sample:#}");
            } else {
                assert_eq!(process, new_process, "{sample:#}");
            }
        }
        let target_summary = target_summary(summary, &service.addr);
        assert_eq!(target_summary["restarts"], 1);
        let status = target_summary["trend"]["status"].as_str().unwrap();
        assert!(
            matches!(status, "warming up" | "collecting"),
            "the new process was judged on too little: {status}"
        );
    }
    let report = report_json(&db);
    for target in report["targets"].as_array().unwrap() {
        assert_eq!(
            target["processes"].as_array().unwrap().len(),
            2,
            "{}",
            target["target"]
        );
        assert_eq!(target["verdict"], "leak");
    }
}

#[test]
fn a_dead_or_hung_target_does_not_delay_the_others() {
    let dir = workdir("watch-isolation");
    let db = dir.join("history.db");
    let good = watchsvc(&["-load", "none"]);
    // Nothing listens on a port that was just given back.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    // Accepts and never answers.
    let hung = TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_addr = hung.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hung.incoming().flatten() {
            held.push(stream);
        }
    });
    let (g, d, h) = (url(&good.addr), url(&dead), url(&hung_addr));
    let watch = Watch::start(
        &db,
        &[
            "--interval",
            "500ms",
            "--timeout",
            "2s",
            // Long enough for six samples of the good target on a loaded machine, where
            // each request costs more and the gaps stretch (5 came due in 8 s once).
            "--duration",
            "12s",
            &g,
            &d,
            &h,
        ],
    );
    let (code, events) = watch.finish(Duration::from_secs(30));
    assert_eq!(code, 0, "one target answered");
    let summary = summary(&events);
    let good = target_summary(summary, &good.addr);
    // Every sample that came due was taken, on time. (How many came due depends on what
    // the requests cost: the gaps stretch to 200 times that.)
    let due = good["schedule"]["due"].as_u64().unwrap();
    assert!(due >= 6, "{good:#}");
    // (The last one may still have been in flight when the watch ended.) Looks for the
    // runtime's proof are samples too, taken besides those that came due.
    let regular = good["samples"].as_u64().unwrap() - good["proof_looks"].as_u64().unwrap();
    assert!(good["proof_looks"].as_u64() >= Some(1), "{good:#}");
    assert!(due.abs_diff(regular) <= 1, "{good:#}");
    assert_eq!(good["schedule"]["late"], 0, "{good:#}");
    assert_eq!(good["errors"], 0);
    let errors = of_kind(&events, "error");
    let of = |addr: &str| -> Vec<&Value> {
        errors
            .iter()
            .copied()
            .filter(|e| e["target"] == base(addr))
            .collect()
    };
    let dead_errors = of(&dead);
    // Retried with backoff, but said once.
    assert_eq!(dead_errors.len(), 1, "{dead_errors:#?}");
    let message = dead_errors[0]["message"].as_str().unwrap();
    assert!(
        message.contains("connection refused") && message.contains("hint:"),
        "{message}"
    );
    let hung_errors = of(&hung_addr);
    assert!(!hung_errors.is_empty());
    assert!(
        hung_errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("no complete answer"),
        "{hung_errors:#?}"
    );
    assert_eq!(target_summary(summary, &dead)["samples"], 0);
}
