//! AFL++ target `opt`: see [`cdr_fuzz::opt`].

fn main() {
    afl::fuzz!(|data: &[u8]| cdr_fuzz::opt(data));
}
