//! A line reader over any `Read` with a fixed memory ceiling.
//!
//! Dumps are not always UTF-8 and can be gigabytes long, so lines are byte slices into
//! one reusable buffer; a line longer than the limit is cut (and the cut reported)
//! instead of growing the buffer without bound.

use std::io::{self, Read};

const MIN_READ: usize = 256 * 1024;

/// One line of input.
pub(crate) struct Line<'a> {
    /// The line as it was in the input, terminator included (cut lines: what was kept).
    pub raw: &'a [u8],
    /// The line without `\n` or `\r\n`.
    pub text: &'a [u8],
    /// Byte offset of the line's first byte.
    pub offset: u64,
    /// 1-based line number.
    pub number: u64,
    /// The line was longer than the limit; `text` holds its start only.
    pub cut: bool,
}

pub(crate) struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    offset: u64,
    number: u64,
    max_line: usize,
    /// Set while skipping the rest of a line that was too long.
    skipping: bool,
}

impl<R: Read> LineReader<R> {
    pub fn new(inner: R, max_line: usize) -> Self {
        LineReader {
            inner,
            buf: vec![0; (max_line + 1).max(MIN_READ)],
            start: 0,
            end: 0,
            eof: false,
            offset: 0,
            number: 0,
            max_line,
            skipping: false,
        }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.offset
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end < self.buf.len() {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    self.end += n;
                    // One read per fill: a pipe hands out what it has, and waiting for a full
                    // buffer would delay passthrough of live `go test` output.
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The next line, or `None` at the end of the input.
    #[inline]
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        // The common case, kept small enough to inline into the parser's loop: a whole line
        // is already in the buffer.
        if !self.skipping
            && let Some(pos) = find_newline(&self.buf[self.start..self.end])
        {
            let line_start = self.start;
            self.start += pos + 1;
            return Ok(Some(self.emit(line_start, pos + 1, false)));
        }
        self.next_line_slow()
    }

    #[inline(never)]
    fn next_line_slow(&mut self) -> io::Result<Option<Line<'_>>> {
        loop {
            let pending = &self.buf[self.start..self.end];
            if let Some(pos) = memchr::memchr(b'\n', pending) {
                let line_start = self.start;
                self.start += pos + 1;
                if self.skipping {
                    self.skipping = false;
                    self.offset += pos as u64 + 1;
                    continue;
                }
                return Ok(Some(self.emit(line_start, pos + 1, false)));
            }
            if self.eof {
                if pending.is_empty() {
                    return Ok(None);
                }
                let line_start = self.start;
                let len = pending.len();
                self.start = self.end;
                if self.skipping {
                    self.skipping = false;
                    self.offset += len as u64;
                    return Ok(None);
                }
                return Ok(Some(self.emit(line_start, len, false)));
            }
            if pending.len() > self.max_line {
                if self.skipping {
                    self.offset += pending.len() as u64;
                    self.start = self.end;
                } else {
                    // Hand out the head of the overlong line now and drop the rest of it.
                    let line_start = self.start;
                    let len = self.max_line;
                    self.start += len;
                    self.skipping = true;
                    return Ok(Some(self.emit(line_start, len, true)));
                }
            }
            self.fill()?;
        }
    }

    #[inline]
    fn emit(&mut self, start: usize, len: usize, cut: bool) -> Line<'_> {
        let raw = &self.buf[start..start + len];
        let mut text = raw;
        let terminated = text.last() == Some(&b'\n');
        if terminated {
            text = &text[..text.len() - 1];
            if text.last() == Some(&b'\r') {
                text = &text[..text.len() - 1];
            }
        }
        let offset = self.offset;
        self.offset += len as u64;
        self.number += 1;
        Line {
            raw,
            text,
            offset,
            number: self.number,
            cut,
        }
    }
}

/// A line without its `\n` or `\r\n`.
pub(crate) fn trim_line_end(raw: &[u8]) -> &[u8] {
    let text = raw.strip_suffix(b"\n").unwrap_or(raw);
    text.strip_suffix(b"\r").unwrap_or(text)
}

/// The first `\n` in `haystack`. Dump lines are short (60 bytes on average), where a call
/// to `memchr` costs more in setting up than in searching: this loop inlines into the
/// parser and checks 16 bytes per step.
#[inline(always)]
fn find_newline(haystack: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        };
        let mut at = 0;
        // SAFETY: SSE2 is part of x86_64; every load reads 16 bytes at `at`, and the loop
        // runs only while `at + 16 <= haystack.len()`.
        unsafe {
            let newline = _mm_set1_epi8(b'\n' as i8);
            while at + 16 <= haystack.len() {
                let chunk = _mm_loadu_si128(haystack.as_ptr().add(at).cast::<__m128i>());
                let mask = _mm_movemask_epi8(_mm_cmpeq_epi8(chunk, newline)) as u32;
                if mask != 0 {
                    return Some(at + mask.trailing_zeros() as usize);
                }
                at += 16;
            }
        }
        haystack[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| at + p)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        memchr::memchr(b'\n', haystack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<(Vec<u8>, bool)> {
        let mut r = LineReader::new(input, max);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push((l.text.to_vec(), l.cut));
        }
        out
    }

    #[test]
    fn splits_lines_and_strips_crlf() {
        let got = lines(b"a\r\nbb\n\nccc", 100);
        assert_eq!(
            got,
            vec![
                (b"a".to_vec(), false),
                (b"bb".to_vec(), false),
                (b"".to_vec(), false),
                (b"ccc".to_vec(), false)
            ]
        );
    }

    #[test]
    fn cuts_overlong_lines_and_resumes_after_them() {
        let mut input = vec![b'x'; MIN_READ * 3];
        input.extend_from_slice(b"\nnext\n");
        let got = lines(&input, 10);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], (vec![b'x'; 10], true));
        assert_eq!(got[1], (b"next".to_vec(), false));
    }

    #[test]
    fn finds_the_first_newline_at_any_position_and_length() {
        for len in 0..70 {
            for newline_at in (0..len).map(Some).chain([None]) {
                let mut haystack = vec![b'x'; len];
                if let Some(at) = newline_at {
                    haystack[at] = b'\n';
                    // A later newline must not be the one found.
                    if at + 1 < len {
                        haystack[len - 1] = b'\n';
                    }
                }
                assert_eq!(find_newline(&haystack), newline_at, "len {len}");
            }
        }
    }

    #[test]
    fn offsets_count_every_byte() {
        let mut r = LineReader::new(&b"ab\ncd\n"[..], 100);
        assert_eq!(r.next_line().unwrap().unwrap().offset, 0);
        let l = r.next_line().unwrap().unwrap();
        assert_eq!((l.offset, l.number), (3, 2));
        assert!(r.next_line().unwrap().is_none());
        assert_eq!(r.position(), 6);
    }
}
