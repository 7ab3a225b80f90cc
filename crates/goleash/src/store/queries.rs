//! The queries that read the history back, once for both databases (as [`super::sql`] is
//! for writing it): for a report, and for a watch that continues it.

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use goleash_core::Signature;

use super::codes::{
    alert_verdict_of, blocking_of, profile_of, role_of, settings_of, signature_of, source_of,
    verdict_of,
};
use super::sql::{Sql, Value};
use super::{AlertRow, DumpRow, GroupRow, ProcessRow, Resume, SampleRow, SessionRow, TargetRow};
use crate::history::{AlertRecord, Creator, Frame, GroupMeta, Site};

/// A value read from a column.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
    Bool(bool),
}

/// One row read, its columns in the order the query names them.
pub(super) struct Record(pub Vec<Cell>);

impl Record {
    fn cell(&self, i: usize) -> Result<&Cell> {
        self.0.get(i).with_context(|| format!("no column {i}"))
    }

    fn wrong<T>(&self, i: usize, wanted: &str) -> Result<T> {
        bail!("column {i}: {wanted} expected, found {:?}", self.0.get(i))
    }

    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            Cell::Int(v) => Ok(Some(*v)),
            _ => self.wrong(i, "an integer"),
        }
    }

    fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?
            .with_context(|| format!("column {i} is NULL"))
    }

    fn count(&self, i: usize) -> Result<u64> {
        Ok(self.int(i)? as u64)
    }

    fn line(&self, i: usize) -> Result<u32> {
        Ok(self.int(i)? as u32)
    }

    fn opt_real(&self, i: usize) -> Result<Option<f64>> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            Cell::Real(v) => Ok(Some(*v)),
            // SQLite keeps a whole number in a REAL column as it was written.
            Cell::Int(v) => Ok(Some(*v as f64)),
            _ => self.wrong(i, "a number"),
        }
    }

    fn real(&self, i: usize) -> Result<f64> {
        self.opt_real(i)?
            .with_context(|| format!("column {i} is NULL"))
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            Cell::Text(v) => Ok(Some(v.clone())),
            _ => self.wrong(i, "text"),
        }
    }

    fn text(&self, i: usize) -> Result<String> {
        self.opt_text(i)?
            .with_context(|| format!("column {i} is NULL"))
    }

    fn bool(&self, i: usize) -> Result<bool> {
        match self.cell(i)? {
            Cell::Bool(v) => Ok(*v),
            // SQLite has no booleans: 0 and 1.
            Cell::Int(v) => Ok(*v != 0),
            _ => self.wrong(i, "a boolean"),
        }
    }

    fn bytes(&self, i: usize) -> Result<Vec<u8>> {
        match self.cell(i)? {
            Cell::Bytes(v) => Ok(v.clone()),
            _ => self.wrong(i, "bytes"),
        }
    }

    /// A column that holds one of the store's codes, decoded.
    fn code<T>(&self, i: usize, column: &str, decode: fn(&str) -> Option<T>) -> Result<T> {
        let code = self.text(i)?;
        decode(&code).with_context(|| format!("{column}: unknown code {code:?}"))
    }

    fn opt_code<T>(
        &self,
        i: usize,
        column: &str,
        decode: fn(&str) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.opt_text(i)? {
            Some(code) => decode(&code)
                .map(Some)
                .with_context(|| format!("{column}: unknown code {code:?}")),
            None => Ok(None),
        }
    }
}

