//! Continuing a history: a target's latest process and series, as a watch of the same
//! database left them.

use std::collections::VecDeque;

use anyhow::Result;
use goleash_core::trend::TrendState;

use crate::history::GroupInfo;
use crate::store::Store;
use crate::watch::target::{GroupState, MAX_PROFILES, MAX_SAMPLES, Target};

/// Continues a target's history: its latest process and series.
pub(super) fn resume(store: &mut Store, target: &mut Target) -> Result<()> {
    let resume = store.resume(target.id, MAX_SAMPLES, MAX_PROFILES)?;
    let Some(process) = resume.process else {
        return Ok(());
    };
    target.process = Some(process.id);
    target.start_time = process.start_time;
    target.first_profile_stored = !resume.profile_times.is_empty();
    for &(t, v) in &resume.samples {
        target.push_sample(t, v);
    }
    target.profile_t = resume.profile_times.iter().copied().collect();
    for row in &resume.groups {
        target.described.insert(row.meta.signature);
    }
    for (signature, counts) in resume.group_counts {
        let Some(row) = resume.groups.iter().find(|g| g.meta.signature == signature) else {
            continue;
        };
        let meta = &row.meta;
        target.groups.insert(
            signature,
            GroupState {
                counts: counts
                    .iter()
                    .map(|&c| u32::try_from(c).unwrap_or(u32::MAX))
                    .collect::<VecDeque<_>>(),
                info: GroupInfo {
                    blocking: meta.blocking,
                    site: meta.site.clone(),
                    verdict: meta.verdict,
                    why: meta.why.clone(),
                    pattern: meta.pattern.clone(),
                    hint: meta.hint.clone(),
                },
                status: TrendState::Empty,
            },
        );
    }
    target.carried = resume.alerted.iter().flatten().copied().collect();
    target.alerted = resume.alerted.into_iter().collect();
    Ok(())
}
