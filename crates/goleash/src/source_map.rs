//! Where the files a dump names are on this machine.
//!
//! A dump names files as the binary was built: absolute paths of the build machine
//! (`/build/src/...`, another user's GOPATH), or module paths with `-trimpath`
//! (`example.com/svc@v1.2.3/internal/x.go`, `example.com/svc/internal/x.go`). `--source DIR`
//! points at checkouts: a path maps into a DIR by the module its `go.mod` declares, else by
//! the longest trailing part of the path that is a file there.
//!
//! The standard library's files map into the Go installations here (`$GOROOT`, the `go` on
//! `PATH`, `/usr/local/go`, `~/sdk/go*`, toolchains the go command downloaded, a `--source`
//! DIR that is a GOROOT): one candidate per release, newest first. Which one is the
//! release the binary was built with is settled by the analysis, which takes the first whose
//! function at the frame's line is the frame's function. Dependencies map into the local
//! module cache.

use std::cell::{OnceCell, RefCell};
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
    /// The Go installations here, newest release first; found when first needed.
    goroots: OnceCell<Vec<PathBuf>>,
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
            goroots: OnceCell::new(),
        }
    }

    /// Every file here that may be the one a dump names `file`, most likely first: the
    /// checkouts' and the path itself, then the Go installations' (standard library) and
    /// the module cache's (dependencies).
    pub fn candidates(&self, file: &str) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self.resolve(file).into_iter().collect();
        if let Some(rest) = in_goroot(file) {
            for root in self.goroots() {
                let candidate = root.join("src").join(rest);
                if candidate.is_file() && !out.contains(&candidate) {
                    out.push(candidate);
                }
            }
        }
        if let Some(rest) = in_module_cache(file)
            && let Some(cache) = module_cache()
        {
            let candidate = cache.join(rest);
            if candidate.is_file() && !out.contains(&candidate) {
                out.push(candidate);
            }
        }
        out
    }

    /// The checkouts named with `--source`.
    pub fn checkout_dirs(&self) -> Vec<&Path> {
        self.checkouts.iter().map(|c| c.dir.as_path()).collect()
    }

    fn goroots(&self) -> &[PathBuf] {
        self.goroots.get_or_init(|| {
            let named = self.checkouts.iter().map(|c| c.dir.clone());
            local_goroots(named)
        })
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
        // name is too common (`main.go`) to say which one. The checkout's own directory
        // name counts as part of the path: `--source svc/internal/cache` finds
        // `/build/svc/internal/cache/cache.go`.
        let parts: Vec<&str> = file.split(['/', '\\']).filter(|p| !p.is_empty()).collect();
        let in_checkout = (0..parts.len().saturating_sub(1)).find_map(|skip| {
            let rest = parts[skip..].join("/");
            self.checkouts.iter().find_map(|c| {
                let inside = c.dir.join(&rest);
                if inside.is_file() {
                    return Some(inside);
                }
                let named = c.dir.file_name().is_some_and(|n| *n == *parts[skip]);
                let own = c.dir.join(parts[skip + 1..].join("/"));
                (named && own.is_file()).then_some(own)
            })
        });
        let path = Path::new(file);
        in_checkout.or_else(|| (path.is_absolute() && path.is_file()).then(|| path.to_path_buf()))
    }
}

/// Whether a dump's `file` is of the program's own code: not the standard library's, nor a
/// dependency's in a module cache.
pub fn is_program_file(file: &str) -> bool {
    !file.is_empty() && in_goroot(file).is_none() && in_module_cache(file).is_none()
}

/// The path inside GOROOT/src of a standard library file a dump names: after the last
/// `/src/` of an absolute path (`/usr/local/go/src/net/http/server.go`), or the whole of a
/// `-trimpath` one (`net/http/server.go`, whose first element has no dot).
fn in_goroot(file: &str) -> Option<&str> {
    if file.starts_with('/') || file.as_bytes().get(1) == Some(&b':') {
        let at = file.rfind("/src/")?;
        return Some(&file[at + 5..]);
    }
    let first = file.split('/').next()?;
    (!first.contains('.') && !first.contains('@') && file.contains('/')).then_some(file)
}

/// The path inside the module cache of a dependency's file: after `/pkg/mod/` of another
/// machine's GOPATH, or a `-trimpath` path with a version (`example.com/m@v1.2.3/x.go`),
/// whose module path the cache spells with `!` before each capital letter.
fn in_module_cache(file: &str) -> Option<String> {
    if let Some(at) = file.find("/pkg/mod/") {
        return Some(file[at + 9..].to_string());
    }
    let (module, rest) = file.split_once('@')?;
    if module.starts_with('/') || !module.split('/').next()?.contains('.') {
        return None;
    }
    let mut escaped = String::with_capacity(module.len() + 4);
    for c in module.chars() {
        if c.is_ascii_uppercase() {
            escaped.push('!');
            escaped.push(c.to_ascii_lowercase());
        } else {
            escaped.push(c);
        }
    }
    Some(format!("{escaped}@{rest}"))
}

