//! Reading the history back: for a report, and for a watch that continues it.

use std::collections::HashMap;

use anyhow::{Context, Result};
use goleash_core::Signature;
use rusqlite::{OptionalExtension, params};

use super::codes::{
    alert_verdict_of, blocking_of, decode, decode_nullable, profile_of, role_of, settings_of,
    signature_of, source_of, verdict_of,
};
use super::{
    AlertRow, DumpRow, GroupRow, ProcessRow, Resume, SampleRow, SessionRow, Sqlite, TargetRow,
};
use crate::history::{AlertRecord, Creator, Frame, GroupMeta, Site};

impl Sqlite {
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
        let signature_by_group: HashMap<i64, Signature> = resume
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
                    (position.get(&sample), signature_by_group.get(&group))
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
            .query_map(params![process.id], |row| {
                decode_nullable(row, 0, signature_of)
            })?
            .collect::<rusqlite::Result<_>>()?;
        resume.process = Some(process);
        Ok(resume)
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
                    settings: settings_of(&row.get::<_, String>(3)?),
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
                    source: decode(row, 4, source_of)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
    }

    /// Every group of a target, by id.
    pub fn groups_of(&self, target: i64) -> Result<Vec<GroupRow>> {
        let mut frames: HashMap<i64, Vec<Frame>> = HashMap::new();
        let mut statement = self.conn.prepare(
            "SELECT f.group_id, f.function, f.file, f.line, f.offset, f.inlined
             FROM group_frames f JOIN groups g ON g.id = f.group_id
             WHERE g.target_id = ?1 ORDER BY f.group_id, f.depth",
        )?;
        let rows = statement.query_map(params![target], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                Frame {
                    function: row.get(1)?,
                    file: row.get(2)?,
                    line: row.get(3)?,
                    offset: row.get(4)?,
                    inlined: row.get(5)?,
                },
            ))
        })?;
        for row in rows {
            let (group, frame) = row?;
            frames.entry(group).or_default().push(frame);
        }
        Ok(self
            .conn
            .prepare(
                "SELECT id, first_seen, signature, blocking, site_function, site_file, site_line,
                        site_source, creator_function, creator_file, creator_line, verdict, why,
                        pattern, hint
                 FROM groups WHERE target_id = ?1 ORDER BY id",
            )?
            .query_map(params![target], |row| {
                let id = row.get(0)?;
                let site = match row.get::<_, Option<String>>(4)? {
                    Some(function) => Some(Site {
                        function,
                        file: row.get(5)?,
                        line: row.get(6)?,
                        source: row.get(7)?,
                    }),
                    None => None,
                };
                let created_by = match row.get::<_, Option<String>>(8)? {
                    Some(function) => Some(Creator {
                        function,
                        file: row.get(9)?,
                        line: row.get(10)?,
                    }),
                    None => None,
                };
                Ok(GroupRow {
                    id,
                    first_seen: row.get(1)?,
                    meta: GroupMeta {
                        signature: decode(row, 2, signature_of)?,
                        blocking: decode(row, 3, blocking_of)?,
                        site,
                        frames: frames.remove(&id).unwrap_or_default(),
                        created_by,
                        verdict: decode(row, 11, verdict_of)?,
                        why: row.get(12)?,
                        pattern: row.get(13)?,
                        hint: row.get(14)?,
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
                    profile: decode(row, 4, profile_of)?,
                    debug: row.get(5)?,
                    role: decode(row, 6, role_of)?,
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
                Ok(AlertRow {
                    process: row.get(0)?,
                    t: row.get(1)?,
                    alert: AlertRecord {
                        signature: decode_nullable(row, 2, signature_of)?,
                        verdict: decode(row, 3, alert_verdict_of)?,
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
