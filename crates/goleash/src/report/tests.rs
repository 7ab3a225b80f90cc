//! Snapshots of the report of a fixed history: the same database always gives the same
//! bytes, whatever the clock says. The history is made of real profiles (the Go 1.27
//! capture the demo replays) with counts chosen here: one process with a slow leak under
//! bursts, a restart, and a stack whose names try to break out of the HTML.

use std::collections::HashMap;

use goleash_core::classify::{self, AssessOptions, Blocking, Growth, NoSource, Verdict};
use goleash_core::{ReadOptions, Signature};

use super::*;
use crate::demo::replay::{DumpTemplate, ProfileTemplate};
use crate::doc::report::TargetVerdict;
use crate::history::{
    AlertRecord, AlertVerdict, DumpRecord, DumpRole, Frame, GroupInfo, GroupMeta, Profile,
    SampleSource, Settings, Site, VerdictUpdate,
};
use crate::render::html;
use crate::render::style::{ColorChoice, Style};
use crate::render::text;
use crate::store::{ProcessRef, SampleWrite};

const PROFILE: &[u8] =
    include_bytes!("../../../../tests/data/go1.27/watchsvc/goroutine_debug0.pb.gz");
const DUMP: &str = include_str!("../../../../tests/data/go1.27/watchsvc/goroutineleak_debug2.txt");
const T0: f64 = 1_800_000_000.0;
const TARGET: &str = "http://127.0.0.1:6060/debug/pprof";

/// The stacks of the capture by the function of their leak site.
fn stacks(template: &ProfileTemplate) -> (HashMap<String, Signature>, Vec<GroupMeta>) {
    let ones: HashMap<Signature, u64> = template.signatures().map(|s| (s, 1)).collect();
    let body = template.render(&ones, 0);
    let capture = goleash_core::read(&body[..], &ReadOptions::default(), None).unwrap();
    let snapshot = &capture.snapshots[0];
    let mut by_site = HashMap::new();
    let mut metas = Vec::new();
    for group in &snapshot.groups {
        let assessment = classify::assess(
            &capture.tables,
            snapshot,
            group,
            None,
            &AssessOptions::default(),
            &NoSource,
        );
        let info = GroupInfo::of(&capture.tables, &assessment);
        if let Some(site) = &info.site {
            by_site.insert(site.function.clone(), group.signature);
        }
        metas.push(GroupMeta::of(&capture.tables, group, &info));
    }
    (by_site, metas)
}

/// A stack whose every name tries to break out of the page.
fn hostile() -> GroupMeta {
    let function = r#"main.(*T).<script>alert("x")</script>"#;
    let file = "/src/<b>evil</b>.go";
    GroupMeta {
        signature: Signature(0xbad),
        blocking: Blocking::ChanReceive,
        site: Some(Site {
            function: function.into(),
            file: file.into(),
            line: 7,
            source: None,
        }),
        frames: vec![Frame {
            function: function.into(),
            file: file.into(),
            line: 7,
            offset: None,
            inlined: false,
        }],
        created_by: None,
        verdict: Verdict::Suspect,
        why: "blocked in <chan receive> & more".into(),
        pattern: None,
        hint: Some("<img src=x onerror=alert(1)>".into()),
    }
}

fn history() -> std::path::PathBuf {
    history_with(0, 158, Some(122))
}

