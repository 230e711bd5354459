//! `venom-zenoh`: export local VenomMemory channels onto Zenoh, or import them on another host.
//!
//! ```text
//! venom-zenoh export NAME... [--listen ENDPOINT]... [--connect ENDPOINT]... [--prefix P] [--config FILE] [--scout]
//! venom-zenoh import NAME... [--as LOCAL] [--listen ...] [--connect ...] [--prefix P] [--config FILE] [--scout]
//! ```
//!
//! Runs until SIGINT or SIGTERM (then stops cleanly: an importer removes its local channels);
//! logs what it does on standard error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use venom_zenoh::{BridgeOptions, DEFAULT_PREFIX, Exporter, Importer};

#[derive(Parser)]
#[command(
    name = "venom-zenoh",
    version,
    about = "Carries VenomMemory channels across hosts over Zenoh"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve local channels on Zenoh (each waits for its daemon to appear).
    Export {
        /// Channels to export.
        #[arg(required = true)]
        names: Vec<String>,
        #[command(flatten)]
        net: Net,
    },
    /// Mirror exported channels as local channels.
    Import {
        /// Channels to import.
        #[arg(required = true)]
        names: Vec<String>,
        /// The local name (one channel only; default: the same name).
        #[arg(long = "as")]
        local: Option<String>,
        #[command(flatten)]
        net: Net,
    },
}

#[derive(Args)]
struct Net {
    /// A Zenoh endpoint to listen on (`tcp/127.0.0.1:7447`, `tls/...`).
    #[arg(long)]
    listen: Vec<String>,
    /// A Zenoh endpoint to connect to.
    #[arg(long)]
    connect: Vec<String>,
    /// Key prefix.
    #[arg(long, default_value = DEFAULT_PREFIX)]
    prefix: String,
    /// A Zenoh JSON5 configuration file, for anything else.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Turn multicast scouting on (off by default).
    #[arg(long)]
    scout: bool,
}

impl Net {
    fn options(self) -> BridgeOptions {
        BridgeOptions {
            prefix: self.prefix,
            listen: self.listen,
            connect: self.connect,
            config: self.config,
            scout: self.scout,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let started = match cli.command {
        Command::Export { names, net } => {
            Exporter::start(&names, &net.options()).map(|e| Box::new(e) as Box<dyn std::fmt::Debug>)
        }
        Command::Import { names, local, net } => {
            if local.is_some() && names.len() != 1 {
                eprintln!("venom-zenoh: --as names one local channel: give one NAME");
                return ExitCode::from(2);
            }
            let pairs: Vec<(String, String)> = names
                .iter()
                .map(|n| (n.clone(), local.clone().unwrap_or_else(|| n.clone())))
                .collect();
            Importer::start(&pairs, &net.options()).map(|i| Box::new(i) as Box<dyn std::fmt::Debug>)
        }
    };
    let bridge = match started {
        Ok(bridge) => bridge,
        Err(e) => {
            eprintln!("venom-zenoh: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Until SIGINT or SIGTERM; then the bridge stops (an importer removes its channels).
    match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]) {
        Ok(mut signals) => {
            let _ = signals.forever().next();
        }
        Err(e) => {
            eprintln!("venom-zenoh: cannot wait for signals ({e}); running until killed");
            loop {
                std::thread::park();
            }
        }
    }
    eprintln!("venom-zenoh: stopping");
    drop(bridge);
    ExitCode::SUCCESS
}
