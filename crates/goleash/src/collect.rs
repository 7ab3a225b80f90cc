//! Fetching profiles from a live service's `/debug/pprof/*` endpoints.
//!
//! Every request has a connect timeout, a whole-request timeout and a cap on the body, and
//! every failure is turned into a message that says what to do about it.

use std::fmt;
use std::time::Duration;

/// Limits for one HTTP request.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Time to establish the connection.
    pub connect_timeout: Duration,
    /// Time for the whole request, body included. A debug=2 dump of 100k goroutines takes
    /// the target over a second to write.
    pub timeout: Duration,
    /// Largest body accepted: `runtime/pprof` caps debug=2 at 64 MiB, so twice that leaves
    /// room for SIGQUIT-sized text and still bounds memory.
    pub max_body: u64,
    /// Idle keep-alive connections kept, in all. A watch of many services keeps one per
    /// service, so that each sample costs the service a request, not a TCP handshake and a
    /// new connection goroutine.
    pub idle_connections: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            connect_timeout: Duration::from_secs(3),
            timeout: Duration::from_secs(60),
            max_body: 128 << 20,
            idle_connections: 10,
        }
    }
}

/// How one request differs from the client's defaults.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// Time for the whole request, instead of the client's.
    pub timeout: Option<Duration>,
    /// Accept an HTML page: the pprof index is one, and it carries the goroutine count.
    pub html: bool,
}

/// Why a fetch failed, with the hint a person needs.
#[derive(Debug)]
pub struct FetchError {
    /// The URL asked for.
    pub url: String,
    /// What went wrong.
    pub kind: FetchErrorKind,
}

/// The kinds of [`FetchError`].
#[derive(Debug)]
pub enum FetchErrorKind {
    /// Nothing listens at the address.
    Refused,
    /// The host name does not resolve.
    HostNotFound,
    /// No answer in time.
    Timeout(Duration),
    /// An HTTP error status.
    Status(u16),
    /// An HTML page where a profile was expected.
    Html,
    /// The body is larger than the cap.
    TooLarge(u64),
    /// Anything else.
    Other(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = &self.url;
        match &self.kind {
            FetchErrorKind::Refused => write!(
                f,
                "connection refused at {url}\n  hint: nothing listens there; check the port (net/http/pprof usually runs on its own port, e.g. 6060) and that the service is up"
            ),
            FetchErrorKind::HostNotFound => {
                write!(
                    f,
                    "cannot resolve the host of {url}\n  hint: check the host name"
                )
            }
            FetchErrorKind::Timeout(t) => write!(
                f,
                "no complete answer from {url} within {}s\n  hint: the service may be overloaded or the port may belong to something else; raise --timeout if it is just slow",
                t.as_secs()
            ),
            FetchErrorKind::Status(404) if url.contains("/debug/pprof/goroutineleak") => write!(
                f,
                "{url} answered 404\n  hint: the goroutineleak profile needs Go 1.27, or Go 1.26 built with GOEXPERIMENT=goroutineleakprofile"
            ),
            FetchErrorKind::Status(404) if url.contains("/debug/pprof") => write!(
                f,
                "{url} answered 404\n  hint: the service does not serve net/http/pprof there; add `import _ \"net/http/pprof\"` and serve http.DefaultServeMux, or give the right path"
            ),
            FetchErrorKind::Status(code) => write!(f, "{url} answered HTTP {code}"),
            FetchErrorKind::Html => write!(
                f,
                "{url} returned an HTML page, not a profile\n  hint: wrong path? goroutine profiles are at /debug/pprof/goroutine"
            ),
            FetchErrorKind::TooLarge(limit) => write!(
                f,
                "the response from {url} is larger than {} MiB; refusing to read more",
                limit >> 20
            ),
            FetchErrorKind::Other(message) => write!(f, "fetching {url} failed: {message}"),
        }
    }
}

impl std::error::Error for FetchError {}

/// A client for pprof endpoints.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    options: HttpOptions,
}

