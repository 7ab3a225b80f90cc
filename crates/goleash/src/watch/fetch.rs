//! The workers: each takes one request at a time from the scheduler, fetches and parses it,
//! and hands the result back. A slow or dead target holds one worker for at most its
//! timeout, and the scheduler never gives a target a second request while one is in flight.

use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use goleash_core::{Capture, ReadOptions};

use super::sources::{CountReading, CountSource};
use crate::collect::{self, Client, FetchError, FetchErrorKind, HttpOptions, Limits};
use crate::history::Profile;

/// What to fetch.
#[derive(Clone, Debug)]
pub enum JobKind {
    /// The count alone, from this source, or from the first rung of the ladder that has it.
    Count(Option<CountSource>),
    /// The `debug=0` goroutine profile: per-stack counts; with `start_time`, /metrics too,
    /// for `process_start_time_seconds`, which tells restarts apart.
    Profile {
        /// Ask /metrics for the process start time.
        start_time: bool,
    },
    /// A full `debug=2` dump (the goroutineleak one first, when allowed), kept as evidence.
    Dump {
        /// Why it is taken.
        reason: String,
    },
    /// The goroutineleak profile alone (`?debug=2`): a look for goroutines the runtime can
    /// prove leaked, which are a verdict by themselves. No fallback to the plain dump: a
    /// target without the profile has no proof to give.
    Proof,
}

/// One request for one target.
#[derive(Clone, Debug)]
pub struct Job {
    /// The target's index in the scheduler; it also picks the target's client.
    pub target: usize,
    /// Its pprof base.
    pub base: String,
    /// What to fetch.
    pub kind: JobKind,
    /// Ask for `goroutineleak?debug=2` for dumps.
    pub leak_profile: bool,
}

/// A finished job.
pub struct Done {
    /// The target's index.
    pub target: usize,
    /// The middle of the request, unix seconds: when the count was true.
    pub t: f64,
    /// How long its requests took, parsing excluded: the best measure of what they cost
    /// the target.
    pub cost: Duration,
    /// What came back.
    pub fetched: Fetched,
}

/// What came back.
pub enum Fetched {
    /// A count.
    Count {
        /// Where from.
        source: CountSource,
        /// The count and the process start time.
        reading: CountReading,
    },
    /// No rung of the ladder serves the count: only profiles will give it.
    NoCountSource,
    /// A goroutine profile.
    Profile {
        /// As served.
        body: Vec<u8>,
        /// Read and grouped.
        capture: Capture,
        /// `process_start_time_seconds`, when asked for and served.
        start_time: Option<f64>,
        /// Goroutines created since the process started, when /metrics was asked and says.
        created: Option<u64>,
    },
    /// A full dump.
    Dump {
        /// As served.
        body: Vec<u8>,
        /// Read and grouped.
        capture: Capture,
        /// `goroutineleak` or `goroutine`.
        profile: Profile,
        /// Why it was taken.
        reason: String,
        /// The goroutineleak profile answered 404: do not ask again.
        no_leak_profile: bool,
        /// A look for proof ([`JobKind::Proof`]), not evidence asked for by a trend.
        proof: bool,
    },
    /// The target serves no goroutineleak profile (before Go 1.26): it has no proof to give.
    NoLeakProfile,
    /// The request failed.
    Failed {
        /// What went wrong, with the hint.
        message: String,
        /// Nothing listened: the process is down (or the port is wrong).
        refused: bool,
        /// The count source stopped serving a count: probe the ladder again.
        reprobe: bool,
    },
}

/// Timeouts per kind of request.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// For a count.
    pub count: Duration,
    /// For a `debug=0` profile.
    pub profile: Duration,
    /// For a `debug=2` dump: 100k goroutines take the runtime over a second to write.
    pub dump: Duration,
}

/// Targets per HTTP client. ureq looks a connection up in its pool by a linear scan under a
/// lock, which is fine for a few hosts and took the whole of a core with one pool of
/// 1,000: each client keeps the idle connections of at most this many targets.
const TARGETS_PER_CLIENT: usize = 16;

