//! The command line of `img push`, `img pull` and `img registry serve` (the binary's side:
//! arguments in, library calls, `anyhow` errors out).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use img::registry::client::ClientOptions;
use img::registry::credentials::CredentialOptions;
use img::registry::log::Log;
use img::registry::progress::ProgressMode;
use img::registry::pull::{pull, PullOptions};
use img::registry::push::plan::Destination;
use img::registry::push::{push, PushOptions, DEFAULT_CHUNK_SIZE};

/// Flags every registry command takes.
#[derive(Args)]
pub struct ClientArgs {
    /// A Docker config file (or a directory with `config.json`) to take credentials from first.
    #[arg(long, value_name = "PATH")]
    docker_config_path: Option<PathBuf>,
    /// A credential helper (default: $IMG_CREDENTIAL_HELPER). `docker-credential-*` helpers speak
    /// Docker's protocol, anything else Bazel's.
    #[arg(long, value_name = "PATH")]
    credential_helper: Option<PathBuf>,
    /// Allow plain HTTP to any registry (also IMG_INSECURE=1); loopback hosts always get it.
    #[arg(long)]
    insecure: bool,
    /// Log every request and response (credentials are always redacted).
    #[arg(long, short)]
    verbose: bool,
}

impl ClientArgs {
    fn options(self) -> anyhow::Result<ClientOptions> {
        let from_env = ClientOptions::from_env()?;
        Ok(ClientOptions {
            insecure: self.insecure || from_env.insecure,
            credentials: CredentialOptions {
                docker_config_path: self.docker_config_path,
                credential_helper: self.credential_helper,
            }
            .with_env(),
            log: Log { verbose: self.verbose },
            ..from_env
        })
    }
}

