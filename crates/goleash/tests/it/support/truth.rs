//! The fixtures' ground truth: what a program reports it created (`fixtures/go/internal/truth`)
//! and the `// GT:<site> <kind>` markers in its source.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Truth {
    pub go_version: String,
    pub sites: BTreeMap<String, Site>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Site {
    /// Goroutines waiting at the site.
    pub count: u64,
    /// The function they wait in and its file, as the runtime names them; empty when
    /// library code starts the goroutines.
    pub function: String,
    pub file: String,
    pub labels: BTreeMap<String, String>,
    pub goroutines: Vec<Member>,
    pub leak: bool,
    pub provable: bool,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
pub struct Member {
    pub id: u64,
    /// 0: not said (the main goroutine has none).
    pub parent: u64,
}

impl Truth {
    pub fn parse(json: &[u8]) -> Truth {
        serde_json::from_slice(json).unwrap_or_else(|e| {
            panic!(
                "ground truth is not JSON ({e}): {}",
                String::from_utf8_lossy(json)
            )
        })
    }

    pub fn site(&self, name: &str) -> &Site {
        self.sites
            .get(name)
            .unwrap_or_else(|| panic!("the ground truth has no site {name:?}"))
    }
}

/// Where a marker is: the file relative to `fixtures/go`, the line, and its code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub file: PathBuf,
    pub line: u32,
    pub code: String,
}

/// The `// GT:<site> <kind>` markers under a directory of `fixtures/go`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Markers(BTreeMap<String, Mark>);

impl Markers {
    /// Reads the markers of every Go file under `root/package`.
    pub fn read(root: &Path, package: &str) -> Markers {
        let mut markers = Markers::default();
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(package))
            .unwrap_or_else(|e| panic!("cannot read fixture package {package}: {e}"))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "go"))
            .collect();
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path).expect("read a fixture source");
            let file = path
                .strip_prefix(root)
                .expect("under the root")
                .to_path_buf();
            for (index, line) in text.lines().enumerate() {
                // A marker ends a line of code; comments that only mention one do not count.
                // A line may carry several: `// GT:a block GT:a close-no`.
                let Some((code, marks)) = line.split_once("// GT:") else {
                    continue;
                };
                let word = |w: &str| w.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
                let all: Vec<Vec<&str>> = marks
                    .split(" GT:")
                    .map(|m| m.split_whitespace().collect())
                    .collect();
                if code.contains("//")
                    || all
                        .iter()
                        .any(|w| w.len() != 2 || !w.iter().all(|w| word(w)))
                {
                    continue;
                }
                for words in all {
                    let key = words.join(" ");
                    let mark = Mark {
                        file: file.clone(),
                        line: index as u32 + 1,
                        code: code.trim().to_string(),
                    };
                    if let Some(other) = markers.0.insert(key.clone(), mark) {
                        panic!("marker GT:{key} appears twice ({other:?})");
                    }
                }
            }
        }
        markers
    }

    /// The marker `GT:<site> <kind>`.
    pub fn get(&self, site: &str, kind: &str) -> &Mark {
        self.find(site, kind)
            .unwrap_or_else(|| panic!("no marker GT:{site} {kind} in the fixture"))
    }

    pub fn find(&self, site: &str, kind: &str) -> Option<&Mark> {
        self.0.get(&format!("{site} {kind}"))
    }

    /// Every marker of `kind` (`block`, `go`).
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Mark> + 'a {
        self.0
            .iter()
            .filter(move |(key, _)| key.rsplit(' ').next() == Some(kind))
            .map(|(_, mark)| mark)
    }

    /// Every marker of `site`, as (kind, mark).
    pub fn of_site<'a>(&'a self, site: &'a str) -> impl Iterator<Item = (&'a str, &'a Mark)> + 'a {
        self.0.iter().filter_map(move |(key, mark)| {
            let (s, kind) = key.split_once(' ')?;
            (s == site).then_some((kind, mark))
        })
    }

    /// The site whose `block` marker is at `file`:`line` (a leak site as a document gives
    /// it: the path the binary was built with), if there is one.
    pub fn block_site(&self, file: &str, line: u64) -> Option<&str> {
        self.0.iter().find_map(|(key, mark)| {
            let site = key.strip_suffix(" block")?;
            let here =
                file.ends_with(&*mark.file.to_string_lossy()) && u64::from(mark.line) == line;
            here.then_some(site)
        })
    }

    pub fn line(&self, site: &str, kind: &str) -> u32 {
        self.get(site, kind).line
    }
}
