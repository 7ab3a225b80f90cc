//! `goleash watch URL…`: watch live services for goroutine leaks.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use goleash_core::trend::TrendOptions;

use crate::Outcome;
use crate::cli::{SourceArgs, StreamFormat, parse_duration};
use crate::cmd::event_sink;
use crate::collect::{self, HttpOptions};
use crate::doc::watch::EventSink;
use crate::render::style::ColorChoice;
use crate::render::text::watch::duration_text;
use crate::store::Store;
use crate::watch::{self, Timeouts, WatchOptions, metrics_listen, stop_on_signals};

/// Watch live Go services: sample their goroutines, keep the history, and report the stacks
/// that leak.
///
/// Each service is sampled on a ladder of sources, cheapest first: the goroutine count
/// alone (Prometheus `go_goroutines` on /metrics, an expvar, or the /debug/pprof/ index) at
/// the interval; the per-stack `debug=0` profile no more often than 200 times what the last
/// one took, so that watching costs the service under 1% of a core; and a full `debug=2`
/// dump (the goroutineleak one where served) only when a stack rises, kept as evidence.
/// A stack is called a leak when its count rises and the level it falls back to after
/// bursts rises with it, over several cool-down windows after a warm-up; restarts cut the
/// series and are never read as a leak ending.
#[derive(Args, Debug)]
#[command(after_help = "EXAMPLES:
    goleash watch http://127.0.0.1:6060                       until Ctrl-C
    goleash watch --duration 30m --fail-on-leak http://svc:6060   a load test's CI gate
    goleash watch --format json http://a:6060 http://b:6060 | jq 'select(.event == \"alert\")'
    goleash report --db goleash-watch.db -o report.html          draw the history

TIMING:
    The defaults are calibrated for production: 2m warm-up, then six 5m cool-down windows,
    so a leak is called after about 32 minutes at the earliest. --warmup, --cooldown and
    --min-windows shorten that for tests, on less evidence; the output says so.")]
pub struct WatchArgs {
    /// Services to watch: `http://host:port` (their /debug/pprof is assumed) or the URL of
    /// their pprof base.
    pub urls: Vec<String>,
    /// A file with more service URLs, one per line (`#` starts a comment).
    #[arg(long, value_name = "FILE")]
    pub targets_file: Option<PathBuf>,
    /// How often to sample the goroutine count.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Stop after this long (default: until Ctrl-C).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// The history database; a later watch on it continues the history. A
    /// `postgres://user@host/db` URL keeps it in PostgreSQL, where several watches can each
    /// write their own targets.
    #[arg(long, default_value = "goleash-watch.db", value_name = "PATH")]
    pub db: PathBuf,
    /// Exit with status 1 when a leak was found. Refused with a --duration too short to
    /// call one.
    #[arg(long)]
    pub fail_on_leak: bool,
    /// Ignore this long after each process starts (default 2m).
    #[arg(long, value_parser = parse_duration)]
    pub warmup: Option<Duration>,
    /// How long a healthy count may take to come back after load; also the width of the
    /// windows whose floors must rise (default 5m).
    #[arg(long, value_parser = parse_duration)]
    pub cooldown: Option<Duration>,
    /// Cool-down windows a verdict needs (default 6, at least 3).
    #[arg(long, value_name = "N")]
    pub min_windows: Option<usize>,
    /// Smallest rise of the floor, in goroutines, that counts (default 5).
    #[arg(long, value_name = "N")]
    pub min_rise: Option<f64>,
    /// Requests in flight at once, over all services.
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub concurrency: usize,
    /// Time allowed for a profile request; dumps get twice as long, counts 5 s at most.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Do not ask for /debug/pprof/goroutineleak for evidence dumps (it runs a GC with leak
    /// detection in the service).
    #[arg(long)]
    pub no_leak_profile: bool,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Serve the verdicts on http://ADDR/metrics for Prometheus to scrape (e.g.
    /// 127.0.0.1:9464; port 0 picks one and prints it).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Output format: a live view (on a terminal) or a log, or JSON lines.
    #[arg(long, value_enum, default_value_t = StreamFormat::Text)]
    pub format: StreamFormat,
    /// When to colour text output (NO_COLOR is honoured).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

impl WatchArgs {
    /// The trend thresholds: the defaults, with what was given on the command line.
    pub fn trend(&self) -> TrendOptions {
        let mut trend = TrendOptions::default();
        if let Some(w) = self.warmup {
            trend.warmup_secs = w.as_secs_f64();
        }
        if let Some(c) = self.cooldown {
            trend.cooldown_secs = c.as_secs_f64();
            // The baseline before a load phase scales with the windows (60 s of 300 s).
            trend.baseline_secs = trend.cooldown_secs / 5.0;
        }
        if let Some(n) = self.min_windows {
            trend.min_windows = n;
        }
        if let Some(r) = self.min_rise {
            trend.min_rise = r;
        }
        trend
    }

