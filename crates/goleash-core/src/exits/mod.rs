//! What a blocked goroutine's exit condition is, and whether it can still happen, read from
//! the Go source.
//!
//! From the innermost frame of the program's own code and what the goroutine blocks in,
//! the analysis finds the function (or function literal) it runs, the statement that
//! blocks, the loops around it, and every way out: each case of a `select`, each `return`
//! and `break` of the loop, the loop's condition, who closes or sends on the channel it
//! waits for, where its context comes from, the `Done` calls of a `WaitGroup`, who holds a
//! lock. Each way out is said in a sentence with whether it can still happen, judged from
//! the source and from the dump: a channel only a function that has returned could close
//! never will be.
//!
//! The core reads nothing itself: a [`SourceFiles`] gives it bytes, [`Sources`] parses each
//! file once with tree-sitter-go and keeps the trees.

mod after;
mod analysis;
mod duration;
mod names;
mod scope;
mod stop;
pub mod syntax;
mod values;

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

pub use analysis::{Analysis, analyse, started_in_loop};
pub use names::{Mismatch, without_type_args};
pub use stop::how_to_stop;
pub use syntax::{GoFile, NotGo};

/// Whether a way out can still happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Possibility {
    /// It will, or something alive is there to make it happen.
    Yes,
    /// It cannot: nothing left can do it.
    No,
    /// The source does not say.
    Unknown,
}

impl Possibility {
    /// Both must happen.
    pub fn and(self, other: Possibility) -> Possibility {
        match (self, other) {
            (Possibility::No, _) | (_, Possibility::No) => Possibility::No,
            (Possibility::Yes, Possibility::Yes) => Possibility::Yes,
            _ => Possibility::Unknown,
        }
    }

    /// Either is enough.
    pub fn or(self, other: Possibility) -> Possibility {
        match (self, other) {
            (Possibility::Yes, _) | (_, Possibility::Yes) => Possibility::Yes,
            (Possibility::No, Possibility::No) => Possibility::No,
            _ => Possibility::Unknown,
        }
    }

    /// The name used in JSON and text: `true`, `false`, `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            Possibility::Yes => "true",
            Possibility::No => "false",
            Possibility::Unknown => "unknown",
        }
    }
}

/// What kind of way out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExitKind {
    /// A context's `Done()`: its cancellation (or its deadline).
    Cancel,
    /// A channel closed to say stop (`done`, `quit`, a `chan struct{}`).
    DoneChannel,
    /// A one-shot timer: `time.After(d)`, a `time.Timer`'s channel.
    Timer,
    /// A ticker: `time.Tick(d)`, a `time.Ticker`'s channel. It fires forever, and its
    /// channel is never closed.
    Ticker,
    /// Another channel: a value sent or received, or the channel closed.
    Channel,
    /// A `select`'s `default`.
    Default,
    /// A `return` out of the loop.
    Return,
    /// A `break` (or `goto`) out of the loop.
    Break,
    /// The loop's condition.
    LoopCondition,
    /// `for range ch`: the channel closed.
    Close,
    /// `time.Sleep` returning.
    Sleep,
    /// `sync.WaitGroup.Wait`: its counter reaching zero.
    WaitGroup,
    /// A lock: its holder unlocking.
    Unlock,
    /// `sync.Cond.Wait`: a `Signal` or `Broadcast`.
    Signal,
    /// A channel registered with `signal.Notify`: an OS signal arriving. Waiting for one
    /// is long-lived by design.
    OsSignal,
}

impl ExitKind {
    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            ExitKind::Cancel => "cancel",
            ExitKind::DoneChannel => "done_channel",
            ExitKind::Timer => "timer",
            ExitKind::Ticker => "ticker",
            ExitKind::Channel => "channel",
            ExitKind::Default => "default",
            ExitKind::Return => "return",
            ExitKind::Break => "break",
            ExitKind::LoopCondition => "loop_condition",
            ExitKind::Close => "close",
            ExitKind::Sleep => "sleep",
            ExitKind::WaitGroup => "wait_group",
            ExitKind::Unlock => "unlock",
            ExitKind::Signal => "signal",
            ExitKind::OsSignal => "os_signal",
        }
    }
}

/// A deadline a way out has: it happens by itself when the time comes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Deadline {
    /// How long it waits in all, in seconds.
    pub after_secs: f64,
    /// What is left of it for the group's longest waiter, by the dump's `N minutes`.
    pub left_secs: Option<f64>,
}

