//! `goleash demo`: watch a simulated leaking service, print the verdict, draw the report.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use goleash_core::classify::Verdict;
use goleash_core::trend::TrendOptions;

use crate::Outcome;
use crate::cli::{StreamFormat, parse_duration};
use crate::cmd::event_sink;
use crate::collect::HttpOptions;
use crate::demo::{Behaviour, Corpus, EmbeddedSource};
use crate::doc::watch::{EventSink, LiveDoc, WatchEvent};
use crate::history::AlertVerdict;
use crate::render::style::{ColorChoice, Style};
use crate::render::{html, text};
use crate::report;
use crate::store::Store;
use crate::watch::{self, Timeouts, WatchOptions, stop_on_signals};

/// See goleash find a goroutine leak, in well under a minute, with nothing to set up.
///
/// goleash starts a simulated Go service on loopback, inside its own process: it serves
/// goroutine profiles replayed from a real capture of a Go 1.27 service, with bursty but
/// healthy traffic and one slow leak injected. `goleash watch` then samples it with its
/// trend windows compressed from minutes to seconds, names the stack that leaks, and
/// writes the HTML report. No Go toolchain and no network are needed.
#[derive(Args, Debug)]
#[command(after_help = "EXAMPLES:
    goleash demo                          watch the simulation, write goleash-demo.html
    goleash demo --serve 3                only serve 3 simulated services, to try `goleash watch` on")]
pub struct DemoArgs {
    /// The longest the demo watches; it stops once the leak is found and its evidence kept.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// The history database (replaced at each run).
    #[arg(long, default_value = "goleash-demo.db", value_name = "PATH")]
    pub db: PathBuf,
    /// Where to write the HTML report.
    #[arg(short, long, default_value = "goleash-demo.html", value_name = "FILE")]
    pub output: PathBuf,
    /// Only serve N simulated services (one in ten leaks slowly), print their URLs one per
    /// line, and keep serving until Ctrl-C or --duration.
    #[arg(long, value_name = "N")]
    pub serve: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = StreamFormat::Text)]
    pub format: StreamFormat,
    /// When to colour text output (NO_COLOR is honoured).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// The demo's service: bursts every 2.5 s that come and go within a second (shorter than
/// the 3 s cool-down), growing and shrinking over 15 s, and 2 goroutines leaked a second.
const DEMO: Behaviour = Behaviour {
    leak_per_sec: 2.0,
    burst_period: 2.5,
    burst_secs: 1.0,
    burst_min: 6.0,
    burst_max: 16.0,
    cycle_secs: 15.0,
    offset_secs: 0.0,
};

/// Ends the watch once a leak was found and a dump kept as its evidence.
struct UntilEvidence<'a> {
    inner: &'a mut dyn EventSink,
    stop: Arc<AtomicBool>,
    leak_found: bool,
}

impl EventSink for UntilEvidence<'_> {
    fn event(&mut self, event: &WatchEvent) -> io::Result<()> {
        match event {
            WatchEvent::Alert(a) if a.verdict == AlertVerdict::Group(Verdict::Leak) => {
                self.leak_found = true
            }
            WatchEvent::Dump(_) if self.leak_found => self.stop.store(true, Ordering::Relaxed),
            _ => {}
        }
        self.inner.event(event)
    }

    fn live_room(&self) -> Option<usize> {
        self.inner.live_room()
    }

    fn refresh(&mut self, live: &LiveDoc) -> io::Result<()> {
        self.inner.refresh(live)
    }
}

fn remove_history(db: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_os_string();
        name.push(suffix);
        let path = PathBuf::from(name);
        if path.exists() {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot replace {}", path.display()))?;
        }
    }
    Ok(())
}

fn serve_only(n: usize, duration: Option<Duration>, corpus: &Arc<Corpus>) -> Result<Outcome> {
    let behaviours: Vec<Behaviour> = (0..n)
        .map(|k| Behaviour {
            leak_per_sec: if k % 10 == 0 { 0.05 } else { 0.0 },
            offset_secs: k as f64 * 0.37,
            ..DEMO
        })
        .collect();
    let urls = crate::demo::start(corpus, &behaviours)?;
    let mut out = io::stdout().lock();
    for url in &urls {
        writeln!(out, "{url}")?;
    }
    out.flush()?;
    eprintln!(
        "goleash demo: serving {n} simulated services on loopback (every tenth leaks slowly); Ctrl-C stops"
    );
    let stop = stop_on_signals()?;
    let until = duration.map(|d| Instant::now() + d);
    while !stop.load(Ordering::Relaxed) && until.is_none_or(|u| Instant::now() < u) {
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(Outcome::Ok)
}

pub fn run(args: &DemoArgs) -> Result<Outcome> {
    let corpus = Arc::new(Corpus::load()?);
    if let Some(n) = args.serve {
        return serve_only(n, args.duration, &corpus);
    }
    let as_text = args.format == StreamFormat::Text;
    let style = Style::for_stdout(args.color);
    if as_text {
        text::demo::write_intro(&mut io::stdout().lock(), Some(&style))?;
    } else {
        text::demo::write_intro(&mut io::stderr().lock(), None)?;
    }
    remove_history(&args.db)?;
    let mut store = Store::open_for_writing(&args.db)?;
    let urls = crate::demo::start(&corpus, &[DEMO])?;
    let trend = TrendOptions {
        warmup_secs: 2.0,
        cooldown_secs: 3.0,
        baseline_secs: 0.6,
        ..TrendOptions::default()
    };
    let options = WatchOptions {
        interval: Duration::from_millis(250),
        duration: Some(args.duration.unwrap_or(Duration::from_secs(45))),
        trend,
        fitted: false,
        concurrency: 2,
        leak_profile: true,
        // The demo shows the trend find its leak; the runtime's proof comes as the evidence
        // the trend asks for.
        proof_looks: false,
        timeouts: Timeouts {
            count: Duration::from_secs(2),
            profile: Duration::from_secs(10),
            dump: Duration::from_secs(20),
        },
        simulated: true,
    };
    let http = HttpOptions {
        timeout: Duration::from_secs(20),
        ..HttpOptions::default()
    };
    let stop = stop_on_signals()?;
    let mut inner = event_sink(args.format, args.color);
    let mut until = UntilEvidence {
        inner: inner.as_mut(),
        stop: Arc::clone(&stop),
        leak_found: false,
    };
    let bases: Vec<String> = urls.iter().map(|u| crate::collect::pprof_base(u)).collect();
    let source = EmbeddedSource::new();
    watch::run(
        &watch::Watched::Services(&bases),
        &options,
        &mut store,
        &http,
        &source,
        &mut until,
        &stop,
    )?;
    let leak_found = until.leak_found;
    drop(store);

    let store = Store::open_existing(&args.db)?;
    let doc = report::build(&store, &args.db.display().to_string(), None, &source)?;
    let mut file = io::BufWriter::new(
        std::fs::File::create(&args.output)
            .with_context(|| format!("cannot create {}", args.output.display()))?,
    );
    html::write(&mut file, &doc)?;
    file.flush()?;

    let mut out: Box<dyn Write> = if as_text {
        Box::new(io::stdout().lock())
    } else {
        Box::new(io::stderr().lock())
    };
    text::demo::write_outcome(&mut out, &doc, &args.output, &style)?;
    out.flush()?;
    Ok(if leak_found && doc.alerted_leak().is_some() {
        Outcome::Ok
    } else {
        Outcome::InputError
    })
}
