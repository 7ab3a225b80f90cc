use goleash_core::{Tables, trace};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bytes = std::fs::read(&args[1]).unwrap();
    let out = std::fs::read(&args[2]).unwrap();
    let mut tables = Tables::new();
    let tr = trace::parse(&bytes, &mut tables).unwrap();
    let a = trace::attribute(&tr, &tables, &out);
    let text = String::from_utf8_lossy(&out);
    let mut durs = std::collections::HashMap::new();
    for l in text.lines() {
        let l = l.trim_start_matches('\u{16}').trim_start();
        if let Some(r) = l.strip_prefix("--- PASS: ") {
            if let Some(i) = r.rfind(" (") {
                let name = &r[..i];
                let d: f64 = r[i + 2..r.len() - 2].parse().unwrap_or(-1.0);
                durs.entry(name.to_string()).or_insert(vec![]).push(d);
            }
        }
    }
    let (mut ok, mut bad, mut par) = (0, 0, 0);
    for t in &a.tests {
        let g = tr.goroutine(t.goroutine).unwrap();
        let name = t.name.clone().unwrap();
        let Some(d) = durs.get(&name) else { continue };
        if d.len() != 1 || d[0] < 0.05 {
            continue;
        }
        if !g.exited() {
            continue;
        }
        let life = (g.since - g.creation.unwrap().time) as f64 / 1e9;
        if (life - d[0]).abs() <= 0.02 + 0.1 * d[0] {
            ok += 1
        } else if life > d[0] {
            par += 1
        } else {
            bad += 1;
            println!("MISMATCH {name}: reported {} lifetime {life:.3}", d[0]);
        }
    }
    println!("ok {ok} longer(parallel?) {par} bad {bad}");
}