/// The history, with the first and the last profile dump kept at steps `first` and `last`
/// (even: profiles are sampled every other step), and the process restarting at step
/// `restart` (which keeps a dump too).
fn history_with(first: usize, last: usize, restart: Option<usize>) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("goleash-report-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("history.db");
    let template = ProfileTemplate::parse(PROFILE).unwrap();
    let dump = DumpTemplate::parse(DUMP).unwrap();
    let (by_site, mut metas) = stacks(&template);
    metas.push(hostile());
    let leak = by_site["main.search.func1"];
    let burst = by_site["main.worker"];
    let settings = Settings {
        interval_secs: 0.5,
        warmup_secs: 2.0,
        cooldown_secs: 3.0,
        min_windows: 6,
        min_rise: 5.0,
        compressed: true,
    };
    let mut store = Store::open_for_writing(&path).unwrap();
    let session = store.begin_session(T0, &settings, false).unwrap();
    let target = store.target(TARGET, T0).unwrap();
    let healthy = store
        .target("http://127.0.0.1:6061/debug/pprof", T0)
        .unwrap();
    let counts_at = |t: f64, since: f64| -> HashMap<Signature, u64> {
        let mut counts: HashMap<Signature, u64> = template.signatures().map(|s| (s, 1)).collect();
        counts.insert(leak, (2.0 * (t - since)).floor() as u64);
        counts.insert(burst, if t.rem_euclid(5.0) < 1.5 { 40 } else { 0 });
        counts.insert(Signature(0xbad), u64::from(t < 10.0));
        counts
    };
    let mut process = ProcessRef::New {
        reason: "first seen".into(),
        start_time: Some(T0 - 100.0),
    };
    let mut healthy_process = process.clone();
    let mut step = 0;
    let mut since = 0.0;
    let mut described = false;
    while step < 160 {
        let t = step as f64 * 0.5;
        if Some(step) == restart {
            process = ProcessRef::New {
                reason: "process_start_time_seconds changed".into(),
                start_time: Some(T0 + 60.5),
            };
            since = t;
        }
        let counts = counts_at(t, since);
        let total: u64 = counts.values().sum();
        let profile = step % 2 == 0;
        let sorted: Vec<(Signature, u64)> = {
            let mut v: Vec<(Signature, u64)> = counts
                .iter()
                .filter(|c| *c.1 > 0)
                .map(|(s, c)| (*s, *c))
                .collect();
            v.sort();
            v
        };
        let mut dumps = Vec::new();
        if profile && (step == first || Some(step) == restart || step == last) {
            dumps.push(DumpRecord {
                profile: Profile::Goroutine,
                debug: 0,
                role: if step == last {
                    DumpRole::Latest
                } else {
                    DumpRole::First
                },
                reason: "a profile".into(),
                body: template.render(&counts, 0),
            });
        }
        if step == 60 {
            dumps.push(DumpRecord {
                profile: Profile::GoroutineLeak,
                debug: 2,
                role: DumpRole::Evidence,
                reason: "main.search.func1 main.go:126 grew from 4 to 50".into(),
                body: dump.render(&counts, true).into_bytes(),
            });
        }
        let mut alerts = Vec::new();
        let mut verdicts = Vec::new();
        if step == 50 {
            alerts.push(AlertRecord {
                signature: None,
                verdict: AlertVerdict::Rising,
                why: "the goroutine count rises by 120.0 a minute".into(),
                slope_per_minute: Some(120.0),
                p_value: Some(0.0043),
                count_before: Some(12),
                count_after: Some(48),
            });
            alerts.push(AlertRecord {
                signature: Some(leak),
                verdict: AlertVerdict::Group(Verdict::Leak),
                why: "grew from 4 to 46 while blocked in chan send".into(),
                slope_per_minute: Some(119.5),
                p_value: Some(0.0043),
                count_before: Some(4),
                count_after: Some(46),
            });
            alerts.push(AlertRecord {
                signature: Some(Signature(0xbad)),
                verdict: AlertVerdict::Group(Verdict::Suspect),
                why: "blocked in <chan receive> & more".into(),
                slope_per_minute: None,
                p_value: None,
                count_before: Some(0),
                count_after: Some(1),
            });
            let growth = Growth {
                before: 4,
                after: 46,
            };
            let meta = metas.iter().find(|m| m.signature == leak).unwrap();
            verdicts.push(VerdictUpdate {
                signature: leak,
                verdict: Verdict::Leak,
                why: format!(
                    "grew from {} to {} while blocked in {}",
                    growth.before,
                    growth.after,
                    meta.blocking.name()
                ),
                pattern: meta.pattern.clone(),
                hint: Some("Make the channel buffered with room for the result.".into()),
            });
        }
        let written = store
            .write(&SampleWrite {
                target,
                session,
                process: process.clone(),
                t: T0 + t,
                goroutines: total,
                source: if profile {
                    SampleSource::Profile
                } else {
                    SampleSource::Metrics
                },
                cost_ms: Some(1.0),
                new_groups: if profile && !described { &metas } else { &[] },
                counts: if profile { &sorted } else { &[] },
                verdicts: &verdicts,
                dumps: &dumps,
                alerts: &alerts,
            })
            .unwrap();
        described |= profile;
        process = ProcessRef::Known(written.process);
        if step % 4 == 0 {
            let written = store
                .write(&SampleWrite {
                    target: healthy,
                    session,
                    process: healthy_process.clone(),
                    t: T0 + t + 0.1,
                    goroutines: 30 + (step % 3) as u64,
                    source: SampleSource::Metrics,
                    cost_ms: Some(1.0),
                    new_groups: &[],
                    counts: &[],
                    verdicts: &[],
                    dumps: &[],
                    alerts: &[],
                })
                .unwrap();
            healthy_process = ProcessRef::Known(written.process);
        }
        step += 1;
    }
    store.end_session(session, T0 + 80.0).unwrap();
    path
}

fn doc() -> ReportDoc {
    let path = history();
    let store = Store::open_existing(&path).unwrap();
    build(&store, "history.db", None, &NoSource).unwrap()
}

