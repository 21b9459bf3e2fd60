//! `img load`: an image (or some platforms of an index) into a local runtime.
//!
//! * containerd: over its gRPC API, incrementally (only missing blobs are written), keeping the
//!   digests we built ([`containerd`]).
//! * docker: into containerd's `moby` namespace when dockerd keeps its images there, else a
//!   docker-save tarball streamed to `POST /images/load` ([`docker`]).
//! * podman: the tarball streamed to `podman load`; generic: to `$LOADER_BINARY` ([`command`]).
//! * auto: containerd when a socket answers, then docker, then podman.

pub mod command;
pub mod containerd;
pub mod docker;
mod error;
pub mod plan;
pub mod platform;
pub mod socket;
pub mod source;
pub mod tarball;

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use img_contract::deploy::{LoadDaemon, LoadRequest};

pub use error::LoadError;

use self::docker::DockerHost;
use self::platform::PlatformChoice;
use self::socket::{containerd_candidates, find, Dial, Search};
use self::source::Sources;
use crate::deploy::image::ImageRequest;
use crate::oci::docker_save::with_default_tag;
use crate::registry::client::ClientOptions;
use crate::registry::progress::human_bytes;

/// Everything `img load` is told.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub request: PathBuf,
    /// What the request's paths are relative to (default: the request file's directory).
    pub root: Option<PathBuf>,
    pub platform: PlatformChoice,
    /// Replace the request's names when not empty.
    pub tags: Vec<String>,
    /// Overrides the request's daemon.
    pub daemon: Option<LoadDaemon>,
    /// Unpack into this containerd snapshotter (e.g. `overlayfs`) after loading.
    pub unpack: Option<String>,
    /// For base layers streamed from their registries.
    pub client: ClientOptions,
}

/// What a load did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// `containerd at /run/containerd/containerd.sock (namespace default)`, `docker at unix://…`.
    pub daemon: String,
    pub names: Vec<String>,
    /// The digest of the root we loaded (manifest or index).
    pub digest: String,
    pub blobs_present: usize,
    pub blobs_written: usize,
    pub bytes_written: u64,
    /// Things the user should know (e.g. docker changing the digest).
    pub notes: Vec<String>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for note in &self.notes {
            writeln!(f, "img load: note: {note}")?;
        }
        let names = if self.names.is_empty() { "(no name)".to_owned() } else { self.names.join(", ") };
        write!(
            f,
            "img load: loaded {} into {}: {names}; blobs: {} already present, {} written ({})",
            self.digest,
            self.daemon,
            self.blobs_present,
            self.blobs_written,
            human_bytes(self.bytes_written)
        )
    }
}

/// Runs `img load`.
pub async fn load(options: &LoadOptions) -> Result<Summary, LoadError> {
    let request: LoadRequest = crate::request::read(&options.request)?;
    let root_dir = match &options.root {
        Some(root) => root.clone(),
        None => options.request.parent().map(Path::to_owned).unwrap_or_default(),
    };
    let plan = plan::load(&request, &options.request, &root_dir)?;
    let names = names(if options.tags.is_empty() { &request.names } else { &options.tags })?;
    // A manifest root is loaded whatever its platform; --platform picks children of an index.
    let chosen = match plan.index {
        Some(_) => options.platform.select(&plan.platforms())?,
        None => vec![0],
    };
    let sources = Sources::new(options.client.with_build_settings(&request.build_settings()));
    let daemon = options.daemon.unwrap_or(request.daemon);
    let target = containerd::Target { plan: &plan, chosen: &chosen, names: &names, unpack: options.unpack.as_deref() };
    match daemon {
        LoadDaemon::Containerd => {
            let socket = containerd_socket().await?;
            containerd::load(&socket, "default", &target, &sources).await
        }
        LoadDaemon::Docker => load_docker(&DockerHost::from_env()?, &target, &sources).await,
        LoadDaemon::Podman => load_podman(&target, &sources).await,
        LoadDaemon::Generic => load_generic(&target, &sources).await,
        LoadDaemon::Auto => {
            let (socket, mut search) = find(containerd_candidates()).await;
            if let Some(socket) = socket {
                return containerd::load(&socket, "default", &target, &sources).await;
            }
            let docker = DockerHost::from_env()?;
            match docker.ping().await {
                Dial::Ok => return load_docker(&docker, &target, &sources).await,
                other => search.record(format!("docker at {docker}"), other),
            }
            if which("podman") {
                return load_podman(&target, &sources).await;
            }
            search.record("podman on PATH".to_owned(), Dial::Missing);
            Err(search.unreachable(
                "container runtime",
                "CONTAINERD_ADDRESS or DOCKER_HOST",
                "Start containerd, docker or install podman, or name a loader with --daemon generic and LOADER_BINARY",
            ))
        }
    }
}

