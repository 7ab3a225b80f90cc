use goleash_core::code::{Origin, origin};
use goleash_core::exits::{self, SourceFiles, Sources};
use std::path::{Path, PathBuf};

struct Dir(PathBuf);
impl SourceFiles for Dir {
    fn candidates(&self, file: &str) -> Vec<PathBuf> {
        let parts: Vec<&str> = file.split('/').filter(|p| !p.is_empty()).collect();
        for skip in 0..parts.len() {
            let c = self.0.join(parts[skip..].join("/"));
            if c.is_file() {
                return vec![c];
            }
        }
        vec![]
    }
    fn read(&self, path: &Path, _limit: u64) -> Result<Vec<u8>, String> {
        std::fs::read(path).map_err(|e| e.to_string())
    }
    fn directory(&self, path: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "go"))
            .collect()
    }
}

fn main() {
    let dump = std::env::args().nth(1).unwrap();
    let dir = std::env::args().nth(2).unwrap();
    let bytes = std::fs::read(&dump).unwrap();
    let capture = goleash_core::read(&bytes[..], &Default::default(), None).unwrap();
    let sources = Sources::new(Dir(PathBuf::from(dir)));
    let t = &capture.tables;
    for snapshot in &capture.snapshots {
        for g in &snapshot.groups {
            let blocking = goleash_core::classify::blocking_of(t, g);
            let (_, leak) = goleash_core::classify::sites(t, g);
            let Some(leak) = leak else { continue };
            if origin(t, leak) != Origin::User {
                continue;
            }
            let f = t.get_frame(leak);
            let a = exits::analyse(t, snapshot, g, blocking, leak, &sources);
            println!(
                "== {} × {} {} {}:{}",
                g.count,
                blocking.name(),
                t.str(f.function),
                t.str(f.file).rsplit('/').next().unwrap(),
                f.line
            );
            if let Some(m) = a.mismatch {
                println!("   MISMATCH {m}");
            }
            if let Some(e) = a.exits {
                println!("   {:?} in_loop={} `{}`", e.statement, e.in_loop, e.text);
                for c in e.conditions {
                    println!(
                        "   - {} {} {}:{} `{}`: {}",
                        c.kind.name(),
                        c.can_happen.name(),
                        c.file.rsplit('/').next().unwrap(),
                        c.line,
                        c.code,
                        c.why
                    );
                }
            }
        }
    }
    for w in sources.take_warnings() {
        println!("warning: {w}");
    }
}
