//! The `cdr` binary: the REST server (`serve`) and command-line tools (`validate`, `bench`).

mod cli;

/// mimalloc rather than the system allocator: decoding, validating and indexing a composition
/// allocate many small objects, and glibc's malloc took about a tenth of cdr's own CPU per commit.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = cli::run(&args, &mut std::io::stdout(), &mut std::io::stderr());
    std::process::exit(code);
}
