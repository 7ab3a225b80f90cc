//! Arguments shared by several subcommands; they convert into the core's option structs.

use std::time::Duration;

use clap::{Args, ValueEnum};
use goleash_core::{GroupOptions, Similarity};

use crate::collect::{Client, HttpOptions};
use crate::render::style::ColorChoice;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people.
    Text,
    /// For machines: see docs/json.md.
    Json,
}

/// How alike stacks must be to share a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SimilarityArg {
    /// Same frames, same argument values, same `locked to thread`.
    Exact,
    /// Same frames and non-pointer arguments.
    AnyPointer,
    /// Same frames, whatever the arguments.
    AnyValue,
}

/// Output and grouping options.
#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// When to colour text output (NO_COLOR is honoured).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// How alike stacks must be to share a group.
    #[arg(long, value_enum, default_value_t = SimilarityArg::AnyValue)]
    pub similarity: SimilarityArg,
    /// Keep goroutines with different pprof labels in different groups.
    #[arg(long)]
    pub split_labels: bool,
}

impl CommonArgs {
    /// The core's grouping options.
    pub fn group_options(&self) -> GroupOptions {
        GroupOptions {
            similarity: match self.similarity {
                SimilarityArg::Exact => Similarity::Exact,
                SimilarityArg::AnyPointer => Similarity::AnyPointer,
                SimilarityArg::AnyValue => Similarity::AnyValue,
            },
            split_by_labels: self.split_labels,
            ..GroupOptions::default()
        }
    }
}

/// Options for reading from live services.
#[derive(Args, Debug, Clone)]
pub struct HttpArgs {
    /// Time allowed for one request to a service, in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub timeout: u64,
    /// Do not ask a live service for /debug/pprof/goroutineleak. That profile (Go 1.27, or
    /// 1.26 with GOEXPERIMENT=goroutineleakprofile) is how the runtime proves leaks, but
    /// serving it runs a full garbage collection in the service (about a second per 100k
    /// goroutines).
    #[arg(long)]
    pub no_leak_profile: bool,
}

/// Options for judging goroutines.
#[derive(Args, Debug, Clone)]
pub struct JudgeArgs {
    /// The dump was taken when the program should have been idle (tests done, requests
    /// drained): anything still waiting on another goroutine is left over, a leak. goleak
    /// messages and `go test` timeouts are read this way anyway.
    #[arg(long)]
    pub quiescent: bool,
    /// Do not read the program's source files, even when the dump's paths exist here.
    #[arg(long)]
    pub no_source: bool,
}

impl HttpArgs {
    /// Whether to ask for the goroutineleak profile.
    pub fn leak_profile(&self) -> bool {
        !self.no_leak_profile
    }

    /// A client with these options.
    pub fn client(&self) -> Client {
        Client::new(HttpOptions {
            timeout: Duration::from_secs(self.timeout.max(1)),
            ..HttpOptions::default()
        })
    }
}
