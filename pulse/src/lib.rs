//! `pulse`: the one binary. Every service (`pulse all` runs them all in one
//! process) and the operators' commands. Configuration comes from flags or
//! `PULSE_*` variables, read once ([`config`]). `main.rs` only parses and runs.

pub mod cli;
pub mod config;
pub mod services;

use clap::{Parser, Subcommand};

use config::{AllArgs, ChatGatewayArgs, CommandApiArgs, Config, NotifierArgs, ProjectorArgs};

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
// Parsed once at start-up and matched once: its size costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Every service in one process, each on its own port.
    All(AllArgs),
    /// The REST API: commands and queries.
    CommandApi(CommandApiArgs),
    /// The projectors alone (several may run; they share the work).
    Projectors(ProjectorArgs),
    /// The chat gateway alone: WebSocket chat on /ws (several may run).
    ChatGateway(ChatGatewayArgs),
    /// The notifier alone (several may run; they share the work).
    Notifier(NotifierArgs),
    /// Inspect the projections.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
    /// Read the event log.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Print a bearer token for a user (dev mode only).
    Token(cli::token::TokenArgs),
    /// Exit 0 when a URL answers 2xx: the health check of a container.
    Probe(cli::probe::ProbeArgs),
}

/// `pulse events ...`.
#[derive(Subcommand, Debug)]
pub enum EventsCommand {
    /// Follow the streams, filtered, as lines or CloudEvents JSON.
    Tail(cli::events::TailArgs),
    /// An aggregate's whole history.
    Show(cli::events::ShowArgs),
}

/// `pulse projections ...`.
#[derive(Subcommand, Debug)]
pub enum ProjectionsCommand {
    /// Each projection's position and lag in each stream it reads.
    Status,
    /// Build a projection anew from the log beside the live one, then switch to it.
    Rebuild(cli::projections::NameArgs),
    /// Build a projection from the log into a scratch copy and compare it with the live one.
    Verify(cli::projections::NameArgs),
}

/// Runs what the command line asks for.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config;
    match cli.command {
        Command::All(all) => {
            ops::init_tracing(config.json_logs());
            let stop = services::on_shutdown();
            // One read store for both: SQLite has one writer per file, and
            // sharing the handle keeps the queries on the projectors' writes.
            all.api.config(&config)?;
            let reads = config.read_store().await?;
            let api = services::command_api(&config, &all.api, Some(reads.clone()), stop.clone());
            let projectors = services::projectors(&config, &all.projectors, reads.clone(), stop.clone());
            let chat = services::chat_gateway(&config, &all.chat, stop.clone());
            let notifier = services::notifier(&config, &all.notifier, reads, stop);
            tokio::try_join!(api, projectors, chat, notifier).map(drop)
        }
        Command::CommandApi(api) => {
            ops::init_tracing(config.json_logs());
            services::command_api(&config, &api, None, services::on_shutdown()).await
        }
        Command::Projectors(args) => {
            ops::init_tracing(config.json_logs());
            services::projectors(&config, &args, config.read_store().await?, services::on_shutdown()).await
        }
        Command::ChatGateway(args) => {
            ops::init_tracing(config.json_logs());
            services::chat_gateway(&config, &args, services::on_shutdown()).await
        }
        Command::Notifier(args) => {
            ops::init_tracing(config.json_logs());
            services::notifier(&config, &args, config.read_store().await?, services::on_shutdown()).await
        }
        Command::Projections(ProjectionsCommand::Status) => {
            let log = services::event_store(&config, "/pulse/cli").await?;
            cli::projections::status(&log, &config.read_store().await?).await
        }
        Command::Projections(ProjectionsCommand::Rebuild(args)) => {
            let log = services::event_store(&config, "/pulse/cli").await?;
            cli::projections::rebuild(log, config.read_store().await?, &args).await
        }
        Command::Projections(ProjectionsCommand::Verify(args)) => {
            let log = services::event_store(&config, "/pulse/cli").await?;
            cli::projections::verify(log, config.read_store().await?, &args).await
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
        Command::Probe(args) => cli::probe::probe(&args).await,
    }
}
