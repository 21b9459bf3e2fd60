//! The `img` command line. Library errors are typed; they become `anyhow` only here.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "img", version, about = "Build, push and load OCI images for Bazel and Buck2 (rules_img).")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

/// The arguments every build action takes.
#[derive(Args)]
struct ActionArgs {
    /// The request JSON written by the rule.
    #[arg(long)]
    request: PathBuf,
    /// An output of the action, as NAME=PATH.
    #[arg(long = "output", value_name = "NAME=PATH")]
    outputs: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("img: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {}
}
