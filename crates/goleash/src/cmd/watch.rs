//! `goleash watch URL…`: watch live services for goroutine leaks.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::Outcome;
use crate::cli::{SourceArgs, StreamFormat, TrendArgs, parse_duration};
use crate::cmd::{event_sink, history_db};
use crate::collect::{self, Client, HttpOptions};
use crate::doc::watch::EventSink;
use crate::prometheus::Prometheus;
use crate::render::style::ColorChoice;
use crate::render::text::watch as text;
use crate::scan::stacks;
use crate::store::Store;
use crate::watch::fleet::FleetCounts;
use crate::watch::plan::{Asked, Plan};
use crate::watch::{self, Timeouts, WatchOptions, Watched, metrics_listen, stop_on_signals};

/// Watch live Go services: sample their goroutines, keep the history, and report the stacks
/// that leak.
///
/// Each service is sampled on a ladder of sources, cheapest first: the goroutine count
/// alone (Prometheus `go_goroutines` on /metrics, an expvar, or the /debug/pprof/ index) at
/// the interval; the per-stack `debug=0` profile no more often than 200 times what the last
/// one took, so that watching costs the service under 1% of a core; on Go 1.26+ the
/// goroutineleak profile at the start and then no more often than its cost allows, whose
/// `(leaked)` goroutines are leaks at once; and a full `debug=2` dump only when a stack
/// rises, kept as evidence. A stack is also called a leak when its count rises and the
/// level it falls back to after bursts rises with it, over several cool-down windows after
/// a warm-up; restarts cut the series and are never read as a leak ending.
#[derive(Args, Debug)]
#[command(after_help = "EXAMPLES:
    goleash watch http://127.0.0.1:6060                       until Ctrl-C
    goleash watch --duration 30m --fail-on-leak http://svc:6060   a load test's CI gate
    goleash watch --format json http://a:6060 http://b:6060 | jq 'select(.event == \"alert\")'
    goleash watch --prometheus http://prometheus:9090 --match 'go_goroutines{job=\"api\"}'
    goleash report -o report.html                                 draw the history

FLEETS:
    With --prometheus, the counts of every series --match selects come from Prometheus,
    read each --interval (the samples scraped since the last read): the services are not
    asked for counts at all. Each series is a target, named by its labels. Only a series
    whose trend rises is asked for stacks, at --pprof (goroutineleak first, then
    goroutine), within the same cost rule. Series that appear later are added; series no
    longer scraped are told gone, not leaks. A Prometheus down mid-watch is told, and the
    watch goes on with the history it has.

TIMING:
    Goroutines the runtime proves leaked (Go 1.26+, the goroutineleak profile) are reported
    at once. Trends need time: the defaults are calibrated for production (2m warm-up, then
    six 5m cool-down windows, a verdict after about 32 minutes at the earliest). With a
    shorter --duration the windows are fitted to it (down to 3s windows) and the output says
    what was chosen; below about 20s no trend verdict is possible, and --fail-on-leak then
    exits 2 unless the runtime's proof was at hand. --warmup, --cooldown and --min-windows
    set the windows by hand.")]
