//! A fixture service running in the background, killed when the test lets go of it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::go::{Run, scratch, wait};

/// How long a service may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Service {
    child: Child,
    /// `host:port` the service listens on.
    pub addr: String,
    stderr: PathBuf,
}

impl Service {
    /// Starts a service that prints its listening address as the first line of stdout, on
    /// an ephemeral loopback port so that tests can run side by side.
    pub fn start(binary: &Path, env: &[(&str, &str)]) -> Service {
        Service::start_with(binary, &[], env)
    }

    /// [`Service::start`] with more command-line arguments.
    pub fn start_with(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> Service {
        let stderr = scratch("service-stderr");
        let mut child = Command::new(binary)
            .args(["-addr", "127.0.0.1:0"])
            .args(args)
            .env_remove("GOTRACEBACK")
            .env_remove("GODEBUG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("create the stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (first_line, got_it) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = first_line.send(lines.next());
            // Keep draining, so that the service never blocks on a full pipe.
            for _ in lines {}
        });
        let mut service = Service {
            child,
            addr: String::new(),
            stderr,
        };
        service.addr = match got_it.recv_timeout(START_TIMEOUT) {
            Ok(Some(Ok(line))) => line.trim().to_string(),
            _ => panic!(
                "{} did not print its address; stderr:\n{}",
                binary.display(),
                String::from_utf8_lossy(&service.stderr())
            ),
        };
        service
    }

    /// What the service wrote to stderr so far.
    pub fn stderr(&self) -> Vec<u8> {
        std::fs::read(&self.stderr).unwrap_or_default()
    }

    /// Sends a signal (`"QUIT"`) and waits for the service to end.
    pub fn signal(self, signal: &str) -> Run {
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} failed");
        self.wait()
    }

    /// Waits for the service to end by itself.
    pub fn wait(mut self) -> Run {
        let status = wait(&mut self.child, Duration::from_secs(60))
            .unwrap_or_else(|| panic!("the service did not end"));
        Run {
            status,
            stdout: Vec::new(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stderr);
    }
}

/// A debug=2 dump of the service at `addr` once nothing in it is runnable: its long-lived
/// goroutines in their waits, not still starting (a loaded machine catches them so), as
/// a baseline must show them. The last dump taken after 5 s in any case.
pub fn idle_dump(addr: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for _ in 0..100 {
        body = crate::support::http::get(addr, "/debug/pprof/goroutine?debug=2").body;
        if !String::from_utf8_lossy(&body).contains("[runnable]") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    body
}