/// Clients for `targets` targets; target `i` uses client `i % len`.
pub fn clients(targets: usize, options: &HttpOptions) -> Vec<Client> {
    let n = targets.div_ceil(TARGETS_PER_CLIENT).max(1);
    (0..n)
        .map(|_| {
            Client::new(HttpOptions {
                idle_connections: TARGETS_PER_CLIENT + 2,
                ..options.clone()
            })
        })
        .collect()
}

/// Starts `n` workers; they end when the job channel closes.
pub fn start(
    n: usize,
    clients: Vec<Client>,
    timeouts: Timeouts,
    jobs: Receiver<Job>,
    done: Sender<Done>,
) {
    let jobs = Arc::new(Mutex::new(jobs));
    let clients = Arc::new(clients);
    for i in 0..n {
        let (jobs, done, clients) = (Arc::clone(&jobs), done.clone(), Arc::clone(&clients));
        std::thread::Builder::new()
            .name(format!("watch-{i}"))
            .spawn(move || {
                loop {
                    // The lock is held only to take a job, never while fetching.
                    let job = match jobs.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let client = &clients[job.target % clients.len()];
                    if done.send(run(client, &timeouts, job)).is_err() {
                        return;
                    }
                }
            })
            .expect("spawn a watch worker");
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn run(client: &Client, timeouts: &Timeouts, job: Job) -> Done {
    let t0 = unix_now();
    let started = Instant::now();
    let mut http = Http {
        client,
        spent: Duration::ZERO,
    };
    let fetched = match &job.kind {
        JobKind::Count(source) => count(&mut http, timeouts, &job.base, *source),
        JobKind::Profile { start_time } => profile(&mut http, timeouts, &job.base, *start_time),
        JobKind::Dump { reason } => dump(&mut http, timeouts, &job.base, job.leak_profile, reason),
        JobKind::Proof => proof(&mut http, timeouts, &job.base),
    };
    Done {
        target: job.target,
        t: t0 + started.elapsed().as_secs_f64() / 2.0,
        cost: http.spent,
        fetched,
    }
}

/// The client, and the time its requests took: what they cost the target, without the
/// time this side spends reading the answers.
struct Http<'c> {
    client: &'c Client,
    spent: Duration,
}

impl Http<'_> {
    fn get(&mut self, url: &str, limits: Limits) -> Result<Vec<u8>, FetchError> {
        let started = Instant::now();
        let result = self.client.get_with(url, limits);
        self.spent += started.elapsed();
        result
    }
}

fn failed(error: FetchError) -> Fetched {
    Fetched::Failed {
        refused: matches!(error.kind, FetchErrorKind::Refused),
        message: error.to_string(),
        reprobe: false,
    }
}

/// Whether the target did not answer at all, as opposed to answering without a count.
fn unreachable(error: &FetchError) -> bool {
    matches!(
        error.kind,
        FetchErrorKind::Refused
            | FetchErrorKind::HostNotFound
            | FetchErrorKind::Timeout(_)
            | FetchErrorKind::Other(_)
    )
}

fn count(
    http: &mut Http<'_>,
    timeouts: &Timeouts,
    base: &str,
    source: Option<CountSource>,
) -> Fetched {
    let mut get = |source: CountSource| {
        http.get(
            &source.url(base),
            Limits {
                timeout: Some(timeouts.count),
                html: source == CountSource::Index,
            },
        )
    };
    if let Some(source) = source {
        return match get(source) {
            Ok(body) => match source.read(&body) {
                Some(reading) => Fetched::Count { source, reading },
                None => Fetched::Failed {
                    message: format!(
                        "{} no longer carries a goroutine count; looking for another source",
                        source.url(base)
                    ),
                    refused: false,
                    reprobe: true,
                },
            },
            Err(e) if unreachable(&e) => failed(e),
            Err(e) => Fetched::Failed {
                message: e.to_string(),
                refused: false,
                reprobe: true,
            },
        };
    }
    for source in CountSource::LADDER {
        match get(source) {
            Ok(body) => {
                if let Some(reading) = source.read(&body) {
                    return Fetched::Count { source, reading };
                }
            }
            Err(e) if unreachable(&e) => return failed(e),
            // 404, an HTML page where text was expected: try the next rung.
            Err(_) => {}
        }
    }
    Fetched::NoCountSource
}