/// Full references, `:latest` added where no tag is given (as docker and rules_img do).
fn names(given: &[String]) -> Result<Vec<String>, LoadError> {
    let mut names: Vec<String> = Vec::new();
    for name in given {
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(LoadError::Usage(format!("image name {name:?} is not a reference like example.com/app:tag")));
        }
        let name = with_default_tag(name);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

async fn containerd_socket() -> Result<PathBuf, LoadError> {
    let (socket, search) = find(containerd_candidates()).await;
    socket.ok_or_else(|| unreachable_containerd(&search))
}

fn unreachable_containerd(search: &Search) -> LoadError {
    search.unreachable(
        "containerd",
        "CONTAINERD_ADDRESS",
        "Start containerd, or set CONTAINERD_ADDRESS to its socket (e.g. unix:///run/containerd/containerd.sock)",
    )
}

async fn load_docker(
    host: &DockerHost,
    target: &containerd::Target<'_>,
    sources: &Sources,
) -> Result<Summary, LoadError> {
    match host.ping().await {
        Dial::Ok => {}
        found => {
            let mut search = Search::default();
            search.record(format!("docker at {host}"), found);
            return Err(search.unreachable(
                "docker",
                "DOCKER_HOST",
                "Start dockerd, or set DOCKER_HOST to its socket (e.g. unix:///var/run/docker.sock)",
            ));
        }
    }
    if host.uses_containerd_store().await? {
        // Docker keeps images in containerd: load there and keep our digests.
        let socket = containerd_socket().await?;
        return containerd::load(&socket, "moby", target, sources).await;
    }
    let image = single_image(target, "docker")?;
    let note = format!(
        "docker (without the containerd image store) keeps no manifest: it will know this image by its config \
         digest {} as the image ID, not by the manifest digest {} we built; `docker push` writes a new manifest",
        image.config.digest, image.manifest.digest
    );
    eprintln!("img load: note: {note}");
    let (plan_image, names, sources) = (image.clone(), target.names.to_vec(), sources.clone());
    let handle = tokio::runtime::Handle::current();
    let counted = Arc::new(AtomicU64::new(0));
    let counter = counted.clone();
    let loaded = host
        .load(move |writer| {
            let mut writer = CountingWriter { inner: writer, count: counter };
            let writer = tarball::write(&mut writer, &plan_image, &names, &sources, &handle)?;
            writer.flush().map_err(LoadError::Tarball)
        })
        .await?;
    for line in &loaded {
        eprintln!("img load: docker: {line}");
    }
    Ok(tarball_summary(format!("docker at {host}"), target, image, counted.load(Ordering::Relaxed)))
}

async fn load_podman(target: &containerd::Target<'_>, sources: &Sources) -> Result<Summary, LoadError> {
    let mut command = Command::new("podman");
    command.arg("load");
    let (summary, stdout) =
        load_with_command("podman", command, "install podman, or choose another --daemon", target, sources).await?;
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        eprintln!("img load: podman: {line}");
    }
    Ok(summary)
}

async fn load_generic(target: &containerd::Target<'_>, sources: &Sources) -> Result<Summary, LoadError> {
    let program = std::env::var_os("LOADER_BINARY").filter(|p| !p.is_empty()).ok_or_else(|| {
        LoadError::Usage(
            "--daemon generic needs LOADER_BINARY: a program that reads the image tarball \
             (docker-save + OCI layout) on stdin, run with no arguments"
                .to_owned(),
        )
    })?;
    let label = program.to_string_lossy().into_owned();
    let (summary, stdout) =
        load_with_command(&label, Command::new(&program), "check LOADER_BINARY", target, sources).await?;
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        eprintln!("img load: {label}: {line}");
    }
    Ok(summary)
}

async fn load_with_command(
    label: &str,
    command: Command,
    hint: &'static str,
    target: &containerd::Target<'_>,
    sources: &Sources,
) -> Result<(Summary, String), LoadError> {
    let image = single_image(target, if label == "podman" { "podman" } else { "a generic loader" })?;
    let handle = tokio::runtime::Handle::current();
    let counted = Arc::new(AtomicU64::new(0));
    let (plan_image, names, counter, sources) =
        (image.clone(), target.names.to_vec(), counted.clone(), sources.clone());
    let stdout = tokio::task::spawn_blocking(move || {
        command::run(command, hint, |stdin| {
            let mut writer = CountingWriter { inner: stdin, count: counter };
            tarball::write(&mut writer, &plan_image, &names, &sources, &handle).map(drop)
        })
    })
    .await
    .map_err(|err| LoadError::Tarball(std::io::Error::other(err)))??;
    let summary = tarball_summary(label.to_owned(), target, image, counted.load(Ordering::Relaxed));
    Ok((summary, stdout))
}

/// The one image a tarball can carry.
fn single_image<'a>(target: &containerd::Target<'a>, daemon: &'static str) -> Result<&'a plan::Image, LoadError> {
    match target.chosen {
        [one] => Ok(&target.plan.images[*one]),
        _ => Err(LoadError::AllPlatformsUnsupported { daemon }),
    }
}

fn tarball_summary(daemon: String, target: &containerd::Target<'_>, image: &plan::Image, bytes: u64) -> Summary {
    Summary {
        daemon,
        names: target.names.to_vec(),
        digest: image.manifest.digest.clone(),
        blobs_present: 0,
        blobs_written: distinct_blobs(image),
        bytes_written: bytes,
        notes: Vec::new(),
    }
}

fn distinct_blobs(image: &plan::Image) -> usize {
    let mut digests: Vec<&str> =
        image.layers.iter().chain([&image.config, &image.manifest]).map(|b| b.digest.as_str()).collect();
    digests.sort_unstable();
    digests.dedup();
    digests.len()
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Counts what passes through, for the summary.
struct CountingWriter<W> {
    inner: W,
    count: Arc<AtomicU64>,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(bytes)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
