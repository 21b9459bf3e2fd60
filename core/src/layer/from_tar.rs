//! `img layer-from-tar`: an existing tar (plain, gzip or zstd, told by its first bytes) as a layer.
//!
//! Three ways, chosen by the request:
//! - pass-through (`compress = keep`, no optimize, no eStargz): the input bytes are copied as they
//!   are while hashed; the decompressed stream gives the diff_id and is checked entry by entry;
//! - recompress (another `compress`, no optimize, no eStargz): the decompressed tar is recompressed
//!   byte for byte, so the diff_id stays that of the input;
//! - rewrite (`optimize` or `estargz`): every entry is parsed and written again, in input order
//!   (an imported tar's order is its author's choice and later entries may override earlier ones).
//!   With `optimize`, identical regular files become hardlinks to their first occurrence.
//!
//! Every way rejects entries that escape the root, hardlinks to entries not seen before, and
//! inputs that are not (whole) tars. Device and FIFO entries are passed through: the OCI layer
//! format allows them and base-image tars contain them.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, Write};
use std::path::Path;

use img_contract::layer::{Compression, LayerFromTarOutputs, LayerFromTarRequest, TarCompression};

use super::blob::{self, BlobSummary, Tee};
use super::{sources, LayerError};
use crate::atomic::PendingOutput;
use crate::compress::{self, CompressionSettings, Sniffed};
use crate::digest::{HashingReader, HashingWriter};
use crate::estargz;
use crate::tarball::{ArchiveWriter, Attributes, Entry, Kind, Mtime, TarError, BLOCK};

const READ_BUFFER: usize = 256 * 1024;
/// Files up to this size are held in memory while `optimize` decides whether they are duplicates;
/// larger ones go to a temporary file, so memory stays bounded.
const SPOOL_IN_MEMORY: u64 = 4 << 20;

/// Runs `img layer-from-tar`.
pub fn build(request: &LayerFromTarRequest, outputs: &LayerFromTarOutputs) -> Result<(), LayerError> {
    let paths = [Path::new(&outputs.blob), Path::new(&outputs.metadata)];
    crate::atomic::clean_on_error(&paths, build_layer(request, outputs))
}

fn build_layer(request: &LayerFromTarRequest, outputs: &LayerFromTarOutputs) -> Result<(), LayerError> {
    let src = Path::new(&request.src);
    let sniffed = sniff_file(src)?;
    let target = match request.compress {
        // eStargz is gzip whatever the input was.
        TarCompression::Keep if request.estargz => Compression::Gzip,
        TarCompression::Keep => sniffed.compression(),
        TarCompression::Gzip => Compression::Gzip,
        TarCompression::Zstd => Compression::Zstd,
        TarCompression::None => Compression::None,
    };
    let format = super::blob_format(target, request.compression_level, request.compression_jobs, request.estargz)?;
    let blob = PendingOutput::create(Path::new(&outputs.blob))?;
    let summary = match (request.compress, format) {
        (TarCompression::Keep, blob::BlobFormat::Tar(_)) if !request.optimize => pass_through(src, sniffed, &blob)?,
        (_, blob::BlobFormat::Tar(settings)) if !request.optimize => recompress(src, sniffed, settings, &blob)?,
        _ => blob::write_entries(&blob, format, |writer| {
            rewrite(src, sniffed, request.optimize, request.estargz, &blob, writer)
        })?,
    };
    let media_type = request.media_type.clone().unwrap_or_else(|| format.media_type().to_owned());
    super::finish(blob, &outputs.metadata, summary, media_type, request.annotations.clone(), &request.created_by)
}

fn sniff_file(src: &Path) -> Result<Sniffed, LayerError> {
    let file = open(src)?;
    compress::sniff(&mut BufReader::new(file)).map_err(|source| read_error(src, source))
}

fn open(src: &Path) -> Result<File, LayerError> {
    File::open(src).map_err(|source| read_error(src, source))
}

fn read_error(src: &Path, source: io::Error) -> LayerError {
    LayerError::ReadInput { what: "tar", path: src.to_owned(), source }
}

