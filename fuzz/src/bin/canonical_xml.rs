//! AFL++ target `canonical_xml`: see [`cdr_fuzz::canonical_xml`].

fn main() {
    afl::fuzz!(|data: &[u8]| cdr_fuzz::canonical_xml(data));
}