/// One way out of a blocked goroutine, and whether it can still happen.
#[derive(Clone, Debug, PartialEq)]
pub struct ExitCondition {
    /// What it is.
    pub kind: ExitKind,
    /// The file it is in, as the dump names it.
    pub file: String,
    /// Its line there.
    pub line: u32,
    /// The code: `<-ctx.Done()`, `time.After(2 * time.Hour)`, `return`.
    pub code: String,
    /// Whether it can still happen.
    pub can_happen: Possibility,
    /// Why, in a sentence.
    pub why: String,
    /// When it happens by itself (timers, sleeps, context deadlines).
    pub deadline: Option<Deadline>,
    /// Where in the code a goroutine would have to be to end the wait: the holders of a
    /// lock, who sends, receives or closes a channel, who calls `Done`. A dump of every
    /// goroutine says which goroutines are there.
    pub peers: Vec<Peer>,
}

/// A place in the code from which a goroutine can end another's wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// What a goroutine there does to the value waited for.
    pub role: PeerRole,
    /// The function, as tracebacks name it.
    pub function: String,
    /// Its file's name, without the directory.
    pub file: String,
    /// The line of the use (for [`PeerRole::Holds`], of the `Lock`).
    pub line: u32,
    /// For [`PeerRole::Holds`]: the line of the `Unlock` that ends the hold, when it is
    /// not deferred (a deferred one holds until the function returns).
    pub until: Option<u32>,
    /// The code of the use.
    pub code: String,
}

/// What a goroutine at a [`Peer`] does to the value another goroutine waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeerRole {
    /// Locks the lock: a goroutine past the `Lock` and not yet at its `Unlock` holds it.
    Holds,
    /// Unlocks a lock it did not lock here.
    Unlocks,
    /// Sends on the channel.
    Sends,
    /// Receives from the channel.
    Receives,
    /// Closes the channel.
    Closes,
    /// Calls the `WaitGroup`'s `Done`.
    Done,
}

impl PeerRole {
    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            PeerRole::Holds => "holds",
            PeerRole::Unlocks => "unlocks",
            PeerRole::Sends => "sends",
            PeerRole::Receives => "receives",
            PeerRole::Closes => "closes",
            PeerRole::Done => "done",
        }
    }
}

/// What blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Statement {
    /// `select { … }` with this many cases (`default` included).
    Select {
        /// Cases in all.
        cases: usize,
    },
    /// `ch <- v`.
    Send,
    /// `<-ch`, or `for range ch` (`range`).
    Receive {
        /// It is the `range` of a `for` loop.
        range: bool,
    },
    /// `time.Sleep(d)`.
    Sleep,
    /// `wg.Wait()`, `cond.Wait()`.
    Wait,
    /// `mu.Lock()`, `mu.RLock()`.
    Lock,
    /// A call that blocks further down, or nothing the analysis knows.
    Other,
}

/// What the source says about where a group waits.
#[derive(Clone, Debug, PartialEq)]
pub struct Exits {
    /// The line of code the goroutines wait on, trimmed.
    pub text: String,
    /// What blocks there.
    pub statement: Statement,
    /// The blocking statement is in a loop of its function.
    pub in_loop: bool,
    /// Every way out, in source order.
    pub conditions: Vec<ExitCondition>,
}

impl Exits {
    /// Whether any way out can still happen.
    pub fn way_out(&self) -> Possibility {
        self.conditions
            .iter()
            .fold(Possibility::No, |p, c| p.or(c.can_happen))
    }

    /// Whether one of the ways out is of `kind`, whatever its chances.
    pub fn has(&self, kind: ExitKind) -> bool {
        self.conditions.iter().any(|c| c.kind == kind)
    }

    /// The ways out that can happen, or whose chances are not known.
    pub fn open(&self) -> impl Iterator<Item = &ExitCondition> {
        self.conditions
            .iter()
            .filter(|c| c.can_happen != Possibility::No)
    }
}

/// The outcome of reading a frame's source.
#[derive(Clone, Debug)]
pub enum Lookup {
    /// No file for it here.
    Missing,
    /// The file, and its line is in the frame's function.
    Found(Rc<GoFile>),
    /// A file is there, but it is not what the binary was built from.
    Mismatch(String),
}