#[derive(Args)]
pub struct PushArgs {
    /// The push request JSON (`PushRequest`) written by `image_push`.
    #[arg(long, value_name = "FILE")]
    request: PathBuf,
    /// What the request's paths are relative to (default: the request file's directory).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// A tag to add (repeatable).
    #[arg(long = "tag", short = 't', value_name = "TAG")]
    tags: Vec<String>,
    /// Override the request's registry.
    #[arg(long, value_name = "HOST")]
    registry: Option<String>,
    /// Override the request's repository.
    #[arg(long, value_name = "REPO")]
    repository: Option<String>,
    /// Blobs transferred at once.
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// Local blobs larger than this are uploaded in PATCH chunks of this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_CHUNK_SIZE)]
    chunk_size: u64,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct PullArgs {
    /// The registry, then mirrors to try in order (repeatable).
    #[arg(long = "registry", value_name = "HOST", required = true)]
    registries: Vec<String>,
    #[arg(long, value_name = "REPO")]
    repository: String,
    /// The digest of the manifest or index to pull.
    #[arg(long, value_name = "sha256:…", required_unless_present = "tag")]
    digest: Option<String>,
    /// The tag (recorded in pull.json; resolved only when no digest is given).
    #[arg(long, value_name = "TAG")]
    tag: Option<String>,
    /// With only --tag: pull what the tag points at now, with a warning naming the digest to pin.
    #[arg(long)]
    allow_tag_without_digest: bool,
    /// The output directory.
    #[arg(long, value_name = "DIR")]
    output: PathBuf,
    /// Also print a Buck2 `pull` target named NAME that pins what was pulled (platforms, manifests,
    /// configs, layer media types): Buck2 needs them written down before it fetches.
    #[arg(long, value_name = "NAME")]
    print_buck2: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

#[derive(Args)]
pub struct RegistryArgs {
    #[command(subcommand)]
    command: RegistryCommand,
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// Serve an OCI registry from local storage; prints the bound address as the first line.
    Serve {
        /// The storage directory (created if missing).
        #[arg(long, value_name = "DIR")]
        root: PathBuf,
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: String,
    },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

/// `img push`: pushed references on stdout (digest first), the summary on stderr.
pub fn run_push(args: PushArgs) -> anyhow::Result<()> {
    let options = PushOptions {
        request: args.request,
        root: args.root,
        destination: Destination { registry: args.registry, repository: args.repository, extra_tags: args.tags },
        jobs: args.jobs,
        chunk_size: args.chunk_size,
        client: args.client.options()?,
        progress: ProgressMode::from_env(),
    };
    let report = runtime()?.block_on(push(&options))?;
    eprintln!("{report}");
    let mut stdout = std::io::stdout().lock();
    for reference in &report.references {
        writeln!(stdout, "{reference}")?;
    }
    Ok(())
}

/// `img pull`: writes the output directory; the pulled reference on stderr.
pub fn run_pull(args: PullArgs) -> anyhow::Result<()> {
    let options = PullOptions {
        registries: args.registries.clone(),
        repository: args.repository,
        digest: args.digest,
        tag: args.tag,
        allow_tag_without_digest: args.allow_tag_without_digest,
        output: args.output,
        client: args.client.options()?,
    };
    let result = runtime()?.block_on(pull(&options))?;
    eprintln!(
        "img pull: {}/{}@{}: {} manifest(s) and config(s) into {} (no layer blobs)",
        result.registry,
        result.repository,
        result.digest,
        result.manifests.len(),
        options.output.display()
    );
    if let Some(name) = args.print_buck2 {
        print!("{}", buck2_target(&name, &options.output, &options.registries, &result)?);
    }
    Ok(())
}

/// A Buck2 `pull(...)` call with everything the rule needs at analysis, read from what `pull` wrote.
fn buck2_target(
    name: &str,
    output: &std::path::Path,
    registries: &[String],
    result: &img_contract::deploy::PullResult,
) -> anyhow::Result<String> {
    let json = |relative: &str| -> anyhow::Result<serde_json::Value> {
        let path = output.join(relative);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    };
    let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_string();
    let mut manifests = String::new();
    for manifest in &result.manifests {
        let descriptor = json(&manifest.descriptor)?;
        let document = json(&manifest.manifest)?;
        let platform: Vec<&str> = [&manifest.os, &manifest.architecture, &manifest.variant]
            .into_iter()
            .map(String::as_str)
            .filter(|part| !part.is_empty())
            .collect();
        let mut layers = Vec::new();
        for layer in &manifest.layers {
            layers.push(format!("{:?}", text(&json(layer)?["mediaType"])));
        }
        manifests.push_str(&format!(
            "        {{\n            \"config\": {:?},\n            \"layers\": [{}],\n            \"manifest\": {:?},\n            \"platform\": {:?},\n        }},\n",
            text(&document["config"]["digest"]),
            layers.join(", "),
            text(&descriptor["digest"]),
            platform.join("/"),
        ));
    }
    let (mirrors, registry) = registries.split_at(registries.len().saturating_sub(1));
    let mut target = format!(
        "pull(\n    name = {name:?},\n    digest = {:?},\n    manifests = [\n{manifests}    ],\n",
        result.digest
    );
    if !mirrors.is_empty() {
        target.push_str(&format!("    registries = {mirrors:?},\n"));
    }
    target.push_str(&format!(
        "    registry = {:?},\n    repository = {:?},\n",
        registry.first().cloned().unwrap_or_default(),
        result.repository
    ));
    if !result.tag.is_empty() {
        target.push_str(&format!("    tag = {:?},\n", result.tag));
    }
    // Like the `@<name>//:image` repository Bazel's pull creates: usable from every package.
    target.push_str("    visibility = [\"PUBLIC\"],\n)\n");
    Ok(target)
}

/// `img registry serve`.
pub fn run_registry(args: RegistryArgs) -> anyhow::Result<()> {
    match args.command {
        RegistryCommand::Serve { root, addr } => {
            runtime()?.block_on(img::registry::server::serve(&root, &addr, |bound| {
                // The first stdout line is the address: tests and scripts read it to find the port.
                println!("{bound}");
                let _ = std::io::stdout().flush();
                eprintln!("img registry: serving {} on http://{bound}", root.display());
            }))?
        }
    }
    Ok(())
}
