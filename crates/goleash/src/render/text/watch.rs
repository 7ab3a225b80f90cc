//! What a watch prints for people: a log of what happens, or a live view on a terminal,
//! then the summary.

use std::collections::VecDeque;
use std::io::{self, Write};

use goleash_core::classify::Verdict;
use goleash_core::trend::{TrendOptions, TrendState};

use super::{plural, site_line, thousands};
use crate::doc::watch::{
    Alert, EventSink, LiveDoc, LiveTarget, Plan, Presence, Settings, Summary, WatchEvent,
};
use crate::history::AlertVerdict;
use crate::render::style::Style;

/// Text for a pipe or a file: one line per thing that matters, the summary at the end.
pub struct Log<W: Write> {
    out: W,
    style: Style,
}

impl<W: Write> Log<W> {
    /// Writes to `out`.
    pub fn new(out: W, style: Style) -> Self {
        Log { out, style }
    }
}

impl<W: Write> EventSink for Log<W> {
    fn event(&mut self, event: &WatchEvent) -> io::Result<()> {
        match event {
            WatchEvent::Start(start) => {
                writeln!(
                    self.out,
                    "goleash watch: {} · history in {} · every {}",
                    plural_targets(start.targets.len()),
                    start.db,
                    duration_text(start.settings.interval_secs)
                )?;
                if let Some(source) = &start.prometheus {
                    writeln!(
                        self.out,
                        "  counts of {} from Prometheus at {}; profiles only from suspects, at {}",
                        source.selector, source.url, source.pprof
                    )?;
                }
                for note in plan_notes(&start.settings, &start.plan) {
                    writeln!(self.out, "  {}", self.style.yellow(&note))?;
                }
                if start.simulated {
                    writeln!(
                        self.out,
                        "  {}",
                        self.style
                            .yellow("the targets are simulated: no real service is watched")
                    )?;
                }
            }
            WatchEvent::Sample(_) => return Ok(()),
            WatchEvent::Summary(summary) => write_summary(&mut self.out, summary, &self.style)?,
            other => {
                if let Some(line) = event_line(other, &self.style) {
                    writeln!(self.out, "{line}")?;
                }
            }
        }
        self.out.flush()
    }
}

/// A live view redrawn in place on a terminal, then the summary.
pub struct Live<W: Write> {
    out: W,
    style: Style,
    recent: VecDeque<String>,
    db: String,
    simulated: bool,
    /// What the watch's duration leaves room for, from its start.
    notes: Vec<String>,
}

impl<W: Write> Live<W> {
    /// Writes to `out`, a terminal.
    pub fn new(out: W, style: Style) -> Self {
        Live {
            out,
            style,
            recent: VecDeque::new(),
            db: String::new(),
            simulated: false,
            notes: Vec::new(),
        }
    }
}

/// Rows and columns of the terminal on standard output, or 40 × 120 when it will not say.
fn terminal_size() -> (usize, usize) {
    // SAFETY: TIOCGWINSZ only writes a winsize into the struct it is given.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_row > 0 && size.ws_col > 0 {
        (usize::from(size.ws_row), usize::from(size.ws_col))
    } else {
        (40, 120)
    }
}

/// `line` cut to `width` visible characters (colour codes do not count), so that the view
/// never wraps.
fn fit(line: &str, width: usize) -> String {
    let mut out = String::with_capacity(line.len());
    let mut visible = 0;
    let mut chars = line.chars().peekable();
    let mut coloured = false;
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            out.push(c);
            coloured = true;
            for d in chars.by_ref() {
                out.push(d);
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        if visible + 1 == width && chars.peek().is_some() {
            out.push('…');
            if coloured {
                out.push_str("\x1b[0m");
            }
            return out;
        }
        out.push(c);
        visible += 1;
    }
    out
}

const RECENT: usize = 6;

impl<W: Write> EventSink for Live<W> {
    fn event(&mut self, event: &WatchEvent) -> io::Result<()> {
        match event {
            WatchEvent::Start(start) => {
                self.db = start.db.clone();
                self.simulated = start.simulated;
                self.notes = plan_notes(&start.settings, &start.plan);
                // The view redraws from the top-left corner: start it on a clean screen.
                write!(self.out, "\x1b[2J")?;
            }
            WatchEvent::Sample(_) => {}
            WatchEvent::Summary(summary) => {
                write_summary(&mut self.out, summary, &self.style)?;
                self.out.flush()?;
            }
            other => {
                if let Some(line) = event_line(other, &self.style) {
                    if self.recent.len() == RECENT {
                        self.recent.pop_front();
                    }
                    self.recent.push_back(line.replace("\n ", " ·"));
                }
            }
        }
        Ok(())
    }

    /// Every target takes a row at least: no more than the terminal's rows can show.
    fn live_room(&self) -> Option<usize> {
        Some(terminal_size().0)
    }

