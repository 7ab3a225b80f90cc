//! Writing the history: one transaction per sample.

use anyhow::{Context, Result};
use goleash_core::Signature;
use rusqlite::{Transaction, params};

use super::codes::{
    alert_verdict_code, blocking_code, profile_code, role_code, settings_code, signature_code,
    source_code, verdict_code,
};
use super::{ProcessRef, SampleWrite, Sqlite, Written};
use crate::history::{DumpRole, GroupMeta, Profile, Settings};

impl Sqlite {
    /// Records the start of a watch session.
    pub fn begin_session(&mut self, t: f64, settings: &Settings, simulated: bool) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO sessions (started, settings, simulated) VALUES (?1, ?2, ?3)",
            params![t, settings_code(settings), simulated],
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
                source_code(w.source),
                w.cost_ms
            ],
        )?;
        let sample = tx.last_insert_rowid();
        let mut added = Vec::new();
        for g in w.new_groups {
            if self.groups.contains_key(&(w.target, g.signature)) {
                continue;
            }
            added.push((g.signature, insert_group(&tx, w.target, w.t, g)?));
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
                params![verdict_code(v.verdict), v.why, v.pattern, v.hint, group],
            )?;
        }
        for d in w.dumps {
            insert_dump(
                &tx, w.target, process, sample, w.t, d.profile, d.debug, d.role, &d.reason, &d.body,
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
                    a.signature.map(signature_code),
                    alert_verdict_code(a.verdict),
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
        insert_dump(
            &tx,
            target,
            process,
            sample,
            t,
            Profile::Goroutine,
            0,
            DumpRole::Latest,
            "the latest profile",
            body,
        )?;
        tx.commit()?;
        Ok(())
    }
}

pub(super) fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 8),
        flate2::Compression::fast(),
    );
    encoder.write_all(body)?;
    encoder.finish()
}

/// Describes a stack seen for the first time, unless a row already does; its id.
fn insert_group(tx: &Transaction<'_>, target: i64, t: f64, g: &GroupMeta) -> Result<i64> {
    let site = g.site.as_ref();
    let creator = g.created_by.as_ref();
    let inserted = tx.execute(
        "INSERT INTO groups (target_id, signature, first_seen, blocking, site_function,
                             site_file, site_line, site_source, creator_function, creator_file,
                             creator_line, verdict, why, pattern, hint)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
         ON CONFLICT (target_id, signature) DO NOTHING",
        params![
            target,
            signature_code(g.signature),
            t,
            blocking_code(g.blocking),
            site.map(|s| &s.function),
            site.map(|s| &s.file),
            site.map(|s| s.line),
            site.and_then(|s| s.source.as_ref()),
            creator.map(|c| &c.function),
            creator.map(|c| &c.file),
            creator.map(|c| c.line),
            verdict_code(g.verdict),
            g.why,
            g.pattern,
            g.hint
        ],
    )?;
    let id: i64 = tx.query_row(
        "SELECT id FROM groups WHERE target_id = ?1 AND signature = ?2",
        params![target, signature_code(g.signature)],
        |row| row.get(0),
    )?;
    if inserted == 0 {
        return Ok(id);
    }
    let mut frame = tx.prepare_cached(
        "INSERT INTO group_frames (group_id, depth, function, file, line, offset, inlined)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (depth, f) in g.frames.iter().enumerate() {
        frame.execute(params![
            id,
            depth as i64,
            f.function,
            f.file,
            f.line,
            f.offset,
            f.inlined
        ])?;
    }
    Ok(id)
}

/// Keeps a body; a `latest` one replaces the target's previous latest.
#[allow(clippy::too_many_arguments)]
fn insert_dump(
    tx: &Transaction<'_>,
    target: i64,
    process: i64,
    sample: i64,
    t: f64,
    profile: Profile,
    debug: u8,
    role: DumpRole,
    reason: &str,
    body: &[u8],
) -> Result<()> {
    if role == DumpRole::Latest {
        tx.execute(
            "DELETE FROM dumps WHERE target_id = ?1 AND role = ?2",
            params![target, role_code(DumpRole::Latest)],
        )?;
    }
    tx.execute(
        "INSERT INTO dumps (target_id, process_id, sample_id, t, profile, debug, role, reason,
                            size, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            target,
            process,
            sample,
            t,
            profile_code(profile),
            debug,
            role_code(role),
            reason,
            body.len() as i64,
            gzip(body)?
        ],
    )?;
    Ok(())
}
