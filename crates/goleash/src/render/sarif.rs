//! SARIF 2.1.0, as GitHub code scanning and other static-analysis dashboards read it: one
//! rule per knowledge-base pattern, one result per group that is not fine, at its leak site,
//! with the frame it waits in and the `go` statement that started it as related locations.
//!
//! Paths are relative to the repository root (`%SRCROOT%`) when the file is in the
//! repository, so that GitHub puts the result on the line; other files keep their absolute
//! path as a `file:` URI.

use std::io::{self, Write};

use goleash_core::classify::Verdict;
use goleash_core::kb::{Kind, PATTERNS};
use serde::Serialize;

use super::findings::{Accepted, Finding, Place};
use crate::repo::Locations;

/// The rule of findings no knowledge-base pattern matched.
const UNRECOGNISED: &str = "blocked-goroutine";

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: Tool,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_uri_base_ids: Option<serde_json::Value>,
    results: Vec<SarifResult<'a>>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    information_uri: &'static str,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: &'static str,
    name: String,
    short_description: Text,
    full_description: Text,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<Text>,
    default_configuration: Configuration,
    properties: RuleProperties,
}

#[derive(Serialize)]
struct RuleProperties {
    tags: Vec<&'static str>,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'static str,
    rule_index: usize,
    level: &'static str,
    message: Text,
    locations: Vec<Location>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related_locations: Vec<Location>,
    partial_fingerprints: Fingerprints<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    suppressions: Vec<Suppression>,
    properties: ResultProperties<'a>,
}

#[derive(Serialize)]
struct Fingerprints<'a> {
    #[serde(rename = "goleash/stack/v1")]
    stack: &'a str,
}

