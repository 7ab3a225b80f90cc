//! goleash with a real Prometheus: `scan` reading what it scraped from real Go services
//! (watchsvc) and a week of history backfilled with promtool; `watch --listen` scraped by
//! it, with the alerting rules of docs/alerts.yml and the queries of the Grafana dashboard.

use std::fmt::Write as _;
use std::process::Output;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::support::go::{scratch, toolchain, workspace};
use crate::support::prometheus::{self, Prometheus};
use crate::support::service::Service;
use crate::watch::{
    BURSTY_LOAD, COMPRESSED as WATCH_COMPRESSED, Watch, goleash, watchsvc, watchsvc_line,
};

/// Trend windows compressed from minutes to seconds, for a 1 s scrape interval: 2 s
/// warm-up, then six 3 s cool-down windows.
const COMPRESSED: [&str; 4] = ["--warmup", "2s", "--cooldown", "3s"];

fn scan(prometheus: &str, args: &[&str]) -> (i32, Value, String) {
    let output: Output = goleash()
        .args(["scan", "--prometheus", prometheus, "--format", "json"])
        .args(args)
        .output()
        .expect("run goleash scan");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let doc = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "scan printed no JSON ({e}): {}\nstderr: {stderr}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    (output.status.code().unwrap_or(-1), doc, stderr)
}

fn instance<'a>(doc: &'a Value, addr: &str) -> &'a Value {
    doc["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .find(|i| i["labels"]["instance"] == addr)
        .unwrap_or_else(|| panic!("no series of {addr} in {doc:#}"))
}

