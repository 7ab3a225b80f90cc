//! The Prometheus HTTP API, as far as goleash needs it: `/api/v1/series` to enumerate the
//! series a selector matches, `/api/v1/query_range` to read them over a range (`scan`), and
//! `/api/v1/query` for the samples scraped since the last look (`watch --prometheus`).
//!
//! Every failure becomes a message that says what went wrong on which side: Prometheus
//! down, slow, refusing the query (with its own explanation), or answering something that is
//! not its API.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::collect::{Client, FetchError, FetchErrorKind, Limits};

/// The label set of one series, `__name__` included.
pub type Labels = BTreeMap<String, String>;

/// Most points Prometheus returns for one series of one range query: it refuses more
/// ("exceeded maximum resolution of 11,000 points per timeseries").
pub const MAX_POINTS_PER_SERIES: usize = 11_000;

/// A Prometheus server, asked from as many threads as the caller likes.
pub struct Prometheus {
    base: String,
    client: Client,
    /// Nanoseconds spent waiting for answers, over every thread: Prometheus's share.
    waited: AtomicU64,
    /// Nanoseconds spent decoding them, over every thread: goleash's.
    decoded: AtomicU64,
}

/// Why a request to Prometheus failed.
#[derive(Debug)]
pub enum ApiError {
    /// The request did not get an answer (down, slow, unresolvable).
    Fetch(FetchError),
    /// Prometheus answered with an error of its own.
    Api {
        /// The HTTP status.
        status: u16,
        /// `bad_data`, `timeout`, `execution`, …
        error_type: String,
        /// Its explanation.
        message: String,
    },
    /// The answer is not the Prometheus API's JSON.
    Malformed {
        /// The URL asked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Fetch(e) => match e.kind {
                FetchErrorKind::Refused | FetchErrorKind::HostNotFound => write!(
                    f,
                    "cannot reach Prometheus at {}\n  hint: check --prometheus (Prometheus listens on port 9090 unless told otherwise) and that it is up",
                    e.url
                ),
                FetchErrorKind::Timeout(t) => write!(
                    f,
                    "Prometheus did not answer {} within {}s\n  hint: it may be overloaded; raise --timeout, or ask for less with a coarser --step, a shorter --range or a narrower --match",
                    e.url,
                    t.as_secs()
                ),
                _ => write!(f, "{e}"),
            },
            ApiError::Api {
                status,
                error_type,
                message,
            } => {
                write!(
                    f,
                    "Prometheus refused the query (HTTP {status}, {error_type}): {message}"
                )?;
                if error_type == "timeout" || message.contains("maximum resolution") {
                    write!(f, "\n  hint: ask for a coarser --step or a shorter --range")?;
                }
                Ok(())
            }
            ApiError::Malformed { url, reason } => write!(
                f,
                "{url} did not answer as the Prometheus API does: {reason}\n  hint: give the Prometheus server's base URL, e.g. http://prometheus:9090"
            ),
        }
    }
}

impl std::error::Error for ApiError {}

/// One series of a range query.
pub struct RangeSeries {
    /// Its labels.
    pub labels: Labels,
    /// `(unix seconds, value)`, in time order; `NaN` where Prometheus said so.
    pub points: Vec<(f64, f64)>,
}

/// What a range query returned.
pub struct RangeResult {
    /// Every series.
    pub series: Vec<RangeSeries>,
    /// Prometheus's warnings: the result may be partial.
    pub warnings: Vec<String>,
}

#[derive(Deserialize)]
struct Envelope<T> {
    status: String,
    data: Option<T>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

/// What a query returns. A range query answers a matrix; an instant query a vector (one
/// point per series, at the evaluation time) or, for a range-vector selector like
/// `go_goroutines[30s]`, a matrix of the samples as scraped, with their own times.
#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<AnswerSeries>,
}

/// A vector's series carries its one `value`, a matrix's its `values`.
#[derive(Deserialize)]
struct AnswerSeries {
    metric: Labels,
    value: Option<(f64, SampleValue)>,
    #[serde(default)]
    values: Vec<(f64, SampleValue)>,
}

/// A sample's value, which Prometheus writes as a string, parsed where it is read: a week
/// of a fleet is 100 M of them, and a `String` each would be 100 M allocations.
struct SampleValue(f64);

