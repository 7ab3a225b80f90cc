//! Writing the history to SQLite: one transaction per sample, with the statements of
//! [`super::sql`].

use anyhow::Result;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, ToSql};

use super::queries::{Cell, Record};
use super::sql::{self, Kept, Sql, Value};
use super::{SampleWrite, Sqlite, Written};
use crate::history::Settings;

impl ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Value::Int(v) => v.to_sql(),
            Value::Real(v) => v.to_sql(),
            Value::Text(v) => v.to_sql(),
            Value::Bool(v) => v.to_sql(),
            Value::Bytes(v) => v.to_sql(),
        }
    }
}

/// A connection, or a transaction through it.
pub(super) struct Lite<'c>(pub &'c Connection);

impl Lite<'_> {
    /// `$1` as SQLite numbers it: `?1`.
    fn prepare(&self, statement: &str) -> Result<rusqlite::CachedStatement<'_>> {
        Ok(self.0.prepare_cached(&statement.replace('$', "?"))?)
    }
}

impl Sql for Lite<'_> {
    fn execute(&mut self, statement: &str, values: &[Value<'_>]) -> Result<u64> {
        let changed = self
            .prepare(statement)?
            .execute(rusqlite::params_from_iter(values))?;
        Ok(changed as u64)
    }

    fn execute_each(&mut self, statement: &str, rows: &[Vec<Value<'_>>]) -> Result<()> {
        let mut prepared = self.prepare(statement)?;
        for row in rows {
            prepared.execute(rusqlite::params_from_iter(row))?;
        }
        Ok(())
    }

    fn query(&mut self, statement: &str, values: &[Value<'_>]) -> Result<Vec<Record>> {
        let mut prepared = self.prepare(statement)?;
        let columns = prepared.column_count();
        let mut rows = prepared.query(rusqlite::params_from_iter(values))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let cells = (0..columns)
                .map(|i| {
                    Ok(match row.get_ref(i)? {
                        ValueRef::Null => Cell::Null,
                        ValueRef::Integer(v) => Cell::Int(v),
                        ValueRef::Real(v) => Cell::Real(v),
                        ValueRef::Text(v) => Cell::Text(String::from_utf8_lossy(v).into_owned()),
                        ValueRef::Blob(v) => Cell::Bytes(v.to_vec()),
                    })
                })
                .collect::<Result<Vec<Cell>>>()?;
            out.push(Record(cells));
        }
        Ok(out)
    }

    fn id(&mut self, statement: &str, values: &[Value<'_>]) -> Result<Option<i64>> {
        Ok(self
            .prepare(statement)?
            .query_row(rusqlite::params_from_iter(values), |row| row.get(0))
            .optional()?)
    }
}

impl Sqlite {
    /// Records the start of a watch session.
    pub fn begin_session(&mut self, t: f64, settings: &Settings, simulated: bool) -> Result<i64> {
        sql::begin_session(&mut Lite(&self.conn), t, settings, simulated)
    }

    /// Records the end of a session.
    pub fn end_session(&mut self, id: i64, t: f64) -> Result<()> {
        sql::end_session(&mut Lite(&self.conn), id, t)
    }

    /// The id of a target, added if new.
    pub fn target(&mut self, url: &str, t: f64) -> Result<i64> {
        sql::target(&mut Lite(&self.conn), url, t)
    }

    /// Writes one observation in one transaction.
    pub fn write(&mut self, w: &SampleWrite<'_>) -> Result<Written> {
        let tx = self.conn.transaction()?;
        let (written, added) = sql::write(&mut Lite(&tx), &self.groups, w)?;
        tx.commit()?;
        // Only what was committed may be cached: a failed transaction rolled these back.
        for (signature, id) in added {
            self.groups.insert((w.target, signature), id);
        }
        Ok(written)
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
        let kept = Kept {
            target,
            process,
            sample,
            t,
        };
        sql::keep_latest(&mut Lite(&tx), &kept, body)?;
        tx.commit()?;
        Ok(())
    }
}
