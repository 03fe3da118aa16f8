//! AFL++ target `aql`: see [`cdr_fuzz::aql`].

fn main() {
    afl::fuzz!(|data: &[u8]| cdr_fuzz::aql(data));
}