#[derive(Serialize)]
struct ResultProperties<'a> {
    verdict: &'static str,
    goroutines: u64,
    blocking: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Suppression {
    kind: &'static str,
    justification: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    physical_location: Option<PhysicalLocation>,
    logical_locations: Vec<LogicalLocation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Text>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactLocation {
    uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri_base_id: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation {
    fully_qualified_name: String,
    kind: &'static str,
}

/// SARIF's level for a verdict: a leak is an error, a suspect a warning.
pub fn level(finding: &Finding) -> &'static str {
    match finding.verdict {
        _ if finding.fails => "error",
        Verdict::Leak => "error",
        Verdict::Suspect => "warning",
        Verdict::Lingering | Verdict::Expected => "note",
    }
}

fn rules() -> Vec<Rule> {
    let from_kb = PATTERNS.iter().map(|p| {
        let (level, tag, meaning) = match p.kind {
            Kind::Leak => ("error", "leak", "A known way goroutines leak"),
            Kind::Lingering => (
                "note",
                "lingering",
                "Blocked, but something will wake it (a timer)",
            ),
            Kind::Infrastructure => (
                "none",
                "infrastructure",
                "Long-lived by design; reported only when it grows or outlives what started it",
            ),
        };
        Rule {
            id: p.id,
            name: camel(p.id),
            short_description: Text {
                text: p.title.to_string(),
            },
            full_description: Text {
                text: format!("{}: {}.", p.title, meaning.to_lowercase()),
            },
            help: (!p.hint.is_empty()).then(|| Text {
                text: p.hint.to_string(),
            }),
            default_configuration: Configuration { level },
            properties: RuleProperties {
                tags: vec!["goroutine", tag],
            },
        }
    });
    let unrecognised = Rule {
        id: UNRECOGNISED,
        name: camel(UNRECOGNISED),
        short_description: Text {
            text: "Goroutines blocked in a shape goleash does not know".to_string(),
        },
        full_description: Text {
            text: "Goroutines that wait on something only another goroutine can end, where no known pattern says why: read the stack, the creator and the exit conditions of the leak site.".to_string(),
        },
        help: None,
        default_configuration: Configuration { level: "warning" },
        properties: RuleProperties {
            tags: vec!["goroutine"],
        },
    };
    from_kb.chain(std::iter::once(unrecognised)).collect()
}

/// `send-no-receiver` as `SendNoReceiver`.
fn camel(id: &str) -> String {
    id.split(|c: char| !c.is_ascii_alphanumeric())
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn location(
    place: &Place,
    locations: &Locations,
    message: Option<String>,
    id: Option<usize>,
) -> Location {
    let artifact = if let Some(relative) = locations.relative(&place.file) {
        Some(ArtifactLocation {
            uri: relative.to_string(),
            uri_base_id: Some("%SRCROOT%"),
        })
    } else if place.file.starts_with('/') {
        Some(ArtifactLocation {
            uri: format!("file://{}", place.file),
            uri_base_id: None,
        })
    } else if place.file.is_empty() {
        None
    } else {
        Some(ArtifactLocation {
            uri: place.file.clone(),
            uri_base_id: None,
        })
    };
    Location {
        id,
        physical_location: artifact.map(|artifact_location| PhysicalLocation {
            artifact_location,
            region: (place.line > 0).then_some(Region {
                start_line: place.line,
            }),
        }),
        logical_locations: vec![LogicalLocation {
            fully_qualified_name: place.function.clone(),
            kind: "function",
        }],
        message: message.map(|text| Text { text }),
    }
}

/// Writes the findings as one SARIF log.
pub fn write(out: &mut dyn Write, findings: &[Finding], locations: &Locations) -> io::Result<()> {
    let rules = rules();
    let index_of = |id: &str| {
        rules
            .iter()
            .position(|r| r.id == id)
            .unwrap_or(rules.len() - 1)
    };
    let results = findings
        .iter()
        .map(|f| {
            let rule_id = f.pattern.unwrap_or(UNRECOGNISED);
            let mut related = Vec::new();
            if let Some(waits) = &f.waits_in
                && Some(waits) != f.site.as_ref()
            {
                related.push(location(
                    waits,
                    locations,
                    Some(format!("blocked here, in {}", f.blocking.name())),
                    Some(related.len() + 1),
                ));
            }
            if let Some(creator) = &f.created_by {
                related.push(location(
                    creator,
                    locations,
                    Some(format!("started here, by {}", creator.function)),
                    Some(related.len() + 1),
                ));
            }
            let mut message = f.message();
            if let Some(hint) = &f.hint {
                message.push_str("\nFix: ");
                message.push_str(hint);
            }
            SarifResult {
                rule_id,
                rule_index: index_of(rule_id),
                level: level(f),
                message: Text { text: message },
                locations: f
                    .site
                    .as_ref()
                    .or(f.waits_in.as_ref())
                    .map(|p| location(p, locations, None, None))
                    .into_iter()
                    .collect(),
                related_locations: related,
                partial_fingerprints: Fingerprints {
                    stack: &f.signature,
                },
                suppressions: match &f.accepted {
                    Some(Accepted::Suppressed(reason)) => vec![Suppression {
                        kind: "external",
                        justification: format!("suppressed by .goleash.toml: {reason}"),
                    }],
                    Some(Accepted::Baselined) => vec![Suppression {
                        kind: "external",
                        justification: "accepted by the goleash baseline".to_string(),
                    }],
                    None => Vec::new(),
                },
                properties: ResultProperties {
                    verdict: f.verdict.name(),
                    goroutines: f.count,
                    blocking: f.blocking.name(),
                    subject: f.subject.as_deref(),
                    source: f.source.as_deref(),
                },
            }
        })
        .collect();
    let log = Log {
        schema: "https://json.schemastore.org/sarif-2.1.0.json",
        version: "2.1.0",
        runs: [Run {
            tool: Tool {
                driver: Driver {
                    name: "goleash",
                    version: env!("CARGO_PKG_VERSION"),
                    information_uri: env!("CARGO_PKG_REPOSITORY"),
                    rules,
                },
            },
            original_uri_base_ids: locations.root.as_ref().map(|root| {
                let mut uri = format!("file://{}", root.display());
                if !uri.ends_with('/') {
                    uri.push('/');
                }
                serde_json::json!({ "%SRCROOT%": { "uri": uri } })
            }),
            results,
        }],
    };
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::findings;

    /// The published SARIF 2.1.0 schema, with the one pattern of it strict validators
    /// reject (a stray `]` in `language`, which goleash never writes) corrected.
    fn validator() -> jsonschema::Validator {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data/schemas/sarif-schema-2.1.0.json");
        let mut schema: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        for definition in ["run", "toolComponent"] {
            schema["definitions"][definition]["properties"]["language"]["pattern"] =
                serde_json::Value::from("^[a-zA-Z]{2}(-[a-zA-Z]{2})?$");
        }
        jsonschema::validator_for(&schema).unwrap()
    }

    /// `goleash test --format sarif` of the stored `testleaks` run: valid SARIF, one error
    /// per leaking stack, each under its test.
    #[test]
    fn the_stored_test_run_as_sarif() {
        let doc = crate::cmd::test::tests::replayed();
        let found = findings::of_test(&doc);
        let mut out = Vec::new();
        write(&mut out, &found, &Locations::default()).unwrap();
        let log: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let errors: Vec<String> = validator()
            .iter_errors(&log)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}", errors.join("\n"));
        let results = log["runs"][0]["results"].as_array().unwrap();
        let failing = results.iter().filter(|r| r["level"] == "error").count();
        assert_eq!(failing as u64, doc.summary.leaking_stacks);
        for (_, test) in &doc.summary.leaking {
            assert!(
                results.iter().any(|r| r["properties"]["subject"]
                    .as_str()
                    .is_some_and(|s| s.starts_with(&format!("{test} (")))),
                "no result for {test}"
            );
        }
    }
}