    fn refresh(&mut self, live: &LiveDoc) -> io::Result<()> {
        let settings = &live.settings;
        let mut lines = Vec::new();
        lines.push(self.style.bold(&format!(
            "goleash watch · {} · {} · every {} · history in {}",
            plural_targets(live.watched),
            duration_text(live.elapsed_secs.floor()),
            duration_text(settings.interval_secs),
            self.db
        )));
        for note in &self.notes {
            lines.push(self.style.yellow(note));
        }
        if self.simulated {
            lines.push(
                self.style
                    .yellow("simulation: the target is built into goleash, no real service"),
            );
        }
        let (rows, columns) = terminal_size();
        let room = rows.saturating_sub(lines.len() + RECENT + 4);
        let mut body = Vec::new();
        for target in &live.targets {
            if body.len() >= room {
                break;
            }
            body.extend(target_lines(target, &self.style));
        }
        body.truncate(room);
        lines.push(String::new());
        lines.extend(body);
        if !self.recent.is_empty() {
            lines.push(String::new());
            lines.extend(self.recent.iter().cloned());
        }
        lines.push(
            self.style
                .dim("Ctrl-C stops; the history stays in the database"),
        );
        write!(self.out, "\x1b[H")?;
        for line in lines {
            writeln!(self.out, "{}\x1b[K", fit(&line, columns))?;
        }
        write!(self.out, "\x1b[J")?;
        self.out.flush()
    }
}

fn plural_targets(n: usize) -> String {
    if n == 1 {
        "1 target".into()
    } else {
        format!("{n} targets")
    }
}

