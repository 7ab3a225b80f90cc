//! Migrations, on histories of schema 1 built by the SQL 0.1.0 shipped, with its JSON.

use std::io::Write;
use std::path::{Path, PathBuf};

use goleash_core::Signature;
use goleash_core::classify::{Blocking, Verdict};
use rusqlite::{Connection, params};

use super::{SCHEMA_1, version};
use crate::history::{
    AlertRecord, AlertVerdict, Creator, DumpRole, Frame, GroupMeta, Profile, Site,
};
use crate::store::Store;

fn temp_db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("goleash-schema-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("history.db")
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(body).unwrap();
    encoder.finish().unwrap()
}

/// A history as 0.1.0 left it: schema 1, WAL, the JSON as 0.1.0's watch wrote it.
fn schema_1(name: &str) -> PathBuf {
    let path = temp_db(name);
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute_batch(SCHEMA_1).unwrap();
    conn.execute_batch(
        r#"
        INSERT INTO targets VALUES (1, 'http://a/debug/pprof', 0.0);
        INSERT INTO sessions VALUES (1, 0.0, 5.0, '{}', 0);
        INSERT INTO processes VALUES (1, 1, 1.0, 100.0, 'first seen');
        INSERT INTO samples VALUES (1, 1, 1, 1, 1.0, 12, 'profile', 1.5),
                                   (2, 1, 1, 1, 2.0, 15, 'profile', 1.5);
        INSERT INTO groups VALUES
            (1, 1, '00000000000000aa', 1.0, 'chan send',
             '{"function":"main.search.func1","file":"/src/app/main.go","line":52,"source":"ch <- result"}',
             '[{"function":"runtime.gopark","file":"runtime/proc.go","line":474,"offset":78,"inlined":false},{"function":"main.search.func1","file":"/src/app/main.go","line":52,"offset":null,"inlined":true}]',
             '{"function":"main.search","file":"/src/app/main.go","line":50,"goroutine":null}',
             'leak', 'grew from 10 to 12', 'send-never-received', 'buffer the channel'),
            (2, 1, '00000000000000bb', 1.0, 'IO wait', NULL, '[]', NULL,
             'expected', 'waits for the network', NULL, NULL),
            (3, 1, '00000000000000cc', 2.0, 'select',
             '{"function":"main.loop","file":"/src/app/loop.go","line":9}',
             '[{"function":"main.loop","file":"/src/app/loop.go","line":9,"offset":null,"inlined":false}]',
             NULL, 'suspect', 'outlived its creator', NULL, NULL);
        INSERT INTO group_counts VALUES (1, 1, 10), (1, 2, 2), (2, 1, 12), (2, 2, 2), (2, 3, 1);
        INSERT INTO alerts VALUES
            (1, 1, 1, 2.0, NULL, 'rising', 'the count rises', 90.0, 0.001, 12, 15),
            (2, 1, 1, 2.0, '00000000000000aa', 'leak', 'grew from 10 to 12', 60.0, 0.002, 10, 12);
        "#,
    )
    .unwrap();
    for (id, sample, t, profile, debug, role, body) in [
        (1, 1, 1.0, "goroutine", 0, "first", &b"one"[..]),
        (2, 2, 2.0, "goroutineleak", 2, "evidence", &b"two"[..]),
        (3, 2, 2.0, "goroutine", 0, "latest", &b"three"[..]),
    ] {
        conn.execute(
            "INSERT INTO dumps VALUES (?1, 1, 1, ?2, ?3, ?4, ?5, ?6, 'why', ?7, ?8)",
            params![
                id,
                sample,
                t,
                profile,
                debug,
                role,
                body.len() as i64,
                gzip(body)
            ],
        )
        .unwrap();
    }
    conn.pragma_update(None, "user_version", 1).unwrap();
    path
}

/// What [`schema_1`] holds, typed.
fn groups() -> Vec<GroupMeta> {
    vec![
        GroupMeta {
            signature: Signature(0xaa),
            blocking: Blocking::ChanSend,
            site: Some(Site {
                function: "main.search.func1".into(),
                file: "/src/app/main.go".into(),
                line: 52,
                source: Some("ch <- result".into()),
            }),
            frames: vec![
                Frame {
                    function: "runtime.gopark".into(),
                    file: "runtime/proc.go".into(),
                    line: 474,
                    offset: Some(78),
                    inlined: false,
                },
                Frame {
                    function: "main.search.func1".into(),
                    file: "/src/app/main.go".into(),
                    line: 52,
                    offset: None,
                    inlined: true,
                },
            ],
            created_by: Some(Creator {
                function: "main.search".into(),
                file: "/src/app/main.go".into(),
                line: 50,
            }),
            verdict: Verdict::Leak,
            why: "grew from 10 to 12".into(),
            pattern: Some("send-never-received".into()),
            hint: Some("buffer the channel".into()),
        },
        GroupMeta {
            signature: Signature(0xbb),
            blocking: Blocking::IoWait,
            site: None,
            frames: Vec::new(),
            created_by: None,
            verdict: Verdict::Expected,
            why: "waits for the network".into(),
            pattern: None,
            hint: None,
        },
        GroupMeta {
            signature: Signature(0xcc),
            blocking: Blocking::Select,
            site: Some(Site {
                function: "main.loop".into(),
                file: "/src/app/loop.go".into(),
                line: 9,
                source: None,
            }),
            frames: vec![Frame {
                function: "main.loop".into(),
                file: "/src/app/loop.go".into(),
                line: 9,
                offset: None,
                inlined: false,
            }],
            created_by: None,
            verdict: Verdict::Suspect,
            why: "outlived its creator".into(),
            pattern: None,
            hint: None,
        },
    ]
}

