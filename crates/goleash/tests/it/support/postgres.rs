//! A real PostgreSQL server (Debian's package, installed by scripts/packages.sh): initdb in
//! a temporary directory, pg_ctl start on a free loopback port, stopped when the test lets
//! go of it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::go::scratch;
use super::prometheus::free_port;

pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    /// PostgreSQL refuses to run as root: the server runs as the `postgres` user then.
    user: Option<&'static str>,
}

/// The binaries of the newest PostgreSQL installed, or a panic saying how to get them.
fn bin_dir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop().expect(
        "no PostgreSQL under /usr/lib/postgresql/*/bin: `bash scripts/packages.sh` installs Debian's postgresql package (scripts/test.sh does)",
    )
}

impl Postgres {
    /// A fresh server with a database `history`, user `goleash`, trusted on loopback.
    pub fn start() -> Postgres {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let user = root.then_some("postgres");
        let dir = scratch("postgres");
        // The postgres user must reach its directory, and a checkout may sit in a directory
        // only root can enter (mktemp -d makes them so): /tmp is open to every user.
        let dir = match (user, dir.file_name()) {
            (Some(_), Some(name)) => std::env::temp_dir().join(name),
            _ => dir,
        };
        std::fs::create_dir_all(&dir).expect("create the PostgreSQL dir");
        if let Some(user) = user {
            let chown = Command::new("chown")
                .args([user, &dir.display().to_string()])
                .status()
                .expect("run chown");
            assert!(chown.success(), "cannot give {} to {user}", dir.display());
        }
        let server = Postgres {
            bin: bin_dir(),
            dir,
            port: free_port(),
            user,
        };
        let data = server.dir.join("data");
        server.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "goleash",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
        );
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            server.port,
            server.dir.display()
        );
        server.run(
            "pg_ctl",
            &[
                "-D",
                &data.display().to_string(),
                "-o",
                &options,
                "-l",
                &server.dir.join("log").display().to_string(),
                "-w",
                "start",
            ],
        );
        server.run(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &server.port.to_string(),
                "-U",
                "goleash",
                "history",
            ],
        );
        server
    }

    /// The `--db` URL of its database.
    pub fn url(&self) -> String {
        format!("postgres://goleash@127.0.0.1:{}/history", self.port)
    }

    /// Runs SQL with psql; its output, unaligned.
    pub fn sql(&self, sql: &str) -> String {
        let out = self.run(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "goleash",
                "-d",
                "history",
                "-At",
                "-c",
                sql,
            ],
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let binary = self.bin.join(program);
        let binary = if binary.exists() {
            binary
        } else {
            Path::new("/usr/bin").join(program)
        };
        let mut command = match self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&binary);
                c
            }
            None => Command::new(&binary),
        };
        let out = command
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.join("data").display().to_string();
        let binary = self.bin.join("pg_ctl");
        let mut command = match self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&binary);
                c
            }
            None => Command::new(&binary),
        };
        let _ = command
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
        // Nothing cleans /tmp after the tests, as cargo clean does their target directory.
        if self.dir.starts_with(std::env::temp_dir()) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
