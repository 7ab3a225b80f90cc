//! Large dumps for the benches, made from real captures: their goroutine records repeated
//! with fresh goroutine ids (and creator ids shifted with them) until a size is reached.
//! What would make the copies read as several dumps is left out of them, as one real dump
//! has it once: a goroutine listed again (the thread sections of a crash) and, after the
//! first copy, the running goroutine that wrote the dump.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// The goroutine records of a dump, each a block of lines starting with its header.
pub fn records(text: &str) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in text.lines() {
        if line.starts_with("goroutine ") && line.ends_with(':') {
            if let Some(r) = current.take() {
                out.push(r);
            }
            current = Some(vec![line.to_string()]);
        } else if line.is_empty() || line.starts_with("SIG") || line.starts_with("-----") {
            if let Some(r) = current.take() {
                out.push(r);
            }
        } else if let Some(r) = current.as_mut() {
            // Register dumps follow the last record of a level-2 dump.
            let mut words = line.split_whitespace();
            let register = matches!(
                (words.next(), words.next(), words.next()),
                (Some(name), Some(value), None)
                    if name.bytes().all(|b| b.is_ascii_alphanumeric()) && value.starts_with("0x")
            );
            if !register {
                r.push(line.to_string());
            }
        }
    }
    out.extend(current);
    out
}

/// Rewrites `goroutine N` and `in goroutine N` with ids shifted for copy `k`.
pub fn renumber(line: &str, shift: u64) -> String {
    let shift_id = |rest: &str| -> Option<(u64, usize)> {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        rest[..digits]
            .parse::<u64>()
            .ok()
            .map(|n| (n + shift, digits))
    };
    if let Some(rest) = line.strip_prefix("goroutine ")
        && let Some((id, len)) = shift_id(rest)
    {
        return format!("goroutine {id}{}", &rest[len..]);
    }
    if let Some(at) = line.find(" in goroutine ")
        && let Some((id, len)) = shift_id(&line[at + 14..])
    {
        return format!(
            "{} in goroutine {id}{}",
            &line[..at],
            &line[at + 14 + len..]
        );
    }
    line.to_string()
}

pub fn replicate(capture: &Path, target_bytes: u64, out: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(capture).expect("source capture");
    let records = records(&text);
    assert!(!records.is_empty());
    let max_id: u64 = records
        .iter()
        .filter_map(|r| {
            r[0].strip_prefix("goroutine ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .max()
        .unwrap();
    let id_of = |record: &[String]| -> Option<u64> {
        record[0]
            .strip_prefix("goroutine ")?
            .split(' ')
            .next()?
            .parse()
            .ok()
    };
    let mut seen = std::collections::HashSet::new();
    let records: Vec<&Vec<String>> = records
        .iter()
        .filter(|r| id_of(r).is_none_or(|id| seen.insert(id)))
        .collect();
    let mut w = BufWriter::with_capacity(1 << 20, File::create(out).unwrap());
    let (mut written, mut goroutines, mut copy) = (0u64, 0u64, 0u64);
    'outer: loop {
        let shift = copy * (max_id + 1);
        for record in &records {
            if copy > 0 && record[0].contains(" [running") {
                continue;
            }
            let mut block = String::new();
            if goroutines > 0 {
                block.push('\n');
            }
            for line in record.iter() {
                block.push_str(&renumber(line, shift));
                block.push('\n');
            }
            w.write_all(block.as_bytes()).unwrap();
            written += block.len() as u64;
            goroutines += 1;
            if written >= target_bytes {
                break 'outer;
            }
        }
        copy += 1;
    }
    w.flush().unwrap();
    (written, goroutines)
}
