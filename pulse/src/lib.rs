//! `pulse`: the one binary. Every service (`pulse all` runs them all in one
//! process) and the operators' commands. Configuration comes from flags or
//! `PULSE_*` variables, read once ([`config`]). `main.rs` only parses and runs.

pub mod cli;
pub mod config;
pub mod services;

use clap::{Parser, Subcommand};

use config::{CommandApiArgs, Config};

/// Pulse: an event-sourced social backend over NATS JetStream.
#[derive(Parser, Debug)]
#[command(name = "pulse", version)]
pub struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Every service in one process, each on its own port.
    All(CommandApiArgs),
    /// The REST command API.
    CommandApi(CommandApiArgs),
    /// Read the event log.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Print a bearer token for a user (dev mode only).
    Token(cli::token::TokenArgs),
}

/// `pulse events ...`.
#[derive(Subcommand, Debug)]
pub enum EventsCommand {
    /// Follow the streams, filtered, as lines or CloudEvents JSON.
    Tail(cli::events::TailArgs),
    /// An aggregate's whole history.
    Show(cli::events::ShowArgs),
}

/// Runs what the command line asks for.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config;
    match cli.command {
        Command::All(api) => {
            ops::init_tracing(config.json_logs());
            let stop = services::on_shutdown();
            // Every service joins here; projectors, the chat gateway and the
            // notifier are added beside the command API as they are built.
            services::command_api(&config, &api, stop).await
        }
        Command::CommandApi(api) => {
            ops::init_tracing(config.json_logs());
            services::command_api(&config, &api, services::on_shutdown()).await
        }
        Command::Events(EventsCommand::Tail(args)) => {
            let store = services::event_store(&config, "/pulse/cli").await?;
            cli::events::tail(&store, &args).await
        }
        Command::Events(EventsCommand::Show(args)) => {
            let store = services::event_store(&config, "/pulse/cli").await?;
            cli::events::show(&store, &args).await
        }
        Command::Token(args) => {
            println!("{}", cli::token::mint(&args, &config.jwt()?, config.dev)?);
            Ok(())
        }
    }
}
