//! Where the files a dump names are on this machine.
//!
//! A dump names files as the binary was built: absolute paths of the build machine
//! (`/build/src/...`, another user's GOPATH), or module paths with `-trimpath`
//! (`example.com/svc@v1.2.3/internal/x.go`, `example.com/svc/internal/x.go`). `--source DIR`
//! points at checkouts: a path maps into a DIR by the module its `go.mod` declares, else by
//! the longest trailing part of the path that is a file there.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A checkout named with `--source`.
#[derive(Clone, Debug)]
struct Checkout {
    dir: PathBuf,
    /// The module its `go.mod` declares.
    module: Option<String>,
}

/// Maps the files of dumps to files here.
#[derive(Debug, Default)]
pub struct SourceMap {
    checkouts: Vec<Checkout>,
    found: RefCell<HashMap<String, Option<PathBuf>>>,
}

impl SourceMap {
    /// Files are looked up where the dump says, then in `dirs`.
    pub fn new(dirs: &[PathBuf]) -> SourceMap {
        let checkouts = dirs
            .iter()
            .map(|dir| Checkout {
                module: module_of(dir),
                dir: dir.clone(),
            })
            .collect();
        SourceMap {
            checkouts,
            found: RefCell::default(),
        }
    }

    /// The file here that `file` of a dump is, if there is one.
    pub fn resolve(&self, file: &str) -> Option<PathBuf> {
        if file.is_empty() {
            return None;
        }
        if let Some(found) = self.found.borrow().get(file) {
            return found.clone();
        }
        let found = self.find(file);
        self.found
            .borrow_mut()
            .insert(file.to_string(), found.clone());
        found
    }

    /// The checkouts the user named come first: they are the source the user means, even
    /// when the build machine's path happens to exist here too.
    fn find(&self, file: &str) -> Option<PathBuf> {
        for checkout in &self.checkouts {
            if let Some(module) = &checkout.module
                && let Some(rest) = after_module(file, module)
            {
                let candidate = checkout.dir.join(rest);
                if candidate.is_file() {
                    return Some(candidate);
                }
            }
        }
        // The longest trailing part of the path that is a file in a checkout; a bare file
        // name is too common (`main.go`) to say which one.
        let parts: Vec<&str> = file.split(['/', '\\']).filter(|p| !p.is_empty()).collect();
        let in_checkout = (0..parts.len().saturating_sub(1)).find_map(|skip| {
            let rest = parts[skip..].join("/");
            self.checkouts
                .iter()
                .map(|c| c.dir.join(&rest))
                .find(|candidate| candidate.is_file())
        });
        let path = Path::new(file);
        in_checkout.or_else(|| (path.is_absolute() && path.is_file()).then(|| path.to_path_buf()))
    }
}

/// What follows `module` in `file`, a version suffix (`@v1.2.3`) skipped: the file's path
/// inside the module.
fn after_module<'f>(file: &'f str, module: &str) -> Option<&'f str> {
    let at = file.find(module)?;
    if at > 0 && !file[..at].ends_with('/') {
        return None;
    }
    let rest = &file[at + module.len()..];
    let rest = match rest.strip_prefix('@') {
        Some(versioned) => &versioned[versioned.find('/')?..],
        None => rest,
    };
    rest.strip_prefix('/')
}

/// The module path in `dir/go.mod`.
fn module_of(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("go.mod")).ok()?;
    text.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("module")?;
        let module = rest.trim().trim_matches('"');
        (!module.is_empty() && rest.starts_with([' ', '\t'])).then(|| module.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/go")
            .canonicalize()
            .unwrap()
    }

    #[test]
    fn module_paths_with_and_without_versions_map_into_the_checkout() {
        assert_eq!(
            after_module("example.com/svc@v1.2.3/internal/x.go", "example.com/svc"),
            Some("internal/x.go")
        );
        assert_eq!(
            after_module("/go/pkg/mod/example.com/svc@v1.2.3/x.go", "example.com/svc"),
            Some("x.go")
        );
        assert_eq!(
            after_module("example.com/svc/internal/x.go", "example.com/svc"),
            Some("internal/x.go")
        );
        assert_eq!(
            after_module("notexample.com/svc/x.go", "example.com/svc"),
            None
        );
        let map = SourceMap::new(&[fixtures()]);
        let module = module_of(&fixtures()).expect("fixtures/go has a go.mod");
        let trimmed = format!("{module}/leakysvc/leaks.go");
        assert_eq!(
            map.resolve(&trimmed),
            Some(fixtures().join("leakysvc/leaks.go"))
        );
    }

    #[test]
    fn other_machines_paths_map_by_their_longest_trailing_part() {
        let map = SourceMap::new(&[fixtures()]);
        assert_eq!(
            map.resolve("/build/src/leakysvc/leaks.go"),
            Some(fixtures().join("leakysvc/leaks.go"))
        );
        assert_eq!(map.resolve("/elsewhere/main.go"), None);
        assert_eq!(map.resolve(""), None);
    }
}
