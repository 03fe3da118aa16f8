//! Validates a composition in a loop (profiling aid):
//! `cargo run --release -p cdr-validation --example validate_loop -- t.opt c.json [iterations]`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let template = cdr_template::parse_opt(&std::fs::read(&args[1]).expect("opt")).expect("parse");
    let json = std::fs::read(&args[2]).expect("json");
    let c: cdr_rm::Composition = cdr_rm::from_json(&json).expect("decode");
    let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(cdr_validation::validate(
            &template,
            std::hint::black_box(&c),
        ));
    }
    println!("{:?} per validation", t.elapsed() / n as u32);
}
