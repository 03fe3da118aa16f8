//! AFL++ target `canonical_json`: see [`cdr_fuzz::canonical_json`].

fn main() {
    afl::fuzz!(|data: &[u8]| cdr_fuzz::canonical_json(data));
}