fn rising(doc: &Value) -> Vec<String> {
    let mut addrs: Vec<String> = doc["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .filter(|i| i["direction"] == "rising")
        .map(|i| {
            i["labels"]["instance"]
                .as_str()
                .expect("instance")
                .to_string()
        })
        .collect();
    addrs.sort();
    addrs
}

#[test]
fn scan_names_exactly_the_leaking_instances_of_a_scraped_fleet() {
    // Two leaks: one under steady load (Go 1.27: the goroutineleak profile proves it), one
    // under steady and bursty load built with Go 1.25, which has no goroutineleak profile,
    // so its stacks are named against a healthy replica. Healthy: two with bursts of
    // hundreds of goroutines, one steady that restarts mid-run with 60 more long-lived
    // goroutines (a step up that only the start time tells from a leak).
    let proven = watchsvc(&["-load", "steady", "-rps", "20", "-leak-every", "10"]);
    let old_go = toolchain("1.25").fixtures().binary("watch/watchsvc");
    let replicated = Service::start_with(
        &old_go,
        &[
            "-load",
            "mixed",
            "-rps",
            "20",
            "-leak-every",
            "4",
            "-burst-max",
            "30",
        ],
        &[],
    );
    let bursty = watchsvc(&BURSTY_LOAD);
    let bursty_too = watchsvc(&["-load", "bursty", "-burst-max", "100"]);
    let restarting = watchsvc(&["-load", "steady"]);
    let restart_addr = restarting.addr.clone();
    let addrs = [
        &proven.addr,
        &replicated.addr,
        &bursty.addr,
        &bursty_too.addr,
        &restart_addr,
    ];
    let prometheus = Prometheus::start("svc", &addrs.map(String::as_str), "1s", None);

    prometheus.wait_for_history(addrs.len(), 10);
    drop(restarting);
    let restarted = watchsvc(&["-load", "steady", "-hold", "60", "-addr", &restart_addr]);
    assert_eq!(restarted.addr, restart_addr);
    prometheus.wait_for_history(addrs.len(), 48);

    let (code, doc, stderr) = scan(
        &prometheus.url,
        &[
            &["--range", "50s", "--step", "1s", "--recheck", "1s"][..],
            &COMPRESSED,
        ]
        .concat(),
    );
    assert_eq!(code, 1, "rising series exit 1; stderr: {stderr}");
    let mut leaking = vec![proven.addr.clone(), replicated.addr.clone()];
    leaking.sort();
    assert_eq!(rising(&doc), leaking, "{doc:#}");
    assert_eq!(doc["series"], 5);
    assert_eq!(doc["judged"], 5, "{doc:#}");
    assert_eq!(instance(&doc, &restart_addr)["restarts"], 1, "{doc:#}");
    assert_eq!(doc["instances"][0]["rank"], 1);

    let site_line = watchsvc_line("// LEAK:");
    for (addr, method) in [(&proven.addr, "proven"), (&replicated.addr, "replica")] {
        let stacks = &instance(&doc, addr)["stacks"];
        assert_eq!(stacks["method"], method, "{addr}: {stacks:#}");
        assert_eq!(stacks["pprof"], format!("http://{addr}/debug/pprof"));
        let groups = stacks["groups"].as_array().expect("groups");
        let leak = groups
            .iter()
            .find(|g| g["leak_site"]["function"] == "main.search.func1")
            .unwrap_or_else(|| panic!("{addr}: the leaking stack is not named: {stacks:#}"));
        assert_eq!(leak["leak_site"]["line"], site_line);
        assert!(leak["hint"].is_string());
        // Only stacks that leak or grew: nothing of the healthy long-lived goroutines.
        for g in groups {
            assert!(g["verdict"] == "leak" || g["verdict"] == "suspect", "{g:#}");
        }
    }
    let replica = instance(&doc, &replicated.addr)["stacks"]["compared_with"]
        .as_str()
        .expect("the replica compared with")
        .to_string();
    assert!(
        [&bursty.addr, &bursty_too.addr, &restart_addr]
            .iter()
            .any(|a| replica == format!("http://{a}/debug/pprof")),
        "{replica} is not one of the healthy instances"
    );
    // Healthy instances get no profile request at all.
    for addr in [&bursty.addr, &bursty_too.addr, &restart_addr] {
        assert!(instance(&doc, addr).get("stacks").is_none());
    }

    // The text and the page name the same stacks.
    let page = scratch("scan.html");
    let text = goleash()
        .args([
            "scan",
            "--prometheus",
            &prometheus.url,
            "--range",
            "50s",
            "--step",
            "1s",
            "--recheck",
            "1s",
        ])
        .args(COMPRESSED)
        .arg("--html")
        .arg(&page)
        .output()
        .expect("run goleash scan");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("2 rising · 3 flat"), "{text}");
    assert!(text.contains(&format!("main.go:{site_line}")), "{text}");
    assert!(
        text.contains("proven leaked by the goroutineleak profile"),
        "{text}"
    );
    let page = std::fs::read_to_string(&page).expect("scan --html wrote its page");
    assert!(page.starts_with("<!DOCTYPE html>") && !page.contains("<script"));
    assert!(page.contains("main.search.func1"), "{page}");
    assert!(page.contains(&format!("main.go:{site_line}")), "{page}");
    assert!(page.contains("<svg"), "the suspects' counts are drawn");
    let rank = instance(&doc, &proven.addr)["rank"].clone();
    assert!(page.contains(&format!("id=\"rank-{rank}\"")), "{page}");

    // A metric that is not a goroutine count: watchsvc declares it a counter.
    let out = goleash()
        .args([
            "scan",
            "--prometheus",
            &prometheus.url,
            "--match",
            "http_requests_total",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a counter, not a goroutine count"));

    // A suspect gone away: the fleet is still judged and ranked, the stacks say why not.
    drop(proven);
    let (code, doc, _) = scan(
        &prometheus.url,
        &[
            &["--range", "50s", "--step", "1s", "--recheck", "1s"][..],
            &COMPRESSED,
        ]
        .concat(),
    );
    assert_eq!(code, 1);
    let gone = doc["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["stacks"]["error"].is_string())
        .unwrap_or_else(|| panic!("the gone suspect has no error: {doc:#}"));
    assert!(
        gone["stacks"]["error"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{gone:#}"
    );
    assert!(
        doc["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().contains("connection refused"))
    );

    // Labels that do not fill the template.
    let (_, doc, _) = scan(
        &prometheus.url,
        &[
            &[
                "--range",
                "50s",
                "--step",
                "1s",
                "--pprof",
                "http://{pod_ip}:6060/debug/pprof",
            ][..],
            &COMPRESSED,
        ]
        .concat(),
    );
    let error = doc["instances"][0]["stacks"]["error"]
        .as_str()
        .expect("an error");
    assert!(error.contains("no pod_ip label"), "{error}");
}

/// A week of history at one-minute resolution, written as OpenMetrics and turned into
/// TSDB blocks by `promtool tsdb create-blocks-from openmetrics`.
fn backfill(end: i64) -> std::path::PathBuf {
    const WEEK: i64 = 7 * 86_400;
    let mut text = String::from(
        "# HELP go_goroutines Number of goroutines that currently exist.\n# TYPE go_goroutines gauge\n",
    );
    let start = end - WEEK;
    let restart = start + 3 * 86_400;
    // A cheap deterministic noise: bursts of up to 150 goroutines lasting a minute or two.
    let burst = |t: i64, seed: i64| -> i64 {
        let h = (t / 60 * 2_654_435_761 + seed * 97).rem_euclid(1_000_003);
        if h % 7 == 0 { h % 150 } else { 0 }
    };
    let series = |name: &str| format!("job=\"fleet\",instance=\"{name}\"");
    for t in (start..end).step_by(60) {
        // A leak of one goroutine per 20 minutes under bursty traffic.
        let leaky = 40 + (t - start) / 1200 + burst(t, 1);
        writeln!(
            text,
            "go_goroutines{{{}}} {leaky} {t}",
            series("127.0.0.1:1")
        )
        .unwrap();
    }
    for t in (start..end).step_by(60) {
        writeln!(
            text,
            "go_goroutines{{{}}} {} {t}",
            series("127.0.0.1:2"),
            40 + burst(t, 2)
        )
        .unwrap();
    }
    for t in (start..end).step_by(60) {
        // Leaked for three days, restarted, healthy since.
        let v = if t < restart {
            40 + (t - start) / 600
        } else {
            40 + burst(t, 3)
        };
        writeln!(text, "go_goroutines{{{}}} {v} {t}", series("127.0.0.1:3")).unwrap();
    }
    text.push_str("# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n# TYPE process_start_time_seconds gauge\n");
    for (name, restarts) in [
        ("127.0.0.1:1", false),
        ("127.0.0.1:2", false),
        ("127.0.0.1:3", true),
    ] {
        for t in (start..end).step_by(60) {
            let started = if restarts && t >= restart {
                restart
            } else {
                start - 10
            };
            writeln!(
                text,
                "process_start_time_seconds{{{}}} {started} {t}",
                series(name)
            )
            .unwrap();
        }
    }
    text.push_str("# EOF\n");
    let dir = scratch("backfill");
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("week.om");
    std::fs::write(&input, text).unwrap();
    let data = dir.join("data");
    let out = std::process::Command::new(prometheus::binary("promtool"))
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&data)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    data
}

#[test]
fn scan_reads_a_backfilled_week_in_chunks_with_the_production_defaults() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let data = backfill(now - 120);
    let prometheus = Prometheus::start("none", &[], "15s", Some(&data));

    // 7 days at 30 s is 20,161 points a series: two chunks under the 11,000 limit for the
    // counts, and one for the start times, read hourly.
    let (code, doc, stderr) = scan(&prometheus.url, &["--range", "7d", "--step", "30s"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(doc["queries"], 3, "{doc:#}");
    assert_eq!(rising(&doc), vec!["127.0.0.1:1".to_string()], "{doc:#}");
    let leaky = instance(&doc, "127.0.0.1:1");
    let per_hour = leaky["slope_per_hour"].as_f64().unwrap();
    assert!(
        (2.5..3.5).contains(&per_hour),
        "one per 20 minutes is 3 an hour: {per_hour}"
    );
    assert!(leaky["samples"].as_u64().unwrap() > 20_000);
    assert!(leaky["counts"].as_array().unwrap().len() <= 200);
    let restarted = instance(&doc, "127.0.0.1:3");
    assert_eq!(restarted["restarts"], 1, "{restarted:#}");
    assert_eq!(restarted["direction"], "flat", "{restarted:#}");
    assert_eq!(instance(&doc, "127.0.0.1:2")["direction"], "flat");
    // Nothing listens at the leaky instance's address: its stacks say so, the rest stands.
    assert!(
        leaky["stacks"]["error"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{leaky:#}"
    );

    // The default step (range / 10,000) is one chunk a metric.
    let (code, doc, _) = scan(&prometheus.url, &["--range", "7d", "--no-stacks"]);
    assert_eq!(code, 1);
    assert_eq!(doc["queries"], 2);
    assert_eq!(rising(&doc), vec!["127.0.0.1:1".to_string()]);
    assert!(doc["instances"][0].get("stacks").is_none());

    // A Prometheus that refuses every range query (it may load only 1,000 samples per
    // query): exit 2, with its own explanation.
    drop(prometheus);
    let strict = Prometheus::start_with_flags(
        "none",
        &[],
        "15s",
        Some(&data),
        None,
        &["--query.max-samples=1000"],
    );
    let out = goleash()
        .args(["scan", "--prometheus", &strict.url, "--range", "7d"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no range query of go_goroutines succeeded"),
        "{stderr}"
    );
    assert!(stderr.contains("too many samples"), "{stderr}");
    drop(strict);
    let prometheus = Prometheus::start("none", &[], "15s", Some(&data));

    // The last day only: the restarted instance is flat, the leak still shows.
    let (_, doc, _) = scan(&prometheus.url, &["--range", "24h", "--no-stacks"]);
    assert_eq!(rising(&doc), vec!["127.0.0.1:1".to_string()], "{doc:#}");
}

#[test]
fn scan_says_what_is_wrong_with_prometheus() {
    // Down.
    let down = format!("http://127.0.0.1:{}", prometheus::free_port());
    let out = goleash()
        .args(["scan", "--prometheus", &down])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach Prometheus"), "{stderr}");

    // Slow: it takes the connection and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let began = Instant::now();
    let out = goleash()
        .args(["scan", "--prometheus", &silent_url, "--timeout", "1s"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Prometheus did not answer"), "{stderr}");
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "the timeout was not kept"
    );
    drop(silent);

    let prometheus = Prometheus::start("none", &[], "15s", None);
    let cases: [(&[&str], &str); 4] = [
        (&["--match", "no_such_metric"], "matches no series"),
        (
            &["--match", "go_goroutines{"],
            "Prometheus refused the query (HTTP 400, bad_data)",
        ),
        (&["--match", " "], "the selector is empty"),
        (&["--pprof", "http://{instance/x"], "does not close"),
    ];
    for (args, message) in cases {
        let out = goleash()
            .args(["scan", "--prometheus", &prometheus.url])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }

    // Not Prometheus at all: a Go service's pprof port.
    let service = watchsvc(&[]);
    let out = goleash()
        .args(["scan", "--prometheus", &format!("http://{}", service.addr)])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("did not answer as the Prometheus API does"),
        "{stderr}"
    );
}

/// Every `goleash_…` metric name in `text`.
fn metric_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("goleash_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The `expr` of every rule of docs/alerts.yml.
fn alert_expressions() -> Vec<String> {
    let text = std::fs::read_to_string(workspace().join("docs/alerts.yml")).unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("alerts.yml is YAML");
    let groups = docs[0]["groups"].as_vec().expect("rule groups");
    groups
        .iter()
        .flat_map(|g| g["rules"].as_vec().expect("rules").iter())
        .map(|r| r["expr"].as_str().expect("an expr").to_string())
        .collect()
}

/// The `expr` of every query of docs/grafana-dashboard.json.
fn dashboard_expressions() -> Vec<String> {
    let text = std::fs::read_to_string(workspace().join("docs/grafana-dashboard.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert!(dashboard["title"].is_string() && dashboard["uid"].is_string());
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(!panels.is_empty());
    panels
        .iter()
        .flat_map(|p| {
            assert!(p["gridPos"]["w"].is_u64() && p["type"].is_string(), "{p:#}");
            p["targets"]
                .as_array()
                .expect("a panel with queries")
                .iter()
        })
        .map(|t| t["expr"].as_str().expect("a PromQL query").to_string())
        .collect()
}

#[test]
fn the_alerting_rules_pass_their_promtool_tests() {
    let out = std::process::Command::new(prometheus::binary("promtool"))
        .args(["test", "rules", "alerts_test.yml"])
        .current_dir(workspace().join("docs"))
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool test rules failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn watch_serves_its_verdicts_to_prometheus_and_its_rules() {
    let leaky = watchsvc(&["-load", "steady", "-rps", "20", "-leak-every", "10"]);
    let healthy = watchsvc(&["-load", "bursty"]);
    let listen = format!("127.0.0.1:{}", prometheus::free_port());
    let dir = scratch("listen");
    std::fs::create_dir_all(&dir).unwrap();
    let urls = [
        format!("http://{}", leaky.addr),
        format!("http://{}", healthy.addr),
    ];
    let watch = Watch::start(
        &dir.join("watch.db"),
        &[
            &WATCH_COMPRESSED[..],
            &["--duration", "90s", "--listen", &listen, &urls[0], &urls[1]],
        ]
        .concat(),
    );
    let prometheus = Prometheus::start_with_rules(
        "goleash",
        &[&listen],
        "1s",
        None,
        Some(&workspace().join("docs/alerts.yml")),
    );
    let addr = prometheus.url.trim_start_matches("http://").to_string();
    let query = |q: &str| -> Value {
        let path = format!("/api/v1/query?query={}", encode(q));
        let doc: Value =
            serde_json::from_str(&crate::support::http::get(&addr, &path).text()).unwrap();
        assert_eq!(doc["status"], "success", "{q}: {doc:#}");
        doc["data"]["result"].clone()
    };

    // Prometheus scrapes the leak site the watch found.
    let leaky_target = format!("http://{}/debug/pprof", leaky.addr);
    let deadline = Instant::now() + Duration::from_secs(80);
    let site = loop {
        let result = query(r#"goleash_leak_goroutines{verdict="leak"}"#);
        if let Some(series) = result.as_array().and_then(|r| r.first()) {
            break series["metric"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no leak reached Prometheus; watch stderr:\n{}",
            watch.stderr()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(site["target"], leaky_target.as_str());
    assert_eq!(site["function"], "main.search.func1");
    assert_eq!(site["line"], watchsvc_line("// LEAK:").to_string());
    assert!(
        site["file"]
            .as_str()
            .unwrap()
            .ends_with("watch/watchsvc/main.go")
    );
    let leaking = query(r#"goleash_target_verdict{verdict="leak"} == 1"#);
    let leaking: Vec<&str> = leaking
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metric"]["target"].as_str().unwrap())
        .collect();
    assert_eq!(leaking, vec![leaky_target.as_str()]);
    let healthy_target = format!("http://{}/debug/pprof", healthy.addr);
    let none = query(&format!(
        r#"goleash_target_verdict{{verdict="none",target="{healthy_target}"}}"#
    ));
    assert_eq!(none[0]["value"][1], "1", "{none:#}");
    assert!(
        query("goleash_samples_total")[0]["value"][1]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
            > 0.0
    );

    // The rules load and evaluate, and the leak alert is on its way.
    let rules: Value =
        serde_json::from_str(&crate::support::http::get(&addr, "/api/v1/rules").text()).unwrap();
    let loaded: Vec<&Value> = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    assert_eq!(loaded.len(), alert_expressions().len());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let alerts: Value =
            serde_json::from_str(&crate::support::http::get(&addr, "/api/v1/alerts").text())
                .unwrap();
        let pending = alerts["data"]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| {
                a["labels"]["alertname"] == "GoroutineLeak"
                    && a["labels"]["target"] == leaky_target.as_str()
            });
        if pending {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "GoroutineLeak is not pending: {alerts:#}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let rules: Value =
        serde_json::from_str(&crate::support::http::get(&addr, "/api/v1/rules").text()).unwrap();
    for rule in rules["data"]["groups"][0]["rules"].as_array().unwrap() {
        assert_eq!(rule["health"], "ok", "{rule:#}");
    }

    // The rules and the dashboard use only metrics goleash serves, and Prometheus takes
    // every dashboard query.
    let served = crate::support::http::get(&listen, "/metrics").text();
    let served_names = metric_names(&served);
    for expr in alert_expressions().iter().chain(&dashboard_expressions()) {
        for name in metric_names(expr) {
            assert!(
                served_names.contains(&name),
                "{name} (in {expr}) is not served:\n{served}"
            );
        }
    }
    for expr in dashboard_expressions() {
        query(&expr);
    }
    assert_eq!(crate::support::http::get(&listen, "/other").status, 404);
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
