//! `switchboard-load`: many graphql-transport-ws subscribers against a running sandbox server
//! on this machine (README "Load tool"). It triggers bots through the public API, spreads the
//! connections over worker processes of its own (a process may hold only so many open files),
//! subscribes each connection to the status of some of the bots, stops every bot
//! (`stopMeetingBot`: a bot not yet in its meeting is DONE at once) and reports each
//! subscriber's delivery latency from the stop, the events lost and duplicated by sequence
//! number, and the server's memory before, with the connections open and after they leave.
//!
//! Start the server with `--sandbox` and `BOT_SYNC_INTERVAL_SECS=0`, so that no bot moves on
//! its own before it is stopped.

mod coordinator;
mod worker;

use std::net::{SocketAddr, ToSocketAddrs};

use clap::{Parser, Subcommand};

/// Connections in one process: a process may hold at most 20,000 open files here.
pub const MAX_PER_PROCESS: usize = 20_000;
pub const MAX_PROCESSES: usize = 16;
pub const MAX_SUBSCRIPTIONS: usize = 20;
/// A run is refused past this, and its workers stopped.
pub const MAX_SECS: u64 = 300;

#[derive(Parser, Debug)]
#[command(
    name = "switchboard-load",
    about = "Subscribers by the thousand against a local sandbox server"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: Run,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Internal: one worker process, driven over stdin and stdout by the coordinator.
    Worker,
}

#[derive(clap::Args, Debug, Clone)]
pub struct Run {
    /// The server's address; loopback only.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub server: String,
    /// A token with the manager or admin role (`switchboard token --sub … --org … --role admin`).
    #[arg(long, env = "SWITCHBOARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// WebSocket connections, over all processes.
    #[arg(long, short = 'n', default_value_t = 1000)]
    pub connections: usize,
    /// `botStatus` subscriptions on each connection, each to a different bot.
    #[arg(long, short = 'k', default_value_t = 1)]
    pub subscriptions: usize,
    /// Bots triggered and stopped; connection c follows bots (c·k + j) mod bots.
    #[arg(long, default_value_t = 100)]
    pub bots: usize,
    /// Worker processes the connections are spread over.
    #[arg(long, short = 'p', default_value_t = 1)]
    pub processes: usize,
    /// The server's process id, for its VmRSS from /proc/<pid>/status.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Stops in flight at once.
    #[arg(long, default_value_t = 8)]
    pub stop_concurrency: usize,
    /// How long the subscribers wait for the final frames after the last stop.
    #[arg(long, default_value_t = 30)]
    pub wait_secs: u64,
    /// The whole run's limit (at most 300).
    #[arg(long, default_value_t = 180)]
    pub timeout_secs: u64,
    /// Print a JSON object after the summary line.
    #[arg(long)]
    pub json: bool,
}

impl Run {
    /// The server's address, once the run is within bounds and the address is this machine's.
    pub fn check(&self) -> Result<SocketAddr, String> {
        if self.connections == 0 || self.subscriptions == 0 || self.processes == 0 {
            return Err("connections, subscriptions and processes must be at least 1".into());
        }
        if self.processes > MAX_PROCESSES {
            return Err(format!("at most {MAX_PROCESSES} processes"));
        }
        if self.connections.div_ceil(self.processes) > MAX_PER_PROCESS {
            return Err(format!(
                "{} connections over {} processes is more than {MAX_PER_PROCESS} a process; add --processes",
                self.connections, self.processes
            ));
        }
        if self.subscriptions > MAX_SUBSCRIPTIONS {
            return Err(format!(
                "at most {MAX_SUBSCRIPTIONS} subscriptions a connection"
            ));
        }
        if self.bots < self.subscriptions || self.bots > 10_000 {
            return Err("bots must be at least --subscriptions and at most 10,000".into());
        }
        if self.timeout_secs > MAX_SECS || self.wait_secs >= self.timeout_secs {
            return Err(format!(
                "--timeout-secs at most {MAX_SECS}, and more than --wait-secs"
            ));
        }
        loopback(&self.server)
    }
}

/// `server` resolved, refused unless every address it names is a loopback one.
pub fn loopback(server: &str) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = server
        .to_socket_addrs()
        .map_err(|e| format!("{server}: {e}"))?
        .collect();
    match addrs.first() {
        Some(addr) if addrs.iter().all(|a| a.ip().is_loopback()) => Ok(*addr),
        Some(_) => Err(format!(
            "{server} is not a loopback address: this tool loads only a server on this machine"
        )),
        None => Err(format!("{server} names no address")),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Worker) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(worker::run()),
        None => {
            let addr = cli.run.check().map_err(anyhow::Error::msg)?;
            let ok = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?
                .block_on(coordinator::run(cli.run, addr))?;
            if !ok {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Run {
        let mut all = vec!["switchboard-load"];
        all.extend_from_slice(args);
        Cli::parse_from(all).run
    }

    #[test]
    fn only_a_server_on_this_machine_is_loaded() {
        assert!(loopback("127.0.0.1:8080").is_ok());
        assert!(loopback("[::1]:8080").is_ok());
        assert!(loopback("localhost:8080").is_ok());
        assert!(loopback("10.0.0.1:8080")
            .unwrap_err()
            .contains("not a loopback"));
        assert!(loopback("192.168.1.20:80").is_err());
    }

    #[test]
    fn runs_past_the_bounds_are_refused() {
        assert!(run(&["-n", "20000"]).check().is_ok());
        assert!(run(&["-n", "20001"])
            .check()
            .unwrap_err()
            .contains("add --processes"));
        assert!(run(&["-n", "40000", "-p", "2"]).check().is_ok());
        assert!(run(&["-p", "17"]).check().is_err());
        assert!(run(&["--timeout-secs", "301"]).check().is_err());
        assert!(run(&["-k", "3", "--bots", "2"]).check().is_err());
        assert!(run(&["--server", "10.1.2.3:8080"]).check().is_err());
    }
}
