//! What a watch knows about one target: its schedule, its current process, and the series
//! of its current process.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use goleash_core::Signature;
use goleash_core::classify::Verdict;
use goleash_core::trend::{Sample, SegmentStart, TrendOptions, TrendState, segments};

use super::sources::CountSource;
use crate::doc::watch::Alert;
use crate::history::GroupInfo;

/// Samples of the total kept per target (the trend looks no further back): 5.5 hours at
/// 5 s. Older samples stay in the history database.
pub const MAX_SAMPLES: usize = 4000;
/// Profiles kept per target, each with one count per stack.
pub const MAX_PROFILES: usize = 1000;

/// What requests of one kind cost a target: the median of the last three, so that one
/// slow answer (a GC in the target, a busy loopback) does not stretch the next gaps.
#[derive(Clone, Debug, Default)]
pub struct Cost {
    last: VecDeque<Duration>,
}

impl Cost {
    /// Records a request's time; returns the estimate.
    pub fn push(&mut self, cost: Duration) -> Duration {
        if self.last.len() == 3 {
            self.last.pop_front();
        }
        self.last.push_back(cost);
        let mut sorted: Vec<Duration> = self.last.iter().copied().collect();
        sorted.sort();
        sorted[(sorted.len() - 1) / 2]
    }
}

/// When, how many goroutines were created since the process started, and how many lived.
pub type ChurnReading = (f64, u64, u64);

/// Which count source a target has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Not probed yet (or to probe again).
    Unknown,
    /// This one.
    Source(CountSource),
    /// None: the count comes from profiles alone.
    Nothing,
}

/// One stack of a target.
#[derive(Clone, Debug)]
pub struct GroupState {
    /// Its count at each of the target's profiles (0 where absent), aligned with
    /// [`Target::profile_t`].
    pub counts: VecDeque<u32>,
    /// What it is.
    pub info: GroupInfo,
    /// Its trend in the current process.
    pub status: TrendState,
}

impl GroupState {
    /// The latest count.
    pub fn current(&self) -> u64 {
        self.counts.back().copied().unwrap_or(0).into()
    }
}

/// Sampling statistics.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Samples taken by this watch.
    pub samples: u64,
    /// Of which profiles.
    pub profiles: u64,
    /// Evidence dumps.
    pub dumps: u64,
    /// Looks for the runtime's proof answered (a goroutineleak profile each).
    pub proof_looks: u64,
    /// Restarts seen.
    pub restarts: u64,
    /// Failed requests.
    pub errors: u64,
    /// Regular samples that came due.
    pub due: u64,
    /// Of which were dispatched later than half an interval after due.
    pub late: u64,
    /// The largest dispatch delay.
    pub max_lag: Duration,
}

/// What Prometheus scraped of a series.
#[derive(Clone, Debug)]
pub struct Scrapes {
    /// When its newest sample recorded was scraped, unix seconds.
    pub newest: f64,
    /// The time between its last two samples: its scrape interval.
    pub gap: f64,
    /// No new sample for a while: the service went away.
    pub gone: bool,
    /// A value that is not a goroutine count was told.
    pub not_a_count_told: bool,
}

impl Default for Scrapes {
    fn default() -> Self {
        Scrapes {
            newest: f64::NEG_INFINITY,
            gap: 0.0,
            gone: false,
            not_a_count_told: false,
        }
    }
}

/// One watched service.
pub struct Target {
    /// Its name in the history and the output: its pprof base, or for a series Prometheus
    /// counts, the series.
    pub base: String,
    /// Its id in the history.
    pub id: i64,
    /// Where its profiles are fetched; None for a series whose labels do not fill the pprof
    /// template.
    pub pprof: Option<String>,
    /// Prometheus gives its counts (`watch --prometheus`): what it scraped of it. Such a
    /// target is asked for nothing but the dumps its trends want.
    pub scrapes: Option<Scrapes>,

