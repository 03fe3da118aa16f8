//! Temporary: prints nodes at a path.
fn main() {
    let mut args = std::env::args().skip(1);
    let bytes = std::fs::read(args.next().unwrap()).unwrap();
    let t = cdr_template::parse_opt(&bytes).unwrap();
    for p in args {
        for n in t.nodes_at(&p) {
            let mut s = format!("{n:?}");
            s.truncate(1500);
            println!("{p}\n  {s}");
        }
    }
}
