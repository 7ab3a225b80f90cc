//! Text for people: one module per document, and what they share here (a group in full,
//! a stack with its runs of library frames folded, paths shortened, numbers with commas).
//!
//! The output is the same with and without colour, minus the colour.

pub mod check;
pub mod demo;
pub mod diff;
pub mod inspect;

pub mod report;
pub mod scan;
pub mod test;
pub mod watch;

use std::io::{self, Write};

use goleash_core::classify::{Growth, Verdict};
use goleash_core::code::Origin;
use goleash_core::exits::Possibility;

use super::style::Style;
use crate::doc::{self, ExitCondition};

/// What to show.
#[derive(Clone, Debug, Default)]
pub struct TextOptions {
    /// Show every frame instead of folding runtime and standard library runs.
    pub full: bool,
    /// Show groups that are fine (`expected`) in full, not as one line each.
    pub all: bool,
}

/// The closing line that says how to give the analysis the program's source, when it had
/// none of it.
pub fn write_source_note(out: &mut dyn Write, note: Option<&str>, style: &Style) -> io::Result<()> {
    match note {
        Some(note) => {
            writeln!(out)?;
            writeln!(out, "  {}", style.dim(&format!("note: {note}")))
        }
        None => Ok(()),
    }
}

/// `1 goroutine`, `1,234 goroutines`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
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

/// `main.search.func1 main.go:52`: a site in one line, its file by its name alone.
pub fn site_line(site: &doc::Site) -> String {
    let file = site.file.rsplit('/').next().unwrap_or(&site.file);
    format!("{} {file}:{}", site.function, site.line)
}

/// The verdict as a fixed-width column.
pub fn verdict_label(verdict: Verdict, style: &Style) -> String {
    let text = format!("{:<9}", verdict.name());
    match verdict {
        Verdict::Leak => style.red(&text.to_uppercase()),
        Verdict::Suspect => style.yellow(&text),
        Verdict::Lingering => text,
        Verdict::Expected => style.dim(&text),
    }
}

/// One line for a group that is fine.
pub fn write_expected_line(
    out: &mut dyn Write,
    group: &doc::Group,
    style: &Style,
) -> io::Result<()> {
    writeln!(
        out,
        "  {}{:>7} ×  {}{}",
        verdict_label(Verdict::Expected, style),
        thousands(group.reported_count()),
        group.why,
        group
            .named_by
            .as_ref()
            .map(|name| style.dim(&format!(" · {name}")))
            .unwrap_or_default(),
    )
}

/// The paths of the program's own code in `groups`, with the line that says where they are.
pub fn group_paths<'a>(
    out: &mut dyn Write,
    groups: impl Iterator<Item = &'a doc::Group> + Clone,
    style: &Style,
) -> io::Result<Paths> {
    let paths = Paths::of_groups(groups);
    if let Some(root) = &paths.common {
        writeln!(
            out,
            "  {}",
            style.dim(&format!("paths of the program's own code are under {root}"))
        )?;
    }
    Ok(paths)
}

/// Writes groups in full, after the line naming the directory their code shares.
pub fn write_groups(
    out: &mut dyn Write,
    groups: &[(&doc::Group, Option<Growth>)],
    style: &Style,
    options: &TextOptions,
) -> io::Result<()> {
    if groups.is_empty() {
        return Ok(());
    }
    let paths = group_paths(out, groups.iter().map(|(g, _)| *g), style)?;
    for &(group, growth) in groups.iter().filter(|(g, _)| g.reported_with.is_none()) {
        writeln!(out)?;
        write_group(out, group, growth, &paths, style, options)?;
    }
    Ok(())
}

