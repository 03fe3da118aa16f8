//! The `cdr` binary: the REST server (`serve`) and command-line tools (`validate`, `bench`).

mod cli;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = cli::run(&args, &mut std::io::stdout(), &mut std::io::stderr());
    std::process::exit(code);
}
