//! Reads a race detector report, from `WARNING: DATA RACE` to the closing rule: sections
//! like `Write at 0x… by goroutine 7:` with the stack of each.

use std::io;

use crate::intern::{FrameId, Tables};
use crate::model::{RaceReport, RaceSection, RaceSectionKind};
use crate::parse::text::Step;
use crate::parse::text::dump::Prefix;
use crate::parse::{Sink, race, traceback};

#[derive(Default)]
pub(super) struct RaceReader {
    /// The report being read.
    report: Option<RaceReport>,
    /// The section being read: its title, kind and goroutine.
    title: Option<(String, RaceSectionKind, Option<u64>)>,
    frames: Vec<FrameId>,
    /// The function of the last frame, whose file line may come next.
    function: Vec<u8>,
    /// What stands before the report on each of its lines in a log.
    prefix: Prefix,
    /// Reports handed to the sink so far.
    pub reports: u64,
}

impl RaceReader {
    /// Starts a report at its `WARNING: DATA RACE` line, whose lines carry `prefix`.
    pub fn begin(&mut self, offset: u64, prefix: &[u8]) {
        self.prefix = Prefix {
            bytes: prefix.to_vec(),
        };
        self.report = Some(RaceReport {
            sections: Vec::new(),
            offset,
        });
    }

    pub fn line(&mut self, line: &[u8], tables: &mut Tables) -> Step {
        let Some(text) = self.prefix.strip(line) else {
            return Step::Ended;
        };
        if text == race::RULE {
            return Step::Last;
        }
        // A report that lacks its closing rule ends where a goroutine dump begins.
        if memchr::memmem::find_iter(line, b"goroutine ")
            .any(|at| traceback::parse_header(&line[at..]).is_some())
        {
            return Step::Ended;
        }
        if text.is_empty() {
            self.finish_section(tables);
            return Step::Taken;
        }
        if let Some((title, kind, goroutine)) = race::parse_title(text) {
            self.finish_section(tables);
            self.title = Some((String::from_utf8_lossy(title).into_owned(), kind, goroutine));
            return Step::Taken;
        }
        if self.title.is_some() {
            if let Some(function) = race::parse_function(text) {
                self.function.clear();
                self.function.extend_from_slice(function);
                let frame = traceback::intern_bare_frame(tables, function, false);
                self.frames.push(frame);
                return Step::Taken;
            }
            if let Some(file_line) = traceback::parse_file_line(text) {
                if let Some(last) = self.frames.last_mut() {
                    *last = traceback::intern_frame(tables, &self.function, false, &file_line);
                }
                return Step::Taken;
            }
            if text.starts_with(b"  ") {
                // `  [failed to restore the stack]` and the like.
                return Step::Taken;
            }
        }
        Step::Ended
    }

    fn finish_section(&mut self, tables: &mut Tables) {
        if let Some((title, kind, goroutine)) = self.title.take() {
            let stack = tables.stack(&self.frames);
            self.frames.clear();
            if let Some(report) = self.report.as_mut() {
                report.sections.push(RaceSection {
                    title,
                    kind,
                    goroutine,
                    stack,
                });
            }
        }
    }

    /// Ends the report and hands it to the sink.
    pub fn end(&mut self, tables: &mut Tables, sink: &mut dyn Sink) -> io::Result<()> {
        self.finish_section(tables);
        match self.report.take() {
            Some(report) => {
                self.reports += 1;
                sink.race(tables, report)
            }
            None => Ok(()),
        }
    }
}
