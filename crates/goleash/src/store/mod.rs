//! The history of `goleash watch`: an SQLite database with the samples, groups, dumps and
//! alerts of every target, read back by `goleash report` and by the next `watch`.
//!
//! One writer (the watch engine's thread), WAL journal and `synchronous=NORMAL`: a reader
//! (`report`) never blocks the writer, and each sample is one transaction, so a watch killed
//! at any moment, SIGKILL included, loses at most the sample it was writing and leaves a
//! database that opens and continues. (`NORMAL` can lose the last transactions on a power
//! cut, never consistency; a watch is not a ledger.) The schema evolves by plain SQL
//! migrations numbered by `PRAGMA user_version` ([`schema`]).
//!
//! The store owns its encoding: it takes and gives the domain types of [`crate::history`]
//! and spells them in typed columns ([`codes`]), never in the public JSON: even a session's
//! settings, kept as a JSON object, are the store's own object.

mod codes;
mod postgres;
mod queries;
mod read;
mod schema;
mod sql;
#[cfg(test)]
mod tests;
mod write;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use goleash_core::Signature;
use rusqlite::{Connection, OpenFlags};

use crate::history::{
    AlertRecord, DumpRecord, DumpRole, GroupMeta, Profile, SampleSource, Settings, VerdictUpdate,
};

/// The database a watch writes and a report reads: an SQLite file (the default), or a
/// PostgreSQL database (`--db postgres://…`) that several watches share.
pub enum Store {
    /// A file.
    Sqlite(Sqlite),
    /// A server.
    Postgres(Box<postgres::Postgres>),
}

/// An SQLite history file.
pub struct Sqlite {
    conn: Connection,
    path: PathBuf,
    /// Group ids by target and signature, for the rows committed so far.
    groups: HashMap<(i64, Signature), i64>,
    /// Held while a watch writes, so that two watches do not interleave one history.
    _lock: Option<File>,
}

/// A process of a target, as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessRow {
    /// Its id.
    pub id: i64,
    /// When its first sample was taken.
    pub seen: f64,
    /// `process_start_time_seconds`, when the target served it.
    pub start_time: Option<f64>,
    /// Why it was taken to be a new process.
    pub reason: String,
}

/// Which process a sample belongs to.
#[derive(Clone, Debug, PartialEq)]
pub enum ProcessRef {
    /// One already recorded.
    Known(i64),
    /// A new one, starting with this sample.
    New {
        /// Why it is taken to be new: `first`, `start time changed`, …
        reason: String,
        /// `process_start_time_seconds`, when served.
        start_time: Option<f64>,
    },
}

/// Everything one observation of a target adds, written in one transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleWrite<'a> {
    /// The target.
    pub target: i64,
    /// The watch session.
    pub session: i64,
    /// Its process.
    pub process: ProcessRef,
    /// When, in unix seconds.
    pub t: f64,
    /// The goroutine count.
    pub goroutines: u64,
    /// Where the count came from.
    pub source: SampleSource,
    /// How long the request took.
    pub cost_ms: Option<f64>,
    /// Groups seen for the first time.
    pub new_groups: &'a [GroupMeta],
    /// Goroutines per signature, for samples that have them.
    pub counts: &'a [(Signature, u64)],
    /// New verdicts.
    pub verdicts: &'a [VerdictUpdate],
    /// Bodies to keep.
    pub dumps: &'a [DumpRecord],
    /// Alerts raised.
    pub alerts: &'a [AlertRecord],
}

/// The ids a [`SampleWrite`] got.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    /// The sample.
    pub sample: i64,
    /// Its process (new or known).
    pub process: i64,
}

/// What a watch needs to continue the history of a target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resume {
    /// The latest process.
    pub process: Option<ProcessRow>,
    /// Its latest samples, oldest first: time and count.
    pub samples: Vec<(f64, u64)>,
    /// Its latest samples with per-group counts, oldest first: time.
    pub profile_times: Vec<f64>,
    /// Per signature, its counts at `profile_times` (0 where absent).
    pub group_counts: Vec<(Signature, Vec<u64>)>,
    /// Every group of the target ever recorded.
    pub groups: Vec<GroupRow>,
    /// Signatures (`None`: the total) already alerted on in the latest process.
    pub alerted: Vec<Option<Signature>>,
    /// When the last sample of the target was taken, in any process.
    pub last_t: Option<f64>,
}

