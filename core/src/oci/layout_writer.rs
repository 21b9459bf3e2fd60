//! Writing a layout's files into a directory or a tar, in sorted order, verifying each layer blob
//! against its digest while it streams through (blobs are never held in memory).
//!
//! The tar is deterministic: sorted entries, mode 0644/0755, uid/gid 0, mtime 0.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::blobs::{Blob, BlobSet, BlobSource};
use super::ImageError;
use crate::atomic::PendingOutput;
use crate::digest::HashingReader;
use crate::tarball::{ArchiveWriter, Attributes, Entry, Kind, TarWriter, COPY_BUFFER};

enum Content<'a> {
    Directory,
    Bytes(&'a [u8]),
    Blob(&'a Blob),
}

/// Every file of a layout by path: `blobs/sha256/<hex>` plus top-level documents.
pub struct LayoutFiles<'a> {
    entries: BTreeMap<String, Content<'a>>,
}

impl<'a> LayoutFiles<'a> {
    pub fn new(blobs: &'a BlobSet) -> Self {
        let mut entries = BTreeMap::new();
        entries.insert("blobs".to_owned(), Content::Directory);
        entries.insert("blobs/sha256".to_owned(), Content::Directory);
        for blob in blobs.iter() {
            let content = match &blob.source {
                BlobSource::Bytes(bytes) => Content::Bytes(bytes),
                BlobSource::File(_) => Content::Blob(blob),
            };
            entries.insert(format!("blobs/sha256/{}", blob.hex), content);
        }
        Self { entries }
    }

    /// Adds a top-level document such as `index.json`.
    pub fn add(&mut self, name: &str, bytes: &'a [u8]) {
        self.entries.insert(name.to_owned(), Content::Bytes(bytes));
    }

    /// Writes a tar of the layout to `path`.
    pub fn write_tar(&self, path: &Path) -> Result<(), ImageError> {
        let output = PendingOutput::create(path)?;
        let mut tar = TarWriter::new(output.writer()?);
        for (name, content) in &self.entries {
            let tar_error = |source| ImageError::Tar { path: name.clone(), source };
            let (kind, attrs) = match content {
                Content::Directory => (Kind::Directory, Attributes::directory()),
                Content::Bytes(bytes) => (Kind::Regular { size: bytes.len() as u64 }, Attributes::file(false)),
                Content::Blob(blob) => (Kind::Regular { size: blob.size }, Attributes::file(false)),
            };
            let entry = Entry { path: name.clone(), kind, attrs };
            match content {
                Content::Directory => tar.append(&entry, &mut io::empty()).map_err(tar_error)?,
                Content::Bytes(bytes) => tar.append(&entry, &mut &bytes[..]).map_err(tar_error)?,
                Content::Blob(blob) => copy_verified(blob, |reader| tar.append(&entry, reader).map_err(tar_error))?,
            }
        }
        let mut writer = tar.finish().map_err(|source| output.write_error(source))?;
        writer.flush().map_err(|source| output.write_error(source))?;
        drop(writer);
        Ok(output.commit()?)
    }

    /// Writes the layout as a directory at `path` (replacing what is there), all or nothing.
    pub fn write_directory(&self, path: &Path) -> Result<(), ImageError> {
        let parent = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        let write_error = |source| ImageError::Write { path: path.to_owned(), source };
        // Removed again when dropped, so an error leaves nothing behind.
        let temp = tempfile::Builder::new().prefix(".img-tmp-").tempdir_in(&parent).map_err(write_error)?;
        for (name, content) in &self.entries {
            let target = temp.path().join(name);
            let file_error = |source| ImageError::Write { path: path.join(name), source };
            match content {
                Content::Directory => std::fs::create_dir(&target).map_err(file_error)?,
                Content::Bytes(bytes) => std::fs::write(&target, bytes).map_err(file_error)?,
                Content::Blob(blob) => {
                    let mut out = BufWriter::with_capacity(COPY_BUFFER, File::create(&target).map_err(file_error)?);
                    copy_verified(blob, |reader| io::copy(reader, &mut out).map(drop).map_err(file_error))?;
                    out.flush().map_err(file_error)?;
                }
            }
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755)).map_err(write_error)?;
        remove_stale(path).map_err(write_error)?;
        std::fs::rename(temp.path(), path).map_err(write_error)?;
        let _ = temp.keep();
        Ok(())
    }
}

/// A directory output may already exist (Bazel creates tree artifacts' directories beforehand).
fn remove_stale(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

/// Streams a blob file through `write`, then checks size and digest; a mismatch is an error
/// naming the file (the whole output is then discarded).
fn copy_verified(blob: &Blob, write: impl FnOnce(&mut dyn Read) -> Result<(), ImageError>) -> Result<(), ImageError> {
    let BlobSource::File(path) = &blob.source else { unreachable!("only file blobs are streamed") };
    let read_error = |source| ImageError::Read { what: "layer blob", path: path.clone(), source };
    let file = File::open(path).map_err(read_error)?;
    let size = file.metadata().map_err(read_error)?.len();
    if size != blob.size {
        // Hash it anyway so that the message says what the file really is.
        let mut reader = HashingReader::new(file);
        io::copy(&mut reader, &mut io::sink()).map_err(read_error)?;
        let (_, digest) = reader.finish();
        return Err(mismatch(blob, path, digest.to_string(), size));
    }
    let mut reader = HashingReader::new(file.take(blob.size));
    write(&mut reader)?;
    let (_, digest) = reader.finish();
    if digest.hex() != blob.hex || digest.size != blob.size {
        return Err(mismatch(blob, path, digest.to_string(), digest.size));
    }
    Ok(())
}

fn mismatch(blob: &Blob, path: &Path, actual: String, actual_size: u64) -> ImageError {
    ImageError::BlobMismatch {
        path: path.to_owned(),
        expected: format!("sha256:{}", blob.hex),
        expected_size: blob.size,
        actual,
        actual_size,
    }
}
