//! Following trends and raising alerts: where each stack's count and the target's total
//! stand, the stacks that rise judged with the growth seen, and the alerts those verdicts
//! and a rising total raise.

use std::collections::HashMap;
use std::time::Instant;

use goleash_core::classify::{self, AssessOptions, Assessment, Growth, Verdict};
use goleash_core::exits::ExitCondition;
use goleash_core::trend::{self, TrendState, first_floor, last_floor};
use goleash_core::{Capture, Group, Signature, Snapshot, Tables};

use super::Engine;
use super::observe::Pending;
use crate::history::{Alert, AlertRecord, AlertVerdict, Frame, GroupInfo, VerdictUpdate};

impl Engine<'_> {
    /// How often trends are computed again: no more often than the interval, nor than a
    /// tenth of the cool-down, whose windows the trends are read in.
    fn trend_every(&self) -> f64 {
        self.options
            .interval
            .as_secs_f64()
            .max(self.options.trend.cooldown_secs / 10.0)
    }

    /// Follows the trend of the target's total; the first time in a process that it rises,
    /// raises the alert, and wants a profile now and a dump as evidence: the count alone
    /// cannot say which stack grows.
    pub(super) fn follow_total(&mut self, i: usize, t: f64, pending: &mut Pending) {
        let every = self.trend_every();
        let trend = &self.options.trend;
        let target = &mut self.targets[i];
        if t - target.total_judged_at < every {
            return;
        }
        target.total_judged_at = t;
        target.total = trend::state(&target.total_points(), trend);
        if !target.total.rising() || target.alerted.contains(&None) {
            return;
        }
        target.alerted.insert(None);
        let points = target.total_points();
        let (before, after) = (
            first_floor(&points, trend).unwrap_or(0),
            last_floor(&points, trend),
        );
        let slope = target.total.slope_per_minute().unwrap_or(0.0);
        let p = target.total.p_value().unwrap_or(1.0);
        let why = format!(
            "the goroutine count rises by {slope:.1} a minute and the level it falls back to rises with it (p = {p:.2e})"
        );
        pending.alerts.push(Alert {
            t,
            record: AlertRecord {
                signature: None,
                verdict: AlertVerdict::Rising,
                why,
                slope_per_minute: Some(slope),
                p_value: Some(p),
                count_before: Some(before),
                count_after: Some(after),
            },
            group: None,
            proven_leaked: None,
            stack: Vec::new(),
            exits: Vec::new(),
        });
        target.next_profile = Instant::now();
        if target.pending_dump.is_none() {
            target.pending_dump = Some(format!("the goroutine count rises by {slope:.1} a minute"));
        }
    }

    /// Follows the trend of each stack whose count moved by at least `min_rise` in this
    /// process, and assesses those newly rising with the growth seen: an alert for those
    /// judged a leak or a suspect, and a dump wanted as evidence.
    pub(super) fn follow_groups(
        &mut self,
        i: usize,
        t: f64,
        capture: &Capture,
        snapshot: &Snapshot,
        largest: &HashMap<Signature, usize>,
        pending: &mut Pending,
    ) {
        let every = self.trend_every();
        let trend = &self.options.trend;
        let target = &mut self.targets[i];
        if t - target.groups_judged_at < every {
            return;
        }
        target.groups_judged_at = t;
        let mut newly_rising = Vec::new();
        let signatures: Vec<Signature> = target.groups.keys().copied().collect();
        for signature in signatures {
            let group = &target.groups[&signature];
            let (low, high) = group
                .counts
                .iter()
                .fold((u32::MAX, 0), |(lo, hi), &c| (lo.min(c), hi.max(c)));
            // A floor cannot rise by more than the count ever moved.
            let status = if f64::from(high.saturating_sub(low)) >= trend.min_rise {
                trend::state(&target.group_points(group), trend)
            } else {
                TrendState::Empty
            };
            if status.rising() && !target.alerted.contains(&Some(signature)) {
                newly_rising.push(signature);
            }
            if let Some(g) = target.groups.get_mut(&signature) {
                g.status = status;
            }
        }
        for signature in newly_rising {
            let Some(&gi) = largest.get(&signature) else {
                continue;
            };
            self.targets[i].alerted.insert(Some(signature));
            let Some((growth, status, assessment, info)) =
                self.assess_growth(i, signature, capture, snapshot, gi)
            else {
                continue;
            };
            self.record_verdict(i, signature, &info, pending);
            let target = &mut self.targets[i];
            if !matches!(assessment.verdict, Verdict::Leak | Verdict::Suspect)
                || reported_elsewhere(&assessment, gi)
            {
                continue;
            }
            let grounds = Grounds::Trend {
                growth,
                status: &status,
            };
            pending
                .alerts
                .push(group_alert(t, signature, &info, &assessment, grounds));
            if target.pending_dump.is_none() {
                target.pending_dump = Some(format!(
                    "{} grew from {} to {}",
                    info.site_text(),
                    growth.before,
                    growth.after
                ));
            }
        }
    }

    /// Stack `signature` of target `i` is judged `info` now: the target follows it so, and
    /// the history records it with this sample.
    fn record_verdict(
        &mut self,
        i: usize,
        signature: Signature,
        info: &GroupInfo,
        pending: &mut Pending,
    ) {
        pending.verdicts.push(VerdictUpdate::of(signature, info));
        if let Some(g) = self.targets[i].groups.get_mut(&signature) {
            g.info = info.clone();
        }
    }

    /// Judges group `gi` of `snapshot`, stack `signature` of target `i`, with the growth its
    /// series shows (first and last window floors): what both the trend and a later dump
    /// ask of it. `None` when the target does not follow that stack.
    fn assess_growth(
        &self,
        i: usize,
        signature: Signature,
        capture: &Capture,
        snapshot: &Snapshot,
        gi: usize,
    ) -> Option<(Growth, TrendState, Assessment, GroupInfo)> {
        let target = &self.targets[i];
        let group = target.groups.get(&signature)?;
        let trend = &self.options.trend;
        let points = target.group_points(group);
        let growth = Growth {
            before: first_floor(&points, trend).unwrap_or(0),
            after: last_floor(&points, trend),
        };
        // Judged with the rest of the snapshot: a stack can be half of a leak another stack
        // reports (the writeLoops of connections an unclosed body holds). Stacks start rising
        // rarely, so judging them all then costs little.
        let mut assessments = classify::assess_all(
            &capture.tables,
            snapshot,
            &|g| (g == gi).then_some(growth),
            &AssessOptions::default(),
            self.source,
        );
        let assessment = assessments.swap_remove(gi);
        let info = GroupInfo::of(&capture.tables, &assessment);
        Some((growth, group.status, assessment, info))
    }

    /// Every stack the runtime marked `(leaked)` in a goroutineleak dump is a leak at once:
    /// nothing that could wake those goroutines is reachable, so no trend needs to confirm
    /// it. Alerted on once per watch, with the count the runtime proved.
    pub(super) fn alert_proven(
        &mut self,
        i: usize,
        t: f64,
        capture: &Capture,
        snapshot: &Snapshot,
        largest: &HashMap<Signature, usize>,
        pending: &mut Pending,
    ) {
        let mut proven: HashMap<Signature, u64> = HashMap::new();
        for group in snapshot.groups.iter().filter(|g| g.leaked > 0) {
            *proven.entry(group.signature).or_default() += group.leaked;
        }
        let target = &mut self.targets[i];
        let mut signatures: Vec<(Signature, u64)> = Vec::new();
        for (signature, leaked) in proven {
            if !target.proven.insert(signature) {
                continue;
            }
            // This watch already called it a leak by its trend: the proof adds no alert,
            // only the dump. (An alert of a watch this one continues does not count: each
            // watch's gate fails on what it saw.)
            let leak = AlertVerdict::Group(Verdict::Leak);
            let called = target
                .alerts
                .iter()
                .any(|a| a.signature == Some(signature) && a.verdict == leak)
                || pending
                    .alerts
                    .iter()
                    .any(|a| a.record.signature == Some(signature) && a.record.verdict == leak);
            if !called {
                signatures.push((signature, leaked));
            }
        }
        signatures.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        for (signature, leaked) in signatures {
            let Some(&gi) = largest.get(&signature) else {
                continue;
            };
            // The stack was described from a profile, without the runtime's marks: judged
            // again with them.
            let Some((_, _, assessment, info)) =
                self.assess_growth(i, signature, capture, snapshot, gi)
            else {
                continue;
            };
            self.targets[i].alerted.insert(Some(signature));
            self.record_verdict(i, signature, &info, pending);
            let count = snapshot.groups[gi].count;
            let grounds = Grounds::Proof {
                leaked,
                count,
                stack: stack_lines(&capture.tables, &snapshot.groups[gi]),
            };
            pending
                .alerts
                .push(group_alert(t, signature, &info, &assessment, grounds));
        }
    }

    /// A dump has states, creators and, from the goroutineleak profile, the runtime's proof:
    /// the stacks already alerted on are judged again with it, and one newly proven a leak
    /// is alerted on again.
    pub(super) fn reassess_from_dump(
        &mut self,
        i: usize,
        t: f64,
        capture: &Capture,
        snapshot: &Snapshot,
        largest: &HashMap<Signature, usize>,
        pending: &mut Pending,
    ) {
        let alerted: Vec<Signature> = self.targets[i].alerted.iter().flatten().copied().collect();
        for signature in alerted {
            let Some(&gi) = largest.get(&signature) else {
                continue;
            };
            let Some((growth, status, assessment, info)) =
                self.assess_growth(i, signature, capture, snapshot, gi)
            else {
                continue;
            };
            let before = self.targets[i].groups[&signature].info.clone();
            if info.verdict == before.verdict && info.why == before.why {
                continue;
            }
            self.record_verdict(i, signature, &info, pending);
            let escalated = assessment.verdict == Verdict::Leak && before.verdict != Verdict::Leak;
            if escalated && !reported_elsewhere(&assessment, gi) {
                let grounds = Grounds::Trend {
                    growth,
                    status: &status,
                };
                pending
                    .alerts
                    .push(group_alert(t, signature, &info, &assessment, grounds));
            }
        }
    }
}

