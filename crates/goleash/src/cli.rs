//! Arguments shared by several subcommands; they convert into the core's option structs.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, ValueEnum};
use goleash_core::{GroupOptions, ReadOptions, Similarity};

use crate::analysis::FileSource;
use crate::collect::{Client, HttpOptions};
use crate::gate::Gate;
use crate::render::style::ColorChoice;
use crate::source_map::SourceMap;

/// Output formats of the commands that report findings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people.
    Text,
    /// For machines: see docs/json.md.
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other dashboards.
    Sarif,
    /// The text, then GitHub Actions annotations (and the job summary when
    /// GITHUB_STEP_SUMMARY is set). The default under GitHub Actions when stdout is not a
    /// terminal; `--format text` turns it off.
    Github,
    /// One `file:line:col: verdict: message` line per finding, for editors and grep.
    Short,
}

/// Output formats of the commands that stream events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StreamFormat {
    /// For people: a live view on a terminal, a log elsewhere.
    Text,
    /// One JSON object per line: see docs/json.md.
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

/// How much of what was judged the text lists: the same flag for every command.
#[derive(Args, Clone, Debug, Default)]
pub struct ShowArgs {
    /// List every group in the text, whatever its verdict: the groups that are long-lived by
    /// design, lingering, suspect, accepted by the gate or not judged are shown in full, not
    /// counted in a line (`diff`: also the groups that did not change).
    #[arg(long, short = 'v', visible_alias = "all")]
    pub verbose: bool,
}

/// How to print.
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Output format [default: text; github under GitHub Actions when stdout is not a
    /// terminal].
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// When to colour text output (NO_COLOR is honoured).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

impl OutputArgs {
    /// The format asked for, or the one that fits where the output goes.
    pub fn format(&self) -> OutputFormat {
        self.format.unwrap_or_else(|| {
            let actions = std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true");
            if actions && !std::io::stdout().is_terminal() {
                OutputFormat::Github
            } else {
                OutputFormat::Text
            }
        })
    }

    /// Whether stdout carries data for a program (so text around dumps goes to stderr).
    pub fn stdout_is_data(&self) -> bool {
        matches!(
            self.format(),
            OutputFormat::Json | OutputFormat::Sarif | OutputFormat::Short
        )
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

/// The trend thresholds `watch` and `scan` share. Unset, each command picks its own:
/// `scan` the production defaults, `watch` those or windows fitted to a short --duration.
#[derive(Args, Debug, Clone)]
pub struct TrendArgs {
    /// Ignore this long after each process starts (default 2m; watch fits it to a short
    /// --duration).
    #[arg(long, value_parser = parse_duration)]
    pub warmup: Option<Duration>,
    /// How long a healthy count may take to come back after load; also the width of the
    /// windows whose floors must rise (default 5m; watch fits it to a short --duration).
    #[arg(long, value_parser = parse_duration)]
    pub cooldown: Option<Duration>,
    /// Cool-down windows a verdict needs (default 6, at least 3).
    #[arg(long, value_name = "N")]
    pub min_windows: Option<usize>,
    /// Smallest rise of the floor, in goroutines, that counts (default 5).
    #[arg(long, value_name = "N")]
    pub min_rise: Option<f64>,
}

/// Where the program's source is, and whether to read it.
#[derive(Args, Debug, Clone)]
pub struct SourceArgs {
    /// A checkout of the program's source, for dumps from another machine or a -trimpath
    /// build: files are found in DIR by the module its go.mod declares, or by the longest
    /// trailing part of their path. Repeatable.
    #[arg(long = "source", value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Do not read the program's source files, even when the dump's paths exist here.
    #[arg(long)]
    pub no_source: bool,
}

impl SourceArgs {
    /// The source files of the program, unless turned off.
    pub fn files(&self) -> FileSource {
        FileSource::with_map(SourceMap::new(&self.dirs), self.no_source)
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

/// `500ms`, `5s`, `1.5m`, `2h`, `7d`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms, 5s, 2m, 1h or 7d"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86_400.0,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?}: use ms, s, m, h or d"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("fast").is_err());
    }
}