    /// A request is in flight: never more than one per target.
    pub in_flight: bool,
    /// Bumped whenever the target is rescheduled, so that stale queue entries are dropped.
    pub generation: u64,
    /// When the next regular sample is due.
    pub next_sample: Instant,
    /// When the next profile may be taken.
    pub next_profile: Instant,
    /// When the last profile was due.
    pub profile_dispatched: Instant,
    /// Gap between regular samples: the interval, or more for a slow count source.
    pub sample_gap: Duration,
    /// Gap between profiles, adapted to what profiles cost.
    pub profile_gap: Duration,
    /// What count requests cost.
    pub count_costs: Cost,
    /// What profiles cost.
    pub profile_costs: Cost,
    /// No evidence dump before this.
    pub dump_not_before: Instant,
    /// Why an evidence dump is wanted, when one is.
    pub pending_dump: Option<String>,
    /// The count source.
    pub probe: Probe,
    /// Ask for the goroutineleak profile (turned off after a 404).
    pub leak_profile: bool,
    /// When the next look for the runtime's proof is due; `None` when the target has no
    /// goroutineleak profile or the watch may not ask for it.
    pub next_proof: Option<Instant>,
    /// The target answered a goroutineleak profile in this watch: proven leaks would have
    /// been seen, whatever the trends could tell.
    pub proof_served: bool,
    /// Stacks the runtime proved leaked, alerted on by this watch (a verdict a history
    /// resumed from does not carry over: each watch reports the proof it saw).
    pub proven: HashSet<Signature>,
    /// Failed requests in a row.
    pub failures: u32,
    /// The last failure message, so that repeats are not printed again.
    pub last_error: Option<String>,
    /// The target refused connections since its last answer: nothing listened.
    pub refused: bool,

    /// The current process's id in the history.
    pub process: Option<i64>,
    /// Its start time, when the target serves one.
    pub start_time: Option<f64>,
    /// Whether the first profile of the current process has been stored.
    pub first_profile_stored: bool,

    /// The first and the latest reading of the current process that told how many
    /// goroutines were created.
    pub churn: (Option<ChurnReading>, Option<ChurnReading>),
    /// The current process's samples: time, count.
    pub samples: VecDeque<(f64, u32)>,
    /// Times of the current process's profiles.
    pub profile_t: VecDeque<f64>,
    /// Stacks seen in the current process, and any described in the history.
    pub groups: HashMap<Signature, GroupState>,
    /// Signatures described in the history (their rows exist).
    pub described: HashSet<Signature>,
    /// The total's trend.
    pub total: TrendState,
    /// When the total was last judged (sample time).
    pub total_judged_at: f64,
    /// When the groups were last judged (sample time).
    pub groups_judged_at: f64,
    /// Signatures (`None`: the total) alerted on in the current process.
    pub alerted: HashSet<Option<Signature>>,
    /// The alerts of this watch.
    pub alerts: Vec<Alert>,
    /// Stacks of the current process an earlier watch of this history alerted on: not
    /// alerted on again, but still a leak for this watch's gate while they are there.
    pub carried: HashSet<Signature>,
    /// The latest profile: its sample id, time and body, to store at the end.
    pub latest_profile: Option<(i64, f64, Vec<u8>)>,
    /// When a profile was last stored as the latest.
    pub latest_stored_t: f64,
    /// Sampling statistics.
    pub stats: Stats,
}

impl Target {
    /// A target first seen now.
    pub fn new(
        base: String,
        id: i64,
        now: Instant,
        interval: Duration,
        leak_profile: bool,
    ) -> Self {
        Target {
            pprof: Some(base.clone()),
            scrapes: None,
            base,
            id,
            in_flight: false,
            generation: 0,
            next_sample: now,
            next_profile: now,
            profile_dispatched: now,
            sample_gap: interval,
            profile_gap: interval,
            count_costs: Cost::default(),
            profile_costs: Cost::default(),
            dump_not_before: now,
            pending_dump: None,
            probe: Probe::Unknown,
            leak_profile,
            next_proof: leak_profile.then_some(now),
            proof_served: false,
            proven: HashSet::new(),
            failures: 0,
            last_error: None,
            refused: false,
            process: None,
            start_time: None,
            first_profile_stored: false,
            churn: (None, None),
            samples: VecDeque::new(),
            profile_t: VecDeque::new(),
            groups: HashMap::new(),
            described: HashSet::new(),
            total: TrendState::Empty,
            total_judged_at: f64::NEG_INFINITY,
            groups_judged_at: f64::NEG_INFINITY,
            alerted: HashSet::new(),
            alerts: Vec::new(),
            carried: HashSet::new(),
            latest_profile: None,
            latest_stored_t: f64::NEG_INFINITY,
            stats: Stats::default(),
        }
    }

