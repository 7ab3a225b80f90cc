//! The text report of `goleash inspect`, for people.
//!
//! Groups come largest first. Each shows its state, how long it has waited, its stack with
//! the program's own frames in bold and runs of runtime and standard library frames folded,
//! and who created it. The output is the same with and without colour, minus the colour.

use std::io::{self, Write};

use goleash_core::classify::{Assessment, Growth, Verdict};
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
    /// Show groups that are fine (`expected`) in full, not as one line each.
    pub all: bool,
}

/// One input and what was read from it.
pub struct Source<'a> {
    /// How to name the input in messages: its path, `stdin` or its URL.
    pub name: String,
    /// What was read.
    pub capture: &'a Capture,
    /// The verdicts for each snapshot's groups.
    pub assessments: &'a [Vec<Assessment>],
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
        for (snapshot, assessed) in source.capture.snapshots.iter().zip(source.assessments) {
            if !first {
                writeln!(out)?;
            }
            first = false;
            write_snapshot(
                out,
                &source.name,
                tables,
                snapshot,
                assessed,
                style,
                options,
            )?;
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

fn write_snapshot(
    out: &mut dyn Write,
    name: &str,
    tables: &Tables,
    snapshot: &Snapshot,
    assessed: &[Assessment],
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
    writeln!(out, "  {}", verdict_summary(snapshot, assessed, style))?;
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
    // Problems first, then by size; the groups that are fine come last.
    let mut order: Vec<usize> = (0..snapshot.groups.len()).collect();
    order.sort_by_key(|&i| {
        (
            assessed[i].verdict,
            std::cmp::Reverse(snapshot.groups[i].count),
            i,
        )
    });
    let mut expected_header = false;
    for i in order {
        let (group, assessment) = (&snapshot.groups[i], &assessed[i]);
        if assessment.verdict == Verdict::Expected && !options.all {
            if !expected_header {
                writeln!(out)?;
                writeln!(
                    out,
                    "  {}",
                    style.dim("long-lived by design (--all shows their stacks):")
                )?;
                expected_header = true;
            }
            write_expected_line(out, tables, group, assessment, style)?;
            continue;
        }
        writeln!(out)?;
        let view = GroupView {
            tables,
            snapshot,
            group,
            assessment,
            growth: None,
        };
        write_group(out, &view, &paths, style, options)?;
    }
    Ok(())
}

/// `2 leaks (250 goroutines) · 1 suspect (3) · 8 expected (21)`.
fn verdict_summary(snapshot: &Snapshot, assessed: &[Assessment], style: &Style) -> String {
    let mut parts = Vec::new();
    for verdict in [
        Verdict::Leak,
        Verdict::Suspect,
        Verdict::Lingering,
        Verdict::Expected,
    ] {
        let (groups, goroutines) = snapshot
            .groups
            .iter()
            .zip(assessed)
            .filter(|(_, a)| a.verdict == verdict)
            .fold((0u64, 0u64), |(n, g), (group, _)| (n + 1, g + group.count));
        if groups == 0 {
            continue;
        }
        let word = match (verdict, groups) {
            (Verdict::Leak, 1) => "leak".to_string(),
            (Verdict::Leak, _) => "leaks".to_string(),
            (Verdict::Suspect, 1) => "suspect".to_string(),
            (Verdict::Suspect, _) => "suspects".to_string(),
            (v, _) => v.name().to_string(),
        };
        let text = format!(
            "{groups} {word} ({})",
            plural(goroutines, "goroutine", "goroutines")
        );
        parts.push(match verdict {
            Verdict::Leak => style.red(&text),
            Verdict::Suspect => style.yellow(&text),
            _ => text,
        });
    }
    if parts.is_empty() {
        "no goroutines".into()
    } else {
        parts.join(" · ")
    }
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
    tables: &Tables,
    group: &Group,
    assessment: &Assessment,
    style: &Style,
) -> io::Result<()> {
    let function = |f: FrameId| tables.str(tables.get_frame(f).function).into_owned();
    // The runtime's own goroutines have no leak site: name them by the function they run.
    let entry = || {
        tables
            .frames(group.stack)
            .iter()
            .rev()
            .map(|&f| function(f))
            .find(|name| {
                name != "runtime.goexit" && !goleash_core::signature::is_wrapper(name.as_bytes())
            })
    };
    // Infrastructure idles deep in the standard library (`internal/poll.runtime_pollWait`):
    // the frame its pattern recognised says more.
    let recognised = || {
        let prefixes = assessment.pattern?.when.any_frame;
        tables
            .frames(group.stack)
            .iter()
            .map(|&f| function(f))
            .find(|name| prefixes.iter().any(|p| name.starts_with(p)))
    };
    let site = assessment
        .leak_site
        .filter(|&f| origin(tables, f) == Origin::User)
        .map(function)
        .or_else(recognised)
        .or_else(|| assessment.leak_site.map(function))
        .or_else(entry);
    writeln!(
        out,
        "  {}{:>7} ×  {}{}",
        verdict_label(Verdict::Expected, style),
        thousands(group.count),
        assessment.why,
        site.map(|site| style.dim(&format!(" · {site}")))
            .unwrap_or_default(),
    )
}

/// One group in full, as `inspect`, `diff` and `check` show it.
pub struct GroupView<'a> {
    /// The tables of its capture.
    pub tables: &'a Tables,
    /// Its snapshot.
    pub snapshot: &'a Snapshot,
    /// The group.
    pub group: &'a Group,
    /// Its verdict.
    pub assessment: &'a Assessment,
    /// How it changed since an earlier snapshot, when it was compared.
    pub growth: Option<Growth>,
}

