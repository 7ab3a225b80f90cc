use goleash_core::classify::{Blocking, Verdict};
use rusqlite::Connection;

use super::*;
use crate::history::{AlertVerdict, Creator, Frame, SampleSource, Settings, Site};

fn temp_db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("goleash-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("history.db")
}

fn meta(signature: u64) -> GroupMeta {
    GroupMeta {
        signature: Signature(signature),
        blocking: Blocking::ChanSend,
        site: None,
        frames: Vec::new(),
        created_by: None,
        verdict: Verdict::Suspect,
        why: "blocked".into(),
        pattern: None,
        hint: None,
    }
}

fn settings() -> Settings {
    Settings {
        interval_secs: 5.0,
        warmup_secs: 120.0,
        cooldown_secs: 300.0,
        min_windows: 6,
        min_rise: 5.0,
        compressed: false,
    }
}

fn sample<'a>(
    target: i64,
    session: i64,
    process: ProcessRef,
    t: f64,
    goroutines: u64,
    groups: &'a [GroupMeta],
    counts: &'a [(Signature, u64)],
) -> SampleWrite<'a> {
    SampleWrite {
        target,
        session,
        process,
        t,
        goroutines,
        source: if counts.is_empty() {
            SampleSource::Metrics
        } else {
            SampleSource::Profile
        },
        cost_ms: Some(1.0),
        new_groups: groups,
        counts,
        verdicts: &[],
        dumps: &[],
        alerts: &[],
    }
}

