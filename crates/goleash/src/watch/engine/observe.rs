//! One answer of a target, recorded: which process it came from, its count and stacks, the
//! bodies the history keeps, the trends and alerts they move, all written in one
//! transaction, and then the events that say so.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use anyhow::Result;
use goleash_core::classify::{self, AssessOptions};
use goleash_core::trend::{TrendOptions, TrendState};
use goleash_core::{Capture, Signature, Snapshot};

use super::Engine;
use crate::doc::SCHEMA_VERSION;
use crate::doc::watch::{self, DumpEvent, GroupCount, Recovered, Restart, WatchEvent};
use crate::history::{
    Alert, AlertRecord, DumpRecord, DumpRole, GroupInfo, GroupMeta, Profile, SampleSource,
    VerdictUpdate,
};
use crate::store::{ProcessRef, SampleWrite};
use crate::watch::target::{GroupState, Target, count_says_restart};

/// What one answer of a target carries beyond the count.
pub(super) struct Observed<'c> {
    pub(super) t: f64,
    pub(super) goroutines: u64,
    pub(super) source: SampleSource,
    pub(super) cost: Duration,
    pub(super) start_time: Option<f64>,
    /// Goroutines created since the process started, where the count source says.
    pub(super) created: Option<u64>,
    /// The parsed profile or dump, with its body.
    pub(super) capture: Option<(&'c Capture, &'c [u8])>,
    /// For dumps: which profile, and why it was taken.
    pub(super) dump: Option<DumpTaken>,
}

/// A dump, as it was asked for.
pub(super) struct DumpTaken {
    pub(super) profile: Profile,
    pub(super) reason: String,
    /// A look for the runtime's proof: its body is kept only when it proves something new.
    pub(super) proof: bool,
}

/// Everything one observation writes, built before the transaction.
#[derive(Default)]
pub(super) struct Pending {
    pub(super) metas: Vec<GroupMeta>,
    pub(super) counts: Vec<(Signature, u64)>,
    pub(super) verdicts: Vec<VerdictUpdate>,
    pub(super) dumps: Vec<DumpRecord>,
    pub(super) alerts: Vec<Alert>,
    pub(super) dump_event: Option<DumpEvent>,
}

