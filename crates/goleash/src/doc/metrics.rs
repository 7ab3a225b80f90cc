//! `goleash watch --listen`: the verdicts of a watch as Prometheus metrics, kept up to date
//! from the watch's events.
//!
//! Cardinality is bounded by the watch itself: one set of series per target, plus one per
//! leak site of a stack that got a verdict (`suspect` or `leak`) in the target's current
//! process. A restart drops the target's stacks, as its alerts are per process.

use std::collections::BTreeMap;

use goleash_core::Signature;
use goleash_core::classify::Verdict;

use super::watch::{AlertScope, WatchEvent};
use crate::history::AlertVerdict;

/// A target's verdict, from least to most serious.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TargetVerdict {
    /// No alert in the current process.
    None,
    /// The total rises.
    Rising,
    /// A stack is suspected.
    Suspect,
    /// A stack leaks.
    Leak,
}

impl TargetVerdict {
    /// Every verdict, in order: the values of the `verdict` label.
    pub const ALL: [TargetVerdict; 4] = [
        TargetVerdict::None,
        TargetVerdict::Rising,
        TargetVerdict::Suspect,
        TargetVerdict::Leak,
    ];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            TargetVerdict::None => "none",
            TargetVerdict::Rising => "rising",
            TargetVerdict::Suspect => "suspect",
            TargetVerdict::Leak => "leak",
        }
    }
}

/// The metrics of one target.
#[derive(Clone, Debug, Default)]
pub struct TargetMetrics {
    /// Its verdict now.
    pub verdict: Option<TargetVerdict>,
    /// The last count.
    pub goroutines: Option<u64>,
    /// Samples answered.
    pub samples: u64,
    /// Requests that failed.
    pub fetch_errors: u64,
    /// Restarts seen.
    pub restarts: u64,
    /// The stacks with a verdict, by signature.
    pub stacks: BTreeMap<Signature, StackMetrics>,
}

/// One stack with a verdict.
#[derive(Clone, Debug)]
pub struct StackMetrics {
    /// Its leak site's function, file and line; empty when it has none.
    pub function: String,
    /// The file.
    pub file: String,
    /// The line.
    pub line: u32,
    /// `suspect` or `leak`.
    pub verdict: Verdict,
    /// Goroutines with the stack in the last profile.
    pub goroutines: u64,
}

/// Everything `/metrics` serves.
#[derive(Clone, Debug, Default)]
pub struct MetricsDoc {
    /// By pprof base.
    pub targets: BTreeMap<String, TargetMetrics>,
}