/// `250ms`, `5s`, `2m`, `1m30s`, `2h`.
pub fn duration_text(secs: f64) -> String {
    if secs < 1.0 && secs > 0.0 {
        return format!("{}ms", (secs * 1000.0).round());
    }
    let total = secs.round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

/// The plain statement that verdicts come sooner than the defaults allow, when they do.
pub fn compression_note(settings: &Settings) -> Option<String> {
    if !settings.compressed {
        return None;
    }
    let d = TrendOptions::default();
    Some(format!(
        "trend windows compressed: warm-up {}, cool-down {} × {} windows, rise ≥ {} (defaults {}, {} × {}, {}): faster verdicts on less evidence",
        duration_text(settings.warmup_secs),
        duration_text(settings.cooldown_secs),
        settings.min_windows,
        settings.min_rise,
        duration_text(d.warmup_secs),
        duration_text(d.cooldown_secs),
        d.min_windows,
        d.min_rise
    ))
}

/// What a watch's settings and duration leave room for: windows fitted to the run, said
/// with what was chosen; windows compressed by hand; no trend verdict at all.
pub fn plan_notes(settings: &Settings, plan: &Plan) -> Vec<String> {
    let mut notes = Vec::new();
    match plan.duration_secs {
        Some(duration) if plan.fitted => notes.push(format!(
            "trend windows fitted to {}: warm-up {}, cool-down {} × {} windows, every {}, rise ≥ {} (production defaults need {}): faster verdicts on less evidence",
            duration_text(duration),
            duration_text(settings.warmup_secs),
            duration_text(settings.cooldown_secs),
            settings.min_windows,
            duration_text(settings.interval_secs),
            settings.min_rise,
            duration_text(earliest_default())
        )),
        _ => notes.extend(compression_note(settings)),
    }
    if let Some(duration) = plan.duration_secs
        && !plan.trend_verdict_possible
    {
        notes.push(format!(
            "no trend verdict possible in {}; proven leaks only (a trend verdict needs {} or more)",
            duration_text(duration),
            duration_text(plan.shortest_duration_secs.ceil())
        ));
    }
    notes
}

/// The earliest trend verdict with the production defaults.
fn earliest_default() -> f64 {
    let d = TrendOptions::default();
    d.warmup_secs + d.min_windows as f64 * d.cooldown_secs
}

fn short_time(t: f64) -> String {
    let s = t.rem_euclid(86_400.0) as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// One line for an event worth a line.
fn event_line(event: &WatchEvent, style: &Style) -> Option<String> {
    Some(match event {
        WatchEvent::Restart(r) => format!(
            "{} {} {}: {}",
            short_time(r.t),
            r.target,
            style.yellow("restarted"),
            r.reason
        ),
        WatchEvent::Alert(a) => {
            format!("{} {} {}", short_time(a.t), a.target, alert_text(a, style))
        }
        WatchEvent::Dump(d) => format!(
            "{} {} kept {}?debug=2 ({}{}) as evidence: {}",
            short_time(d.t),
            d.target,
            d.profile.name(),
            plural(d.goroutines, "goroutine", "goroutines"),
            if d.proven_leaked > 0 {
                format!(
                    ", {} proven leaked by the runtime",
                    thousands(d.proven_leaked)
                )
            } else {
                String::new()
            },
            d.reason
        ),
        WatchEvent::Error(e) if e.retry_in_secs > 0.0 => format!(
            "{} {} (retry in {})",
            short_time(e.t),
            style.red(&format!("error: {}", e.message)),
            duration_text(e.retry_in_secs)
        ),
        // Nothing is retried: a problem told once (a series Prometheus counts).
        WatchEvent::Error(e) => format!(
            "{} {}",
            short_time(e.t),
            style.red(&format!("error: {}", e.message))
        ),
        WatchEvent::Recovered(r) => format!(
            "{} {} answers again after {} failed requests",
            short_time(r.t),
            r.target,
            r.after_failures
        ),
        WatchEvent::Series(change) => match change.presence {
            Presence::Appeared => format!(
                "{} {} {}",
                short_time(change.t),
                change.target,
                if change.last_sample.is_some() {
                    "is back in Prometheus"
                } else {
                    "appeared in Prometheus"
                }
            ),
            Presence::Gone => format!(
                "{} {} {}: no sample since {}; not judged a leak",
                short_time(change.t),
                change.target,
                style.yellow("gone"),
                change
                    .last_sample
                    .map_or("its start".to_string(), short_time)
            ),
        },
        WatchEvent::Start(_)
        | WatchEvent::Sample(_)
        | WatchEvent::Evaluation(_)
        | WatchEvent::Summary(_) => return None,
    })
}

fn alert_text(a: &Alert, style: &Style) -> String {
    let label = match a.verdict {
        AlertVerdict::Group(Verdict::Leak) => style.red("LEAK"),
        AlertVerdict::Rising => style.yellow("RISING"),
        other => style.yellow(other.name()),
    };
    let site = a
        .leak_site
        .as_ref()
        .map(|s| {
            let file = s.file.rsplit('/').next().unwrap_or(&s.file);
            format!(" {} {file}:{}", style.cyan(&s.function), s.line)
        })
        .unwrap_or_default();
    if let Some(leaked) = a.proven_leaked {
        return format!(
            "{label}{site} {} of {} proven leaked by the runtime",
            thousands(leaked),
            plural(a.count_after, "goroutine", "goroutines")
        );
    }
    format!(
        "{label}{site} {} → {} ({:+.1}/min, p = {:.1e})",
        thousands(a.count_before),
        thousands(a.count_after),
        a.slope_per_minute,
        a.p_value
    )
}

fn sparkline(values: &[u32]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let (Some(&lo), Some(&hi)) = (values.iter().min(), values.iter().max()) else {
        return String::new();
    };
    values
        .iter()
        .map(|&v| {
            if hi == lo {
                BARS[0]
            } else {
                BARS[((v - lo) as usize * 7 + (hi - lo) as usize / 2) / (hi - lo) as usize]
            }
        })
        .collect()
}

fn status_text(status: &TrendState, style: &Style) -> String {
    match status {
        TrendState::Empty => style.dim("waiting for samples"),
        TrendState::Warming { left_secs } => style.dim(&format!(
            "warming up, {} left",
            duration_text(left_secs.ceil())
        )),
        TrendState::Collecting {
            windows,
            need,
            eta_secs,
        } => style.dim(&format!(
            "collecting {windows}/{need} windows, verdict in ~{}",
            duration_text(eta_secs.ceil())
        )),
        TrendState::Judged { .. } if status.rising() => {
            style.red(&format!("RISING p={:.1e}", status.p_value().unwrap_or(1.0)))
        }
        other => other.name().to_string(),
    }
}

fn target_lines(target: &LiveTarget, style: &Style) -> Vec<String> {
    let mut lines = Vec::new();
    let count = target
        .goroutines
        .map_or("?".to_string(), |c| format!("{:>7}", thousands(c)));
    let rate = target
        .rate_per_minute
        .map_or(String::new(), |r| format!("{r:+.1}/min"));
    let error = target
        .error
        .as_ref()
        .map(|e| style.red(e.lines().next().unwrap_or_default()))
        .unwrap_or_default();
    lines.push(format!(
        "{}  {count} goroutines {rate:>10}  {:<40}  {}  {error}",
        style.bold(&target.target),
        sparkline(&target.recent),
        status_text(&target.trend, style)
    ));
    for group in &target.growing {
        let verdict = if group.rising && group.verdict == Verdict::Leak {
            style.red("LEAK   ")
        } else if group.rising {
            style.yellow(&format!("{:<7}", group.verdict.name()))
        } else {
            style.dim("growing")
        };
        let site = match &group.site {
            Some(site) => site_line(site),
            None => group.blocking.name().to_string(),
        };
        lines.push(format!(
            "  {verdict} {:>7} {:>+7}  {:<16} {}",
            thousands(group.goroutines),
            group.delta,
            group.blocking.name(),
            style.cyan(&site)
        ));
    }
    lines
}

/// Frames of a proven leak's stack the summary prints.
const STACK_LINES: usize = 8;

/// The end of a watch in text.
pub fn write_summary(out: &mut dyn Write, summary: &Summary, style: &Style) -> io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "{}",
        style.bold(&format!(
            "goleash watch: {} watched for {}",
            plural_targets(summary.targets.len()),
            duration_text(summary.duration_secs)
        ))
    )?;
    for note in plan_notes(&summary.settings, &summary.plan) {
        writeln!(out, "  {}", style.yellow(&note))?;
    }
    for target in &summary.targets {
        let trend = &target.trend;
        let trend = match (trend.rising(), trend.slope_per_minute()) {
            (true, Some(slope)) => style.red(&format!(
                "rising {slope:+.1}/min, p = {:.1e}",
                trend.p_value().unwrap_or(1.0)
            )),
            (false, Some(slope)) => {
                format!("{} ({slope:+.1}/min, within the noise)", trend.name())
            }
            (_, None) => trend.name().to_string(),
        };
        let mut facts = vec![
            format!("{} samples", thousands(target.samples)),
            format!("{} profiles", thousands(target.profiles)),
        ];
        if target.restarts > 0 {
            facts.push(style.yellow(&format!(
                "{} restart{}",
                target.restarts,
                if target.restarts == 1 { "" } else { "s" }
            )));
        }
        if target.errors > 0 {
            facts.push(style.red(&format!("{} failed requests", target.errors)));
        }
        if let Some(churn) = &target.churn {
            facts.push(format!(
                "{} created and {} ended a minute",
                thousands(churn.created_per_minute.round() as u64),
                thousands(churn.exited_per_minute.round() as u64)
            ));
        }
        writeln!(
            out,
            "{}: {} ({trend}) · {}",
            style.bold(&target.target),
            target.goroutines.map_or("? goroutines".into(), |n| plural(
                n,
                "goroutine",
                "goroutines"
            )),
            facts.join(" · ")
        )?;
        for alert in &target.alerts {
            writeln!(out, "  {}", alert_text(alert, style))?;
            writeln!(out, "      {}", style.dim(&alert.why))?;
            super::write_exits(out, None, Some(&alert.exit_conditions), style, "      ")?;
            if let Some(hint) = &alert.hint {
                writeln!(out, "      {} {hint}", style.bold("fix:"))?;
            }
            for frame in alert.stack.iter().take(STACK_LINES) {
                writeln!(out, "        {}", style.dim(frame))?;
            }
            if alert.stack.len() > STACK_LINES {
                writeln!(
                    out,
                    "        {}",
                    style.dim(&format!(
                        "… {} more frames",
                        alert.stack.len() - STACK_LINES
                    ))
                )?;
            }
        }
    }
    if summary.earlier_leaks > 0 {
        writeln!(
            out,
            "{}",
            style.red(&format!(
                "{} found by an earlier watch of the same processes still there (see goleash report)",
                plural(summary.earlier_leaks, "leak", "leaks")
            ))
        )?;
    }
    match summary.leaks {
        0 if summary.earlier_leaks > 0 => writeln!(out, "no new leak found")?,
        0 => match summary.unjudged().count() {
            0 => writeln!(out, "no leak found")?,
            n if n == summary.targets.len() => writeln!(
                out,
                "no leak found, but nothing was judged yet: no proof was served and no trend verdict was reached"
            )?,
            n => writeln!(
                out,
                "no leak found; {} not judged yet: no proof was served and no trend verdict was reached",
                plural(n as u64, "target", "targets")
            )?,
        },
        1 => writeln!(out, "{}", style.red("1 leak found"))?,
        n => writeln!(out, "{}", style.red(&format!("{n} leaks found")))?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(duration_text(0.25), "250ms");
        assert_eq!(duration_text(5.0), "5s");
        assert_eq!(duration_text(120.0), "2m");
        assert_eq!(duration_text(90.0), "1m30s");
        assert_eq!(duration_text(7200.0), "2h");
    }

    #[test]
    fn long_lines_are_cut_without_counting_colour_codes() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
        assert_eq!(fit("\x1b[1mabcdef\x1b[0m", 4), "\x1b[1mabc…\x1b[0m");
        assert_eq!(fit("\x1b[1mab\x1b[0m", 4), "\x1b[1mab\x1b[0m");
    }

    #[test]
    fn sparklines_span_the_range() {
        assert_eq!(sparkline(&[1, 2, 3, 8]), "▁▂▃█");
        assert_eq!(sparkline(&[5, 5]), "▁▁");
        assert_eq!(sparkline(&[]), "");
    }
}
