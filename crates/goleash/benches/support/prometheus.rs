//! A Prometheus server for the benches that read from one (kept apart from `support`, as
//! `cpu.rs` is, so that the benches that do not are not left with unused code).

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Prometheus on loopback over `dir/data`, stopped when dropped.
pub struct Prometheus {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Prometheus {
    /// Starts Debian's `prometheus` with `config` as its `dir/prometheus.yml` and `flags`
    /// after the usual ones, and waits until it is ready.
    pub fn start(dir: &Path, config: &str, flags: &[&str]) -> Prometheus {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(flags)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("start prometheus (bash scripts/packages.sh installs it)");
        let prometheus = Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(300);
        while !std::net::TcpStream::connect(("127.0.0.1", port)).is_ok_and(|mut s| {
            let _ = write!(s, "GET /-/ready HTTP/1.0\r\n\r\n");
            let mut answer = String::new();
            let _ = std::io::Read::read_to_string(&mut s, &mut answer);
            answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
        }) {
            assert!(Instant::now() < deadline, "Prometheus did not get ready");
            std::thread::sleep(Duration::from_millis(500));
        }
        prometheus
    }
}

impl Drop for Prometheus {
    /// Stops it as an operator would (SIGTERM, then waits), so that a history it wrote is
    /// whole when read again.
    fn drop(&mut self) {
        // SAFETY: signals our own child, which has not been waited on.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}
