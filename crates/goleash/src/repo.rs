//! Where the files a dump names are in the repository being checked: CI tools place
//! findings by paths relative to its root.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::source_map::SourceMap;

/// The repository root and the repository-relative path of each file that is in it.
#[derive(Clone, Debug, Default)]
pub struct Locations {
    /// The root, as an absolute directory.
    pub root: Option<PathBuf>,
    /// File as the dump names it → path relative to the root (with `/`).
    pub relative: HashMap<String, String>,
}

impl Locations {
    /// The repository-relative path of `file`, when it is in the repository.
    pub fn relative(&self, file: &str) -> Option<&str> {
        self.relative.get(file).map(String::as_str)
    }
}

/// The root of the repository holding the working directory: the nearest directory up
/// with a `.git`, or the working directory itself when there is none.
fn root() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?.canonicalize().ok()?;
    let found = cwd.ancestors().find(|d| d.join(".git").exists());
    Some(found.unwrap_or(&cwd).to_path_buf())
}

/// Finds each of `files` (as a dump names them) here, through `map`, and keeps those in the
/// repository.
pub fn locate<'f>(files: impl Iterator<Item = &'f str>, map: &SourceMap) -> Locations {
    let Some(root) = root() else {
        return Locations::default();
    };
    let mut relative = HashMap::new();
    for file in files {
        if relative.contains_key(file) {
            continue;
        }
        let inside = map
            .resolve(file)
            .and_then(|found| found.canonicalize().ok())
            .and_then(|found| found.strip_prefix(&root).ok().map(slashes));
        if let Some(inside) = inside {
            relative.insert(file.to_string(), inside);
        }
    }
    Locations {
        root: Some(root),
        relative,
    }
}

fn slashes(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