/// The rows a query returns, each made into a `T`.
fn rows<T>(
    sql: &mut dyn Sql,
    statement: &str,
    values: &[Value<'_>],
    each: impl Fn(&Record) -> Result<T>,
) -> Result<Vec<T>> {
    sql.query(statement, values)?.iter().map(each).collect()
}

/// What a watch needs to continue a target's history: the latest process with at most
/// `max_samples` of its samples and `max_profiles` of its samples with group counts.
pub(super) fn resume(
    sql: &mut dyn Sql,
    target: i64,
    max_samples: usize,
    max_profiles: usize,
) -> Result<Resume> {
    let last_t = rows(
        sql,
        "SELECT max(t) FROM samples WHERE target_id = $1",
        &[Value::from(target)],
        |r| r.opt_real(0),
    )?;
    let mut resume = Resume {
        groups: groups_of(sql, target)?,
        last_t: last_t.into_iter().next().flatten(),
        ..Resume::default()
    };
    let Some(process) = rows(
        sql,
        "SELECT id, seen, start_time, reason FROM processes WHERE target_id = $1
         ORDER BY id DESC LIMIT 1",
        &[Value::from(target)],
        process_row,
    )?
    .pop() else {
        return Ok(resume);
    };
    let mut samples = rows(
        sql,
        "SELECT t, goroutines FROM samples WHERE process_id = $1 ORDER BY t DESC LIMIT $2",
        &[Value::from(process.id), Value::from(max_samples as i64)],
        |r| Ok((r.real(0)?, r.count(1)?)),
    )?;
    samples.reverse();
    resume.samples = samples;
    let mut profiles = rows(
        sql,
        "SELECT s.id, s.t FROM samples s WHERE s.process_id = $1
           AND EXISTS (SELECT 1 FROM group_counts c WHERE c.sample_id = s.id)
         ORDER BY s.t DESC LIMIT $2",
        &[Value::from(process.id), Value::from(max_profiles as i64)],
        |r| Ok((r.int(0)?, r.real(1)?)),
    )?;
    profiles.reverse();
    let position: HashMap<i64, usize> = profiles
        .iter()
        .enumerate()
        .map(|(i, &(id, _))| (id, i))
        .collect();
    let signature_by_group: HashMap<i64, Signature> = resume
        .groups
        .iter()
        .map(|g| (g.id, g.meta.signature))
        .collect();
    let mut series: HashMap<Signature, Vec<u64>> = HashMap::new();
    if let Some(&(_, first_t)) = profiles.first() {
        let counts = rows(
            sql,
            "SELECT c.sample_id, c.group_id, c.count FROM group_counts c
             JOIN samples s ON s.id = c.sample_id
             WHERE s.process_id = $1 AND s.t >= $2",
            &[Value::from(process.id), Value::from(first_t)],
            |r| Ok((r.int(0)?, r.int(1)?, r.count(2)?)),
        )?;
        for (sample, group, count) in counts {
            let (Some(&i), Some(&signature)) =
                (position.get(&sample), signature_by_group.get(&group))
            else {
                continue;
            };
            series
                .entry(signature)
                .or_insert_with(|| vec![0; profiles.len()])[i] = count;
        }
    }
    let mut group_counts: Vec<(Signature, Vec<u64>)> = series.into_iter().collect();
    group_counts.sort_by_key(|(s, _)| *s);
    resume.group_counts = group_counts;
    resume.profile_times = profiles.iter().map(|p| p.1).collect();
    resume.alerted = rows(
        sql,
        "SELECT DISTINCT signature FROM alerts WHERE process_id = $1",
        &[Value::from(process.id)],
        |r| r.opt_code(0, "alerts.signature", signature_of),
    )?;
    resume.process = Some(process);
    Ok(resume)
}

/// Every target, oldest first.
pub(super) fn targets(sql: &mut dyn Sql) -> Result<Vec<TargetRow>> {
    rows(
        sql,
        "SELECT id, url, added FROM targets ORDER BY id",
        &[],
        |r| {
            Ok(TargetRow {
                id: r.int(0)?,
                url: r.text(1)?,
                added: r.real(2)?,
            })
        },
    )
}

/// Every session, oldest first.
pub(super) fn sessions(sql: &mut dyn Sql) -> Result<Vec<SessionRow>> {
    rows(
        sql,
        "SELECT id, started, stopped, settings, simulated FROM sessions ORDER BY id",
        &[],
        |r| {
            Ok(SessionRow {
                id: r.int(0)?,
                started: r.real(1)?,
                stopped: r.opt_real(2)?,
                settings: settings_of(&r.text(3)?),
                simulated: r.bool(4)?,
            })
        },
    )
}

/// The processes of a target, oldest first.
pub(super) fn processes(sql: &mut dyn Sql, target: i64) -> Result<Vec<ProcessRow>> {
    rows(
        sql,
        "SELECT id, seen, start_time, reason FROM processes WHERE target_id = $1 ORDER BY id",
        &[Value::from(target)],
        process_row,
    )
}

/// The samples of a target, in time order.
pub(super) fn samples(sql: &mut dyn Sql, target: i64) -> Result<Vec<SampleRow>> {
    rows(
        sql,
        "SELECT id, process_id, t, goroutines, source FROM samples WHERE target_id = $1
         ORDER BY t, id",
        &[Value::from(target)],
        |r| {
            Ok(SampleRow {
                id: r.int(0)?,
                process: r.int(1)?,
                t: r.real(2)?,
                goroutines: r.count(3)?,
                source: r.code(4, "samples.source", source_of)?,
            })
        },
    )
}

/// Every group of a target, by id.
pub(super) fn groups_of(sql: &mut dyn Sql, target: i64) -> Result<Vec<GroupRow>> {
    let mut frames: HashMap<i64, Vec<Frame>> = HashMap::new();
    let all = rows(
        sql,
        "SELECT f.group_id, f.function, f.file, f.line, f.\"offset\", f.inlined
         FROM group_frames f JOIN groups g ON g.id = f.group_id
         WHERE g.target_id = $1 ORDER BY f.group_id, f.depth",
        &[Value::from(target)],
        |r| {
            Ok((
                r.int(0)?,
                Frame {
                    function: r.text(1)?,
                    file: r.text(2)?,
                    line: r.line(3)?,
                    offset: r.opt_int(4)?.map(|o| o as u32),
                    inlined: r.bool(5)?,
                },
            ))
        },
    )?;
    for (group, frame) in all {
        frames.entry(group).or_default().push(frame);
    }
    rows(
        sql,
        "SELECT id, first_seen, signature, blocking, site_function, site_file, site_line,
                site_source, creator_function, creator_file, creator_line, verdict, why,
                pattern, hint
         FROM groups WHERE target_id = $1 ORDER BY id",
        &[Value::from(target)],
        |r| {
            let id = r.int(0)?;
            let site = match r.opt_text(4)? {
                Some(function) => Some(Site {
                    function,
                    file: r.text(5)?,
                    line: r.line(6)?,
                    source: r.opt_text(7)?,
                }),
                None => None,
            };
            let created_by = match r.opt_text(8)? {
                Some(function) => Some(Creator {
                    function,
                    file: r.text(9)?,
                    line: r.line(10)?,
                }),
                None => None,
            };
            Ok(GroupRow {
                id,
                first_seen: r.real(1)?,
                meta: GroupMeta {
                    signature: r.code(2, "groups.signature", signature_of)?,
                    blocking: r.code(3, "groups.blocking", blocking_of)?,
                    site,
                    frames: frames.get(&id).cloned().unwrap_or_default(),
                    created_by,
                    verdict: r.code(11, "groups.verdict", verdict_of)?,
                    why: r.text(12)?,
                    pattern: r.opt_text(13)?,
                    hint: r.opt_text(14)?,
                },
            })
        },
    )
}

/// The per-group counts of a target: (sample id, group id, count).
pub(super) fn group_counts(sql: &mut dyn Sql, target: i64) -> Result<Vec<(i64, i64, u64)>> {
    rows(
        sql,
        "SELECT c.sample_id, c.group_id, c.count FROM group_counts c
         JOIN samples s ON s.id = c.sample_id WHERE s.target_id = $1",
        &[Value::from(target)],
        |r| Ok((r.int(0)?, r.int(1)?, r.count(2)?)),
    )
}

/// The stored bodies of a target, without the bodies, in time order.
pub(super) fn dumps(sql: &mut dyn Sql, target: i64) -> Result<Vec<DumpRow>> {
    rows(
        sql,
        "SELECT id, process_id, sample_id, t, profile, debug, role, reason, size
         FROM dumps WHERE target_id = $1 ORDER BY t, id",
        &[Value::from(target)],
        |r| {
            Ok(DumpRow {
                id: r.int(0)?,
                process: r.int(1)?,
                sample: r.int(2)?,
                t: r.real(3)?,
                profile: r.code(4, "dumps.profile", profile_of)?,
                debug: r.int(5)? as u8,
                role: r.code(6, "dumps.role", role_of)?,
                reason: r.text(7)?,
                size: r.count(8)?,
            })
        },
    )
}

/// One stored body, decompressed.
pub(super) fn dump_body(sql: &mut dyn Sql, id: i64) -> Result<Vec<u8>> {
    let compressed = rows(
        sql,
        "SELECT body FROM dumps WHERE id = $1",
        &[Value::from(id)],
        |r| r.bytes(0),
    )?
    .pop()
    .with_context(|| format!("no stored dump {id}"))?;
    let mut body = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&compressed[..]),
        &mut body,
    )
    .with_context(|| format!("stored dump {id} is damaged"))?;
    Ok(body)
}

/// The alerts of a target, in time order.
pub(super) fn alerts(sql: &mut dyn Sql, target: i64) -> Result<Vec<AlertRow>> {
    rows(
        sql,
        "SELECT process_id, t, signature, verdict, why, slope_per_minute, p_value,
                count_before, count_after
         FROM alerts WHERE target_id = $1 ORDER BY t, id",
        &[Value::from(target)],
        |r| {
            Ok(AlertRow {
                process: r.int(0)?,
                t: r.real(1)?,
                alert: AlertRecord {
                    signature: r.opt_code(2, "alerts.signature", signature_of)?,
                    verdict: r.code(3, "alerts.verdict", alert_verdict_of)?,
                    why: r.text(4)?,
                    slope_per_minute: r.opt_real(5)?,
                    p_value: r.opt_real(6)?,
                    count_before: r.opt_int(7)?.map(|c| c as u64),
                    count_after: r.opt_int(8)?.map(|c| c as u64),
                },
            })
        },
    )
}

fn process_row(r: &Record) -> Result<ProcessRow> {
    Ok(ProcessRow {
        id: r.int(0)?,
        seen: r.real(1)?,
        start_time: r.opt_real(2)?,
        reason: r.text(3)?,
    })
}
