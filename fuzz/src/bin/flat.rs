//! AFL++ target `flat`: see [`cdr_fuzz::flat`].

fn main() {
    afl::fuzz!(|data: &[u8]| cdr_fuzz::flat(data));
}
