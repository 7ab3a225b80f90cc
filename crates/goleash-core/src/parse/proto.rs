//! The `?debug=0` protobuf profile (profile.proto, see `docs/formats.md` §4).
//!
//! A small hand-written decoder: the goroutine profile uses a handful of fields, and
//! decoding by hand lets every length and index from the input be checked before it is
//! trusted, so hostile input ends in an error, never a panic or a huge allocation.

use std::io::{self, Read};

use rustc_hash::FxHashMap;

use crate::intern::{Frame, FrameId, Tables};
use crate::model::{Cause, DumpInfo, Format, Profile, Record, Warning};
use crate::parse::{ParseError, ParseOptions, Parser, Sink, Summary};

/// Reads `?debug=0` goroutine and goroutineleak profiles.
pub struct ProtoParser {
    options: ParseOptions,
}

impl ProtoParser {
    /// A parser with the given limits.
    pub fn new(options: ParseOptions) -> Self {
        ProtoParser { options }
    }
}

impl Parser for ProtoParser {
    fn parse(
        &mut self,
        input: &mut dyn Read,
        tables: &mut Tables,
        sink: &mut dyn Sink,
    ) -> Result<Summary, ParseError> {
        let mut bytes = Vec::new();
        let limit = self.options.max_proto_bytes;
        input.take(limit + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > limit {
            return Err(ParseError::TooLarge {
                what: "the protobuf profile",
                limit,
            });
        }
        decode(&bytes, tables, sink)
    }
}

/// Whether the first bytes look like a profile.proto message. Go writes `sample_type`
/// (field 1) or, before Go 1.16, `period_type` (field 11) first: a small `ValueType`. Every
/// field that follows in the head must have the wire type profile.proto gives it.
pub(crate) fn looks_like_profile(head: &[u8]) -> bool {
    let mut r = Reader::new(head);
    let mut fields = 0;
    while r.remaining() > 0 {
        let Ok((field, wire)) = r.key() else {
            return fields >= 2;
        };
        let expected_wire = match field {
            1..=6 | 11 => 2,
            7..=10 | 12 | 14 | 15 => 0,
            13 => wire,
            _ => return false,
        };
        if wire != expected_wire || (fields == 0 && field != 1 && field != 11) {
            return false;
        }
        let complete = match wire {
            0 => r.varint().is_ok(),
            _ => match r.varint() {
                Ok(len) if fields == 0 && !(1..=32).contains(&len) => return false,
                Ok(len) => match r.bytes(len as usize) {
                    Ok(inner) if fields == 0 => is_value_type(inner),
                    Ok(_) => true,
                    // The head ends inside this field: what was seen is all there is.
                    Err(_) => return fields >= 1,
                },
                Err(_) => false,
            },
        };
        if !complete {
            return fields >= 2;
        }
        fields += 1;
    }
    fields >= 2
}

fn is_value_type(inner: &[u8]) -> bool {
    let mut v = Reader::new(inner);
    while v.remaining() > 0 {
        match v.key() {
            Ok((1 | 2, 0)) if v.varint().is_ok() => {}
            _ => return false,
        }
    }
    true
}

#[derive(Debug)]
struct DecodeError {
    offset: usize,
    message: &'static str,
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader {
            data,
            pos: 0,
            base: 0,
        }
    }

    fn nested(&self, data: &'a [u8]) -> Reader<'a> {
        Reader {
            data,
            pos: 0,
            // `data` was just read from this reader, so it ends at `pos`.
            base: (self.base + self.pos).saturating_sub(data.len()),
        }
    }

    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn error(&self, message: &'static str) -> DecodeError {
        DecodeError {
            offset: self.base + self.pos,
            message,
        }
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let Some(&b) = self.data.get(self.pos) else {
                return Err(self.error("truncated varint"));
            };
            self.pos += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error("varint longer than 10 bytes"))
    }

    fn key(&mut self) -> Result<(u64, u8), DecodeError> {
        let key = self.varint()?;
        Ok((key >> 3, (key & 7) as u8))
    }

    fn bytes(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        if len > self.remaining() {
            return Err(self.error("length runs past the end of the message"));
        }
        let out = &self.data[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }

    fn length_delimited(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| self.error("length too large"))?;
        self.bytes(len)
    }

    fn skip(&mut self, wire: u8) -> Result<(), DecodeError> {
        match wire {
            0 => self.varint().map(drop),
            1 => self.bytes(8).map(drop),
            2 => self.length_delimited().map(drop),
            5 => self.bytes(4).map(drop),
            _ => Err(self.error("unsupported wire type")),
        }
    }

    /// Reads a repeated integer field, packed or not.
    fn repeated_varint(&mut self, wire: u8, out: &mut Vec<u64>) -> Result<(), DecodeError> {
        match wire {
            0 => out.push(self.varint()?),
            2 => {
                let packed = self.length_delimited()?;
                let mut r = self.nested(packed);
                while r.remaining() > 0 {
                    out.push(r.varint()?);
                }
            }
            _ => return Err(self.error("wrong wire type for an integer field")),
        }
        Ok(())
    }
}

