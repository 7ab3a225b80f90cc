//! The schema of the history and its migrations.

use std::path::Path;

use anyhow::{Context, Result, bail};
use rusqlite::Connection;

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

pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
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
