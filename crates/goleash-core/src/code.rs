//! Whose code a frame is in: the runtime, the standard library, a dependency, or the
//! program itself. The leak site of a group is its innermost frame in the program's own
//! code, so this decides what people are pointed at.

use crate::intern::{FrameId, Tables};

/// Whose code a function belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// The Go runtime (`runtime`, `internal/runtime/…`).
    Runtime,
    /// Another standard library package.
    Stdlib,
    /// A third-party module: the file is in the module cache or a vendor directory.
    Dependency,
    /// The program's own code.
    User,
}

impl Origin {
    /// Whether the frame is the program's own code.
    pub fn is_user(self) -> bool {
        self == Origin::User
    }
}

/// The first path element of every standard library package (Go 1.27). A package whose path
/// starts with one of these and has no dot in its first element is the standard library.
const STD_ROOTS: &[&str] = &[
    "archive",
    "arena",
    "bufio",
    "builtin",
    "bytes",
    "cmp",
    "compress",
    "container",
    "context",
    "crypto",
    "database",
    "debug",
    "embed",
    "encoding",
    "errors",
    "expvar",
    "flag",
    "fmt",
    "go",
    "hash",
    "html",
    "image",
    "index",
    "internal",
    "io",
    "iter",
    "log",
    "maps",
    "math",
    "mime",
    "net",
    "os",
    "path",
    "plugin",
    "reflect",
    "regexp",
    "runtime",
    "slices",
    "sort",
    "strconv",
    "strings",
    "structs",
    "sync",
    "syscall",
    "testing",
    "text",
    "time",
    "unicode",
    "unique",
    "unsafe",
    "vendor",
    "weak",
];

/// The import path of a function's package: `net/http` for `net/http.(*Server).Serve`,
/// `github.com/a/b` for `github.com/a/b.F.func1`.
pub fn package_of(function: &[u8]) -> &[u8] {
    let last_slash = memchr::memrchr(b'/', function).map_or(0, |i| i + 1);
    match memchr::memchr(b'.', &function[last_slash..]) {
        Some(dot) => &function[..last_slash + dot],
        None => function,
    }
}

/// Classifies a function by its name and file.
pub fn origin_of(function: &[u8], file: &[u8]) -> Origin {
    // `go test` generates `main.main` in `_testmain.go`: harness, not the program's code.
    if file == b"_testmain.go" || file.ends_with(b"/_testmain.go") {
        return Origin::Stdlib;
    }
    // Module cache, vendor trees and -trimpath module paths (`mod@v1.2.3/`) are dependencies.
    let is_dependency = memchr::memmem::find(file, b"/pkg/mod/").is_some()
        || memchr::memmem::find(file, b"/vendor/").is_some()
        || file.starts_with(b"vendor/")
        || memchr::memmem::find(file, b"@v").is_some();
    let package = package_of(function);
    let root = package.split(|&b| b == b'/').next().unwrap_or_default();
    if function == b"panic" {
        return Origin::Runtime;
    }
    if !root.contains(&b'.') && root != b"main" && is_std_root(root) {
        // A module may shadow a std name (a module called `net`); its files are not in a
        // GOROOT `src/` tree.
        let in_goroot = file.is_empty()
            || memchr::memmem::find(file, b"/src/").is_some()
            || !file.starts_with(b"/");
        if in_goroot && !is_dependency {
            let runtime = package == b"runtime"
                || package.starts_with(b"runtime/internal")
                || package.starts_with(b"internal/runtime");
            return if runtime {
                Origin::Runtime
            } else {
                Origin::Stdlib
            };
        }
    }
    if is_dependency {
        Origin::Dependency
    } else {
        Origin::User
    }
}

fn is_std_root(root: &[u8]) -> bool {
    STD_ROOTS.iter().any(|r| r.as_bytes() == root)
}

/// Classifies an interned frame.
pub fn origin(tables: &Tables, frame: FrameId) -> Origin {
    let frame = tables.get_frame(frame);
    origin_of(tables.bytes(frame.function), tables.bytes(frame.file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages() {
        assert_eq!(package_of(b"net/http.(*Server).Serve"), b"net/http");
        assert_eq!(package_of(b"main.main.func1"), b"main");
        assert_eq!(package_of(b"github.com/a/b.(*T).M"), b"github.com/a/b");
        assert_eq!(
            package_of(b"leakfixtures/crash/racy.(*Stats).Inc"),
            b"leakfixtures/crash/racy"
        );
    }

    #[test]
    fn origins() {
        let goroot = b"/usr/local/go/src/net/http/server.go";
        assert_eq!(
            origin_of(b"net/http.(*Server).Serve", goroot),
            Origin::Stdlib
        );
        assert_eq!(
            origin_of(b"runtime.gopark", b"/usr/local/go/src/runtime/proc.go"),
            Origin::Runtime
        );
        assert_eq!(
            origin_of(
                b"internal/runtime/maps.fatal",
                b"/usr/local/go/src/runtime/panic.go"
            ),
            Origin::Runtime
        );
        assert_eq!(
            origin_of(b"panic", b"/usr/local/go/src/runtime/panic.go"),
            Origin::Runtime
        );
        assert_eq!(
            origin_of(b"main.worker", b"/home/me/svc/main.go"),
            Origin::User
        );
        assert_eq!(
            origin_of(
                b"leakfixtures/crash/racy.(*Stats).Inc",
                b"/home/g/crash/racy/counter.go"
            ),
            Origin::User
        );
        assert_eq!(
            origin_of(
                b"google.golang.org/grpc.(*Server).Serve",
                b"/root/go/pkg/mod/google.golang.org/grpc@v1.60.0/server.go"
            ),
            Origin::Dependency
        );
        assert_eq!(
            origin_of(
                b"github.com/me/app/internal/x.F",
                b"/src/app/internal/x/x.go"
            ),
            Origin::User
        );
        // -trimpath builds print stdlib files relative to GOROOT/src.
        assert_eq!(
            origin_of(b"sync.(*WaitGroup).Wait", b"sync/waitgroup.go"),
            Origin::Stdlib
        );
        assert_eq!(origin_of(b"testing.tRunner", b""), Origin::Stdlib);
    }
}