/// The first dump kept between two bursts, the last in the middle of one: the burst's
/// workers differ by 40 between the two, but their trend over the watch is flat, so the
/// first-to-last diff does not call them a leak; the slow leak the trend alerted on stays one.
#[test]
fn the_snapshot_diff_judges_stacks_by_their_trend() {
    let (first, last) = (4, 150);
    let burst = |step: usize| (step as f64 * 0.5).rem_euclid(5.0) < 1.5;
    assert!(!burst(first) && burst(last));
    // One process all along: the trend has the whole watch to judge.
    let path = history_with(first, last, None);
    let store = Store::open_existing(&path).unwrap();
    let doc = build(&store, "history.db", None, &NoSource).unwrap();
    let target = &doc.targets[0];
    let diff = target.diff.as_ref().expect("a diff");
    let row = |function: &str| {
        diff.rows
            .iter()
            .find(|r| r.function == function)
            .unwrap_or_else(|| panic!("no {function} in {:?}", diff.rows))
    };
    let workers = row("main.worker");
    assert_eq!((workers.count_before, workers.count_after), (0, 40));
    let report = target
        .groups
        .iter()
        .find(|g| g.signature == workers.signature)
        .unwrap();
    assert!(
        !report.trend.rising() && !report.alerted,
        "{:?}",
        report.trend
    );
    assert_eq!(workers.verdict, Verdict::Expected, "{}", workers.why);
    assert!(
        workers
            .why
            .starts_with("not growing over the watch (its trend is flat"),
        "{}",
        workers.why
    );
    // Without the trend, the same two counts make a leak.
    let (by_counts, _) = by_trend(Verdict::Leak, String::new(), &empty_group(), None);
    assert_eq!(by_counts, Verdict::Leak);
    let leak = row("main.search.func1");
    assert!(leak.delta > 0);
    assert_eq!(leak.verdict, Verdict::Leak, "{}", leak.why);

    // A restart leaves the last process too short for a trend: the growth is only suspect.
    let path = history_with(first, last, Some(122));
    let store = Store::open_existing(&path).unwrap();
    let doc = build(&store, "history.db", None, &NoSource).unwrap();
    let diff = doc.targets[0].diff.as_ref().expect("a diff");
    let workers = diff
        .rows
        .iter()
        .find(|r| r.function == "main.worker")
        .unwrap();
    assert_eq!(workers.verdict, Verdict::Suspect, "{}", workers.why);
    assert!(
        workers.why.ends_with("whether it keeps growing"),
        "{}",
        workers.why
    );
}

/// A group with nothing proven about it.
fn empty_group() -> goleash_core::Group {
    let capture = goleash_core::read(
        &b"goroutine 1 [running]:\nmain.main()\n\t/src/main.go:10 +0x1d\n"[..],
        &ReadOptions::default(),
        None,
    )
    .unwrap();
    capture.snapshots[0].groups[0].clone()
}

#[test]
fn text() {
    let mut out = Vec::new();
    text::report::write(&mut out, &doc(), &Style::for_stdout(ColorChoice::Never)).unwrap();
    insta::assert_snapshot!(String::from_utf8(out).unwrap());
}

#[test]
fn json_without_the_long_series() {
    let doc = doc();
    let target = &doc.targets[0];
    assert_eq!(target.samples.len(), 160);
    assert_eq!(target.processes.len(), 2);
    assert_eq!(target.verdict, TargetVerdict::Leak);
    let mut value = serde_json::to_value(&doc).unwrap();
    for target in value["targets"].as_array_mut().unwrap() {
        let n = target["samples"].as_array().unwrap().len();
        target["samples"] = format!("{n} samples").into();
        for group in target["groups"].as_array_mut().unwrap() {
            let n = group["series"].as_array().unwrap().len();
            group["series"] = format!("{n} points").into();
        }
    }
    insta::assert_snapshot!(serde_json::to_string_pretty(&value).unwrap());
}

#[test]
fn html() {
    let mut out = Vec::new();
    html::write(&mut out, &doc()).unwrap();
    insta::assert_snapshot!(String::from_utf8(out).unwrap());
}

#[test]
fn html_escapes_every_name_that_came_from_a_target() {
    let mut out = Vec::new();
    html::write(&mut out, &doc()).unwrap();
    let page = String::from_utf8(out).unwrap();
    assert!(!page.contains("<script"), "a script got in");
    assert!(!page.contains("<b>evil"));
    assert!(!page.contains("<img"));
    assert!(!page.contains("<chan receive>"));
    assert!(page.contains("main.(*T).&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
}

#[test]
fn the_count_chart_has_one_point_per_sample_and_a_line_per_process() {
    let mut out = Vec::new();
    html::write(&mut out, &doc()).unwrap();
    let page = String::from_utf8(out).unwrap();
    let chart = page
        .split("<figure class=\"total\">")
        .nth(1)
        .and_then(|rest| rest.split("</figure>").next())
        .unwrap();
    let lines: Vec<usize> = chart
        .split("<polyline class=\"series\"")
        .skip(1)
        .map(|l| {
            let points = l
                .split("points=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            points.split_whitespace().count()
        })
        .collect();
    assert_eq!(lines, vec![122, 38]);
    assert!(chart.contains("class=\"restart\""));
}
