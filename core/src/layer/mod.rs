//! The layer actions: `img layer` (files → layer) and `img layer-from-tar` (tar → layer).
//!
//! Both write the blob and its metadata JSON in one streaming pass and put them in place only when
//! everything succeeded (see [`crate::atomic`]).

pub mod blob;
pub mod dedup;
mod error;
pub mod from_tar;
pub mod metadata;
pub mod sources;

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;

use img_contract::layer::{Compression, LayerOutputs, LayerRequest};

pub use error::LayerError;

use crate::atomic::{self, PendingOutput};
use crate::compress::CompressionSettings;
use crate::estargz;
use crate::tarball::{ArchiveWriter, Entry, Kind, TarError};
use blob::{BlobFormat, BlobSummary};
use dedup::{Deduplicator, Verdict};
use metadata::Overrides;
use sources::{Content, Plan};

/// Runs `img layer`.
pub fn build(request: &LayerRequest, outputs: &LayerOutputs) -> Result<(), LayerError> {
    let paths = [Path::new(&outputs.blob), Path::new(&outputs.metadata)];
    atomic::clean_on_error(&paths, build_layer(request, outputs))
}

fn build_layer(request: &LayerRequest, outputs: &LayerOutputs) -> Result<(), LayerError> {
    let format = blob_format(request.compress, request.compression_level, request.compression_jobs, request.estargz)?;
    let annotations = metadata::annotations(&request.annotations, request.annotations_file.as_deref())?;
    let mut plan = sources::collect(request)?;
    if request.create_parent_directories {
        sources::add_parent_directories(&mut plan);
    }
    apply_metadata(request, &mut plan)?;
    if request.estargz {
        if let Some(planned) = plan.values().find(|p| estargz::is_reserved(&p.entry.path)) {
            return Err(LayerError::Reserved { path: planned.entry.path.clone(), origin: planned.origin.to_string() });
        }
    }

    let blob = PendingOutput::create(Path::new(&outputs.blob))?;
    let summary = blob::write_entries(&blob, format, |writer| write_plan(&plan, writer))?;
    let media_type = request.media_type.clone().unwrap_or_else(|| format.media_type().to_owned());
    finish(blob, &outputs.metadata, summary, media_type, annotations, &request.created_by)
}

/// Resolves compression settings, refusing eStargz with anything but gzip.
pub fn blob_format(
    compress: Compression,
    level: Option<i32>,
    jobs: u32,
    estargz: bool,
) -> Result<BlobFormat, LayerError> {
    let settings = CompressionSettings::new(compress, level, jobs)?;
    if !estargz {
        return Ok(BlobFormat::Tar(settings));
    }
    match compress {
        Compression::Gzip => Ok(BlobFormat::Estargz { level: settings.level as u32, jobs: settings.jobs }),
        Compression::Zstd => Err(LayerError::EstargzNeedsGzip("zstd")),
        Compression::None => Err(LayerError::EstargzNeedsGzip("none")),
    }
}

/// Writes the metadata document and puts both outputs in place.
pub fn finish(
    blob: PendingOutput,
    metadata_path: &str,
    summary: BlobSummary,
    media_type: String,
    mut annotations: std::collections::BTreeMap<String, String>,
    created_by: &str,
) -> Result<(), LayerError> {
    annotations.extend(summary.annotations);
    let document = metadata::document(
        summary.diff_id.to_string(),
        media_type,
        summary.digest.to_string(),
        summary.digest.size,
        annotations,
        created_by,
    );
    let mut metadata = PendingOutput::create(Path::new(metadata_path))?;
    metadata.write_all(&document)?;
    atomic::commit_all(vec![blob, metadata])?;
    Ok(())
}

/// `default_metadata` on every entry, then `file_metadata` per path; unused keys are an error.
fn apply_metadata(request: &LayerRequest, plan: &mut Plan) -> Result<(), LayerError> {
    if let Some(json) = &request.default_metadata {
        let overrides = Overrides::parse(json, "default_metadata")?;
        for planned in plan.values_mut() {
            overrides.apply(&mut planned.entry.attrs);
        }
    }
    let mut unused = Vec::new();
    for (key, json) in &request.file_metadata {
        let location = format!("file_metadata[{key:?}]");
        let overrides = Overrides::parse(json, &location)?;
        let path = sources::normalize(key, &location)?;
        match plan.get_mut(&path) {
            Some(planned) => overrides.apply(&mut planned.entry.attrs),
            None => unused.push(key.clone()),
        }
    }
    if unused.is_empty() {
        Ok(())
    } else {
        Err(LayerError::UnusedMetadata { paths: unused })
    }
}

/// Writes the entries in order; identical files become hardlinks on the way (see [`dedup`]).
fn write_plan(plan: &Plan, writer: &mut dyn ArchiveWriter) -> Result<(), LayerError> {
    let mut dedup = Deduplicator::new(plan);
    for (path, planned) in plan {
        let entry_error = |source| LayerError::Entry {
            path: planned.entry.path.clone(),
            origin: describe(&planned.origin, &planned.content),
            source,
        };
        match (&planned.content, dedup.verdict(path, planned)?) {
            (_, Verdict::Link(target)) => {
                let link = Entry { kind: Kind::Hardlink { target: target.to_owned() }, ..planned.entry.clone() };
                writer.append(&link, &mut io::empty())
            }
            (_, Verdict::WriteBuffered) => writer.append(&planned.entry, &mut dedup.buffer.as_slice()),
            (Content::Nothing, Verdict::Write) => writer.append(&planned.entry, &mut io::empty()),
            (Content::Host(host), Verdict::Write) => {
                let mut file = File::open(host).map_err(|err| entry_error(TarError::Read(err)))?;
                writer.append(&planned.entry, &mut file)
            }
        }
        .map_err(entry_error)?;
    }
    Ok(())
}

fn describe(origin: &Arc<str>, content: &Content) -> String {
    match content {
        Content::Host(host) if !origin.contains(&*host.to_string_lossy()) => format!("{origin} ({})", host.display()),
        _ => origin.to_string(),
    }
}