fn bad_tar(src: &Path, sniffed: Sniffed, err: impl std::fmt::Display) -> LayerError {
    let kind = match sniffed {
        Sniffed::Gzip => "a gzip-compressed tar",
        Sniffed::Zstd => "a zstd-compressed tar",
        Sniffed::Plain => "a tar",
    };
    // The tar reader may quote a whole garbage header in its message: keep the first line, short.
    let message = err.to_string();
    let mut message: String = message.lines().next().unwrap_or("").chars().take(120).collect();
    if message.len() < err.to_string().len() {
        message.push('…');
    }
    LayerError::BadTar {
        file: src.to_owned(),
        reason: format!("cannot be read as {kind} (truncated or corrupt?): {message}"),
    }
}

/// Checks that a decompressed stream of `size` bytes is a whole tar.
fn check_length(src: &Path, size: u64) -> Result<(), LayerError> {
    if size == 0 {
        return Err(LayerError::BadTar { file: src.to_owned(), reason: "is empty, not a tar".into() });
    }
    if !size.is_multiple_of(BLOCK as u64) {
        return Err(LayerError::BadTar {
            file: src.to_owned(),
            reason: format!("is not a tar: its length ({size} bytes) is not a multiple of 512"),
        });
    }
    Ok(())
}

fn pass_through(src: &Path, sniffed: Sniffed, blob: &PendingOutput) -> Result<BlobSummary, LayerError> {
    let mut out = HashingWriter::new(blob.writer()?);
    let diff_id = {
        let mut raw = BufReader::with_capacity(READ_BUFFER, Tee { inner: open(src)?, copy: &mut out });
        let decoder = compress::decoder(&mut raw, sniffed).map_err(|err| bad_tar(src, sniffed, err))?;
        let mut tar = HashingReader::new(decoder);
        check_entries(&mut tar, src, sniffed)?;
        io::copy(&mut tar, &mut io::sink()).map_err(|err| bad_tar(src, sniffed, err))?;
        let (_, diff_id) = tar.finish();
        // Whatever follows the compressed stream is part of the file, so of the blob too.
        io::copy(&mut raw, &mut io::sink()).map_err(|source| read_error(src, source))?;
        diff_id
    };
    check_length(src, diff_id.size)?;
    let (file, digest) = out.finish();
    file.into_inner().map_err(|err| LayerError::Output(blob.write_error(err.into_error())))?;
    Ok(BlobSummary { diff_id, digest, annotations: Default::default() })
}

fn recompress(
    src: &Path,
    sniffed: Sniffed,
    settings: CompressionSettings,
    blob: &PendingOutput,
) -> Result<BlobSummary, LayerError> {
    let summary = blob::write_stream(blob, settings, |encoder| {
        let raw = BufReader::with_capacity(READ_BUFFER, open(src)?);
        let decoder = compress::decoder(raw, sniffed).map_err(|err| bad_tar(src, sniffed, err))?;
        let mut tar = Tee { inner: decoder, copy: encoder };
        check_entries(&mut tar, src, sniffed)?;
        io::copy(&mut tar, &mut io::sink()).map_err(|err| bad_tar(src, sniffed, err))?;
        Ok(())
    })?;
    check_length(src, summary.diff_id.size)?;
    Ok(summary)
}

