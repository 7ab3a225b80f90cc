//! One `file:line:col: verdict: message` line per finding, as compilers and `go vet` print
//! them: editors jump to them, `grep` and `awk` read them.

use std::io::{self, Write};

use super::findings::Finding;
use crate::repo::Locations;

/// Writes the findings, one per line.
pub fn write(out: &mut dyn Write, findings: &[Finding], locations: &Locations) -> io::Result<()> {
    for f in findings {
        let position = match f.site.as_ref().or(f.waits_in.as_ref()) {
            Some(place) if !place.file.is_empty() => {
                let file = locations.relative(&place.file).unwrap_or(&place.file);
                // Go prints no columns; editors want one.
                format!("{file}:{}:1", place.line.max(1))
            }
            _ => "-:1:1".to_string(),
        };
        let accepted = match &f.accepted {
            Some(_) => " (accepted)",
            None => "",
        };
        writeln!(
            out,
            "{position}: {}{accepted}: {} in {}",
            f.verdict.name(),
            f.message(),
            f.function()
        )?;
    }
    Ok(())
}