impl Client {
    /// A client with the given limits.
    pub fn new(options: HttpOptions) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(options.connect_timeout))
            .timeout_global(Some(options.timeout))
            // ureq's default buffers are 128 KiB each way per connection: 256 MB for the
            // idle connections of a watch of 1,000 services. GET requests and pprof
            // headers are small; bodies stream through.
            .input_buffer_size(32 << 10)
            .output_buffer_size(4 << 10)
            .max_idle_connections(options.idle_connections)
            .max_idle_connections_per_host(1.max(options.idle_connections.min(3)))
            .http_status_as_error(false)
            .user_agent(concat!("goleash/", env!("CARGO_PKG_VERSION")))
            .build();
        Client {
            agent: config.into(),
            options,
        }
    }

    /// Fetches a URL's body.
    pub fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.get_with(url, Limits::default())
    }

    /// Fetches a URL's body within `limits`.
    pub fn get_with(&self, url: &str, limits: Limits) -> Result<Vec<u8>, FetchError> {
        match self.get_any_status(url, limits)? {
            (200, body) => Ok(body),
            (status, _) => Err(FetchError {
                url: url.to_string(),
                kind: FetchErrorKind::Status(status),
            }),
        }
    }

    /// Fetches a URL's status and body, whatever the status: APIs such as Prometheus's
    /// explain their 4xx and 5xx answers in the body.
    pub fn get_any_status(&self, url: &str, limits: Limits) -> Result<(u16, Vec<u8>), FetchError> {
        let timeout = limits.timeout.unwrap_or(self.options.timeout);
        let fail = |kind| FetchError {
            url: url.to_string(),
            kind,
        };
        let mut response = self
            .agent
            .get(url)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .call()
            .map_err(|e| fail(self.classify(e, timeout)))?;
        let status = response.status().as_u16();
        let html = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
        let body = response
            .body_mut()
            .with_config()
            .limit(self.options.max_body)
            .read_to_vec()
            .map_err(|e| fail(self.classify(e, timeout)))?;
        let head = body.trim_ascii_start();
        let looks_html = head.len() >= 5 && head[..5].eq_ignore_ascii_case(b"<html")
            || head.len() >= 9 && head[..9].eq_ignore_ascii_case(b"<!doctype");
        if status == 200 && (html || looks_html) && !limits.html {
            return Err(fail(FetchErrorKind::Html));
        }
        Ok((status, body))
    }

    fn classify(&self, e: ureq::Error, timeout: Duration) -> FetchErrorKind {
        match e {
            ureq::Error::ConnectionFailed => FetchErrorKind::Refused,
            ureq::Error::HostNotFound => FetchErrorKind::HostNotFound,
            ureq::Error::Timeout(_) => FetchErrorKind::Timeout(timeout),
            ureq::Error::BodyExceedsLimit(limit) => FetchErrorKind::TooLarge(limit),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                FetchErrorKind::Refused
            }
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                FetchErrorKind::Timeout(timeout)
            }
            other => FetchErrorKind::Other(other.to_string()),
        }
    }
}

/// Whether a command-line argument names a URL rather than a file.
pub fn is_url(arg: &str) -> bool {
    arg.starts_with("http://") || arg.starts_with("https://")
}

/// The base of a service's pprof endpoints, from what a person typed: `http://host:6060`,
/// `http://host:6060/debug/pprof/`, or the full URL of one profile.
pub fn pprof_base(url: &str) -> String {
    let without_query = url.split('?').next().unwrap_or(url).trim_end_matches('/');
    if let Some(at) = without_query.find("/debug/pprof") {
        return without_query[..at + "/debug/pprof".len()].to_string();
    }
    format!("{without_query}/debug/pprof")
}

/// The URL of one profile of a service: `profile` is `goroutine` or `goroutineleak`.
/// A URL that already names a profile is used as it is.
pub fn profile_url(url: &str, profile: &str, debug: u8) -> String {
    let base = pprof_base(url);
    let path_after_base = url.split('?').next().unwrap_or(url).trim_end_matches('/');
    if path_after_base.len() > base.len() && url.contains("debug=") {
        return url.to_string();
    }
    format!("{base}/{profile}?debug={debug}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_people_type() {
        assert_eq!(
            pprof_base("http://127.0.0.1:6060"),
            "http://127.0.0.1:6060/debug/pprof"
        );
        assert_eq!(
            pprof_base("http://h:1/debug/pprof/"),
            "http://h:1/debug/pprof"
        );
        assert_eq!(
            pprof_base("http://h:1/debug/pprof/goroutine?debug=1"),
            "http://h:1/debug/pprof"
        );
        assert_eq!(
            profile_url("http://h:1", "goroutine", 2),
            "http://h:1/debug/pprof/goroutine?debug=2"
        );
        assert_eq!(
            profile_url("http://h:1/debug/pprof/goroutine?debug=1", "goroutine", 2),
            "http://h:1/debug/pprof/goroutine?debug=1"
        );
        assert_eq!(
            profile_url("http://h:1/admin/debug/pprof", "goroutineleak", 0),
            "http://h:1/admin/debug/pprof/goroutineleak?debug=0"
        );
        assert!(is_url("https://x"));
        assert!(!is_url("dump.txt"));
    }
}
