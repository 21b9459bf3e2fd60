//! Reading an OCI image layout made elsewhere: its `oci-layout` marker, its `index.json`, and its
//! blobs, each checked against the digest that names it. Documents (indexes, manifests, configs)
//! are small and read whole; layer blobs are only ever streamed.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, DigestAlgorithm, ImageIndex};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::ConvertError;
use crate::atomic::PendingOutput;
use crate::digest::{HashingReader, Sha256Digest};
use crate::oci::json;

/// The most a JSON document of a layout may weigh. Registries refuse manifests over 4 MiB; the
/// limit only keeps a descriptor that points at a layer from being read into memory.
pub const MAX_DOCUMENT: u64 = 16 << 20;

/// Bytes per read while copying a layer blob.
const COPY_BUFFER: usize = 256 * 1024;

/// An OCI layout directory whose marker was checked and whose `index.json` was read.
pub struct SourceLayout {
    dir: PathBuf,
    /// `index.json` as it is on disk.
    pub index_bytes: Vec<u8>,
    pub index: ImageIndex,
}

#[derive(Deserialize)]
struct Marker {
    #[serde(rename = "imageLayoutVersion")]
    image_layout_version: String,
}

impl SourceLayout {
    /// Opens the layout at `dir`: `oci-layout` must declare version 1.x, `index.json` must be an index.
    pub fn open(dir: &Path) -> Result<Self, ConvertError> {
        let not_a_layout = |reason: String| ConvertError::NotALayout { layout: dir.to_owned(), reason };
        if !dir.is_dir() {
            return Err(not_a_layout("it is not a directory".to_owned()));
        }
        let marker_path = dir.join("oci-layout");
        let marker_bytes = match std::fs::read(&marker_path) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(not_a_layout("it has no oci-layout file".to_owned()))
            }
            other => other.map_err(|source| read_error(dir, "oci-layout", source))?,
        };
        let marker: Marker = serde_json::from_slice(&marker_bytes)
            .map_err(|err| not_a_layout(format!("its oci-layout file is not {{\"imageLayoutVersion\": …}} ({err})")))?;
        if !marker.image_layout_version.starts_with("1.") {
            return Err(ConvertError::LayoutVersion { layout: dir.to_owned(), version: marker.image_layout_version });
        }
        let index_path = dir.join("index.json");
        let index_bytes = match std::fs::read(&index_path) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(not_a_layout("it has no index.json".to_owned()))
            }
            other => other.map_err(|source| read_error(dir, "index.json", source))?,
        };
        let index = json::parse(&index_bytes, &index_path.to_string_lossy(), "layout index")?;
        Ok(Self { dir: dir.to_owned(), index_bytes, index })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `blobs/sha256/<hex>`: where the blob of `descriptor` lives, relative to the layout.
    pub fn blob_file(&self, descriptor: &Descriptor) -> Result<String, ConvertError> {
        let digest = descriptor.digest();
        match digest.algorithm() {
            DigestAlgorithm::Sha256 => Ok(format!("blobs/sha256/{}", digest.digest())),
            _ => Err(ConvertError::UnsupportedDigest { layout: self.dir.clone(), digest: digest.to_string() }),
        }
    }

    /// The full path of a file of the layout, for messages.
    pub fn path_of(&self, file: &str) -> String {
        self.dir.join(file).to_string_lossy().into_owned()
    }

    /// Reads a JSON document (index, manifest, config) and checks it against its descriptor.
    pub fn read_document(&self, descriptor: &Descriptor, what: &'static str) -> Result<Vec<u8>, ConvertError> {
        let (file, blob) = self.open_blob(descriptor, what)?;
        let size = blob.metadata().map_err(|source| read_error(&self.dir, &file, source))?.len();
        if size > MAX_DOCUMENT {
            return Err(ConvertError::DocumentTooLarge {
                layout: self.dir.clone(),
                what,
                digest: descriptor.digest().to_string(),
                size,
                limit: MAX_DOCUMENT,
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        blob.take(MAX_DOCUMENT).read_to_end(&mut bytes).map_err(|source| read_error(&self.dir, &file, source))?;
        self.check(descriptor, &file, Sha256Digest::of(&bytes))?;
        Ok(bytes)
    }

    /// Parses a document read with [`Self::read_document`]; errors name its file and field.
    pub fn parse<T: DeserializeOwned>(
        &self,
        descriptor: &Descriptor,
        bytes: &[u8],
        what: &'static str,
    ) -> Result<T, ConvertError> {
        let path = self.path_of(&self.blob_file(descriptor)?);
        Ok(json::parse(bytes, &path, what)?)
    }

    /// Streams the blob of `descriptor` into `output`, checking size and digest on the way; a
    /// mismatch is an error (and the uncommitted output is then dropped, leaving nothing).
    pub fn copy_blob(
        &self,
        descriptor: &Descriptor,
        what: &'static str,
        output: &PendingOutput,
    ) -> Result<(), ConvertError> {
        let (file, blob) = self.open_blob(descriptor, what)?;
        let mut reader = HashingReader::new(blob);
        let mut writer = output.writer()?;
        let mut buffer = vec![0; COPY_BUFFER];
        loop {
            let n = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(read_error(&self.dir, &file, source)),
            };
            writer.write_all(&buffer[..n]).map_err(|source| output.write_error(source))?;
        }
        writer.flush().map_err(|source| output.write_error(source))?;
        let (_, digest) = reader.finish();
        self.check(descriptor, &file, digest)
    }

    fn open_blob(&self, descriptor: &Descriptor, what: &'static str) -> Result<(String, File), ConvertError> {
        let file = self.blob_file(descriptor)?;
        match File::open(self.dir.join(&file)) {
            Ok(blob) => Ok((file, blob)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Err(ConvertError::MissingBlob {
                layout: self.dir.clone(),
                what,
                digest: descriptor.digest().to_string(),
                file,
            }),
            Err(source) => Err(read_error(&self.dir, &file, source)),
        }
    }

    fn check(&self, descriptor: &Descriptor, file: &str, actual: Sha256Digest) -> Result<(), ConvertError> {
        let expected = descriptor.digest().to_string();
        if actual.to_string() == expected && actual.size == descriptor.size() {
            return Ok(());
        }
        Err(ConvertError::BlobMismatch {
            layout: self.dir.clone(),
            file: file.to_owned(),
            expected,
            expected_size: descriptor.size(),
            actual: actual.to_string(),
            actual_size: actual.size,
        })
    }
}

fn read_error(layout: &Path, file: &str, source: io::Error) -> ConvertError {
    ConvertError::Read { layout: layout.to_owned(), file: file.to_owned(), source }
}
