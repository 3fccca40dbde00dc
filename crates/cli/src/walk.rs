//! `printwatch walk`: record a device in snmprec format.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use printwatch_snmp::{Oid, Poller, snmprec};

use crate::exit::usage;
use crate::snmp_args::SnmpArgs;

#[derive(Args, Debug)]
#[command(
    after_help = "Exit codes: 0 recorded; 1 other error (a file that cannot be \
written, an answer that cannot be read); 2 usage (a wrong option, value, target or OID: \
nothing was sent); 3 no answer; 4 SNMP authentication failure.\n\
With several credential sets (--community repeated, --credentials FILE), each is tried in \
order; standard error names the one that answered."
)]
pub struct WalkArgs {
    #[command(flatten)]
    pub snmp: SnmpArgs,
    /// HOST, HOST:PORT or [IPv6]:PORT.
    pub target: String,
    /// Subtrees to record (default: the whole tree).
    pub oids: Vec<String>,
    /// Write the recording here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// GETBULK max-repetitions.
    #[arg(long, default_value = "25", value_name = "N")]
    pub max_repetitions: u32,
}

pub async fn run(args: WalkArgs) -> anyhow::Result<()> {
    let subtrees = args
        .oids
        .iter()
        .map(|o| {
            o.parse::<Oid>()
                .map_err(|e| usage(format!("{o:?} is not an OID: {e}")))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut options = args.snmp.options()?;
    options.max_repetitions = args.max_repetitions.clamp(1, 1000);
    let connection = args.snmp.connect(&args.target, &options).await?;
    let session = &connection.session;
    let address = session.target();
    let started = Instant::now();
    let records = async {
        if subtrees.is_empty() {
            session.walk_all().await
        } else {
            let mut all = Vec::new();
            for subtree in &subtrees {
                all.extend(session.walk(subtree).await?);
            }
            Ok(all)
        }
    }
    .await
    .map_err(|e| connection.explain(e.into()))?;
    let text = snmprec::to_string(&records);
    match &args.out {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    eprintln!(
        "walked {} objects from {address} in {:.2} s",
        records.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