    fn bases(&self) -> Result<Vec<String>> {
        let mut urls = self.urls.clone();
        if let Some(path) = &self.targets_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            urls.extend(
                text.lines()
                    .map(|l| l.split('#').next().unwrap_or("").trim())
                    .filter(|l| !l.is_empty())
                    .map(str::to_string),
            );
        }
        if urls.is_empty() {
            bail!("no service to watch: give a URL like http://127.0.0.1:6060");
        }
        let mut bases: Vec<String> = Vec::new();
        for url in urls {
            if !collect::is_url(&url) {
                bail!(
                    "{url} is not a service URL\n  hint: watch reads live services, like http://127.0.0.1:6060; `goleash inspect` reads files"
                );
            }
            let base = collect::pprof_base(&url);
            if !bases.contains(&base) {
                bases.push(base);
            }
        }
        Ok(bases)
    }
}

/// A watch calls a leak only after the warm-up, then `min_windows` cool-down windows and
/// `min_samples` samples; one that stops sooner passes whatever the service does, which a
/// gate must not.
fn refuse_a_gate_that_cannot_fail(
    duration: Duration,
    interval: Duration,
    trend: &TrendOptions,
) -> Result<()> {
    let windows = trend.min_windows as f64 * trend.cooldown_secs;
    let samples = trend.min_samples as f64 * interval.as_secs_f64();
    let earliest = trend.warmup_secs + windows.max(samples);
    if duration.as_secs_f64() >= earliest {
        return Ok(());
    }
    bail!(
        "--fail-on-leak with --duration {} can never fail: a leak is called at the earliest after \
         {} ({} warm-up, then {} cool-down windows of {} and {} samples every {})\n  hint: watch \
         for longer than that, or, in a test, shorten the timing on less evidence with \
         --warmup, --cooldown, --min-windows and --interval",
        duration_text(duration.as_secs_f64()),
        duration_text(earliest),
        duration_text(trend.warmup_secs),
        trend.min_windows,
        duration_text(trend.cooldown_secs),
        trend.min_samples,
        duration_text(interval.as_secs_f64()),
    )
}

pub fn run(args: &WatchArgs) -> Result<Outcome> {
    let bases = args.bases()?;
    if args.interval < Duration::from_millis(10) {
        bail!("--interval must be at least 10ms");
    }
    let options = WatchOptions {
        interval: args.interval,
        duration: args.duration,
        trend: args.trend(),
        concurrency: args.concurrency,
        leak_profile: !args.no_leak_profile,
        timeouts: Timeouts {
            count: args.timeout.min(Duration::from_secs(5)),
            profile: args.timeout,
            dump: args.timeout * 2,
        },
        simulated: false,
    };
    options.trend.validate().context("trend options")?;
    if args.fail_on_leak
        && let Some(duration) = args.duration
    {
        refuse_a_gate_that_cannot_fail(duration, args.interval, &options.trend)?;
    }
    let mut store = Store::open_for_writing(&args.db)?;
    let http = HttpOptions {
        timeout: args.timeout * 2,
        ..HttpOptions::default()
    };
    let stop = stop_on_signals()?;
    let mut printer = event_sink(args.format, args.color);
    let mut listening;
    let sink: &mut dyn EventSink = match &args.listen {
        Some(addr) => {
            let (metrics, bound) = metrics_listen::listen(addr, printer.as_mut())?;
            eprintln!("goleash: serving the verdicts on http://{bound}/metrics");
            listening = metrics;
            &mut listening
        }
        None => printer.as_mut(),
    };
    let source = args.source.files();
    let ended = watch::run(&bases, &options, &mut store, &http, &source, sink, &stop)?;
    source.report_warnings();
    if !ended.any_sample {
        eprintln!("goleash: no service answered; nothing was recorded");
        return Ok(Outcome::InputError);
    }
    Ok(if args.fail_on_leak && ended.summary.leaks > 0 {
        Outcome::Leaks
    } else {
        Outcome::Ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_gate_too_short_to_call_a_leak_is_refused() {
        let defaults = TrendOptions::default();
        let secs = Duration::from_secs;
        let refused = refuse_a_gate_that_cannot_fail(secs(40), secs(5), &defaults)
            .expect_err("40 s cannot reach a verdict with the defaults");
        let message = refused.to_string();
        assert!(message.contains("can never fail"), "{message}");
        assert!(message.contains("after 32m"), "{message}");
        assert!(refuse_a_gate_that_cannot_fail(secs(32 * 60), secs(5), &defaults).is_ok());

        let compressed = TrendOptions {
            warmup_secs: 5.0,
            cooldown_secs: 5.0,
            min_windows: 3,
            ..TrendOptions::default()
        };
        // Ten samples at 5 s take longer than the windows: the samples bound the verdict.
        assert!(refuse_a_gate_that_cannot_fail(secs(40), secs(5), &compressed).is_err());
        assert!(refuse_a_gate_that_cannot_fail(secs(40), secs(1), &compressed).is_ok());
    }
}
