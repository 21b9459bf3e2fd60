//! The one-pass blob pipeline: entries → tar → sha256 (diff_id) → compressor → sha256 (digest) → file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};

use img_contract::layer::Compression;

use super::LayerError;
use crate::atomic::PendingOutput;
use crate::compress::{CompressionSettings, Encoder};
use crate::digest::{BackgroundHashingWriter, Sha256Digest};
use crate::estargz::{self, EstargzWriter};
use crate::tarball::{ArchiveWriter, TarWriter};

/// What kind of blob to write.
#[derive(Debug, Clone, Copy)]
pub enum BlobFormat {
    Tar(CompressionSettings),
    /// eStargz (always gzip) at a gzip level with parallel jobs.
    Estargz {
        level: u32,
        jobs: usize,
    },
}

impl BlobFormat {
    pub fn media_type(&self) -> &'static str {
        match self {
            BlobFormat::Tar(settings) => settings.media_type(),
            BlobFormat::Estargz { .. } => crate::compress::media_type(Compression::Gzip),
        }
    }
}

/// Digests of a finished blob, and annotations the format adds.
#[derive(Debug, Clone)]
pub struct BlobSummary {
    pub diff_id: Sha256Digest,
    pub digest: Sha256Digest,
    pub annotations: BTreeMap<String, String>,
}

/// Bytes gathered before each write into the compressor: each write into zstd's multithreaded
/// stream has a fixed cost, so it gets large writes, not 512-byte headers.
const ENCODER_INPUT_CHUNK: usize = 1 << 20;
/// Bytes gathered before each write of the blob to its file.
const OUTPUT_CHUNK: usize = 256 << 10;

type FileOut = BackgroundHashingWriter<BufWriter<File>>;

/// Writes the blob of `format` to `output`; `fill` appends the entries in order.
pub fn write_entries(
    output: &PendingOutput,
    format: BlobFormat,
    fill: impl FnOnce(&mut dyn ArchiveWriter) -> Result<(), LayerError>,
) -> Result<BlobSummary, LayerError> {
    let failed = |err: io::Error| LayerError::Output(output.write_error(err));
    let out: FileOut = BackgroundHashingWriter::new(output.writer()?, OUTPUT_CHUNK).map_err(failed)?;
    match format {
        BlobFormat::Tar(settings) if settings.algorithm == Compression::None => {
            // Uncompressed: the blob is the tar, so one hash serves as diff_id and digest.
            let mut tar = TarWriter::new(out);
            fill(&mut tar)?;
            let (file, digest) = tar.finish().map_err(failed)?.finish().map_err(failed)?;
            close(file).map_err(failed)?;
            Ok(BlobSummary { diff_id: digest, digest, annotations: BTreeMap::new() })
        }
        BlobFormat::Tar(settings) => {
            let encoder = Encoder::new(out, settings).map_err(failed)?;
            let mut tar = TarWriter::new(BackgroundHashingWriter::new(encoder, ENCODER_INPUT_CHUNK).map_err(failed)?);
            fill(&mut tar)?;
            let (encoder, diff_id) = tar.finish().map_err(failed)?.finish().map_err(failed)?;
            let (file, digest) = encoder.finish().map_err(failed)?.finish().map_err(failed)?;
            close(file).map_err(failed)?;
            Ok(BlobSummary { diff_id, digest, annotations: BTreeMap::new() })
        }
        BlobFormat::Estargz { level, jobs } => {
            let entry_error = |source| LayerError::Entry {
                path: estargz::NO_PREFETCH_LANDMARK.into(),
                origin: "eStargz".into(),
                source,
            };
            let mut writer = EstargzWriter::new(out, level, jobs).map_err(entry_error)?;
            fill(&mut writer)?;
            let (out, summary) = writer.finish().map_err(|source| LayerError::Entry {
                path: estargz::TOC_NAME.into(),
                origin: "eStargz".into(),
                source,
            })?;
            let (file, digest) = out.finish().map_err(failed)?;
            close(file).map_err(failed)?;
            let annotations = BTreeMap::from([
                (estargz::TOC_DIGEST_ANNOTATION.to_owned(), summary.toc_digest.to_string()),
                (estargz::UNCOMPRESSED_SIZE_ANNOTATION.to_owned(), summary.diff_id.size.to_string()),
            ]);
            Ok(BlobSummary { diff_id: summary.diff_id, digest, annotations })
        }
    }
}

/// Compresses an already-made tar stream as it is (its diff_id stays what it was).
pub fn write_stream(
    output: &PendingOutput,
    settings: CompressionSettings,
    fill: impl FnOnce(&mut dyn Write) -> Result<(), LayerError>,
) -> Result<BlobSummary, LayerError> {
    let failed = |err: io::Error| LayerError::Output(output.write_error(err));
    let out: FileOut = BackgroundHashingWriter::new(output.writer()?, OUTPUT_CHUNK).map_err(failed)?;
    let encoder = Encoder::new(out, settings).map_err(failed)?;
    let mut encoder = BackgroundHashingWriter::new(encoder, ENCODER_INPUT_CHUNK).map_err(failed)?;
    fill(&mut encoder)?;
    let (encoder, diff_id) = encoder.finish().map_err(failed)?;
    let (file, digest) = encoder.finish().map_err(failed)?.finish().map_err(failed)?;
    close(file).map_err(failed)?;
    Ok(BlobSummary { diff_id, digest, annotations: BTreeMap::new() })
}

/// Flushes the buffer. No fsync: outputs only need to be whole or absent (temp file + rename),
/// not durable across a power cut, and Bazel and Buck2 do not expect that either.
fn close(file: BufWriter<File>) -> io::Result<()> {
    file.into_inner().map_err(|err| err.into_error())?;
    Ok(())
}

/// A reader that copies everything it reads into a writer (blob passed through unchanged).
pub struct Tee<'a, R> {
    pub inner: R,
    pub copy: &'a mut dyn Write,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}
