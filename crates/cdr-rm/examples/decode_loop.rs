//! Decodes a canonical JSON composition in a loop (profiling aid):
//! `cargo run --release -p cdr-rm --example decode_loop -- file.json [iterations] [cdr|serde]`.
//! Alternates `cdr_rm::from_json` with serde_json's `from_str` (after a UTF-8 check), to compare
//! them; a third argument runs only one of the two (for a profiler).

fn time(label: &str, bytes: &[u8], n: usize, f: impl Fn(&[u8]) -> cdr_rm::Composition) {
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(f(std::hint::black_box(bytes)));
    }
    let per = t.elapsed() / n as u32;
    println!(
        "{label}: {per:?} per decode, {:.0} MB/s",
        bytes.len() as f64 / per.as_secs_f64() / 1e6
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bytes = std::fs::read(&args[1]).expect("read");
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let which = args.get(3).map_or("both", String::as_str);
    for _ in 0..3 {
        if which != "serde" {
            time("cdr_rm::from_json", &bytes, n, |b| {
                cdr_rm::from_json(b).expect("decode")
            });
        }
        if which != "cdr" {
            time("serde_json::from_str", &bytes, n, |b| {
                serde_json::from_str(std::str::from_utf8(b).expect("UTF-8")).expect("decode")
            });
        }
    }
}