impl MetricsDoc {
    /// Takes in one event of the watch.
    pub fn observe(&mut self, event: &WatchEvent) {
        match event {
            WatchEvent::Start(start) => {
                for target in &start.targets {
                    self.targets.entry(target.clone()).or_default();
                }
            }
            WatchEvent::Sample(sample) => {
                let target = self.targets.entry(sample.target.clone()).or_default();
                target.samples += 1;
                target.goroutines = Some(sample.goroutines);
                target.verdict.get_or_insert(TargetVerdict::None);
                if let Some(groups) = &sample.groups {
                    for (signature, stack) in &mut target.stacks {
                        stack.goroutines = groups
                            .iter()
                            .filter(|g| g.signature == *signature)
                            .map(|g| g.count)
                            .sum();
                    }
                }
            }
            WatchEvent::Restart(restart) => {
                let target = self.targets.entry(restart.target.clone()).or_default();
                target.restarts += 1;
                target.stacks.clear();
                target.verdict = Some(TargetVerdict::None);
            }
            WatchEvent::Alert(alert) => {
                let target = self.targets.entry(alert.target.clone()).or_default();
                let verdict = match alert.verdict {
                    AlertVerdict::Rising => TargetVerdict::Rising,
                    AlertVerdict::Group(Verdict::Leak) => TargetVerdict::Leak,
                    AlertVerdict::Group(Verdict::Suspect) => TargetVerdict::Suspect,
                    AlertVerdict::Group(_) => TargetVerdict::None,
                };
                target.verdict = target.verdict.max(Some(verdict));
                if let (
                    AlertScope::Group,
                    Some(signature),
                    AlertVerdict::Group(v @ (Verdict::Leak | Verdict::Suspect)),
                ) = (alert.scope, alert.signature, alert.verdict)
                {
                    let site = alert.leak_site.as_ref();
                    target.stacks.insert(
                        signature,
                        StackMetrics {
                            function: site.map(|s| s.function.clone()).unwrap_or_default(),
                            file: site.map(|s| s.file.clone()).unwrap_or_default(),
                            line: site.map_or(0, |s| s.line),
                            verdict: v,
                            goroutines: alert.count_after,
                        },
                    );
                }
            }
            WatchEvent::Error(failure) => {
                self.targets
                    .entry(failure.target.clone())
                    .or_default()
                    .fetch_errors += 1;
            }
            WatchEvent::Dump(_)
            | WatchEvent::Recovered(_)
            | WatchEvent::Evaluation(_)
            | WatchEvent::Series(_)
            | WatchEvent::Summary(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use goleash_core::classify::Blocking;

    use super::*;
    use crate::doc::Site;
    use crate::doc::watch::{Alert, Failure, GroupCount, Restart, Sample};
    use crate::history::SampleSource;

    const TARGET: &str = "http://a:6060/debug/pprof";

    fn sample(groups: Option<Vec<GroupCount>>) -> WatchEvent {
        WatchEvent::Sample(Sample {
            schema_version: 1,
            target: TARGET.into(),
            t: 1.0,
            goroutines: 50,
            source: SampleSource::Profile,
            process: 1,
            cost_ms: 1.0,
            groups,
            created: None,
        })
    }

    fn alert(verdict: AlertVerdict, signature: Option<Signature>) -> WatchEvent {
        WatchEvent::Alert(Box::new(Alert {
            schema_version: 1,
            target: TARGET.into(),
            t: 2.0,
            process: 1,
            scope: if signature.is_some() {
                AlertScope::Group
            } else {
                AlertScope::Total
            },
            verdict,
            why: "grew".into(),
            signature,
            count_before: 5,
            count_after: 30,
            slope_per_minute: 1.0,
            p_value: 0.001,
            confidence: 0.999,
            proven_leaked: None,
            stack: Vec::new(),
            exit_conditions: Vec::new(),
            blocking: signature.map(|_| Blocking::ChanSend),
            leak_site: signature.map(|_| Site {
                function: "main.f".into(),
                file: "/src/main.go".into(),
                line: 12,
                source: None,
            }),
            pattern: None,
            hint: None,
        }))
    }

    #[test]
    fn verdicts_rise_stacks_follow_the_profiles_and_a_restart_clears_them() {
        let stack = Signature(0xabc);
        let mut doc = MetricsDoc::default();
        doc.observe(&sample(None));
        assert_eq!(doc.targets[TARGET].verdict, Some(TargetVerdict::None));
        doc.observe(&alert(AlertVerdict::Rising, None));
        doc.observe(&alert(AlertVerdict::Group(Verdict::Leak), Some(stack)));
        // A later, weaker alert does not lower the verdict.
        doc.observe(&alert(AlertVerdict::Rising, None));
        let target = &doc.targets[TARGET];
        assert_eq!(target.verdict, Some(TargetVerdict::Leak));
        assert_eq!(target.stacks[&stack].goroutines, 30);
        assert_eq!(target.stacks[&stack].line, 12);
        doc.observe(&sample(Some(vec![GroupCount {
            signature: stack,
            count: 44,
        }])));
        assert_eq!(doc.targets[TARGET].stacks[&stack].goroutines, 44);
        doc.observe(&WatchEvent::Error(Failure {
            schema_version: 1,
            target: TARGET.into(),
            t: 3.0,
            message: "refused".into(),
            failures: 1,
            retry_in_secs: 5.0,
        }));
        doc.observe(&WatchEvent::Restart(Restart {
            schema_version: 1,
            target: TARGET.into(),
            t: 4.0,
            process: 2,
            reason: "process_start_time_seconds changed".into(),
        }));
        let target = &doc.targets[TARGET];
        assert_eq!(target.verdict, Some(TargetVerdict::None));
        assert!(target.stacks.is_empty());
        assert_eq!(
            (target.samples, target.fetch_errors, target.restarts),
            (2, 1, 1)
        );
    }
}
