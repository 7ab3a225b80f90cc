//! `goleash scan --prometheus URL`: find the leaking services of a fleet from the counts
//! Prometheus already keeps, and read profiles from those only.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Args;
use goleash_core::trend::TrendOptions;

use crate::Outcome;
use crate::cli::{GroupingArgs, OutputFormat, SourceArgs, TrendArgs, parse_duration};
use crate::collect::{Client, HttpOptions};
use crate::doc::SCHEMA_VERSION;
use crate::doc::scan::{Direction, ScanDoc, Timings};
use crate::prometheus::Prometheus;
use crate::render::style::{ColorChoice, Style};
use crate::render::text::{self, TextOptions};
use crate::scan::{self, Query, stacks};

/// Judge every Go service of a fleet from Prometheus: read the goroutine count of every
/// series the selector matches, judge each with the same trend engine as `watch` (restarts
/// from process_start_time_seconds or count drops, warm-up, cool-down floors, Mann–Kendall,
/// Theil–Sen), rank them, and read the goroutine profiles of the rising ones only, to name
/// the stacks that leak.
///
/// A stack is named at once when the goroutineleak profile proves it leaked; otherwise by
/// comparing the suspect with a healthy replica of the same job (the flat series with the
/// same `job` label and the fewest goroutines), or with a second profile of the suspect
/// taken --recheck later.
#[derive(Args, Debug)]
#[command(after_help = "EXAMPLES:
    goleash scan --prometheus http://prometheus:9090
    goleash scan --prometheus http://prometheus:9090 --match 'go_goroutines{job=\"api\"}' --range 7d
    goleash scan --prometheus http://prometheus:9090 --pprof 'http://{pod_ip}:6060/debug/pprof'
    goleash scan --prometheus http://prometheus:9090 --format json | jq '.instances[] | select(.direction == \"rising\")'

TIMING:
    The trend defaults are calibrated for production: 2m warm-up, then six 5m cool-down
    windows, so a series needs about 32 minutes of its newest process to be judged.

EXIT STATUS:
    0 no series rises, 1 some series rises, 2 nothing could be judged or bad usage")]
pub struct ScanArgs {
    /// The Prometheus server: `http://host:9090`.
    #[arg(long, value_name = "URL")]
    pub prometheus: String,
    /// The series to judge: a selector of goroutine counts.
    #[arg(
        long = "match",
        default_value = "go_goroutines",
        value_name = "SELECTOR"
    )]
    pub selector: String,
    /// How far back to read, up to now.
    #[arg(long, default_value = "6h", value_parser = parse_duration)]
    pub range: Duration,
    /// Time between points [default: the range / 10,000, at least 15s].
    #[arg(long, value_parser = parse_duration)]
    pub step: Option<Duration>,
    /// Where the suspects' pprof endpoints are: `{label}` is replaced by the series' label.
    #[arg(
        long,
        default_value = "http://{instance}/debug/pprof",
        value_name = "TEMPLATE"
    )]
    pub pprof: String,
    /// Read no profiles: rank the series only.
    #[arg(long)]
    pub no_stacks: bool,
    /// Read the profiles of at most this many suspects, the highest ranked.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub max_suspects: usize,
    /// Time between two profiles of a suspect without a healthy replica.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub recheck: Duration,
    /// Time allowed for one request, to Prometheus or to a service.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Do not ask suspects for /debug/pprof/goroutineleak (it runs a GC with leak
    /// detection in the service).
    #[arg(long)]
    pub no_leak_profile: bool,
    #[command(flatten)]
    pub trend: TrendArgs,
    /// Also write the scan as a self-contained HTML page to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Show every series in the ranking and every group in full.
    #[arg(long)]
    pub all: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ScanFormat::Text)]
    pub format: ScanFormat,
    /// When to colour text output (NO_COLOR is honoured).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    #[command(flatten)]
    pub grouping: GroupingArgs,
    #[command(flatten)]
    pub source: SourceArgs,
}

/// Points the O(n²) statistics see per series, instead of watch's 1,000: a scan judges
/// thousands of series at once, and at 1,000 points one series of a week at one minute
/// took 23 ms of CPU (4 minutes for 10,000 series). Fewer, coarser points (medians of runs)
/// make the p-value more conservative, not less, and the window floors are still taken from
/// every point, so a leak over days is still called.
const SCAN_MAX_POINTS: usize = 400;

