//! The report of a watch history: everything a database holds, judged again with the
//! settings of its latest session, as one document that the text, JSON and HTML renderers
//! all draw from. Nothing in it depends on the clock of the machine that renders it.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use anyhow::Result;
use goleash_core::classify::{self, AssessOptions, Growth, SourceLookup, Verdict};
use goleash_core::diff;
use goleash_core::trend::{self, Sample, TrendOptions, TrendState};
use goleash_core::{Capture, ReadOptions, Signature};

use crate::doc::diff::Change;
use crate::doc::report::{
    DiffRow, GroupReport, HistoryAlert, Phase, Process, ReportDoc, SnapshotDiff, StoredDump,
    TargetReport, TargetVerdict,
};
use crate::doc::{Creator, ExitCondition, Frame, SCHEMA_VERSION, Site, watch};
use crate::history::{AlertVerdict, Settings};
use crate::store::{DumpRow, GroupRow, ProcessRow, SampleRow, Store};

/// Rows of the snapshot diff kept: the stacks that changed most.
const DIFF_ROWS: usize = 30;

/// Reads the whole history; `only` keeps the targets whose URL contains it.
pub fn build(
    store: &Store,
    db: &str,
    only: Option<&str>,
    source: &dyn SourceLookup,
) -> Result<ReportDoc> {
    let sessions = store.sessions()?;
    let settings = sessions.iter().rev().find_map(|s| s.settings.clone());
    let trend = settings
        .as_ref()
        .map_or_else(TrendOptions::default, Settings::trend);
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
        settings: settings.as_ref().map(watch::Settings::from),
        from,
        to,
        targets,
    })
}

fn target_report(
    store: &Store,
    id: i64,
    url: &str,
    trend: &TrendOptions,
    source: &dyn SourceLookup,
) -> Result<TargetReport> {
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
    let total = trend::state(&total_points, trend);
    let phases = phases(&samples, trend);

    let alerted: Vec<Signature> = alerts.iter().filter_map(|a| a.alert.signature).collect();
    let mut group_reports = group_reports(&samples, &groups, &counts, latest_process, trend);
    for g in &mut group_reports {
        g.alerted = alerted.contains(&g.signature);
    }
    let mut parsed = ParsedDumps::new(store);
    read_exit_conditions(&mut parsed, &dumps, &mut group_reports, source)?;
    // Alerted and rising stacks first, the most severe first; then the largest.
    group_reports.sort_by(|a, b| {
        let rank = |g: &GroupReport| (!(g.alerted || g.trend.rising()), g.verdict);
        rank(a)
            .cmp(&rank(b))
            .then(b.count_last.cmp(&a.count_last))
            .then(a.signature.cmp(&b.signature))
    });

    let alerted_as = |verdict: AlertVerdict| alerts.iter().any(|a| a.alert.verdict == verdict);
    let verdict = if samples.is_empty() {
        TargetVerdict::NoData
    } else if alerted_as(AlertVerdict::Group(Verdict::Leak)) {
        TargetVerdict::Leak
    } else if alerted_as(AlertVerdict::Group(Verdict::Suspect)) {
        TargetVerdict::Suspect
    } else if alerted_as(AlertVerdict::Rising) || total.rising() {
        TargetVerdict::Rising
    } else {
        TargetVerdict::Ok
    };
    let diff = snapshot_diff(&mut parsed, &dumps, &processes, &group_reports, source)?;
    Ok(TargetReport {
        target: url.to_string(),
        verdict,
        goroutines: samples.last().map(|s| s.goroutines),
        samples: samples
            .iter()
            .map(|s| (s.t, s.goroutines, s.process))
            .collect(),
        processes: processes
            .iter()
            .map(|p| Process {
                id: p.id,
                seen: p.seen,
                start_time: p.start_time,
                reason: p.reason.clone(),
            })
            .collect(),
        phases,
        trend: total,
        groups: group_reports,
        alerts: alerts
            .iter()
            .map(|a| HistoryAlert {
                t: a.t,
                process: a.process,
                signature: a.alert.signature,
                verdict: a.alert.verdict,
                why: a.alert.why.clone(),
                slope_per_minute: a.alert.slope_per_minute,
                p_value: a.alert.p_value,
                count_before: a.alert.count_before,
                count_after: a.alert.count_after,
            })
            .collect(),
        dumps: dumps
            .iter()
            .map(|d| StoredDump {
                id: d.id,
                t: d.t,
                profile: d.profile,
                debug: d.debug,
                role: d.role,
                reason: d.reason.clone(),
                bytes: d.size,
            })
            .collect(),
        diff,
    })
}

