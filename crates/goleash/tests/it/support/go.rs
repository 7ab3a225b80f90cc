//! Go toolchains (installed by `scripts/toolchains.sh`) and the fixture programs of
//! `fixtures/go`, built once per toolchain and test run.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The programs of `fixtures/go` that are built into binaries; the `go test` packages are
/// run from source instead (see [`Fixtures::go_test`]).
const PROGRAMS: &[&str] = &[
    "leakysvc",
    "crash/panicdump",
    "crash/deadlock",
    "crash/ancestors",
    "watch/watchsvc",
    "exits",
    "acceptsvc",
    "realworld",
    "relay",
];

/// How long any fixture process may take before it counts as hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

/// The sources of the fixture programs.
pub fn fixtures_dir() -> PathBuf {
    workspace().join("fixtures/go")
}

fn target_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target dir>/tmp`, wherever CARGO_TARGET_DIR puts it.
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target tmp dir has a parent")
        .to_path_buf()
}

/// A fresh path in the target's scratch directory.
pub fn scratch(name: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("it");
    std::fs::create_dir_all(&dir).expect("create the scratch dir");
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{}-{n}-{name}", std::process::id()))
}

fn toolchains_dir() -> PathBuf {
    match std::env::var_os("GOLEASH_TOOLCHAINS") {
        Some(dir) => PathBuf::from(dir),
        None => workspace().join(".toolchains"),
    }
}

/// One installed Go release.
pub struct Toolchain {
    /// The full version, `1.27.3`.
    pub version: String,
    /// The minor release: 27 for 1.27.3.
    pub minor: u32,
    go: PathBuf,
    root: PathBuf,
}

/// The toolchain of a Go release (`"1.27"`), the newest patch installed. Panics when it is
/// missing: a test that cannot run its Go program must fail, not pass without running.
pub fn toolchain(release: &str) -> &'static Toolchain {
    static CACHE: OnceLock<Mutex<HashMap<String, &'static Toolchain>>> = OnceLock::new();
    let mut cache = lock(CACHE.get_or_init(Default::default));
    cache
        .entry(release.to_string())
        .or_insert_with(|| Box::leak(Box::new(find_toolchain(release))))
}

fn find_toolchain(release: &str) -> Toolchain {
    let root = toolchains_dir();
    let minor: u32 = release
        .strip_prefix("1.")
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("a Go release looks like 1.27, not {release:?}"));
    let mut found: Vec<(u32, String)> = std::fs::read_dir(&root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = name.strip_prefix("go-")?.to_string();
            let patch = match version.strip_prefix(release)? {
                "" => 0,
                rest => rest.strip_prefix('.')?.parse().ok()?,
            };
            entry
                .path()
                .join("bin/go")
                .is_file()
                .then_some((patch, version))
        })
        .collect();
    found.sort();
    let Some((_, version)) = found.pop() else {
        panic!(
            "Go {release} is not installed: no {}/go-{release}.*/bin/go. Run scripts/toolchains.sh \
             (or point GOLEASH_TOOLCHAINS at the directory holding go-<version>/)",
            root.display()
        );
    };
    Toolchain {
        go: root.join(format!("go-{version}/bin/go")),
        version,
        minor,
        root,
    }
}

/// A finished process.
pub struct Run {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Run {
    /// The exit code, or 128 + the signal that ended the process, as a shell reports it.
    pub fn code(&self) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        self.status
            .code()
            .or_else(|| self.status.signal().map(|s| 128 + s))
            .expect("a process ends with a code or a signal")
    }
}

/// Runs a command to its end with its output in files (no pipe to fill up), or panics when
/// it takes longer than [`RUN_TIMEOUT`]. `merged` sends stderr to stdout, as `2>&1`.
pub fn run(command: &mut Command, merged: bool) -> Run {
    let out_path = scratch("stdout");
    let err_path = scratch("stderr");
    let out = std::fs::File::create(&out_path).expect("create the stdout file");
    let err = if merged {
        out.try_clone().expect("clone the stdout file")
    } else {
        std::fs::File::create(&err_path).expect("create the stderr file")
    };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let status = wait(&mut child, RUN_TIMEOUT)
        .unwrap_or_else(|| panic!("{command:?} did not finish within {RUN_TIMEOUT:?}"));
    let read = |p: &Path| std::fs::read(p).unwrap_or_default();
    let run = Run {
        status,
        stdout: read(&out_path),
        stderr: read(&err_path),
    };
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    run
}

/// Waits for a child, killing it if it outlives `timeout` (then `None`).
pub fn wait(child: &mut std::process::Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Toolchain {
    /// A `go` command that stays off the network and out of the user's own settings.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.go);
        command
            .env("GOTOOLCHAIN", "local")
            .env("GOPROXY", "off")
            .env("GOSUMDB", "off")
            .env("GOFLAGS", "-mod=mod")
            .env("GOENV", "off")
            .env("CGO_ENABLED", "0")
            .env_remove("GOROOT")
            .env_remove("GOEXPERIMENT")
            .env_remove("GODEBUG")
            .env_remove("GOTRACEBACK");
        for (var, default) in [("GOCACHE", "gocache"), ("GOPATH", "gopath")] {
            if std::env::var_os(var).is_none() {
                command.env(var, self.root.join(default));
            }
        }
        command
    }

    /// The fixture programs of this toolchain: prepared at most once per test run, and
    /// built only when a test runs one, not at all when a previous run built the same
    /// sources.
    pub fn fixtures(&'static self) -> &'static Fixtures {
        static CACHE: OnceLock<Mutex<HashMap<String, &'static Fixtures>>> = OnceLock::new();
        let mut cache = lock(CACHE.get_or_init(Default::default));
        cache
            .entry(self.version.clone())
            .or_insert_with(|| Box::leak(Box::new(Fixtures::prepare(self))))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A test that panicked while holding the lock leaves nothing half-done behind: the
    // stamp is written last, and a failed build writes no binaries.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The fixture programs of one toolchain, under `target/go-fixtures/<version>/`: the
/// sources in `src/` (with a go.mod for this toolchain) and one binary per program, built
/// the first time a test asks for one.
pub struct Fixtures {
    pub toolchain: &'static Toolchain,
    dir: PathBuf,
    built: OnceLock<()>,
}

impl Fixtures {
    /// Copies the sources unless the copy is current: a stamp holds the hash of the
    /// sources it was made from.
    fn prepare(toolchain: &'static Toolchain) -> Fixtures {
        let fixtures = Fixtures {
            toolchain,
            dir: target_dir().join("go-fixtures").join(&toolchain.version),
            built: OnceLock::new(),
        };
        let _lock = fixtures.lock();
        let stamp_path = fixtures.dir.join(".stamp");
        let stamp = sources_hash(toolchain);
        if std::fs::read_to_string(&stamp_path).ok().as_deref() == Some(stamp.as_str()) {
            return fixtures;
        }
        if fixtures.dir.exists() {
            std::fs::remove_dir_all(&fixtures.dir).expect("remove stale fixtures");
        }
        copy_tree(&fixtures_dir(), &fixtures.src());
        // A module declaring an older Go than the toolchain changes behaviour (Go 1.27 prints
        // labels in tracebacks only for `go 1.27` modules), and an older toolchain refuses a
        // newer one: each toolchain gets its own release here.
        let go_mod = fixtures.src().join("go.mod");
        let text = std::fs::read_to_string(&go_mod).expect("read fixtures/go/go.mod");
        let text: String = text
            .lines()
            .map(|line| match line.starts_with("go ") {
                true => format!("go 1.{}\n", toolchain.minor),
                false => format!("{line}\n"),
            })
            .collect();
        std::fs::write(&go_mod, text).expect("write go.mod");
        std::fs::write(&stamp_path, stamp).expect("write the stamp");
        fixtures
    }

    /// Another test process may prepare or build the same fixtures at the same time.
    fn lock(&self) -> std::fs::File {
        let base = self.dir.parent().expect("under go-fixtures");
        std::fs::create_dir_all(base).expect("create target/go-fixtures");
        let file = std::fs::File::create(base.join(format!("{}.lock", self.toolchain.version)))
            .expect("create the build lock");
        file.lock().expect("take the build lock");
        file
    }

    /// Builds every program of [`PROGRAMS`] in one `go build`, unless a previous run did.
    fn build(&self) {
        let _lock = self.lock();
        if PROGRAMS.iter().all(|p| self.binary_path(p).is_file()) {
            return;
        }
        let mut build = self.toolchain.command();
        build
            .current_dir(self.src())
            .arg("build")
            .arg("-o")
            .arg(format!("{}/", self.dir.display()))
            .args(PROGRAMS.iter().map(|p| format!("./{p}")));
        let result = run(&mut build, true);
        assert!(
            result.status.success(),
            "go {} build of the fixtures failed:\n{}",
            self.toolchain.version,
            String::from_utf8_lossy(&result.stdout)
        );
    }

    /// The sources the binaries were built from: the paths every traceback prints.
    pub fn src(&self) -> PathBuf {
        self.dir.join("src")
    }

    /// A directory for the raw captures of one test, emptied first. They stay after the
    /// run, so that a failure can be looked into.
    pub fn captures_dir(&self, test: &str) -> PathBuf {
        let dir = self.dir.join("captures").join(test);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the captures dir");
        dir
    }

    /// The binary of a program in [`PROGRAMS`] (`"crash/panicdump"`), built if need be.
    pub fn binary(&self, program: &str) -> PathBuf {
        self.built.get_or_init(|| self.build());
        self.binary_path(program)
    }

    fn binary_path(&self, program: &str) -> PathBuf {
        let name = program.rsplit('/').next().expect("a program has a name");
        self.dir.join(name)
    }

    /// Runs a fixture binary with extra environment; stdout and stderr are kept apart.
    pub fn run(&self, program: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = Command::new(self.binary(program));
        command
            .args(args)
            .env_remove("GOTRACEBACK")
            .env_remove("GODEBUG")
            .envs(env.iter().copied());
        run(&mut command, false)
    }

    /// Runs `go test <args> ./<package>` from the sources, output merged as a terminal
    /// shows it.
    pub fn go_test(&self, package: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = self.toolchain.command();
        command
            .current_dir(self.src())
            .arg("test")
            .args(args)
            .arg(format!("./{package}"))
            .envs(env.iter().copied());
        run(&mut command, true)
    }
}

/// A hash of everything a build depends on: the toolchain and every fixture source file.
fn sources_hash(toolchain: &Toolchain) -> String {
    let mut files = Vec::new();
    list_files(&fixtures_dir(), &mut files);
    files.sort();
    let mut hasher = std::hash::DefaultHasher::new();
    toolchain.version.hash(&mut hasher);
    PROGRAMS.hash(&mut hasher);
    for file in files {
        file.hash(&mut hasher);
        std::fs::read(&file)
            .expect("read a fixture source")
            .hash(&mut hasher);
    }
    format!("{:016x}", hasher.finish())
}

fn list_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("read a fixture dir")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            list_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a fixture dir");
    for entry in std::fs::read_dir(from)
        .expect("read a fixture dir")
        .flatten()
    {
        let (source, dest) = (entry.path(), to.join(entry.file_name()));
        if source.is_dir() {
            copy_tree(&source, &dest);
        } else {
            std::fs::copy(&source, &dest).expect("copy a fixture file");
        }
    }
}