/// Group `gi` is wholly part of a leak another group's alert reports: the writeLoops of the
/// connections whose readLoops an unclosed response body holds.
fn reported_elsewhere(assessment: &Assessment, gi: usize) -> bool {
    assessment
        .held_connections
        .is_some_and(|h| h.write_loops == gi && h.whole_write_group)
}

/// What an alert on a stack rests on.
enum Grounds<'a> {
    /// The stack's trend rose from `growth.before` to `growth.after`.
    Trend {
        growth: Growth,
        status: &'a TrendState,
    },
    /// The runtime marked `leaked` of the stack's `count` goroutines `(leaked)`: no trend
    /// was needed, and the stack is at hand from the dump.
    Proof {
        leaked: u64,
        count: u64,
        stack: Vec<String>,
    },
}

/// The alert on a stack judged `info` (from `assessment`), on `grounds`.
fn group_alert(
    t: f64,
    signature: Signature,
    info: &GroupInfo,
    assessment: &Assessment,
    grounds: Grounds,
) -> Alert {
    let (slope_per_minute, p_value, count_before, count_after, proven_leaked, stack) = match grounds
    {
        Grounds::Trend { growth, status } => (
            Some(status.slope_per_minute().unwrap_or(0.0)),
            Some(status.p_value().unwrap_or(1.0)),
            Some(growth.before),
            Some(growth.after),
            None,
            Vec::new(),
        ),
        Grounds::Proof {
            leaked,
            count,
            stack,
        } => (None, None, None, Some(count), Some(leaked), stack),
    };
    Alert {
        t,
        record: AlertRecord {
            signature: Some(signature),
            verdict: AlertVerdict::Group(info.verdict),
            why: info.why.clone(),
            slope_per_minute,
            p_value,
            count_before,
            count_after,
        },
        group: Some(info.clone()),
        proven_leaked,
        stack,
        exits: exits_of(assessment),
    }
}

/// The ways out an assessment read from the source, when it read it.
fn exits_of(assessment: &Assessment) -> Vec<ExitCondition> {
    assessment
        .exits
        .as_ref()
        .map_or_else(Vec::new, |e| e.conditions.clone())
}

/// A group's stack, innermost frame first, as `function file:line`.
fn stack_lines(tables: &Tables, group: &Group) -> Vec<String> {
    tables
        .frames(group.stack)
        .iter()
        .map(|&id| {
            let frame = Frame::of(tables, id);
            format!("{} {}:{}", frame.function, frame.file, frame.line)
        })
        .collect()
}
