//! The `pulse` executable: see the library for what it runs.

use clap::Parser;

// mimalloc: glibc malloc's arena locks showed up in the command API's profile
// under load (see the benchmarks in the README).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    pulse::run(pulse::Cli::parse()).await
}
