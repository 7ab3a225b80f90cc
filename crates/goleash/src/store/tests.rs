use rusqlite::Connection;

use super::*;

fn temp_db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("goleash-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("history.db")
}

fn meta(signature: u64) -> GroupMeta {
    GroupMeta {
        signature: Signature(signature),
        blocking: "chan send".into(),
        site: None,
        frames: "[]".into(),
        created_by: None,
        verdict: "suspect".into(),
        why: "blocked".into(),
        pattern: None,
        hint: None,
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
            "metrics"
        } else {
            "profile"
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
        let session = store.begin_session(0.0, "{}", false).unwrap();
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
    let session = store.begin_session(0.0, "{}", false).unwrap();
    let target = store.target("http://a/debug/pprof", 0.0).unwrap();
    let mut process = ProcessRef::New {
        reason: "first".into(),
        start_time: None,
    };
    for (t, body) in [(1.0, b"one".to_vec()), (2.0, b"two".to_vec())] {
        let dumps = [DumpRecord {
            profile: "goroutine".into(),
            debug: 0,
            role: "latest".into(),
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
    let session = store.begin_session(0.0, "{}", false).unwrap();
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
