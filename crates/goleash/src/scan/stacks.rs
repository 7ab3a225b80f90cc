//! Naming the stacks that leak in a suspect: proven ones from the goroutineleak profile at
//! once; otherwise what grew against a healthy replica of the same job (same binary, fewer
//! goroutines: the stacks it has fewer of are the ones that grew), or against a second
//! profile of the suspect a short interval later.

use std::time::Duration;

use anyhow::{Result, bail};
use goleash_core::classify::Verdict;
use goleash_core::{Capture, ReadOptions, diff};

use crate::analysis::{self, FileSource};
use crate::collect::Client;
use crate::doc::Group;
use crate::doc::scan::{Direction, Instance, Method, StackGroup, Stacks};
use crate::input;
use crate::prometheus::Labels;

/// A pprof base with `{label}` placeholders, e.g. `http://{instance}/debug/pprof`.
#[derive(Clone, Debug)]
pub struct Template {
    text: String,
}

impl Template {
    /// Checks that every `{` is closed and names a label.
    pub fn parse(text: &str) -> Result<Template> {
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                bail!("the pprof template {text:?} opens a {{ it does not close");
            };
            let name = &rest[open + 1..open + close];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                bail!("the pprof template {text:?} has {{{name}}}, which is not a label name");
            }
            rest = &rest[open + close + 1..];
        }
        Ok(Template {
            text: text.to_string(),
        })
    }

    /// As given.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The URL for a series, or the labels it lacks.
    pub fn fill(&self, labels: &Labels) -> Result<String, Vec<String>> {
        let mut out = String::with_capacity(self.text.len() + 32);
        let mut missing = Vec::new();
        let mut rest = self.text.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = open + rest[open..].find('}').expect("checked by parse");
            let name = &rest[open + 1..close];
            match labels.get(name) {
                Some(value) => out.push_str(value),
                None => missing.push(name.to_string()),
            }
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        if missing.is_empty() {
            Ok(out)
        } else {
            Err(missing)
        }
    }
}

/// How to read the suspects' profiles.
pub struct Fetching<'a> {
    /// Their pprof bases.
    pub template: &'a Template,
    /// The HTTP client.
    pub client: &'a Client,
    /// Ask for the goroutineleak profile first.
    pub leak_profile: bool,
    /// How long to wait between two profiles of one suspect.
    pub recheck: Duration,
    /// Grouping.
    pub read: &'a ReadOptions,
    /// The program's source, for leak sites and exit conditions.
    pub source: &'a FileSource,
}

/// Names the stacks of the first `limit` rising instances (they are ranked), filling
/// their `stacks`.
pub fn name_all(instances: &mut [Instance], limit: usize, fetching: &Fetching<'_>) {
    let suspects: Vec<usize> = instances
        .iter()
        .enumerate()
        .filter(|(_, i)| i.direction == Direction::Rising)
        .map(|(n, _)| n)
        .take(limit)
        .collect();
    for n in suspects {
        let replica = healthy_replica(instances, n, fetching.template);
        instances[n].stacks = Some(name(&instances[n], replica, fetching));
    }
}

/// The flat series of the same job and metric with the lowest last count: the same
/// binary, doing without the goroutines that grew in the suspect.
fn healthy_replica(instances: &[Instance], suspect: usize, template: &Template) -> Option<String> {
    let of = &instances[suspect].labels;
    let job = of.get("job")?;
    let own = template.fill(of).ok()?;
    instances
        .iter()
        .filter(|i| i.direction == Direction::Flat)
        .filter(|i| {
            i.labels.get("job") == Some(job) && i.labels.get("__name__") == of.get("__name__")
        })
        .filter_map(|i| Some((i.last?, template.fill(&i.labels).ok()?)))
        .filter(|(_, url)| *url != own)
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, url)| url)
}