/// Output formats of `scan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ScanFormat {
    /// For people.
    Text,
    /// For machines: see docs/json.md.
    Json,
}

impl ScanArgs {
    fn trend(&self) -> Result<TrendOptions> {
        let mut trend = TrendOptions {
            max_points: SCAN_MAX_POINTS,
            ..TrendOptions::default()
        };
        if let Some(w) = self.trend.warmup {
            trend.warmup_secs = w.as_secs_f64();
        }
        if let Some(c) = self.trend.cooldown {
            trend.cooldown_secs = c.as_secs_f64();
            trend.baseline_secs = trend.cooldown_secs / 5.0;
        }
        if let Some(n) = self.trend.min_windows {
            trend.min_windows = n;
        }
        if let Some(r) = self.trend.min_rise {
            trend.min_rise = r;
        }
        trend.validate()?;
        Ok(trend)
    }
}

pub fn run(args: &ScanArgs) -> Result<Outcome> {
    let trend = args.trend()?;
    let template = stacks::Template::parse(&args.pprof)?;
    let range = args.range.as_secs_f64();
    let step = args
        .step
        .map_or((range / 10_000.0).max(15.0), |s| s.as_secs_f64());
    if !(step > 0.0 && range >= step) {
        bail!("--step must be above 0 and at most --range");
    }
    let end = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
        .floor();
    let query = Query {
        selector: &args.selector,
        start: end - range,
        end,
        step,
    };
    let client = Client::new(HttpOptions {
        timeout: args.timeout,
        connect_timeout: args.timeout.min(Duration::from_secs(3)),
        ..HttpOptions::default()
    });
    let prometheus = Prometheus::new(&args.prometheus, client.clone());
    let fleet = scan::read(&prometheus, &query)?;
    let judging = Instant::now();
    let mut instances = scan::judge(&fleet, &query, &trend);
    let judge_secs = judging.elapsed().as_secs_f64();
    let (waited, decoded) = prometheus.spent();
    let source = args.source.files();
    let naming = Instant::now();
    if !args.no_stacks {
        let read = args.grouping.read_options();
        let fetching = stacks::Fetching {
            template: &template,
            client: &client,
            leak_profile: !args.no_leak_profile,
            recheck: args.recheck,
            read: &read,
            source: &source,
        };
        stacks::name_all(&mut instances, args.max_suspects, &fetching);
    }
    let stacks_secs = naming.elapsed().as_secs_f64();
    source.report_warnings();
    let mut problems = fleet.problems;
    for i in &instances {
        if let Some(error) = i.stacks.as_ref().and_then(|s| s.error.as_ref()) {
            problems.push(format!(
                "rank {}: {}",
                i.rank,
                error.lines().next().unwrap_or("")
            ));
        }
    }
    let judged = instances
        .iter()
        .filter(|i| {
            matches!(
                i.direction,
                Direction::Rising | Direction::Flat | Direction::Falling
            )
        })
        .count();
    let rising = instances
        .iter()
        .filter(|i| i.direction == Direction::Rising)
        .count();
    let doc = ScanDoc {
        schema_version: SCHEMA_VERSION,
        prometheus: prometheus.url().to_string(),
        selector: args.selector.clone(),
        start: query.start,
        end: query.end,
        step,
        queries: fleet.queries,
        series: instances.len(),
        judged,
        rising,
        problems,
        instances,
        timings: Timings {
            prometheus_secs: waited.as_secs_f64(),
            decode_secs: decoded.as_secs_f64(),
            judge_secs,
            stacks_secs,
        },
    };
    let format = match args.format {
        ScanFormat::Text => OutputFormat::Text,
        ScanFormat::Json => OutputFormat::Json,
    };
    let style = Style::for_stdout(args.color);
    let options = TextOptions {
        full: false,
        all: args.all,
    };
    if let Some(path) = &args.html {
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        );
        crate::render::scan_html::write(&mut file, &doc)?;
        std::io::Write::flush(&mut file)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    super::print(format, "scan", &doc, Vec::new, &source, |out| {
        text::scan::write(out, &doc, &style, &options)
    })?;
    Ok(if judged == 0 {
        eprintln!(
            "goleash: error: none of the {} series could be judged (see the reasons above)\n  hint: read a longer --range, or shorten --warmup/--cooldown for short-lived processes",
            doc.series
        );
        Outcome::InputError
    } else if rising > 0 {
        Outcome::Leaks
    } else {
        Outcome::Ok
    })
}