/// Go source for the analysis.
pub trait SourceLookup {
    /// The file a dump names `file`, when its line `line` is code of `function` (as a
    /// traceback names it).
    fn frame_file(&self, file: &str, function: &str, line: u32) -> Lookup;
    /// The Go files of the package `file` is in (`file` included), for questions about the
    /// whole package: who closes this channel.
    fn package(&self, file: &GoFile) -> Rc<[Rc<GoFile>]>;
}

/// No source.
pub struct NoSource;

impl SourceLookup for NoSource {
    fn frame_file(&self, _file: &str, _function: &str, _line: u32) -> Lookup {
        Lookup::Missing
    }

    fn package(&self, _file: &GoFile) -> Rc<[Rc<GoFile>]> {
        Rc::from([])
    }
}

/// Where Go files come from: whoever has a file system implements it.
pub trait SourceFiles {
    /// The files here that may be the one a dump names `file`, most likely first.
    fn candidates(&self, file: &str) -> Vec<PathBuf>;
    /// At most `limit` bytes of a file (more when it is larger: the caller checks).
    fn read(&self, path: &Path, limit: u64) -> Result<Vec<u8>, String>;
    /// The `.go` files of the directory `path` is in, `path` included.
    fn directory(&self, path: &Path) -> Vec<PathBuf>;
}

/// Go files larger than this are not parsed: no hand-written Go file is that large.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Package-wide questions look at packages up to this many files.
const MAX_PACKAGE_FILES: usize = 200;

/// Parsed Go files from a [`SourceFiles`], each read and parsed once, and the warnings about
/// the ones that could not be.
pub struct Sources<F> {
    files: F,
    parsed: RefCell<HashMap<PathBuf, Option<Rc<GoFile>>>>,
    packages: RefCell<HashMap<PathBuf, Rc<[Rc<GoFile>]>>>,
    warnings: RefCell<Vec<String>>,
}

impl<F: SourceFiles> Sources<F> {
    /// Sources read through `files`.
    pub fn new(files: F) -> Self {
        Sources {
            files,
            parsed: RefCell::default(),
            packages: RefCell::default(),
            warnings: RefCell::default(),
        }
    }

    /// The file system behind it.
    pub fn files(&self) -> &F {
        &self.files
    }

    /// The warnings so far, taken: files too large, unreadable, or not Go.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut self.warnings.borrow_mut())
    }

    fn parsed(&self, path: &Path) -> Option<Rc<GoFile>> {
        if let Some(found) = self.parsed.borrow().get(path) {
            return found.clone();
        }
        let shown = path.display().to_string();
        let file = match self.files.read(path, MAX_FILE_BYTES) {
            Ok(bytes) if bytes.len() as u64 > MAX_FILE_BYTES => {
                self.warn(format!(
                    "{shown}: larger than {} MiB, not read",
                    MAX_FILE_BYTES >> 20
                ));
                None
            }
            Ok(bytes) => match GoFile::parse(&shown, bytes) {
                Ok(file) => Some(Rc::new(file)),
                Err(e) => {
                    self.warn(format!("{shown}: {e}; its exit conditions are not read"));
                    None
                }
            },
            Err(e) => {
                self.warn(format!("{shown}: {e}"));
                None
            }
        };
        self.parsed
            .borrow_mut()
            .insert(path.to_path_buf(), file.clone());
        file
    }

    fn warn(&self, message: String) {
        self.warnings.borrow_mut().push(message);
    }
}

impl<F: SourceFiles> SourceLookup for Sources<F> {
    fn frame_file(&self, file: &str, function: &str, line: u32) -> Lookup {
        if !file.ends_with(".go") || line == 0 {
            return Lookup::Missing;
        }
        let mut mismatch = None;
        for candidate in self.files.candidates(file) {
            let Some(parsed) = self.parsed(&candidate) else {
                continue;
            };
            match names::find(&parsed, function, line) {
                Ok(_) => return Lookup::Found(parsed),
                Err(Mismatch(why)) => {
                    mismatch.get_or_insert(why);
                }
            }
        }
        match mismatch {
            Some(why) => Lookup::Mismatch(why),
            None => Lookup::Missing,
        }
    }