/// One group in full, as `inspect`, `diff` and `check` show it.
pub fn write_group(
    out: &mut dyn Write,
    group: &doc::Group,
    growth: Option<Growth>,
    paths: &Paths,
    style: &Style,
    options: &TextOptions,
) -> io::Result<()> {
    let mut facts = Vec::new();
    if let Some(g) = growth {
        let delta = g.after as i64 - g.before as i64;
        facts.push(style.bold(&format!(
            "{delta:+} ({} → {})",
            thousands(g.before),
            thousands(g.after)
        )));
    }
    let states: Vec<String> = group
        .named_states()
        .map(|(s, n)| {
            if group.states.len() > 1 {
                format!("{s} ×{}", thousands(n))
            } else {
                s.to_string()
            }
        })
        .collect();
    if states.is_empty() {
        facts.push(style.yellow(group.blocking.name()));
    } else {
        facts.push(style.yellow(&states.join(", ")));
    }
    if let Some(doc::MinMax { min, max }) = group.wait_minutes {
        facts.push(if min == max {
            format!("{min} min")
        } else {
            format!("{min}–{max} min")
        });
    }
    if group.locked_to_thread > 0 {
        facts.push("locked to thread".into());
    }
    if group.durable > 0 {
        facts.push("durable (synctest)".into());
    }
    if group.truncated {
        facts.push(style.yellow("cut short"));
    }
    let held = group.held_connections.as_ref().filter(|h| h.reports);
    if let Some(h) = held {
        facts.push(format!(
            "{} × 2 goroutines (readLoop + writeLoop)",
            plural(h.connections, "connection", "connections")
        ));
    }
    writeln!(
        out,
        "  {}{}  {}",
        verdict_label(group.verdict, style),
        style.bold(&format!("{:>7} ×", thousands(group.reported_count()))),
        facts.join(" · ")
    )?;
    let indent = INDENT;
    writeln!(out, "{indent}{}", style.dim(&group.why))?;
    write_stack(out, group, paths, style, indent, options.full)?;
    if let Some(frame) = held.and_then(|h| h.write_loop.as_ref()) {
        writeln!(
            out,
            "{indent}{}",
            style.dim("and on each connection its writeLoop:")
        )?;
        write_frame(out, frame, paths, style, indent)?;
    }
    if let Some(elided) = group.elided {
        let text = match elided.count {
            Some(count) => format!("({count} frames in the middle were elided by the runtime)"),
            None => "(the runtime elided the outermost frames)".to_string(),
        };
        writeln!(out, "{indent}{}", style.dim(&text))?;
    }
    write_exits(
        out,
        group.source_mismatch.as_deref(),
        group.exit_conditions.as_deref(),
        style,
        indent,
    )?;
    if let Some(creator) = &group.created_by {
        writeln!(
            out,
            "{indent}created by {}{}  {}",
            creator.function,
            describe_parents(group),
            style.dim(&paths.position(&creator.file, creator.line, creator.origin)),
        )?;
    }
    for set in &group.labels {
        let pairs: Vec<String> = set.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let text = if pairs.is_empty() {
            "(no labels)".to_string()
        } else {
            pairs.join(" ")
        };
        let count = if group.labels.len() > 1 || set.count != group.count {
            format!(" ×{}", thousands(set.count))
        } else {
            String::new()
        };
        writeln!(
            out,
            "{indent}{}{count}",
            style.dim(&format!("labels {text}"))
        )?;
    }
    if !group.ids.is_empty() && group.has_states {
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
    write_hint(out, group.hint.as_deref(), style, indent)
}

/// The ways out of the group's wait, one per line under `exits when`: ✓ can happen,
/// ✗ cannot, ? not known; or why the source was not used.
pub fn write_exits(
    out: &mut dyn Write,
    source_mismatch: Option<&str>,
    exit_conditions: Option<&[ExitCondition]>,
    style: &Style,
    indent: &str,
) -> io::Result<()> {
    if let Some(mismatch) = source_mismatch {
        writeln!(out, "{indent}{}", style.dim(mismatch))?;
    }
    let Some(conditions) = exit_conditions.filter(|c| !c.is_empty()) else {
        return Ok(());
    };
    writeln!(out, "{indent}{}", style.bold("exits when"))?;
    let mut rest = conditions;
    while let Some(c) = rest.first() {
        let mark = match c.can_happen {
            Possibility::Yes => style.green("✓"),
            Possibility::No => style.red("✗"),
            Possibility::Unknown => style.yellow("?"),
        };
        let file = c.file.rsplit('/').next().unwrap_or(&c.file);
        // The returns of a caller the goroutine never gets back to (net/http's conn loop
        // under a handler stuck for good) are one fact, said once.
        let unreached = unreached_by(c);
        let alike = unreached.map_or(1, |by| {
            rest.iter()
                .take_while(|o| o.file == c.file && unreached_by(o) == Some(by))
                .count()
        });
        let text = match unreached {
            Some(by) if alike >= 3 => {
                let lines: Vec<String> = rest[..alike].iter().map(|o| o.line.to_string()).collect();
                format!(
                    "{alike} `return`s ({file}:{}), but {by} never returns to them",
                    lines.join(", ")
                )
            }
            _ => format!("`{}` ({file}:{}): {}", c.code, c.line, c.why),
        };
        rest = &rest[if unreached.is_some() && alike >= 3 {
            alike
        } else {
            1
        }..];
        for (n, line) in wrap(&text, 96).iter().enumerate() {
            let lead = if n == 0 {
                format!("{mark} ")
            } else {
                "  ".to_string()
            };
            writeln!(out, "{indent}  {lead}{line}")?;
        }
    }
    Ok(())
}

/// `X` of a `return` that cannot happen because `X never returns to it`.
fn unreached_by(c: &ExitCondition) -> Option<&str> {
    if c.code != "return" || c.can_happen != Possibility::No {
        return None;
    }
    c.why
        .rsplit_once(", but ")?
        .1
        .strip_suffix(" never returns to it")
}

/// Where the lines of a group under its header start.
pub const INDENT: &str = "                    ";

/// `fix: …`, wrapped at 80 columns under `indent`.
pub fn write_hint(
    out: &mut dyn Write,
    hint: Option<&str>,
    style: &Style,
    indent: &str,
) -> io::Result<()> {
    let Some(hint) = hint else {
        return Ok(());
    };
    for (n, line) in wrap(hint, 80).iter().enumerate() {
        let lead = if n == 0 {
            style.bold("fix: ")
        } else {
            "     ".to_string()
        };
        writeln!(out, "{indent}{lead}{line}")?;
    }
    Ok(())
}

/// Writes a group's stack, innermost frame first: the leak site emphasised with its source
/// line, the program's own frames in bold, and (unless `full`) runs of other frames folded.
pub fn write_stack(
    out: &mut dyn Write,
    group: &doc::Group,
    paths: &Paths,
    style: &Style,
    indent: &str,
    full: bool,
) -> io::Result<()> {
    let mut frames = &group.frames[..];
    // Level-2 dumps end every stack in `runtime.goexit`: it says nothing.
    if !full
        && let Some((last, rest)) = frames.split_last()
        && last.function == "runtime.goexit"
    {
        frames = rest;
    }
    // The frame the goroutine waits in (`sync.(*Mutex).Lock`, `time.Sleep`) is always
    // shown; the runtime frames under it (level-2 dumps, debug=0) and runs of library
    // frames are folded.
    let waits_in = group.waits_in.filter(|&i| i < frames.len());
    let mut i = 0;
    while i < frames.len() {
        let folded = !full && Some(i) != waits_in && !frames[i].origin.is_user();
        if folded {
            let end = (i..frames.len())
                .find(|&j| frames[j].origin.is_user() || Some(j) == waits_in)
                .unwrap_or(frames.len());
            if end - i >= 2 || (i == 0 && end > i) {
                writeln!(
                    out,
                    "{indent}{}",
                    style.dim(&format!(
                        "⋮ {} in {}",
                        plural((end - i) as u64, "frame", "frames"),
                        fold_summary(&frames[i..end])
                    ))
                )?;
                i = end;
                continue;
            }
        }
        let emphasis = if frames[i].leak_site {
            Emphasis::LeakSite
        } else {
            Emphasis::from(frames[i].origin)
        };
        // Recursion prints the same frame over and over; say it once with a count.
        let repeats = frames[i..]
            .iter()
            .take_while(|f| f.same_place(&frames[i]))
            .count();
        write_frame_shown(out, &frames[i], paths, style, indent, emphasis, repeats)?;
        if emphasis == Emphasis::LeakSite
            && let Some(source) = group.leak_site.as_ref().and_then(|s| s.source.as_ref())
        {
            writeln!(out, "{indent}  {}", style.cyan(&format!("│ {source}")))?;
        }
        i += repeats;
    }
    Ok(())
}

/// Splits text into lines of at most `width` characters at spaces.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// ` in goroutine 35 (exited)`, ` in goroutines that have all exited`.
fn describe_parents(group: &doc::Group) -> String {
    let exited: u64 = group
        .parents
        .iter()
        .filter(|p| p.exited)
        .map(|p| p.count)
        .sum();
    if let Some(creator) = &group.created_by
        && let Some(parent) = creator.goroutine
    {
        let state = if creator.parent_alive {
            "alive"
        } else {
            "exited"
        };
        return format!(" in goroutine {parent} ({state})");
    }
    let with_parent: u64 = group.parents.iter().map(|p| p.count).sum();
    if with_parent == 0 {
        return String::new();
    }
    // `parents` counts these goroutines by where their parent is, not the parents
    // themselves: say how many of these were orphaned, not how many parents there were.
    if exited == with_parent {
        " in goroutines that have all exited".to_string()
    } else if exited == 0 {
        " in goroutines still running".to_string()
    } else {
        format!(
            " in several goroutines; {} of these {} outlived theirs",
            thousands(exited),
            thousands(with_parent)
        )
    }
}

/// `net/http, bufio` for a run of folded frames.
fn fold_summary(frames: &[doc::Frame]) -> String {
    let mut packages: Vec<String> = Vec::new();
    for frame in frames {
        let package =
            String::from_utf8_lossy(goleash_core::code::package_of(frame.function.as_bytes()))
                .into_owned();
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

/// One frame line, emphasised by whose code it is.
pub fn write_frame(
    out: &mut dyn Write,
    frame: &doc::Frame,
    paths: &Paths,
    style: &Style,
    indent: &str,
) -> io::Result<()> {
    write_frame_shown(
        out,
        frame,
        paths,
        style,
        indent,
        Emphasis::from(frame.origin),
        1,
    )
}

/// One frame line; `repeats` is how many times it repeats in a row (recursion).
fn write_frame_shown(
    out: &mut dyn Write,
    frame: &doc::Frame,
    paths: &Paths,
    style: &Style,
    indent: &str,
    emphasis: Emphasis,
    repeats: usize,
) -> io::Result<()> {
    let function = &frame.function;
    let position = paths.position(&frame.file, frame.line, frame.origin);
    let function_text = match emphasis {
        Emphasis::LeakSite => style.bold(&style.cyan(function)),
        Emphasis::User => style.bold(function),
        Emphasis::Other => style.dim(function),
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
pub struct Paths {
    /// The directory all of the program's own files are under, when it says something.
    pub common: Option<String>,
}

impl Paths {
    /// The shared directory of the program's files among `files` (file, whose code).
    pub fn new<F: AsRef<str>>(files: impl Iterator<Item = (F, Origin)>) -> Self {
        let mut common: Option<Vec<u8>> = None;
        for (file, origin) in files {
            if origin != Origin::User {
                continue;
            }
            let file = file.as_ref().as_bytes();
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

    /// The shared directory of the frames and creators of `groups`.
    pub fn of_groups<'a>(groups: impl Iterator<Item = &'a doc::Group>) -> Self {
        Paths::new(groups.flat_map(|g| {
            g.frames
                .iter()
                .map(|f| (f.file.as_str(), f.origin))
                .chain(g.created_by.iter().map(|c| (c.file.as_str(), c.origin)))
        }))
    }

    /// `file` as shown for code of `origin`.
    pub fn shorten<'f>(&self, file: &'f str, origin: Origin) -> &'f str {
        match origin {
            Origin::Runtime | Origin::Stdlib => match file.rfind("/src/") {
                Some(at) => &file[at + 5..],
                None => file,
            },
            Origin::User => match &self.common {
                Some(c) if file.starts_with(c.as_str()) => &file[c.len()..],
                _ => file,
            },
            Origin::Dependency => match file.find("/pkg/mod/") {
                Some(at) => &file[at + 9..],
                None => file,
            },
        }
    }

    /// `file:line` shortened, `file` alone when the line is unknown, `?` when both are.
    pub fn position(&self, file: &str, line: u32, origin: Origin) -> String {
        if file.is_empty() {
            return "?".into();
        }
        let shown = self.shorten(file, origin);
        if line == 0 {
            shown.to_string()
        } else {
            format!("{shown}:{line}")
        }
    }
}
