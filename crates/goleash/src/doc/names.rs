//! How the documents' typed values are spelled on the wire: the names `docs/json.md`
//! documents, from the core's own `name()`s where it has them.

use std::collections::BTreeMap;

use goleash_core::Signature;
use goleash_core::classify::{Blocking, Verdict};
use goleash_core::exits::{ExitKind, Possibility};
use goleash_core::model::{CauseKind, Format, Profile, RaceSectionKind};
use serde::Serializer;

use crate::gate::GateOutcome;

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
