//! `printwatch`: one binary, one subcommand per job. Thin: it parses
//! arguments and calls the crates.

mod agent;
mod collect;
#[cfg(feature = "server")]
mod demo;
mod exit;
mod scan;
#[cfg(feature = "server")]
mod server;
mod sim;
mod snmp_args;
mod walk;
mod words;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use printwatch_snmp::SnmpError;

#[derive(Parser, Debug)]
#[command(
    name = "printwatch",
    version,
    about = "Printer fleet monitoring over SNMP"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The on-site agent: activate, run, status, validate.
    Agent(agent::AgentArgs),
    /// Collect one device: identity, status, meters, supplies, alerts.
    Collect(collect::CollectArgs),
    /// The whole product for a first look: a simulated fleet, the server and an agent.
    #[cfg(feature = "server")]
    Demo(demo::DemoArgs),
    /// Discover and collect the printers of address ranges.
    Scan(scan::ScanArgs),
    /// Run the server: storage, the agents' endpoints, the REST API.
    #[cfg(feature = "server")]
    Server(server::ServerArgs),
    /// Record a device (or some subtrees) in snmprec format.
    Walk(walk::WalkArgs),
    /// Serve snmprec recordings as live SNMP agents.
    Sim(sim::SimArgs),
}

/// Exit codes of PRODUCT.md: 0 done, 1 other error, 2 usage, 3 no answer,
/// 4 authentication failure, 5 not a printer.
fn exit_code(error: &anyhow::Error) -> u8 {
    if let Some(exit::Exit(code, _)) = error.downcast_ref() {
        return *code;
    }
    if let Some(printwatch_printer::CollectError::NotAPrinter(_)) = error.downcast_ref() {
        return 5;
    }
    match snmp_error(error) {
        Some(e) if e.is_timeout() => 3,
        Some(e) if e.is_auth_failure() => 4,
        Some(SnmpError::InvalidTarget(_)) => 2,
        _ => 1,
    }
}

/// The SNMP error inside `error`, if it is one (directly or from a
/// collection).
fn snmp_error(error: &anyhow::Error) -> Option<&SnmpError> {
    error.downcast_ref::<SnmpError>().or_else(|| {
        match error.downcast_ref::<printwatch_printer::CollectError>() {
            Some(printwatch_printer::CollectError::Snmp(e)) => Some(e),
            _ => None,
        }
    })
}

/// glibc's malloc settings for the long-running commands: a fixed mmap
/// threshold (128 KiB) and two arenas. With the defaults, freeing one large
/// block (a sweep's results, an 8 MiB envelope, argon2's 19 MiB) raises the
/// threshold, later large blocks land in per-thread arenas, and that memory
/// is never given back: the agent monitoring 2,000 printers grew from 47 to
/// 79 MB; with these settings it stays at 33 MB (BENCHMARKS.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_TUNABLES: &str = "glibc.malloc.mmap_threshold=131072:glibc.malloc.arena_max=2";

/// glibc reads its tunables only at start: a long-running command starts
/// itself again with them (same process id), unless they were set already.
fn settle_the_allocator(command: &Command) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        let long_running = match command {
            Command::Agent(args) => args.runs_the_daemon(),
            #[cfg(feature = "server")]
            Command::Server(_) | Command::Demo(_) => true,
            _ => false,
        };
        if !long_running || std::env::var_os("GLIBC_TUNABLES").is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let error = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("GLIBC_TUNABLES", MALLOC_TUNABLES)
            .exec();
        // Still here: run with the defaults rather than not at all.
        eprintln!("printwatch: cannot restart with the allocator's settings ({error}); going on");
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = command;
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    settle_the_allocator(&cli.command);
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PRINTWATCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,async_snmp=off")),
        )
        .with_writer(std::io::stderr)
        // Colours for a terminal only: logs written to files stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("printwatch: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Agent(args) => agent::run(args).await,
            Command::Collect(args) => collect::run(args).await,
            #[cfg(feature = "server")]
            Command::Demo(args) => demo::run(args).await,
            Command::Scan(args) => scan::run(args).await,
            #[cfg(feature = "server")]
            Command::Server(args) => server::run(args).await,
            Command::Walk(args) => walk::run(args).await,
            Command::Sim(args) => sim::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("printwatch: {error:#}");
            ExitCode::from(exit_code(&error))
        }
    }
}
