//! `watch --prometheus`: the counts of every series a selector matches come from Prometheus,
//! so the services are never polled for counts. Each series is a target named by its labels;
//! its profiles are fetched through the pprof template only once its trend makes it a
//! suspect.
//!
//! One evaluation is one instant query of the selector as a range vector
//! (`go_goroutines{…}[30s]`), which answers every sample scraped in that range with the time
//! it was scraped, and the same for `process_start_time_seconds`, which tells restarts apart.

use std::collections::HashMap;

use anyhow::Result;

use crate::prometheus::{ApiError, Labels, Prometheus};
use crate::scan::{self, stacks::Template};

/// Where a fleet's counts come from and where its profiles are.
pub struct FleetCounts {
    /// The server.
    pub prometheus: Prometheus,
    /// The series to watch, e.g. `go_goroutines{job="api"}`.
    pub selector: String,
    /// `process_start_time_seconds` of the same targets; None when the selector has no
    /// metric name to swap (restarts are then read from the counts).
    start_selector: Option<String>,
    /// Where a suspect's pprof endpoint is.
    pub template: Template,
}

/// One sample of a series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// When Prometheus scraped it, unix seconds.
    pub t: f64,
    /// The goroutine count.
    pub goroutines: u64,
    /// `process_start_time_seconds` scraped with it (or before it), when served.
    pub start_time: Option<f64>,
}

/// The samples of one series in an evaluation's range.
pub struct SeriesPoints {
    /// Its labels, `__name__` included.
    pub labels: Labels,
    /// In time order; values that are not counts are left out.
    pub points: Vec<Point>,
    /// The first value that is not a goroutine count, and when.
    pub not_a_count: Option<(f64, f64)>,
}

/// What one evaluation read.
pub struct Evaluation {
    /// Every series that has samples in the range.
    pub series: Vec<SeriesPoints>,
    /// Prometheus's warnings (the answer may be partial); and the start times, when their
    /// query failed.
    pub problems: Vec<String>,
}

impl FleetCounts {
    /// The series `selector` matches on `prometheus`, profiles through `template`. Refuses a
    /// selector that cannot be a goroutine count, as `scan` does.
    pub fn new(prometheus: Prometheus, selector: &str, template: Template) -> Result<FleetCounts> {
        scan::check_selector(&prometheus, selector)?;
        Ok(FleetCounts {
            start_selector: scan::start_time_selector(selector),
            prometheus,
            selector: selector.to_string(),
            template,
        })
    }

    /// The samples scraped in the `range_secs` before `at` (unix seconds). Fails only when
    /// the counts could not be read; start times that could not be read are a problem.
    pub fn evaluate(&self, at: f64, range_secs: f64) -> Result<Evaluation, ApiError> {
        let range = range_text(range_secs);
        let counts = self
            .prometheus
            .query(&format!("{}[{range}]", self.selector), at)?;
        let mut problems: Vec<String> = counts
            .warnings
            .into_iter()
            .map(|w| format!("Prometheus warns: {w}"))
            .collect();
        let mut starts: HashMap<Labels, Vec<(f64, f64)>> = HashMap::new();
        if let Some(selector) = &self.start_selector {
            match self.prometheus.query(&format!("{selector}[{range}]"), at) {
                Ok(answer) => {
                    for s in answer.series {
                        starts.insert(without_name(&s.labels), s.points);
                    }
                }
                Err(e) => problems.push(format!(
                    "process_start_time_seconds: {e}; restarts are read from the counts until it answers"
                )),
            }
        }
        let series = counts
            .series
            .into_iter()
            .map(|s| {
                let start_times = starts.get(&without_name(&s.labels));
                let mut not_a_count = None;
                let points = s
                    .points
                    .into_iter()
                    .filter_map(|(t, v)| {
                        if v.is_nan() {
                            return None;
                        }
                        if !(v.is_finite() && v >= 0.0 && v.fract() == 0.0) {
                            not_a_count.get_or_insert((t, v));
                            return None;
                        }
                        Some(Point {
                            t,
                            goroutines: v as u64,
                            start_time: start_times.and_then(|st| start_time_at(st, t)),
                        })
                    })
                    .collect();
                SeriesPoints {
                    labels: s.labels,
                    points,
                    not_a_count,
                }
            })
            .collect();
        Ok(Evaluation { series, problems })
    }

    /// Where the profiles of the series with `labels` are, or why there are none.
    pub fn pprof(&self, labels: &Labels) -> Result<String, String> {
        let template = &self.template;
        template.fill(labels).map_err(|missing| {
            format!(
                "the series has no {} label for --pprof {}",
                missing.join(", "),
                template.text()
            )
        })
    }
}

/// A series' name, as Prometheus writes it: `go_goroutines{instance="…",job="…"}`.
pub fn series_name(labels: &Labels) -> String {
    let name = labels.get("__name__").map_or("", String::as_str);
    let matchers: Vec<String> = labels
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{name}{{{}}}", matchers.join(","))
}

fn without_name(labels: &Labels) -> Labels {
    let mut labels = labels.clone();
    labels.remove("__name__");
    labels
}

/// The start time scraped at `t` or last before it: both series are scraped together.
fn start_time_at(starts: &[(f64, f64)], t: f64) -> Option<f64> {
    starts
        .iter()
        .take_while(|&&(at, _)| at <= t + 0.001)
        .last()
        .or_else(|| starts.first())
        .map(|&(_, v)| v)
        .filter(|v| v.is_finite())
}

/// A range in PromQL's notation, whole milliseconds.
fn range_text(secs: f64) -> String {
    format!("{}ms", (secs * 1000.0).ceil().max(1.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_is_named_as_prometheus_writes_it() {
        let labels: Labels = [
            ("__name__", "go_goroutines"),
            ("job", "api"),
            ("instance", "10.0.0.1:9090"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            series_name(&labels),
            r#"go_goroutines{instance="10.0.0.1:9090",job="api"}"#
        );
    }

    #[test]
    fn each_count_takes_the_start_time_scraped_with_it() {
        let starts = [(10.0, 100.0), (20.0, 100.0), (30.0, 125.0)];
        assert_eq!(start_time_at(&starts, 20.0), Some(100.0));
        assert_eq!(start_time_at(&starts, 29.9), Some(100.0));
        assert_eq!(start_time_at(&starts, 30.0), Some(125.0));
        // A count scraped before the first start time in the range: the nearest one.
        assert_eq!(start_time_at(&starts, 5.0), Some(100.0));
        assert_eq!(start_time_at(&[], 5.0), None);
    }

    #[test]
    fn ranges_are_whole_milliseconds() {
        assert_eq!(range_text(30.0), "30000ms");
        assert_eq!(range_text(2.0004), "2001ms");
    }
}
