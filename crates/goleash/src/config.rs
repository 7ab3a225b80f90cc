//! `.goleash.toml`: the goroutines a team has decided are fine, checked into the repository.
//!
//! ```toml
//! # Accept stacks recorded by `goleash check --write-baseline`.
//! baseline = ".goleash-baseline.json"
//!
//! [[ignore]]
//! reason = "the metrics pusher lives as long as the process"
//! function = "github.com/acme/metrics.(*Pusher).loop"   # anywhere in the stack
//!
//! [[ignore]]
//! reason = "gRPC keeps one reader per connection"
//! created_by = "google.golang.org/grpc/*"               # trailing * = prefix
//! state = "IO wait"
//!
//! [[ignore]]
//! reason = "pool workers are labelled"
//! label = { key = "pool", value = "re:^(squares|cubes)$" }   # re: = regular expression
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use goleash_core::Signature;
use goleash_core::classify::{Assessment, Verdict};
use goleash_core::rules::{Baseline, Matcher, Rule};
use goleash_core::{Group, Tables};
use serde::{Deserialize, Serialize};

/// The file looked for in the working directory and its parents.
pub const FILE_NAME: &str = ".goleash.toml";

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    baseline: Option<String>,
    #[serde(default)]
    ignore: Vec<IgnoreEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IgnoreEntry {
    reason: String,
    function: Option<String>,
    top: Option<String>,
    leak_site: Option<String>,
    created_by: Option<String>,
    state: Option<String>,
    label: Option<LabelEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelEntry {
    key: String,
    value: String,
}

/// What the configuration says.
#[derive(Default)]
pub struct Config {
    /// Where it was read from, if anywhere.
    pub path: Option<PathBuf>,
    /// Suppression rules.
    pub rules: Vec<Rule>,
    /// The baseline file it names, relative paths resolved against the config's directory.
    pub baseline: Option<PathBuf>,
}

/// Reads `path`, or `.goleash.toml` from the working directory or the nearest parent that
/// has one. No file is no configuration.
pub fn load(path: Option<&Path>) -> Result<Config> {
    let path = match path {
        Some(p) => Some(p.to_path_buf()),
        None => find(&std::env::current_dir()?),
    };
    let Some(path) = path else {
        return Ok(Config::default());
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let file: File = toml::from_str(&text).with_context(|| format!("in {}", path.display()))?;
    let matcher = |field: &str, pattern: &str| {
        Matcher::parse(pattern)
            .with_context(|| format!("{}: bad pattern for {field}: {pattern}", path.display()))
    };
    let mut rules = Vec::new();
    for (i, entry) in file.ignore.iter().enumerate() {
        let rule = Rule {
            reason: entry.reason.clone(),
            function: entry
                .function
                .as_deref()
                .map(|p| matcher("function", p))
                .transpose()?,
            top: entry
                .top
                .as_deref()
                .map(|p| matcher("top", p))
                .transpose()?,
            leak_site: entry
                .leak_site
                .as_deref()
                .map(|p| matcher("leak_site", p))
                .transpose()?,
            created_by: entry
                .created_by
                .as_deref()
                .map(|p| matcher("created_by", p))
                .transpose()?,
            state: entry
                .state
                .as_deref()
                .map(|p| matcher("state", p))
                .transpose()?,
            label: entry
                .label
                .as_ref()
                .map(|l| Ok::<_, anyhow::Error>((l.key.clone(), matcher("label", &l.value)?)))
                .transpose()?,
        };
        let empty = rule.function.is_none()
            && rule.top.is_none()
            && rule.leak_site.is_none()
            && rule.created_by.is_none()
            && rule.state.is_none()
            && rule.label.is_none();
        if empty {
            bail!(
                "{}: ignore entry {} matches nothing: give function, top, leak_site, created_by, state or label",
                path.display(),
                i + 1
            );
        }
        rules.push(rule);
    }
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(Config {
        baseline: file.baseline.map(|b| dir.join(b)),
        path: Some(path),
        rules,
    })
}

fn find(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|d| d.join(FILE_NAME))
        .find(|p| p.is_file())
}

/// The baseline file: stacks accepted as they are.
#[derive(Serialize, Deserialize)]
pub struct BaselineFile {
    /// Format version.
    pub schema_version: u32,
    /// What wrote it.
    pub generated_by: String,
    /// The accepted stacks.
    pub groups: Vec<BaselineEntry>,
}

/// One accepted stack. Only `signature` is used; the rest is for the people reviewing it.
#[derive(Serialize, Deserialize)]
pub struct BaselineEntry {
    /// The stack's signature.
    pub signature: String,
    /// Its verdict when it was accepted.
    pub verdict: String,
    /// Goroutines it had.
    pub count: u64,
    /// The leak site.
    pub leak_site: Option<String>,
    /// What it waited for.
    pub blocking: String,
    /// Who started it.
    pub created_by: Option<String>,
}

impl BaselineEntry {
    /// The entry accepting `group` as it was judged, when it needs accepting: only leaks
    /// and suspects fail a gate.
    pub fn accepting(tables: &Tables, group: &Group, assessment: &Assessment) -> Option<Self> {
        if !matches!(assessment.verdict, Verdict::Leak | Verdict::Suspect) {
            return None;
        }
        let function = |f| tables.str(tables.get_frame(f).function).into_owned();
        Some(BaselineEntry {
            signature: group.signature.to_string(),
            verdict: assessment.verdict.name().to_string(),
            count: group.count,
            leak_site: assessment.leak_site.map(function),
            blocking: assessment.blocking.name().to_string(),
            created_by: group.created_by.map(function),
        })
    }
}

/// Writes a baseline of `groups` (one entry per signature) to `path` and says so on stderr,
/// naming the commands that will read it.
pub fn write_baseline(path: &Path, mut groups: Vec<BaselineEntry>, readers: &str) -> Result<()> {
    groups.sort_by(|a, b| a.signature.cmp(&b.signature));
    groups.dedup_by(|a, b| a.signature == b.signature);
    let file = BaselineFile {
        schema_version: crate::render::json::SCHEMA_VERSION,
        generated_by: concat!("goleash ", env!("CARGO_PKG_VERSION")).to_string(),
        groups,
    };
    let text = serde_json::to_string_pretty(&file)? + "\n";
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "goleash: wrote {} to {}; check it in, and {readers} accept them from now on",
        crate::render::text::plural(file.groups.len() as u64, "stack", "stacks"),
        path.display()
    );
    Ok(())
}

/// Reads a baseline file.
pub fn read_baseline(path: &Path) -> Result<Baseline> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the baseline {}", path.display()))?;
    let file: BaselineFile = serde_json::from_str(&text)
        .with_context(|| format!("the baseline {} is not valid", path.display()))?;
    let signatures = file
        .groups
        .iter()
        .map(|g| g.signature.parse::<Signature>())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("a signature in {} is not valid", path.display()))?;
    Ok(Baseline::new(signatures))
}