/// Writes the groups of one snapshot (all of `views` must be of the same capture), each in
/// full; `header` goes first when given.
pub fn write_groups(
    out: &mut dyn Write,
    views: &[GroupView<'_>],
    style: &Style,
    options: &TextOptions,
) -> io::Result<()> {
    let Some(first) = views.first() else {
        return Ok(());
    };
    let tables = first.tables;
    let paths = Paths::new(
        tables,
        views.iter().flat_map(|v| {
            tables
                .frames(v.group.stack)
                .iter()
                .copied()
                .chain(v.group.created_by)
        }),
    );
    if let Some(root) = &paths.common {
        writeln!(
            out,
            "  {}",
            style.dim(&format!("paths of the program's own code are under {root}"))
        )?;
    }
    for view in views {
        writeln!(out)?;
        write_group(out, view, &paths, style, options)?;
    }
    Ok(())
}

fn write_group(
    out: &mut dyn Write,
    view: &GroupView<'_>,
    paths: &Paths,
    style: &Style,
    options: &TextOptions,
) -> io::Result<()> {
    let GroupView {
        tables,
        snapshot,
        group,
        assessment,
        growth,
    } = *view;
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
    if states.is_empty() {
        facts.push(style.yellow(assessment.blocking.name()));
    } else {
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
    if group.truncated {
        facts.push(style.yellow("cut short"));
    }
    writeln!(
        out,
        "  {}{}  {}",
        verdict_label(assessment.verdict, style),
        style.bold(&format!("{:>7} ×", thousands(group.count))),
        facts.join(" · ")
    )?;
    let indent = "                    ";
    writeln!(out, "{indent}{}", style.dim(&assessment.why))?;

    write_stack(
        out,
        tables,
        tables.frames(group.stack),
        assessment,
        paths,
        style,
        indent,
        options.full,
    )?;
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
    if let Some(hint) = assessment.hint() {
        for (n, line) in wrap(hint, 80).iter().enumerate() {
            let lead = if n == 0 {
                style.bold("fix: ")
            } else {
                "     ".to_string()
            };
            writeln!(out, "{indent}{lead}{line}")?;
        }
    }
    Ok(())
}

/// Writes a stack, innermost frame first: the leak site emphasised with its source line,
/// the program's own frames in bold, and (unless `full`) runs of other frames folded.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_stack(
    out: &mut dyn Write,
    tables: &Tables,
    frames: &[FrameId],
    assessment: &Assessment,
    paths: &Paths,
    style: &Style,
    indent: &str,
    full: bool,
) -> io::Result<()> {
    let mut frames = frames;
    // Level-2 dumps end every stack in `runtime.goexit`: it says nothing.
    if !full
        && let Some((&last, rest)) = frames.split_last()
        && tables.bytes(tables.get_frame(last).function) == b"runtime.goexit"
    {
        frames = rest;
    }
    let origins: Vec<Origin> = frames.iter().map(|&f| origin(tables, f)).collect();
    // The frame the goroutine waits in (`sync.(*Mutex).Lock`, `time.Sleep`) is always
    // shown; the runtime frames under it (level-2 dumps, debug=0) and runs of library
    // frames are folded.
    let waits_in = assessment
        .blocking_frame
        .and_then(|f| frames.iter().position(|&g| g == f));
    let mut i = 0;
    while i < frames.len() {
        let folded = !full && Some(i) != waits_in && !origins[i].is_user();
        if folded {
            let end = (i..frames.len())
                .find(|&j| origins[j].is_user() || Some(j) == waits_in)
                .unwrap_or(frames.len());
            if end - i >= 2 || (i == 0 && end > i) {
                let packages = fold_summary(tables, &frames[i..end]);
                writeln!(
                    out,
                    "{indent}{}",
                    style.dim(&format!(
                        "⋮ {} in {packages}",
                        plural((end - i) as u64, "frame", "frames")
                    ))
                )?;
                i = end;
                continue;
            }
        }
        let emphasis = if Some(frames[i]) == assessment.leak_site {
            Emphasis::LeakSite
        } else {
            Emphasis::from(origins[i])
        };
        // Recursion prints the same frame over and over; say it once with a count.
        let repeats = frames[i..].iter().take_while(|&&f| f == frames[i]).count();
        let shown = Shown { emphasis, repeats };
        write_frame_emph(out, tables, frames[i], paths, style, indent, shown)?;
        if emphasis == Emphasis::LeakSite
            && let Some(facts) = &assessment.source
        {
            writeln!(
                out,
                "{indent}  {}",
                style.cyan(&format!("│ {}", facts.text))
            )?;
        }
        i += repeats;
    }
    Ok(())
}

/// Splits text into lines of at most `width` characters at spaces.
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
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
pub(crate) struct Paths {
    /// The directory all of the program's own files are under, when it says something.
    pub(crate) common: Option<String>,
}

impl Paths {
    pub(crate) fn new(tables: &Tables, frames: impl Iterator<Item = FrameId>) -> Self {
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

    /// `file` as shown for code of `origin`.
    pub(crate) fn shorten<'f>(&self, file: &'f str, origin: Origin) -> &'f str {
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

    pub(crate) fn position(&self, tables: &Tables, frame_id: FrameId) -> String {
        let frame = tables.get_frame(frame_id);
        let file = tables.str(frame.file);
        if file.is_empty() {
            return "?".into();
        }
        let shown = self.shorten(&file, origin(tables, frame_id));
        if frame.line == 0 {
            shown.to_string()
        } else {
            format!("{shown}:{}", frame.line)
        }
    }
}