fn phases(samples: &[SampleRow], trend: &TrendOptions) -> Vec<Phase> {
    let series: Vec<Sample> = samples
        .iter()
        .map(|s| Sample::with_process(s.t, s.goroutines as f64, s.process as u64))
        .collect();
    let Ok(outcomes) = trend::recovery(&series, None, trend) else {
        return Vec::new();
    };
    outcomes
        .iter()
        .map(|o| Phase {
            start: o.phase.start,
            end: o.phase.end,
            baseline: o.baseline,
            peak: o.peak,
            outcome: o.recovery,
        })
        .collect()
}

/// The report of each stack with counts.
fn group_reports(
    samples: &[SampleRow],
    groups: &[GroupRow],
    counts: &[(i64, i64, u64)],
    latest_process: Option<i64>,
    trend: &TrendOptions,
) -> Vec<GroupReport> {
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
                trend::state(&latest, trend)
            } else {
                TrendState::Empty
            };
            let meta = &g.meta;
            Some(GroupReport {
                signature: meta.signature,
                verdict: meta.verdict,
                why: meta.why.clone(),
                blocking: meta.blocking,
                leak_site: meta.site.as_ref().map(Site::from),
                pattern: meta.pattern.clone(),
                hint: meta.hint.clone(),
                exit_conditions: None,
                source_mismatch: None,
                frames: meta.frames.iter().map(Frame::from).collect(),
                created_by: meta.created_by.as_ref().map(Creator::from),
                first_seen: g.first_seen,
                count_first: latest.first().map_or(0, |p| p.1 as u64),
                count_last: latest.last().map_or(0, |p| p.1 as u64),
                count_max: values.iter().copied().max().unwrap_or(0),
                trend: status,
                alerted: false,
                series: profiles
                    .iter()
                    .zip(values)
                    .map(|(s, &v)| (s.t, v))
                    .collect(),
            })
        })
        .collect()
}

/// Kept dumps read, latest first, to find the stacks' ways out: the history keeps the
/// verdict of each stack, not its exit conditions, and the source may be at hand only where
/// the report is made.
const EXIT_DUMPS: usize = 4;

/// Reads each stack's exit conditions from the source at its leak site, assessed in the
/// latest kept dump that holds it, with the growth the history saw.
fn read_exit_conditions(
    parsed: &mut ParsedDumps,
    dumps: &[DumpRow],
    groups: &mut [GroupReport],
    source: &dyn SourceLookup,
) -> Result<()> {
    let options = AssessOptions::default();
    let mut missing: Vec<&mut GroupReport> = groups.iter_mut().collect();
    for dump in dumps.iter().rev().take(EXIT_DUMPS) {
        if missing.is_empty() {
            break;
        }
        let capture = parsed.get(dump)?;
        let Some(snapshot) = capture.snapshots.last() else {
            continue;
        };
        missing.retain_mut(|report| {
            let Some(group) = snapshot
                .groups
                .iter()
                .find(|g| g.signature == report.signature)
            else {
                return true;
            };
            let growth = Growth {
                before: report.count_first,
                after: report.count_last,
            };
            let assessment = classify::assess(
                &capture.tables,
                snapshot,
                group,
                Some(growth),
                &options,
                source,
            );
            report.exit_conditions = ExitCondition::all_of(&assessment);
            report.source_mismatch = ExitCondition::mismatch_of(&assessment);
            false
        });
    }
    Ok(())
}

/// The kept dumps of one target as parsed, each parsed once: the exit conditions and the
/// snapshot diff both read the latest. Holds at most the dumps those two read.
struct ParsedDumps<'a> {
    store: &'a Store,
    parsed: HashMap<i64, Rc<Capture>>,
}

impl<'a> ParsedDumps<'a> {
    fn new(store: &'a Store) -> Self {
        Self {
            store,
            parsed: HashMap::new(),
        }
    }

    fn get(&mut self, dump: &DumpRow) -> Result<Rc<Capture>> {
        if let Some(capture) = self.parsed.get(&dump.id) {
            return Ok(Rc::clone(capture));
        }
        let body = self.store.dump_body(dump.id)?;
        let capture = Rc::new(goleash_core::read(
            &body[..],
            &ReadOptions::default(),
            None,
        )?);
        self.parsed.insert(dump.id, Rc::clone(&capture));
        Ok(capture)
    }
}

