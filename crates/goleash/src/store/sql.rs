//! The statements that write the history, once for both databases: SQLite and PostgreSQL
//! have the same tables and columns, and differ only in how a statement is run, which each
//! says as a [`Sql`].
//!
//! Statements are written with PostgreSQL's `$1` placeholders; SQLite reads them as its
//! numbered `?1`.

use std::collections::HashMap;

use anyhow::{Context, Result};
use goleash_core::Signature;

use super::codes::{
    alert_verdict_code, blocking_code, profile_code, role_code, settings_code, signature_code,
    source_code, verdict_code,
};
use super::queries::Record;
use super::{ProcessRef, SampleWrite, Written};
use crate::history::{DumpRole, GroupMeta, Profile, Settings};

/// A value bound to a placeholder, in the types both databases store.
#[derive(Clone, Copy, Debug)]
pub(super) enum Value<'a> {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<&'a str>),
    Bool(bool),
    Bytes(&'a [u8]),
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}

impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Value::Real(Some(v))
    }
}

impl From<Option<f64>> for Value<'_> {
    fn from(v: Option<f64>) -> Self {
        Value::Real(v)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(Some(v))
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Value::Text(v)
    }
}

impl<'a> From<&'a Option<String>> for Value<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Value::Text(v.as_deref())
    }
}

impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(v: &'a [u8]) -> Self {
        Value::Bytes(v)
    }
}

/// The values of a statement's placeholders, in order.
macro_rules! values {
    ($($v:expr),* $(,)?) => {
        &[$(Value::from($v)),*]
    };
}

