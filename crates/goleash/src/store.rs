//! The history of `goleash watch`: an SQLite database with the samples, groups, dumps and
//! alerts of every target, read back by `goleash report` and by the next `watch`.
//!
//! One writer (the watch engine's thread), WAL journal and `synchronous=NORMAL`: a reader
//! (`report`) never blocks the writer, and each sample is one transaction, so a watch killed
//! at any moment, SIGKILL included, loses at most the sample it was writing and leaves a
//! database that opens and continues. (`NORMAL` can lose the last transactions on a power
//! cut, never consistency; a watch is not a ledger.) The schema evolves by plain SQL
//! migrations numbered by `PRAGMA user_version`.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use goleash_core::Signature;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

/// Each entry upgrades the schema by one version; never edit one that has shipped.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE targets (
    id          INTEGER PRIMARY KEY,
    url         TEXT NOT NULL UNIQUE,      -- the pprof base: http://host:port/debug/pprof
    added       REAL NOT NULL              -- unix seconds
);
CREATE TABLE sessions (
    id          INTEGER PRIMARY KEY,
    started     REAL NOT NULL,
    stopped     REAL,                      -- NULL: still running, or killed
    settings    TEXT NOT NULL,             -- JSON: interval and trend options
    simulated   INTEGER NOT NULL           -- 1 for `goleash demo`
);
CREATE TABLE processes (
    id          INTEGER PRIMARY KEY,
    target_id   INTEGER NOT NULL REFERENCES targets(id),
    seen        REAL NOT NULL,             -- its first sample
    start_time  REAL,                      -- process_start_time_seconds, when served
    reason      TEXT NOT NULL              -- why this is taken to be a new process
);
CREATE TABLE samples (
    id          INTEGER PRIMARY KEY,
    target_id   INTEGER NOT NULL REFERENCES targets(id),
    process_id  INTEGER NOT NULL REFERENCES processes(id),
    session_id  INTEGER NOT NULL REFERENCES sessions(id),
    t           REAL NOT NULL,
    goroutines  INTEGER NOT NULL,
    source      TEXT NOT NULL,             -- metrics, vars, index, profile, dump
    cost_ms     REAL                       -- how long the request took
);
CREATE INDEX samples_by_target ON samples(target_id, t);
CREATE TABLE groups (
    id          INTEGER PRIMARY KEY,
    target_id   INTEGER NOT NULL REFERENCES targets(id),
    signature   TEXT NOT NULL,
    first_seen  REAL NOT NULL,
    blocking    TEXT NOT NULL,
    site        TEXT,                      -- JSON {function, file, line, source?}
    frames      TEXT NOT NULL,             -- JSON [{function, file, line, ...}], innermost first
    created_by  TEXT,                      -- JSON {function, file, line, goroutine}
    verdict     TEXT NOT NULL,             -- the latest assessment
    why         TEXT NOT NULL,
    pattern     TEXT,
    hint        TEXT,
    UNIQUE (target_id, signature)
);
CREATE TABLE group_counts (
    sample_id   INTEGER NOT NULL REFERENCES samples(id),
    group_id    INTEGER NOT NULL REFERENCES groups(id),
    count       INTEGER NOT NULL,
    PRIMARY KEY (sample_id, group_id)
) WITHOUT ROWID;
CREATE TABLE dumps (
    id          INTEGER PRIMARY KEY,
    target_id   INTEGER NOT NULL REFERENCES targets(id),
    process_id  INTEGER NOT NULL REFERENCES processes(id),
    sample_id   INTEGER NOT NULL REFERENCES samples(id),
    t           REAL NOT NULL,
    profile     TEXT NOT NULL,             -- goroutine, goroutineleak
    debug       INTEGER NOT NULL,          -- 0 (profile.proto) or 2 (traceback)
    role        TEXT NOT NULL,             -- first, latest, evidence
    reason      TEXT NOT NULL,
    size        INTEGER NOT NULL,          -- bytes before compression
    body        BLOB NOT NULL              -- gzip
);
CREATE INDEX dumps_by_target ON dumps(target_id, t);
CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY,
    target_id   INTEGER NOT NULL REFERENCES targets(id),
    process_id  INTEGER NOT NULL REFERENCES processes(id),
    t           REAL NOT NULL,
    signature   TEXT,                      -- NULL: the total count
    verdict     TEXT NOT NULL,             -- leak, suspect, lingering, expected, rising
    why         TEXT NOT NULL,
    slope_per_minute REAL,
    p_value     REAL,
    count_before INTEGER,
    count_after INTEGER
);
"#];