struct Location {
    address: u64,
    lines: Vec<(u64, i64)>,
}

struct Function {
    name: u64,
    filename: u64,
}

/// Why decoding stopped.
enum Stop {
    /// The bytes are not a valid profile.
    Decode(DecodeError),
    /// Anything else, as the caller is to see it.
    Parse(ParseError),
}

impl From<DecodeError> for Stop {
    fn from(e: DecodeError) -> Self {
        Stop::Decode(e)
    }
}

fn sink_failed(e: io::Error) -> Stop {
    Stop::Parse(ParseError::Sink(e))
}

fn decode(data: &[u8], tables: &mut Tables, sink: &mut dyn Sink) -> Result<Summary, ParseError> {
    decode_inner(data, tables, sink).map_err(|stop| match stop {
        Stop::Decode(e) => ParseError::Proto {
            offset: e.offset as u64,
            message: e.message.to_string(),
        },
        Stop::Parse(e) => e,
    })
}

fn decode_inner(data: &[u8], tables: &mut Tables, sink: &mut dyn Sink) -> Result<Summary, Stop> {
    let mut r = Reader::new(data);
    let mut sample_types = Vec::new();
    let mut samples = Vec::new();
    let mut locations: FxHashMap<u64, Location> = FxHashMap::default();
    let mut functions: FxHashMap<u64, Function> = FxHashMap::default();
    let mut strings: Vec<&[u8]> = Vec::new();
    let mut time_nanos = None;
    while r.remaining() > 0 {
        let (field, wire) = r.key()?;
        match (field, wire) {
            (1, 2) => {
                let msg = r.length_delimited()?;
                let mut v = r.nested(msg);
                let mut kind = 0;
                while v.remaining() > 0 {
                    match v.key()? {
                        (1, 0) => kind = v.varint()?,
                        (_, w) => v.skip(w)?,
                    }
                }
                sample_types.push(kind);
            }
            (2, 2) => samples.push((r.pos, r.length_delimited()?)),
            (4, 2) => {
                let msg = r.length_delimited()?;
                let (id, location) = decode_location(r.nested(msg))?;
                locations.insert(id, location);
            }
            (5, 2) => {
                let msg = r.length_delimited()?;
                let mut v = r.nested(msg);
                let (mut id, mut name, mut system_name, mut filename) = (0, 0, 0, 0);
                while v.remaining() > 0 {
                    match v.key()? {
                        (1, 0) => id = v.varint()?,
                        (2, 0) => name = v.varint()?,
                        (3, 0) => system_name = v.varint()?,
                        (4, 0) => filename = v.varint()?,
                        (_, w) => v.skip(w)?,
                    }
                }
                let name = if name != 0 { name } else { system_name };
                functions.insert(id, Function { name, filename });
            }
            (6, 2) => strings.push(r.length_delimited()?),
            (9, 0) => time_nanos = Some(r.varint()? as i64),
            (_, w) => r.skip(w)?,
        }
    }

    let string =
        |index: u64| -> Option<&[u8]> { strings.get(usize::try_from(index).ok()?).copied() };
    let profile = match sample_types.first().and_then(|&i| string(i)) {
        Some(b"goroutine") | None => Profile::Goroutine,
        Some(b"goroutineleak") => Profile::GoroutineLeak,
        Some(other) => {
            return Err(Stop::Parse(ParseError::WrongProfile {
                kind: String::from_utf8_lossy(other).into_owned(),
            }));
        }
    };

    // Each location's frames are interned once, whatever the number of samples using it.
    let mut bad_references = 0u64;
    let mut location_frames: FxHashMap<u64, Vec<FrameId>> = FxHashMap::default();
    for (&id, location) in &locations {
        let mut frames = Vec::with_capacity(location.lines.len());
        let last = location.lines.len().saturating_sub(1);
        for (i, &(function_id, line)) in location.lines.iter().enumerate() {
            let Some(function) = functions.get(&function_id) else {
                bad_references += 1;
                continue;
            };
            let (Some(name), Some(file)) = (string(function.name), string(function.filename))
            else {
                bad_references += 1;
                continue;
            };
            let frame = Frame {
                function: tables.sym(name),
                file: tables.sym(file),
                line: u32::try_from(line).unwrap_or(0),
                offset: None,
                // The last line of a location is the physical call; those before it were
                // inlined into it.
                inlined: i != last,
            };
            frames.push(tables.frame(frame));
        }
        location_frames.insert(id, frames);
    }

    let mut record = Record::default();
    let mut decoded = Vec::with_capacity(samples.len());
    let mut declared_total: u64 = 0;
    for &(pos, msg) in &samples {
        let mut v = Reader {
            data: msg,
            pos: 0,
            base: pos,
        };
        let mut location_ids = Vec::new();
        let mut values = Vec::new();
        let mut labels = Vec::new();
        while v.remaining() > 0 {
            let (field, wire) = v.key()?;
            match field {
                1 => v.repeated_varint(wire, &mut location_ids)?,
                2 => v.repeated_varint(wire, &mut values)?,
                3 if wire == 2 => {
                    let label = v.length_delimited()?;
                    let mut l = v.nested(label);
                    let (mut key, mut str_value, mut num, mut has_num) = (0, 0, 0i64, false);
                    while l.remaining() > 0 {
                        match l.key()? {
                            (1, 0) => key = l.varint()?,
                            (2, 0) => str_value = l.varint()?,
                            (3, 0) => {
                                num = l.varint()? as i64;
                                has_num = true;
                            }
                            (_, w) => l.skip(w)?,
                        }
                    }
                    labels.push((key, str_value, has_num.then_some(num)));
                }
                _ => v.skip(wire)?,
            }
        }
        let count = values.first().copied().unwrap_or(0);
        declared_total = declared_total.saturating_add(count);
        decoded.push((pos, count, location_ids, labels));
    }

    let info = DumpInfo {
        format: Format::Proto,
        profile,
        cause: Cause::default(),
        declared_total: Some(declared_total),
        time_nanos,
        offset: 0,
        prefix: None,
    };
    sink.dump_start(tables, &info).map_err(sink_failed)?;
    for (pos, count, location_ids, labels) in decoded {
        record.clear();
        record.count = count;
        record.offset = pos as u64;
        for id in location_ids {
            match (location_frames.get(&id), locations.get(&id)) {
                (Some(frames), Some(location)) => {
                    for &frame in frames {
                        record.push_frame(frame, b"", None);
                    }
                    record.pcs.push(location.address);
                }
                _ => bad_references += 1,
            }
        }
        let mut pairs = Vec::new();
        for (key, str_value, num) in labels {
            let Some(key) = string(key) else {
                bad_references += 1;
                continue;
            };
            let value = match num {
                Some(n) => n.to_string().into_bytes(),
                None => match string(str_value) {
                    Some(v) => v.to_vec(),
                    None => {
                        bad_references += 1;
                        continue;
                    }
                },
            };
            pairs.push((tables.sym(key), tables.sym(&value)));
        }
        record.labels = tables.labels(&mut pairs);
        sink.record(tables, &record).map_err(sink_failed)?;
    }
    sink.dump_end(tables, false).map_err(sink_failed)?;
    if bad_references > 0 {
        sink.warning(Warning {
            offset: 0,
            line: None,
            message: format!(
                "{bad_references} references to missing locations, functions or strings; those frames or labels were left out"
            ),
        })
        .map_err(sink_failed)?;
    }
    Ok(Summary {
        bytes: data.len() as u64,
        dumps: 1,
        records: samples.len() as u64,
        races: 0,
    })
}

