//! Real goroutine profiles replayed with other counts: a captured `debug=0` profile whose
//! sample values are rewritten, and a captured `debug=2` dump whose records are repeated.
//! Stacks, functions, files, lines and labels stay exactly as the Go runtime wrote them.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::ops::Range;

use anyhow::{Context, Result, bail};
use goleash_core::{ReadOptions, Signature};

/// Reads a protobuf varint at `*pos`.
fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// One field of a message: its number and where its bytes are, key included.
struct Field {
    number: u64,
    whole: Range<usize>,
}

/// The top-level fields of a protobuf message.
fn fields(buf: &[u8]) -> Option<Vec<Field>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let start = pos;
        let key = varint(buf, &mut pos)?;
        match key & 7 {
            0 => {
                varint(buf, &mut pos)?;
            }
            1 => pos += 8,
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                pos = pos.checked_add(len)?;
            }
            5 => pos += 4,
            _ => return None,
        }
        if pos > buf.len() {
            return None;
        }
        out.push(Field {
            number: key >> 3,
            whole: start..pos,
        });
    }
    Some(out)
}

/// `profile.proto` field numbers used here.
const PROFILE_SAMPLE: u64 = 2;
const PROFILE_TIME_NANOS: u64 = 9;
const SAMPLE_VALUE: u64 = 2;

/// A captured `debug=0` goroutine profile, to serve with any counts per stack.
pub struct ProfileTemplate {
    /// Every field but the samples and the capture time: types, locations, functions,
    /// mappings, strings.
    head: Vec<u8>,
    /// Each stack's sample, without its value.
    samples: Vec<(Signature, Vec<u8>)>,
}

impl ProfileTemplate {
    /// Reads a gzipped profile.
    pub fn parse(gzipped: &[u8]) -> Result<ProfileTemplate> {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(gzipped)
            .read_to_end(&mut raw)
            .context("the embedded profile is not gzip")?;
        let Some(top) = fields(&raw) else {
            bail!("the embedded profile is not a protobuf message");
        };
        let mut head = Vec::new();
        let mut samples: Vec<(Signature, Vec<u8>)> = Vec::new();
        let mut sample_fields = Vec::new();
        for field in &top {
            match field.number {
                PROFILE_SAMPLE => sample_fields.push(field.whole.clone()),
                PROFILE_TIME_NANOS => {}
                _ => head.extend_from_slice(&raw[field.whole.clone()]),
            }
        }
        for whole in sample_fields {
            // The payload of a length-delimited field follows its key and length.
            let mut pos = whole.start;
            varint(&raw, &mut pos);
            varint(&raw, &mut pos);
            let message = &raw[pos..whole.end];
            let Some(inner) = fields(message) else {
                bail!("a sample of the embedded profile is malformed");
            };
            let mut without_value = Vec::new();
            for f in inner.iter().filter(|f| f.number != SAMPLE_VALUE) {
                without_value.extend_from_slice(&message[f.whole.clone()]);
            }
            let signature = signature_of_sample(&head, &without_value)?;
            if !samples.iter().any(|(s, _)| *s == signature) {
                samples.push((signature, without_value));
            }
        }
        Ok(ProfileTemplate { head, samples })
    }

    /// The stacks it has.
    pub fn signatures(&self) -> impl Iterator<Item = Signature> + '_ {
        self.samples.iter().map(|(s, _)| *s)
    }

    /// The profile with `counts` goroutines per stack (stacks not named are left out),
    /// gzipped like the runtime serves it.
    pub fn render(&self, counts: &HashMap<Signature, u64>, time_nanos: u64) -> Vec<u8> {
        let mut raw = self.head.clone();
        for (signature, without_value) in &self.samples {
            let count = counts.get(signature).copied().unwrap_or(0);
            if count > 0 {
                let sample = sample_message(without_value, count);
                put_varint(&mut raw, (PROFILE_SAMPLE << 3) | 2);
                put_varint(&mut raw, sample.len() as u64);
                raw.extend_from_slice(&sample);
            }
        }
        put_varint(&mut raw, PROFILE_TIME_NANOS << 3);
        put_varint(&mut raw, time_nanos);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        // Writing to a Vec cannot fail.
        let _ = gz.write_all(&raw);
        gz.finish().unwrap_or_default()
    }
}

/// A sample message: its stack and labels, then `value = [count]` (packed).
fn sample_message(without_value: &[u8], count: u64) -> Vec<u8> {
    let mut value = Vec::new();
    put_varint(&mut value, count);
    let mut sample = without_value.to_vec();
    put_varint(&mut sample, (SAMPLE_VALUE << 3) | 2);
    put_varint(&mut sample, value.len() as u64);
    sample.extend_from_slice(&value);
    sample
}

/// The signature goleash gives one sample: a profile of that sample alone, read.
fn signature_of_sample(head: &[u8], without_value: &[u8]) -> Result<Signature> {
    let mut raw = head.to_vec();
    let sample = sample_message(without_value, 1);
    put_varint(&mut raw, (PROFILE_SAMPLE << 3) | 2);
    put_varint(&mut raw, sample.len() as u64);
    raw.extend_from_slice(&sample);
    let capture = goleash_core::read(&raw[..], &ReadOptions::default(), None)?;
    capture
        .snapshots
        .first()
        .and_then(|s| s.groups.first())
        .map(|g| g.signature)
        .context("a sample of the embedded profile has no stack")
}