/// Reads every entry (and its payload) of the tar in `reader`, checking each.
fn check_entries<R: Read>(reader: &mut R, src: &Path, sniffed: Sniffed) -> Result<(), LayerError> {
    let mut archive = tar::Archive::new(reader);
    let mut importer = Importer::new(src, false);
    for raw in archive.entries().map_err(|err| bad_tar(src, sniffed, err))? {
        let mut raw = raw.map_err(|err| bad_tar(src, sniffed, err))?;
        importer.convert(&mut raw)?;
        io::copy(&mut raw, &mut io::sink()).map_err(|err| bad_tar(src, sniffed, err))?;
    }
    Ok(())
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

fn rewrite(
    src: &Path,
    sniffed: Sniffed,
    optimize: bool,
    estargz: bool,
    blob: &PendingOutput,
    writer: &mut dyn ArchiveWriter,
) -> Result<(), LayerError> {
    let raw = BufReader::with_capacity(READ_BUFFER, open(src)?);
    let decoder = compress::decoder(raw, sniffed).map_err(|err| bad_tar(src, sniffed, err))?;
    let mut counting = Counting { inner: decoder, count: 0 };
    let mut archive = tar::Archive::new(&mut counting);
    let mut importer = Importer::new(src, true);
    let mut dedup = optimize.then(|| Dedup::new(blob.path()));
    for raw in archive.entries().map_err(|err| bad_tar(src, sniffed, err))? {
        let mut raw = raw.map_err(|err| bad_tar(src, sniffed, err))?;
        let Some(mut entry) = importer.convert(&mut raw)? else { continue };
        // Converting an eStargz tar again: its landmark and TOC are made anew.
        if estargz && estargz::is_reserved(&entry.path) {
            continue;
        }
        let path = entry.path.clone();
        let write_error = |err| match err {
            TarError::Read(err) => bad_tar(src, sniffed, err),
            other => LayerError::Entry { path: path.clone(), origin: src.display().to_string(), source: other },
        };
        if let Some(target) = importer.canonical_link(&entry) {
            entry.kind = Kind::Hardlink { target };
        }
        match dedup.as_mut() {
            Some(dedup) if matches!(entry.kind, Kind::Regular { size } if size > 0) => {
                if let Some(target) = dedup.write(&mut entry, &mut raw, writer).map_err(write_error)? {
                    importer.aliases.insert(path.clone(), target);
                }
            }
            _ => writer.append(&entry, &mut raw).map_err(write_error)?,
        }
    }
    // The reader ends after the end-of-archive marker; the rest of the stream still counts.
    let counting = archive.into_inner();
    io::copy(counting, &mut io::sink()).map_err(|err| bad_tar(src, sniffed, err))?;
    check_length(src, counting.count)
}

/// Turns tar crate entries into checked [`Entry`] values.
struct Importer<'a> {
    src: &'a Path,
    /// Entries are written again (so names must be UTF-8 and types must be known), rather than
    /// copied or recompressed as they are.
    rewriting: bool,
    seen: HashSet<String>,
    /// Files that became hardlinks, to the file they now link to.
    aliases: HashMap<String, String>,
}

impl<'a> Importer<'a> {
    fn new(src: &'a Path, rewriting: bool) -> Self {
        Self { src, rewriting, seen: HashSet::new(), aliases: HashMap::new() }
    }

    /// Bytes of a name or link target as text: when rewriting they must be UTF-8 (PAX records
    /// are); when only checking, a lossy reading is enough to find `..` and `/`.
    fn text(&self, name: &str, raw: &[u8], what: &str) -> Result<String, LayerError> {
        match std::str::from_utf8(raw) {
            Ok(text) => Ok(text.to_owned()),
            Err(_) if !self.rewriting => Ok(String::from_utf8_lossy(raw).into_owned()),
            Err(_) => Err(self.bad(name, format!("{what} is not valid UTF-8"))),
        }
    }

    fn bad(&self, name: &str, reason: impl Into<String>) -> LayerError {
        LayerError::BadTarEntry { file: self.src.to_owned(), entry: name.to_owned(), reason: reason.into() }
    }

    /// A path inside the root: no leading `/`, no `..` leaving the root.
    fn path(&self, name: &str, raw: &[u8]) -> Result<String, LayerError> {
        let text = self.text(name, raw, "path")?;
        if text.starts_with('/') {
            return Err(self.bad(name, format!("absolute path {text:?}: layer entries must be relative to the root")));
        }
        sources::normalize(&text, "")
            .map_err(|_| self.bad(name, format!("path {text:?} escapes the root through `..`")))
    }

