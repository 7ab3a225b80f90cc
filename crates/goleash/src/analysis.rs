//! Classifying what was read: verdicts for every group, with the program's source when it is
//! on this machine.

use std::cell::{Cell, RefCell};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use goleash_core::classify::{self, AssessOptions, Assessment, Growth, Moment};
use goleash_core::diff::Row;
use goleash_core::exits::{GoFile, Lookup, SourceFiles, SourceLookup, Sources};
use goleash_core::model::CauseKind;
use goleash_core::{Capture, Snapshot};

use crate::source_map::{SourceMap, is_program_file};

/// The program's Go source as the analysis of exit conditions reads it: files found through
/// the [`SourceMap`], each read and parsed once.
pub struct FileSource {
    sources: Sources<Disk>,
    disabled: bool,
    /// Whether a file of the program's own code (not the standard library's, not a
    /// dependency's) was found here.
    found_program_file: Cell<bool>,
    /// The first file of the program's own code that was looked for and not found.
    missing_program_file: RefCell<Option<String>>,
}

/// The file system, through a [`SourceMap`].
struct Disk(SourceMap);

impl SourceFiles for Disk {
    fn candidates(&self, file: &str) -> Vec<PathBuf> {
        self.0.candidates(file)
    }

    fn read(&self, path: &Path, limit: u64) -> Result<Vec<u8>, String> {
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        // One byte past the limit tells the caller the file is larger.
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| e.to_string())?;
        Ok(bytes)
    }

    fn directory(&self, path: &Path) -> Vec<PathBuf> {
        let Some(dir) = path.parent() else {
            return Vec::new();
        };
        // A test binary's files see the package's tests; a program's do not.
        let tests = path.to_string_lossy().ends_with("_test.go");
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default();
                name.ends_with(".go") && (tests || !name.ends_with("_test.go")) && p.is_file()
            })
            .collect()
    }
}

impl Default for FileSource {
    fn default() -> Self {
        FileSource::new(false)
    }
}

impl FileSource {
    /// A reader of the files where the dump says they are; `disabled` turns source reading
    /// off (`--no-source`).
    pub fn new(disabled: bool) -> Self {
        FileSource::with_map(SourceMap::default(), disabled)
    }

    /// A reader that finds the files through `map` (`--source`).
    pub fn with_map(map: SourceMap, disabled: bool) -> Self {
        FileSource {
            sources: Sources::new(Disk(map)),
            disabled,
            found_program_file: Cell::new(false),
            missing_program_file: RefCell::new(None),
        }
    }

    /// What to tell the user when none of the program's files the analysis looked for was
    /// found: without them, the ways out of each wait and the fixes read from the code are
    /// missing, and nothing else would say so. `None` once any was found, or when source
    /// reading is off.
    pub fn note(&self) -> Option<String> {
        if self.disabled || self.found_program_file.get() {
            return None;
        }
        let missing = self.missing_program_file.borrow().clone()?;
        let dirs = self.map().checkout_dirs();
        Some(if dirs.is_empty() {
            format!(
                "none of the program's files is here (such as {missing}): `--source DIR`, a \
                 checkout of the program, adds the ways out of each wait and the fixes read from \
                 its code"
            )
        } else {
            let named: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            format!(
                "none of the program's files is in {} (such as {missing}): point \
                 `--source` at the checkout the binary was built from (the directory of its \
                 go.mod)",
                named.join(", ")
            )
        })
    }

    /// Where the files of the dumps are.
    pub fn map(&self) -> &SourceMap {
        &self.sources.files().0
    }

    /// Prints the warnings about source files so far (too large, unreadable, not Go) to
    /// stderr: they never stop a command.
    pub fn report_warnings(&self) {
        for warning in self.sources.take_warnings() {
            eprintln!("goleash: warning: source {warning}");
        }
    }
}

impl SourceLookup for FileSource {
    fn frame_file(&self, file: &str, function: &str, line: u32) -> Lookup {
        if self.disabled {
            return Lookup::Missing;
        }
        let lookup = self.sources.frame_file(file, function, line);
        if is_program_file(file) {
            match lookup {
                Lookup::Missing => {
                    let mut missing = self.missing_program_file.borrow_mut();
                    missing.get_or_insert_with(|| file.to_string());
                }
                Lookup::Found(_) | Lookup::Mismatch(_) => self.found_program_file.set(true),
            }
        }
        lookup
    }

    fn package(&self, file: &GoFile) -> Rc<[Rc<GoFile>]> {
        self.sources.package(file)
    }
}

/// The moment a dump was taken at, from what printed it: goleak checks and test timeouts
/// happen when the goroutines they list should be gone.
pub fn moment_of(snapshot: &Snapshot, quiescent: bool) -> Moment {
    match snapshot.info.cause.kind {
        _ if quiescent => Moment::Quiescent,
        CauseKind::Goleak | CauseKind::TestTimeout => Moment::Quiescent,
        _ => Moment::Live,
    }
}

/// Assessments for every group of a snapshot; `growth` gives each group's change since an
/// earlier snapshot, when there is one.
pub fn assess_snapshot(
    capture: &Capture,
    snapshot: &Snapshot,
    growth: &dyn Fn(usize) -> Option<Growth>,
    quiescent: bool,
    source: &FileSource,
) -> Vec<Assessment> {
    let options = AssessOptions {
        moment: moment_of(snapshot, quiescent),
        baseline_servers: None,
    };
    classify::assess_all(&capture.tables, snapshot, growth, &options, source)
}

/// Assessments for the groups of `snapshot`, the later of two that `rows` compare, each
/// judged with the growth of its stack.
pub fn assess_growth(
    (capture, snapshot): (&Capture, &Snapshot),
    baseline: (&Capture, &Snapshot),
    rows: &[Row],
    quiescent: bool,
    source: &FileSource,
) -> Vec<(Assessment, Option<Growth>)> {
    let mut growth_of = vec![None; snapshot.groups.len()];
    for row in rows {
        for &i in &row.after {
            growth_of[i] = Some(row.growth());
        }
    }
    let options = AssessOptions {
        moment: moment_of(snapshot, quiescent),
        baseline_servers: Some(classify::server_goroutines(&baseline.0.tables, baseline.1)),
    };
    classify::assess_all(
        &capture.tables,
        snapshot,
        &|i| growth_of[i],
        &options,
        source,
    )
    .into_iter()
    .zip(growth_of)
    .collect()
}

/// Assessments for every snapshot of a capture, each judged on its own.
pub fn assess_capture(
    capture: &Capture,
    quiescent: bool,
    source: &FileSource,
) -> Vec<Vec<Assessment>> {
    capture
        .snapshots
        .iter()
        .map(|s| assess_snapshot(capture, s, &|_| None, quiescent, source))
        .collect()
}
