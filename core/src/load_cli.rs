//! The command line of `img load` (the binary's side: arguments in, library call, `anyhow` out).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use img::load::platform::PlatformChoice;
use img::load::{load, LoadOptions};
use img::registry::client::ClientOptions;
use img_contract::deploy::LoadDaemon;

#[derive(Args)]
pub struct LoadArgs {
    /// The load request JSON (`LoadRequest`) written by `image_load`.
    #[arg(long, value_name = "FILE")]
    request: PathBuf,
    /// What the request's paths are relative to (default: the request file's directory).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Which platform(s) of an index to load: os/arch[/variant][,...] or `all` (containerd only).
    /// Default: the one closest to this host.
    #[arg(long, value_name = "PLATFORM")]
    platform: Option<String>,
    /// A name for the image (repeatable); replaces the request's names.
    #[arg(long = "tag", short = 't', value_name = "NAME")]
    tags: Vec<String>,
    /// Where to load; overrides the request's `daemon`.
    #[arg(long, value_enum)]
    daemon: Option<Daemon>,
    /// containerd: also unpack the layers into snapshots (as `ctr images import` does), so the
    /// first run starts at once. Without it, `ctr run` unpacks on demand.
    #[arg(long)]
    unpack: bool,
    /// The snapshotter to unpack into (default: $CONTAINERD_SNAPSHOTTER, else overlayfs).
    #[arg(long, value_name = "NAME")]
    snapshotter: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Daemon {
    Auto,
    Docker,
    Containerd,
    Podman,
    Generic,
}

impl From<Daemon> for LoadDaemon {
    fn from(daemon: Daemon) -> Self {
        match daemon {
            Daemon::Auto => LoadDaemon::Auto,
            Daemon::Docker => LoadDaemon::Docker,
            Daemon::Containerd => LoadDaemon::Containerd,
            Daemon::Podman => LoadDaemon::Podman,
            Daemon::Generic => LoadDaemon::Generic,
        }
    }
}

/// `img load`: the loaded names on stdout, progress and the summary on stderr.
pub fn run_load(args: LoadArgs) -> anyhow::Result<()> {
    let platform = match &args.platform {
        Some(text) => PlatformChoice::parse(text)?,
        None => PlatformChoice::Host,
    };
    let client = ClientOptions::from_env()?;
    let options = LoadOptions {
        request: args.request,
        root: args.root,
        platform,
        tags: args.tags,
        daemon: args.daemon.map(LoadDaemon::from),
        unpack: args.unpack.then(|| {
            args.snapshotter
                .or_else(|| std::env::var("CONTAINERD_SNAPSHOTTER").ok().filter(|s| !s.is_empty()))
                .unwrap_or_else(|| "overlayfs".to_owned())
        }),
        client,
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    let summary = runtime.block_on(load(&options))?;
    eprintln!("{summary}");
    let mut stdout = std::io::stdout().lock();
    for name in &summary.names {
        writeln!(stdout, "{name}")?;
    }
    Ok(())
}
