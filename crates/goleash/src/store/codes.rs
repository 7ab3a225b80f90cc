//! How the store spells the history's enums in its columns, and a session's settings in
//! its one JSON column.
//!
//! The codes are the store's own, not the names the JSON and text show (`Verdict::name`
//! and the like): a new public name must not make old histories unreadable. They are the
//! names 0.1.0 wrote, frozen here, so that schema 1 needed no translation. The CHECK
//! constraints of the schema list the same codes: a new variant needs a code here and a
//! migration that lets its column accept it (the round-trip test fails until both exist).
//! The samples' `source` column has no CHECK: 0.1.0 wrote it unchecked, with these codes.

use goleash_core::Signature;
use goleash_core::classify::{Blocking, Verdict};
use serde::{Deserialize, Serialize};

use crate::history::{AlertVerdict, DumpRole, Profile, SampleSource, Settings};

/// One table per enum: the encoder's `match` is exhaustive, so a new variant does not
/// compile without its code, and the decoder and the tests' list of every value are read
/// off the same table.
macro_rules! codes {
    ($ty:ty, $encode:ident, $decode:ident, $all:ident {
        $($variant:path => $code:literal,)+
    }) => {
        pub(super) fn $encode(value: $ty) -> &'static str {
            match value {
                $($variant => $code,)+
            }
        }

        pub(super) fn $decode(code: &str) -> Option<$ty> {
            match code {
                $($code => Some($variant),)+
                _ => None,
            }
        }

        #[cfg(test)]
        pub(super) const $all: &[$ty] = &[$($variant),+];
    };
}

codes!(Verdict, verdict_code, verdict_of, VERDICTS {
    Verdict::Leak => "leak",
    Verdict::Suspect => "suspect",
    Verdict::Lingering => "lingering",
    Verdict::Expected => "expected",
});

codes!(Blocking, blocking_code, blocking_of, BLOCKINGS {
    Blocking::ChanReceive => "chan receive",
    Blocking::ChanSend => "chan send",
    Blocking::ChanOp => "chan send or receive",
    Blocking::ChanReceiveNil => "chan receive (nil chan)",
    Blocking::ChanSendNil => "chan send (nil chan)",
    Blocking::Select => "select",
    Blocking::SelectNoCases => "select (no cases)",
    Blocking::WaitGroup => "sync.WaitGroup.Wait",
    Blocking::Mutex => "sync.Mutex.Lock",
    Blocking::RWMutexRead => "sync.RWMutex.RLock",
    Blocking::RWMutexWrite => "sync.RWMutex.Lock",
    Blocking::Cond => "sync.Cond.Wait",
    Blocking::Semaphore => "semacquire",
    Blocking::Sleep => "sleep",
    Blocking::IoWait => "IO wait",
    Blocking::Syscall => "syscall",
    Blocking::Running => "running",
    Blocking::Runnable => "runnable",
    Blocking::Runtime => "runtime",
    Blocking::Unknown => "unknown",
});

codes!(Profile, profile_code, profile_of, PROFILES {
    Profile::Goroutine => "goroutine",
    Profile::GoroutineLeak => "goroutineleak",
});

codes!(DumpRole, role_code, role_of, ROLES {
    DumpRole::First => "first",
    DumpRole::Latest => "latest",
    DumpRole::Evidence => "evidence",
});

codes!(SampleSource, source_code, source_of, SOURCES {
    SampleSource::Metrics => "metrics",
    SampleSource::Vars => "vars",
    SampleSource::Index => "index",
    SampleSource::Profile => "profile",
    SampleSource::Dump => "dump",
    SampleSource::Prometheus => "prometheus",
});

/// An alert's verdict: a stack's, or `rising` for the total.
pub(super) fn alert_verdict_code(verdict: AlertVerdict) -> &'static str {
    match verdict {
        AlertVerdict::Group(verdict) => verdict_code(verdict),
        AlertVerdict::Rising => "rising",
    }
}

pub(super) fn alert_verdict_of(code: &str) -> Option<AlertVerdict> {
    match code {
        "rising" => Some(AlertVerdict::Rising),
        _ => verdict_of(code).map(AlertVerdict::Group),
    }
}

/// A stack's signature: its 16 hex digits.
pub(super) fn signature_code(signature: Signature) -> String {
    signature.to_string()
}

pub(super) fn signature_of(code: &str) -> Option<Signature> {
    code.parse().ok()
}

/// A session's settings as the `settings` column holds them: the JSON object 0.1.0 wrote,
/// its fields in this order.
#[derive(Serialize, Deserialize)]
struct SettingsText {
    interval_secs: f64,
    warmup_secs: f64,
    cooldown_secs: f64,
    min_windows: usize,
    min_rise: f64,
    compressed: bool,
}

pub(super) fn settings_code(settings: &Settings) -> String {
    let text = SettingsText {
        interval_secs: settings.interval_secs,
        warmup_secs: settings.warmup_secs,
        cooldown_secs: settings.cooldown_secs,
        min_windows: settings.min_windows,
        min_rise: settings.min_rise,
        compressed: settings.compressed,
    };
    serde_json::to_string(&text).expect("numbers and booleans always serialize")
}

pub(super) fn settings_of(code: &str) -> Option<Settings> {
    let text: SettingsText = serde_json::from_str(code).ok()?;
    Some(Settings {
        interval_secs: text.interval_secs,
        warmup_secs: text.warmup_secs,
        cooldown_secs: text.cooldown_secs,
        min_windows: text.min_windows,
        min_rise: text.min_rise,
        compressed: text.compressed,
    })
}
