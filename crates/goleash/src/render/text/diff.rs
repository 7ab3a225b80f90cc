//! The text of `goleash diff`: the totals, the stacks that grew or appeared in full, the
//! ones that went, and how many did not change.

use std::collections::BTreeSet;
use std::io::{self, Write};

use goleash_core::classify::Verdict;

use super::{TextOptions, plural, thousands, write_groups};
use crate::doc::diff::{Change, DiffDoc, DiffGroup};
use crate::render::style::Style;

/// Writes the diff.
pub fn write(
    out: &mut dyn Write,
    doc: &DiffDoc,
    style: &Style,
    options: &TextOptions,
) -> io::Result<()> {
    let delta = doc.goroutines as i64 - doc.goroutines_before as i64;
    // One entry per group; the counts are of stacks.
    let rows = |keep: &dyn Fn(&DiffGroup) -> bool| -> usize {
        doc.groups
            .iter()
            .filter(|g| keep(g))
            .map(|g| g.row)
            .collect::<BTreeSet<_>>()
            .len()
    };
    let grew = rows(&|g| g.count_before > 0 && g.delta > 0);
    let new = rows(&|g| g.count_before == 0);
    let gone = rows(&|g| g.change == Change::Gone);
    writeln!(
        out,
        "{} → {}: {} → {} ({delta:+}) · {grew} grew, {new} new, {gone} gone",
        style.bold(&doc.arguments[0]),
        style.bold(&doc.arguments[1]),
        thousands(doc.goroutines_before),
        plural(doc.goroutines, "goroutine", "goroutines"),
    )?;
    let shown: Vec<_> = doc
        .groups
        .iter()
        .filter(|g| g.change != Change::Gone && (g.delta != 0 || options.all))
        .map(|g| (&g.group, Some(g.growth())))
        .collect();
    if shown.is_empty() {
        writeln!(out, "  no stack grew or appeared")?;
    }
    write_groups(out, &shown, style, options)?;
    let gone: Vec<&DiffGroup> = doc
        .groups
        .iter()
        .filter(|g| g.change == Change::Gone)
        .collect();
    if !gone.is_empty() {
        writeln!(out)?;
        writeln!(out, "  {}", style.dim("gone:"))?;
        for g in gone {
            // A goroutine not yet started has no frame but goexit's, which profiles drop.
            let name = match (&g.group.leak_site, g.group.frames.first()) {
                (Some(site), _) => site.function.clone(),
                (None, Some(frame)) => frame.function.clone(),
                (None, None) => "(a goroutine with no frames in the dump)".to_string(),
            };
            writeln!(out, "  {:>8}  {name}", format!("{:+}", g.delta))?;
        }
    }
    let mut unchanged = BTreeSet::new();
    let mut unchanged_goroutines = 0;
    for g in doc.groups.iter().filter(|g| g.delta == 0) {
        if unchanged.insert(g.row) {
            unchanged_goroutines += g.growth().after;
        }
    }
    if !unchanged.is_empty() && !options.all {
        writeln!(out)?;
        writeln!(
            out,
            "  {}",
            style.dim(&format!(
                "{} unchanged ({}); -v shows them",
                plural(unchanged.len() as u64, "stack", "stacks"),
                plural(unchanged_goroutines, "goroutine", "goroutines")
            ))
        )?;
    }
    let leaks = doc
        .groups
        .iter()
        .any(|g| g.change != Change::Gone && g.group.verdict == Verdict::Leak);
    if !leaks && delta > 0 {
        writeln!(
            out,
            "  {}",
            style.dim("no group grew while stuck: no leak found")
        )?;
    }
    super::write_source_note(out, doc.source_note.as_deref(), style)
}