fn decode_location(mut v: Reader<'_>) -> Result<(u64, Location), DecodeError> {
    let mut id = 0;
    let mut location = Location {
        address: 0,
        lines: Vec::new(),
    };
    while v.remaining() > 0 {
        match v.key()? {
            (1, 0) => id = v.varint()?,
            (3, 0) => location.address = v.varint()?,
            (4, 2) => {
                let line = v.length_delimited()?;
                let mut l = v.nested(line);
                let (mut function_id, mut line_no) = (0, 0i64);
                while l.remaining() > 0 {
                    match l.key()? {
                        (1, 0) => function_id = l.varint()?,
                        (2, 0) => line_no = l.varint()? as i64,
                        (_, w) => l.skip(w)?,
                    }
                }
                location.lines.push((function_id, line_no));
            }
            (_, w) => v.skip(w)?,
        }
    }
    Ok((id, location))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_profiles_not_text() {
        // sample_type {type: 1, unit: 2}, then a sample.
        assert!(looks_like_profile(&[
            0x0a, 0x04, 0x08, 0x01, 0x10, 0x02, 0x12, 0x00
        ]));
        assert!(!looks_like_profile(b"\ngoroutine 1 [running]:\n"));
        assert!(!looks_like_profile(b"\n\n\n\n"));
        assert!(!looks_like_profile(&[0x0a]));
    }

    #[test]
    fn hostile_lengths_are_errors() {
        let mut t = Tables::new();
        struct Null;
        impl Sink for Null {
            fn dump_start(&mut self, _: &Tables, _: &DumpInfo) -> io::Result<()> {
                Ok(())
            }
            fn record(&mut self, _: &mut Tables, _: &Record) -> io::Result<()> {
                Ok(())
            }
            fn dump_end(&mut self, _: &mut Tables, _: bool) -> io::Result<()> {
                Ok(())
            }
        }
        // A sample whose length claims 2^62 bytes.
        let data = [0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f];
        assert!(matches!(
            decode(&data, &mut t, &mut Null),
            Err(ParseError::Proto { .. })
        ));
        let data = [0x12, 0x05, 0x08];
        assert!(matches!(
            decode(&data, &mut t, &mut Null),
            Err(ParseError::Proto { .. })
        ));
    }
}