/// The store reads what [`schema_1`] holds.
fn reads_schema_1(store: &Store) {
    let metas: Vec<GroupMeta> = store
        .groups_of(1)
        .unwrap()
        .into_iter()
        .map(|g| g.meta)
        .collect();
    assert_eq!(metas, groups());
    let alerts: Vec<AlertRecord> = store
        .alerts(1)
        .unwrap()
        .into_iter()
        .map(|a| a.alert)
        .collect();
    assert_eq!(
        alerts,
        [
            AlertRecord {
                signature: None,
                verdict: AlertVerdict::Rising,
                why: "the count rises".into(),
                slope_per_minute: Some(90.0),
                p_value: Some(0.001),
                count_before: Some(12),
                count_after: Some(15),
            },
            AlertRecord {
                signature: Some(Signature(0xaa)),
                verdict: AlertVerdict::Group(Verdict::Leak),
                why: "grew from 10 to 12".into(),
                slope_per_minute: Some(60.0),
                p_value: Some(0.002),
                count_before: Some(10),
                count_after: Some(12),
            },
        ]
    );
    let dumps = store.dumps(1).unwrap();
    assert_eq!(
        dumps
            .iter()
            .map(|d| (d.profile, d.debug, d.role, d.size))
            .collect::<Vec<_>>(),
        [
            (Profile::Goroutine, 0, DumpRole::First, 3),
            (Profile::GoroutineLeak, 2, DumpRole::Evidence, 3),
            (Profile::Goroutine, 0, DumpRole::Latest, 5),
        ]
    );
    assert_eq!(store.dump_body(dumps[2].id).unwrap(), b"three");
    let mut counts = store.group_counts(1).unwrap();
    counts.sort();
    assert_eq!(
        counts,
        [(1, 1, 10), (1, 2, 2), (2, 1, 12), (2, 2, 2), (2, 3, 1)]
    );
    assert_eq!(store.samples(1).unwrap().len(), 2);
}

fn version_of(path: &Path) -> usize {
    version(&Connection::open(path).unwrap()).unwrap()
}

#[test]
fn a_history_of_schema_1_reads_as_it_was_and_migrates_to_the_same_typed_rows() {
    let path = schema_1("migrate");
    let before = std::fs::read(&path).unwrap();

    // A report reads it without changing it.
    reads_schema_1(&Store::open_existing(&path).unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), before, "a reader wrote");
    assert_eq!(version_of(&path), 1);

    // A watch upgrades it in place.
    let store = Store::open_for_writing(&path).unwrap();
    reads_schema_1(&store);
    drop(store);
    assert_eq!(version_of(&path), super::VERSION);
    let json_columns: i64 = Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM pragma_table_info('groups')
             WHERE name IN ('site', 'frames', 'created_by')",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(json_columns, 0);
    reads_schema_1(&Store::open_existing(&path).unwrap());
}

#[test]
fn a_row_the_migration_cannot_read_fails_it_by_name_and_leaves_schema_1_as_it_was() {
    for (name, damage, expected) in [
        (
            "frames",
            "UPDATE groups SET frames = 'not json' WHERE id = 2",
            "group 2 (signature 00000000000000bb): its frames is not JSON 0.1.0 wrote",
        ),
        (
            "site",
            r#"UPDATE groups SET site = '{"function":"f"}' WHERE id = 1"#,
            "group 1 (signature 00000000000000aa): its site is not JSON 0.1.0 wrote",
        ),
        (
            "creator",
            r#"UPDATE groups SET created_by = '{"function":"f","file":"x","line":"50"}' WHERE id = 1"#,
            "group 1 (signature 00000000000000aa): its created_by is not JSON 0.1.0 wrote",
        ),
        (
            "blocking",
            "UPDATE groups SET blocking = 'chan teleport' WHERE id = 3",
            "group 3 (signature 00000000000000cc): CHECK constraint failed",
        ),
        (
            "alert",
            "UPDATE alerts SET verdict = 'bogus' WHERE id = 2",
            "alerts row 2: CHECK constraint failed",
        ),
        (
            "role",
            "UPDATE dumps SET role = 'middle' WHERE id = 1",
            "dumps row 1: CHECK constraint failed",
        ),
    ] {
        let path = schema_1(name);
        Connection::open(&path)
            .unwrap()
            .execute_batch(damage)
            .unwrap();
        for error in [
            Store::open_for_writing(&path).err(),
            Store::open_existing(&path).err(),
        ] {
            let error = format!("{:#}", error.expect("the migration failed"));
            assert!(error.contains("to schema 2: "), "{name}: {error}");
            assert!(error.contains(expected), "{name}: {error}");
        }
        // The transaction rolled back: schema 1, whole.
        assert_eq!(version_of(&path), 1, "{name}");
        let conn = Connection::open(&path).unwrap();
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            tables,
            [
                "alerts",
                "dumps",
                "group_counts",
                "groups",
                "processes",
                "samples",
                "sessions",
                "targets"
            ],
            "{name}"
        );
        let frames: i64 = conn
            .query_row("SELECT count(frames) FROM groups", [], |row| row.get(0))
            .unwrap();
        assert_eq!(frames, 3, "{name}");
    }
}
