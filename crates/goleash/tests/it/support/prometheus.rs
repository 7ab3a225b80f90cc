//! A real Prometheus (Debian's package, installed by scripts/packages.sh) on a free
//! loopback port with its own data directory, killed when the test lets go of it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::go::scratch;
use super::http;

/// How long Prometheus may take to load its blocks and answer.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Prometheus {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    dir: PathBuf,
}

/// The binary named `name` (`prometheus`, `promtool`), or a panic saying how to get it: a
/// test that cannot run must not pass.
pub fn binary(name: &str) -> PathBuf {
    let path = Path::new("/usr/bin").join(name);
    assert!(
        path.exists(),
        "no {} : `bash scripts/packages.sh` installs Debian's prometheus package (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("its address").port()
}

impl Prometheus {
    /// Prometheus scraping `targets` (`host:port`) as job `job` every `interval`, keeping its
    /// data in `data` (a fresh directory when None: give one to read backfilled blocks).
    pub fn start(job: &str, targets: &[&str], interval: &str, data: Option<&Path>) -> Prometheus {
        Prometheus::start_with_rules(job, targets, interval, data, None)
    }

    /// [`Prometheus::start`] evaluating the rule file `rules` every `interval`.
    pub fn start_with_rules(
        job: &str,
        targets: &[&str],
        interval: &str,
        data: Option<&Path>,
        rules: Option<&Path>,
    ) -> Prometheus {
        Prometheus::start_with_flags(job, targets, interval, data, rules, &[])
    }

    /// [`Prometheus::start_with_rules`] with more command-line flags.
    pub fn start_with_flags(
        job: &str,
        targets: &[&str],
        interval: &str,
        data: Option<&Path>,
        rules: Option<&Path>,
        flags: &[&str],
    ) -> Prometheus {
        let dir = scratch("prometheus");
        std::fs::create_dir_all(&dir).expect("create the Prometheus dir");
        let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let rule_files = rules.map_or(String::new(), |r| {
            format!("rule_files: ['{}']\n", r.display())
        });
        let config = format!(
            "global:\n  scrape_interval: {interval}\n  evaluation_interval: {interval}\n{rule_files}scrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: [{}]\n",
            list.join(", ")
        );
        std::fs::write(dir.join("prometheus.yml"), config).expect("write prometheus.yml");
        let data = data.map_or_else(|| dir.join("data"), Path::to_path_buf);
        let port = free_port();
        let child = Command::new(binary("prometheus"))
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg("--storage.tsdb.retention.time=3650d")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr")).expect("create the stderr file"))
            .spawn()
            .expect("start prometheus");
        let prometheus = Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        let addr = format!("127.0.0.1:{port}");
        while http::try_get(&addr, "/-/ready").is_none_or(|r| r.status != 200) {
            assert!(
                Instant::now() < deadline,
                "Prometheus did not become ready; its log:\n{}",
                prometheus.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        prometheus
    }

    /// What Prometheus logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }

    /// Waits until Prometheus holds `seconds` of samples of `targets` series.
    pub fn wait_for_history(&self, targets: usize, seconds: usize) {
        let deadline = Instant::now() + Duration::from_secs(seconds as u64 + 60);
        let addr = self.url.trim_start_matches("http://");
        let path = format!("/api/v1/query?query=count_over_time(go_goroutines%5B{seconds}s%5D)");
        loop {
            let body = http::get(addr, &path).text();
            let doc: serde_json::Value =
                serde_json::from_str(&body).expect("Prometheus answers JSON");
            let full = doc["data"]["result"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| {
                    r["value"][1]
                        .as_str()
                        .and_then(|v| v.parse::<f64>().ok())
                        .is_some_and(|n| n >= seconds as f64 - 3.0)
                })
                .count();
            if full >= targets {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus did not scrape {seconds}s of history: {body}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