impl Engine<'_> {
    /// Records one answer: the process it came from, the count, the stacks, their trends,
    /// verdicts and alerts, all in one transaction; then tells the sink.
    pub(super) fn observe(&mut self, i: usize, o: Observed<'_>) -> Result<()> {
        let mut events = Vec::new();
        let target = &mut self.targets[i];
        if target.failures > 0 {
            events.push(WatchEvent::Recovered(Recovered {
                schema_version: SCHEMA_VERSION,
                target: target.base.clone(),
                t: o.t,
                after_failures: target.failures,
            }));
        }
        let t = match target.last_t() {
            Some(last) if o.t <= last => last + 0.001,
            _ => o.t,
        };
        let restart = restart(target, &o, t, &self.options.trend);
        let process = match (&restart, target.process) {
            (None, Some(id)) => ProcessRef::Known(id),
            (Some(reason), _) => ProcessRef::New {
                reason: reason.clone(),
                start_time: o.start_time,
            },
            (None, None) => ProcessRef::New {
                reason: "first seen".to_string(),
                start_time: o.start_time,
            },
        };
        if restart.is_some() {
            target.new_process();
            target.stats.restarts += 1;
            // The old start time belongs to the old process: keeping it would read the new
            // one's, when it comes, as yet another restart.
            target.start_time = o.start_time;
        } else if o.start_time.is_some() {
            target.start_time = o.start_time;
        }
        target.refused = false;
        target.failures = 0;
        target.last_error = None;
        target.push_sample(t, o.goroutines);
        target.stats.samples += 1;
        if let Some(created) = o.created {
            let reading = (t, created, o.goroutines);
            target.churn.0.get_or_insert(reading);
            target.churn.1 = Some(reading);
        }

        let mut pending = Pending::default();
        if let Some((capture, body)) = o.capture
            && let Some(snapshot) = capture.snapshots.last()
        {
            let largest = self.update_groups(i, t, capture, snapshot, &mut pending);
            self.targets[i].stats.profiles += 1;
            self.follow_groups(i, t, capture, snapshot, &largest, &mut pending);
            if o.dump.is_some() {
                self.alert_proven(i, t, capture, snapshot, &largest, &mut pending);
                self.reassess_from_dump(i, t, capture, snapshot, &largest, &mut pending);
            }
            self.keep_body(i, t, &o, body, snapshot, &mut pending);
        }
        self.follow_total(i, t, &mut pending);

        let target = &self.targets[i];
        let alert_records: Vec<AlertRecord> =
            pending.alerts.iter().map(|a| a.record.clone()).collect();
        let written = self.store.write(&SampleWrite {
            target: target.id,
            session: self.session,
            process,
            t,
            goroutines: o.goroutines,
            source: o.source,
            cost_ms: Some(o.cost.as_secs_f64() * 1e3),
            new_groups: &pending.metas,
            counts: &pending.counts,
            verdicts: &pending.verdicts,
            dumps: &pending.dumps,
            alerts: &alert_records,
        })?;
        let target = &mut self.targets[i];
        for m in &pending.metas {
            target.described.insert(m.signature);
        }
        target.process = Some(written.process);
        if o.capture.is_some() && o.dump.is_none() {
            let body = o.capture.map(|(_, b)| b.to_vec()).unwrap_or_default();
            target.latest_profile = Some((written.sample, t, body));
        }
        if let Some(reason) = restart {
            events.push(WatchEvent::Restart(Restart {
                schema_version: SCHEMA_VERSION,
                target: target.base.clone(),
                t,
                process: written.process,
                reason,
            }));
        }
        events.push(WatchEvent::Sample(watch::Sample {
            schema_version: SCHEMA_VERSION,
            target: target.base.clone(),
            t,
            goroutines: o.goroutines,
            created: o.created,
            source: o.source,
            process: written.process,
            cost_ms: o.cost.as_secs_f64() * 1e3,
            groups: o.capture.map(|_| {
                pending
                    .counts
                    .iter()
                    .map(|&(signature, count)| GroupCount { signature, count })
                    .collect()
            }),
        }));
        for alert in &pending.alerts {
            let event = watch::Alert::of(&target.base, written.process, alert);
            target.alerts.push(event.clone());
            events.push(WatchEvent::Alert(Box::new(event)));
        }
        if let Some(dump) = pending.dump_event {
            events.push(WatchEvent::Dump(dump));
        }
        for event in &events {
            self.sink.event(event)?;
        }
        Ok(())
    }

    /// Which body of an answer the history keeps: every dump, as evidence; of the profiles,
    /// the first of each process, then one in a while as the latest (the last one is kept
    /// when the watch ends).
    fn keep_body(
        &mut self,
        i: usize,
        t: f64,
        o: &Observed<'_>,
        body: &[u8],
        snapshot: &Snapshot,
        pending: &mut Pending,
    ) {
        let target = &mut self.targets[i];
        if let Some(dump) = &o.dump {
            let proves_something_new = pending.alerts.iter().any(|a| a.proven_leaked.is_some());
            if dump.proof && !proves_something_new {
                return;
            }
            target.stats.dumps += 1;
            pending.dumps.push(DumpRecord {
                profile: dump.profile,
                debug: 2,
                role: DumpRole::Evidence,
                reason: dump.reason.clone(),
                body: body.to_vec(),
            });
            pending.dump_event = Some(DumpEvent {
                schema_version: SCHEMA_VERSION,
                target: target.base.clone(),
                t,
                profile: dump.profile,
                bytes: body.len() as u64,
                goroutines: o.goroutines,
                proven_leaked: snapshot.groups.iter().map(|g| g.leaked).sum(),
                reason: dump.reason.clone(),
            });
            return;
        }
        let latest_every = (2.0 * self.options.trend.cooldown_secs).min(60.0);
        if !target.first_profile_stored {
            target.first_profile_stored = true;
            target.latest_stored_t = t;
            pending.dumps.push(DumpRecord {
                profile: Profile::Goroutine,
                debug: 0,
                role: DumpRole::First,
                reason: "the first profile of this process".into(),
                body: body.to_vec(),
            });
        } else if t - target.latest_stored_t >= latest_every {
            target.latest_stored_t = t;
            pending.dumps.push(DumpRecord {
                profile: Profile::Goroutine,
                debug: 0,
                role: DumpRole::Latest,
                reason: "the latest profile".into(),
                body: body.to_vec(),
            });
        }
    }

    /// Adds a profile's per-stack counts; describes stacks seen for the first time. Returns,
    /// per signature, the index of its largest group in the snapshot.
    fn update_groups(
        &mut self,
        i: usize,
        t: f64,
        capture: &Capture,
        snapshot: &Snapshot,
        pending: &mut Pending,
    ) -> HashMap<Signature, usize> {
        let mut counts: HashMap<Signature, u64> = HashMap::new();
        let mut largest: HashMap<Signature, usize> = HashMap::new();
        for (gi, group) in snapshot.groups.iter().enumerate() {
            *counts.entry(group.signature).or_default() += group.count;
            let best = largest.entry(group.signature).or_insert(gi);
            if snapshot.groups[*best].count < group.count {
                *best = gi;
            }
        }
        let options = AssessOptions::default();
        let target = &mut self.targets[i];
        for (&signature, &gi) in &largest {
            if target.groups.contains_key(&signature) {
                continue;
            }
            let group = &snapshot.groups[gi];
            let assessment = classify::assess(
                &capture.tables,
                snapshot,
                group,
                None,
                &options,
                self.source,
            );
            let info = GroupInfo::of(&capture.tables, &assessment);
            if !target.described.contains(&signature) {
                pending
                    .metas
                    .push(GroupMeta::of(&capture.tables, group, &info));
            }
            target.groups.insert(
                signature,
                GroupState {
                    counts: VecDeque::new(),
                    info,
                    status: TrendState::Empty,
                },
            );
        }
        target.push_profile(t, &counts);
        let mut sorted: Vec<(Signature, u64)> = counts.into_iter().collect();
        sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        pending.counts = sorted;
        largest
    }
}

/// Why the answer at `t` comes from a new process, when it does: the start time the target
/// serves changed, it refused connections before answering again, or (when it serves no
/// start time) its count fell back to where the process started.
fn restart(target: &Target, o: &Observed<'_>, t: f64, trend: &TrendOptions) -> Option<String> {
    match (target.process, target.start_time, o.start_time) {
        (None, _, _) => None,
        (Some(_), Some(old), Some(new)) if (new - old).abs() > 1.0 => {
            Some("process_start_time_seconds changed".to_string())
        }
        (Some(_), _, _) if target.refused => {
            Some("the target refused connections, then answered again".to_string())
        }
        (Some(_), None, None) if count_says_restart(&target.samples, t, o.goroutines, trend) => {
            Some("the count fell through its floor back to its start-up level".to_string())
        }
        _ => None,
    }
}