    fn package(&self, file: &GoFile) -> Rc<[Rc<GoFile>]> {
        let path = Path::new(&file.path);
        let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
        if let Some(found) = self.packages.borrow().get(&dir) {
            return found.clone();
        }
        let mut paths = self.files.directory(path);
        paths.sort();
        let package = file.package_name().to_string();
        let files: Rc<[Rc<GoFile>]> = if paths.len() > MAX_PACKAGE_FILES {
            self.warn(format!(
                "{}: more than {MAX_PACKAGE_FILES} Go files; questions about the whole package are not answered",
                dir.display()
            ));
            Rc::from([])
        } else {
            paths
                .iter()
                .filter_map(|p| self.parsed(p))
                // Tests of the package (`package p_test`) and other packages' files (build
                // tags aside) are not the package.
                .filter(|f| f.package_name() == package)
                .collect()
        };
        self.packages.borrow_mut().insert(dir, files.clone());
        files
    }
}

/// What one analysis holds for as long as it runs: parsed trees it borrows nodes from,
/// names its places borrow. Slots are filled once and never emptied, so a reference to a
/// held value lives as long as the holder does.
struct Held<T> {
    slots: Vec<OnceCell<T>>,
    next: std::cell::Cell<usize>,
}

impl<T> Held<T> {
    fn new(slots: usize) -> Held<T> {
        Held {
            slots: (0..slots).map(|_| OnceCell::new()).collect(),
            next: std::cell::Cell::new(0),
        }
    }

    /// Keeps `value`; `None` when there is no room left.
    fn hold(&self, value: T) -> Option<&T> {
        let slot = self.next.get();
        let cell = self.slots.get(slot)?;
        self.next.set(slot + 1);
        Some(cell.get_or_init(|| value))
    }

    /// The held value `find` picks, if any.
    fn find(&self, find: impl Fn(&T) -> bool) -> Option<&T> {
        self.slots[..self.next.get()]
            .iter()
            .filter_map(OnceCell::get)
            .find(|v| find(v))
    }
}

/// Files in memory, by path: sources for tests.
#[cfg(test)]
pub(crate) struct Memory(pub Vec<(&'static str, String)>);

#[cfg(test)]
impl SourceFiles for Memory {
    fn candidates(&self, file: &str) -> Vec<PathBuf> {
        self.0
            .iter()
            .filter(|(p, _)| *p == file)
            .map(|(p, _)| PathBuf::from(p))
            .collect()
    }

    fn read(&self, path: &Path, _limit: u64) -> Result<Vec<u8>, String> {
        self.0
            .iter()
            .find(|(p, _)| Path::new(p) == path)
            .map(|(_, text)| text.as_bytes().to_vec())
            .ok_or_else(|| "not found".to_string())
    }

    fn directory(&self, path: &Path) -> Vec<PathBuf> {
        self.0
            .iter()
            .map(|(p, _)| PathBuf::from(p))
            .filter(|p| p.parent() == path.parent())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn files_are_parsed_once_and_bad_ones_warned_about() {
        let sources = Sources::new(Memory(vec![
            ("/src/a.go", "package a\n\nfunc f() {\n\tg()\n}\n".into()),
            ("/src/b.go", "package a\n\nfunc g() {}\n".into()),
            ("/src/c_test.go", "package a_test\n".into()),
            ("/src/bad.go", "package a\nfunc (".into()),
        ]));
        let Lookup::Found(a) = sources.frame_file("/src/a.go", "a.f", 4) else {
            panic!("a.go is readable")
        };
        let Lookup::Found(again) = sources.frame_file("/src/a.go", "a.f", 4) else {
            panic!("a.go is readable")
        };
        assert!(Rc::ptr_eq(&a, &again), "parsed once");
        assert!(matches!(
            sources.frame_file("/src/a.go", "a.g", 4),
            Lookup::Mismatch(_)
        ));
        assert!(matches!(
            sources.frame_file("/elsewhere.go", "a.f", 4),
            Lookup::Missing
        ));
        let package: Vec<String> = sources.package(&a).iter().map(|f| f.path.clone()).collect();
        assert_eq!(package, ["/src/a.go", "/src/b.go"]);
        let warnings = sources.take_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("/src/bad.go: does not parse as Go"));
    }

    #[test]
    fn possibilities_combine() {
        use Possibility::*;
        assert_eq!(Yes.and(Unknown), Unknown);
        assert_eq!(No.and(Yes), No);
        assert_eq!(No.or(Unknown), Unknown);
        assert_eq!(No.or(Yes), Yes);
        assert_eq!(No.or(No), No);
    }
}