/// One goroutine record of a dump, to repeat with fresh ids.
struct Record {
    signature: Signature,
    /// The header after `goroutine N `: `[chan send (leaked)]:`.
    state: String,
    /// The frames and `created by`.
    body: String,
}

/// A captured `goroutineleak?debug=2` dump (all goroutines, the leaked ones marked), to
/// serve with any counts per stack.
pub struct DumpTemplate {
    /// The goroutine that writes the dump: always first, always one.
    writer: Option<Record>,
    records: Vec<Record>,
}

impl DumpTemplate {
    /// Reads the dump; one record is kept per stack, a `(leaked)` one where there is one.
    pub fn parse(text: &str) -> Result<DumpTemplate> {
        let mut writer = None;
        let mut records: Vec<Record> = Vec::new();
        for chunk in text.split("\n\n") {
            let chunk = chunk.trim_end_matches('\n');
            let Some((header, body)) = chunk.split_once('\n') else {
                continue;
            };
            let Some(rest) = header.strip_prefix("goroutine ") else {
                continue;
            };
            let Some((_, state)) = rest.split_once(' ') else {
                continue;
            };
            let capture = goleash_core::read(chunk.as_bytes(), &ReadOptions::default(), None)?;
            let Some(signature) = capture
                .snapshots
                .first()
                .and_then(|s| s.groups.first())
                .map(|g| g.signature)
            else {
                continue;
            };
            let record = Record {
                signature,
                state: state.to_string(),
                body: body.to_string(),
            };
            if state.starts_with("[running]") && body.contains("writeGoroutineStacks") {
                writer = Some(record);
                continue;
            }
            match records.iter_mut().find(|r| r.signature == signature) {
                Some(kept) if !kept.state.contains("(leaked)") && state.contains("(leaked)") => {
                    *kept = record
                }
                Some(_) => {}
                None => records.push(record),
            }
        }
        if records.is_empty() {
            bail!("the embedded dump has no goroutines");
        }
        Ok(DumpTemplate { writer, records })
    }

    /// The dump with `counts` goroutines per stack. `leak_profile` keeps the `(leaked)`
    /// marks (the goroutineleak profile); without it they are removed, as in
    /// `goroutine?debug=2`.
    pub fn render(&self, counts: &HashMap<Signature, u64>, leak_profile: bool) -> String {
        let mut out = String::new();
        let mut id = 1u64;
        let mut emit = |record: &Record, out: &mut String| {
            let state = if leak_profile {
                record.state.clone()
            } else {
                record.state.replace(" (leaked)", "")
            };
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(&format!("goroutine {id} {state}\n{}", record.body));
            id += 1;
        };
        if let Some(writer) = &self.writer {
            emit(writer, &mut out);
        }
        for record in &self.records {
            for _ in 0..counts.get(&record.signature).copied().unwrap_or(0) {
                emit(record, &mut out);
            }
        }
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &[u8] =
        include_bytes!("../../../../tests/data/go1.27/watchsvc/goroutine_debug0.pb.gz");
    const DUMP: &str =
        include_str!("../../../../tests/data/go1.27/watchsvc/goroutineleak_debug2.txt");

    #[test]
    fn a_replayed_profile_reads_back_with_the_counts_it_was_given() {
        let template = ProfileTemplate::parse(PROFILE).unwrap();
        let signatures: Vec<Signature> = template.signatures().collect();
        assert!(signatures.len() >= 5, "{}", signatures.len());
        let counts: HashMap<Signature, u64> = signatures
            .iter()
            .enumerate()
            .map(|(i, &s)| (s, (i as u64 + 1) * 100))
            .collect();
        let body = template.render(&counts, 1_700_000_000_000_000_000);
        let capture = goleash_core::read(&body[..], &ReadOptions::default(), None).unwrap();
        let snapshot = &capture.snapshots[0];
        assert_eq!(snapshot.total, counts.values().sum::<u64>());
        for group in &snapshot.groups {
            assert_eq!(Some(&group.count), counts.get(&group.signature));
        }
        assert_eq!(snapshot.info.time_nanos, Some(1_700_000_000_000_000_000));
    }

    #[test]
    fn a_replayed_dump_has_its_stacks_and_marks_only_the_leaked_ones() {
        let template = DumpTemplate::parse(DUMP).unwrap();
        let leaked: Vec<Signature> = template
            .records
            .iter()
            .filter(|r| r.state.contains("(leaked)"))
            .map(|r| r.signature)
            .collect();
        assert_eq!(leaked.len(), 1, "one stack of the capture leaks");
        let counts: HashMap<Signature, u64> = template
            .records
            .iter()
            .map(|r| {
                (
                    r.signature,
                    if leaked.contains(&r.signature) { 40 } else { 2 },
                )
            })
            .collect();
        for leak_profile in [true, false] {
            let text = template.render(&counts, leak_profile);
            let capture =
                goleash_core::read(text.as_bytes(), &ReadOptions::default(), None).unwrap();
            let snapshot = &capture.snapshots[0];
            // Plus the goroutine writing the dump.
            assert_eq!(snapshot.total, counts.values().sum::<u64>() + 1);
            let proven: u64 = snapshot.groups.iter().map(|g| g.leaked).sum();
            assert_eq!(proven, if leak_profile { 40 } else { 0 });
        }
    }
}
