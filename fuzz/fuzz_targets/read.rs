//! Any bytes, read as goleash reads stdin: never a panic, and a model that adds up.
//! `crates/goleash-core/tests/props.rs` checks the same on stable in CI.
#![no_main]

use goleash_core::group::ParentRef;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(capture) = goleash_core::read(data, &Default::default(), None) else { return };
    for snapshot in &capture.snapshots {
        assert_eq!(snapshot.groups.iter().map(|g| g.count).sum::<u64>(), snapshot.total);
        for group in &snapshot.groups {
            for &(place, _) in &group.parents {
                if let ParentRef::Group(i) = place {
                    assert!(i < snapshot.groups.len());
                }
            }
        }
    }
});
