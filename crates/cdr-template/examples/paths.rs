//! Prints the path index of an OPT (debugging aid): `cargo run --example paths -- file.opt [filter]`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bytes = std::fs::read(&args[1]).expect("read");
    let t = cdr_template::parse_opt(&bytes).expect("parse");
    let mut paths: Vec<_> = t.path_index.keys().collect();
    paths.sort();
    for p in paths {
        if args.get(2).is_none_or(|f| p.contains(f.as_str())) {
            for n in t.nodes_at(p) {
                match &n.kind {
                    cdr_template::CObjectKind::CodePhrase(c) => println!("{p}  {:?}", c.code_list),
                    _ => println!("{p}  {} {:?}", n.rm_type_name, n.occurrences),
                }
            }
        }
    }
}
