//! Where a target's goroutine count comes from, cheapest first.
//!
//! A count alone costs the service next to nothing where it serves one: Prometheus'
//! `go_goroutines` on `/metrics` (most Go services export it, with
//! `process_start_time_seconds`, which tells restarts apart), an expvar on `/debug/vars`,
//! or the table of the pprof index page (`runtime.NumGoroutine()` behind every
//! `net/http/pprof`). The per-stack counts need the `debug=0` goroutine profile, which walks
//! every goroutine's stack: about 1.7 ms of the service's CPU per thousand goroutines.

use crate::history::SampleSource;

/// A source of the goroutine count alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountSource {
    /// `go_goroutines` on `/metrics`.
    Metrics,
    /// A `goroutines` number on `/debug/vars`.
    Vars,
    /// The goroutine row of the `/debug/pprof/` index page.
    Index,
}

impl CountSource {
    /// The ladder, cheapest and most informative first.
    pub const LADDER: [CountSource; 3] =
        [CountSource::Metrics, CountSource::Vars, CountSource::Index];

    /// Its URL for a target whose pprof base is `base` (`http://host:port/debug/pprof`):
    /// `/metrics` and `/debug/vars` are served at the root of the same server.
    pub fn url(self, base: &str) -> String {
        let root = base.strip_suffix("/debug/pprof").unwrap_or(base);
        match self {
            CountSource::Metrics => format!("{root}/metrics"),
            CountSource::Vars => format!("{root}/debug/vars"),
            CountSource::Index => format!("{base}/"),
        }
    }

    /// Reads the count (and the process start time, where the source has it) from a body.
    pub fn read(self, body: &[u8]) -> Option<CountReading> {
        let text = std::str::from_utf8(body).ok()?;
        match self {
            CountSource::Metrics => read_metrics(text),
            CountSource::Vars => read_vars(text),
            CountSource::Index => read_index(text),
        }
    }
}

impl From<CountSource> for SampleSource {
    fn from(source: CountSource) -> SampleSource {
        match source {
            CountSource::Metrics => SampleSource::Metrics,
            CountSource::Vars => SampleSource::Vars,
            CountSource::Index => SampleSource::Index,
        }
    }
}

/// What a count source says.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CountReading {
    /// Goroutines.
    pub goroutines: u64,
    /// `process_start_time_seconds`: when the process started, unix seconds.
    pub start_time: Option<f64>,
    /// Goroutines created since the process started (Go 1.26+ runtime/metrics
    /// `/sched/goroutines-created:goroutines`, as client_golang exports it): with the live
    /// count, how many exited, which tells a busy service from one whose goroutines stay.
    pub created: Option<u64>,
}

/// The Prometheus text format: `name{labels} value [timestamp]`, comments start with `#`.
fn read_metrics(text: &str) -> Option<CountReading> {
    let mut goroutines = None;
    let mut start_time = None;
    let mut created = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let name_end = line
            .find(|c: char| c == '{' || c.is_whitespace())
            .unwrap_or(line.len());
        let (name, rest) = line.split_at(name_end);
        let rest = match rest.strip_prefix('{') {
            Some(labelled) => labelled.split_once('}').map_or("", |(_, r)| r),
            None => rest,
        };
        let Some(value) = rest
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        match name {
            "go_goroutines" if goroutines.is_none() && value.is_finite() && value >= 0.0 => {
                goroutines = Some(value as u64)
            }
            "process_start_time_seconds" if start_time.is_none() && value.is_finite() => {
                start_time = Some(value)
            }
            "go_sched_goroutines_created_goroutines_total"
                if created.is_none() && value.is_finite() && value >= 0.0 =>
            {
                created = Some(value as u64)
            }
            _ => {}
        }
    }
    Some(CountReading {
        goroutines: goroutines?,
        start_time,
        created,
    })
}

/// Names services publish the goroutine count under with expvar; the standard library
/// publishes none.
const VAR_NAMES: [&str; 3] = ["goroutines", "NumGoroutine", "num_goroutine"];

fn read_vars(text: &str) -> Option<CountReading> {
    let vars: serde_json::Value = serde_json::from_str(text).ok()?;
    let goroutines = VAR_NAMES.iter().find_map(|name| vars.get(name)?.as_u64())?;
    Some(CountReading {
        goroutines,
        start_time: None,
        created: None,
    })
}

/// `<tr><td>42</td><td><a href='goroutine?debug=1'>goroutine</a></td></tr>`, the same
/// from Go 1.21 to 1.27.
fn read_index(text: &str) -> Option<CountReading> {
    let line = text.lines().find(|l| l.contains(">goroutine</a>"))?;
    let count = line.split("<td>").nth(1)?.split("</td>").next()?;
    Some(CountReading {
        goroutines: count.trim().parse().ok()?,
        start_time: None,
        created: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_as_client_golang_writes_it() {
        let body = "# HELP go_goroutines Number of goroutines that currently exist.\n\
                    # TYPE go_goroutines gauge\n\
                    go_goroutines 1234\n\
                    go_goroutines_other 9\n\
                    process_start_time_seconds 1.73214561234e+09\n";
        let reading = CountSource::Metrics.read(body.as_bytes()).unwrap();
        assert_eq!(reading.goroutines, 1234);
        assert_eq!(reading.start_time, Some(1_732_145_612.34));
        let labelled = "go_goroutines{service=\"a\"} 7 1700000000000\n";
        assert_eq!(
            CountSource::Metrics.read(labelled.as_bytes()).unwrap(),
            CountReading {
                goroutines: 7,
                start_time: None,
                created: None,
            }
        );
        // Go 1.26+ through client_golang's runtime/metrics collector.
        let churn = "go_goroutines 40\n\
                     # TYPE go_sched_goroutines_created_goroutines_total counter\n\
                     go_sched_goroutines_created_goroutines_total 123456\n";
        assert_eq!(
            CountSource::Metrics.read(churn.as_bytes()).unwrap().created,
            Some(123_456)
        );
        assert_eq!(CountSource::Metrics.read(b"http_requests_total 3\n"), None);
    }

    #[test]
    fn expvar_only_when_the_service_publishes_a_count() {
        assert_eq!(
            CountSource::Vars
                .read(br#"{"cmdline": ["x"], "goroutines": 17, "memstats": {}}"#)
                .map(|r| r.goroutines),
            Some(17)
        );
        assert_eq!(CountSource::Vars.read(br#"{"cmdline": ["x"]}"#), None);
    }

    #[test]
    fn the_pprof_index_page_of_go_1_27() {
        let page = "<tr><td>0</td><td><a href='block?debug=1'>block</a></td></tr>\n\
                    <tr><td>25</td><td><a href='goroutine?debug=1'>goroutine</a></td></tr>\n\
                    <tr><td>0</td><td><a href='goroutineleak?debug=1'>goroutineleak</a></td></tr>\n";
        assert_eq!(
            CountSource::Index
                .read(page.as_bytes())
                .map(|r| r.goroutines),
            Some(25)
        );
    }

    #[test]
    fn urls_beside_the_pprof_base() {
        let base = "http://h:6060/debug/pprof";
        assert_eq!(CountSource::Metrics.url(base), "http://h:6060/metrics");
        assert_eq!(CountSource::Vars.url(base), "http://h:6060/debug/vars");
        assert_eq!(CountSource::Index.url(base), "http://h:6060/debug/pprof/");
    }
}
