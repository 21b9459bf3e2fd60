//! The command line of `img deploy` (what `multi_deploy` runs): arguments in, library call,
//! `anyhow` out.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use img::deploy::{deploy, Operation};
use img::load::platform::PlatformChoice;
use img::load::LoadOptions;
use img::registry::client::ClientOptions;
use img::registry::progress::ProgressMode;
use img::registry::push::plan::Destination;
use img::registry::push::{PushOptions, DEFAULT_CHUNK_SIZE};

#[derive(Args)]
pub struct DeployArgs {
    /// A push request (`PushRequest`) to push (repeatable).
    #[arg(long = "push", value_name = "FILE")]
    pushes: Vec<PathBuf>,
    /// A load request (`LoadRequest`) to load (repeatable).
    #[arg(long = "load", value_name = "FILE")]
    loads: Vec<PathBuf>,
    /// What the requests' paths are relative to (default: each request file's directory).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Push to this registry instead of the requests' (e.g. a local one for a try).
    #[arg(long, value_name = "HOST")]
    registry: Option<String>,
    /// Operations run at once.
    #[arg(long, default_value_t = 4)]
    jobs: usize,
}

/// `img deploy`: every operation runs to its end; the combined summary on stderr; a failing
/// operation makes the exit status non-zero without stopping the others.
pub fn run_deploy(args: DeployArgs) -> anyhow::Result<()> {
    let client = ClientOptions::from_env()?;
    let mut operations = Vec::new();
    for request in args.pushes {
        operations.push(Operation::Push(PushOptions {
            request,
            root: args.root.clone(),
            destination: Destination { registry: args.registry.clone(), repository: None, extra_tags: Vec::new() },
            jobs: 4,
            chunk_size: DEFAULT_CHUNK_SIZE,
            client: client.clone(),
            progress: ProgressMode::from_env(),
        }));
    }
    for request in args.loads {
        operations.push(Operation::Load(LoadOptions {
            request,
            root: args.root.clone(),
            platform: PlatformChoice::Host,
            tags: Vec::new(),
            daemon: None,
            unpack: None,
            client: client.clone(),
        }));
    }
    anyhow::ensure!(!operations.is_empty(), "img deploy needs at least one --push or --load request");
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    let report = runtime.block_on(deploy(operations, args.jobs));
    eprintln!("{report}");
    anyhow::ensure!(report.failed() == 0, "{} of {} operations failed", report.failed(), report.outcomes.len());
    Ok(())
}
