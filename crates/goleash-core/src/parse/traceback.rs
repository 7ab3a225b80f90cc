//! The grammar of Go traceback text, line by line (see `docs/formats.md` §1).
//!
//! These functions take one line with any log prefix already removed and return its parts;
//! [`super::text`] strings them together into records and dumps.

use crate::intern::{Frame, FrameId, LabelSetId, Tables};
use crate::model::{FrameRegs, State, ThreadInfo};
use xxhash_rust::xxh3::xxh3_64;

/// A parsed `goroutine N [...]:` header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Header<'a> {
    pub id: u64,
    pub thread: Option<ThreadInfo>,
    /// The text between the brackets.
    pub state: &'a [u8],
    /// The text between the braces of ` {k: v}` (Go 1.26+ labels), if any.
    pub labels: Option<&'a [u8]>,
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

fn parse_hex(text: &[u8]) -> Option<u64> {
    let digits = text.strip_prefix(b"0x")?;
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    // Three of these per frame of a signal dump: a table and no branch per digit.
    let mut n: u64 = 0;
    let mut invalid = 0u8;
    for &b in digits {
        let d = HEX_DIGIT[usize::from(b)];
        invalid |= d;
        n = (n << 4) | u64::from(d & 0x0f);
    }
    (invalid & NOT_HEX == 0).then_some(n)
}

const NOT_HEX: u8 = 0x80;
const HEX_DIGIT: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Splits off the leading run of ASCII digits.
fn take_digits(text: &[u8]) -> (&[u8], &[u8]) {
    let n = text.iter().take_while(|b| b.is_ascii_digit()).count();
    text.split_at(n)
}

/// Parses `goroutine N[ gp=0x.. m=N|nil[ mp=0x..]] [state][ {labels}]:`.
pub(crate) fn parse_header(line: &[u8]) -> Option<Header<'_>> {
    let rest = line.strip_prefix(b"goroutine ")?;
    let (digits, mut rest) = take_digits(rest);
    let id = parse_u64(digits)?;
    let mut thread = None;
    if let Some(after) = rest.strip_prefix(b" gp=") {
        let end = memchr::memchr(b' ', after)?;
        let gp = parse_hex(&after[..end])?;
        let after = after[end..].strip_prefix(b" m=")?;
        let end = memchr::memchr(b' ', after)?;
        let m = match &after[..end] {
            b"nil" => None,
            digits => Some(parse_u64(digits)?),
        };
        let mut after = &after[end..];
        let mut mp = None;
        if let Some(mp_text) = after.strip_prefix(b" mp=") {
            let end = memchr::memchr(b' ', mp_text)?;
            mp = Some(parse_hex(&mp_text[..end])?);
            after = &mp_text[end..];
        }
        thread = Some(ThreadInfo { gp, m, mp });
        rest = after;
    }
    let rest = rest.strip_prefix(b" [")?;
    let close = memchr::memchr(b']', rest)?;
    let state = &rest[..close];
    let tail = &rest[close + 1..];
    if tail == b":" {
        return Some(Header {
            id,
            thread,
            state,
            labels: None,
        });
    }
    let labels = tail.strip_prefix(b" {")?.strip_suffix(b"}:")?;
    Some(Header {
        id,
        thread,
        state,
        labels: Some(labels),
    })
}

/// Takes apart the bracketed state: `chan receive (nil chan) (leaked), 3 minutes, locked to
/// thread, synctest bubble 1`.
pub(crate) fn parse_state(tables: &mut Tables, text: &[u8]) -> State {
    let mut state = State::default();
    let mut parts = text.split(|&b| b == b',');
    let mut reason = parts.next().unwrap_or_default().trim_ascii();
    for part in parts {
        let part = part.trim_ascii();
        if part == b"locked to thread" {
            state.locked_to_thread = true;
        } else if let Some(n) = part.strip_suffix(b" minutes") {
            state.wait_minutes = parse_u64(n).map(|n| n.min(u64::from(u32::MAX)) as u32);
        } else if let Some(n) = part.strip_prefix(b"synctest bubble ") {
            state.synctest_bubble = parse_u64(n);
        }
    }
    // Flags are appended after the reason in a fixed order; strip them from the right.
    loop {
        if let Some(r) = reason.strip_suffix(b" (leaked)") {
            state.leaked = true;
            reason = r;
        } else if let Some(r) = reason.strip_suffix(b" (scan)") {
            state.scan = true;
            reason = r;
        } else if let Some(r) = reason.strip_suffix(b" (durable)") {
            state.durable = true;
            reason = r;
        } else {
            break;
        }
    }
    if !reason.is_empty() {
        state.reason = Some(tables.sym(reason));
    }
    state
}

