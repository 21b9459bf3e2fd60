//! The `img` command line. Library errors are typed; they become `anyhow` only here.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod deploy_cli;
mod load_cli;
mod registry_cli;

#[derive(Parser)]
#[command(name = "img", version, about = "Build, push and load OCI images for Bazel and Buck2 (rules_img).")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a layer blob and its metadata from files.
    Layer(ActionArgs),
    /// Turn an existing tar (plain, gzip or zstd) into a layer blob and its metadata.
    LayerFromTar(ActionArgs),
    /// Assemble an image manifest and config from layer metadata and an optional base.
    Manifest(ActionArgs),
    /// Assemble an image index from manifest descriptors.
    Index(ActionArgs),
    /// Write an image as an OCI image layout (directory or tar).
    OciLayout(ActionArgs),
    /// Write a `docker load` tarball of an image that is also an OCI layout.
    DockerSave(ActionArgs),
    /// Import one platform's image (manifest, config, layer blobs and metadata) from an OCI layout.
    ManifestFromOciLayout(ActionArgs),
    /// Import the image index at the root of an OCI layout.
    IndexFromOciLayout(ActionArgs),
    /// Push an image or index (and its blobs) to a registry, from a push request.
    Push(registry_cli::PushArgs),
    /// Fetch a base image's manifests and configs (never layer blobs) into a directory.
    Pull(registry_cli::PullArgs),
    /// Run a local OCI registry.
    Registry(registry_cli::RegistryArgs),
    /// Load an image into containerd (incrementally), docker, podman or a generic loader.
    Load(load_cli::LoadArgs),
    /// Run many push and load requests at once (what `multi_deploy` runs).
    Deploy(deploy_cli::DeployArgs),
}

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
    match cli.command {
        Command::Layer(args) => {
            let request = img::request::read(&args.request)?;
            let outputs = img_contract::layer::LayerOutputs::from_args(&args.outputs)?;
            img::layer::build(&request, &outputs)?;
        }
        Command::LayerFromTar(args) => {
            let request = img::request::read(&args.request)?;
            let outputs = img_contract::layer::LayerFromTarOutputs::from_args(&args.outputs)?;
            img::layer::from_tar::build(&request, &outputs)?;
        }
        Command::Manifest(args) => {
            let request = img::request::read(&args.request)?;
            let outputs = img_contract::image::ManifestOutputs::from_args(&args.outputs)?;
            img::oci::manifest::build(&request, &outputs)?;
        }
        Command::Index(args) => {
            let request = img::request::read(&args.request)?;
            let outputs = img_contract::image::IndexOutputs::from_args(&args.outputs)?;
            img::oci::index::build(&request, &outputs)?;
        }
        Command::OciLayout(args) => {
            let request = img::request::read(&args.request)?;
            let outputs = img_contract::image::OciLayoutOutputs::from_args(&args.outputs)?;
            img::oci::layout::build(&request, &outputs)?;
        }
        Command::DockerSave(args) => {
            let request = img::request::read(&args.request)?;
            let outputs = img_contract::image::DockerSaveOutputs::from_args(&args.outputs)?;
            img::oci::docker_save::build(&request, &outputs)?;
        }
        Command::ManifestFromOciLayout(args) => {
            let request = img::request::read(&args.request)?;
            let outputs = img_contract::image::ManifestFromOciLayoutOutputs::from_args(&args.outputs)?;
            img::oci::convert::manifest::build(&request, &outputs)?;
        }
        Command::IndexFromOciLayout(args) => {
            let request = img::request::read(&args.request)?;
            let outputs = img_contract::image::IndexFromOciLayoutOutputs::from_args(&args.outputs)?;
            img::oci::convert::index::build(&request, &outputs)?;
        }
        Command::Push(args) => registry_cli::run_push(args)?,
        Command::Pull(args) => registry_cli::run_pull(args)?,
        Command::Registry(args) => registry_cli::run_registry(args)?,
        Command::Load(args) => load_cli::run_load(args)?,
        Command::Deploy(args) => deploy_cli::run_deploy(args)?,
    }
    Ok(())
}
