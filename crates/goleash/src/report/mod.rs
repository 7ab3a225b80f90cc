//! The report of a watch history: everything a database holds, judged again with the
//! settings of its latest session, as one document that the text, JSON and HTML renderers
//! all draw from. Nothing in it depends on the clock of the machine that renders it.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use anyhow::Result;
use goleash_core::classify::{self, AssessOptions, Growth, SourceLookup, Verdict};
use goleash_core::diff;
use goleash_core::trend::{self, Recovery, Sample, TrendOptions};
use goleash_core::{Capture, ReadOptions};

use crate::history::AlertVerdict;
use crate::render::json::{CreatorJson, FrameJson, SCHEMA_VERSION, SiteJson};
use crate::render::style::Style;
use crate::render::text::thousands;
use crate::render::watch_json::{
    AlertRowJson, DiffRowJson, GroupReportJson, PhaseJson, ProcessJson, ReportDoc, SettingsJson,
    SnapshotDiffJson, StoredDumpJson, TargetReportJson, TrendJson,
};
use crate::store::{DumpRow, GroupRow, SampleRow, Store};
use crate::watch::judge::{Status, judge};
use crate::watch::view::{compression_note, duration_text};

/// Rows of the snapshot diff kept: the stacks that changed most.
const DIFF_ROWS: usize = 30;

/// The trend options a session ran with.
pub fn trend_options(settings: Option<&SettingsJson>) -> TrendOptions {
    let mut trend = TrendOptions::default();
    if let Some(s) = settings {
        trend.warmup_secs = s.warmup_secs;
        trend.min_windows = s.min_windows;
        trend.min_rise = s.min_rise;
        if s.cooldown_secs != trend.cooldown_secs {
            trend.cooldown_secs = s.cooldown_secs;
            trend.baseline_secs = s.cooldown_secs / 5.0;
        }
    }
    trend
}

/// Reads the whole history; `only` keeps the targets whose URL contains it.
pub fn build(
    store: &Store,
    db: &str,
    only: Option<&str>,
    source: &dyn SourceLookup,
) -> Result<ReportDoc> {
    let sessions = store.sessions()?;
    let settings: Option<SettingsJson> = sessions
        .iter()
        .rev()
        .find_map(|s| serde_json::from_str(&s.settings).ok());
    let trend = trend_options(settings.as_ref());
    let mut targets = Vec::new();
    for target in store.targets()? {
        if only.is_some_and(|o| !target.url.contains(o)) {
            continue;
        }
        targets.push(target_report(
            store,
            target.id,
            &target.url,
            &trend,
            source,
        )?);
    }
    let times = targets.iter().flat_map(|t| t.samples.iter().map(|s| s.0));
    let from = times.clone().reduce(f64::min);
    let to = times.reduce(f64::max);
    Ok(ReportDoc {
        schema_version: SCHEMA_VERSION,
        db: db.to_string(),
        simulated: sessions.iter().any(|s| s.simulated),
        settings,
        from,
        to,
        targets,
    })
}

fn trend_json(status: &Status) -> TrendJson {
    TrendJson {
        status: status.name(),
        slope_per_minute: status.slope_per_minute(),
        p_value: status.p_value(),
    }
}