/// How a database runs the history's statements (a connection, or a transaction).
pub(super) trait Sql {
    /// Runs a statement; the rows it changed.
    fn execute(&mut self, sql: &str, values: &[Value<'_>]) -> Result<u64>;

    /// Runs a statement once per set of values (prepared once where that saves a trip).
    fn execute_each(&mut self, sql: &str, rows: &[Vec<Value<'_>>]) -> Result<()>;

    /// Runs a statement that returns at most one row, of one id (`RETURNING id`).
    fn id(&mut self, sql: &str, values: &[Value<'_>]) -> Result<Option<i64>>;

    /// Runs a query; its rows.
    fn query(&mut self, sql: &str, values: &[Value<'_>]) -> Result<Vec<Record>>;
}

/// Records the start of a watch session.
pub(super) fn begin_session(
    sql: &mut dyn Sql,
    t: f64,
    settings: &Settings,
    simulated: bool,
) -> Result<i64> {
    let settings = settings_code(settings);
    sql.id(
        "INSERT INTO sessions (started, settings, simulated) VALUES ($1, $2, $3) RETURNING id",
        values![t, &settings, simulated],
    )?
    .context("the new session has no id")
}

/// Records the end of a session.
pub(super) fn end_session(sql: &mut dyn Sql, id: i64, t: f64) -> Result<()> {
    sql.execute(
        "UPDATE sessions SET stopped = $1 WHERE id = $2",
        values![t, id],
    )?;
    Ok(())
}

/// The id of a target, added if new.
pub(super) fn target(sql: &mut dyn Sql, url: &str, t: f64) -> Result<i64> {
    sql.execute(
        "INSERT INTO targets (url, added) VALUES ($1, $2) ON CONFLICT (url) DO NOTHING",
        values![url, t],
    )?;
    sql.id("SELECT id FROM targets WHERE url = $1", values![url])?
        .with_context(|| format!("target {url} was not recorded"))
}

/// Writes one observation; `known` holds the group ids committed so far. The ids written,
/// and the groups added (to be known once the transaction commits).
pub(super) fn write(
    sql: &mut dyn Sql,
    known: &HashMap<(i64, Signature), i64>,
    w: &SampleWrite<'_>,
) -> Result<(Written, Vec<(Signature, i64)>)> {
    let process = match &w.process {
        ProcessRef::Known(id) => *id,
        ProcessRef::New { reason, start_time } => sql
            .id(
                "INSERT INTO processes (target_id, seen, start_time, reason)
                 VALUES ($1, $2, $3, $4) RETURNING id",
                values![w.target, w.t, *start_time, reason],
            )?
            .context("the new process has no id")?,
    };
    let sample = sql
        .id(
            "INSERT INTO samples (target_id, process_id, session_id, t, goroutines, source, cost_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            values![
                w.target,
                process,
                w.session,
                w.t,
                w.goroutines as i64,
                source_code(w.source),
                w.cost_ms
            ],
        )?
        .context("the new sample has no id")?;
    let mut added = Vec::new();
    for g in w.new_groups {
        if known.contains_key(&(w.target, g.signature)) {
            continue;
        }
        added.push((g.signature, insert_group(sql, w.target, w.t, g)?));
    }
    let id_of = |signature: Signature| {
        known
            .get(&(w.target, signature))
            .copied()
            .or_else(|| added.iter().find(|a| a.0 == signature).map(|a| a.1))
    };
    let counts = w
        .counts
        .iter()
        .map(|&(signature, count)| {
            let group = id_of(signature).with_context(|| {
                format!("group {signature} has a count but was never described")
            })?;
            Ok(vec![
                Value::from(sample),
                Value::from(group),
                Value::from(count as i64),
            ])
        })
        .collect::<Result<Vec<_>>>()?;
    if !counts.is_empty() {
        sql.execute_each(
            "INSERT INTO group_counts (sample_id, group_id, count) VALUES ($1, $2, $3)",
            &counts,
        )?;
    }
    for v in w.verdicts {
        let Some(group) = id_of(v.signature) else {
            continue;
        };
        sql.execute(
            "UPDATE groups SET verdict = $1, why = $2, pattern = $3, hint = $4 WHERE id = $5",
            values![verdict_code(v.verdict), &v.why, &v.pattern, &v.hint, group],
        )?;
    }
    for d in w.dumps {
        let kept = Kept {
            target: w.target,
            process,
            sample,
            t: w.t,
        };
        insert_dump(sql, &kept, d.profile, d.debug, d.role, &d.reason, &d.body)?;
    }
    for a in w.alerts {
        let signature = a.signature.map(signature_code);
        sql.execute(
            "INSERT INTO alerts (target_id, process_id, t, signature, verdict, why,
                                 slope_per_minute, p_value, count_before, count_after)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            values![
                w.target,
                process,
                w.t,
                &signature,
                alert_verdict_code(a.verdict),
                &a.why,
                a.slope_per_minute,
                a.p_value,
                a.count_before.map(|c| c as i64),
                a.count_after.map(|c| c as i64)
            ],
        )?;
    }
    Ok((Written { sample, process }, added))
}

/// Keeps `body` (a `debug=0` profile of sample `sample`) as the target's latest profile,
/// replacing the previous one.
pub(super) fn keep_latest(sql: &mut dyn Sql, kept: &Kept, body: &[u8]) -> Result<()> {
    insert_dump(
        sql,
        kept,
        Profile::Goroutine,
        0,
        DumpRole::Latest,
        "the latest profile",
        body,
    )
}

/// Whose a kept body is: the target, process and sample it was taken at, and when.
pub(super) struct Kept {
    pub target: i64,
    pub process: i64,
    pub sample: i64,
    pub t: f64,
}

/// Describes a stack seen for the first time, unless a row already does; its id.
fn insert_group(sql: &mut dyn Sql, target: i64, t: f64, g: &GroupMeta) -> Result<i64> {
    let site = g.site.as_ref();
    let creator = g.created_by.as_ref();
    let signature = signature_code(g.signature);
    let inserted = sql.id(
        "INSERT INTO groups (target_id, signature, first_seen, blocking, site_function,
                             site_file, site_line, site_source, creator_function, creator_file,
                             creator_line, verdict, why, pattern, hint)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (target_id, signature) DO NOTHING RETURNING id",
        values![
            target,
            &signature,
            t,
            blocking_code(g.blocking),
            site.map(|s| s.function.as_str()),
            site.map(|s| s.file.as_str()),
            site.map(|s| i64::from(s.line)),
            site.and_then(|s| s.source.as_deref()),
            creator.map(|c| c.function.as_str()),
            creator.map(|c| c.file.as_str()),
            creator.map(|c| i64::from(c.line)),
            verdict_code(g.verdict),
            &g.why,
            &g.pattern,
            &g.hint
        ],
    )?;
    let Some(id) = inserted else {
        return sql
            .id(
                "SELECT id FROM groups WHERE target_id = $1 AND signature = $2",
                values![target, &signature],
            )?
            .with_context(|| format!("group {signature} is neither new nor recorded"));
    };
    let frames: Vec<Vec<Value<'_>>> = g
        .frames
        .iter()
        .enumerate()
        .map(|(depth, f)| {
            vec![
                Value::from(id),
                Value::from(depth as i64),
                Value::from(&f.function),
                Value::from(&f.file),
                Value::from(i64::from(f.line)),
                Value::from(f.offset.map(i64::from)),
                Value::from(f.inlined),
            ]
        })
        .collect();
    if !frames.is_empty() {
        sql.execute_each(
            "INSERT INTO group_frames (group_id, depth, function, file, line, \"offset\", inlined)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &frames,
        )?;
    }
    Ok(id)
}

/// Keeps a body; a `latest` one replaces the target's previous latest.
fn insert_dump(
    sql: &mut dyn Sql,
    kept: &Kept,
    profile: Profile,
    debug: u8,
    role: DumpRole,
    reason: &str,
    body: &[u8],
) -> Result<()> {
    if role == DumpRole::Latest {
        sql.execute(
            "DELETE FROM dumps WHERE target_id = $1 AND role = $2",
            values![kept.target, role_code(DumpRole::Latest)],
        )?;
    }
    let compressed = gzip(body)?;
    sql.execute(
        "INSERT INTO dumps (target_id, process_id, sample_id, t, profile, debug, role, reason,
                            size, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        values![
            kept.target,
            kept.process,
            kept.sample,
            kept.t,
            profile_code(profile),
            i64::from(debug),
            role_code(role),
            reason,
            body.len() as i64,
            &compressed[..]
        ],
    )?;
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