    /// A series Prometheus counts, named `name`, whose profiles are at `pprof`. No look for
    /// the runtime's proof before it is a suspect: only suspects are asked for profiles.
    pub fn scraped(
        name: String,
        id: i64,
        now: Instant,
        interval: Duration,
        pprof: Option<String>,
        leak_profile: bool,
    ) -> Self {
        let mut target = Target::new(name, id, now, interval, leak_profile);
        target.pprof = pprof;
        target.scrapes = Some(Scrapes::default());
        target.next_proof = None;
        target
    }

    /// Prometheus gives its counts.
    pub fn counted_by_prometheus(&self) -> bool {
        self.scrapes.is_some()
    }

    /// When a look for the runtime's proof is due: only once the target answers (a target
    /// down is told by its count requests, not by more failing ones).
    pub fn proof_due(&self) -> Option<Instant> {
        self.next_proof
            .filter(|_| self.process.is_some() && self.failures == 0)
    }

    /// Stacks an earlier watch of the current process called leaks that are still there,
    /// and that this watch did not alert on again.
    pub fn earlier_leaks(&self) -> u64 {
        self.carried
            .iter()
            .filter(|s| {
                self.groups
                    .get(s)
                    .is_some_and(|g| g.info.verdict == Verdict::Leak && g.current() > 0)
                    && !self.alerts.iter().any(|a| a.signature == Some(**s))
            })
            .count() as u64
    }

    /// Goroutines created and exited a minute in the current process, over the samples
    /// that said how many were created: a busy service creates and ends many, a leaking
    /// one ends fewer than it creates. `None` without two such samples a second apart.
    pub fn churn_per_minute(&self) -> Option<(f64, f64, f64)> {
        let ((t0, created0, live0), (t1, created1, live1)) = (self.churn.0?, self.churn.1?);
        let secs = t1 - t0;
        if secs < 1.0 || created1 < created0 {
            return None;
        }
        let created = (created1 - created0) as f64;
        let exited = created - (live1 as f64 - live0 as f64);
        Some((created * 60.0 / secs, exited.max(0.0) * 60.0 / secs, secs))
    }

    /// The last count.
    pub fn current(&self) -> Option<u64> {
        self.samples.back().map(|&(_, v)| v.into())
    }

    /// The time of the last sample.
    pub fn last_t(&self) -> Option<f64> {
        self.samples.back().map(|&(t, _)| t)
    }

    /// The total as trend points.
    pub fn total_points(&self) -> Vec<(f64, f64)> {
        self.samples.iter().map(|&(t, v)| (t, v.into())).collect()
    }

    /// One stack's series as trend points.
    pub fn group_points(&self, group: &GroupState) -> Vec<(f64, f64)> {
        self.profile_t
            .iter()
            .zip(&group.counts)
            .map(|(&t, &c)| (t, c.into()))
            .collect()
    }

    /// Forgets the previous process's series.
    pub fn new_process(&mut self) {
        self.samples.clear();
        self.profile_t.clear();
        for group in self.groups.values_mut() {
            group.counts.clear();
            group.status = TrendState::Empty;
        }
        self.total = TrendState::Empty;
        self.total_judged_at = f64::NEG_INFINITY;
        self.groups_judged_at = f64::NEG_INFINITY;
        self.alerted.clear();
        self.carried.clear();
        self.churn = (None, None);
        self.first_profile_stored = false;
    }

    /// Adds a sample of the total.
    pub fn push_sample(&mut self, t: f64, goroutines: u64) {
        if self.samples.len() == MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.samples
            .push_back((t, u32::try_from(goroutines).unwrap_or(u32::MAX)));
    }

    /// Adds a profile's per-stack counts. Every stack in `counts` must be in
    /// [`Target::groups`] already.
    pub fn push_profile(&mut self, t: f64, counts: &HashMap<Signature, u64>) {
        let full = self.profile_t.len() == MAX_PROFILES;
        if full {
            self.profile_t.pop_front();
        }
        let length = self.profile_t.len();
        self.profile_t.push_back(t);
        for (signature, group) in self.groups.iter_mut() {
            if full {
                group.counts.pop_front();
            }
            // A stack first seen now had none at the earlier profiles of this process.
            while group.counts.len() < length {
                group.counts.push_front(0);
            }
            let count = counts.get(signature).copied().unwrap_or(0);
            group
                .counts
                .push_back(u32::try_from(count).unwrap_or(u32::MAX));
        }
        // Stacks gone for the whole window carry nothing but memory.
        self.groups
            .retain(|_, g| g.counts.iter().any(|&c| c > 0) || g.counts.is_empty());
    }
}