pub struct WatchArgs {
    /// Services to watch: `http://host:port` (their /debug/pprof is assumed) or the URL of
    /// their pprof base.
    #[arg(conflicts_with = "prometheus")]
    pub urls: Vec<String>,
    /// A file with more service URLs, one per line (`#` starts a comment).
    #[arg(long, value_name = "FILE", conflicts_with = "prometheus")]
    pub targets_file: Option<PathBuf>,
    /// Read the goroutine counts of a fleet from this Prometheus server (`http://host:9090`)
    /// instead of polling services: every series --match selects is a target.
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,
    /// With --prometheus: the series to watch, a selector of goroutine counts [default:
    /// go_goroutines].
    #[arg(long = "match", value_name = "SELECTOR", requires = "prometheus")]
    pub selector: Option<String>,
    /// With --prometheus: where a suspect's pprof endpoint is; `{label}` is replaced by the
    /// series' label [default: http://{instance}/debug/pprof].
    #[arg(long, value_name = "TEMPLATE", requires = "prometheus")]
    pub pprof: Option<String>,
    /// How often to sample the goroutine count (default 5s, or less to fit --duration).
    #[arg(long, value_parser = parse_duration)]
    pub interval: Option<Duration>,
    /// Stop after this long (default: until Ctrl-C).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// The history database; a later watch on it continues the history (default:
    /// goleash/watch.db under $XDG_STATE_HOME, or ~/.local/state). A
    /// `postgres://user@host/db` URL keeps it in PostgreSQL, where several watches can each
    /// write their own targets.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Exit with status 1 when a leak was found; exit 2 when neither proof nor a trend
    /// verdict could have failed it.
    #[arg(long)]
    pub fail_on_leak: bool,
    #[command(flatten)]
    pub trend: TrendArgs,
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
    /// The interval and trend thresholds: the defaults, or windows fitted to `--duration`,
    /// with what was given on the command line.
    pub fn plan(&self) -> Plan {
        Plan::for_run(&Asked {
            duration: self.duration,
            interval: self.interval,
            warmup: self.trend.warmup,
            cooldown: self.trend.cooldown,
            min_windows: self.trend.min_windows,
            min_rise: self.trend.min_rise,
        })
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

pub fn run(args: &WatchArgs) -> Result<Outcome> {
    // clap's `requires` does not hold beside service URLs, which conflict with --prometheus.
    if args.prometheus.is_none() && (args.selector.is_some() || args.pprof.is_some()) {
        bail!(
            "--match and --pprof choose series of --prometheus\n  hint: goleash watch --prometheus http://prometheus:9090 --match 'go_goroutines{{job=\"api\"}}'"
        );
    }
    let fleet = match &args.prometheus {
        Some(url) => {
            let client = Client::new(HttpOptions {
                timeout: args.timeout,
                connect_timeout: args.timeout.min(Duration::from_secs(3)),
                ..HttpOptions::default()
            });
            let template = stacks::Template::parse(
                args.pprof
                    .as_deref()
                    .unwrap_or("http://{instance}/debug/pprof"),
            )?;
            Some(FleetCounts::new(
                Prometheus::new(url, client),
                args.selector.as_deref().unwrap_or("go_goroutines"),
                template,
            )?)
        }
        None => None,
    };
    let bases = match fleet {
        Some(_) => Vec::new(),
        None => args.bases()?,
    };
    let watched = match &fleet {
        Some(counts) => Watched::Fleet(counts),
        None => Watched::Services(&bases),
    };
    let plan = args.plan();
    if plan.interval < Duration::from_millis(10) {
        bail!("--interval must be at least 10ms");
    }
    let options = WatchOptions {
        interval: plan.interval,
        duration: args.duration,
        trend: plan.trend,
        fitted: plan.fitted,
        concurrency: args.concurrency,
        leak_profile: !args.no_leak_profile,
        proof_looks: true,
        timeouts: Timeouts {
            count: args.timeout.min(Duration::from_secs(5)),
            profile: args.timeout,
            dump: args.timeout * 2,
        },
        simulated: false,
    };
    options.trend.validate().context("trend options")?;
    let db = history_db(args.db.as_deref())?;
    if args.db.is_none()
        && let Some(dir) = db.parent()
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create {} for the history", dir.display()))?;
    }
    let mut store = Store::open_for_writing(&db)?;
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
    let ended = watch::run(&watched, &options, &mut store, &http, &source, sink, &stop)?;
    source.report_warnings();
    if !ended.any_sample {
        match &fleet {
            Some(counts) => eprintln!(
                "goleash: Prometheus gave no sample of {}; nothing was recorded",
                counts.selector
            ),
            None => eprintln!("goleash: no service answered; nothing was recorded"),
        }
        return Ok(Outcome::InputError);
    }
    let summary = &ended.summary;
    if args.fail_on_leak && summary.leaks + summary.earlier_leaks > 0 {
        return Ok(Outcome::Leaks);
    }
    if !args.fail_on_leak {
        return Ok(Outcome::Ok);
    }
    // Targets for which neither kind of evidence could have failed the gate: no proof to
    // ask for, and no trend verdict reached (the duration left no room for one, or the
    // target answered too slowly or too late to fill the windows). Passing would say
    // nothing about them.
    let unjudged: Vec<&str> = summary.unjudged().map(|t| t.target.as_str()).collect();
    if unjudged.is_empty() {
        return Ok(Outcome::Ok);
    }
    let why = if summary.plan.trend_verdict_possible {
        "no trend verdict was reached".to_string()
    } else {
        format!(
            "{} leaves no room for a trend verdict",
            text::duration_text(summary.plan.duration_secs.unwrap_or(0.0))
        )
    };
    eprintln!(
        "goleash: --fail-on-leak could not fail: {why} for {}, which served no goroutineleak profile (Go 1.26+) to prove leaks with\n  hint: watch for {} or more, or a Go 1.26+ build",
        unjudged.join(", "),
        text::duration_text(summary.plan.shortest_duration_secs.ceil()),
    );
    Ok(Outcome::InputError)
}
