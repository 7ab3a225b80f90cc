//! Reading the SQLite history back, with the queries of [`super::queries`].

use anyhow::Result;

use super::queries;
use super::write::Lite;
use super::{
    AlertRow, DumpRow, GroupRow, ProcessRow, Resume, SampleRow, SessionRow, Sqlite, TargetRow,
};

impl Sqlite {
    /// What a watch needs to continue a target's history: the latest process with at most
    /// `max_samples` of its samples and `max_profiles` of its samples with group counts.
    pub fn resume(
        &mut self,
        target: i64,
        max_samples: usize,
        max_profiles: usize,
    ) -> Result<Resume> {
        let resume = queries::resume(&mut Lite(&self.conn), target, max_samples, max_profiles)?;
        for g in &resume.groups {
            self.groups.insert((target, g.meta.signature), g.id);
        }
        Ok(resume)
    }

    /// Every target, oldest first.
    pub fn targets(&self) -> Result<Vec<TargetRow>> {
        queries::targets(&mut Lite(&self.conn))
    }

    /// Every session, oldest first.
    pub fn sessions(&self) -> Result<Vec<SessionRow>> {
        queries::sessions(&mut Lite(&self.conn))
    }

    /// The processes of a target, oldest first.
    pub fn processes(&self, target: i64) -> Result<Vec<ProcessRow>> {
        queries::processes(&mut Lite(&self.conn), target)
    }

    /// The samples of a target, in time order.
    pub fn samples(&self, target: i64) -> Result<Vec<SampleRow>> {
        queries::samples(&mut Lite(&self.conn), target)
    }

    /// Every group of a target, by id.
    pub fn groups_of(&self, target: i64) -> Result<Vec<GroupRow>> {
        queries::groups_of(&mut Lite(&self.conn), target)
    }

    /// The per-group counts of a target: (sample id, group id, count).
    pub fn group_counts(&self, target: i64) -> Result<Vec<(i64, i64, u64)>> {
        queries::group_counts(&mut Lite(&self.conn), target)
    }

    /// The stored bodies of a target, without the bodies, in time order.
    pub fn dumps(&self, target: i64) -> Result<Vec<DumpRow>> {
        queries::dumps(&mut Lite(&self.conn), target)
    }

    /// One stored body, decompressed.
    pub fn dump_body(&self, id: i64) -> Result<Vec<u8>> {
        queries::dump_body(&mut Lite(&self.conn), id)
    }

    /// The alerts of a target, in time order.
    pub fn alerts(&self, target: i64) -> Result<Vec<AlertRow>> {
        queries::alerts(&mut Lite(&self.conn), target)
    }
}
