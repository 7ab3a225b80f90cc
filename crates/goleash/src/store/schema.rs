//! The schema of the history and its migrations, numbered by `PRAGMA user_version`.
//!
//! Each migration runs in one transaction with the version bump (`user_version` lives in
//! the header page, which the transaction covers): a crash leaves either the old schema
//! and version or the new ones. A migration that shipped is never edited; a change is a
//! new one.

use std::path::Path;

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OptionalExtension, params};

/// Each entry upgrades the schema by one version, from the one before.
const MIGRATIONS: &[fn(&Connection) -> Result<()>] = &[to_1, to_2];

/// The schema this release reads and writes.
pub(super) const VERSION: usize = MIGRATIONS.len();

/// 0.1.0: the first schema. Stacks, sites and creators as JSON text.
const SCHEMA_1: &str = r#"
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
"#;

fn to_1(conn: &Connection) -> Result<()> {
    Ok(conn.execute_batch(SCHEMA_1)?)
}

/// Typed columns instead of JSON, and CHECKs on every coded column (`super::codes`): a
/// stack's site and creator in columns, its frames in a table of their own.
const SCHEMA_2: &str = r#"
CREATE TABLE groups_2 (
    id          INTEGER PRIMARY KEY,
    target_id   INTEGER NOT NULL REFERENCES targets(id),
    signature   TEXT NOT NULL,
    first_seen  REAL NOT NULL,
    blocking    TEXT NOT NULL CHECK (blocking IN (
                    'chan receive', 'chan send', 'chan send or receive',
                    'chan receive (nil chan)', 'chan send (nil chan)', 'select',
                    'select (no cases)', 'sync.WaitGroup.Wait', 'sync.Mutex.Lock',
                    'sync.RWMutex.RLock', 'sync.RWMutex.Lock', 'sync.Cond.Wait', 'semacquire',
                    'sleep', 'IO wait', 'syscall', 'running', 'runnable', 'runtime', 'unknown')),
    site_function TEXT,                    -- the leak site; all three NULL when unknown
    site_file   TEXT,
    site_line   INTEGER,
    site_source TEXT,                      -- its source line, when it was read
    creator_function TEXT,                 -- the `go` statement; all three NULL when unknown
    creator_file TEXT,
    creator_line INTEGER,
    verdict     TEXT NOT NULL CHECK (verdict IN ('leak', 'suspect', 'lingering', 'expected')),
    why         TEXT NOT NULL,
    pattern     TEXT,
    hint        TEXT,
    UNIQUE (target_id, signature),
    CHECK ((site_function IS NULL) = (site_file IS NULL)
           AND (site_function IS NULL) = (site_line IS NULL)
           AND (site_source IS NULL OR site_function IS NOT NULL)),
    CHECK ((creator_function IS NULL) = (creator_file IS NULL)
           AND (creator_function IS NULL) = (creator_line IS NULL))
);
CREATE TABLE group_frames (
    group_id    INTEGER NOT NULL REFERENCES groups(id),
    depth       INTEGER NOT NULL,          -- 0: the innermost frame
    function    TEXT NOT NULL,
    file        TEXT NOT NULL,             -- empty when unknown
    line        INTEGER NOT NULL,          -- 0 when unknown
    offset      INTEGER,                   -- the +0x offset, when printed
    inlined     INTEGER NOT NULL CHECK (inlined IN (0, 1)),
    PRIMARY KEY (group_id, depth)
) WITHOUT ROWID;
CREATE TABLE dumps_2 (
    id          INTEGER PRIMARY KEY,
    target_id   INTEGER NOT NULL REFERENCES targets(id),
    process_id  INTEGER NOT NULL REFERENCES processes(id),
    sample_id   INTEGER NOT NULL REFERENCES samples(id),
    t           REAL NOT NULL,
    profile     TEXT NOT NULL CHECK (profile IN ('goroutine', 'goroutineleak')),
    debug       INTEGER NOT NULL,          -- 0 (profile.proto) or 2 (traceback)
    role        TEXT NOT NULL CHECK (role IN ('first', 'latest', 'evidence')),
    reason      TEXT NOT NULL,
    size        INTEGER NOT NULL,          -- bytes before compression
    body        BLOB NOT NULL              -- gzip
);
CREATE TABLE alerts_2 (
    id          INTEGER PRIMARY KEY,
    target_id   INTEGER NOT NULL REFERENCES targets(id),
    process_id  INTEGER NOT NULL REFERENCES processes(id),
    t           REAL NOT NULL,
    signature   TEXT,                      -- NULL: the total count
    verdict     TEXT NOT NULL CHECK (verdict IN (
                    'leak', 'suspect', 'lingering', 'expected', 'rising')),
    why         TEXT NOT NULL,
    slope_per_minute REAL,
    p_value     REAL,
    count_before INTEGER,
    count_after INTEGER
);
"#;

/// Replaces the tables of schema 1 by those of [`SCHEMA_2`], once their rows are copied.
const SWAP_2: &str = r#"
DROP TABLE groups;
ALTER TABLE groups_2 RENAME TO groups;
DROP TABLE dumps;
ALTER TABLE dumps_2 RENAME TO dumps;
CREATE INDEX dumps_by_target ON dumps(target_id, t);
DROP TABLE alerts;
ALTER TABLE alerts_2 RENAME TO alerts;
"#;

