//! `cdr audit verify`: seals the audit events whose transactions have ended, then checks the
//! whole hash chain and names the first event that was changed or removed.

use std::io::Write;
use std::path::PathBuf;

/// Runs `cdr audit …`. Exit 0 when the chain holds, 1 when it does not, 2 on usage or setup
/// errors.
pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let mut data_dir = None;
    let mut rest = args.iter();
    let usage = |err: &mut dyn Write, why: &str| {
        let _ = writeln!(err, "cdr audit: {why}\n\n{}", super::USAGE);
        2
    };
    match rest.next().map(String::as_str) {
        Some("verify") => {}
        Some(other) => return usage(err, &format!("unknown subcommand `{other}`")),
        None => return usage(err, "expected `verify`"),
    }
    while let Some(a) = rest.next() {
        match a.as_str() {
            "--data-dir" => match rest.next() {
                Some(d) => data_dir = Some(PathBuf::from(d)),
                None => return usage(err, "--data-dir needs a value"),
            },
            other => return usage(err, &format!("unknown argument `{other}`")),
        }
    }
    let (config, stop) = super::store_config(data_dir);
    let runtime = match super::runtime("audit", err) {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let Some(store) = super::open_store("audit", &config, err).await else {
            return 2;
        };
        let code = match store.verify_audit().await {
            Ok(v) => {
                let head = match &v.head {
                    Some((pos, hash)) => format!("head at position {pos}: {hash}"),
                    None => "the chain is empty".to_owned(),
                };
                match &v.fault {
                    None => {
                        let _ = writeln!(
                            out,
                            "cdr audit: the chain holds: {} events checked, {} not sealed yet; {head}",
                            v.sealed, v.pending
                        );
                        0
                    }
                    Some(f) => {
                        let _ = writeln!(err, "cdr audit: the chain is broken: {f}");
                        1
                    }
                }
            }
            Err(e) => {
                let _ = writeln!(err, "cdr audit: {e}");
                2
            }
        };
        if stop {
            let _ = store.shutdown().await;
        }
        code
    })
}