fn target_report(
    store: &Store,
    id: i64,
    url: &str,
    trend: &TrendOptions,
    source: &dyn SourceLookup,
) -> Result<TargetReportJson> {
    let samples = store.samples(id)?;
    let processes = store.processes(id)?;
    let groups = store.groups_of(id)?;
    let counts = store.group_counts(id)?;
    let dumps = store.dumps(id)?;
    let alerts = store.alerts(id)?;
    let latest_process = processes.last().map(|p| p.id);

    let total_points: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| Some(s.process) == latest_process)
        .map(|s| (s.t, s.goroutines as f64))
        .collect();
    let total = judge(&total_points, trend);
    let phases = phases(&samples, trend);

    let alerted: Vec<String> = alerts
        .iter()
        .filter_map(|a| a.alert.signature.map(|s| s.to_string()))
        .collect();
    let mut group_reports = group_reports(&samples, &groups, &counts, latest_process, trend);
    for (_, g) in &mut group_reports {
        g.alerted = alerted.contains(&g.signature);
    }
    group_reports.sort_by(|(a_verdict, a), (b_verdict, b)| {
        let rank = |g: &GroupReportJson, verdict: Verdict| {
            (
                !(g.alerted || g.trend.status == "rising"),
                severity(verdict),
            )
        };
        rank(a, *a_verdict)
            .cmp(&rank(b, *b_verdict))
            .then(b.count_last.cmp(&a.count_last))
            .then(a.signature.cmp(&b.signature))
    });

    let alerted_as = |verdict: AlertVerdict| alerts.iter().any(|a| a.alert.verdict == verdict);
    let verdict = if samples.is_empty() {
        "no data"
    } else if alerted_as(AlertVerdict::Group(Verdict::Leak)) {
        "leak"
    } else if alerted_as(AlertVerdict::Group(Verdict::Suspect)) {
        "suspect"
    } else if alerted_as(AlertVerdict::Rising) || total.rising() {
        "rising"
    } else {
        "ok"
    };
    Ok(TargetReportJson {
        target: url.to_string(),
        verdict,
        goroutines: samples.last().map(|s| s.goroutines),
        samples: samples
            .iter()
            .map(|s| (s.t, s.goroutines, s.process))
            .collect(),
        processes: processes
            .iter()
            .map(|p| ProcessJson {
                id: p.id,
                seen: p.seen,
                start_time: p.start_time,
                reason: p.reason.clone(),
            })
            .collect(),
        phases,
        trend: trend_json(&total),
        groups: group_reports.into_iter().map(|(_, g)| g).collect(),
        alerts: alerts
            .iter()
            .map(|a| AlertRowJson {
                t: a.t,
                process: a.process,
                signature: a.alert.signature.map(|s| s.to_string()),
                verdict: a.alert.verdict.name().to_string(),
                why: a.alert.why.clone(),
                slope_per_minute: a.alert.slope_per_minute,
                p_value: a.alert.p_value,
                count_before: a.alert.count_before,
                count_after: a.alert.count_after,
            })
            .collect(),
        dumps: dumps
            .iter()
            .map(|d| StoredDumpJson {
                id: d.id,
                t: d.t,
                profile: d.profile.name().to_string(),
                debug: d.debug,
                role: d.role.name().to_string(),
                reason: d.reason.clone(),
                bytes: d.size,
            })
            .collect(),
        diff: snapshot_diff(store, &dumps, &processes, source)?,
    })
}

/// Most severe first.
fn severity(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Leak => 0,
        Verdict::Suspect => 1,
        Verdict::Lingering => 2,
        Verdict::Expected => 3,
    }
}

fn phases(samples: &[SampleRow], trend: &TrendOptions) -> Vec<PhaseJson> {
    let series: Vec<Sample> = samples
        .iter()
        .map(|s| Sample::with_process(s.t, s.goroutines as f64, s.process as u64))
        .collect();
    let Ok(outcomes) = trend::recovery(&series, None, trend) else {
        return Vec::new();
    };
    outcomes
        .iter()
        .map(|o| {
            let (outcome, after_secs, retained) = match o.recovery {
                Recovery::Unaffected => ("unaffected", None, None),
                Recovery::Recovered { after_secs } => ("recovered", Some(after_secs), None),
                Recovery::Stuck { retained } => ("stuck", None, Some(retained)),
                Recovery::Pending => ("pending", None, None),
                Recovery::Interrupted => ("interrupted", None, None),
                Recovery::Restarted => ("restarted", None, None),
                Recovery::NoBaseline => ("no baseline", None, None),
            };
            PhaseJson {
                start: o.phase.start,
                end: o.phase.end,
                baseline: o.baseline,
                peak: o.peak,
                outcome,
                after_secs,
                retained,
            }
        })
        .collect()
}