/// A group as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupRow {
    /// Its id.
    pub id: i64,
    /// When first seen.
    pub first_seen: f64,
    /// The rest.
    pub meta: GroupMeta,
}

/// A target as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetRow {
    /// Its id.
    pub id: i64,
    /// The pprof base.
    pub url: String,
    /// When it was first watched.
    pub added: f64,
}

/// A sample as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleRow {
    /// Its id.
    pub id: i64,
    /// Its process.
    pub process: i64,
    /// When.
    pub t: f64,
    /// The count.
    pub goroutines: u64,
    /// Where the count came from.
    pub source: SampleSource,
}

/// A stored body's facts, without the body.
#[derive(Clone, Debug, PartialEq)]
pub struct DumpRow {
    /// Its id.
    pub id: i64,
    /// The process.
    pub process: i64,
    /// The sample it belongs to.
    pub sample: i64,
    /// When.
    pub t: f64,
    /// Which profile.
    pub profile: Profile,
    /// 0 or 2.
    pub debug: u8,
    /// Why it is kept.
    pub role: DumpRole,
    /// Why it was taken.
    pub reason: String,
    /// Uncompressed size.
    pub size: u64,
}

/// An alert as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRow {
    /// Its process.
    pub process: i64,
    /// When.
    pub t: f64,
    /// The rest.
    pub alert: AlertRecord,
}

/// A watch session as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionRow {
    /// Its id.
    pub id: i64,
    /// When it started.
    pub started: f64,
    /// When it stopped; `None` when it was killed or is running.
    pub stopped: Option<f64>,
    /// Its settings; `None` when the column holds none this release reads.
    pub settings: Option<Settings>,
    /// It was `goleash demo`.
    pub simulated: bool,
}

/// Every method of [`Store`] is its backend's.
macro_rules! dispatch {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            Store::Sqlite($store) => $call,
            Store::Postgres($store) => $call,
        }
    };
}

impl Store {
    /// Opens the history for a watch, creating it if need be: `db` is a file, or a
    /// `postgres://` URL.
    pub fn open_for_writing(db: &Path) -> Result<Store> {
        match db.to_str().filter(|d| postgres::is_url(d)) {
            Some(url) => Ok(Store::Postgres(Box::new(
                postgres::Postgres::open_for_writing(url)?,
            ))),
            None => Ok(Store::Sqlite(Sqlite::open_for_writing(db)?)),
        }
    }

    /// Opens an existing history to read it, while watches may be writing it.
    pub fn open_existing(db: &Path) -> Result<Store> {
        match db.to_str().filter(|d| postgres::is_url(d)) {
            Some(url) => Ok(Store::Postgres(Box::new(
                postgres::Postgres::open_existing(url)?,
            ))),
            None => Ok(Store::Sqlite(Sqlite::open_existing(db)?)),
        }
    }

    /// Where the history is (a PostgreSQL URL without its password).
    pub fn path(&self) -> &Path {
        match self {
            Store::Sqlite(s) => s.path(),
            Store::Postgres(p) => Path::new(p.shown()),
        }
    }

    /// Records the start of a watch session.
    pub fn begin_session(&mut self, t: f64, settings: &Settings, simulated: bool) -> Result<i64> {
        dispatch!(self, s => s.begin_session(t, settings, simulated))
    }

    /// Records the end of a session.
    pub fn end_session(&mut self, id: i64, t: f64) -> Result<()> {
        dispatch!(self, s => s.end_session(id, t))
    }

    /// The id of a target, added if new.
    pub fn target(&mut self, url: &str, t: f64) -> Result<i64> {
        dispatch!(self, s => s.target(url, t))
    }

    /// Writes one observation in one transaction.
    pub fn write(&mut self, w: &SampleWrite<'_>) -> Result<Written> {
        dispatch!(self, s => s.write(w))
    }

    /// Keeps `body` (a `debug=0` profile) as the target's latest profile.
    pub fn keep_latest(
        &mut self,
        target: i64,
        process: i64,
        sample: i64,
        t: f64,
        body: &[u8],
    ) -> Result<()> {
        dispatch!(self, s => s.keep_latest(target, process, sample, t, body))
    }

    /// What a watch needs to continue a target's history.
    pub fn resume(
        &mut self,
        target: i64,
        max_samples: usize,
        max_profiles: usize,
    ) -> Result<Resume> {
        dispatch!(self, s => s.resume(target, max_samples, max_profiles))
    }