/// Reads the JSON columns of schema 1 once, in the shapes 0.1.0 wrote them, and fails on
/// a row it cannot read: a history whose stacks came back empty would be a lie.
fn to_2(conn: &Connection) -> Result<()> {
    /// `{function, file, line, source?}`.
    #[derive(serde::Deserialize)]
    struct Site {
        function: String,
        file: String,
        line: u32,
        source: Option<String>,
    }
    /// `{function, file, line, offset, inlined}`.
    #[derive(serde::Deserialize)]
    struct Frame {
        function: String,
        file: String,
        line: u32,
        offset: Option<u32>,
        inlined: bool,
    }
    /// `{function, file, line, goroutine}`; `goroutine` is left out, 0.1.0 always wrote
    /// null there.
    #[derive(serde::Deserialize)]
    struct Creator {
        function: String,
        file: String,
        line: u32,
    }
    fn parse<'a, T: serde::Deserialize<'a>>(json: &'a str, what: &str) -> Result<T> {
        serde_json::from_str(json).with_context(|| {
            let shown: String = json.chars().take(200).collect();
            let more = if shown.len() < json.len() { "…" } else { "" };
            format!("its {what} is not JSON 0.1.0 wrote: {shown:?}{more}")
        })
    }

    /// One row of `groups` of schema 1, in the columns of [`SCHEMA_2`].
    fn copy_group(
        row: &rusqlite::Row<'_>,
        insert_group: &mut rusqlite::Statement<'_>,
        insert_frame: &mut rusqlite::Statement<'_>,
    ) -> Result<()> {
        let id: i64 = row.get(0)?;
        let site: Option<Site> = row
            .get::<_, Option<String>>(5)?
            .map(|s| parse(&s, "site"))
            .transpose()?
            .flatten();
        let frames: Vec<Frame> = parse(&row.get::<_, String>(6)?, "frames")?;
        let creator: Option<Creator> = row
            .get::<_, Option<String>>(7)?
            .map(|c| parse(&c, "created_by"))
            .transpose()?
            .flatten();
        insert_group.execute(params![
            id,
            row.get::<_, i64>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, f64>(3)?,
            row.get::<_, String>(4)?,
            site.as_ref().map(|s| &s.function),
            site.as_ref().map(|s| &s.file),
            site.as_ref().map(|s| s.line),
            site.as_ref().and_then(|s| s.source.as_ref()),
            creator.as_ref().map(|c| &c.function),
            creator.as_ref().map(|c| &c.file),
            creator.as_ref().map(|c| c.line),
            row.get::<_, String>(8)?,
            row.get::<_, String>(9)?,
            row.get::<_, Option<String>>(10)?,
            row.get::<_, Option<String>>(11)?,
        ])?;
        for (depth, f) in frames.iter().enumerate() {
            insert_frame.execute(params![
                id,
                depth as i64,
                f.function,
                f.file,
                f.line,
                f.offset,
                f.inlined
            ])?;
        }
        Ok(())
    }

    conn.execute_batch(SCHEMA_2)?;
    let mut insert_group = conn.prepare(
        "INSERT INTO groups_2 (id, target_id, signature, first_seen, blocking, site_function,
                               site_file, site_line, site_source, creator_function,
                               creator_file, creator_line, verdict, why, pattern, hint)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?;
    let mut insert_frame = conn.prepare(
        "INSERT INTO group_frames (group_id, depth, function, file, line, offset, inlined)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut groups = conn.prepare(
        "SELECT id, target_id, signature, first_seen, blocking, site, frames, created_by,
                verdict, why, pattern, hint
         FROM groups ORDER BY id",
    )?;
    let mut rows = groups.query([])?;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let signature: String = row.get(2)?;
        copy_group(row, &mut insert_group, &mut insert_frame)
            .with_context(|| format!("group {id} (signature {signature})"))?;
    }
    // Same columns: row by row only so that a value the CHECKs refuse is named by its row.
    for table in ["dumps", "alerts"] {
        let ids: Vec<i64> = conn
            .prepare(&format!("SELECT id FROM {table} ORDER BY id"))?
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut copy = conn.prepare(&format!(
            "INSERT INTO {table}_2 SELECT * FROM {table} WHERE id = ?1"
        ))?;
        for id in ids {
            copy.execute([id])
                .with_context(|| format!("{table} row {id}"))?;
        }
    }
    conn.execute_batch(SWAP_2)?;
    Ok(())
}

/// The schema version of `conn`'s database: 0 when it is new.
pub(super) fn version(conn: &Connection) -> rusqlite::Result<usize> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    Ok(usize::try_from(version).unwrap_or(usize::MAX))
}

/// Refuses a schema this release does not know.
pub(super) fn known(version: usize, path: &Path) -> Result<()> {
    if version > VERSION {
        bail!(
            "{} was written by a newer goleash (schema {version}; this one knows up to {VERSION})\n  hint: upgrade goleash",
            path.display(),
        );
    }
    Ok(())
}

/// Brings the database to [`VERSION`], one transaction per migration. Leaves the foreign
/// keys off: the caller turns them on.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let from = version(conn)?;
    known(from, path)?;
    // Schema 2 rebuilds tables that others refer to. SQLite's recipe for that: foreign
    // keys off around the transaction (inside one the pragma does nothing), and checked
    // before the commit.
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(from) {
        let to = i + 1;
        let upgrading = || format!("upgrading {} to schema {to}", path.display());
        let tx = conn.transaction()?;
        migration(&tx).with_context(upgrading)?;
        let dangling: Option<(String, Option<i64>, String)> = tx
            .query_row(
                "SELECT \"table\", rowid, parent FROM pragma_foreign_key_check LIMIT 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?;
        if let Some((table, rowid, parent)) = dangling {
            bail!(
                "{}: a row of {table} (rowid {}) refers to a row of {parent} that is not there",
                upgrading(),
                rowid.map_or("none".into(), |r| r.to_string())
            );
        }
        tx.pragma_update(None, "user_version", to as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
