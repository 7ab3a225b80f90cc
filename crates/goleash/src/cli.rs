//! Arguments shared by several subcommands; they convert into the core's option structs.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, ValueEnum};
use goleash_core::{GroupOptions, ReadOptions, Similarity};

use crate::analysis::FileSource;
use crate::collect::{Client, HttpOptions};
use crate::gate::Gate;
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

/// How to print.
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// When to colour text output (NO_COLOR is honoured).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

impl OutputArgs {
    /// Whether stdout carries JSON (so text around dumps goes to stderr).
    pub fn json(&self) -> bool {
        self.format == OutputFormat::Json
    }
}

/// How to group goroutines.
#[derive(Args, Debug, Clone)]
pub struct GroupingArgs {
    /// How alike stacks must be to share a group.
    #[arg(long, value_enum, default_value_t = SimilarityArg::AnyValue)]
    pub similarity: SimilarityArg,
    /// Keep goroutines with different pprof labels in different groups.
    #[arg(long)]
    pub split_labels: bool,
}

impl GroupingArgs {
    /// The core's reading options, grouping as asked.
    pub fn read_options(&self) -> ReadOptions {
        ReadOptions {
            group: self.group_options(),
            ..ReadOptions::default()
        }
    }

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
    #[command(flatten)]
    pub source: SourceArgs,
}

/// Whether to read the program's source.
#[derive(Args, Debug, Clone)]
pub struct SourceArgs {
    /// Do not read the program's source files, even when the dump's paths exist here.
    #[arg(long)]
    pub no_source: bool,
}

impl SourceArgs {
    /// The source files of the program, unless turned off.
    pub fn files(&self) -> FileSource {
        FileSource::new(self.no_source)
    }
}

/// The gate's rules: what fails, what is accepted. `check` and `test` share them, so that
/// one `.goleash.toml` and one baseline serve both.
#[derive(Args, Debug, Clone)]
pub struct GateArgs {
    /// Fail on suspects too, not only on leaks.
    #[arg(long)]
    pub strict: bool,
    /// The suppression file (default: .goleash.toml here or in a parent directory).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Accept the stacks recorded in this baseline (default: the one .goleash.toml names).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Record every stack that is a leak or a suspect today in FILE, and pass.
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
}

impl GateArgs {
    /// The gate these flags and the configuration they name describe.
    pub fn gate(&self) -> Result<Gate> {
        Gate::load(
            self.config.as_deref(),
            self.baseline.as_deref(),
            self.strict,
        )
    }
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