/// The module cache here: `$GOMODCACHE`, `$GOPATH/pkg/mod`, `~/go/pkg/mod`.
fn module_cache() -> Option<PathBuf> {
    let env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("GOMODCACHE")
        .or_else(|| {
            env("GOPATH").map(|p| {
                let first = std::env::split_paths(&p).next().unwrap_or(p);
                first.join("pkg/mod")
            })
        })
        .or_else(|| env("HOME").map(|h| h.join("go/pkg/mod")))
        .filter(|p| p.is_dir())
}

/// The Go installations here, newest release first: `$GOROOT`, the `go` on `PATH`,
/// `/usr/local/go`, `/usr/lib/go*`, `~/sdk/go*`, toolchains the go command downloaded into
/// the module cache, the installations in `$GOLEASH_TOOLCHAINS` (`go-<version>/`), and
/// `named` directories that are one.
fn local_goroots(named: impl Iterator<Item = PathBuf>) -> Vec<PathBuf> {
    let env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let mut dirs: Vec<PathBuf> = named.collect();
    dirs.extend(env("GOROOT"));
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if let Ok(go) = dir.join("go").canonicalize()
                && let Some(root) = go.parent().and_then(Path::parent)
            {
                dirs.push(root.to_path_buf());
            }
        }
    }
    dirs.push(PathBuf::from("/usr/local/go"));
    let children = |dir: &Path, prefix: &str| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
            .map(|e| e.path())
            .collect()
    };
    dirs.extend(children(Path::new("/usr/lib"), "go"));
    if let Some(home) = env("HOME") {
        dirs.extend(children(&home.join("sdk"), "go"));
    }
    if let Some(cache) = module_cache() {
        dirs.extend(children(&cache.join("golang.org"), "toolchain@"));
    }
    if let Some(toolchains) = env("GOLEASH_TOOLCHAINS") {
        dirs.extend(children(&toolchains, "go-"));
    }
    let mut roots: Vec<(Vec<u32>, PathBuf)> = Vec::new();
    for dir in dirs {
        let Some(version) = goroot_version(&dir) else {
            continue;
        };
        let dir = dir.canonicalize().unwrap_or(dir);
        if roots.iter().all(|(_, d)| *d != dir) {
            roots.push((version, dir));
        }
    }
    roots.sort_by(|a, b| b.0.cmp(&a.0));
    roots.into_iter().map(|(_, d)| d).collect()
}

/// The release of a GOROOT, `[1, 27, 3]`, from its `VERSION` file; `None` when `dir` is
/// not one.
fn goroot_version(dir: &Path) -> Option<Vec<u32>> {
    if !dir.join("src/runtime").is_dir() {
        return None;
    }
    let text = std::fs::read_to_string(dir.join("VERSION")).ok()?;
    let version = text.lines().next()?.strip_prefix("go")?;
    Some(
        version
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect(),
    )
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
    fn standard_library_and_module_cache_paths() {
        assert_eq!(
            in_goroot("/usr/local/go/src/net/http/server.go"),
            Some("net/http/server.go")
        );
        assert_eq!(in_goroot("net/http/server.go"), Some("net/http/server.go"));
        assert_eq!(in_goroot("example.com/svc/x.go"), None);
        assert_eq!(in_goroot("main.go"), None);
        assert_eq!(
            in_module_cache("/home/alice/go/pkg/mod/github.com/a/b@v1.0.0/c.go").as_deref(),
            Some("github.com/a/b@v1.0.0/c.go")
        );
        assert_eq!(
            in_module_cache("github.com/BurntSushi/toml@v1.3.0/decode.go").as_deref(),
            Some("github.com/!burnt!sushi/toml@v1.3.0/decode.go")
        );
        assert_eq!(in_module_cache("/build/src/x.go"), None);
    }

    #[test]
    fn the_toolchains_here_are_goroots_newest_first() {
        let toolchains = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.toolchains");
        let roots = local_goroots(std::iter::empty());
        let installed: Vec<PathBuf> = std::fs::read_dir(&toolchains)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| goroot_version(p).is_some())
            .collect();
        // GOLEASH_TOOLCHAINS (scripts/env.sh) points at them when the tests run from there.
        if std::env::var_os("GOLEASH_TOOLCHAINS").is_some() {
            for dir in &installed {
                assert!(
                    roots.contains(&dir.canonicalize().unwrap()),
                    "{dir:?} in {roots:?}"
                );
            }
        }
        let versions: Vec<Vec<u32>> = roots.iter().filter_map(|r| goroot_version(r)).collect();
        assert!(versions.windows(2).all(|w| w[0] >= w[1]), "{versions:?}");
    }

    #[test]
    fn other_machines_paths_map_by_their_longest_trailing_part() {
        let map = SourceMap::new(&[fixtures()]);
        assert_eq!(
            map.resolve("/build/src/leakysvc/leaks.go"),
            Some(fixtures().join("leakysvc/leaks.go"))
        );
        assert_eq!(map.resolve("/elsewhere/main.go"), None);
        let package = SourceMap::new(&[fixtures().join("leakysvc")]);
        assert_eq!(
            package.resolve("/build/src/leakysvc/leaks.go"),
            Some(fixtures().join("leakysvc/leaks.go"))
        );
        assert_eq!(package.resolve("/build/src/other/leaks.go"), None);
        assert_eq!(map.resolve(""), None);
    }
}
