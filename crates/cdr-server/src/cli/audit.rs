//! `cdr audit verify`: seals the audit events whose transactions have ended, then checks the
//! whole hash chain and names the first event that was changed or removed.

use super::Settings;
use std::io::Write;

/// Checks the audit trail
#[derive(clap::Args, Debug)]
pub(crate) struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(clap::Subcommand, Debug)]
enum AuditCommand {
    /// Seals the ended audit events, then checks the audit trail's hash chain
    ///
    /// Seals the audit events whose transactions have ended, then checks the hash chain of the
    /// audit trail (the managed PostgreSQL under --data-dir, default ./data, or DATABASE_URL).
    /// Exit 0 when it holds (the head position and hash are printed: keep them elsewhere to
    /// detect a later removal of the chain's end), 1 naming the first event changed or removed.
    #[command(verbatim_doc_comment)]
    Verify {
        #[command(flatten)]
        store: super::StoreDir,
    },
}

/// Runs `cdr audit …`. Exit 0 when the chain holds, 1 when it does not, 2 on usage or setup
/// errors.
pub fn run(args: AuditArgs, settings: &Settings, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let AuditCommand::Verify { store } = args.command;
    let (config, stop) = super::store_config(store.data_dir, settings);
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
