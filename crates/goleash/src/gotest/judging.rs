//! Judging what one package's tests left behind: each test's leftovers grouped by stack,
//! each group classified as the end of its test leaves it and, for tests that finished,
//! passed through the gate (suppressions and baseline).

use std::collections::{BTreeMap, HashMap};

use goleash_core::classify::{self, AssessOptions, Moment};
use goleash_core::trace::{Leftover, Link};
use goleash_core::{GroupOptions, Grouper, Tables};

use super::report::{Judged, TestLeftovers};
use crate::analysis::FileSource;
use crate::gate::Gate;

/// Groups the leftovers of each test by stack and judges every group; the gate decides the
/// groups of tests that finished.
pub fn group_and_judge(
    leftovers: Vec<Leftover>,
    tables: Tables,
    gate: &Gate,
    source: &FileSource,
) -> (Vec<TestLeftovers>, Tables) {
    let mut by_test: BTreeMap<(Option<String>, bool), Vec<Leftover>> = BTreeMap::new();
    for leftover in leftovers {
        by_test
            .entry((leftover.test.clone(), leftover.finished))
            .or_default()
            .push(leftover);
    }
    let mut keys = Vec::new();
    let mut records = Vec::new();
    let mut chains: Vec<HashMap<u64, Vec<Link>>> = Vec::new();
    let mut runs: Vec<Vec<(u64, u32)>> = Vec::new();
    for (key, leftovers) in by_test {
        let mut batch = Vec::new();
        let mut chain_of = HashMap::new();
        let mut run_of = Vec::new();
        for leftover in leftovers {
            if let Some(id) = leftover.record.id {
                chain_of.insert(id, leftover.chain);
                run_of.push((id, leftover.run));
            }
            batch.push(leftover.record);
        }
        keys.push(key);
        records.push(batch);
        chains.push(chain_of);
        runs.push(run_of);
    }
    let capture = Grouper::group_records(GroupOptions::default(), tables, &records);
    let tables = capture.tables;
    let mut tests = Vec::new();
    for ((((test, finished), snapshot), mut chain_of), run_of) in keys
        .into_iter()
        .zip(capture.snapshots)
        .zip(chains)
        .zip(runs)
    {
        // Which runs of the test each group's goroutines came from.
        let mut group_runs: Vec<Vec<u32>> = vec![Vec::new(); snapshot.groups.len()];
        for (id, run) in run_of {
            if let Some((group, _)) = snapshot.goroutines.get(id) {
                group_runs[group].push(run);
            }
        }
        for runs in &mut group_runs {
            runs.sort_unstable();
            runs.dedup();
        }
        let moment = if test.is_some() {
            Moment::TestEnded
        } else {
            Moment::Quiescent
        };
        let options = AssessOptions {
            moment,
            ..AssessOptions::default()
        };
        // Judged together: the writeLoops of connections an unclosed body holds are part of
        // their readLoops' leak.
        let assessments = classify::assess_all(&tables, &snapshot, &|_| None, &options, source);
        let judged = snapshot
            .groups
            .iter()
            .zip(assessments)
            .zip(group_runs)
            .map(|((group, assessment), runs)| {
                let (outcome, suppressed_because) = if finished {
                    let (o, r) = gate.outcome(&tables, group, &assessment);
                    (Some(o), r)
                } else {
                    (None, None)
                };
                let chain = group
                    .example
                    .id
                    .and_then(|id| chain_of.remove(&id))
                    .unwrap_or_default();
                Judged {
                    assessment,
                    outcome,
                    suppressed_because,
                    chain,
                    runs,
                }
            })
            .collect();
        tests.push(TestLeftovers {
            test,
            finished,
            snapshot,
            judged,
        });
    }
    (tests, tables)
}
