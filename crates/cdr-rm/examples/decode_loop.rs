//! Decodes a canonical JSON composition in a loop (profiling aid):
//! `cargo run --release --example decode_loop -- file.json [iterations]`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bytes = std::fs::read(&args[1]).expect("read");
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let t = std::time::Instant::now();
    for _ in 0..n {
        let c: cdr_rm::Composition =
            cdr_rm::from_json(std::hint::black_box(&bytes)).expect("decode");
        std::hint::black_box(c);
    }
    let per = t.elapsed() / n as u32;
    println!(
        "{per:?} per decode, {:.0} MB/s",
        bytes.len() as f64 / per.as_secs_f64() / 1e6
    );
}