    /// The entry as our model; `None` for headers that carry no file. `rewriting` refuses what
    /// cannot be written again faithfully.
    fn convert<R: Read>(&mut self, raw: &mut tar::Entry<'_, R>) -> Result<Option<Entry>, LayerError> {
        let raw_name = raw.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw_name).into_owned();
        let header = raw.header().clone();
        let numeric =
            |value: io::Result<u64>, field: &str| value.map_err(|err| self.bad(&name, format!("bad {field}: {err}")));
        let path = self.path(&name, &raw_name)?;
        use tar::EntryType as T;
        let kind = match header.entry_type() {
            T::Regular | T::Continuous => Kind::Regular { size: raw.size() },
            T::Directory => Kind::Directory,
            T::Symlink => Kind::Symlink { target: self.link(raw, &name)? },
            T::Link => {
                let target = self.path(&name, self.link(raw, &name)?.as_bytes())?;
                if !self.seen.contains(&target) {
                    return Err(
                        self.bad(&name, format!("hardlink to {target:?}, which is not an earlier entry of the tar"))
                    );
                }
                Kind::Hardlink { target }
            }
            T::Char | T::Block => {
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                match header.entry_type() {
                    T::Char => Kind::CharDevice { major, minor },
                    _ => Kind::BlockDevice { major, minor },
                }
            }
            T::Fifo => Kind::Fifo,
            // Copied or recompressed as they are: checked for their path only.
            _ if !self.rewriting => {
                self.seen.insert(path);
                return Ok(None);
            }
            other => {
                let reason = format!(
                    "entry type {:?} ({other:?}) cannot be rewritten; use optimize = False and no estargz",
                    header.entry_type().as_byte() as char
                );
                return Err(self.bad(&name, reason));
            }
        };
        let mut attrs = Attributes::with_mode(numeric(header.mode().map(u64::from), "mode")? as u32 & 0o7777);
        attrs.uid = numeric(header.uid(), "uid")?;
        attrs.gid = numeric(header.gid(), "gid")?;
        attrs.uname = String::from_utf8_lossy(header.username_bytes().unwrap_or_default()).into_owned();
        attrs.gname = String::from_utf8_lossy(header.groupname_bytes().unwrap_or_default()).into_owned();
        attrs.mtime = Mtime { secs: numeric(header.mtime(), "mtime")? as i64, nanos: 0 };
        if let Some(extensions) = raw.pax_extensions().map_err(|err| self.bad(&name, err.to_string()))? {
            for extension in extensions {
                let extension = extension.map_err(|err| self.bad(&name, err.to_string()))?;
                let (Ok(key), Ok(value)) = (extension.key(), extension.value()) else {
                    return Err(self.bad(&name, "PAX record is not valid UTF-8"));
                };
                match key {
                    // Structural or already applied to the header by the tar reader.
                    "path" | "linkpath" | "size" | "uid" | "gid" => {}
                    "uname" => attrs.uname = value.to_owned(),
                    "gname" => attrs.gname = value.to_owned(),
                    "mtime" => {
                        attrs.mtime =
                            parse_pax_time(value).ok_or_else(|| self.bad(&name, format!("bad PAX mtime {value:?}")))?
                    }
                    _ => {
                        attrs.pax_records.insert(key.to_owned(), value.to_owned());
                    }
                }
            }
        }
        self.seen.insert(path.clone());
        Ok(Some(Entry { path, kind, attrs }))
    }

    fn link<R: Read>(&self, raw: &tar::Entry<'_, R>, name: &str) -> Result<String, LayerError> {
        let bytes = raw.link_name_bytes().ok_or_else(|| self.bad(name, "link without a target"))?;
        self.text(name, &bytes, "link target")
    }

    /// A hardlink to a file that was itself turned into a hardlink points at the original.
    fn canonical_link(&self, entry: &Entry) -> Option<String> {
        let Kind::Hardlink { target } = &entry.kind else { return None };
        self.aliases.get(target).cloned()
    }
}

