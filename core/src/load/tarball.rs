//! The `docker load` tarball of one image, written into any `io::Write` (a pipe to `podman load`,
//! the body of Docker's `POST /images/load`) and never to a temp file. Like `img docker-save` it
//! is both a docker-save archive (`manifest.json`) and an OCI layout (`index.json`, `oci-layout`).
//!
//! This runs on a blocking thread: base layers without a local blob are pulled through the async
//! registry client piece by piece with [`Handle::block_on`].

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::str::FromStr;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use oci_spec::image::{Descriptor, Digest, MediaType};
use serde::Serialize;
use tokio::runtime::Handle;

use super::plan::{Blob, Content, Image};
use super::source::Sources;
use super::LoadError;
use crate::digest::HashingReader;
use crate::oci::docker_save::CONTAINERD_NAME;
use crate::oci::json;
use crate::oci::layout::{layout_index, layout_marker, REF_NAME};
use crate::tarball::{ArchiveWriter, Attributes, Entry, Kind, TarError, TarWriter};

/// One entry of Docker's `manifest.json`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifest<'a> {
    config: String,
    repo_tags: &'a [String],
    layers: Vec<String>,
}

enum File<'a> {
    Directory,
    Document(Vec<u8>),
    Blob(&'a Blob),
}

/// Writes the tarball of `image`, named `names`, into `out`; returns `out` after the end-of-archive
/// marker. On error the archive is left unfinished, so no reader takes it for a whole one.
pub fn write<W: Write>(
    out: W,
    image: &Image,
    names: &[String],
    sources: &Sources,
    handle: &Handle,
) -> Result<W, LoadError> {
    let blob_path = |blob: &Blob| format!("blobs/sha256/{}", blob.hex());
    let docker_manifest = [DockerManifest {
        config: blob_path(&image.config),
        repo_tags: names,
        layers: image.layers.iter().map(blob_path).collect(),
    }];
    let mut root = Descriptor::new(
        MediaType::from(image.manifest.media_type.as_str()),
        image.manifest.size,
        Digest::from_str(&image.manifest.digest).expect("planned digests are valid"),
    );
    if let Some(name) = names.first() {
        root.set_annotations(Some(HashMap::from([
            (CONTAINERD_NAME.to_owned(), name.clone()),
            (REF_NAME.to_owned(), name.clone()),
        ])));
    }

    // Sorted by path, like every tar `img` writes; each digest once.
    let mut files: BTreeMap<String, File> = BTreeMap::new();
    files.insert("blobs".to_owned(), File::Directory);
    files.insert("blobs/sha256".to_owned(), File::Directory);
    for blob in image.layers.iter().chain([&image.config, &image.manifest]) {
        files.insert(blob_path(blob), File::Blob(blob));
    }
    files.insert("index.json".to_owned(), File::Document(json::to_bytes(&layout_index(root))));
    files.insert(
        "manifest.json".to_owned(),
        File::Document(serde_json::to_vec(&docker_manifest).expect("manifest.json serializes")),
    );
    files.insert("oci-layout".to_owned(), File::Document(layout_marker()));

    let mut tar = TarWriter::new(out);
    for (path, file) in &files {
        let (kind, attrs) = match file {
            File::Directory => (Kind::Directory, Attributes::directory()),
            File::Document(bytes) => (Kind::Regular { size: bytes.len() as u64 }, Attributes::file(false)),
            File::Blob(blob) => (Kind::Regular { size: blob.size }, Attributes::file(false)),
        };
        let entry = Entry { path: path.clone(), kind, attrs };
        let appended = match file {
            File::Directory => tar.append(&entry, &mut io::empty()),
            File::Document(bytes) => tar.append(&entry, &mut &bytes[..]),
            File::Blob(blob) => append_blob(&mut tar, &entry, blob, sources, handle)?,
        };
        appended.map_err(|err| tar_error(path, err))?;
    }
    tar.finish().map_err(LoadError::Tarball)
}

/// Appends a blob: documents from memory, local files verified against their digest while they
/// stream through, remote layers from their registry (verified by the source stream).
fn append_blob<W: Write>(
    tar: &mut TarWriter<W>,
    entry: &Entry,
    blob: &Blob,
    sources: &Sources,
    handle: &Handle,
) -> Result<Result<(), TarError>, LoadError> {
    match &blob.content {
        Content::Bytes(bytes) => Ok(tar.append(entry, &mut &bytes[..])),
        Content::File(path) => {
            let file = std::fs::File::open(path).map_err(|source| LoadError::Io { path: path.clone(), source })?;
            let mut reader = HashingReader::new(file.take(blob.size));
            let appended = tar.append(entry, &mut reader);
            let (_, digest) = reader.finish();
            if appended.is_ok() && (digest.to_string() != blob.digest || digest.size != blob.size) {
                return Err(LoadError::BlobMismatch {
                    what: format!("{} ({})", blob.what, path.display()),
                    expected: blob.digest.clone(),
                    expected_size: blob.size,
                    actual: digest.to_string(),
                    actual_size: digest.size,
                });
            }
            Ok(appended)
        }
        Content::Remote(_) => {
            let stream = handle.block_on(sources.open(blob))?;
            let mut reader = StreamReader { stream, handle, piece: Bytes::new() };
            Ok(tar.append(entry, &mut reader))
        }
    }
}

fn tar_error(path: &str, err: TarError) -> LoadError {
    match err {
        // The reader went away (docker or podman stopped reading): its own error says more, and
        // the caller reports that instead.
        TarError::Write(source) => LoadError::Tarball(source),
        TarError::Read(source) => LoadError::Stream { what: path.to_owned(), source },
        TarError::ShortRead { expected, got } => LoadError::Stream {
            what: path.to_owned(),
            source: io::Error::new(io::ErrorKind::UnexpectedEof, format!("ended after {got} of {expected} bytes")),
        },
    }
}

/// A blocking `Read` over an async byte stream.
struct StreamReader<'a> {
    stream: BoxStream<'static, io::Result<Bytes>>,
    handle: &'a Handle,
    piece: Bytes,
}

impl Read for StreamReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.piece.is_empty() {
            match self.handle.block_on(self.stream.next()) {
                Some(piece) => self.piece = piece?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.piece.len());
        buf[..n].copy_from_slice(&self.piece.split_to(n));
        Ok(n)
    }
}
