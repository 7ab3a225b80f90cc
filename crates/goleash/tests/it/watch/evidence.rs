//! A verdict as soon as the evidence allows, with the default settings: the runtime's proof
//! at once, trend windows fitted to `--duration`, and a gate that says when it cannot fail.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Watch, of_kind, watchsvc_line_in, workdir};
use crate::support::go::toolchain;
use crate::support::service::Service;

fn watchsvc_with(release: &str, args: &[&str]) -> Service {
    let binary = toolchain(release).fixtures().binary("watch/watchsvc");
    Service::start_with(&binary, args, &[])
}

fn summary(events: &[Value]) -> &Value {
    of_kind(events, "summary")
        .pop()
        .expect("the watch printed its summary")
}

fn group_alerts<'a>(events: &'a [Value], function: &str) -> Vec<&'a Value> {
    of_kind(events, "alert")
        .into_iter()
        .filter(|a| a["scope"] == "group" && a["leak_site"]["function"] == function)
        .collect()
}

fn shown(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["event"] != "sample").collect()
}

/// 15 s leave no room for a trend verdict. On Go 1.27 the runtime proves the leaks held
/// since start, and the watch fails at once naming them; on Go 1.25 there is no proof to
/// ask for, and a gate that could not fail exits 2 instead of passing.
#[test]
fn a_short_watch_fails_at_once_on_proven_leaks_and_will_not_pass_without_proof() {
    let dir = workdir("watch-proof");
    let with_proof = watchsvc_with("1.27", &["-leaked", "50"]);
    let without_proof = watchsvc_with("1.25", &["-leaked", "50"]);
    let args = |addr: &str| {
        vec![
            "--duration".to_string(),
            "15s".to_string(),
            "--fail-on-leak".to_string(),
            format!("http://{addr}"),
        ]
    };
    let started = Instant::now();
    let proven_args = args(&with_proof.addr);
    let unproven_args = args(&without_proof.addr);
    let proven = Watch::start(
        &dir.join("proven.db"),
        &proven_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let unproven = Watch::start(
        &dir.join("unproven.db"),
        &unproven_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let alert = proven
        .wait_for(Duration::from_secs(10), |e| {
            e["event"] == "alert" && e["verdict"] == "leak"
        })
        .unwrap_or_else(|| panic!("no proven leak reported: {:#?}", shown(&proven.events())));
    let found_after = started.elapsed();
    // The first look comes right after the first count; a busy CI machine is given slack.
    assert!(
        found_after < Duration::from_secs(8),
        "the proof took {found_after:?}"
    );
    assert_eq!(
        alert["leak_site"]["function"], "main.lookup.func1",
        "{alert:#}"
    );
    assert_eq!(
        alert["leak_site"]["line"],
        watchsvc_line_in("extras.go", "// PROVEN:")
    );
    assert_eq!(alert["proven_leaked"], 50, "{alert:#}");
    assert_eq!(alert["blocking"], "chan send");
    assert!(alert["hint"].as_str().is_some_and(|h| !h.is_empty()));
    assert!(
        alert["stack"][0]
            .as_str()
            .is_some_and(|f| f.starts_with("main.lookup.func1 ")),
        "{alert:#}"
    );

    let (code, events) = proven.finish(Duration::from_secs(30));
    assert_eq!(code, 1, "{:#?}", shown(&events));
    let start = &of_kind(&events, "start")[0];
    assert_eq!(start["plan"]["trend_verdict_possible"], false, "{start:#}");
    assert_eq!(start["plan"]["fitted"], true);
    let done = summary(&events);
    assert_eq!(done["leaks"], 1, "{done:#}");
    assert_eq!(done["targets"][0]["proof_available"], true);
    // Proven once, not again at every later look.
    assert_eq!(group_alerts(&events, "main.lookup.func1").len(), 1);
    // A watch that continues this history sees the proof again: its gate fails too.
    let again = Watch::start(
        &dir.join("proven.db"),
        &["--duration", "3s", "--fail-on-leak", &proven_args[3]],
    );
    let (code, events) = again.finish(Duration::from_secs(30));
    assert_eq!(code, 1, "{:#?}", shown(&events));
    assert_eq!(group_alerts(&events, "main.lookup.func1").len(), 1);

    let stderr = unproven.stderr();
    let (code, events) = unproven.finish(Duration::from_secs(30));
    assert_eq!(code, 2, "{:#?}\n{stderr}", shown(&events));
    let done = summary(&events);
    assert_eq!(done["leaks"], 0);
    assert_eq!(done["plan"]["trend_verdict_possible"], false);
    assert_eq!(done["targets"][0]["proof_available"], false);
    assert!(
        done["targets"][0]["samples"].as_u64() >= Some(5),
        "the target was watched: {done:#}"
    );
}

/// The gate's message, in text, where people read it.
#[test]
fn a_watch_too_short_for_a_trend_says_so_at_the_start_and_in_the_summary() {
    let dir = workdir("watch-too-short");
    let service = watchsvc_with("1.25", &[]);
    let output = super::goleash()
        .args(["watch", "--duration", "3s", "--fail-on-leak", "--db"])
        .arg(dir.join("history.db"))
        .arg(format!("http://{}", service.addr))
        .output()
        .expect("run goleash watch");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stdout}\n{stderr}");
    let note = "no trend verdict possible in 3s; proven leaks only";
    assert_eq!(stdout.matches(note).count(), 2, "{stdout}");
    // Not a plain "no leak found": nothing could have found one.
    assert!(
        stdout.contains("no leak found, but nothing was judged yet"),
        "{stdout}"
    );
    assert!(
        stderr.contains("--fail-on-leak could not fail") && stderr.contains("hint:"),
        "{stderr}"
    );
}

/// 50 s, the default settings, 25 s of steady load in which one request in ten leaks an
/// early-return send and one in seven starts a poller nobody stops: the runtime proves the
/// first, the trend of fitted windows catches the second.
#[test]
fn fifty_seconds_with_default_settings_catch_a_proven_leak_and_a_growing_ticker_loop() {
    let dir = workdir("watch-fitted");
    let service = watchsvc_with(
        "1.27",
        &[
            "-load",
            "steady",
            "-rps",
            "20",
            "-leak-every",
            "10",
            "-ticker-every",
            "7",
            "-load-after",
            "3s",
            "-load-for",
            "25s",
        ],
    );
    let address = format!("http://{}", service.addr);
    let watch = Watch::start(
        &dir.join("history.db"),
        &["--duration", "50s", "--fail-on-leak", &address],
    );
    let (code, events) = watch.finish(Duration::from_secs(80));
    assert_eq!(code, 1, "{:#?}", shown(&events));
    let start = &of_kind(&events, "start")[0];
    assert_eq!(start["plan"]["fitted"], true, "{start:#}");
    assert_eq!(start["plan"]["trend_verdict_possible"], true, "{start:#}");
    assert!(start["settings"]["cooldown_secs"].as_f64() < Some(10.0));

    let proven = group_alerts(&events, "main.search.func1");
    assert!(
        proven
            .iter()
            .any(|a| a["verdict"] == "leak" && a["proven_leaked"].as_u64() > Some(0)),
        "{:#?}",
        shown(&events)
    );
    let ticker = group_alerts(&events, "main.poll");
    assert_eq!(ticker.len(), 1, "{:#?}", shown(&events));
    let ticker = ticker[0];
    assert_eq!(ticker["verdict"], "leak", "{ticker:#}");
    assert!(ticker["proven_leaked"].is_null(), "{ticker:#}");
    assert_eq!(
        ticker["leak_site"]["line"],
        watchsvc_line_in("extras.go", "// TICKER:")
    );
    assert!(ticker["count_after"].as_u64() > ticker["count_before"].as_u64());
    assert!(ticker["p_value"].as_f64().unwrap() <= 0.01);
    // No stack of the healthy requests was called anything.
    for alert in of_kind(&events, "alert") {
        if alert["scope"] == "group" {
            let function = alert["leak_site"]["function"].as_str().unwrap_or_default();
            assert!(
                matches!(function, "main.search.func1" | "main.poll"),
                "{alert:#}"
            );
        }
    }
    let done = summary(&events);
    assert!(done["leaks"].as_u64() >= Some(2));
    // Go 1.27 counts the goroutines it creates: fewer ended than were created.
    let churn = &done["targets"][0]["churn"];
    let (created, ended) = (
        churn["created_per_minute"].as_f64().unwrap(),
        churn["exited_per_minute"].as_f64().unwrap(),
    );
    assert!(ended < created, "{churn:#}");
}

/// 50 s of bursts that rise and fall, with the default settings, on two services whose
/// bursts differ: nothing flagged, and the trends were judged (not left collecting).
#[test]
fn fifty_seconds_of_bursty_healthy_load_with_default_settings_are_never_flagged() {
    let dir = workdir("watch-fitted-bursty");
    let fast = watchsvc_with(
        "1.27",
        &[
            "-load",
            "bursty",
            "-burst-period",
            "2s",
            "-burst-max",
            "60",
            "-cycle",
            "16s",
        ],
    );
    let slow = watchsvc_with(
        "1.25",
        &[
            "-load",
            "bursty",
            "-burst-period",
            "3s",
            "-burst-max",
            "80",
            "-cycle",
            "25s",
        ],
    );
    let (a, b) = (
        format!("http://{}", fast.addr),
        format!("http://{}", slow.addr),
    );
    let watch = Watch::start(
        &dir.join("history.db"),
        &["--duration", "50s", "--fail-on-leak", &a, &b],
    );
    let (code, events) = watch.finish(Duration::from_secs(80));
    let alerts = of_kind(&events, "alert");
    assert!(
        alerts.is_empty(),
        "healthy bursts were flagged: {alerts:#?}"
    );
    assert_eq!(code, 0);
    let done = summary(&events);
    for target in done["targets"].as_array().unwrap() {
        let status = target["trend"]["status"].as_str().unwrap();
        assert!(
            matches!(status, "flat" | "falling"),
            "the trend was not judged: {target:#}"
        );
    }
    // Busy and healthy: about as many goroutines ended as were created (Go 1.27 counts
    // them; Go 1.25 cannot say).
    for target in done["targets"].as_array().unwrap() {
        let churn = &target["churn"];
        if target["target"] == format!("http://{}/debug/pprof", fast.addr).as_str() {
            let created = churn["created_per_minute"].as_f64().unwrap();
            let ended = churn["exited_per_minute"].as_f64().unwrap();
            assert!(created > 1000.0 && ended > 0.9 * created, "{churn:#}");
        } else {
            assert!(churn.is_null(), "{target:#}");
        }
    }
    // Worth something only if the counts did swing.
    for target in [&fast, &slow] {
        let base = format!("http://{}/debug/pprof", target.addr);
        let counts: Vec<u64> = of_kind(&events, "sample")
            .iter()
            .filter(|s| s["target"] == base.as_str())
            .map(|s| s["goroutines"].as_u64().unwrap())
            .collect();
        let (low, high) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(high - low >= 100, "{base} was not bursty: {low}..{high}");
    }
}

/// `goleash check --format json --load CMD URL`: the exit code and the document.
fn check_load(url: &str, command: &str) -> (i32, Value, String) {
    let output = super::goleash()
        .args([
            "check",
            "--format",
            "json",
            "--settle-timeout",
            "10s",
            "--load",
            command,
            url,
        ])
        .output()
        .expect("run goleash check --load");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let doc = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("check printed no JSON ({e}): {stderr}"));
    (output.status.code().unwrap_or(-1), doc, stderr)
}