/// Reads one Go-quoted or bare token of a traceback label set; returns it unquoted and the
/// rest of the text.
fn label_token(text: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    if text.first() == Some(&b'"') {
        let (value, len) = unquote_go(text)?;
        Some((value, &text[len..]))
    } else {
        let end = text
            .iter()
            .position(|&b| b == b':' || b == b',')
            .unwrap_or(text.len());
        Some((text[..end].to_vec(), &text[end..]))
    }
}

/// Parses the inside of traceback labels: `k: v, k2: "quoted value"`.
pub(crate) fn parse_traceback_labels(tables: &mut Tables, text: &[u8]) -> Option<LabelSetId> {
    let mut pairs = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = label_token(rest)?;
        let after = after.strip_prefix(b": ")?;
        let (value, after) = label_token(after)?;
        pairs.push((tables.sym(&key), tables.sym(&value)));
        rest = match after.strip_prefix(b", ") {
            Some(r) => r,
            None if after.is_empty() => after,
            None => return None,
        };
    }
    Some(tables.labels(&mut pairs))
}

/// Unquotes a Go string literal at the start of `text`; returns the value and the number of
/// bytes the literal took.
pub(crate) fn unquote_go(text: &[u8]) -> Option<(Vec<u8>, usize)> {
    if text.first() != Some(&b'"') {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 1;
    while i < text.len() {
        match text[i] {
            b'"' => return Some((out, i + 1)),
            b'\\' => {
                let esc = *text.get(i + 1)?;
                i += 2;
                match esc {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'a' => out.push(0x07),
                    b'b' => out.push(0x08),
                    b'f' => out.push(0x0c),
                    b'v' => out.push(0x0b),
                    b'\\' | b'"' | b'\'' => out.push(esc),
                    b'x' => {
                        let hex = text.get(i..i + 2)?;
                        out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                        i += 2;
                    }
                    b'u' | b'U' => {
                        let n = if esc == b'u' { 4 } else { 8 };
                        let hex = text.get(i..i + n)?;
                        let code = u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                        let c = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
                        let mut buf = [0; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        i += n;
                    }
                    b'0'..=b'7' => {
                        let oct = text.get(i - 1..i + 2)?;
                        out.push(u8::from_str_radix(std::str::from_utf8(oct).ok()?, 8).ok()?);
                        i += 2;
                    }
                    _ => return None,
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    None
}

/// Splits a function line `pkg.(*T).M(0x1, {0x2})` into the function and its raw arguments.
/// The last `(` is the one that opens the arguments: names contain parentheses, arguments do
/// not.
pub(crate) fn split_function_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    if line.last() != Some(&b')') || line.first().is_none_or(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let open = memchr::memrchr(b'(', line)?;
    if open == 0 {
        return None;
    }
    Some((&line[..open], &line[open + 1..line.len() - 1]))
}

/// A parsed file line: `\t/path/file.go:123 +0x1d fp=0x.. sp=0x.. pc=0x..`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FileLine<'a> {
    /// The line from the path to the offset, without the register suffix: what identifies
    /// the position.
    pub core: &'a [u8],
    pub file: &'a [u8],
    pub line: u32,
    pub offset: Option<u32>,
    pub regs: Option<FrameRegs>,
}

/// A file line cut into the part that names the position and the register suffix, before
/// either is parsed.
pub(crate) struct RawFileLine<'a> {
    /// From the path to the offset: `/src/main.go:12 +0x1d`.
    pub core: &'a [u8],
    /// `fp=0x… sp=0x… pc=0x…`, at level 2.
    pub regs: Option<&'a [u8]>,
}

/// Cuts a file line; `line` must start with the whitespace that indents it.
pub(crate) fn split_file_line(line: &[u8]) -> Option<RawFileLine<'_>> {
    let body = match line.first() {
        Some(b'\t') => &line[1..],
        Some(b' ') => line.trim_ascii_start(),
        _ => return None,
    };
    if body.is_empty() {
        return None;
    }
    let regs_at = registers_start(body);
    Some(match regs_at {
        Some(at) => RawFileLine {
            core: &body[..at],
            regs: Some(&body[at + 1..]),
        },
        None => RawFileLine {
            core: body.trim_ascii_end(),
            regs: None,
        },
    })
}

/// Where ` fp=0x… sp=0x…[ pc=0x…]` starts: level-2 frames end with those words, after the
/// `+0x` offset. This runs for every frame of a dump, so it looks at the last words only and
/// stops at the first that is not a register.
fn registers_start(body: &[u8]) -> Option<usize> {
    let mut end = body.len();
    for _ in 0..3 {
        let at = memchr::memrchr(b' ', &body[..end])?;
        let word = &body[at + 1..end];
        if word.starts_with(b"fp=0x") {
            return Some(at);
        }
        if !(word.starts_with(b"sp=0x") || word.starts_with(b"pc=0x")) {
            return None;
        }
        end = at;
    }
    None
}

/// Parses `/path/file.go:123 +0x1d` into the file, the line and the offset.
pub(crate) fn parse_position(core: &[u8]) -> Option<(&[u8], u32, Option<u32>)> {
    let offset_at = memchr::memrchr(b' ', core).filter(|&at| core[at + 1..].starts_with(b"+0x"));
    let (position, offset) = match offset_at.and_then(|at| Some((at, parse_hex(&core[at + 2..])?)))
    {
        Some((at, off)) => (&core[..at], Some(off.min(u64::from(u32::MAX)) as u32)),
        None => (core, None),
    };
    let colon = memchr::memrchr(b':', position)?;
    let line = parse_u64(&position[colon + 1..])?;
    Some((
        &position[..colon],
        line.min(u64::from(u32::MAX)) as u32,
        offset,
    ))
}

/// Parses a file line; `line` must start with the whitespace that indents it.
pub(crate) fn parse_file_line(line: &[u8]) -> Option<FileLine<'_>> {
    let raw = split_file_line(line)?;
    let (file, line, offset) = parse_position(raw.core)?;
    Some(FileLine {
        core: raw.core,
        file,
        line,
        offset,
        regs: raw.regs.and_then(parse_regs),
    })
}

pub(crate) fn parse_regs(text: &[u8]) -> Option<FrameRegs> {
    let mut regs = FrameRegs::default();
    let mut seen_fp = false;
    let mut rest = text;
    // One pass: each value is read up to the byte that ends it, which is where the next
    // word starts; splitting into words first would read every byte twice.
    while let Some(&first) = rest.first() {
        if first == b' ' {
            rest = &rest[1..];
            continue;
        }
        let slot = match rest.get(..5) {
            Some(b"fp=0x") => {
                seen_fp = true;
                &mut regs.fp
            }
            Some(b"sp=0x") => &mut regs.sp,
            Some(b"pc=0x") => regs.pc.insert(0),
            // A word Go did not print there: skip it.
            _ => {
                let end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
                rest = &rest[end..];
                continue;
            }
        };
        let (value, after) = take_hex(&rest[5..])?;
        *slot = value;
        rest = after;
    }
    seen_fp.then_some(regs)
}

/// Reads the hex digits at the start of `text` (at least one, at most 16) and what follows.
fn take_hex(text: &[u8]) -> Option<(u64, &[u8])> {
    let mut n: u64 = 0;
    let mut len = 0;
    for &b in text.iter().take(17) {
        let d = HEX_DIGIT[usize::from(b)];
        if d & NOT_HEX != 0 {
            break;
        }
        n = (n << 4) | u64::from(d);
        len += 1;
    }
    let after = &text[len..];
    let ends_word = after.first().is_none_or(|&b| b == b' ');
    (len > 0 && len <= 16 && ends_word).then_some((n, after))
}

/// The hash of a function name, taken once when its line is read.
pub(crate) fn function_hash(function: &[u8]) -> u64 {
    xxh3_64(function)
}

/// Identifies a frame by its text: two independent 64-bit hashes make a 128-bit key, so a
/// collision would need both to collide.
fn frame_key(function_hash: u64, core: &[u8], inlined: bool) -> u128 {
    ((u128::from(function_hash) << 64) | u128::from(xxh3_64(core))) ^ (u128::from(inlined) << 127)
}

/// The frame of a function (name and [`function_hash`]) and a file line. A file line seen
/// before is not parsed again; `None` when it is not a file line after all.
pub(crate) fn frame_for(
    tables: &mut Tables,
    function: &[u8],
    function_hash: u64,
    inlined: bool,
    raw: &RawFileLine<'_>,
) -> Option<FrameId> {
    let key = frame_key(function_hash, raw.core, inlined);
    if let Some(id) = tables.frame_by_text(key) {
        return Some(id);
    }
    let (file, line, offset) = parse_position(raw.core)?;
    let frame = Frame {
        function: tables.sym(function),
        file: tables.sym(file),
        line,
        offset,
        inlined,
    };
    let id = tables.frame(frame);
    tables.remember_frame_text(key, id);
    Some(id)
}

/// Interns the frame made of a function name and its parsed file line.
pub(crate) fn intern_frame(
    tables: &mut Tables,
    function: &[u8],
    inlined: bool,
    file_line: &FileLine<'_>,
) -> FrameId {
    let key = frame_key(function_hash(function), file_line.core, inlined);
    if let Some(id) = tables.frame_by_text(key) {
        return id;
    }
    let frame = Frame {
        function: tables.sym(function),
        file: tables.sym(file_line.file),
        line: file_line.line,
        offset: file_line.offset,
        inlined,
    };
    let id = tables.frame(frame);
    tables.remember_frame_text(key, id);
    id
}

/// Interns a frame that has no file line (the input ended or went on with something else).
pub(crate) fn intern_bare_frame(tables: &mut Tables, function: &[u8], inlined: bool) -> FrameId {
    let function = tables.sym(function);
    let file = tables.sym(b"");
    tables.frame(Frame {
        function,
        file,
        line: 0,
        offset: None,
        inlined,
    })
}

/// Parses `created by pkg.F[ in goroutine N]`.
pub(crate) fn parse_created_by(line: &[u8]) -> Option<(&[u8], Option<u64>)> {
    let rest = line.strip_prefix(b"created by ")?;
    if let Some(space) = rest.iter().rposition(|&b| b == b' ')
        && let Some(function) = rest[..space].strip_suffix(b" in goroutine")
        && let Some(parent) = parse_u64(&rest[space + 1..])
    {
        return Some((function, Some(parent)));
    }
    Some((rest, None))
}

/// Parses `[originating from goroutine N]:`.
pub(crate) fn parse_ancestor_header(line: &[u8]) -> Option<u64> {
    parse_u64(
        line.strip_prefix(b"[originating from goroutine ")?
            .strip_suffix(b"]:")?,
    )
}

/// Parses the elision markers: `...N frames elided...` (Some(N)) or
/// `...additional frames elided...` (Some(None)).
pub(crate) fn parse_elision(line: &[u8]) -> Option<Option<u64>> {
    let inner = line
        .strip_prefix(b"...")?
        .strip_suffix(b" frames elided...")?;
    if inner == b"additional" {
        Some(None)
    } else {
        parse_u64(inner).map(Some)
    }
}

/// Whether a function line's arguments mark an inlined frame.
pub(crate) fn is_inlined(args: &[u8]) -> bool {
    args == b"..."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_registers_of_level_2_tracebacks() {
        let line =
            b"\t/go/src/runtime/proc.go:474 +0xca fp=0xe93f1158a10 sp=0xe93f11589f0 pc=0x48abaa";
        let raw = split_file_line(line).unwrap();
        assert_eq!(raw.core, b"/go/src/runtime/proc.go:474 +0xca");
        let regs = parse_regs(raw.regs.unwrap()).unwrap();
        assert_eq!(
            (regs.fp, regs.sp, regs.pc),
            (0xe93f1158a10, 0xe93f11589f0, Some(0x48abaa))
        );

        // Go 1.10 and older print no pc.
        let raw = split_file_line(b"\t/go/src/x.go:9 +0x1 fp=0x10 sp=0x8").unwrap();
        assert_eq!(raw.core, b"/go/src/x.go:9 +0x1");
        let regs = parse_regs(raw.regs.unwrap()).unwrap();
        assert_eq!((regs.fp, regs.sp, regs.pc), (0x10, 0x8, None));

        // No registers, or words that only look like them.
        let raw = split_file_line(b"\t/go/src/x.go:9 +0x1").unwrap();
        assert_eq!((raw.core, raw.regs), (&b"/go/src/x.go:9 +0x1"[..], None));
        let raw = split_file_line(b"\t/my dir/fp=0x1.go:9 +0x1").unwrap();
        assert_eq!(raw.regs, None);
        assert_eq!(parse_regs(b"fp=0xzz sp=0x8"), None);
        assert_eq!(parse_regs(b"fp=0x12345678901234567 sp=0x8"), None);
        assert_eq!(
            parse_regs(b"sp=0x8 pc=0x9"),
            None,
            "fp is the one Go always prints"
        );
        assert_eq!(parse_regs(b"fp=0x1 lr=0x2 sp=0x3").map(|r| r.sp), Some(3));
    }

    #[test]
    fn headers_of_every_era() {
        let h = parse_header(b"goroutine 1 [running]:").unwrap();
        assert_eq!(
            (h.id, h.state, h.labels, h.thread),
            (1, &b"running"[..], None, None)
        );

        let h = parse_header(
            b"goroutine 15 gp=0x31af35451680 m=3 mp=0x31af35413008 [syscall, 1 minutes]:",
        )
        .unwrap();
        assert_eq!(
            h.thread,
            Some(ThreadInfo {
                gp: 0x31af35451680,
                m: Some(3),
                mp: Some(0x31af35413008)
            })
        );
        assert_eq!(h.state, b"syscall, 1 minutes");

        let h = parse_header(
            b"goroutine 14 gp=0x31af354514a0 m=nil [select, 1 minutes, locked to thread]:",
        )
        .unwrap();
        assert_eq!(h.thread.unwrap().m, None);

        let h = parse_header(
            br#"goroutine 49 [chan receive] {handler: "recv-never-sent", route: "/leak/recv-never-sent"}:"#,
        )
        .unwrap();
        assert_eq!(
            h.labels.unwrap(),
            br#"handler: "recv-never-sent", route: "/leak/recv-never-sent""#
        );

        assert!(parse_header(b"goroutine profile: total 5").is_none());
        assert!(parse_header(b"goroutine 1 [running]").is_none());
        assert!(parse_header(b"goroutine 99999999999999999999999 [running]:").is_none());
    }

    #[test]
    fn states_with_flags() {
        let mut t = Tables::new();
        let s = parse_state(&mut t, b"chan receive (nil chan) (leaked)");
        assert_eq!(t.bytes(s.reason.unwrap()), b"chan receive (nil chan)");
        assert!(s.leaked);
        let s = parse_state(&mut t, b"sleep (durable), synctest bubble 1");
        assert_eq!(t.bytes(s.reason.unwrap()), b"sleep");
        assert!(s.durable);
        assert_eq!(s.synctest_bubble, Some(1));
        let s = parse_state(&mut t, b"chan send, 101 minutes, locked to thread");
        assert_eq!(s.wait_minutes, Some(101));
        assert!(s.locked_to_thread);
        let s = parse_state(&mut t, b"GOMAXPROCS updater (idle)");
        assert_eq!(t.bytes(s.reason.unwrap()), b"GOMAXPROCS updater (idle)");
    }

    #[test]
    fn labels_bare_and_quoted() {
        let mut t = Tables::new();
        let set =
            parse_traceback_labels(&mut t, br#"handler: "send-after\"timeout", tenant: acme"#)
                .unwrap();
        let pairs: Vec<(String, String)> = t
            .label_pairs(set)
            .iter()
            .map(|&(k, v)| (t.str(k).into_owned(), t.str(v).into_owned()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("handler".into(), "send-after\"timeout".into()),
                ("tenant".into(), "acme".into())
            ]
        );
        assert!(parse_traceback_labels(&mut t, b"broken").is_none());
    }

    #[test]
    fn function_lines() {
        assert_eq!(
            split_function_line(b"main.(*session).flush(0x1ceed9867b8?)"),
            Some((&b"main.(*session).flush"[..], &b"0x1ceed9867b8?"[..]))
        );
        assert_eq!(
            split_function_line(b"main.main()"),
            Some((&b"main.main"[..], &b""[..]))
        );
        assert_eq!(
            split_function_line(b"main.Drain[...](0x9838517e230?)"),
            Some((&b"main.Drain[...]"[..], &b"0x9838517e230?"[..]))
        );
        assert!(split_function_line(b"\tmain.main()").is_none());
        assert!(split_function_line(b"exit status 2").is_none());
    }

    #[test]
    fn file_lines() {
        let f = parse_file_line(b"\t/usr/local/go/src/runtime/proc.go:474 +0xca fp=0x1fe8963a8e18 sp=0x1fe8963a8df8 pc=0x47666a").unwrap();
        assert_eq!(f.file, b"/usr/local/go/src/runtime/proc.go");
        assert_eq!((f.line, f.offset), (474, Some(0xca)));
        assert_eq!(
            f.regs,
            Some(FrameRegs {
                fp: 0x1fe8963a8e18,
                sp: 0x1fe8963a8df8,
                pc: Some(0x47666a)
            })
        );
        assert_eq!(f.core, b"/usr/local/go/src/runtime/proc.go:474 +0xca");

        let f = parse_file_line(b"\tC:/Users/me/go/main.go:12 +0x1d").unwrap();
        assert_eq!((f.file, f.line), (&b"C:/Users/me/go/main.go"[..], 12));
        let f = parse_file_line(b"        /path with space/a.go:7").unwrap();
        assert_eq!(
            (f.file, f.line, f.offset),
            (&b"/path with space/a.go"[..], 7, None)
        );
        let f = parse_file_line(b"\t_cgo_gotypes.go:63 +0x45").unwrap();
        assert_eq!(f.file, b"_cgo_gotypes.go");
        assert!(parse_file_line(b"/no/indent.go:1").is_none());
        assert!(parse_file_line(b"\tno line number").is_none());
    }

    #[test]
    fn created_by_ancestors_and_elision() {
        assert_eq!(
            parse_created_by(b"created by net/http.(*Transport).dialConn in goroutine 35"),
            Some((&b"net/http.(*Transport).dialConn"[..], Some(35)))
        );
        assert_eq!(
            parse_created_by(b"created by main.main"),
            Some((&b"main.main"[..], None))
        );
        assert_eq!(
            parse_ancestor_header(b"[originating from goroutine 21]:"),
            Some(21)
        );
        assert_eq!(parse_elision(b"...21 frames elided..."), Some(Some(21)));
        assert_eq!(parse_elision(b"...additional frames elided..."), Some(None));
    }

    #[test]
    fn go_string_unquoting() {
        assert_eq!(
            unquote_go(br#""a\tb\x41\u00e9\101" rest"#),
            Some(("a\tbA\u{e9}A".as_bytes().to_vec(), 20))
        );
        assert_eq!(unquote_go(br#""unterminated"#), None);
    }
}
