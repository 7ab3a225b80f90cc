//! The history in PostgreSQL (`--db postgres://…`): one history for several watches, each
//! with its shard of targets, and the reports that read it.
//!
//! The same tables, columns, codes and schema versions as the SQLite store (the numbers of
//! [`super::schema`], kept in `goleash_schema`), in PostgreSQL's types. Each sample is one
//! transaction, committed before its event is printed, so a watch killed at any moment
//! loses at most the sample it was writing. A target is written by one watch at a time:
//! the watch holds a session-level advisory lock per target for as long as it runs, and a
//! second watch asking for the same target is refused.

use std::cell::RefCell;
use std::collections::HashMap;

use ::postgres::types::{ToSql, Type};
use ::postgres::{Client, GenericClient, NoTls, Row};
use anyhow::{Context, Result, bail};
use goleash_core::Signature;

use super::queries::{self, Cell, Record};
use super::sql::{self, Kept, Sql, Value};
use super::{
    AlertRow, DumpRow, GroupRow, ProcessRow, Resume, SampleRow, SampleWrite, SessionRow, TargetRow,
    Written, schema,
};
use crate::history::Settings;

/// Each entry brings a database to the schema version it names, from the one before. A
/// new database starts at schema 2 directly: schema 1 was SQLite's alone.
const MIGRATIONS: &[(usize, &str)] = &[(2, SCHEMA_2)];

/// Schema 2 of [`super::schema`], in PostgreSQL's types.
const SCHEMA_2: &str = r#"
CREATE TABLE targets (
    id          BIGSERIAL PRIMARY KEY,
    url         TEXT NOT NULL UNIQUE,
    added       DOUBLE PRECISION NOT NULL
);
CREATE TABLE sessions (
    id          BIGSERIAL PRIMARY KEY,
    started     DOUBLE PRECISION NOT NULL,
    stopped     DOUBLE PRECISION,
    settings    TEXT NOT NULL,
    simulated   BOOLEAN NOT NULL
);
CREATE TABLE processes (
    id          BIGSERIAL PRIMARY KEY,
    target_id   BIGINT NOT NULL REFERENCES targets(id),
    seen        DOUBLE PRECISION NOT NULL,
    start_time  DOUBLE PRECISION,
    reason      TEXT NOT NULL
);
CREATE INDEX processes_by_target ON processes(target_id, id);
CREATE TABLE samples (
    id          BIGSERIAL PRIMARY KEY,
    target_id   BIGINT NOT NULL REFERENCES targets(id),
    process_id  BIGINT NOT NULL REFERENCES processes(id),
    session_id  BIGINT NOT NULL REFERENCES sessions(id),
    t           DOUBLE PRECISION NOT NULL,
    goroutines  BIGINT NOT NULL,
    source      TEXT NOT NULL,
    cost_ms     DOUBLE PRECISION
);
CREATE INDEX samples_by_target ON samples(target_id, t);
CREATE INDEX samples_by_process ON samples(process_id, t);
CREATE TABLE groups (
    id          BIGSERIAL PRIMARY KEY,
    target_id   BIGINT NOT NULL REFERENCES targets(id),
    signature   TEXT NOT NULL,
    first_seen  DOUBLE PRECISION NOT NULL,
    blocking    TEXT NOT NULL CHECK (blocking IN (
                    'chan receive', 'chan send', 'chan send or receive',
                    'chan receive (nil chan)', 'chan send (nil chan)', 'select',
                    'select (no cases)', 'sync.WaitGroup.Wait', 'sync.Mutex.Lock',
                    'sync.RWMutex.RLock', 'sync.RWMutex.Lock', 'sync.Cond.Wait', 'semacquire',
                    'sleep', 'IO wait', 'syscall', 'running', 'runnable', 'runtime', 'unknown')),
    site_function TEXT,
    site_file   TEXT,
    site_line   BIGINT,
    site_source TEXT,
    creator_function TEXT,
    creator_file TEXT,
    creator_line BIGINT,
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
    group_id    BIGINT NOT NULL REFERENCES groups(id),
    depth       BIGINT NOT NULL,
    function    TEXT NOT NULL,
    file        TEXT NOT NULL,
    line        BIGINT NOT NULL,
    "offset"    BIGINT,
    inlined     BOOLEAN NOT NULL,
    PRIMARY KEY (group_id, depth)
);
CREATE TABLE group_counts (
    sample_id   BIGINT NOT NULL REFERENCES samples(id),
    group_id    BIGINT NOT NULL REFERENCES groups(id),
    count       BIGINT NOT NULL,
    PRIMARY KEY (sample_id, group_id)
);
CREATE TABLE dumps (
    id          BIGSERIAL PRIMARY KEY,
    target_id   BIGINT NOT NULL REFERENCES targets(id),
    process_id  BIGINT NOT NULL REFERENCES processes(id),
    sample_id   BIGINT NOT NULL REFERENCES samples(id),
    t           DOUBLE PRECISION NOT NULL,
    profile     TEXT NOT NULL CHECK (profile IN ('goroutine', 'goroutineleak')),
    debug       BIGINT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('first', 'latest', 'evidence')),
    reason      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    body        BYTEA NOT NULL
);
CREATE INDEX dumps_by_target ON dumps(target_id, t);
CREATE TABLE alerts (
    id          BIGSERIAL PRIMARY KEY,
    target_id   BIGINT NOT NULL REFERENCES targets(id),
    process_id  BIGINT NOT NULL REFERENCES processes(id),
    t           DOUBLE PRECISION NOT NULL,
    signature   TEXT,
    verdict     TEXT NOT NULL CHECK (verdict IN (
                    'leak', 'suspect', 'lingering', 'expected', 'rising')),
    why         TEXT NOT NULL,
    slope_per_minute DOUBLE PRECISION,
    p_value     DOUBLE PRECISION,
    count_before BIGINT,
    count_after BIGINT
);
CREATE INDEX alerts_by_process ON alerts(process_id);
"#;