/// Whether a new sample `(t, value)` starts a new process, read from the counts alone: it
/// fell through the floor of the window before it, back to where the process started (the
/// rule of [`segments`], which this asks). Only for targets that serve no start time.
pub fn count_says_restart(
    samples: &VecDeque<(f64, u32)>,
    t: f64,
    value: u64,
    options: &TrendOptions,
) -> bool {
    let Some(&(_, previous)) = samples.back() else {
        return false;
    };
    // The floor is at most the previous sample, so a drop smaller than the least one
    // segments() reads as a restart cannot be one; this keeps the O(n) check rare.
    if value as f64 > f64::from(previous) - options.restart_min_drop {
        return false;
    }
    let series: Vec<Sample> = samples
        .iter()
        .map(|&(t, v)| Sample::new(t, v.into()))
        .chain([Sample::new(t, value as f64)])
        .collect();
    let options = TrendOptions {
        infer_restarts: true,
        ..options.clone()
    };
    match segments(&series, &options) {
        Ok(found) => found.last().is_some_and(|s| {
            s.range.start == series.len() - 1 && s.start == SegmentStart::InferredRestart
        }),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use goleash_core::classify::{Blocking, Verdict};

    fn info() -> GroupInfo {
        GroupInfo {
            blocking: Blocking::ChanSend,
            site: None,
            verdict: Verdict::Suspect,
            why: String::new(),
            pattern: None,
            hint: None,
        }
    }

    #[test]
    fn stacks_that_appear_later_are_zero_before_and_gone_ones_are_dropped() {
        let mut target = Target::new(
            "http://a/debug/pprof".into(),
            1,
            Instant::now(),
            Duration::from_secs(1),
            true,
        );
        let group = |_| GroupState {
            counts: VecDeque::new(),
            info: info(),
            status: TrendState::Empty,
        };
        target.groups.insert(Signature(1), group(1));
        target.push_profile(1.0, &HashMap::from([(Signature(1), 3)]));
        target.groups.insert(Signature(2), group(2));
        target.push_profile(2.0, &HashMap::from([(Signature(2), 5)]));
        assert_eq!(target.groups[&Signature(1)].counts, [3, 0]);
        assert_eq!(target.groups[&Signature(2)].counts, [0, 5]);
        assert_eq!(
            target.group_points(&target.groups[&Signature(2)]),
            vec![(1.0, 0.0), (2.0, 5.0)]
        );
        for t in 3..(MAX_PROFILES + 3) {
            target.push_profile(t as f64, &HashMap::from([(Signature(2), 5)]));
        }
        assert!(!target.groups.contains_key(&Signature(1)));
        assert_eq!(target.profile_t.len(), MAX_PROFILES);
        assert_eq!(target.groups[&Signature(2)].counts.len(), MAX_PROFILES);
    }

    #[test]
    fn one_slow_answer_does_not_move_the_cost_estimate() {
        let ms = Duration::from_millis;
        let mut cost = Cost::default();
        assert_eq!(cost.push(ms(4)), ms(4));
        assert_eq!(cost.push(ms(900)), ms(4));
        assert_eq!(cost.push(ms(5)), ms(5));
        assert_eq!(cost.push(ms(6)), ms(6));
        // A lasting rise is followed within two answers.
        cost.push(ms(50));
        assert_eq!(cost.push(ms(60)), ms(50));
    }

    #[test]
    fn a_fall_through_the_floor_to_the_start_level_is_a_restart_a_burst_ending_is_not() {
        let options = TrendOptions {
            cooldown_secs: 10.0,
            ..TrendOptions::default()
        };
        // 30 goroutines at start, leaking to 100 over 40 s, with bursts on top.
        let samples: VecDeque<(f64, u32)> = (0..40)
            .map(|i| (i as f64, 30 + 2 * i as u32 - 2 + [0, 0, 40][i % 3]))
            .collect();
        assert!(count_says_restart(&samples, 40.0, 31, &options));
        // Back to the floor after a burst: not a restart.
        assert!(!count_says_restart(&samples, 40.0, 104, &options));
        // A drop that leaves the leaked goroutines: not a restart either.
        assert!(!count_says_restart(&samples, 40.0, 80, &options));
    }
}