/// The database a watch writes and a report reads.
pub struct Store {
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

/// What a group is, recorded when its signature is first seen and updated with its verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupMeta {
    /// The stack's signature.
    pub signature: Signature,
    /// What its goroutines wait for.
    pub blocking: String,
    /// The leak site, as JSON.
    pub site: Option<String>,
    /// The stack, as JSON.
    pub frames: String,
    /// The `go` statement, as JSON.
    pub created_by: Option<String>,
    /// The verdict.
    pub verdict: String,
    /// Its evidence.
    pub why: String,
    /// The knowledge-base entry.
    pub pattern: Option<String>,
    /// What usually fixes it.
    pub hint: Option<String>,
}

/// A new verdict for a known group.
#[derive(Clone, Debug, PartialEq)]
pub struct VerdictUpdate {
    /// The group.
    pub signature: Signature,
    /// The verdict.
    pub verdict: String,
    /// Its evidence.
    pub why: String,
    /// The knowledge-base entry.
    pub pattern: Option<String>,
    /// What usually fixes it.
    pub hint: Option<String>,
}

/// A profile or dump body to keep.
#[derive(Clone, Debug, PartialEq)]
pub struct DumpRecord {
    /// `goroutine` or `goroutineleak`.
    pub profile: String,
    /// 0 or 2.
    pub debug: u8,
    /// `first` (of a process), `latest` (replaces the previous latest) or `evidence`.
    pub role: String,
    /// Why it was taken.
    pub reason: String,
    /// The body as served (it is compressed here).
    pub body: Vec<u8>,
}

/// A leak, suspicion or rising count found by a watch.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRecord {
    /// The group, or `None` for the total.
    pub signature: Option<Signature>,
    /// `leak`, `suspect`, … or `rising` for a total that rises.
    pub verdict: String,
    /// The evidence.
    pub why: String,
    /// Theil–Sen slope.
    pub slope_per_minute: Option<f64>,
    /// The trend's p-value.
    pub p_value: Option<f64>,
    /// The count where the trend started.
    pub count_before: Option<u64>,
    /// The count now.
    pub count_after: Option<u64>,
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
    pub source: &'a str,
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
    pub source: String,
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
    /// `goroutine` or `goroutineleak`.
    pub profile: String,
    /// 0 or 2.
    pub debug: u8,
    /// `first`, `latest` or `evidence`.
    pub role: String,
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
    /// Its settings, as JSON.
    pub settings: String,
    /// It was `goleash demo`.
    pub simulated: bool,
}

impl Store {
    /// Opens the database for a watch, creating it if need be, and takes the writer's lock:
    /// a second watch on the same file is refused while the first runs.
    pub fn open_for_writing(path: &Path) -> Result<Store> {
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
        let mut store = Store::setup(conn, path)?;
        store._lock = Some(lock);
        Ok(store)
    }

    /// Opens an existing database to read it (a report), while a watch may be writing it.
    pub fn open_existing(path: &Path) -> Result<Store> {
        if !path.exists() {
            bail!(
                "no history at {}\n  hint: `goleash watch --db {} URL` records one",
                path.display(),
                path.display()
            );
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("cannot open {}", path.display()))?;
        Store::setup(conn, path)
    }

