//! `img push`: an image or index and its blobs into a registry. Blobs first (in parallel, each
//! the cheapest way, see [`blob`]), then child manifests and the root by digest, and only then
//! the tags: a tag never points at a manifest whose blobs are not all there.

pub mod blob;
pub mod plan;

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;

use self::blob::{Context, Outcome, Sources};
use self::plan::{Destination, Plan};
use super::client::{http_client, Access, ClientOptions, Registry};
use super::progress::{human_bytes, Progress, ProgressMode};
use super::RegistryError;
use crate::deploy::image::Document;

/// What `img push` was asked to do.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// The `PushRequest` JSON.
    pub request: PathBuf,
    /// What the request's paths are relative to; default: the request's directory.
    pub root: Option<PathBuf>,
    pub destination: Destination,
    /// Blobs in flight at once.
    pub jobs: usize,
    /// Local blobs larger than this go up in PATCH chunks of this size.
    pub chunk_size: u64,
    pub client: ClientOptions,
    pub progress: ProgressMode,
}

/// Default `--chunk-size`: 64 MiB.
pub const DEFAULT_CHUNK_SIZE: u64 = 64 << 20;

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// `registry/repository@sha256:…`, then `registry/repository:tag` for each tag.
    pub references: Vec<String>,
    pub digest: String,
    pub skipped: usize,
    pub mounted: usize,
    pub streamed: usize,
    pub uploaded: usize,
    /// Bytes uploaded or streamed.
    pub bytes: u64,
    /// Manifests and indexes PUT (0 when the registry already had the root).
    pub manifests_put: usize,
    pub elapsed: Duration,
}

/// The summary line, e.g. `img push: 5 blobs: 3 skipped, 0 mounted, 0 streamed, 2 uploaded (…)`.
impl fmt::Display for PushReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "img push: {} blobs: {} skipped, {} mounted, {} streamed, {} uploaded ({} sent); {} manifests put; {:.2} s; {}",
            self.skipped + self.mounted + self.streamed + self.uploaded,
            self.skipped,
            self.mounted,
            self.streamed,
            self.uploaded,
            human_bytes(self.bytes),
            self.manifests_put,
            self.elapsed.as_secs_f64(),
            self.references[0]
        )
    }
}

/// Pushes what `options.request` describes.
pub async fn push(options: &PushOptions) -> Result<PushReport, RegistryError> {
    let started = Instant::now();
    let root_dir = match &options.root {
        Some(root) => root.clone(),
        None => options.request.parent().map(PathBuf::from).unwrap_or_default(),
    };
    let plan = plan::load(&options.request, &root_dir, &options.destination)?;
    let client = options.client.with_build_settings(&plan.build_settings);
    let http = http_client()?;
    let destination = Registry::new(&plan.registry, Access::Push, &client, http.clone())?;
    let sources = Sources::new(client, http);
    let progress = Progress::new(options.progress);
    let mut report = PushReport {
        references: vec![format!("{}/{}@{}", plan.registry, plan.repository, plan.root.digest)],
        digest: plan.root.digest.clone(),
        skipped: 0,
        mounted: 0,
        streamed: 0,
        uploaded: 0,
        bytes: 0,
        manifests_put: 0,
        elapsed: Duration::ZERO,
    };

    // A registry only accepts a manifest whose blobs it has, so a root that is already there
    // (by digest) means everything below it is too: an unchanged push sends no blob at all.
    if manifest_present(&destination, &plan.repository, &plan.root).await? {
        report.skipped = plan.blobs.len();
    } else {
        let ctx = Context {
            destination: &destination,
            repository: &plan.repository,
            sources: &sources,
            chunk_size: options.chunk_size.max(1),
            progress: &progress,
        };
        push_blobs(&ctx, &plan, options.jobs.max(1), &mut report).await?;
        for child in &plan.children {
            if !manifest_present(&destination, &plan.repository, child).await? {
                put_manifest(&destination, &plan.repository, &child.digest, child).await?;
                report.manifests_put += 1;
            }
        }
        put_manifest(&destination, &plan.repository, &plan.root.digest, &plan.root).await?;
        report.manifests_put += 1;
    }
    for tag in &plan.tags {
        let resolve = || destination.manifest_digest(&plan.repository, tag);
        let current = destination.retry.run(&format!("resolving tag {tag}"), resolve).await?;
        if current.flatten().as_deref() != Some(plan.root.digest.as_str()) {
            put_manifest(&destination, &plan.repository, tag, &plan.root).await?;
        }
        report.references.push(format!("{}/{}:{tag}", plan.registry, plan.repository));
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Every blob, `jobs` at a time; the first failure stops the push (in-flight uploads are
/// dropped, so no manifest or tag is written).
async fn push_blobs(ctx: &Context<'_>, plan: &Plan, jobs: usize, report: &mut PushReport) -> Result<(), RegistryError> {
    let mut results = futures::stream::iter(&plan.blobs)
        .map(|blob| async move { blob::push(ctx, blob).await.map(|outcome| (outcome, blob.size)) })
        .buffer_unordered(jobs);
    while let Some(result) = results.next().await {
        let (outcome, size) = result?;
        match outcome {
            Outcome::Skipped => report.skipped += 1,
            Outcome::Mounted => report.mounted += 1,
            Outcome::Streamed => report.streamed += 1,
            Outcome::Uploaded => report.uploaded += 1,
        }
        if matches!(outcome, Outcome::Streamed | Outcome::Uploaded) {
            report.bytes += size;
        }
    }
    Ok(())
}

async fn manifest_present(registry: &Registry, repository: &str, document: &Document) -> Result<bool, RegistryError> {
    let what = format!("checking manifest {} in {}/{repository}", document.digest, registry.host);
    let found = registry.retry.run(&what, || registry.manifest_digest(repository, &document.digest)).await?;
    Ok(found.is_some())
}

async fn put_manifest(
    registry: &Registry,
    repository: &str,
    reference: &str,
    document: &Document,
) -> Result<(), RegistryError> {
    let what = format!("pushing manifest {reference} to {}/{repository}", registry.host);
    registry
        .retry
        .run(&what, || registry.put_manifest(repository, reference, &document.media_type, &document.bytes))
        .await
}