#[test]
fn a_second_open_continues_the_history_of_the_latest_process() {
    let path = temp_db("resume");
    {
        let mut store = Store::open_for_writing(&path).unwrap();
        let session = store.begin_session(0.0, &settings(), false).unwrap();
        let target = store.target("http://a/debug/pprof", 0.0).unwrap();
        let first = ProcessRef::New {
            reason: "first".into(),
            start_time: Some(100.0),
        };
        let p1 = store
            .write(&sample(
                target,
                session,
                first,
                1.0,
                10,
                &[meta(1)],
                &[(Signature(1), 4)],
            ))
            .unwrap()
            .process;
        let restart = ProcessRef::New {
            reason: "start time changed".into(),
            start_time: Some(200.0),
        };
        let p2 = store
            .write(&sample(
                target,
                session,
                restart,
                2.0,
                5,
                &[],
                &[(Signature(1), 1)],
            ))
            .unwrap()
            .process;
        assert_ne!(p1, p2);
        store
            .write(&sample(
                target,
                session,
                ProcessRef::Known(p2),
                3.0,
                6,
                &[],
                &[],
            ))
            .unwrap();
        store
            .write(&sample(
                target,
                session,
                ProcessRef::Known(p2),
                4.0,
                7,
                &[meta(1), meta(2)],
                &[(Signature(1), 2), (Signature(2), 3)],
            ))
            .unwrap();
    }
    let mut store = Store::open_for_writing(&path).unwrap();
    let target = store.target("http://a/debug/pprof", 9.0).unwrap();
    let resume = store.resume(target, 100, 100).unwrap();
    assert_eq!(resume.process.as_ref().unwrap().start_time, Some(200.0));
    assert_eq!(resume.samples, vec![(2.0, 5), (3.0, 6), (4.0, 7)]);
    assert_eq!(resume.profile_times, vec![2.0, 4.0]);
    assert_eq!(
        resume.group_counts,
        vec![(Signature(1), vec![1, 2]), (Signature(2), vec![0, 3])]
    );
    assert_eq!(resume.groups.len(), 2);
    assert_eq!(resume.last_t, Some(4.0));
    let limited = store.resume(target, 2, 1).unwrap();
    assert_eq!(limited.samples, vec![(3.0, 6), (4.0, 7)]);
    assert_eq!(limited.profile_times, vec![4.0]);
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_file() {
    let path = temp_db("lock");
    let _first = Store::open_for_writing(&path).unwrap();
    let second = Store::open_for_writing(&path).err().unwrap().to_string();
    assert!(second.contains("another goleash watch"), "{second}");
    // Readers are welcome.
    Store::open_existing(&path).unwrap();
}

#[test]
fn only_one_latest_body_is_kept_and_bodies_come_back_as_stored() {
    let path = temp_db("dumps");
    let mut store = Store::open_for_writing(&path).unwrap();
    let session = store.begin_session(0.0, &settings(), false).unwrap();
    let target = store.target("http://a/debug/pprof", 0.0).unwrap();
    let mut process = ProcessRef::New {
        reason: "first".into(),
        start_time: None,
    };
    for (t, body) in [(1.0, b"one".to_vec()), (2.0, b"two".to_vec())] {
        let dumps = [DumpRecord {
            profile: Profile::Goroutine,
            debug: 0,
            role: DumpRole::Latest,
            reason: "the latest profile".into(),
            body,
        }];
        let mut w = sample(target, session, process.clone(), t, 1, &[], &[]);
        w.dumps = &dumps;
        process = ProcessRef::Known(store.write(&w).unwrap().process);
    }
    let dumps = store.dumps(target).unwrap();
    assert_eq!(dumps.len(), 1);
    assert_eq!(store.dump_body(dumps[0].id).unwrap(), b"two");
}

#[test]
fn a_newer_schema_is_refused_with_a_hint() {
    let path = temp_db("newer");
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let error = format!("{:#}", Store::open_existing(&path).err().unwrap());
    assert!(error.contains("newer goleash"), "{error}");
}

#[test]
fn a_count_for_an_undescribed_group_fails_the_whole_transaction() {
    let path = temp_db("atomic");
    let mut store = Store::open_for_writing(&path).unwrap();
    let session = store.begin_session(0.0, &settings(), false).unwrap();
    let target = store.target("http://a/debug/pprof", 0.0).unwrap();
    let first = ProcessRef::New {
        reason: "first".into(),
        start_time: None,
    };
    let counts = [(Signature(7), 1)];
    assert!(
        store
            .write(&sample(target, session, first, 1.0, 1, &[], &counts))
            .is_err()
    );
    assert!(store.samples(target).unwrap().is_empty());
    assert!(store.processes(target).unwrap().is_empty());
}

fn full_meta(signature: u64, blocking: Blocking, verdict: Verdict) -> GroupMeta {
    GroupMeta {
        signature: Signature(signature),
        blocking,
        site: Some(Site {
            function: "main.search.func1".into(),
            file: "/src/app/main.go".into(),
            line: 52,
            source: signature.is_multiple_of(2).then(|| "ch <- result".into()),
        }),
        frames: vec![
            Frame {
                function: "runtime.gopark".into(),
                file: "runtime/proc.go".into(),
                line: 474,
                offset: Some(0x4e),
                inlined: false,
            },
            Frame {
                function: "main.search.func1".into(),
                file: String::new(),
                line: 0,
                offset: None,
                inlined: true,
            },
        ],
        created_by: signature.is_multiple_of(3).then(|| Creator {
            function: "main.search".into(),
            file: "/src/app/main.go".into(),
            line: 50,
        }),
        verdict,
        why: "blocked".into(),
        pattern: Some("send-never-received".into()),
        hint: Some("buffer the channel".into()),
    }
}

#[test]
fn every_value_of_every_enum_comes_back_as_written() {
    let path = temp_db("enums");
    let mut store = Store::open_for_writing(&path).unwrap();
    let session = store.begin_session(0.0, &settings(), false).unwrap();
    let target = store.target("http://a/debug/pprof", 0.0).unwrap();
    let metas: Vec<GroupMeta> = codes::BLOCKINGS
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            let verdict = codes::VERDICTS[i % codes::VERDICTS.len()];
            full_meta(i as u64 + 1, b, verdict)
        })
        .collect();
    // And a stack with no site, no frames and no creator.
    let metas: Vec<GroupMeta> = metas.into_iter().chain([meta(99)]).collect();
    let alert_verdicts: Vec<AlertVerdict> = codes::VERDICTS
        .iter()
        .map(|&v| AlertVerdict::Group(v))
        .chain([AlertVerdict::Rising])
        .collect();
    let alerts: Vec<AlertRecord> = alert_verdicts
        .iter()
        .map(|&verdict| AlertRecord {
            signature: (verdict != AlertVerdict::Rising).then_some(Signature(1)),
            verdict,
            why: verdict.name().into(),
            slope_per_minute: Some(1.5),
            p_value: None,
            count_before: Some(1),
            count_after: None,
        })
        .collect();
    let dumps: Vec<DumpRecord> = codes::PROFILES
        .iter()
        .flat_map(|&profile| codes::ROLES.iter().map(move |&role| (profile, role)))
        .map(|(profile, role)| DumpRecord {
            profile,
            debug: 2,
            role,
            reason: format!("{} {}", profile.name(), role.name()),
            body: b"body".to_vec(),
        })
        .collect();
    let mut w = sample(
        target,
        session,
        ProcessRef::New {
            reason: "first".into(),
            start_time: None,
        },
        1.0,
        1,
        &metas,
        &[],
    );
    w.alerts = &alerts;
    w.dumps = &dumps;
    store.write(&w).unwrap();

    let groups: Vec<GroupMeta> = store
        .groups_of(target)
        .unwrap()
        .into_iter()
        .map(|g| g.meta)
        .collect();
    assert_eq!(groups, metas);
    let read: Vec<AlertRecord> = store
        .alerts(target)
        .unwrap()
        .into_iter()
        .map(|a| a.alert)
        .collect();
    assert_eq!(read, alerts);
    // Each latest body replaces the one before.
    let kept: Vec<(Profile, DumpRole)> = store
        .dumps(target)
        .unwrap()
        .iter()
        .map(|d| (d.profile, d.role))
        .collect();
    let last_latest = dumps.iter().rposition(|d| d.role == DumpRole::Latest);
    let expected: Vec<(Profile, DumpRole)> = dumps
        .iter()
        .enumerate()
        .filter(|&(i, d)| d.role != DumpRole::Latest || Some(i) == last_latest)
        .map(|(_, d)| (d.profile, d.role))
        .collect();
    assert_eq!(kept, expected);
}