/// The advisory lock key under which migrations run: any constant, the same for every
/// goleash.
const MIGRATION_LOCK: i64 = 0x0067_6f6c_6561_7368;

/// The first key of the per-target advisory locks (the second is the target's id): "gl".
const TARGET_LOCKS: i32 = 0x676c;

/// A history in PostgreSQL.
pub struct Postgres {
    client: RefCell<Client>,
    /// The URL without its password, for messages.
    shown: String,
    /// Group ids by target and signature, for the rows committed so far.
    groups: HashMap<(i64, Signature), i64>,
    /// Take an advisory lock on every target written: this store is a watch's.
    writer: bool,
}

/// Whether `--db` names a PostgreSQL database.
pub fn is_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// `url` without the password.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl Postgres {
    /// Connects for a watch, creating or upgrading the schema.
    pub fn open_for_writing(url: &str) -> Result<Postgres> {
        let mut store = Postgres::connect(url, true)?;
        store.migrate()?;
        Ok(store)
    }

    /// Connects for a report: the schema must be there, and not newer than this release.
    pub fn open_existing(url: &str) -> Result<Postgres> {
        let store = Postgres::connect(url, false)?;
        let version = store.version()?;
        if version == 0 {
            bail!(
                "no goleash history in {}\n  hint: `goleash watch --db {} URL` records one",
                store.shown,
                store.shown
            );
        }
        store.known(version)?;
        if version < schema::VERSION {
            bail!(
                "{} holds schema {version}; this goleash reads {}\n  hint: a `goleash watch` on it upgrades it",
                store.shown,
                schema::VERSION
            );
        }
        Ok(store)
    }

    fn connect(url: &str, writer: bool) -> Result<Postgres> {
        let shown = without_password(url);
        let client = Client::connect(url, NoTls)
            .with_context(|| format!("cannot connect to the history database {shown}"))?;
        Ok(Postgres {
            client: RefCell::new(client),
            shown,
            groups: HashMap::new(),
            writer,
        })
    }

    /// The URL, without the password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    fn version(&self) -> Result<usize> {
        let mut client = self.client.borrow_mut();
        let exists: bool = client
            .query_one("SELECT to_regclass('goleash_schema') IS NOT NULL", &[])?
            .get(0);
        if !exists {
            return Ok(0);
        }
        let version: Option<i64> = client
            .query_one("SELECT max(version) FROM goleash_schema", &[])?
            .get(0);
        Ok(version.map_or(0, |v| usize::try_from(v).unwrap_or(usize::MAX)))
    }

    fn known(&self, version: usize) -> Result<()> {
        if version > schema::VERSION {
            bail!(
                "{} was written by a newer goleash (schema {version}; this one knows up to {})\n  hint: upgrade goleash",
                self.shown,
                schema::VERSION
            );
        }
        Ok(())
    }

    /// Brings the schema to [`schema::VERSION`], one transaction per migration, under an
    /// advisory lock so that watches starting together do not migrate twice.
    fn migrate(&mut self) -> Result<()> {
        let shown = self.shown.clone();
        let mut client = self.client.borrow_mut();
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS goleash_schema (version BIGINT NOT NULL)")?;
        let from: Option<i64> = tx
            .query_one("SELECT max(version) FROM goleash_schema", &[])?
            .get(0);
        let from = from.map_or(0, |v| usize::try_from(v).unwrap_or(usize::MAX));
        if from > schema::VERSION {
            bail!(
                "{shown} was written by a newer goleash (schema {from}; this one knows up to {})\n  hint: upgrade goleash",
                schema::VERSION
            );
        }
        for &(to, sql) in MIGRATIONS.iter().filter(|(to, _)| *to > from) {
            tx.batch_execute(sql)
                .with_context(|| format!("upgrading {shown} to schema {to}"))?;
            tx.execute("DELETE FROM goleash_schema", &[])?;
            tx.execute(
                "INSERT INTO goleash_schema (version) VALUES ($1)",
                &[&(to as i64)],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records the start of a watch session.
    pub fn begin_session(&mut self, t: f64, settings: &Settings, simulated: bool) -> Result<i64> {
        sql::begin_session(&mut Pg(self.client.get_mut()), t, settings, simulated)
    }

    /// Records the end of a session.
    pub fn end_session(&mut self, id: i64, t: f64) -> Result<()> {
        sql::end_session(&mut Pg(self.client.get_mut()), id, t)
    }

    /// The id of a target, added if new; a watch also takes the target's lock.
    pub fn target(&mut self, url: &str, t: f64) -> Result<i64> {
        let client = self.client.get_mut();
        let id = sql::target(&mut Pg(client), url, t)?;
        if self.writer {
            let locked: bool = client
                .query_one(
                    "SELECT pg_try_advisory_lock($1, $2)",
                    &[&TARGET_LOCKS, &(id as i32)],
                )?
                .get(0);
            if !locked {
                bail!(
                    "another goleash watch is writing the history of {url} in {}\n  hint: give each watch its own targets (a shard), or stop the other",
                    self.shown
                );
            }
        }
        Ok(id)
    }

    /// Writes one observation in one transaction.
    pub fn write(&mut self, w: &SampleWrite<'_>) -> Result<Written> {
        let client = self.client.get_mut();
        let mut tx = client.transaction()?;
        let (written, added) = sql::write(&mut Pg(&mut tx), &self.groups, w)?;
        tx.commit()?;
        // Only what was committed may be cached: a failed transaction rolled these back.
        for (signature, id) in added {
            self.groups.insert((w.target, signature), id);
        }
        Ok(written)
    }

    /// Keeps `body` as the target's latest profile, replacing the previous one.
    pub fn keep_latest(
        &mut self,
        target: i64,
        process: i64,
        sample: i64,
        t: f64,
        body: &[u8],
    ) -> Result<()> {
        let mut tx = self.client.get_mut().transaction()?;
        let kept = Kept {
            target,
            process,
            sample,
            t,
        };
        sql::keep_latest(&mut Pg(&mut tx), &kept, body)?;
        tx.commit()?;
        Ok(())
    }

    /// What a watch needs to continue a target's history (as [`super::Store::resume`]).
    pub fn resume(
        &mut self,
        target: i64,
        max_samples: usize,
        max_profiles: usize,
    ) -> Result<Resume> {
        let resume = queries::resume(
            &mut Pg(self.client.get_mut()),
            target,
            max_samples,
            max_profiles,
        )?;
        for g in &resume.groups {
            self.groups.insert((target, g.meta.signature), g.id);
        }
        Ok(resume)
    }

    /// Every target, oldest first.
    pub fn targets(&self) -> Result<Vec<TargetRow>> {
        queries::targets(&mut Pg(&mut *self.client.borrow_mut()))
    }

    /// Every session, oldest first.
    pub fn sessions(&self) -> Result<Vec<SessionRow>> {
        queries::sessions(&mut Pg(&mut *self.client.borrow_mut()))
    }

    /// The processes of a target, oldest first.
    pub fn processes(&self, target: i64) -> Result<Vec<ProcessRow>> {
        queries::processes(&mut Pg(&mut *self.client.borrow_mut()), target)
    }

    /// The samples of a target, in time order.
    pub fn samples(&self, target: i64) -> Result<Vec<SampleRow>> {
        queries::samples(&mut Pg(&mut *self.client.borrow_mut()), target)
    }

    /// Every group of a target, by id.
    pub fn groups_of(&self, target: i64) -> Result<Vec<GroupRow>> {
        queries::groups_of(&mut Pg(&mut *self.client.borrow_mut()), target)
    }

    /// The per-group counts of a target: (sample id, group id, count).
    pub fn group_counts(&self, target: i64) -> Result<Vec<(i64, i64, u64)>> {
        queries::group_counts(&mut Pg(&mut *self.client.borrow_mut()), target)
    }

    /// The stored bodies of a target, without the bodies, in time order.
    pub fn dumps(&self, target: i64) -> Result<Vec<DumpRow>> {
        queries::dumps(&mut Pg(&mut *self.client.borrow_mut()), target)
    }

    /// One stored body, decompressed.
    pub fn dump_body(&self, id: i64) -> Result<Vec<u8>> {
        queries::dump_body(&mut Pg(&mut *self.client.borrow_mut()), id)
    }

    /// The alerts of a target, in time order.
    pub fn alerts(&self, target: i64) -> Result<Vec<AlertRow>> {
        queries::alerts(&mut Pg(&mut *self.client.borrow_mut()), target)
    }
}

/// Column `i` of `row`, in the types the history's tables use.
fn cell(row: &Row, i: usize) -> Result<Cell> {
    let ty = row.columns()[i].type_();
    Ok(match *ty {
        Type::INT8 => row
            .try_get::<_, Option<i64>>(i)?
            .map_or(Cell::Null, Cell::Int),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)?
            .map_or(Cell::Null, |v| Cell::Int(i64::from(v))),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(i)?
            .map_or(Cell::Null, Cell::Real),
        Type::TEXT | Type::VARCHAR => row
            .try_get::<_, Option<String>>(i)?
            .map_or(Cell::Null, Cell::Text),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)?
            .map_or(Cell::Null, Cell::Bool),
        Type::BYTEA => row
            .try_get::<_, Option<Vec<u8>>>(i)?
            .map_or(Cell::Null, Cell::Bytes),
        ref other => bail!("column {i} is of type {other}, which the history does not use"),
    })
}

