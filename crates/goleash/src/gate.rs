//! Whether a judged group fails a gate: the same rules for `goleash check` and
//! `goleash test`, so that one `.goleash.toml` and one baseline serve both.

use anyhow::Result;
use goleash_core::Tables;
use goleash_core::classify::{Assessment, Verdict};
use goleash_core::group::Group;
use goleash_core::rules::Baseline;

use crate::config::{self, Config};

/// What happened to a group at the gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateOutcome {
    /// A leak (or, with `strict`, a suspect) that nothing accepted.
    Fail,
    /// Not a leak.
    Pass,
    /// A rule of `.goleash.toml` matched.
    Suppressed,
    /// The stack is in the baseline.
    Baselined,
}

impl GateOutcome {
    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            GateOutcome::Fail => "fail",
            GateOutcome::Pass => "pass",
            GateOutcome::Suppressed => "suppressed",
            GateOutcome::Baselined => "baselined",
        }
    }
}

/// The suppressions and baseline in force, and whether suspects fail too.
pub struct Gate {
    /// `.goleash.toml`.
    pub config: Config,
    /// The accepted stacks.
    pub baseline: Baseline,
    /// Suspects fail as well as leaks.
    pub strict: bool,
}

impl Gate {
    /// Reads the configuration (`path`, or `.goleash.toml` found from the working
    /// directory) and the baseline (`baseline`, or the one the configuration names, when it
    /// has been written).
    pub fn load(
        path: Option<&std::path::Path>,
        baseline: Option<&std::path::Path>,
        strict: bool,
    ) -> Result<Gate> {
        let config = config::load(path)?;
        let baseline = match (baseline, &config.baseline) {
            (Some(path), _) => config::read_baseline(path)?,
            (None, Some(path)) if path.exists() => config::read_baseline(path)?,
            _ => Baseline::default(),
        };
        Ok(Gate {
            config,
            baseline,
            strict,
        })
    }

    /// Why a group passes or fails, with the rule's reason when one suppressed it.
    pub fn outcome(
        &self,
        tables: &Tables,
        group: &Group,
        assessment: &Assessment,
    ) -> (GateOutcome, Option<String>) {
        let failing = assessment.verdict == Verdict::Leak
            || (self.strict && assessment.verdict == Verdict::Suspect);
        if !failing {
            return (GateOutcome::Pass, None);
        }
        if let Some(rule) = self
            .config
            .rules
            .iter()
            .find(|r| r.matches(tables, group, assessment))
        {
            return (GateOutcome::Suppressed, Some(rule.reason.clone()));
        }
        if self.baseline.accepts(group.signature) {
            return (GateOutcome::Baselined, None);
        }
        (GateOutcome::Fail, None)
    }
}