/// The three looks of a load test: idle, the load, after it settles. A burst of healthy
/// fan-out requests passes; one load run of requests that leak their backend's goroutine
/// fails, on Go 1.27 by the runtime's proof and on Go 1.25 by the growth of the stack.
#[test]
fn check_with_a_load_passes_a_clean_run_and_catches_a_leak_from_one_run() {
    for release in ["1.27", "1.25"] {
        let service = watchsvc_with(release, &[]);
        let url = format!("http://{}", service.addr);
        // Three waves of a second or so: long enough for the counts sampled every 250 ms to
        // see them on a busy machine.
        let healthy = format!(
            "for w in 1 2 3; do for i in $(seq 10); do curl -sf '{url}/fanout?n=20&ms=800' >/dev/null & done; wait; done"
        );
        let (code, doc, stderr) = check_load(&url, &healthy);
        assert_eq!(code, 0, "Go {release}: {doc:#}\n{stderr}");
        let load = &doc["load"];
        assert_eq!(load["settled"], "back", "Go {release}: {load:#}");
        assert!(
            load["goroutines_peak"].as_u64() > load["goroutines_idle"].as_u64(),
            "Go {release}: the load was not seen: {load:#}"
        );

        let leaking =
            format!("for i in $(seq 25); do curl -s '{url}/search?slow=1' >/dev/null; done");
        let (code, doc, stderr) = check_load(&url, &leaking);
        assert_eq!(code, 1, "Go {release}: {doc:#}\n{stderr}");
        let load = &doc["load"];
        assert_eq!(load["settled"], "steady", "Go {release}: {load:#}");
        assert!(
            load["goroutines_after"].as_u64()
                >= Some(load["goroutines_idle"].as_u64().unwrap() + 25)
        );
        let failing: Vec<&Value> = doc["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["outcome"] == "fail")
            .collect();
        assert_eq!(failing.len(), 1, "Go {release}: {failing:#?}");
        let leak = failing[0];
        assert_eq!(leak["leak_site"]["function"], "main.search.func1");
        assert_eq!(leak["count"], 25, "Go {release}: {leak:#}");
        assert_eq!(leak["count_before"], 0, "Go {release}: {leak:#}");
        let proven = leak["leaked"].as_u64().unwrap_or(0);
        if release == "1.27" {
            assert_eq!(proven, 25, "the runtime proves them: {leak:#}");
        } else {
            assert_eq!(proven, 0, "Go 1.25 proves nothing: {leak:#}");
        }
    }

    let service = watchsvc_with("1.27", &[]);
    let output = super::goleash()
        .args([
            "check",
            "--load",
            "exit 3",
            &format!("http://{}", service.addr),
        ])
        .output()
        .expect("run goleash check --load");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "a load that failed judges nothing: {stderr}"
    );
    assert!(stderr.contains("the load command failed"), "{stderr}");
}
