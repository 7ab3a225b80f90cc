use goleash_core::{Tables, trace};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bytes = std::fs::read(&args[1]).unwrap();
    let mut tables = Tables::new();
    let t0 = std::time::Instant::now();
    let tr = trace::parse(&bytes, &mut tables).unwrap();
    eprintln!("parsed in {:?}", t0.elapsed());
    println!(
        "version {:?} gens {} start {} end {} incomplete {:?}",
        tr.version, tr.generations, tr.start_time, tr.end_time, tr.incomplete
    );
    let fstack = |s: Option<goleash_core::StackId>| -> String {
        match s {
            None => "-".into(),
            Some(s) => tables
                .frames(s)
                .iter()
                .map(|&f| {
                    let fr = tables.get_frame(f);
                    format!("{}:{}", tables.str(fr.function), fr.line)
                })
                .collect::<Vec<_>>()
                .join(" < "),
        }
    };
    for g in &tr.goroutines {
        println!(
            "G{} {:?} reason={:?} parent={:?} start={} \n   create={}\n   stack={}\n   initial={}",
            g.id,
            g.state,
            g.reason.map(|r| tables.str(r).into_owned()),
            g.parent(),
            fstack(g.start_stack),
            fstack(g.creation.and_then(|c| c.stack)),
            fstack(g.stack),
            fstack(g.initial_stack)
        );
    }
    if args.len() > 2 {
        let out = std::fs::read(&args[2]).unwrap();
        let a = trace::attribute(&tr, &tables, &out);
        for t in &a.tests {
            println!("test {:?}", t);
        }
        for l in &a.leaks {
            println!("leak {:?}", l);
        }
        println!("unattributed {:?}", a.unattributed);
        for w in &a.warnings {
            println!("warning {}", w);
        }
    }
}