impl<'de> Deserialize<'de> for SampleValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = SampleValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sample value as a string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<SampleValue, E> {
                Ok(SampleValue(parse_value(text)))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl Prometheus {
    /// The server at `url` (`http://host:9090`, with or without a trailing slash).
    pub fn new(url: &str, client: Client) -> Prometheus {
        Prometheus {
            base: url.trim_end_matches('/').to_string(),
            client,
            waited: AtomicU64::new(0),
            decoded: AtomicU64::new(0),
        }
    }

    /// Time spent so far waiting for Prometheus (its query time and the transfer), and
    /// decoding its answers, each summed over the threads that asked.
    pub fn spent(&self) -> (Duration, Duration) {
        let read = |nanos: &AtomicU64| Duration::from_nanos(nanos.load(Ordering::Relaxed));
        (read(&self.waited), read(&self.decoded))
    }

    /// Its base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The label sets of the series `selector` matches between `start` and `end` (unix
    /// seconds).
    pub fn series(
        &self,
        selector: &str,
        start: f64,
        end: f64,
    ) -> Result<(Vec<Labels>, Vec<String>), ApiError> {
        let url = format!(
            "{}/api/v1/series?match[]={}&start={}&end={}",
            self.base,
            encode(selector),
            seconds(start),
            seconds(end)
        );
        let envelope: Envelope<Vec<Labels>> = self.get(&url)?;
        Ok((envelope.data.unwrap_or_default(), envelope.warnings))
    }

    /// The type a metric's targets declare (`gauge`, `counter`, …), when Prometheus
    /// knows it. Only a hint, so any failure is `None`.
    pub fn metric_type(&self, metric: &str) -> Option<String> {
        #[derive(Deserialize)]
        struct Metadata {
            #[serde(rename = "type")]
            kind: String,
        }
        let url = format!("{}/api/v1/metadata?metric={}", self.base, encode(metric));
        let envelope: Envelope<BTreeMap<String, Vec<Metadata>>> = self.get(&url).ok()?;
        let types = envelope.data?.remove(metric)?;
        types.into_iter().next().map(|m| m.kind)
    }

    /// `query` evaluated every `step` seconds from `start` to `end`, both included. The
    /// caller keeps `(end - start) / step` under [`MAX_POINTS_PER_SERIES`].
    pub fn query_range(
        &self,
        query: &str,
        start: f64,
        end: f64,
        step: f64,
    ) -> Result<RangeResult, ApiError> {
        let url = format!(
            "{}/api/v1/query_range?query={}&start={}&end={}&step={}",
            self.base,
            encode(query),
            seconds(start),
            seconds(end),
            seconds(step)
        );
        self.answer(url, &["matrix"], "a range query returns a matrix")
    }

    /// `query` evaluated at `at` (unix seconds). A range-vector selector answers every
    /// sample in its range with the time it was scraped; anything else, one point per
    /// series at `at`.
    pub fn query(&self, query: &str, at: f64) -> Result<RangeResult, ApiError> {
        let url = format!(
            "{}/api/v1/query?query={}&time={}",
            self.base,
            encode(query),
            seconds(at)
        );
        self.answer(
            url,
            &["vector", "matrix"],
            "a selector returns a vector or a matrix",
        )
    }

    /// The series `url` answers, when its result is one of `types`; `expected` says what
    /// the query should have returned.
    fn answer(&self, url: String, types: &[&str], expected: &str) -> Result<RangeResult, ApiError> {
        let envelope: Envelope<Answer> = self.get(&url)?;
        let answer = envelope.data.ok_or_else(|| ApiError::Malformed {
            url: url.clone(),
            reason: "no data".into(),
        })?;
        if !types.contains(&answer.result_type.as_str()) {
            return Err(ApiError::Malformed {
                url,
                reason: format!("a {} where {expected}", answer.result_type),
            });
        }
        let series = answer
            .result
            .into_iter()
            .map(|s| RangeSeries {
                labels: s.metric,
                points: s
                    .value
                    .into_iter()
                    .chain(s.values)
                    .map(|(t, v)| (t, v.0))
                    .collect(),
            })
            .collect();
        Ok(RangeResult {
            series,
            warnings: envelope.warnings,
        })
    }

    fn get<T: for<'de> Deserialize<'de>>(&self, url: &str) -> Result<Envelope<T>, ApiError> {
        let asked = Instant::now();
        let answer = self.client.get_any_status(url, Limits::default());
        let answered = Instant::now();
        add(&self.waited, answered - asked);
        let (status, body) = answer.map_err(ApiError::Fetch)?;
        let decoded = serde_json::from_slice(&body);
        add(&self.decoded, answered.elapsed());
        let envelope: Envelope<T> = decoded.map_err(|e| {
            let reason = if status == 200 {
                format!("not its JSON ({e})")
            } else {
                format!("HTTP {status}: {}", snippet(&body))
            };
            ApiError::Malformed {
                url: url.to_string(),
                reason,
            }
        })?;
        if envelope.status != "success" {
            return Err(ApiError::Api {
                status,
                error_type: envelope
                    .error_type
                    .clone()
                    .unwrap_or_else(|| "error".into()),
                message: envelope.error.clone().unwrap_or_default(),
            });
        }
        Ok(envelope)
    }
}

fn add(nanos: &AtomicU64, spent: Duration) {
    nanos.fetch_add(
        u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
}

/// Prometheus writes sample values as strings: numbers, `NaN`, `+Inf`, `-Inf`.
fn parse_value(text: &str) -> f64 {
    match text {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => text.parse().unwrap_or(f64::NAN),
    }
}

/// Seconds with millisecond precision, which is what Prometheus keeps.
fn seconds(t: f64) -> String {
    format!("{:.3}", t)
}

/// The start of a body, for a message.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Percent-encodes a query parameter (RFC 3986 unreserved characters stay).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_are_encoded_for_a_query_string() {
        assert_eq!(
            encode(r#"go_goroutines{job="api",instance=~"a|b"}"#),
            "go_goroutines%7Bjob%3D%22api%22%2Cinstance%3D~%22a%7Cb%22%7D"
        );
    }

    #[test]
    fn values_as_prometheus_writes_them() {
        assert_eq!(parse_value("42"), 42.0);
        assert_eq!(parse_value("1.5e3"), 1500.0);
        assert_eq!(parse_value("+Inf"), f64::INFINITY);
        assert!(parse_value("NaN").is_nan());
        assert!(parse_value("garbage").is_nan());
    }
}
