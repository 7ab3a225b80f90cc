//! Creator chains: the `go` statements from a test down to a goroutine it left behind, read
//! from a trace ([`trace_chain`]) or from the `created by … in goroutine N` lines of a
//! crash's dump ([`dump_chain`]).

use rustc_hash::FxHashMap;

use super::crash::DumpGoroutine;
use super::{Goroutine, Trace};
use crate::intern::Tables;

/// One `go` statement of a creator chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The function holding the `go` statement.
    pub function: String,
    /// Its file.
    pub file: String,
    /// The line of the `go` statement.
    pub line: u32,
    /// The goroutine that ran it.
    pub goroutine: Option<u64>,
    /// That goroutine had exited when the binary ended.
    pub exited: bool,
    /// That goroutine ran this test.
    pub test: Option<String>,
}

/// The `go` statements from the test down to goroutine `id`, innermost first: the one
/// that started `id`, the one that started its creator, and so on, `hops` of them.
/// `names` names the goroutines that ran tests.
pub(super) fn trace_chain(
    trace: &Trace,
    tables: &Tables,
    id: u64,
    hops: usize,
    names: &FxHashMap<u64, &str>,
) -> Vec<Link> {
    let creators = trace.creators(id);
    let mut chain = Vec::new();
    let mut created = id;
    for &creator in creators.iter().take(hops) {
        let frame = trace
            .goroutine(created)
            .and_then(|g| g.creation)
            .and_then(|c| c.stack)
            .and_then(|s| tables.frames(s).first().copied());
        let Some(frame) = frame else { break };
        let f = tables.get_frame(frame);
        chain.push(Link {
            function: tables.str(f.function).into_owned(),
            file: tables.str(f.file).into_owned(),
            line: f.line,
            goroutine: Some(creator),
            exited: trace.goroutine(creator).is_none_or(Goroutine::exited),
            test: names.get(&creator).map(|n| n.to_string()),
        });
        created = creator;
    }
    chain
}

/// Follows `created by … in goroutine N` through a dump: up through goroutines still
/// alive, to a test that is still running, or to a creator that has exited, whose
/// function names the test when it is a test function. Returns that test and the chain.
pub(super) fn dump_chain(
    g: &DumpGoroutine,
    alive: &FxHashMap<u64, &DumpGoroutine>,
    tables: &Tables,
    is_test_goroutine: &dyn Fn(&DumpGoroutine) -> bool,
) -> (Option<String>, Vec<Link>) {
    let mut chain = Vec::new();
    let mut current = g;
    // Bounded: a dump lists each goroutine once, so a longer chain is a loop.
    for _ in 0..=alive.len() {
        let Some(frame) = current.created_by else {
            break;
        };
        let f = tables.get_frame(frame);
        let function = tables.str(f.function).into_owned();
        let parent = current.parent.and_then(|p| alive.get(&p).copied());
        let mut link = Link {
            function: function.clone(),
            file: tables.str(f.file).into_owned(),
            line: f.line,
            goroutine: current.parent,
            exited: parent.is_none(),
            test: None,
        };
        match parent {
            Some(p) if is_test_goroutine(p) => {
                let test = test_of_function(&function);
                link.test = test.clone();
                chain.push(link);
                return (test, chain);
            }
            Some(p) => {
                chain.push(link);
                current = p;
            }
            None => {
                let test = test_of_function(&function);
                link.test = test.clone();
                chain.push(link);
                return (test, chain);
            }
        }
    }
    (None, chain)
}

/// The top-level test a test function or one of its closures belongs to:
/// `example.com/p.TestX.func1.2` is `TestX`.
fn test_of_function(function: &str) -> Option<String> {
    let last = function.rsplit('/').next()?;
    let (_, name) = last.split_once('.')?;
    let name = name.split('.').next()?;
    let is_test = ["Test", "Fuzz"].iter().any(|prefix| {
        name.strip_prefix(prefix)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_lowercase()))
    });
    is_test.then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_functions_name_their_test() {
        assert_eq!(
            test_of_function("example.com/p.TestX").as_deref(),
            Some("TestX")
        );
        assert_eq!(
            test_of_function("example.com/a/p_test.TestCache.func2.1").as_deref(),
            Some("TestCache")
        );
        assert_eq!(
            test_of_function("p.FuzzParse.func1").as_deref(),
            Some("FuzzParse")
        );
        assert_eq!(test_of_function("p.Test").as_deref(), Some("Test"));
        assert_eq!(test_of_function("example.com/p.Testify"), None);
        assert_eq!(test_of_function("example.com/p.startPipeline"), None);
        assert_eq!(test_of_function("example.com/p.(*T).TestMethod"), None);
    }
}