/// The first and the last dump kept, compared stack by stack. Two moments of a service under
/// bursty load differ by whatever was in flight at each, so a stack the watch sampled all
/// along is judged by its trend there, not by the two counts (`watched`: each stack's
/// report).
fn snapshot_diff(
    parsed: &mut ParsedDumps,
    dumps: &[DumpRow],
    processes: &[ProcessRow],
    watched: &[GroupReport],
    source: &dyn SourceLookup,
) -> Result<Option<SnapshotDiff>> {
    let (Some(first), Some(last)) = (dumps.first(), dumps.last()) else {
        return Ok(None);
    };
    if first.id == last.id {
        return Ok(None);
    }
    let (before, after) = (parsed.get(first)?, parsed.get(last)?);
    let (Some(b), Some(a)) = (before.snapshots.last(), after.snapshots.last()) else {
        return Ok(None);
    };
    let rows = diff::diff((&before.tables, b), (&after.tables, a));
    let options = AssessOptions::default();
    // The later snapshot judged whole, each group with its stack's growth, so that groups
    // that are one leak between them say so (the writeLoops of held connections).
    let mut growth_of = vec![None; a.groups.len()];
    for row in &rows {
        for &i in &row.after {
            growth_of[i] = Some(row.growth());
        }
    }
    let mut judged_after =
        classify::assess_all(&after.tables, a, &|i| growth_of[i], &options, source)
            .into_iter()
            .map(Some)
            .collect::<Vec<_>>();
    let mut out: Vec<DiffRow> = rows
        .iter()
        .filter(|r| r.delta() != 0)
        .map(|row| {
            let (capture, snapshot, index) = match row.after.first() {
                Some(&i) => (&after, a, i),
                None => (&before, b, row.before[0]),
            };
            let group = &snapshot.groups[index];
            let assessment = match row.after.first() {
                Some(&i) => judged_after[i].take().expect("each group is one row's"),
                None => classify::assess(
                    &capture.tables,
                    snapshot,
                    group,
                    Some(Growth {
                        before: row.count_before,
                        after: row.count_after,
                    }),
                    &options,
                    source,
                ),
            };
            let (verdict, why) = by_trend(
                assessment.verdict,
                assessment.why.clone(),
                group,
                watched.iter().find(|g| g.signature == row.signature),
            );
            let tables = &capture.tables;
            let function = assessment
                .leak_site
                .map(|f| tables.str(tables.get_frame(f).function).into_owned())
                .unwrap_or_else(|| assessment.blocking.name().to_string());
            DiffRow {
                signature: row.signature,
                function,
                count_before: row.count_before,
                count_after: row.count_after,
                delta: row.delta(),
                change: Change::of(row.count_before, row.count_after),
                verdict,
                why,
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
    Ok(Some(SnapshotDiff {
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

/// The verdict of a stack's change between two dumps, given what the watch's trend says of
/// it: a growth the trend did not confirm (the stack was sampled all along, no alert named
/// it, and its series is flat or falling) is load caught at two moments, not a leak. The
/// runtime's proof stands whatever the trend.
fn by_trend(
    verdict: Verdict,
    why: String,
    group: &goleash_core::Group,
    report: Option<&GroupReport>,
) -> (Verdict, String) {
    let Some(report) = report else {
        return (verdict, why);
    };
    let doubted = matches!(verdict, Verdict::Leak | Verdict::Suspect) && group.leaked == 0;
    if !doubted || report.alerted {
        return (verdict, why);
    }
    let settled = match report.trend {
        // The stack barely moved over the watch.
        TrendState::Empty => true,
        TrendState::Judged { .. } => !report.trend.rising(),
        TrendState::Warming { .. } | TrendState::Collecting { .. } => false,
    };
    if !settled {
        // Two counts say it grew; the trend has not yet had the windows to say whether it
        // does.
        return if verdict == Verdict::Leak && !report.trend.rising() {
            (
                Verdict::Suspect,
                format!(
                    "{why}; the watch's trend cannot tell yet ({}) whether it keeps growing",
                    report.trend.name()
                ),
            )
        } else {
            (verdict, why)
        };
    }
    let trend = match report.trend {
        TrendState::Empty => "it stays within the trend's noise".to_string(),
        _ => format!("its trend is {}", report.trend.name()),
    };
    (
        Verdict::Expected,
        format!(
            "not growing over the watch ({trend}; {} to {} goroutines at its lowest and highest): the two snapshots caught it at different loads",
            report.series.iter().map(|s| s.1).min().unwrap_or(0),
            report.count_max
        ),
    )
}

#[cfg(test)]
mod tests;