    fn setup(mut conn: Connection, path: &Path) -> Result<Store> {
        let not_ours = || format!("{} is not a goleash history database", path.display());
        conn.busy_timeout(Duration::from_secs(10))?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .with_context(not_ours)?;
        if !mode.eq_ignore_ascii_case("wal") {
            bail!("{}: cannot switch to WAL mode (got {mode})", path.display());
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn, path)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            groups: HashMap::new(),
            _lock: None,
        })
    }

    /// Where the database is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records the start of a watch session.
    pub fn begin_session(&mut self, t: f64, settings: &str, simulated: bool) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO sessions (started, settings, simulated) VALUES (?1, ?2, ?3)",
            params![t, settings, simulated],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records the end of a session.
    pub fn end_session(&mut self, id: i64, t: f64) -> Result<()> {
        self.conn.execute(
            "UPDATE sessions SET stopped = ?1 WHERE id = ?2",
            params![t, id],
        )?;
        Ok(())
    }

    /// The id of a target, added if new.
    pub fn target(&mut self, url: &str, t: f64) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO targets (url, added) VALUES (?1, ?2) ON CONFLICT (url) DO NOTHING",
            params![url, t],
        )?;
        Ok(self.conn.query_row(
            "SELECT id FROM targets WHERE url = ?1",
            params![url],
            |row| row.get(0),
        )?)
    }

    /// What a watch needs to continue a target's history: the latest process with at most
    /// `max_samples` of its samples and `max_profiles` of its samples with group counts.
    pub fn resume(
        &mut self,
        target: i64,
        max_samples: usize,
        max_profiles: usize,
    ) -> Result<Resume> {
        let mut resume = Resume {
            groups: self.groups_of(target)?,
            last_t: self.conn.query_row(
                "SELECT max(t) FROM samples WHERE target_id = ?1",
                params![target],
                |row| row.get(0),
            )?,
            ..Resume::default()
        };
        for g in &resume.groups {
            self.groups.insert((target, g.meta.signature), g.id);
        }
        let Some(process) = self
            .conn
            .query_row(
                "SELECT id, seen, start_time, reason FROM processes WHERE target_id = ?1
                 ORDER BY id DESC LIMIT 1",
                params![target],
                process_row,
            )
            .optional()?
        else {
            return Ok(resume);
        };
        let mut samples: Vec<(f64, u64)> = self
            .conn
            .prepare(
                "SELECT t, goroutines FROM samples WHERE process_id = ?1 ORDER BY t DESC LIMIT ?2",
            )?
            .query_map(params![process.id, max_samples as i64], |row| {
                Ok((row.get(0)?, row.get::<_, i64>(1)? as u64))
            })?
            .collect::<rusqlite::Result<_>>()?;
        samples.reverse();
        resume.samples = samples;

        let mut profiles: Vec<(i64, f64)> = self
            .conn
            .prepare(
                "SELECT s.id, s.t FROM samples s WHERE s.process_id = ?1
                   AND EXISTS (SELECT 1 FROM group_counts c WHERE c.sample_id = s.id)
                 ORDER BY s.t DESC LIMIT ?2",
            )?
            .query_map(params![process.id, max_profiles as i64], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        profiles.reverse();
        let position: HashMap<i64, usize> = profiles
            .iter()
            .enumerate()
            .map(|(i, &(id, _))| (id, i))
            .collect();
        let signature_of: HashMap<i64, Signature> = resume
            .groups
            .iter()
            .map(|g| (g.id, g.meta.signature))
            .collect();
        let mut series: HashMap<Signature, Vec<u64>> = HashMap::new();
        if let Some(&(_, first_t)) = profiles.first() {
            let mut statement = self.conn.prepare(
                "SELECT c.sample_id, c.group_id, c.count FROM group_counts c
                 JOIN samples s ON s.id = c.sample_id
                 WHERE s.process_id = ?1 AND s.t >= ?2",
            )?;
            let rows = statement.query_map(params![process.id, first_t], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })?;
            for row in rows {
                let (sample, group, count) = row?;
                let (Some(&i), Some(&signature)) =
                    (position.get(&sample), signature_of.get(&group))
                else {
                    continue;
                };
                series
                    .entry(signature)
                    .or_insert_with(|| vec![0; profiles.len()])[i] = count as u64;
            }
        }
        let mut group_counts: Vec<(Signature, Vec<u64>)> = series.into_iter().collect();
        group_counts.sort_by_key(|(s, _)| *s);
        resume.group_counts = group_counts;
        resume.profile_times = profiles.iter().map(|p| p.1).collect();
        resume.alerted = self
            .conn
            .prepare("SELECT DISTINCT signature FROM alerts WHERE process_id = ?1")?
            .query_map(params![process.id], |row| row.get::<_, Option<String>>(0))?
            .map(|s| Ok(s?.and_then(|s| s.parse().ok())))
            .collect::<rusqlite::Result<_>>()?;
        resume.process = Some(process);
        Ok(resume)
    }

    /// Writes one observation in one transaction.
    pub fn write(&mut self, w: &SampleWrite<'_>) -> Result<Written> {
        let tx = self.conn.transaction()?;
        let process = match &w.process {
            ProcessRef::Known(id) => *id,
            ProcessRef::New { reason, start_time } => {
                tx.execute(
                    "INSERT INTO processes (target_id, seen, start_time, reason) VALUES (?1, ?2, ?3, ?4)",
                    params![w.target, w.t, start_time, reason],
                )?;
                tx.last_insert_rowid()
            }
        };
        tx.execute(
            "INSERT INTO samples (target_id, process_id, session_id, t, goroutines, source, cost_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                w.target,
                process,
                w.session,
                w.t,
                w.goroutines as i64,
                w.source,
                w.cost_ms
            ],
        )?;
        let sample = tx.last_insert_rowid();
        let mut added = Vec::new();
        for g in w.new_groups {
            if self.groups.contains_key(&(w.target, g.signature)) {
                continue;
            }
            tx.execute(
                "INSERT INTO groups (target_id, signature, first_seen, blocking, site, frames,
                                     created_by, verdict, why, pattern, hint)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (target_id, signature) DO NOTHING",
                params![
                    w.target,
                    g.signature.to_string(),
                    w.t,
                    g.blocking,
                    g.site,
                    g.frames,
                    g.created_by,
                    g.verdict,
                    g.why,
                    g.pattern,
                    g.hint
                ],
            )?;
            let id: i64 = tx.query_row(
                "SELECT id FROM groups WHERE target_id = ?1 AND signature = ?2",
                params![w.target, g.signature.to_string()],
                |row| row.get(0),
            )?;
            added.push((g.signature, id));
        }
        let id_of = |signature: Signature| {
            self.groups
                .get(&(w.target, signature))
                .copied()
                .or_else(|| added.iter().find(|a| a.0 == signature).map(|a| a.1))
        };
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO group_counts (sample_id, group_id, count) VALUES (?1, ?2, ?3)",
            )?;
            for &(signature, count) in w.counts {
                let group = id_of(signature).with_context(|| {
                    format!("group {signature} has a count but was never described")
                })?;
                insert.execute(params![sample, group, count as i64])?;
            }
        }
        for v in w.verdicts {
            let Some(group) = id_of(v.signature) else {
                continue;
            };
            tx.execute(
                "UPDATE groups SET verdict = ?1, why = ?2, pattern = ?3, hint = ?4 WHERE id = ?5",
                params![v.verdict, v.why, v.pattern, v.hint, group],
            )?;
        }
        for d in w.dumps {
            if d.role == "latest" {
                tx.execute(
                    "DELETE FROM dumps WHERE target_id = ?1 AND role = 'latest'",
                    params![w.target],
                )?;
            }
            tx.execute(
                "INSERT INTO dumps (target_id, process_id, sample_id, t, profile, debug, role,
                                    reason, size, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    w.target,
                    process,
                    sample,
                    w.t,
                    d.profile,
                    d.debug,
                    d.role,
                    d.reason,
                    d.body.len() as i64,
                    gzip(&d.body)?
                ],
            )?;
        }
        for a in w.alerts {
            tx.execute(
                "INSERT INTO alerts (target_id, process_id, t, signature, verdict, why,
                                     slope_per_minute, p_value, count_before, count_after)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    w.target,
                    process,
                    w.t,
                    a.signature.map(|s| s.to_string()),
                    a.verdict,
                    a.why,
                    a.slope_per_minute,
                    a.p_value,
                    a.count_before.map(|c| c as i64),
                    a.count_after.map(|c| c as i64)
                ],
            )?;
        }
        tx.commit()?;
        // Only what was committed may be cached: a failed transaction rolled these back.
        for (signature, id) in added {
            self.groups.insert((w.target, signature), id);
        }
        Ok(Written { sample, process })
    }

    /// Keeps `body` (a `debug=0` profile of sample `sample`) as the target's latest
    /// profile, replacing the previous one.
    pub fn keep_latest(
        &mut self,
        target: i64,
        process: i64,
        sample: i64,
        t: f64,
        body: &[u8],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM dumps WHERE target_id = ?1 AND role = 'latest'",
            params![target],
        )?;
        tx.execute(
            "INSERT INTO dumps (target_id, process_id, sample_id, t, profile, debug, role,
                                reason, size, body)
             VALUES (?1, ?2, ?3, ?4, 'goroutine', 0, 'latest', 'the latest profile', ?5, ?6)",
            params![target, process, sample, t, body.len() as i64, gzip(body)?],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Every target, oldest first.
    pub fn targets(&self) -> Result<Vec<TargetRow>> {
        Ok(self
            .conn
            .prepare("SELECT id, url, added FROM targets ORDER BY id")?
            .query_map([], |row| {
                Ok(TargetRow {
                    id: row.get(0)?,
                    url: row.get(1)?,
                    added: row.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    /// Every session, oldest first.
    pub fn sessions(&self) -> Result<Vec<SessionRow>> {
        Ok(self
            .conn
            .prepare("SELECT id, started, stopped, settings, simulated FROM sessions ORDER BY id")?
            .query_map([], |row| {
                Ok(SessionRow {
                    id: row.get(0)?,
                    started: row.get(1)?,
                    stopped: row.get(2)?,
                    settings: row.get(3)?,
                    simulated: row.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    /// The processes of a target, oldest first.
    pub fn processes(&self, target: i64) -> Result<Vec<ProcessRow>> {
        Ok(self
            .conn
            .prepare(
                "SELECT id, seen, start_time, reason FROM processes WHERE target_id = ?1 ORDER BY id",
            )?
            .query_map(params![target], process_row)?
            .collect::<rusqlite::Result<_>>()?)
    }

    /// The samples of a target, in time order.
    pub fn samples(&self, target: i64) -> Result<Vec<SampleRow>> {
        Ok(self
            .conn
            .prepare(
                "SELECT id, process_id, t, goroutines, source FROM samples WHERE target_id = ?1
                 ORDER BY t, id",
            )?
            .query_map(params![target], |row| {
                Ok(SampleRow {
                    id: row.get(0)?,
                    process: row.get(1)?,
                    t: row.get(2)?,
                    goroutines: row.get::<_, i64>(3)? as u64,
                    source: row.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    /// Every group of a target, by id.
    pub fn groups_of(&self, target: i64) -> Result<Vec<GroupRow>> {
        Ok(self
            .conn
            .prepare(
                "SELECT id, first_seen, signature, blocking, site, frames, created_by, verdict,
                        why, pattern, hint
                 FROM groups WHERE target_id = ?1 ORDER BY id",
            )?
            .query_map(params![target], |row| {
                let signature: String = row.get(2)?;
                Ok(GroupRow {
                    id: row.get(0)?,
                    first_seen: row.get(1)?,
                    meta: GroupMeta {
                        signature: signature.parse().unwrap_or(Signature(0)),
                        blocking: row.get(3)?,
                        site: row.get(4)?,
                        frames: row.get(5)?,
                        created_by: row.get(6)?,
                        verdict: row.get(7)?,
                        why: row.get(8)?,
                        pattern: row.get(9)?,
                        hint: row.get(10)?,
                    },
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    /// The per-group counts of a target: (sample id, group id, count).
    pub fn group_counts(&self, target: i64) -> Result<Vec<(i64, i64, u64)>> {
        Ok(self
            .conn
            .prepare(
                "SELECT c.sample_id, c.group_id, c.count FROM group_counts c
                 JOIN samples s ON s.id = c.sample_id WHERE s.target_id = ?1",
            )?
            .query_map(params![target], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get::<_, i64>(2)? as u64))
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    /// The stored bodies of a target, without the bodies, in time order.
    pub fn dumps(&self, target: i64) -> Result<Vec<DumpRow>> {
        Ok(self
            .conn
            .prepare(
                "SELECT id, process_id, sample_id, t, profile, debug, role, reason, size
                 FROM dumps WHERE target_id = ?1 ORDER BY t, id",
            )?
            .query_map(params![target], |row| {
                Ok(DumpRow {
                    id: row.get(0)?,
                    process: row.get(1)?,
                    sample: row.get(2)?,
                    t: row.get(3)?,
                    profile: row.get(4)?,
                    debug: row.get(5)?,
                    role: row.get(6)?,
                    reason: row.get(7)?,
                    size: row.get::<_, i64>(8)? as u64,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    /// One stored body, decompressed.
    pub fn dump_body(&self, id: i64) -> Result<Vec<u8>> {
        let compressed: Vec<u8> =
            self.conn
                .query_row("SELECT body FROM dumps WHERE id = ?1", params![id], |row| {
                    row.get(0)
                })?;
        let mut body = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&compressed[..]),
            &mut body,
        )
        .with_context(|| format!("stored dump {id} is damaged"))?;
        Ok(body)
    }

    /// The alerts of a target, in time order.
    pub fn alerts(&self, target: i64) -> Result<Vec<AlertRow>> {
        Ok(self
            .conn
            .prepare(
                "SELECT process_id, t, signature, verdict, why, slope_per_minute, p_value,
                        count_before, count_after
                 FROM alerts WHERE target_id = ?1 ORDER BY t, id",
            )?
            .query_map(params![target], |row| {
                let signature: Option<String> = row.get(2)?;
                Ok(AlertRow {
                    process: row.get(0)?,
                    t: row.get(1)?,
                    alert: AlertRecord {
                        signature: signature.and_then(|s| s.parse().ok()),
                        verdict: row.get(3)?,
                        why: row.get(4)?,
                        slope_per_minute: row.get(5)?,
                        p_value: row.get(6)?,
                        count_before: row.get::<_, Option<i64>>(7)?.map(|c| c as u64),
                        count_after: row.get::<_, Option<i64>>(8)?.map(|c| c as u64),
                    },
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }
}

fn process_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ProcessRow> {
    Ok(ProcessRow {
        id: row.get(0)?,
        seen: row.get(1)?,
        start_time: row.get(2)?,
        reason: row.get(3)?,
    })
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        bail!(
            "{} was written by a newer goleash (schema {version}; this one knows up to {})\n  hint: upgrade goleash",
            path.display(),
            MIGRATIONS.len()
        );
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .with_context(|| format!("upgrading {} to schema {}", path.display(), i + 1))?;
        // user_version lives in the header page, which the transaction covers: a crash
        // leaves either the old schema and version or the new ones.
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 8),
        flate2::Compression::fast(),
    );
    encoder.write_all(body)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("goleash-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("history.db")
    }

    fn meta(signature: u64) -> GroupMeta {
        GroupMeta {
            signature: Signature(signature),
            blocking: "chan send".into(),
            site: None,
            frames: "[]".into(),
            created_by: None,
            verdict: "suspect".into(),
            why: "blocked".into(),
            pattern: None,
            hint: None,
        }
    }

    fn sample<'a>(
        target: i64,
        session: i64,
        process: ProcessRef,
        t: f64,
        goroutines: u64,
        groups: &'a [GroupMeta],
        counts: &'a [(Signature, u64)],
    ) -> SampleWrite<'a> {
        SampleWrite {
            target,
            session,
            process,
            t,
            goroutines,
            source: if counts.is_empty() {
                "metrics"
            } else {
                "profile"
            },
            cost_ms: Some(1.0),
            new_groups: groups,
            counts,
            verdicts: &[],
            dumps: &[],
            alerts: &[],
        }
    }

    #[test]
    fn a_second_open_continues_the_history_of_the_latest_process() {
        let path = temp_db("resume");
        {
            let mut store = Store::open_for_writing(&path).unwrap();
            let session = store.begin_session(0.0, "{}", false).unwrap();
            let target = store.target("http://a/debug/pprof", 0.0).unwrap();
            let first = ProcessRef::New {
                reason: "first".into(),
                start_time: Some(100.0),
            };
            let p1 = store
                .write(&sample(
                    target,
                    session,
                    first,
                    1.0,
                    10,
                    &[meta(1)],
                    &[(Signature(1), 4)],
                ))
                .unwrap()
                .process;
            let restart = ProcessRef::New {
                reason: "start time changed".into(),
                start_time: Some(200.0),
            };
            let p2 = store
                .write(&sample(
                    target,
                    session,
                    restart,
                    2.0,
                    5,
                    &[],
                    &[(Signature(1), 1)],
                ))
                .unwrap()
                .process;
            assert_ne!(p1, p2);
            store
                .write(&sample(
                    target,
                    session,
                    ProcessRef::Known(p2),
                    3.0,
                    6,
                    &[],
                    &[],
                ))
                .unwrap();
            store
                .write(&sample(
                    target,
                    session,
                    ProcessRef::Known(p2),
                    4.0,
                    7,
                    &[meta(1), meta(2)],
                    &[(Signature(1), 2), (Signature(2), 3)],
                ))
                .unwrap();
        }
        let mut store = Store::open_for_writing(&path).unwrap();
        let target = store.target("http://a/debug/pprof", 9.0).unwrap();
        let resume = store.resume(target, 100, 100).unwrap();
        assert_eq!(resume.process.as_ref().unwrap().start_time, Some(200.0));
        assert_eq!(resume.samples, vec![(2.0, 5), (3.0, 6), (4.0, 7)]);
        assert_eq!(resume.profile_times, vec![2.0, 4.0]);
        assert_eq!(
            resume.group_counts,
            vec![(Signature(1), vec![1, 2]), (Signature(2), vec![0, 3])]
        );
        assert_eq!(resume.groups.len(), 2);
        assert_eq!(resume.last_t, Some(4.0));
        let limited = store.resume(target, 2, 1).unwrap();
        assert_eq!(limited.samples, vec![(3.0, 6), (4.0, 7)]);
        assert_eq!(limited.profile_times, vec![4.0]);
    }

    #[test]
    fn a_second_writer_is_refused_while_the_first_holds_the_file() {
        let path = temp_db("lock");
        let _first = Store::open_for_writing(&path).unwrap();
        let second = Store::open_for_writing(&path).err().unwrap().to_string();
        assert!(second.contains("another goleash watch"), "{second}");
        // Readers are welcome.
        Store::open_existing(&path).unwrap();
    }

    #[test]
    fn only_one_latest_body_is_kept_and_bodies_come_back_as_stored() {
        let path = temp_db("dumps");
        let mut store = Store::open_for_writing(&path).unwrap();
        let session = store.begin_session(0.0, "{}", false).unwrap();
        let target = store.target("http://a/debug/pprof", 0.0).unwrap();
        let mut process = ProcessRef::New {
            reason: "first".into(),
            start_time: None,
        };
        for (t, body) in [(1.0, b"one".to_vec()), (2.0, b"two".to_vec())] {
            let dumps = [DumpRecord {
                profile: "goroutine".into(),
                debug: 0,
                role: "latest".into(),
                reason: "the latest profile".into(),
                body,
            }];
            let mut w = sample(target, session, process.clone(), t, 1, &[], &[]);
            w.dumps = &dumps;
            process = ProcessRef::Known(store.write(&w).unwrap().process);
        }
        let dumps = store.dumps(target).unwrap();
        assert_eq!(dumps.len(), 1);
        assert_eq!(store.dump_body(dumps[0].id).unwrap(), b"two");
    }

    #[test]
    fn a_newer_schema_is_refused_with_a_hint() {
        let path = temp_db("newer");
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", 99).unwrap();
        }
        let error = format!("{:#}", Store::open_existing(&path).err().unwrap());
        assert!(error.contains("newer goleash"), "{error}");
    }

    #[test]
    fn a_count_for_an_undescribed_group_fails_the_whole_transaction() {
        let path = temp_db("atomic");
        let mut store = Store::open_for_writing(&path).unwrap();
        let session = store.begin_session(0.0, "{}", false).unwrap();
        let target = store.target("http://a/debug/pprof", 0.0).unwrap();
        let first = ProcessRef::New {
            reason: "first".into(),
            start_time: None,
        };
        let counts = [(Signature(7), 1)];
        assert!(
            store
                .write(&sample(target, session, first, 1.0, 1, &[], &counts))
                .is_err()
        );
        assert!(store.samples(target).unwrap().is_empty());
        assert!(store.processes(target).unwrap().is_empty());
    }
}