/// The report of each stack with counts, with its verdict to rank it by.
fn group_reports(
    samples: &[SampleRow],
    groups: &[GroupRow],
    counts: &[(i64, i64, u64)],
    latest_process: Option<i64>,
    trend: &TrendOptions,
) -> Vec<(Verdict, GroupReportJson)> {
    let sample_of: HashMap<i64, &SampleRow> = samples.iter().map(|s| (s.id, s)).collect();
    // The samples that carry per-stack counts, in time order.
    let mut profiles: Vec<&SampleRow> = {
        let mut ids: Vec<i64> = counts.iter().map(|c| c.0).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.iter()
            .filter_map(|id| sample_of.get(id).copied())
            .collect()
    };
    profiles.sort_by(|a, b| a.t.total_cmp(&b.t).then(a.id.cmp(&b.id)));
    let position: HashMap<i64, usize> = profiles
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id, i))
        .collect();
    let mut series: BTreeMap<i64, Vec<u64>> = BTreeMap::new();
    for &(sample, group, count) in counts {
        if let Some(&i) = position.get(&sample) {
            series
                .entry(group)
                .or_insert_with(|| vec![0; profiles.len()])[i] = count;
        }
    }
    groups
        .iter()
        .filter_map(|g| {
            let values = series.get(&g.id)?;
            let latest: Vec<(f64, f64)> = profiles
                .iter()
                .zip(values)
                .filter(|(s, _)| Some(s.process) == latest_process)
                .map(|(s, &v)| (s.t, v as f64))
                .collect();
            let (low, high) = latest.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), p| {
                (lo.min(p.1), hi.max(p.1))
            });
            let status = if high - low >= trend.min_rise {
                judge(&latest, trend)
            } else {
                Status::Empty
            };
            let meta = &g.meta;
            let report = GroupReportJson {
                signature: meta.signature.to_string(),
                verdict: meta.verdict.name().to_string(),
                why: meta.why.clone(),
                blocking: meta.blocking.name().to_string(),
                leak_site: meta.site.as_ref().map(SiteJson::from),
                pattern: meta.pattern.clone(),
                hint: meta.hint.clone(),
                frames: meta.frames.iter().map(FrameJson::from).collect(),
                created_by: meta.created_by.as_ref().map(CreatorJson::from),
                first_seen: g.first_seen,
                count_first: latest.first().map_or(0, |p| p.1 as u64),
                count_last: latest.last().map_or(0, |p| p.1 as u64),
                count_max: values.iter().copied().max().unwrap_or(0),
                trend: trend_json(&status),
                alerted: false,
                series: profiles
                    .iter()
                    .zip(values)
                    .map(|(s, &v)| (s.t, v))
                    .collect(),
            };
            Some((meta.verdict, report))
        })
        .collect()
}

fn read_dump(store: &Store, dump: &DumpRow) -> Result<Capture> {
    let body = store.dump_body(dump.id)?;
    Ok(goleash_core::read(
        &body[..],
        &ReadOptions::default(),
        None,
    )?)
}

fn snapshot_diff(
    store: &Store,
    dumps: &[DumpRow],
    processes: &[crate::store::ProcessRow],
    source: &dyn SourceLookup,
) -> Result<Option<SnapshotDiffJson>> {
    let (Some(first), Some(last)) = (dumps.first(), dumps.last()) else {
        return Ok(None);
    };
    if first.id == last.id {
        return Ok(None);
    }
    let (before, after) = (read_dump(store, first)?, read_dump(store, last)?);
    let (Some(b), Some(a)) = (before.snapshots.last(), after.snapshots.last()) else {
        return Ok(None);
    };
    let rows = diff::diff((&before.tables, b), (&after.tables, a));
    let options = AssessOptions::default();
    let mut out: Vec<DiffRowJson> = rows
        .iter()
        .filter(|r| r.delta() != 0)
        .map(|row| {
            let (capture, snapshot, index) = match row.after.first() {
                Some(&i) => (&after, a, i),
                None => (&before, b, row.before[0]),
            };
            let group = &snapshot.groups[index];
            let assessment = classify::assess(
                &capture.tables,
                snapshot,
                group,
                Some(Growth {
                    before: row.count_before,
                    after: row.count_after,
                }),
                &options,
                source,
            );
            let tables = &capture.tables;
            let function = assessment
                .leak_site
                .map(|f| tables.str(tables.get_frame(f).function).into_owned())
                .unwrap_or_else(|| assessment.blocking.name().to_string());
            DiffRowJson {
                signature: row.signature.to_string(),
                function,
                count_before: row.count_before,
                count_after: row.count_after,
                delta: row.delta(),
                change: match (row.count_before, row.count_after) {
                    (0, _) => "new",
                    (_, 0) => "gone",
                    (b, a) if a > b => "grew",
                    _ => "shrank",
                },
                verdict: assessment.verdict.name(),
                why: assessment.why,
            }
        })
        .collect();
    out.sort_by(|x, y| {
        y.delta
            .abs()
            .cmp(&x.delta.abs())
            .then(y.delta.cmp(&x.delta))
            .then(x.signature.cmp(&y.signature))
    });
    out.truncate(DIFF_ROWS);
    Ok(Some(SnapshotDiffJson {
        before: first.id,
        after: last.id,
        goroutines_before: b.total,
        goroutines_after: a.total,
        restarts_between: processes
            .iter()
            .filter(|p| p.seen > first.t && p.seen <= last.t)
            .count(),
        rows: out,
    }))
}

