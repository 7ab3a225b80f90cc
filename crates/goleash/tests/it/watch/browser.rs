//! `goleash demo` end to end, and its HTML report in a real browser: Debian's Chromium,
//! headless (installed by `.ci/run`; `GOLEASH_CHROMIUM` names another binary).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::{goleash, workdir};

fn chromium() -> PathBuf {
    let path = std::env::var_os("GOLEASH_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.is_file(),
        "no Chromium at {}: `apt-get install chromium` (scripts/test.sh does), or point GOLEASH_CHROMIUM at one",
        path.display()
    );
    path
}

/// Runs headless Chromium on a local file with the flags that work on these machines (no
/// network, no sandbox as root, a throwaway profile).
fn chromium_on(page: &Path, profile: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium")
}

/// The values of every `attr="…"` of the elements whose start tag contains `needle`.
fn attributes<'a>(dom: &'a str, needle: &str, attr: &str) -> Vec<&'a str> {
    dom.split('<')
        .filter(|tag| tag.contains(needle))
        .filter_map(|tag| {
            let start = tag.find(&format!("{attr}=\""))? + attr.len() + 2;
            let end = tag[start..].find('"')? + start;
            Some(&tag[start..end])
        })
        .collect()
}

#[test]
fn the_demo_finds_its_leak_and_its_report_renders_with_data_in_chromium() {
    let dir = workdir("demo");
    let output = goleash()
        .current_dir(&dir)
        .args(["demo", "--duration", "50s"])
        .output()
        .expect("run goleash demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("THIS IS A SIMULATION"), "{stdout}");
    assert!(stdout.contains("This was a simulation"), "{stdout}");
    assert!(stdout.contains("trend windows compressed"), "{stdout}");
    assert!(
        stdout.contains(
            "Verdict: LEAK in main.search.func1 (goleashfixtures/watch/watchsvc/main.go:"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("results <- backend(slow)"),
        "the leak's line of code: {stdout}"
    );
    assert!(stdout.contains("fix:"), "{stdout}");
    let page = dir.join("goleash-demo.html");
    let html = std::fs::read_to_string(&page).expect("the demo wrote its report");
    // Self-contained: no script, nothing to fetch.
    assert!(!html.contains("<script"), "the report has a script");
    for attr in ["src", "href"] {
        for value in attributes(&html, "", attr) {
            assert!(
                value.starts_with('#'),
                "the report links out: {attr}={value}"
            );
        }
    }

    let report = goleash()
        .current_dir(&dir)
        .args(["report", "--db", "goleash-demo.db", "--format", "json"])
        .output()
        .expect("run goleash report");
    let report: Value = serde_json::from_slice(&report.stdout).expect("the report is JSON");
    let target = &report["targets"][0];
    let samples = target["samples"].as_array().unwrap().len();
    // How many samples fit in the demo's run depends on how busy the machine is; the chart
    // checks below need a series, and match it point for point whatever its length.
    assert!(samples > 10, "{samples} samples");

    let profile = workdir("chromium-profile");
    let dumped = chromium_on(&page, &profile, &["--dump-dom"]);
    assert!(
        dumped.status.success(),
        "{}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    let dom = String::from_utf8_lossy(&dumped.stdout);
    assert!(
        dom.contains("goleash report"),
        "Chromium rendered something else"
    );
    // The count chart: one line per process, one point per sample.
    let total_chart = dom
        .split("<figure class=\"total\">")
        .nth(1)
        .and_then(|rest| rest.split("</figure>").next())
        .expect("the count chart is in the page");
    let points: usize = attributes(total_chart, "class=\"series\"", "points")
        .iter()
        .map(|p| p.split_whitespace().count())
        .sum();
    assert_eq!(points, samples, "every sample is a point of the chart");
    let coordinates: Vec<f64> = attributes(total_chart, "class=\"series\"", "points")
        .iter()
        .flat_map(|p| p.split([' ', ',']))
        .map(|v| v.parse::<f64>().expect("a coordinate"))
        .collect();
    assert!(
        coordinates
            .iter()
            .all(|c| c.is_finite() && *c >= 0.0 && *c <= 944.0)
    );
    // The leak's own chart: a line that rises.
    let leak_card = dom
        .split("<div class=\"group leak\"")
        .nth(1)
        .expect("the leaking stack has its card");
    let leak_points = attributes(leak_card, "class=\"series\"", "points")[0];
    let ys: Vec<f64> = leak_points
        .split_whitespace()
        .map(|p| p.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(ys.len() > 10);
    // SVG y grows downwards: the last point is higher on the chart than the first.
    assert!(
        ys.last() < ys.first(),
        "the leak's chart does not rise: {ys:?}"
    );
    assert!(leak_card.contains("main.search.func1"));

    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("goleash-demo-report.png");
    let _ = std::fs::remove_file(&screenshot);
    let shot = chromium_on(
        &page,
        &profile,
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=1100,1600",
        ],
    );
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let png = std::fs::read(&screenshot).expect("Chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG"));
    assert!(
        png.len() > 30_000,
        "a nearly empty screenshot: {} bytes",
        png.len()
    );
    eprintln!("screenshot of the report: {}", screenshot.display());
}