    /// Every target, oldest first.
    pub fn targets(&self) -> Result<Vec<TargetRow>> {
        dispatch!(self, s => s.targets())
    }

    /// Every session, oldest first.
    pub fn sessions(&self) -> Result<Vec<SessionRow>> {
        dispatch!(self, s => s.sessions())
    }

    /// The processes of a target, oldest first.
    pub fn processes(&self, target: i64) -> Result<Vec<ProcessRow>> {
        dispatch!(self, s => s.processes(target))
    }

    /// The samples of a target, in time order.
    pub fn samples(&self, target: i64) -> Result<Vec<SampleRow>> {
        dispatch!(self, s => s.samples(target))
    }

    /// Every group of a target, by id.
    pub fn groups_of(&self, target: i64) -> Result<Vec<GroupRow>> {
        dispatch!(self, s => s.groups_of(target))
    }

    /// The per-group counts of a target: (sample id, group id, count).
    pub fn group_counts(&self, target: i64) -> Result<Vec<(i64, i64, u64)>> {
        dispatch!(self, s => s.group_counts(target))
    }

    /// The stored bodies of a target, without the bodies, in time order.
    pub fn dumps(&self, target: i64) -> Result<Vec<DumpRow>> {
        dispatch!(self, s => s.dumps(target))
    }

    /// One stored body, decompressed.
    pub fn dump_body(&self, id: i64) -> Result<Vec<u8>> {
        dispatch!(self, s => s.dump_body(id))
    }

    /// The alerts of a target, in time order.
    pub fn alerts(&self, target: i64) -> Result<Vec<AlertRow>> {
        dispatch!(self, s => s.alerts(target))
    }
}

impl Sqlite {
    /// Opens the database for a watch, creating it if need be, and takes the writer's lock:
    /// a second watch on the same file is refused while the first runs.
    pub fn open_for_writing(path: &Path) -> Result<Sqlite> {
        let lock_path = lock_path(path);
        let lock = File::create(&lock_path)
            .with_context(|| format!("cannot create {}", lock_path.display()))?;
        if lock.try_lock().is_err() {
            bail!(
                "another goleash watch is writing to {}\n  hint: give this one its own --db, or stop the other",
                path.display()
            );
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the history database {}", path.display()))?;
        let mut store = Sqlite::setup(conn, path)?;
        store._lock = Some(lock);
        Ok(store)
    }

    /// Opens an existing database to read it (a report), while a watch may be writing it.
    ///
    /// A reader never changes the history: an older schema is upgraded on a private copy,
    /// by the same migrations a watch runs in place (the next watch upgrades the file). A
    /// watch of an older goleash may still be writing it, and the file may be read-only.
    pub fn open_existing(path: &Path) -> Result<Sqlite> {
        if !path.exists() {
            bail!(
                "no history at {}\n  hint: `goleash watch --db {} URL` records one",
                path.display(),
                path.display()
            );
        }
        let not_ours = || format!("{} is not a goleash history database", path.display());
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("cannot open {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let version = schema::version(&conn).with_context(not_ours)?;
        schema::known(version, path)?;
        let conn = if version < schema::VERSION {
            // An empty name is a private temporary database: in memory while it is small,
            // spilled to a temporary file when a history with many dumps is not.
            let mut copy = Connection::open("")?;
            // Every page in one step, so one read transaction: the copy is one moment of
            // the history even while a watch writes it.
            rusqlite::backup::Backup::new(&conn, &mut copy)?
                .run_to_completion(i32::MAX, Duration::from_millis(10), None)
                .with_context(|| format!("cannot read {}", path.display()))?;
            schema::migrate(&mut copy, path)?;
            copy
        } else {
            conn
        };
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(Sqlite::new(conn, path))
    }

    fn setup(mut conn: Connection, path: &Path) -> Result<Sqlite> {
        let not_ours = || format!("{} is not a goleash history database", path.display());
        conn.busy_timeout(Duration::from_secs(10))?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .with_context(not_ours)?;
        if !mode.eq_ignore_ascii_case("wal") {
            bail!("{}: cannot switch to WAL mode (got {mode})", path.display());
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        schema::migrate(&mut conn, path)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(Sqlite::new(conn, path))
    }

    fn new(conn: Connection, path: &Path) -> Sqlite {
        Sqlite {
            conn,
            path: path.to_path_buf(),
            groups: HashMap::new(),
            _lock: None,
        }
    }

    /// Where the database is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}