/// `… UTC to … UTC (2 h 5 min)`: the time the history covers; `None` before any sample.
pub fn history_span(doc: &ReportDoc) -> Option<String> {
    let (from, to) = (doc.from?, doc.to?);
    Some(format!(
        "{} to {} ({})",
        utc(from),
        utc(to),
        duration_text(to - from)
    ))
}

/// `2026-11-27 14:03:05 UTC` from unix seconds.
pub fn utc(t: f64) -> String {
    let secs = t.floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The report as text.
pub fn write_text(out: &mut dyn Write, doc: &ReportDoc, style: &Style) -> io::Result<()> {
    let span = history_span(doc).unwrap_or_else(|| "no samples".into());
    writeln!(
        out,
        "{}",
        style.bold(&format!("goleash report of {}: {span}", doc.db))
    )?;
    if doc.simulated {
        writeln!(
            out,
            "  {}",
            style.yellow("recorded by `goleash demo`: the targets were simulated")
        )?;
    }
    if let Some(note) = doc.settings.as_ref().and_then(compression_note) {
        writeln!(out, "  {}", style.yellow(&note))?;
    }
    for target in &doc.targets {
        writeln!(out)?;
        let trend = match (target.trend.slope_per_minute, target.trend.p_value) {
            (Some(slope), Some(p)) => {
                format!("{} {slope:+.1}/min, p = {p:.1e}", target.trend.status)
            }
            (Some(slope), None) => {
                format!(
                    "{} ({slope:+.1}/min, within the noise)",
                    target.trend.status
                )
            }
            _ => target.trend.status.to_string(),
        };
        let verdict = match target.verdict {
            "leak" => style.red("LEAK"),
            "suspect" | "rising" => style.yellow(target.verdict),
            other => other.to_string(),
        };
        writeln!(
            out,
            "{} {verdict}: {} goroutines ({trend}) · {} samples · {}",
            style.bold(&target.target),
            target.goroutines.map_or("?".into(), thousands),
            thousands(target.samples.len() as u64),
            match target.processes.len() {
                1 => "1 process".to_string(),
                n => format!("{n} processes"),
            }
        )?;
        for p in target.processes.iter().skip(1) {
            writeln!(out, "  restart at {}: {}", utc(p.seen), p.reason)?;
        }
        let stuck = target
            .phases
            .iter()
            .filter(|p| p.outcome == "stuck")
            .count();
        let recovered = target
            .phases
            .iter()
            .filter(|p| p.outcome == "recovered")
            .count();
        if !target.phases.is_empty() {
            writeln!(
                out,
                "  {} load phases: {recovered} came back down, {stuck} stayed up",
                target.phases.len()
            )?;
        }
        for group in target
            .groups
            .iter()
            .filter(|g| g.alerted || g.trend.status == "rising")
        {
            let site = group
                .leak_site
                .as_ref()
                .map_or(group.blocking.clone(), |s| {
                    let file = s.file.rsplit('/').next().unwrap_or(&s.file);
                    format!("{} {file}:{}", s.function, s.line)
                });
            let label = match group.verdict.as_str() {
                "leak" => style.red("LEAK     "),
                v => style.yellow(&format!("{v:<9}")),
            };
            writeln!(
                out,
                "  {label}{} → {}  {}  {}",
                thousands(group.count_first),
                thousands(group.count_last),
                group.blocking,
                style.cyan(&site)
            )?;
            writeln!(out, "           {}", style.dim(&group.why))?;
            if let Some(hint) = &group.hint {
                writeln!(out, "           {} {hint}", style.bold("fix:"))?;
            }
        }
        if let Some(diff) = &target.diff {
            writeln!(
                out,
                "  first → last snapshot kept: {} → {} goroutines{}",
                thousands(diff.goroutines_before),
                thousands(diff.goroutines_after),
                match diff.restarts_between {
                    0 => String::new(),
                    1 => " (a restart between)".to_string(),
                    n => format!(" ({n} restarts between)"),
                }
            )?;
            for row in diff.rows.iter().take(5) {
                writeln!(
                    out,
                    "    {:>+7}  {:<9} {}",
                    row.delta, row.verdict, row.function
                )?;
            }
        }
        let evidence = target.dumps.iter().filter(|d| d.role == "evidence").count();
        if evidence > 0 {
            let dumps = if evidence == 1 { "dump" } else { "dumps" };
            writeln!(out, "  {evidence} {dumps} kept as evidence")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod dates {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0.0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000.0), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_782_400.0), "2000-02-29 00:00:00 UTC");
    }
}

#[cfg(test)]
mod tests;
