//! `printwatch agent activate | run | status | validate`: the on-site
//! daemon of PRODUCT.md. Exit codes: 0 done, 1 other error, 2 usage or
//! invalid configuration, 3 server unreachable, 4 refused by the server.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};

use crate::exit::fail;
use printwatch_agent::activate::activate;
use printwatch_agent::daemon::{self, DaemonOptions, Link, Stopped};
use printwatch_agent::settings::Settings;
use printwatch_agent::state::StateDir;
use printwatch_agent::transport::{Transport, TransportOptions};
use printwatch_agent::uplink::Refusal;
use printwatch_protocol::config::AgentConfig;

#[derive(Args, Debug)]
pub struct AgentArgs {
    #[command(subcommand)]
    command: AgentCommand,
}

#[derive(Subcommand, Debug)]
enum AgentCommand {
    /// Activate this agent with the one-time code the server gave.
    Activate(ActivateArgs),
    /// Run the daemon: discover, collect, deliver to the server.
    Run(RunArgs),
    /// What the agent is doing (from its state directory).
    Status(StatusArgs),
    /// Check a configuration file and exit.
    Validate(ValidateArgs),
}

#[derive(Args, Debug)]
struct ActivateArgs {
    /// The server's URL (https://…).
    #[arg(long)]
    server: String,
    /// The activation code the server answered when the agent was created.
    #[arg(long)]
    code: String,
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// PEM certificates to trust besides the system's (a private CA).
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Replace an existing activation.
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Write what each envelope carries, before sealing, as JSON lines.
    #[arg(long, value_name = "FILE")]
    trace_uploads: Option<PathBuf>,
    /// Vendor profiles from a directory (default: the embedded ones).
    #[arg(long, value_name = "DIR")]
    profiles: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct StatusArgs {
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct ValidateArgs {
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl AgentArgs {
    /// `agent run`: the daemon, which runs for months.
    pub fn runs_the_daemon(&self) -> bool {
        matches!(self.command, AgentCommand::Run(_))
    }
}

pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    match args.command {
        AgentCommand::Activate(a) => activate_cmd(a).await,
        AgentCommand::Run(a) => run_cmd(a).await,
        AgentCommand::Status(a) => status_cmd(a),
        AgentCommand::Validate(a) => {
            let config = load_config(a.config.as_ref())?;
            let settings = Settings::from_config(&config).map_err(|e| fail(2, e))?;
            let name = a
                .config
                .as_ref()
                .map_or("the defaults".to_owned(), |p| p.display().to_string());
            println!(
                "{name}: valid ({} ranges, {} credential sets, collect every {:?}, heartbeat every {:?})",
                settings.ranges.len(),
                settings.credentials.len(),
                settings.intervals.collect,
                settings.intervals.heartbeat
            );
            Ok(())
        }
    }
}

/// The configuration file, checked (exit 2 naming the line and key).
fn load_config(path: Option<&PathBuf>) -> anyhow::Result<AgentConfig> {
    let Some(path) = path else {
        return Ok(AgentConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| fail(2, format!("cannot read {}: {e}", path.display())))?;
    let config =
        AgentConfig::from_toml(&text).map_err(|e| fail(2, format!("{}: {e}", path.display())))?;
    Settings::from_config(&config).map_err(|e| fail(2, format!("{}: {e}", path.display())))?;
    Ok(config)
}

fn link(
    server: &str,
    proxy: Option<String>,
    ca_file: Option<PathBuf>,
) -> anyhow::Result<Arc<dyn Link>> {
    let transport = Transport::new(
        server,
        TransportOptions {
            proxy,
            ca_file,
            ..TransportOptions::default()
        },
    )
    .map_err(|e| fail(2, e))?;
    Ok(Arc::new(transport))
}

async fn activate_cmd(a: ActivateArgs) -> anyhow::Result<()> {
    let path = StateDir::resolve(a.state);
    let state = StateDir::create(&path).map_err(|e| fail(1, e))?;
    let link = link(&a.server, None, a.ca_file.clone())?;
    let ca = a.ca_file.map(|p| p.display().to_string());
    let identity = activate(link.as_ref(), &a.server, &a.code, &state, ca, a.force)
        .await
        .map_err(|e| fail(e.exit_code(), e))?;
    println!(
        "activated: agent {} with {} (state in {})",
        identity.agent_id,
        identity.server,
        path.display()
    );
    Ok(())
}

async fn run_cmd(a: RunArgs) -> anyhow::Result<()> {
    let config = load_config(a.config.as_ref())?;
    let path = StateDir::resolve(a.state);
    // Deactivated by the server: the key is gone, and that is a refusal.
    if let Ok(uplink) = StateDir::existing(&path).uplink_state()
        && let Some(refusal @ Refusal::Deactivated) = uplink.refused
    {
        return Err(fail(4, format!("stopped: {}", refusal.explain())));
    }
    let (identity, _) = StateDir::existing(&path)
        .require_identity()
        .map_err(|e| fail(2, e))?;
    let ca_file = config
        .uplink
        .ca_file
        .clone()
        .or(identity.ca_file.clone())
        .map(PathBuf::from);
    let link = link(&identity.server, config.uplink.proxy.clone(), ca_file)?;
    let profiles = crate::collect::profiles(a.profiles.as_ref())?;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        let _ = stop_tx.send(true);
    });
    eprintln!(
        "agent {} → {} (state in {})",
        identity.agent_id,
        identity.server,
        path.display()
    );
    let stopped = daemon::run(DaemonOptions {
        state: path,
        config,
        trace_uploads: a.trace_uploads,
        profiles: Arc::new(profiles),
        link,
        shutdown: stop,
    })
    .await
    .map_err(|e| fail(1, e))?;
    match stopped {
        Stopped::Shutdown => Ok(()),
        Stopped::Refused(refusal) => Err(fail(4, format!("stopped: {}", refusal.explain()))),
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn status_cmd(a: StatusArgs) -> anyhow::Result<()> {
    let path = StateDir::resolve(a.state);
    let state = StateDir::existing(&path);
    let identity = state.identity().map_err(|e| fail(1, e))?;
    let uplink = state.uplink_state().unwrap_or_default();
    let status = state.status().ok().flatten().unwrap_or_default();
    let last_contact = uplink
        .last_contact
        .and_then(|t| u64::try_from(t).ok())
        .map(|t| daemon::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t)));
    let answer = serde_json::json!({
        "agent_id": identity.as_ref().map(|i| i.agent_id),
        "server": identity.as_ref().map(|i| i.server.clone()),
        // Deactivated by the server: the key is erased.
        "activated": identity.is_some() && uplink.refused != Some(Refusal::Deactivated),
        "state_dir": path.display().to_string(),
        "running": status.running,
        "last_contact": last_contact,
        "spool_records": status.spool_records,
        "spool_bytes": status.spool_bytes,
        "last_acked_seq": uplink.last_acked,
        "collections": status.collections,
        "devices": status.devices,
        "refused": uplink.refused.as_ref().map(|r| r.explain()),
        "last_error": status.last_error,
        "last_sweep": status.last_sweep,
        "config_version": status.config_version,
        "config_error": status.config_error,
        "clock_error_secs": status.clock_error,
        "updated_at": status.updated_at,
        "channel": status.channel,
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    match &identity {
        None => println!("not activated (state directory {})", path.display()),
        Some(i) => println!("agent {} → {}", i.agent_id, i.server),
    }
    println!(
        "running: {}  devices: {}  collections: {}  spool: {} records, {} bytes  last acknowledged: #{}",
        status.running,
        status.devices,
        status.collections,
        status.spool_records,
        status.spool_bytes,
        uplink.last_acked
    );
    println!(
        "last contact: {}",
        last_contact.as_deref().unwrap_or("never")
    );
    if let Some(r) = &uplink.refused {
        println!("REFUSED by the server: {}", r.explain());
    }
    if let Some(e) = &status.last_error {
        println!("last error: {e}");
    }
    Ok(())
}
