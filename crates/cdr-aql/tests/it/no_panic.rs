//! The parser never panics: every truncation and many deterministic byte
//! mutations of every corpus query are parsed; whatever parses must also
//! round-trip through `Display`.

use cdr_aql::parse;

use crate::support::corpus;

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Bytes that matter to the grammar, plus a few that do not.
const INTERESTING: &[u8] = b"()[]{}'\"\\,/$-=<>!*.:|; \n\t0aZ_e\xc3\xff";

fn check(input: &str, origin: &str) {
    if let Ok(q) = parse(input) {
        let printed = q.to_string();
        match parse(&printed) {
            Ok(again) => assert_eq!(
                again, q,
                "{origin}: round trip of {input:?} via {printed:?}"
            ),
            Err(e) => {
                panic!("{origin}: printed form of {input:?} does not parse: {printed:?}: {e}")
            }
        }
    }
}

fn all_queries() -> Vec<(String, String)> {
    let mut all = corpus("ok");
    all.extend(corpus("err"));
    all
}

#[test]
fn truncations_never_panic() {
    for (name, text) in all_queries() {
        for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            check(&text[..end], &format!("{name}[..{end}]"));
        }
    }
}

#[test]
fn mutations_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for (name, text) in all_queries() {
        for round in 0..150 {
            let mut bytes = text.clone().into_bytes();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(bytes.len() + 1);
                match rng.below(3) {
                    0 if at < bytes.len() => bytes[at] = INTERESTING[rng.below(INTERESTING.len())],
                    1 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
                }
            }
            let mutated = String::from_utf8_lossy(&bytes);
            check(&mutated, &format!("{name} mutation {round}"));
        }
    }
}

#[test]
fn odd_inputs_never_panic() {
    let long_and = format!(
        "SELECT c FROM C c WHERE {}",
        vec!["c/x = 1"; 5_000].join(" AND ")
    );
    let long_path = format!("SELECT c{} FROM C c", "/a[at0001]".repeat(5_000));
    let inputs = [
        "",
        " ",
        "--",
        "-- only a comment",
        "SELECT",
        "\u{feff}SELECT c FROM C c",
        "SELECT c FROM C c WHERE c/x = '",
        "SELECT c FROM C c WHERE c/x = '\\",
        "SELECT c FROM C c WHERE c/x = '\\u",
        "SELECT c FROM C c WHERE c/x = '\\uD800'",
        "SELECT c FROM C c WHERE c/x = '\\777'",
        "SELECT c FROM C c WHERE c/x = 9223372036854775807",
        "SELECT c FROM C c WHERE c/x = -9223372036854775808",
        "SELECT c FROM C c WHERE c/x = 9223372036854775808",
        "SELECT c FROM C c WHERE c/x = 1e308",
        "SELECT c FROM C c WHERE c/x = 1e309",
        "SELECT c FROM C c WHERE c/x = 1e-400",
        "SELECT c FROM C c[a matches {/",
        "SELECT c FROM C c[at0001, x::",
        "SELECT \u{0} FROM C c",
        "SELECT c FROM C c LIMIT 18446744073709551615 OFFSET 18446744073709551616",
        &long_and,
        &long_path,
    ];
    for input in inputs {
        check(input, "odd input");
    }
}
