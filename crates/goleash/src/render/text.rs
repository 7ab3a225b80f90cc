//! The text report of `goleash inspect`, for people.
//!
//! Groups come largest first. Each shows its state, how long it has waited, its stack with
//! the program's own frames in bold and runs of runtime and standard library frames folded,
//! and who created it. The output is the same with and without colour, minus the colour.

use std::io::{self, Write};

use goleash_core::code::{Origin, origin};
use goleash_core::group::{Group, ParentRef};
use goleash_core::model::{CauseKind, Format, Profile, RaceSectionKind};
use goleash_core::{Capture, FrameId, Snapshot, Tables};

use super::style::Style;

/// What to show.
#[derive(Clone, Debug, Default)]
pub struct TextOptions {
    /// Show every frame instead of folding runtime and standard library runs.
    pub full: bool,
}

/// One input and what was read from it.
pub struct Source<'a> {
    /// How to name the input in messages: its path, `stdin` or its URL.
    pub name: String,
    /// What was read.
    pub capture: &'a Capture,
}

/// Writes the report of every dump of every input.
pub fn write_report(
    out: &mut dyn Write,
    sources: &[Source<'_>],
    style: &Style,
    options: &TextOptions,
) -> io::Result<()> {
    let mut first = true;
    for source in sources {
        let tables = &source.capture.tables;
        for snapshot in &source.capture.snapshots {
            if !first {
                writeln!(out)?;
            }
            first = false;
            write_snapshot(out, &source.name, tables, snapshot, style, options)?;
        }
        for race in &source.capture.races {
            if !first {
                writeln!(out)?;
            }
            first = false;
            writeln!(out, "{}", style.red(&format!("{}: data race", source.name)))?;
            let paths = Paths::new(
                tables,
                race.sections
                    .iter()
                    .flat_map(|s| tables.frames(s.stack).iter().copied()),
            );
            for section in &race.sections {
                let marker = match section.kind {
                    RaceSectionKind::Access { .. } => style.bold(&section.title),
                    _ => section.title.clone(),
                };
                writeln!(out, "  {marker}")?;
                for &frame in tables.frames(section.stack) {
                    write_frame(out, tables, frame, &paths, style, "    ")?;
                }
            }
        }
    }
    Ok(())
}

fn describe(snapshot: &Snapshot) -> String {
    let info = &snapshot.info;
    match (info.format, info.profile) {
        (Format::Debug1, Profile::Goroutine) => "goroutine profile (debug=1)".into(),
        (Format::Proto, Profile::Goroutine) => "goroutine profile (debug=0)".into(),
        (Format::Debug1, Profile::GoroutineLeak) => {
            "goroutineleak profile (debug=1): only goroutines the runtime proved leaked".into()
        }
        (Format::Proto, Profile::GoroutineLeak) => {
            "goroutineleak profile (debug=0): only goroutines the runtime proved leaked".into()
        }
        (Format::Traceback, _) => match info.cause.kind {
            CauseKind::Dump => "goroutine dump".into(),
            CauseKind::Panic => format!("panic: {}", info.cause.message),
            CauseKind::TestTimeout => format!("go test timeout: {}", info.cause.message),
            CauseKind::Fatal => format!("fatal error: {}", info.cause.message),
            CauseKind::Signal => info.cause.message.clone(),
            CauseKind::Goleak => "goleak: found unexpected goroutines".into(),
        },
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    let word = if n == 1 { one } else { many };
    format!("{} {word}", thousands(n))
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn write_snapshot(
    out: &mut dyn Write,
    name: &str,
    tables: &Tables,
    snapshot: &Snapshot,
    style: &Style,
    options: &TextOptions,
) -> io::Result<()> {
    writeln!(
        out,
        "{}: {} · {} in {}",
        style.bold(name),
        describe(snapshot),
        style.bold(&plural(snapshot.total, "goroutine", "goroutines")),
        plural(snapshot.groups.len() as u64, "group", "groups"),
    )?;
    if !snapshot.info.cause.running_tests.is_empty() {
        writeln!(
            out,
            "  running tests: {}",
            snapshot.info.cause.running_tests.join(", ")
        )?;
    }
    for detail in &snapshot.info.cause.details {
        writeln!(out, "  {detail}")?;
    }
    if snapshot.truncated {
        writeln!(
            out,
            "  {}",
            style.yellow(
                "the dump is cut short: the last goroutine is incomplete and some may be missing"
            )
        )?;
    }
    let paths = Paths::new(
        tables,
        snapshot
            .groups
            .iter()
            .flat_map(|g| tables.frames(g.stack).iter().copied().chain(g.created_by)),
    );
    if let Some(root) = &paths.common {
        writeln!(
            out,
            "  {}",
            style.dim(&format!("paths of the program's own code are under {root}"))
        )?;
    }
    for group in &snapshot.groups {
        writeln!(out)?;
        write_group(out, tables, snapshot, group, &paths, style, options)?;
    }
    Ok(())
}

fn write_group(
    out: &mut dyn Write,
    tables: &Tables,
    snapshot: &Snapshot,
    group: &Group,
    paths: &Paths,
    style: &Style,
    options: &TextOptions,
) -> io::Result<()> {
    let mut facts = Vec::new();
    let states: Vec<String> = group
        .states
        .iter()
        .filter_map(|&(s, n)| s.map(|s| (tables.str(s).into_owned(), n)))
        .map(|(s, n)| {
            if group.states.len() > 1 {
                format!("{s} ×{}", thousands(n))
            } else {
                s
            }
        })
        .collect();
    if !states.is_empty() {
        facts.push(style.yellow(&states.join(", ")));
    }
    if let Some((lo, hi)) = group.wait_minutes {
        facts.push(if lo == hi {
            format!("{lo} min")
        } else {
            format!("{lo}–{hi} min")
        });
    }
    if group.locked_to_thread > 0 {
        facts.push("locked to thread".into());
    }
    if group.durable > 0 {
        facts.push("durable (synctest)".into());
    }
    if group.leaked > 0 {
        let text = if group.proven() {
            "leaked: proven by the runtime".to_string()
        } else {
            format!("{} proven leaked by the runtime", thousands(group.leaked))
        };
        facts.push(style.red(&text));
    }
    if group.truncated {
        facts.push(style.yellow("cut short"));
    }
    writeln!(
        out,
        "{}  {}",
        style.bold(&format!("{:>7} ×", thousands(group.count))),
        facts.join(" · ")
    )?;

    let frames = tables.frames(group.stack);
    let origins: Vec<Origin> = frames.iter().map(|&f| origin(tables, f)).collect();
    let first_user = origins.iter().position(|o| o.is_user());
    let indent = "          ";
    let mut i = 0;
    while i < frames.len() {
        let folded = !options.full && i > 0 && !origins[i].is_user();
        if folded {
            let end = (i..frames.len())
                .find(|&j| origins[j].is_user())
                .unwrap_or(frames.len());
            if end - i >= 2 {
                let packages = fold_summary(tables, &frames[i..end]);
                writeln!(
                    out,
                    "{indent}{}",
                    style.dim(&format!("⋮ {} frames in {packages}", end - i))
                )?;
                i = end;
                continue;
            }
        }
        let text = if Some(i) == first_user {
            Emphasis::LeakSite
        } else {
            Emphasis::from(origins[i])
        };
        // Recursion prints the same frame over and over; say it once with a count.
        let repeats = frames[i..].iter().take_while(|&&f| f == frames[i]).count();
        let shown = Shown {
            emphasis: text,
            repeats,
        };
        write_frame_emph(out, tables, frames[i], paths, style, indent, shown)?;
        i += repeats;
    }
    if let Some(elision) = group.example.elided {
        let text = match elision {
            goleash_core::model::Elision::Middle { count, .. } => {
                format!("({count} frames in the middle were elided by the runtime)")
            }
            goleash_core::model::Elision::Tail => {
                "(the runtime elided the outermost frames)".to_string()
            }
        };
        writeln!(out, "{indent}{}", style.dim(&text))?;
    }
    if let Some(creator) = group.created_by {
        let frame = tables.get_frame(creator);
        let parent = describe_parents(group, snapshot);
        writeln!(
            out,
            "{indent}created by {}{}  {}",
            tables.str(frame.function),
            parent,
            style.dim(&paths.position(tables, creator)),
        )?;
    }
    for (set, count) in &group.labels {
        let pairs: Vec<String> = tables
            .label_pairs(*set)
            .iter()
            .map(|&(k, v)| format!("{}={}", tables.str(k), tables.str(v)))
            .collect();
        let text = if pairs.is_empty() {
            "(no labels)".to_string()
        } else {
            pairs.join(" ")
        };
        let count = if group.labels.len() > 1 || *count != group.count {
            format!(" ×{}", thousands(*count))
        } else {
            String::new()
        };
        writeln!(
            out,
            "{indent}{}{count}",
            style.dim(&format!("labels {text}"))
        )?;
    }
    if !group.ids.is_empty() && snapshot.has_states() {
        let more = group.count.saturating_sub(group.ids.len() as u64);
        let ids: Vec<String> = group.ids.iter().map(u64::to_string).collect();
        let suffix = if more > 0 {
            format!(" … and {} more", thousands(more))
        } else {
            String::new()
        };
        writeln!(
            out,
            "{indent}{}",
            style.dim(&format!("goroutine {}{suffix}", ids.join(", ")))
        )?;
    }
    Ok(())
}

/// ` in goroutine 35 (exited)`, ` in 100 goroutines, all exited`.
fn describe_parents(group: &Group, snapshot: &Snapshot) -> String {
    let exited: u64 = group
        .parents
        .iter()
        .filter(|(p, _)| *p == ParentRef::Exited)
        .map(|(_, n)| n)
        .sum();
    if let Some(parent) = group.parent {
        let state = match snapshot.goroutines.get(parent) {
            Some(_) => "alive",
            None => "exited",
        };
        return format!(" in goroutine {parent} ({state})");
    }
    let with_parent: u64 = group.parents.iter().map(|(_, n)| n).sum();
    if with_parent == 0 {
        return String::new();
    }
    if exited == with_parent {
        format!(
            " in {} different goroutines, all exited",
            thousands(with_parent)
        )
    } else {
        format!(
            " in {} different goroutines, {} exited",
            thousands(with_parent),
            thousands(exited)
        )
    }
}

/// `net/http, bufio` for a run of folded frames.
fn fold_summary(tables: &Tables, frames: &[FrameId]) -> String {
    let mut packages: Vec<String> = Vec::new();
    for &f in frames {
        let function = tables.bytes(tables.get_frame(f).function);
        let package =
            String::from_utf8_lossy(goleash_core::code::package_of(function)).into_owned();
        if !packages.contains(&package) {
            packages.push(package);
        }
    }
    if packages.len() > 3 {
        let rest = packages.len() - 3;
        packages.truncate(3);
        packages.push(format!("{rest} more"));
    }
    packages.join(", ")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Emphasis {
    LeakSite,
    User,
    Other,
}

impl From<Origin> for Emphasis {
    fn from(o: Origin) -> Self {
        if o.is_user() {
            Emphasis::User
        } else {
            Emphasis::Other
        }
    }
}

fn write_frame(
    out: &mut dyn Write,
    tables: &Tables,
    frame: FrameId,
    paths: &Paths,
    style: &Style,
    indent: &str,
) -> io::Result<()> {
    let emphasis = Emphasis::from(origin(tables, frame));
    write_frame_emph(
        out,
        tables,
        frame,
        paths,
        style,
        indent,
        Shown {
            emphasis,
            repeats: 1,
        },
    )
}

/// How to show one frame line.
#[derive(Clone, Copy)]
struct Shown {
    emphasis: Emphasis,
    /// The frame repeats this many times in a row (recursion).
    repeats: usize,
}

fn write_frame_emph(
    out: &mut dyn Write,
    tables: &Tables,
    frame_id: FrameId,
    paths: &Paths,
    style: &Style,
    indent: &str,
    shown: Shown,
) -> io::Result<()> {
    let Shown { emphasis, repeats } = shown;
    let frame = tables.get_frame(frame_id);
    let function = tables.str(frame.function);
    let position = paths.position(tables, frame_id);
    let function_text = match emphasis {
        Emphasis::LeakSite => style.bold(&style.cyan(&function)),
        Emphasis::User => style.bold(&function),
        Emphasis::Other => style.dim(&function),
    };
    let pad = 52usize.saturating_sub(function.chars().count()).max(1);
    let repeats = if repeats > 1 {
        format!("  ×{repeats}")
    } else {
        String::new()
    };
    writeln!(
        out,
        "{indent}{function_text}{}{}{repeats}",
        " ".repeat(pad),
        style.dim(&position)
    )
}

/// Shortens file paths: standard library files relative to GOROOT's `src/`, the program's
/// files relative to the directory they all share.
struct Paths {
    common: Option<String>,
}

impl Paths {
    fn new(tables: &Tables, frames: impl Iterator<Item = FrameId>) -> Self {
        let mut common: Option<Vec<u8>> = None;
        for frame in frames {
            if origin(tables, frame) != Origin::User {
                continue;
            }
            let file = tables.bytes(tables.get_frame(frame).file);
            if !file.starts_with(b"/") && file.get(1..3).is_none_or(|s| s != b":/") {
                continue;
            }
            let dir = match file.iter().rposition(|&b| b == b'/') {
                Some(i) => &file[..=i],
                None => continue,
            };
            common = Some(match common {
                None => dir.to_vec(),
                Some(c) => {
                    let n = c.iter().zip(dir).take_while(|(a, b)| a == b).count();
                    let cut = c[..n].iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
                    c[..cut].to_vec()
                }
            });
        }
        // A prefix of one or two components (`/`, `/home/`) shortens nothing useful.
        let common = common
            .filter(|c| c.iter().filter(|&&b| b == b'/').count() >= 3)
            .map(|c| String::from_utf8_lossy(&c).into_owned());
        Paths { common }
    }

    fn position(&self, tables: &Tables, frame_id: FrameId) -> String {
        let frame = tables.get_frame(frame_id);
        let file = tables.str(frame.file);
        if file.is_empty() {
            return "?".into();
        }
        let shown = match origin(tables, frame_id) {
            Origin::Runtime | Origin::Stdlib => match file.rfind("/src/") {
                Some(at) => &file[at + 5..],
                None => &file,
            },
            Origin::User => match &self.common {
                Some(c) if file.starts_with(c.as_str()) => &file[c.len()..],
                _ => &file,
            },
            Origin::Dependency => match file.find("/pkg/mod/") {
                Some(at) => &file[at + 9..],
                None => &file,
            },
        };
        if frame.line == 0 {
            shown.to_string()
        } else {
            format!("{shown}:{}", frame.line)
        }
    }
}
