//! `goleash watch --prometheus`: the counts of real Go services (watchsvc) as a real
//! Prometheus scraped them, judged live; the services are asked for nothing but the stacks
//! of the suspect, which the services' own request logs prove.

use std::time::Duration;

use serde_json::Value;

use crate::support::prometheus::{Prometheus, free_port};
use crate::support::service::Service;
use crate::watch::{BURSTY_LOAD, Watch, goleash, of_kind, watchsvc, watchsvc_line, workdir};

/// Who asked a service for what: its `-log-requests` lines, `(URI, user agent)`.
fn requests(service: &Service) -> Vec<(String, String)> {
    String::from_utf8_lossy(&service.stderr())
        .lines()
        .filter_map(|l| l.strip_prefix("request "))
        .map(|l| {
            let (uri, agent) = l.split_once(' ').unwrap_or((l, ""));
            (uri.to_string(), agent.to_string())
        })
        .collect()
}

fn by_goleash(service: &Service) -> Vec<String> {
    requests(service)
        .into_iter()
        .filter(|(_, agent)| agent.starts_with("goleash/"))
        .map(|(uri, _)| uri)
        .collect()
}

fn series_of(addr: &str) -> String {
    format!(r#"go_goroutines{{instance="{addr}",job="svc"}}"#)
}

#[test]
fn watch_prometheus_names_the_leaking_series_and_asks_only_it_for_stacks() {
    let logged = ["-log-requests"];
    let leaking = watchsvc(
        &[
            &logged[..],
            &["-load", "steady", "-rps", "20", "-leak-every", "10"],
        ]
        .concat(),
    );
    let bursty = watchsvc(&[&logged[..], &BURSTY_LOAD].concat());
    let steady = watchsvc(&[&logged[..], &["-load", "steady", "-rps", "20"]].concat());
    // Scraped from the start, up only once the watch runs: a series that appears later.
    let late_addr = format!("127.0.0.1:{}", free_port());
    let prometheus = Prometheus::start(
        "svc",
        &[&leaking.addr, &bursty.addr, &steady.addr, &late_addr],
        "1s",
        None,
    );
    // Enough history for a verdict at the first evaluation, which reads the last minute:
    // the 2 s warm-up and six 3 s windows.
    prometheus.wait_for_history(3, 21);

    let dir = workdir("watch-prometheus");
    let db = dir.join("watch.db");
    let watch = Watch::start(
        &db,
        &[
            "--prometheus",
            &prometheus.url,
            "--match",
            r#"go_goroutines{job="svc"}"#,
            "--interval",
            "1s",
            "--warmup",
            "2s",
            "--cooldown",
            "3s",
            "--duration",
            "14s",
            "--fail-on-leak",
        ],
    );
    let started = watch
        .wait_for(Duration::from_secs(30), |e| e["event"] == "start")
        .unwrap_or_else(|| panic!("no start event; stderr:\n{}", watch.stderr()));
    let mut at_start: Vec<String> = started["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    at_start.sort();
    let mut expected = vec![
        series_of(&leaking.addr),
        series_of(&bursty.addr),
        series_of(&steady.addr),
    ];
    expected.sort();
    assert_eq!(at_start, expected);
    assert_eq!(started["prometheus"]["url"], prometheus.url);

    let late = Service::start_with(
        &crate::support::go::toolchain("1.27")
            .fixtures()
            .binary("watch/watchsvc"),
        &["-log-requests", "-addr", &late_addr],
        &[],
    );
    assert!(
        watch
            .wait_for(Duration::from_secs(8), |e| e["event"] == "series"
                && e["presence"] == "appeared"
                && e["target"] == series_of(&late_addr))
            .is_some(),
        "the late series was not added; stderr:\n{}",
        watch.stderr()
    );
    // The bursty service restarts on its address: a new process, which its
    // process_start_time_seconds tells, not a gone series and a new one.
    let bursty_addr = bursty.addr.clone();
    drop(bursty);
    let bursty = watchsvc(&[&logged[..], &BURSTY_LOAD, &["-addr", &bursty_addr]].concat());
    assert_eq!(bursty.addr, bursty_addr);
    let steady_series = series_of(&steady.addr);
    drop(steady);
    assert!(
        watch
            .wait_for(Duration::from_secs(8), |e| e["event"] == "series"
                && e["presence"] == "gone"
                && e["target"] == steady_series)
            .is_some(),
        "the stopped service was not told gone; stderr:\n{}",
        watch.stderr()
    );
    // Prometheus goes away before the end: told, and the watch still ends with its verdicts.
    let prometheus_url = prometheus.url.clone();
    drop(prometheus);
    let (code, events) = watch.finish(Duration::from_secs(30));
    assert_eq!(code, 1, "a leak fails --fail-on-leak; events: {events:#?}");

    let leaking_series = series_of(&leaking.addr);
    let leaks: Vec<&Value> = of_kind(&events, "alert")
        .into_iter()
        .filter(|a| a["verdict"] == "leak")
        .collect();
    assert!(!leaks.is_empty(), "no leak alert: {events:#?}");
    for alert in &leaks {
        assert_eq!(alert["target"], leaking_series, "{alert:#}");
    }
    let site = leaks
        .iter()
        .find_map(|a| a.get("leak_site"))
        .expect("the leak names its site");
    assert_eq!(site["function"], "main.search.func1");
    assert_eq!(site["line"], watchsvc_line("// LEAK:"));
    // The healthy series rose nowhere.
    for alert in of_kind(&events, "alert") {
        assert_eq!(alert["target"], leaking_series, "{alert:#}");
    }
    let bursty_series = series_of(&bursty_addr);
    let restarts: Vec<&Value> = of_kind(&events, "restart")
        .into_iter()
        .filter(|r| r["target"] == bursty_series)
        .collect();
    assert_eq!(
        restarts.len(),
        1,
        "the restart of {bursty_series}: {events:#?}"
    );
    assert_eq!(restarts[0]["reason"], "process_start_time_seconds changed");
    assert!(
        of_kind(&events, "restart")
            .iter()
            .all(|r| r["target"] == bursty_series),
        "only the restarted service restarted: {events:#?}"
    );
    let errors = of_kind(&events, "error");
    assert!(
        errors.iter().any(|e| e["target"] == prometheus_url
            && e["message"]
                .as_str()
                .unwrap()
                .contains("cannot reach Prometheus")),
        "Prometheus going away was not told: {errors:#?}"
    );
    for sample in of_kind(&events, "sample") {
        if sample["source"] != "prometheus" {
            assert_eq!(sample["target"], leaking_series, "{sample:#}");
            assert_eq!(sample["source"], "dump", "{sample:#}");
        }
    }
    let summary = of_kind(&events, "summary")[0];
    assert_eq!(summary["leaks"].as_u64().map(|n| n > 0), Some(true));
    let evaluations = &summary["evaluations"];
    assert!(evaluations["due"].as_u64().unwrap() >= 5, "{evaluations:#}");
    assert!(
        evaluations["errors"].as_u64().unwrap() >= 1,
        "{evaluations:#}"
    );
    assert_eq!(evaluations["gone"], 1, "{evaluations:#}");
    let targets = summary["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 4, "{summary:#}");
    for t in targets {
        assert_eq!(t["count_source"], "prometheus", "{t:#}");
        assert_eq!(t["gone"] == true, t["target"] == steady_series, "{t:#}");
    }

    // Stacks from the suspect only, its goroutineleak profile first; counts from no one.
    let asked = by_goleash(&leaking);
    assert!(
        !asked.is_empty(),
        "the suspect was never asked for its stacks"
    );
    assert!(
        asked[0].starts_with("/debug/pprof/goroutineleak"),
        "{asked:?}"
    );
    for uri in &asked {
        assert!(uri.ends_with("?debug=2"), "{uri}: not a dump");
    }
    for service in [&bursty, &late] {
        assert_eq!(by_goleash(service), Vec::<String>::new());
    }
    assert!(
        requests(&bursty)
            .iter()
            .any(|(uri, agent)| uri == "/metrics" && agent.starts_with("Prometheus/")),
        "the request log sees Prometheus's scrapes: {:?}",
        requests(&bursty)
    );

    // The history is a history like any other: the report names the leak.
    let report = goleash()
        .args(["report", "--format", "json", "--db"])
        .arg(&db)
        .output()
        .expect("run goleash report");
    let report = String::from_utf8_lossy(&report.stdout);
    assert!(report.contains("main.search.func1"), "{report}");
    assert!(
        report.contains(&leaking_series.replace('"', "\\\"")),
        "{report}"
    );
}

#[test]
fn watch_prometheus_without_a_prometheus_is_a_clear_error() {
    let dir = workdir("watch-prometheus-down");
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = goleash()
        .args(["watch", "--prometheus", &url, "--duration", "3s", "--db"])
        .arg(dir.join("watch.db"))
        .output()
        .expect("run goleash watch");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot reach Prometheus"), "{stderr}");
    assert!(stderr.contains("go_goroutines"), "{stderr}");

    // --match without --prometheus, beside a service URL: a usage error, not ignored.
    let out = goleash()
        .args(["watch", "--match", "go_goroutines", "http://127.0.0.1:1"])
        .arg("--db")
        .arg(dir.join("watch.db"))
        .output()
        .expect("run goleash watch");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--prometheus"));
}
