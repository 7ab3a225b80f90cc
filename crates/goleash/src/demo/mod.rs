//! `goleash demo`: simulated Go services on loopback, serving real goroutine stacks with
//! made-up counts: bursty healthy traffic and, optionally, one slow leak.
//!
//! The stacks come from `tests/data/go1.27/watchsvc/`, captured from the fixture service
//! `fixtures/go/watch/watchsvc` built with Go 1.27.3 (`fixtures/go/watch/capture.sh`):
//! a `debug=0` profile replayed with new sample values and a `goroutineleak?debug=2` dump
//! replayed with its records repeated. Which stack plays which part is read from the
//! capture itself: the stack the runtime proved leaked leaks, the stacks of the `/fanout`
//! handler come and go in bursts, the rest hold steady.

pub mod replay;
pub mod server;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use goleash_core::exits::{GoFile, Lookup, SourceFiles, SourceLookup, Sources};
use goleash_core::{ReadOptions, Signature};

use replay::{DumpTemplate, ProfileTemplate};

const PROFILE: &[u8] =
    include_bytes!("../../../../tests/data/go1.27/watchsvc/goroutine_debug0.pb.gz");
const DUMP: &str = include_str!("../../../../tests/data/go1.27/watchsvc/goroutineleak_debug2.txt");
/// The source of the captured service, so that leak sites show their line of code.
const SOURCE_PATH: &str = "goleashfixtures/watch/watchsvc/main.go";
const SOURCE: &[u8] = include_bytes!("../../../../fixtures/go/watch/watchsvc/main.go");

/// What a stack does in the simulation.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    /// Grows steadily: the goroutines the runtime proved leaked.
    Leak,
    /// Comes with each `/fanout` request of a burst and goes when it is served.
    Burst {
        /// Goroutines per request.
        per_request: u64,
    },
    /// Always this many.
    Steady(u64),
}

/// The captured stacks and their parts.
pub struct Corpus {
    profile: ProfileTemplate,
    dump: DumpTemplate,
    roles: HashMap<Signature, Role>,
}

impl Corpus {
    /// Reads the embedded capture.
    pub fn load() -> Result<Corpus> {
        let profile = ProfileTemplate::parse(PROFILE)?;
        let dump = DumpTemplate::parse(DUMP)?;
        let captured = goleash_core::read(DUMP.as_bytes(), &ReadOptions::default(), None)?;
        let snapshot = captured
            .snapshots
            .first()
            .context("the embedded dump is empty")?;
        let tables = &captured.tables;
        let mentions_fanout = |g: &goleash_core::Group| {
            tables
                .frames(g.stack)
                .iter()
                .chain(g.created_by.as_ref())
                .any(|&f| {
                    tables
                        .str(tables.get_frame(f).function)
                        .starts_with("main.fanout")
                })
        };
        let handler = |g: &goleash_core::Group| {
            tables
                .frames(g.stack)
                .iter()
                .any(|&f| tables.str(tables.get_frame(f).function) == "main.fanout")
        };
        let requests: u64 = snapshot
            .groups
            .iter()
            .filter(|g| handler(g))
            .map(|g| g.count)
            .sum::<u64>()
            .max(1);
        let mut counts: HashMap<Signature, u64> = HashMap::new();
        for g in &snapshot.groups {
            *counts.entry(g.signature).or_default() += g.count;
        }
        let profiled = goleash_core::read(PROFILE, &ReadOptions::default(), None)?;
        for g in profiled.snapshots.iter().flat_map(|s| &s.groups) {
            counts.insert(g.signature, g.count);
        }
        let mut roles = HashMap::new();
        for g in &snapshot.groups {
            let role = if g.leaked > 0 {
                Role::Leak
            } else if mentions_fanout(g) {
                Role::Burst {
                    per_request: (g.count as f64 / requests as f64).round().max(1.0) as u64,
                }
            } else {
                Role::Steady(counts[&g.signature])
            };
            roles.entry(g.signature).or_insert(role);
        }
        for signature in profile.signatures() {
            roles
                .entry(signature)
                .or_insert(Role::Steady(counts.get(&signature).copied().unwrap_or(1)));
        }
        Ok(Corpus {
            profile,
            dump,
            roles,
        })
    }
}

