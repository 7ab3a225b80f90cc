//! Reads the records of a `?debug=1` profile: a count and PCs per distinct stack, then
//! `# labels:` and one `#\t0xPC\tfunction+0xoff\tfile:line` line per frame.

use std::io;

use crate::intern::Tables;
use crate::model::{Cause, DumpInfo, Format, Profile, Warning};
use crate::parse::lines::Line;
use crate::parse::text::Step;
use crate::parse::text::dump::Dump;
use crate::parse::{Sink, debug1};

#[derive(Default)]
pub(super) struct Debug1Dump {
    /// The PC of the last frame line of the record.
    last_pc: Option<u64>,
}

impl Debug1Dump {
    /// Starts a profile at its `goroutine profile: total N` header, read as `(profile, total)`.
    pub fn begin(
        &mut self,
        dump: &mut Dump,
        prefix: Vec<u8>,
        (profile, total): (Profile, u64),
        offset: u64,
    ) {
        let info = DumpInfo {
            format: Format::Debug1,
            profile,
            cause: Cause::default(),
            declared_total: Some(total),
            time_nanos: None,
            offset,
            prefix: None,
        };
        dump.open(info, prefix);
    }

    #[inline]
    pub fn line(
        &mut self,
        dump: &mut Dump,
        line: &Line<'_>,
        tables: &mut Tables,
        sink: &mut dyn Sink,
    ) -> io::Result<Step> {
        let Some(text) = dump.prefix.strip(line.text) else {
            return Ok(Step::Ended);
        };
        if text.is_empty() {
            dump.finish_record(false, tables, sink)?;
            return Ok(Step::Taken);
        }
        if text.first().is_some_and(u8::is_ascii_digit) {
            dump.finish_record(false, tables, sink)?;
            dump.record.clear();
            self.last_pc = None;
            if let Some(count) = debug1::parse_record_header(text, &mut dump.record.pcs) {
                dump.record.count = count;
                dump.record.offset = line.offset;
                dump.record.line = line.number;
                dump.record_open = true;
                return Ok(Step::Taken);
            }
            return Ok(Step::Ended);
        }
        if dump.record_open && text.starts_with(b"# labels: ") {
            match debug1::parse_labels_line(tables, text) {
                Some(labels) => dump.record.labels = labels,
                None => sink.warning(Warning {
                    offset: line.offset,
                    line: Some(line.number),
                    message: "labels that do not parse; the record is kept without them".into(),
                })?,
            }
            return Ok(Step::Taken);
        }
        if dump.record_open
            && let Some(frame_line) = debug1::parse_frame_line(text)
        {
            if !frame_line.symbolized.is_empty() {
                self.frame(dump, frame_line, line, tables, sink)?;
            }
            return Ok(Step::Taken);
        }
        Ok(Step::Ended)
    }

    fn frame(
        &mut self,
        dump: &mut Dump,
        frame_line: debug1::FrameLine<'_>,
        line: &Line<'_>,
        tables: &mut Tables,
        sink: &mut dyn Sink,
    ) -> io::Result<()> {
        // An inlined call repeats its caller's PC: every frame but the last of a same-PC run
        // is inlined. So a frame is known to be inlined only when the next one arrives.
        if self.last_pc == Some(frame_line.pc)
            && let Some(last) = dump.record.frames.last_mut()
        {
            let mut frame = tables.get_frame(*last).clone();
            frame.inlined = true;
            *last = tables.frame(frame);
        }
        self.last_pc = Some(frame_line.pc);
        match debug1::intern_frame(tables, frame_line.symbolized, false) {
            Some(frame) => {
                dump.record.push_frame(frame, b"", None);
                Ok(())
            }
            None => sink.warning(Warning {
                offset: line.offset,
                line: Some(line.number),
                message: "a frame line that does not parse; skipped".into(),
            }),
        }
    }

    pub fn end(
        &mut self,
        dump: &mut Dump,
        tables: &mut Tables,
        sink: &mut dyn Sink,
    ) -> io::Result<()> {
        dump.finish_record(false, tables, sink)?;
        dump.close(tables, sink)
    }
}
