//! `goleash watch --listen ADDR`: serves the watch's verdicts on `/metrics` for Prometheus
//! to scrape, so that its alerting rules and Alertmanager route goleash's verdicts.
//!
//! The metrics are kept from the watch's own events (a sink in front of the one that
//! prints them), so the scheduler is not touched; a thread of its own answers requests, one
//! at a time, each with a short timeout, so that a stuck scraper cannot hold it.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::doc::metrics::MetricsDoc;
use crate::doc::watch::{EventSink, LiveDoc, WatchEvent};
use crate::render::exposition;

/// Time a scraper has to send its request and read the answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest request head read: a GET with its headers.
const MAX_REQUEST: u64 = 16 << 10;

/// The sink that keeps the metrics, then hands every event on.
pub struct MetricsSink<'a> {
    metrics: Arc<Mutex<MetricsDoc>>,
    next: &'a mut dyn EventSink,
}

impl EventSink for MetricsSink<'_> {
    fn event(&mut self, event: &WatchEvent) -> io::Result<()> {
        self.metrics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .observe(event);
        self.next.event(event)
    }

    fn live_room(&self) -> Option<usize> {
        self.next.live_room()
    }

    fn refresh(&mut self, live: &LiveDoc) -> io::Result<()> {
        self.next.refresh(live)
    }
}

/// Listens on `addr` and serves `/metrics` from a thread; events given to the returned
/// sink, before `next`, keep them up to date. Returns the address bound (for port 0).
pub fn listen<'a>(addr: &str, next: &'a mut dyn EventSink) -> Result<(MetricsSink<'a>, String)> {
    let listener =
        TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr} for /metrics"))?;
    let bound = listener.local_addr()?.to_string();
    let metrics = Arc::new(Mutex::new(MetricsDoc::default()));
    let served = Arc::clone(&metrics);
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                // A scraper that hangs up or misbehaves costs only its own request.
                let _ = serve(stream, &served);
            }
        })?;
    Ok((MetricsSink { metrics, next }, bound))
}

fn serve(stream: TcpStream, metrics: &Mutex<MetricsDoc>) -> io::Result<()> {
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    let mut reader = BufReader::new(io::Read::take(stream.try_clone()?, MAX_REQUEST));
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // The headers are read and ignored: the answer is the same for every scraper.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 0 && line != "\r\n" && line != "\n" {
        line.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let mut body = Vec::new();
            let doc = metrics
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            exposition::write(&mut body, &doc)?;
            ("200 OK", exposition::CONTENT_TYPE, body)
        }
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            b"goleash serves /metrics only\n".to_vec(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            b"GET /metrics\n".to_vec(),
        ),
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if method != "HEAD" {
        out.write_all(&body)?;
    }
    out.flush()
}