/// How one simulated service behaves.
#[derive(Clone, Copy, Debug)]
pub struct Behaviour {
    /// Goroutines leaked per second (0: healthy).
    pub leak_per_sec: f64,
    /// Seconds between the starts of two bursts.
    pub burst_period: f64,
    /// How long a burst lasts: the requests of a burst are served within it.
    pub burst_secs: f64,
    /// Requests of the smallest burst.
    pub burst_min: f64,
    /// Requests of the largest burst.
    pub burst_max: f64,
    /// Seconds over which bursts grow and shrink again.
    pub cycle_secs: f64,
    /// Shifts this service's bursts, so that many services do not burst together.
    pub offset_secs: f64,
}

/// One simulated service.
pub struct Sim {
    corpus: Arc<Corpus>,
    behaviour: Behaviour,
    started: Instant,
    started_unix: f64,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Sim {
    /// A service starting now.
    pub fn new(corpus: Arc<Corpus>, behaviour: Behaviour) -> Sim {
        Sim {
            corpus,
            behaviour,
            started: Instant::now(),
            started_unix: unix_now(),
        }
    }

    /// Goroutines per stack now.
    fn counts(&self) -> HashMap<Signature, u64> {
        let b = &self.behaviour;
        let t = self.started.elapsed().as_secs_f64();
        let shifted = t + b.offset_secs;
        let in_burst = shifted.rem_euclid(b.burst_period) < b.burst_secs;
        let swell = 0.5 + 0.5 * (std::f64::consts::TAU * shifted / b.cycle_secs).sin();
        let requests = if in_burst {
            (b.burst_min + (b.burst_max - b.burst_min) * swell).round() as u64
        } else {
            0
        };
        self.corpus
            .roles
            .iter()
            .map(|(&signature, &role)| {
                let count = match role {
                    Role::Leak => (b.leak_per_sec * t).floor() as u64,
                    Role::Burst { per_request } => requests * per_request,
                    Role::Steady(n) => n,
                };
                (signature, count)
            })
            .collect()
    }

    /// Answers one request for `target` (a path with its query).
    pub fn respond(&self, target: &str) -> (&'static str, &'static str, Vec<u8>) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let debug = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("debug="))
            .unwrap_or("0");
        let counts = self.counts();
        // What the runtime would count: the stacks of the profile (the dump also has the
        // goroutine writing it, and stacks debug=0 groups differently).
        let total: u64 = self
            .corpus
            .profile
            .signatures()
            .map(|s| counts.get(&s).copied().unwrap_or(0))
            .sum();
        const TEXT: &str = "text/plain; charset=utf-8";
        match (path, debug) {
            ("/metrics", _) => (
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                format!(
                    "# HELP go_goroutines Number of goroutines that currently exist.\n# TYPE go_goroutines gauge\ngo_goroutines {total}\n# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds {:.2}\n",
                    self.started_unix
                )
                .into_bytes(),
            ),
            ("/debug/pprof/", _) => (
                "200 OK",
                "text/html; charset=utf-8",
                format!(
                    "<html><body><table>\n<tr><td>{total}</td><td><a href='goroutine?debug=1'>goroutine</a></td></tr>\n</table></body></html>\n"
                )
                .into_bytes(),
            ),
            ("/debug/pprof/goroutine", "0") => (
                "200 OK",
                "application/octet-stream",
                self.corpus
                    .profile
                    .render(&counts, (unix_now() * 1e9) as u64),
            ),
            ("/debug/pprof/goroutine", "2") => {
                ("200 OK", TEXT, self.corpus.dump.render(&counts, false).into_bytes())
            }
            ("/debug/pprof/goroutineleak", "2") => {
                ("200 OK", TEXT, self.corpus.dump.render(&counts, true).into_bytes())
            }
            _ => ("404 Not Found", TEXT, b"404 page not found\n".to_vec()),
        }
    }
}

