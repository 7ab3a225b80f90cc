//! The grammar of the `?debug=1` text profile (see `docs/formats.md` §3).
//!
//! ```text
//! goroutine profile: total 1710
//! 400 @ 0x48c6ea 0x418c9c 0x418897 0x6bf6e8 0x4937a1
//! # labels: {"handler":"abandoned-results", "pool":"squares"}
//! #<TAB>0x6bf6e7<TAB>main.squareWorker+0x47<TAB>/home/gopher/leakfixtures/leakysvc/main.go:276
//! ```

use crate::intern::{Frame, FrameId, LabelSetId, Tables};
use crate::model::Profile;
use crate::parse::traceback::unquote_go;
use xxhash_rust::xxh3::xxh3_128;

/// Parses `goroutine profile: total N` / `goroutineleak profile: total N`.
pub(crate) fn parse_profile_header(line: &[u8]) -> Option<(Profile, u64)> {
    let (profile, rest) = if let Some(rest) = line.strip_prefix(b"goroutine profile: total ") {
        (Profile::Goroutine, rest)
    } else if let Some(rest) = line.strip_prefix(b"goroutineleak profile: total ") {
        (Profile::GoroutineLeak, rest)
    } else {
        return None;
    };
    let total = std::str::from_utf8(rest).ok()?.parse().ok()?;
    Some((profile, total))
}

/// Parses `COUNT @ 0x… 0x…`, appending the PCs to `pcs`.
pub(crate) fn parse_record_header(line: &[u8], pcs: &mut Vec<u64>) -> Option<u64> {
    let at = memchr::memmem::find(line, b" @")?;
    let count = std::str::from_utf8(&line[..at]).ok()?.parse().ok()?;
    for word in line[at + 2..]
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
    {
        let hex = word.strip_prefix(b"0x")?;
        pcs.push(u64::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
    }
    Some(count)
}

/// Parses `# labels: {"k":"v", "k2":"v2"}`.
pub(crate) fn parse_labels_line(tables: &mut Tables, line: &[u8]) -> Option<LabelSetId> {
    let inner = line.strip_prefix(b"# labels: {")?.strip_suffix(b"}")?;
    let mut pairs = Vec::new();
    let mut rest = inner;
    while !rest.is_empty() {
        let (key, used) = unquote_go(rest)?;
        rest = rest[used..].strip_prefix(b":")?;
        let (value, used) = unquote_go(rest)?;
        rest = &rest[used..];
        pairs.push((tables.sym(&key), tables.sym(&value)));
        rest = match rest.strip_prefix(b", ") {
            Some(r) => r,
            None if rest.is_empty() => rest,
            None => return None,
        };
    }
    Some(tables.labels(&mut pairs))
}

/// One `#\t0xPC\tfunc+0xOFF\tfile:line` line.
pub(crate) struct FrameLine<'a> {
    pub pc: u64,
    /// `func+0xOFF\tfile:line`, or empty for an unsymbolized PC.
    pub symbolized: &'a [u8],
}

/// Parses a frame line's PC and keeps the rest for [`intern_frame`].
pub(crate) fn parse_frame_line(line: &[u8]) -> Option<FrameLine<'_>> {
    let rest = line.strip_prefix(b"#\t")?.trim_ascii_start();
    let end = rest
        .iter()
        .position(|&b| b == b'\t' || b == b' ')
        .unwrap_or(rest.len());
    let hex = rest[..end].strip_prefix(b"0x")?;
    let pc = u64::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
    Some(FrameLine {
        pc,
        symbolized: rest[end..].trim_ascii(),
    })
}

/// Interns the frame of a symbolized frame line; `None` when the text does not parse.
pub(crate) fn intern_frame(
    tables: &mut Tables,
    symbolized: &[u8],
    inlined: bool,
) -> Option<FrameId> {
    let key = xxh3_128(symbolized) ^ u128::from(inlined);
    if let Some(id) = tables.frame_by_text(key) {
        return Some(id);
    }
    // Columns are padded with runs of tabs by text/tabwriter.
    let tab = memchr::memchr(b'\t', symbolized)?;
    let function_and_offset = &symbolized[..tab];
    let position = symbolized[tab..].trim_ascii();
    let (function, offset) = match memchr::memmem::rfind(function_and_offset, b"+0x") {
        Some(at) => {
            let hex = std::str::from_utf8(&function_and_offset[at + 3..]).ok()?;
            (
                &function_and_offset[..at],
                u32::from_str_radix(hex, 16).ok(),
            )
        }
        None => (function_and_offset, None),
    };
    let colon = memchr::memrchr(b':', position)?;
    let line: u32 = std::str::from_utf8(&position[colon + 1..])
        .ok()?
        .parse()
        .ok()?;
    let frame = Frame {
        function: tables.sym(function),
        file: tables.sym(&position[..colon]),
        line,
        offset,
        inlined,
    };
    let id = tables.frame(frame);
    tables.remember_frame_text(key, id);
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_headers() {
        assert_eq!(
            parse_profile_header(b"goroutine profile: total 1710"),
            Some((Profile::Goroutine, 1710))
        );
        assert_eq!(
            parse_profile_header(b"goroutineleak profile: total 3"),
            Some((Profile::GoroutineLeak, 3))
        );
        assert_eq!(
            parse_profile_header(b"heap profile: 1: 2 [3: 4] @ heap/1048576"),
            None
        );
    }

    #[test]
    fn record_headers_and_frames() {
        let mut pcs = Vec::new();
        assert_eq!(
            parse_record_header(b"400 @ 0x48c6ea 0x418c9c 0x4937a1", &mut pcs),
            Some(400)
        );
        assert_eq!(pcs, vec![0x48c6ea, 0x418c9c, 0x4937a1]);
        assert_eq!(parse_record_header(b"1 @", &mut Vec::new()), Some(1));

        let mut t = Tables::new();
        let f = parse_frame_line(b"#\t0x6bf6e7\tmain.squareWorker+0x47\t\t/home/g/main.go:276")
            .unwrap();
        assert_eq!(f.pc, 0x6bf6e7);
        let id = intern_frame(&mut t, f.symbolized, false).unwrap();
        let frame = t.get_frame(id);
        assert_eq!(t.bytes(frame.function), b"main.squareWorker");
        assert_eq!(t.bytes(frame.file), b"/home/g/main.go");
        assert_eq!((frame.line, frame.offset), (276, Some(0x47)));
        let bare = parse_frame_line(b"#\t0x4937a1").unwrap();
        assert!(bare.symbolized.is_empty());
    }

    #[test]
    fn quoted_labels() {
        let mut t = Tables::new();
        let set = parse_labels_line(
            &mut t,
            br#"# labels: {"handler":"abandoned-results", "pool":"squares"}"#,
        )
        .unwrap();
        assert_eq!(t.label_pairs(set).len(), 2);
        assert!(parse_labels_line(&mut t, b"# labels: {broken}").is_none());
        assert_eq!(
            parse_labels_line(&mut t, b"# labels: {}"),
            Some(LabelSetId::EMPTY)
        );
    }
}