fn read(body: &[u8], url: &str) -> Result<Capture, String> {
    let capture = goleash_core::read(body, &ReadOptions::default(), None)
        .map_err(|e| format!("reading {url}: {e}"))?;
    if capture.snapshots.is_empty() {
        return Err(format!("{url} served no goroutine profile"));
    }
    Ok(capture)
}

fn profile(http: &mut Http<'_>, timeouts: &Timeouts, base: &str, start_time: bool) -> Fetched {
    let metrics = if start_time {
        let limits = Limits {
            timeout: Some(timeouts.count),
            html: false,
        };
        // Without it the profile still counts; a restart is then read from the counts.
        http.get(&CountSource::Metrics.url(base), limits)
            .ok()
            .and_then(|body| CountSource::Metrics.read(&body))
    } else {
        None
    };
    let start_time = metrics.and_then(|m| m.start_time);
    let created = metrics.and_then(|m| m.created);
    let url = collect::profile_url(base, "goroutine", 0);
    let limits = Limits {
        timeout: Some(timeouts.profile),
        html: false,
    };
    match http.get(&url, limits) {
        Ok(body) => match read(&body, &url) {
            Ok(capture) => Fetched::Profile {
                body,
                capture,
                start_time,
                created,
            },
            Err(message) => Fetched::Failed {
                message,
                refused: false,
                reprobe: false,
            },
        },
        Err(e) => failed(e),
    }
}

fn dump(
    http: &mut Http<'_>,
    timeouts: &Timeouts,
    base: &str,
    leak_profile: bool,
    reason: &str,
) -> Fetched {
    let limits = Limits {
        timeout: Some(timeouts.dump),
        html: false,
    };
    let finish = |body: Vec<u8>, url: &str, profile, no_leak_profile| match read(&body, url) {
        Ok(capture) => Fetched::Dump {
            body,
            capture,
            profile,
            reason: reason.to_string(),
            no_leak_profile,
            proof: false,
        },
        Err(message) => Fetched::Failed {
            message,
            refused: false,
            reprobe: false,
        },
    };
    let mut no_leak_profile = false;
    if leak_profile {
        let url = collect::profile_url(base, Profile::GoroutineLeak.name(), 2);
        match http.get(&url, limits) {
            Ok(body) => return finish(body, &url, Profile::GoroutineLeak, false),
            // Before Go 1.26 (or without its experiment) there is no such profile.
            Err(e) if matches!(e.kind, FetchErrorKind::Status(404)) => no_leak_profile = true,
            Err(e) => return failed(e),
        }
    }
    let url = collect::profile_url(base, Profile::Goroutine.name(), 2);
    match http.get(&url, limits) {
        Ok(body) => finish(body, &url, Profile::Goroutine, no_leak_profile),
        Err(e) => failed(e),
    }
}

/// Why a proof look is taken, as its dump records it when it is kept.
pub const PROOF_REASON: &str = "the runtime's proof: goroutines marked (leaked)";

fn proof(http: &mut Http<'_>, timeouts: &Timeouts, base: &str) -> Fetched {
    let url = collect::profile_url(base, Profile::GoroutineLeak.name(), 2);
    let limits = Limits {
        timeout: Some(timeouts.dump),
        html: false,
    };
    match http.get(&url, limits) {
        Ok(body) => match read(&body, &url) {
            Ok(capture) => Fetched::Dump {
                body,
                capture,
                profile: Profile::GoroutineLeak,
                reason: PROOF_REASON.to_string(),
                no_leak_profile: false,
                proof: true,
            },
            Err(message) => Fetched::Failed {
                message,
                refused: false,
                reprobe: false,
            },
        },
        Err(e) if matches!(e.kind, FetchErrorKind::Status(404)) => Fetched::NoLeakProfile,
        Err(e) => failed(e),
    }
}