fn name(instance: &Instance, replica: Option<String>, fetching: &Fetching<'_>) -> Stacks {
    let mut stacks = Stacks {
        pprof: None,
        method: None,
        compared_with: None,
        groups: Vec::new(),
        error: None,
    };
    let url = match fetching.template.fill(&instance.labels) {
        Ok(url) => url,
        Err(missing) => {
            stacks.error = Some(format!(
                "the series has no {} label to fill the pprof template {:?}\n  hint: give --pprof a template of labels it has: {}",
                missing.join(", "),
                fetching.template.text,
                instance
                    .labels
                    .keys()
                    .map(|k| format!("{{{k}}}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
            return stacks;
        }
    };
    stacks.pprof = Some(url.clone());
    let suspect = match read(&url, fetching) {
        Ok(capture) => capture,
        Err(e) => {
            stacks.error = Some(format!(
                "{e:#}\n  (the instance may have gone away since Prometheus scraped it)"
            ));
            return stacks;
        }
    };
    let snapshot = input::last(&suspect);
    if snapshot.groups.iter().any(|g| g.leaked > 0) {
        let assessed =
            analysis::assess_snapshot(&suspect, snapshot, &|_| None, false, fetching.source);
        stacks.method = Some(Method::Proven);
        for (g, a) in snapshot.groups.iter().zip(&assessed) {
            if g.leaked > 0 && a.verdict == Verdict::Leak {
                stacks.groups.push(StackGroup {
                    group: Group::of(&suspect.tables, snapshot, g, a, 0, &|_| None),
                    count_before: None,
                });
            }
        }
        sort(&mut stacks.groups);
        return stacks;
    }
    let replica_capture = replica
        .as_deref()
        .and_then(|r| read(r, fetching).ok().map(|c| (r, c)));
    let (before, after, method) = match replica_capture {
        Some((r, capture)) => {
            stacks.compared_with = Some(r.to_string());
            (capture, suspect, Method::Replica)
        }
        None => {
            std::thread::sleep(fetching.recheck);
            match read(&url, fetching) {
                Ok(later) => (suspect, later, Method::Interval),
                Err(e) => {
                    stacks.error = Some(format!("the second profile: {e:#}"));
                    return stacks;
                }
            }
        }
    };
    stacks.method = Some(method);
    let (b, a) = (input::last(&before), input::last(&after));
    let rows = diff::diff((&before.tables, b), (&after.tables, a));
    let assessed =
        analysis::assess_growth((&after, a), (&before, b), &rows, false, fetching.source);
    let mut before_of = vec![0; a.groups.len()];
    for row in &rows {
        for &i in &row.after {
            before_of[i] = row.count_before;
        }
    }
    for (i, (g, (assessment, growth))) in a.groups.iter().zip(&assessed).enumerate() {
        let grew = growth.is_some_and(|gr| gr.after > gr.before);
        if grew && matches!(assessment.verdict, Verdict::Leak | Verdict::Suspect) {
            stacks.groups.push(StackGroup {
                group: Group::of(&after.tables, a, g, assessment, 0, &|_| None),
                count_before: Some(before_of[i]),
            });
        }
    }
    sort(&mut stacks.groups);
    stacks
}

fn sort(groups: &mut [StackGroup]) {
    groups.sort_by(|x, y| {
        let rank = |g: &StackGroup| u8::from(g.group.verdict != Verdict::Leak);
        rank(x)
            .cmp(&rank(y))
            .then(y.group.count.cmp(&x.group.count))
    });
}

fn read(url: &str, fetching: &Fetching<'_>) -> Result<Capture> {
    let body = input::fetch_dump(fetching.client, url, fetching.leak_profile)?;
    let capture = goleash_core::read(&body[..], fetching.read, None)?;
    if capture.snapshots.is_empty() {
        bail!("{url} served no goroutine dump");
    }
    Ok(capture)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_take_their_labels() {
        let template = Template::parse("http://{pod_ip}:6060/debug/pprof").unwrap();
        let mut labels = Labels::new();
        labels.insert("pod_ip".into(), "10.0.0.7".into());
        assert_eq!(
            template.fill(&labels).unwrap(),
            "http://10.0.0.7:6060/debug/pprof"
        );
        labels.clear();
        assert_eq!(
            template.fill(&labels).unwrap_err(),
            vec!["pod_ip".to_string()]
        );
        assert!(Template::parse("http://{instance/debug").is_err());
        assert!(Template::parse("http://{}/debug").is_err());
        assert!(Template::parse("http://{a b}/debug").is_err());
    }
}