#[test]
fn a_verdict_update_comes_back_typed() {
    let path = temp_db("update");
    let mut store = Store::open_for_writing(&path).unwrap();
    let session = store.begin_session(0.0, &settings(), false).unwrap();
    let target = store.target("http://a/debug/pprof", 0.0).unwrap();
    let first = ProcessRef::New {
        reason: "first".into(),
        start_time: None,
    };
    let process = store
        .write(&sample(target, session, first, 1.0, 1, &[meta(1)], &[]))
        .unwrap()
        .process;
    let verdicts = [VerdictUpdate {
        signature: Signature(1),
        verdict: Verdict::Leak,
        why: "grew".into(),
        pattern: Some("p".into()),
        hint: None,
    }];
    let mut w = sample(
        target,
        session,
        ProcessRef::Known(process),
        2.0,
        1,
        &[],
        &[],
    );
    w.verdicts = &verdicts;
    store.write(&w).unwrap();
    let meta = &store.groups_of(target).unwrap()[0].meta;
    assert_eq!(
        (meta.verdict, meta.why.as_str(), meta.pattern.as_deref()),
        (Verdict::Leak, "grew", Some("p"))
    );
}

#[test]
fn a_code_this_release_does_not_know_is_an_error_not_a_default() {
    let path = temp_db("unknown-code");
    let mut store = Store::open_for_writing(&path).unwrap();
    let session = store.begin_session(0.0, &settings(), false).unwrap();
    let target = store.target("http://a/debug/pprof", 0.0).unwrap();
    let first = ProcessRef::New {
        reason: "first".into(),
        start_time: None,
    };
    store
        .write(&sample(target, session, first, 1.0, 1, &[meta(1)], &[]))
        .unwrap();
    // As a newer release might write it, were it not for the schema version.
    sqlite(&store)
        .execute_batch(
            "PRAGMA ignore_check_constraints = ON;
             UPDATE groups SET blocking = 'chan teleport';",
        )
        .unwrap();
    let error = format!("{:#}", store.groups_of(target).err().unwrap());
    assert!(
        error.contains("blocking: unknown code \"chan teleport\""),
        "{error}"
    );
}

#[test]
fn every_sample_source_and_the_settings_come_back_as_written() {
    let path = temp_db("sources");
    let mut store = Store::open_for_writing(&path).unwrap();
    let compressed = Settings {
        warmup_secs: 2.0,
        compressed: true,
        ..settings()
    };
    let session = store.begin_session(0.0, &compressed, false).unwrap();
    let target = store.target("http://a/debug/pprof", 0.0).unwrap();
    let mut process = ProcessRef::New {
        reason: "first".into(),
        start_time: None,
    };
    for (i, &source) in codes::SOURCES.iter().enumerate() {
        let mut w = sample(target, session, process, i as f64, 1, &[], &[]);
        w.source = source;
        process = ProcessRef::Known(store.write(&w).unwrap().process);
    }
    let read: Vec<SampleSource> = store
        .samples(target)
        .unwrap()
        .iter()
        .map(|s| s.source)
        .collect();
    assert_eq!(read, codes::SOURCES);
    let sessions = store.sessions().unwrap();
    assert_eq!(sessions[0].settings, Some(compressed));
    // The column holds the object 0.1.0 wrote, field for field.
    let text: String = sqlite(&store)
        .query_row("SELECT settings FROM sessions", [], |row| row.get(0))
        .unwrap();
    assert_eq!(
        text,
        r#"{"interval_secs":5.0,"warmup_secs":2.0,"cooldown_secs":300.0,"min_windows":6,"min_rise":5.0,"compressed":true}"#
    );
}

/// The connection of a file history, for what the store's API does not do.
fn sqlite(store: &Store) -> &rusqlite::Connection {
    match store {
        Store::Sqlite(s) => &s.conn,
        Store::Postgres(_) => panic!("these tests write SQLite files"),
    }
}
