//! The grammar of race detector reports (see `docs/formats.md` §1.9).
//!
//! ```text
//! WARNING: DATA RACE
//! Write at 0x00c000100018 by goroutine 10:
//!   leakfixtures/crash/racy.(*Stats).Inc()
//!       /home/gopher/leakfixtures/crash/racy/counter.go:8 +0xfa
//! ```

use crate::model::RaceSectionKind;

/// The line that opens a report.
pub(crate) const START: &[u8] = b"WARNING: DATA RACE";
/// The rule printed above and below a report.
pub(crate) const RULE: &[u8] = b"==================";

/// Parses a section title line (`Write at 0x… by goroutine 10:`), returning its title
/// without the colon, its kind and the goroutine it names.
pub(crate) fn parse_title(line: &[u8]) -> Option<(&[u8], RaceSectionKind, Option<u64>)> {
    if line.first().is_none_or(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let title = line.strip_suffix(b":")?;
    let goroutine_after = |marker: &[u8]| -> Option<u64> {
        let at = memchr::memmem::find(title, marker)?;
        let digits: Vec<u8> = title[at + marker.len()..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .copied()
            .collect();
        std::str::from_utf8(&digits).ok()?.parse().ok()
    };
    let by_goroutine = if memchr::memmem::find(title, b"by main goroutine").is_some() {
        Some(1)
    } else {
        goroutine_after(b"by goroutine ")
    };
    let lower_starts = |p: &[u8]| title.starts_with(p);
    if lower_starts(b"Write at ") || lower_starts(b"Read at ") {
        let write = lower_starts(b"Write");
        return Some((
            title,
            RaceSectionKind::Access {
                write,
                previous: false,
            },
            by_goroutine,
        ));
    }
    if lower_starts(b"Previous write at ") || lower_starts(b"Previous read at ") {
        let write = lower_starts(b"Previous write");
        return Some((
            title,
            RaceSectionKind::Access {
                write,
                previous: true,
            },
            by_goroutine,
        ));
    }
    if let Some(rest) = title.strip_prefix(b"Goroutine ") {
        let finished = memchr::memmem::find(rest, b"(finished)").is_some();
        if memchr::memmem::find(rest, b"created at").is_some() {
            return Some((
                title,
                RaceSectionKind::Creation { finished },
                goroutine_after(b"Goroutine "),
            ));
        }
    }
    Some((title, RaceSectionKind::Other, by_goroutine))
}

/// Parses a frame's function line (`  pkg.F()`); race frames always print `()`.
pub(crate) fn parse_function(line: &[u8]) -> Option<&[u8]> {
    let body = line.strip_prefix(b"  ")?;
    if body.first().is_none_or(|b| b.is_ascii_whitespace()) {
        return None;
    }
    Some(body.strip_suffix(b"()").unwrap_or(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles() {
        let (t, k, g) = parse_title(b"Write at 0x00c000100018 by goroutine 10:").unwrap();
        assert_eq!(t, b"Write at 0x00c000100018 by goroutine 10");
        assert_eq!(
            k,
            RaceSectionKind::Access {
                write: true,
                previous: false
            }
        );
        assert_eq!(g, Some(10));
        let (_, k, g) = parse_title(b"Previous read at 0x00c000090690 by main goroutine:").unwrap();
        assert_eq!(
            k,
            RaceSectionKind::Access {
                write: false,
                previous: true
            }
        );
        assert_eq!(g, Some(1));
        let (_, k, g) = parse_title(b"Goroutine 9 (finished) created at:").unwrap();
        assert_eq!(k, RaceSectionKind::Creation { finished: true });
        assert_eq!(g, Some(9));
        assert!(parse_title(b"  leakfixtures/crash/racy.(*Stats).Inc()").is_none());
    }

    #[test]
    fn functions() {
        assert_eq!(
            parse_function(b"  leakfixtures/crash/racy.(*Stats).Inc()"),
            Some(&b"leakfixtures/crash/racy.(*Stats).Inc"[..])
        );
        assert_eq!(parse_function(b"      /path/counter.go:8 +0xfa"), None);
    }
}