/// `secs[.fraction]`, possibly negative.
fn parse_pax_time(value: &str) -> Option<Mtime> {
    let (secs, fraction) = value.split_once('.').unwrap_or((value, ""));
    let secs: i64 = secs.parse().ok()?;
    let digits: String = fraction.chars().take(9).collect();
    let nanos = if digits.is_empty() { 0 } else { format!("{digits:0<9}").parse().ok()? };
    Some(Mtime { secs, nanos })
}

/// Hardlinks for identical regular files of an imported tar (`optimize`).
struct Dedup {
    spool_dir: std::path::PathBuf,
    shapes: HashSet<(u64, Attributes)>,
    firsts: HashMap<(Attributes, [u8; 32]), String>,
}

impl Dedup {
    fn new(blob: &Path) -> Self {
        let spool_dir = blob.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_owned();
        Self { spool_dir, shapes: HashSet::new(), firsts: HashMap::new() }
    }

    /// Writes a regular file, or a hardlink if an identical file came before; returns the link
    /// target in that case.
    fn write(
        &mut self,
        entry: &mut Entry,
        content: &mut dyn Read,
        writer: &mut dyn ArchiveWriter,
    ) -> Result<Option<String>, TarError> {
        let size = entry.kind.size();
        let shape = (size, entry.attrs.clone());
        if !self.shapes.contains(&shape) {
            // No earlier file has this size and header: it cannot be a duplicate. Stream it,
            // hashing on the way for the files after it.
            let mut hashing = HashingReader::new(content);
            writer.append(entry, &mut hashing)?;
            self.remember(entry, shape, hashing.finish().1.hash);
            return Ok(None);
        }
        // Only now is the content needed before the header: hold it while hashing.
        let mut spool = Spool::new(size, &self.spool_dir).map_err(TarError::Write)?;
        let hash = spool.fill(content, size)?;
        if let Some(first) = self.firsts.get(&(entry.attrs.clone(), hash)) {
            entry.kind = Kind::Hardlink { target: first.clone() };
            writer.append(entry, &mut io::empty())?;
            return Ok(Some(first.clone()));
        }
        writer.append(entry, &mut spool.reader().map_err(TarError::Write)?)?;
        self.remember(entry, shape, hash);
        Ok(None)
    }

    fn remember(&mut self, entry: &Entry, shape: (u64, Attributes), hash: [u8; 32]) {
        self.firsts.entry((shape.1.clone(), hash)).or_insert_with(|| entry.path.clone());
        self.shapes.insert(shape);
    }
}

/// A file's content held back: in memory when small, in an unnamed temporary file otherwise.
enum Spool {
    Memory(Vec<u8>),
    File(File),
}

impl Spool {
    fn new(size: u64, dir: &Path) -> io::Result<Self> {
        Ok(if size <= SPOOL_IN_MEMORY {
            Spool::Memory(Vec::with_capacity(size as usize))
        } else {
            Spool::File(tempfile::tempfile_in(dir)?)
        })
    }

    fn fill(&mut self, content: &mut dyn Read, size: u64) -> Result<[u8; 32], TarError> {
        let sink: &mut dyn Write = match self {
            Spool::Memory(bytes) => bytes,
            Spool::File(file) => file,
        };
        let mut hashing = HashingWriter::new(sink);
        let mut buffer = vec![0; READ_BUFFER.min(size as usize).max(1)];
        crate::tarball::copy_exact(content, size, &mut buffer, |bytes| hashing.write_all(bytes))?;
        Ok(hashing.finish().1.hash)
    }

    fn reader(&mut self) -> io::Result<Box<dyn Read + '_>> {
        Ok(match self {
            Spool::Memory(bytes) => Box::new(&bytes[..]),
            Spool::File(file) => {
                file.rewind()?;
                Box::new(BufReader::with_capacity(READ_BUFFER, file))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times_parse_with_fractions_and_signs() {
        assert_eq!(parse_pax_time("12.5"), Some(Mtime { secs: 12, nanos: 500_000_000 }));
        assert_eq!(parse_pax_time("-3"), Some(Mtime { secs: -3, nanos: 0 }));
        assert_eq!(parse_pax_time("x"), None);
    }
}
