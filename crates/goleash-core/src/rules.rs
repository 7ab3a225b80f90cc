//! Suppression rules and baselines: which groups a team has decided are fine.
//!
//! A rule matches on the stack's functions (the top frame, the leak site, or anywhere), on
//! `created by`, on the wait reason and on labels; each matcher is exact, a prefix or a
//! regular expression. A baseline is a list of signatures accepted at some point, so that
//! only new leaks fail a build. Reading the rule file is the binary's job; this is the
//! matching.

use regex::Regex;

use crate::classify::{Assessment, state_name};
use crate::group::Group;
use crate::intern::Tables;
use crate::signature::Signature;

/// How a string is matched.
#[derive(Clone, Debug)]
pub enum Matcher {
    /// Equal.
    Exact(String),
    /// Starts with.
    Prefix(String),
    /// Matches the regular expression (anywhere, unless anchored).
    Regex(Regex),
}

impl Matcher {
    /// Parses a pattern: `re:…` is a regular expression, a trailing `*` makes a prefix,
    /// anything else must match exactly.
    pub fn parse(pattern: &str) -> Result<Matcher, regex::Error> {
        if let Some(re) = pattern.strip_prefix("re:") {
            return Ok(Matcher::Regex(Regex::new(re)?));
        }
        if let Some(prefix) = pattern.strip_suffix('*') {
            return Ok(Matcher::Prefix(prefix.to_string()));
        }
        Ok(Matcher::Exact(pattern.to_string()))
    }

    /// Whether `text` matches.
    pub fn is_match(&self, text: &str) -> bool {
        match self {
            Matcher::Exact(s) => text == s,
            Matcher::Prefix(p) => text.starts_with(p.as_str()),
            Matcher::Regex(re) => re.is_match(text),
        }
    }
}

/// One suppression rule: every matcher that is set must match.
#[derive(Clone, Debug, Default)]
pub struct Rule {
    /// Why the goroutines are fine: shown when the rule suppresses something.
    pub reason: String,
    /// Some frame's function, anywhere in the stack.
    pub function: Option<Matcher>,
    /// The innermost frame's function.
    pub top: Option<Matcher>,
    /// The leak site's function.
    pub leak_site: Option<Matcher>,
    /// The function of `created by`.
    pub created_by: Option<Matcher>,
    /// The wait reason (`chan receive`) or, where the format has none, the blocking
    /// operation read from the stack.
    pub state: Option<Matcher>,
    /// A label: the key must be present and its value match.
    pub label: Option<(String, Matcher)>,
}

impl Rule {
    /// Whether the rule matches a group.
    pub fn matches(&self, tables: &Tables, group: &Group, assessment: &Assessment) -> bool {
        let function_of = |f| tables.str(tables.get_frame(f).function).into_owned();
        let frames = tables.frames(group.stack);
        if let Some(m) = &self.function
            && !frames.iter().any(|&f| m.is_match(&function_of(f)))
        {
            return false;
        }
        if let Some(m) = &self.top
            && !frames.first().is_some_and(|&f| m.is_match(&function_of(f)))
        {
            return false;
        }
        if let Some(m) = &self.leak_site
            && !assessment
                .leak_site
                .is_some_and(|f| m.is_match(&function_of(f)))
        {
            return false;
        }
        if let Some(m) = &self.created_by
            && !group
                .created_by
                .is_some_and(|f| m.is_match(&function_of(f)))
        {
            return false;
        }
        if let Some(m) = &self.state
            && !m.is_match(&state_name(tables, group, assessment))
        {
            return false;
        }
        if let Some((key, m)) = &self.label {
            let any = group.labels.iter().any(|&(set, _)| {
                tables
                    .label_pairs(set)
                    .iter()
                    .any(|&(k, v)| tables.str(k) == key.as_str() && m.is_match(&tables.str(v)))
            });
            if !any {
                return false;
            }
        }
        true
    }
}

/// Signatures accepted as they are. Counts vary from run to run (timing, parallelism), so
/// a baselined stack is accepted whatever its count; a new stack is not.
#[derive(Clone, Debug, Default)]
pub struct Baseline {
    signatures: Vec<Signature>,
}

impl Baseline {
    /// A baseline of these signatures.
    pub fn new(mut signatures: Vec<Signature>) -> Self {
        signatures.sort();
        signatures.dedup();
        Baseline { signatures }
    }

    /// Whether a stack was accepted.
    pub fn accepts(&self, signature: Signature) -> bool {
        self.signatures.binary_search(&signature).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers() {
        assert!(
            Matcher::parse("main.worker")
                .unwrap()
                .is_match("main.worker")
        );
        assert!(
            !Matcher::parse("main.worker")
                .unwrap()
                .is_match("main.worker.func1")
        );
        assert!(
            Matcher::parse("main.worker*")
                .unwrap()
                .is_match("main.worker.func1")
        );
        assert!(
            Matcher::parse("re:^github\\.com/acme/.*Loop$")
                .unwrap()
                .is_match("github.com/acme/x.pollLoop")
        );
        assert!(Matcher::parse("re:(").is_err());
    }

    #[test]
    fn baselines_accept_known_signatures() {
        let b = Baseline::new(vec![Signature(7), Signature(1), Signature(7)]);
        assert!(b.accepts(Signature(7)));
        assert!(b.accepts(Signature(1)));
        assert!(!b.accepts(Signature(8)));
    }
}