/// A PostgreSQL client or transaction running the statements of [`sql`].
struct Pg<'c, C: GenericClient>(&'c mut C);

fn bound<'v>(values: &'v [Value<'_>]) -> Vec<&'v (dyn ToSql + Sync)> {
    values
        .iter()
        .map(|v| -> &(dyn ToSql + Sync) {
            match v {
                Value::Int(x) => x,
                Value::Real(x) => x,
                Value::Text(x) => x,
                Value::Bool(x) => x,
                Value::Bytes(x) => x,
            }
        })
        .collect()
}

impl<C: GenericClient> Sql for Pg<'_, C> {
    fn execute(&mut self, statement: &str, values: &[Value<'_>]) -> Result<u64> {
        Ok(self.0.execute(statement, &bound(values))?)
    }

    fn execute_each(&mut self, statement: &str, rows: &[Vec<Value<'_>>]) -> Result<()> {
        let prepared = self.0.prepare(statement)?;
        for row in rows {
            self.0.execute(&prepared, &bound(row))?;
        }
        Ok(())
    }

    fn query(&mut self, statement: &str, values: &[Value<'_>]) -> Result<Vec<Record>> {
        self.0
            .query(statement, &bound(values))?
            .iter()
            .map(|row| {
                let cells = (0..row.len())
                    .map(|i| cell(row, i))
                    .collect::<Result<Vec<Cell>>>()?;
                Ok(Record(cells))
            })
            .collect()
    }

    fn id(&mut self, statement: &str, values: &[Value<'_>]) -> Result<Option<i64>> {
        Ok(self
            .0
            .query_opt(statement, &bound(values))?
            .map(|row| row.get(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migrations_reach_the_schema_this_release_writes() {
        assert_eq!(MIGRATIONS.last().map(|m| m.0), Some(schema::VERSION));
        assert!(MIGRATIONS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            without_password("postgres://goleash:secret@db:5432/history"),
            "postgres://goleash:***@db:5432/history"
        );
        assert_eq!(
            without_password("postgres://db/history"),
            "postgres://db/history"
        );
        assert!(is_url("postgresql://db/x") && !is_url("goleash-watch.db"));
    }
}
