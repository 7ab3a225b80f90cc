//! How the documents' typed values are spelled on the wire: the names `docs/json.md`
//! documents, from the core's own `name()`s where it has them.

use std::collections::BTreeMap;

use goleash_core::Signature;
use goleash_core::classify::{Blocking, Verdict};
use goleash_core::exits::{ExitKind, Possibility};
use goleash_core::model::{CauseKind, Format, Profile, RaceSectionKind};
use goleash_core::trend::{Recovery, TrendState};
use serde::Serializer;
use serde::ser::SerializeStruct;

use goleash_core::trace::{BinaryOutcome, Evidence, FailureKind};

use super::report::TargetVerdict;
use super::test;
use crate::gate::GateOutcome;
use crate::history::{self, AlertVerdict, DumpRole, SampleSource};

pub fn verdict<S: Serializer>(v: &Verdict, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.name())
}

pub fn blocking<S: Serializer>(v: &Blocking, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.name())
}

pub fn format<S: Serializer>(v: &Format, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.name())
}

pub fn profile<S: Serializer>(v: &Profile, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(profile_name(*v))
}

/// `goroutine` or `goroutineleak`: the profile's name in `/debug/pprof/`.
pub fn profile_name(profile: Profile) -> &'static str {
    match profile {
        Profile::Goroutine => "goroutine",
        Profile::GoroutineLeak => "goroutineleak",
    }
}

pub fn cause_kind<S: Serializer>(v: &CauseKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.name())
}

pub fn race_section<S: Serializer>(v: &RaceSectionKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match v {
        RaceSectionKind::Access { .. } => "access",
        RaceSectionKind::Creation { .. } => "creation",
        RaceSectionKind::Other => "other",
    })
}

pub fn signature<S: Serializer>(v: &Signature, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// Wait reasons by name: formats without states contribute none.
pub fn states<S: Serializer>(v: &[(Option<String>, u64)], s: S) -> Result<S::Ok, S::Error> {
    let named: BTreeMap<&str, u64> = v
        .iter()
        .filter_map(|(state, n)| state.as_deref().map(|state| (state, *n)))
        .collect();
    s.collect_map(named)
}

/// Key → value, sorted by key.
pub fn pairs<S: Serializer>(v: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    let sorted: BTreeMap<&str, &str> = v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    s.collect_map(sorted)
}

pub fn gate_outcome<S: Serializer>(v: &GateOutcome, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.name())
}

pub fn exit_kind<S: Serializer>(v: &ExitKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.name())
}

/// `true`, `false`, or the string `"unknown"`.
pub fn possibility<S: Serializer>(v: &Possibility, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Possibility::Yes => s.serialize_bool(true),
        Possibility::No => s.serialize_bool(false),
        Possibility::Unknown => s.serialize_str("unknown"),
    }
}

pub fn signature_or_null<S: Serializer>(v: &Option<Signature>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

pub fn blocking_or_null<S: Serializer>(v: &Option<Blocking>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(v.name()),
        None => s.serialize_none(),
    }
}

pub fn alert_verdict<S: Serializer>(v: &AlertVerdict, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.name())
}

pub fn sample_source<S: Serializer>(v: &SampleSource, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.name())
}

pub fn sample_source_or_null<S: Serializer>(
    v: &Option<SampleSource>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(v.name()),
        None => s.serialize_none(),
    }
}

/// The profile a watch kept.
pub fn history_profile<S: Serializer>(v: &history::Profile, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.name())
}

/// `{"status", "slope_per_minute", "p_value"}`: the state's name, its slope once judged,
/// the p-value of a rise or fall.
pub fn trend<S: Serializer>(v: &TrendState, s: S) -> Result<S::Ok, S::Error> {
    let mut trend = s.serialize_struct("Trend", 3)?;
    trend.serialize_field("status", v.name())?;
    trend.serialize_field("slope_per_minute", &v.slope_per_minute())?;
    trend.serialize_field("p_value", &v.p_value())?;
    trend.end()
}

pub fn dump_role<S: Serializer>(v: &DumpRole, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.name())
}

pub fn target_verdict<S: Serializer>(v: &TargetVerdict, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.name())
}

/// A load phase's `{"outcome", "after_secs", "retained"}`: the recovery's name, and the
/// seconds it took or the goroutines that stayed.
pub fn recovery<S: Serializer>(v: &Recovery, s: S) -> Result<S::Ok, S::Error> {
    let (after_secs, retained) = match *v {
        Recovery::Recovered { after_secs } => (Some(after_secs), None),
        Recovery::Stuck { retained } => (None, Some(retained)),
        _ => (None, None),
    };
    let mut phase = s.serialize_struct("Recovery", 3)?;
    phase.serialize_field("outcome", v.name())?;
    phase.serialize_field("after_secs", &after_secs)?;
    phase.serialize_field("retained", &retained)?;
    phase.end()
}

pub fn binary_outcome<S: Serializer>(v: &BinaryOutcome, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.name())
}

pub fn evidence<S: Serializer>(v: &Evidence, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.name())
}

pub fn failure_kind<S: Serializer>(v: &FailureKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.name())
}

/// The gate's decision on a test's leftovers; `unfinished` when its test never ended.
pub fn test_outcome<S: Serializer>(v: &Option<GateOutcome>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.map_or("unfinished", GateOutcome::name))
}

/// The groups that are not fine as `leaks` (all that version 1 of `goleash test`'s JSON
/// listed at first), then those long-lived by design as `expected`.
pub fn leaks_and_expected<S: Serializer>(v: &[test::Leftover], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    struct Only<'a>(&'a [test::Leftover], bool);
    impl serde::Serialize for Only<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(
                self.0
                    .iter()
                    .filter(|g| (g.verdict == Verdict::Expected) == self.1),
            )
        }
    }
    let mut map = s.serialize_map(Some(2))?;
    map.serialize_entry("leaks", &Only(v, false))?;
    map.serialize_entry("expected", &Only(v, true))?;
    map.end()
}
