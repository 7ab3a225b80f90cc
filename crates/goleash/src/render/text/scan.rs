//! The text of `goleash scan`: what was read, the series ranked (the rising ones all, the
//! rest up to a few), then each suspect's leaking stacks in full.

use std::io::{self, Write};

use goleash_core::classify::Growth;

use super::report::utc;
use super::{TextOptions, plural, write_groups};
use crate::doc::scan::{Direction, Instance, Method, ScanDoc};
use crate::render::style::Style;

/// Series shown in the ranking besides the rising ones.
const OTHERS_SHOWN: usize = 10;

/// Writes the scan.
pub fn write(
    out: &mut dyn Write,
    doc: &ScanDoc,
    style: &Style,
    options: &TextOptions,
) -> io::Result<()> {
    writeln!(
        out,
        "{} from {}: {} from {} to {}, every {}s ({})",
        style.bold(&doc.selector),
        doc.prometheus,
        plural(doc.series as u64, "series", "series"),
        utc(doc.start),
        utc(doc.end),
        doc.step,
        plural(doc.queries as u64, "query", "queries"),
    )?;
    let count = |d: Direction| doc.instances.iter().filter(|i| i.direction == d).count();
    writeln!(
        out,
        "{} rising · {} flat · {} falling · {} too short to judge · {} not a count",
        count(Direction::Rising),
        count(Direction::Flat),
        count(Direction::Falling),
        count(Direction::Insufficient),
        count(Direction::NotACount),
    )?;
    writeln!(out)?;
    let shown: Vec<&Instance> = doc
        .instances
        .iter()
        .filter(|i| i.direction == Direction::Rising)
        .chain(
            doc.instances
                .iter()
                .filter(|i| i.direction != Direction::Rising)
                .take(if options.all {
                    usize::MAX
                } else {
                    OTHERS_SHOWN
                }),
        )
        .collect();
    writeln!(
        out,
        "{:>4}  {:<12} {:>9} {:>8} {:>8} {:>8}  series",
        "rank", "direction", "p", "slope/h", "last", "restarts"
    )?;
    for i in &shown {
        let direction = match i.direction {
            Direction::Rising => style.red("RISING      "),
            Direction::Flat => style.green("flat        "),
            Direction::Falling => "falling     ".to_string(),
            Direction::Insufficient => style.dim("too short   "),
            Direction::NotACount => style.yellow("not a count "),
        };
        writeln!(
            out,
            "{:>4}  {direction} {:>9} {:>8} {:>8} {:>8}  {}",
            i.rank,
            i.p_value.map_or("-".into(), |p| format!("{p:.1e}")),
            i.slope_per_hour.map_or("-".into(), |s| format!("{s:+.1}")),
            i.last.map_or("-".into(), |v| format!("{v}")),
            i.restarts,
            i.series_name(),
        )?;
    }
    let hidden = doc.instances.len() - shown.len();
    if hidden > 0 {
        writeln!(out, "      … and {hidden} more (--all shows them)")?;
    }
    for i in doc.instances.iter().filter(|i| i.stacks.is_some()) {
        let stacks = i.stacks.as_ref().expect("filtered");
        writeln!(out)?;
        writeln!(
            out,
            "#{} {}: rising {:+.1} goroutines/hour, now {}",
            i.rank,
            style.bold(&i.series_name()),
            i.slope_per_hour.unwrap_or(0.0),
            i.last.unwrap_or(0.0)
        )?;
        if let Some(error) = &stacks.error {
            writeln!(out, "  {} {error}", style.yellow("no stacks:"))?;
            continue;
        }
        let how = match (stacks.method, &stacks.compared_with) {
            (Some(Method::Proven), _) => "proven leaked by the goroutineleak profile".to_string(),
            (Some(Method::Replica), Some(r)) => {
                format!("grown compared with the healthy replica {r}")
            }
            _ => "grown between two profiles of the instance".to_string(),
        };
        writeln!(out, "  {} ({how})", stacks.pprof.as_deref().unwrap_or(""))?;
        if stacks.groups.is_empty() {
            writeln!(out, "  no stack leaks or grew")?;
        }
        let groups: Vec<_> = stacks
            .groups
            .iter()
            .map(|g| {
                let growth = g.count_before.map(|before| Growth {
                    before,
                    after: g.group.count,
                });
                (&g.group, growth)
            })
            .collect();
        write_groups(out, &groups, style, options)?;
    }
    if !doc.problems.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", style.yellow("problems:"))?;
        for p in &doc.problems {
            writeln!(out, "  - {p}")?;
        }
    }
    Ok(())
}