/// Starts one simulated service per behaviour on loopback; returns their base URLs.
pub fn start(corpus: &Arc<Corpus>, behaviours: &[Behaviour]) -> Result<Vec<String>> {
    let mut urls = Vec::with_capacity(behaviours.len());
    for &behaviour in behaviours {
        let listener = TcpListener::bind("127.0.0.1:0").context("cannot listen on loopback")?;
        let addr = listener.local_addr()?;
        server::serve(listener, Arc::new(Sim::new(Arc::clone(corpus), behaviour)));
        urls.push(format!("http://{addr}"));
    }
    Ok(urls)
}

/// The source of the captured service, built into goleash: its stacks name
/// `goleashfixtures/watch/watchsvc/main.go`, which is not on this machine.
pub struct EmbeddedSource(Sources<Embedded>);

impl EmbeddedSource {
    pub fn new() -> Self {
        EmbeddedSource(Sources::new(Embedded))
    }
}

impl Default for EmbeddedSource {
    fn default() -> Self {
        EmbeddedSource::new()
    }
}

/// The one embedded file.
pub struct Embedded;

impl SourceFiles for Embedded {
    fn candidates(&self, file: &str) -> Vec<std::path::PathBuf> {
        if file == SOURCE_PATH {
            vec![SOURCE_PATH.into()]
        } else {
            Vec::new()
        }
    }

    fn read(&self, _path: &std::path::Path, _limit: u64) -> Result<Vec<u8>, String> {
        Ok(SOURCE.to_vec())
    }

    fn directory(&self, path: &std::path::Path) -> Vec<std::path::PathBuf> {
        vec![path.to_path_buf()]
    }
}

impl SourceLookup for EmbeddedSource {
    fn frame_file(&self, file: &str, function: &str, line: u32) -> Lookup {
        self.0.frame_file(file, function, line)
    }

    fn package(&self, file: &GoFile) -> std::rc::Rc<[std::rc::Rc<GoFile>]> {
        self.0.package(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn behaviour(leak_per_sec: f64) -> Behaviour {
        Behaviour {
            leak_per_sec,
            burst_period: 2.0,
            burst_secs: 1.0,
            burst_min: 5.0,
            burst_max: 10.0,
            cycle_secs: 10.0,
            offset_secs: 0.0,
        }
    }

    #[test]
    fn the_capture_has_one_leaking_stack_and_bursty_ones() {
        let corpus = Corpus::load().unwrap();
        let roles: Vec<Role> = corpus.roles.values().copied().collect();
        assert_eq!(roles.iter().filter(|r| **r == Role::Leak).count(), 1);
        assert!(roles.contains(&Role::Burst { per_request: 4 }), "{roles:?}");
        assert!(roles.contains(&Role::Burst { per_request: 1 }), "{roles:?}");
    }

    #[test]
    fn the_metrics_and_the_profile_agree_and_the_leak_only_grows() {
        let corpus = Arc::new(Corpus::load().unwrap());
        let sim = Sim::new(Arc::clone(&corpus), behaviour(1000.0));
        let (_, _, metrics) = sim.respond("/metrics");
        let metrics = String::from_utf8(metrics).unwrap();
        let count: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("go_goroutines "))
            .unwrap()
            .parse()
            .unwrap();
        let (status, _, body) = sim.respond("/debug/pprof/goroutine?debug=0");
        assert_eq!(status, "200 OK");
        let profile = goleash_core::read(&body[..], &ReadOptions::default(), None).unwrap();
        // A few milliseconds passed between the two: at 1000 a second, a few more leaked.
        let total = profile.snapshots[0].total;
        assert!(
            total >= count && total < count + 100,
            "{count} then {total}"
        );
        assert_eq!(sim.respond("/nope").0, "404 Not Found");
    }

    #[test]
    fn the_embedded_source_is_the_capture_s_source() {
        let text = String::from_utf8_lossy(SOURCE);
        let line = text.lines().position(|l| l.contains("// LEAK:")).unwrap() as u32 + 1;
        let source = EmbeddedSource::new();
        let Lookup::Found(file) = source.frame_file(SOURCE_PATH, "main.search.func1", line) else {
            panic!("the leak site is in the embedded source")
        };
        let code = file.line(line).unwrap_or_default();
        assert!(code.contains("results <- backend(slow)"), "{code}");
        assert!(matches!(
            source.frame_file("elsewhere/main.go", "main.search.func1", line),
            Lookup::Missing
        ));
    }
}
