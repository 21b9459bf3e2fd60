//! eStargz: a gzip tar layer that can also be read lazily, file by file.
//!
//! Layout (the eStargz spec of containerd/stargz-snapshotter, `docs/estargz.md`):
//! - the blob is a concatenation of gzip members; a new member starts at the blob's top, at the
//!   payload of every non-empty regular file, at every chunk of a large file ([`CHUNK_SIZE`]), at
//!   the TOC's tar header and at the footer;
//! - the first entry is the landmark `.no.prefetch.landmark` (one byte, 0x0f): no prioritized files;
//! - the last entry is `stargz.index.json`, the TOC: `{"version":1,"entries":[…]}` with one entry per
//!   tar entry and per chunk (offset of the member holding the chunk, chunkOffset, chunkSize,
//!   chunkDigest), followed by the tar end-of-archive marker;
//! - a 51-byte footer: an empty gzip member whose extra field `SG` holds `%016xSTARGZ` with the
//!   TOC member's offset.
//!
//! The diff_id of an eStargz layer is the sha256 of the whole decompressed blob (entries, TOC
//! entry and end marker): that is what runtimes recompute when they unpack the layer normally.
//! Members are compressed on the [`DeflatePool`], so the blob does not depend on the number of jobs.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use base64::Engine as _;
use serde::Serialize;

use crate::compress::deflate_pool::{DeflateJob, DeflatePool, Deflated};
use crate::compress::pgzip::{gzip_header, gzip_trailer};
use crate::digest::{Sha256Counter, Sha256Digest};
use crate::tarball::{copy_exact, header, ArchiveWriter, Attributes, Entry, Kind, TarError, BLOCK, COPY_BUFFER};

/// Name of the TOC entry.
pub const TOC_NAME: &str = "stargz.index.json";
/// Landmark saying that no files are prioritized for prefetching.
pub const NO_PREFETCH_LANDMARK: &str = ".no.prefetch.landmark";
/// Landmark ending the prioritized files (never written by us, reserved all the same).
pub const PREFETCH_LANDMARK: &str = ".prefetch.landmark";
/// Annotation with the digest of the TOC JSON.
pub const TOC_DIGEST_ANNOTATION: &str = "containerd.io/snapshot/stargz/toc.digest";
/// Annotation with the size of the decompressed blob.
pub const UNCOMPRESSED_SIZE_ANNOTATION: &str = "io.containers.estargz.uncompressed-size";
/// Large files are cut into chunks of this size, each its own gzip member (stargz's default).
pub const CHUNK_SIZE: u64 = 4 << 20;
/// Size of the footer.
pub const FOOTER_SIZE: usize = 51;

const LANDMARK_CONTENT: u8 = 0x0f;

/// Paths the eStargz format uses for itself.
pub fn is_reserved(path: &str) -> bool {
    matches!(path, TOC_NAME | NO_PREFETCH_LANDMARK | PREFETCH_LANDMARK)
}

/// One TOC entry, fields in the order and with the omissions of the reference implementation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TocEntry {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "is_zero")]
    pub size: u64,
    #[serde(rename = "modtime", skip_serializing_if = "String::is_empty")]
    pub mod_time: String,
    #[serde(rename = "linkName", skip_serializing_if = "String::is_empty")]
    pub link_name: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub mode: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub uid: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub gid: u64,
    #[serde(rename = "userName", skip_serializing_if = "String::is_empty")]
    pub user_name: String,
    #[serde(rename = "groupName", skip_serializing_if = "String::is_empty")]
    pub group_name: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub offset: u64,
    #[serde(rename = "devMajor", skip_serializing_if = "is_zero")]
    pub dev_major: u64,
    #[serde(rename = "devMinor", skip_serializing_if = "is_zero")]
    pub dev_minor: u64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub xattrs: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "as_digest")]
    pub digest: Option<[u8; 32]>,
    #[serde(rename = "chunkOffset", skip_serializing_if = "is_zero")]
    pub chunk_offset: u64,
    #[serde(rename = "chunkSize", skip_serializing_if = "is_zero")]
    pub chunk_size: u64,
    #[serde(rename = "chunkDigest", skip_serializing_if = "Option::is_none", serialize_with = "as_digest")]
    pub chunk_digest: Option<[u8; 32]>,
    /// Index of the gzip member holding this chunk; becomes `offset` once members are written.
    #[serde(skip)]
    member: Option<usize>,
}

/// Digests are kept as bytes (the TOC is held until the end: one entry per file and chunk) and
/// written as `sha256:<hex>`.
fn as_digest<S: serde::Serializer>(hash: &Option<[u8; 32]>, serializer: S) -> Result<S::Ok, S::Error> {
    let hash = hash.expect("skipped when absent");
    serializer.serialize_str(&format!("sha256:{}", hex::encode(hash)))
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

#[derive(Serialize)]
struct Toc<'a> {
    version: u32,
    entries: &'a [TocEntry],
}

/// What finishing an eStargz blob yields besides the blob.
#[derive(Debug, Clone)]
pub struct EstargzSummary {
    /// sha256 of the decompressed blob.
    pub diff_id: Sha256Digest,
    /// sha256 of the TOC JSON (the `toc.digest` annotation).
    pub toc_digest: Sha256Digest,
}

/// Writes an eStargz blob into `W`.
pub struct EstargzWriter<W: Write> {
    out: W,
    pool: DeflatePool,
    level: u32,
    /// Uncompressed bytes of the member being filled.
    member: Vec<u8>,
    submitted: usize,
    /// Compressed offset of every member written so far.
    member_offsets: Vec<u64>,
    written: u64,
    toc: Vec<TocEntry>,
    diff: Sha256Counter,
    buffer: Vec<u8>,
}

impl<W: Write> EstargzWriter<W> {
    /// Starts a blob; the no-prefetch landmark is its first entry.
    pub fn new(out: W, level: u32, jobs: usize) -> Result<Self, TarError> {
        let mut writer = Self {
            out,
            pool: DeflatePool::new(jobs, level),
            level,
            member: Vec::new(),
            submitted: 0,
            member_offsets: Vec::new(),
            written: 0,
            toc: Vec::new(),
            diff: Sha256Counter::default(),
            buffer: vec![0; COPY_BUFFER],
        };
        let landmark = Entry {
            path: NO_PREFETCH_LANDMARK.into(),
            kind: Kind::Regular { size: 1 },
            attrs: Attributes::file(false),
        };
        writer.append(&landmark, &mut &[LANDMARK_CONTENT][..])?;
        Ok(writer)
    }

    fn push_uncompressed(&mut self, bytes: &[u8]) {
        self.diff.update(bytes);
        self.member.extend_from_slice(bytes);
    }

    /// Ends the current gzip member (if it holds anything) and hands it to the pool.
    fn close_member(&mut self) -> io::Result<()> {
        if self.member.is_empty() {
            return Ok(());
        }
        let data = std::mem::take(&mut self.member);
        self.submitted += 1;
        self.pool.submit(DeflateJob { data, dictionary: Vec::new(), last: true })?;
        while let Some(done) = self.pool.take_ready() {
            self.emit(done)?;
        }
        Ok(())
    }

    fn emit(&mut self, done: Deflated) -> io::Result<()> {
        self.member_offsets.push(self.written);
        let header = gzip_header(self.level);
        let trailer = gzip_trailer(done.crc.clone().finalize(), done.len);
        for part in [&header[..], &done.compressed, &trailer] {
            self.out.write_all(part)?;
            self.written += part.len() as u64;
        }
        Ok(())
    }

    fn drain(&mut self) -> io::Result<()> {
        while let Some(done) = self.pool.next_result() {
            self.emit(done?)?;
        }
        Ok(())
    }

    /// Writes the TOC and the footer and returns the inner writer.
    pub fn finish(mut self) -> Result<(W, EstargzSummary), TarError> {
        self.close_member().map_err(TarError::Write)?;
        self.drain().map_err(TarError::Write)?;
        let toc_offset = self.written;
        for entry in &mut self.toc {
            if let Some(member) = entry.member {
                entry.offset = self.member_offsets[member];
            }
        }
        self.member_offsets = Vec::new();
        // The TOC can be large (one entry per file and chunk): serialize it straight into the
        // member after room for its header, instead of holding extra copies.
        let mut member = std::mem::take(&mut self.member);
        member.resize(BLOCK, 0);
        toc_json(&self.toc, &mut member);
        self.toc = Vec::new();
        let json_len = member.len() - BLOCK;
        let toc_digest = Sha256Digest::of(&member[BLOCK..]);
        let toc_entry = Entry {
            path: TOC_NAME.into(),
            kind: Kind::Regular { size: json_len as u64 },
            attrs: Attributes::file(false),
        };
        let mut toc_header = Vec::with_capacity(BLOCK);
        header::encode(&toc_entry, &mut toc_header);
        member[..BLOCK].copy_from_slice(&toc_header);
        header::pad(&mut member);
        member.extend_from_slice(&[0; 2 * BLOCK]);
        self.diff.update(&member);
        self.member = member;
        self.close_member().map_err(TarError::Write)?;
        self.drain().map_err(TarError::Write)?;
        self.out.write_all(&footer(toc_offset)).map_err(TarError::Write)?;
        self.out.flush().map_err(TarError::Write)?;
        let summary = EstargzSummary { diff_id: self.diff.clone().finish(), toc_digest };
        Ok((self.out, summary))
    }
}

impl<W: Write> ArchiveWriter for EstargzWriter<W> {
    fn append(&mut self, entry: &Entry, content: &mut dyn Read) -> Result<(), TarError> {
        let mut header_bytes = Vec::with_capacity(BLOCK);
        header::encode(entry, &mut header_bytes);
        self.push_uncompressed(&header_bytes);
        let mut toc_entry = toc_entry(entry);
        let size = entry.kind.size();
        if !matches!(entry.kind, Kind::Regular { .. }) {
            self.toc.push(toc_entry);
            return Ok(());
        }
        let first = self.toc.len();
        let mut file_digest = Sha256Counter::default();
        let mut offset = 0;
        while offset < size {
            self.close_member().map_err(TarError::Write)?;
            let chunk = (size - offset).min(CHUNK_SIZE);
            // Exact room for the chunk, its padding and a few headers after it (no doubling).
            self.member.reserve_exact(chunk as usize + 4 * BLOCK);
            let mut chunk_digest = Sha256Counter::default();
            let (member, diff, buffer) = (&mut self.member, &mut self.diff, &mut self.buffer);
            copy_exact(content, chunk, buffer, |bytes| {
                member.extend_from_slice(bytes);
                diff.update(bytes);
                chunk_digest.update(bytes);
                file_digest.update(bytes);
                Ok(())
            })
            .map_err(|err| match err {
                TarError::ShortRead { got, .. } => TarError::ShortRead { expected: size, got: offset + got },
                other => other,
            })?;
            toc_entry.member = Some(self.submitted);
            toc_entry.chunk_offset = offset;
            // The last chunk (or an unchunked file) has chunkSize 0, as the spec asks.
            toc_entry.chunk_size = if offset + chunk < size { chunk } else { 0 };
            toc_entry.chunk_digest = Some(chunk_digest.finish().hash);
            self.toc.push(toc_entry);
            offset += chunk;
            toc_entry = TocEntry { name: entry.tar_name(), kind: "chunk", ..TocEntry::default() };
        }
        if size == 0 {
            self.toc.push(toc_entry);
        }
        self.toc[first].digest = Some(file_digest.finish().hash);
        let padding = [0u8; BLOCK];
        self.push_uncompressed(&padding[..header::padding(size)]);
        Ok(())
    }
}

fn toc_entry(entry: &Entry) -> TocEntry {
    let attrs = &entry.attrs;
    let (kind, dev_major, dev_minor) = match entry.kind {
        Kind::Regular { .. } => ("reg", 0, 0),
        Kind::Directory => ("dir", 0, 0),
        Kind::Symlink { .. } => ("symlink", 0, 0),
        Kind::Hardlink { .. } => ("hardlink", 0, 0),
        Kind::CharDevice { major, minor } => ("char", major, minor),
        Kind::BlockDevice { major, minor } => ("block", major, minor),
        Kind::Fifo => ("fifo", 0, 0),
    };
    let xattrs = attrs
        .pax_records
        .iter()
        .filter_map(|(key, value)| {
            let name = key.strip_prefix("SCHILY.xattr.")?;
            Some((name.to_owned(), base64::engine::general_purpose::STANDARD.encode(value)))
        })
        .collect();
    TocEntry {
        name: entry.tar_name(),
        kind,
        size: entry.kind.size(),
        mod_time: format_modtime(attrs.mtime.secs, attrs.mtime.nanos),
        link_name: entry.kind.link_target().unwrap_or("").to_owned(),
        mode: u64::from(attrs.mode & 0o7777),
        uid: attrs.uid,
        gid: attrs.gid,
        user_name: attrs.uname.clone(),
        group_name: attrs.gname.clone(),
        dev_major: u64::from(dev_major),
        dev_minor: u64::from(dev_minor),
        xattrs,
        ..TocEntry::default()
    }
}

/// RFC 3339 in UTC, whole seconds; empty for the epoch ("zero or unknown" in the spec).
fn format_modtime(secs: i64, nanos: u32) -> String {
    let secs = secs + i64::from(nanos >= 500_000_000);
    if secs == 0 {
        return String::new();
    }
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// Appends the TOC as the reference writer formats it: indented with tabs.
fn toc_json(entries: &[TocEntry], out: &mut Vec<u8>) {
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut serializer = serde_json::Serializer::with_formatter(out, formatter);
    Toc { version: 1, entries }.serialize(&mut serializer).expect("TOC serializes");
}

/// The 51-byte footer: an empty gzip member whose extra field points at the TOC.
pub fn footer(toc_offset: u64) -> [u8; FOOTER_SIZE] {
    let mut footer = [0u8; FOOTER_SIZE];
    // Header with FEXTRA, mtime 0, XFL 0, OS unknown.
    footer[..10].copy_from_slice(&[0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 255]);
    footer[10..12].copy_from_slice(&26u16.to_le_bytes());
    footer[12..14].copy_from_slice(b"SG");
    footer[14..16].copy_from_slice(&22u16.to_le_bytes());
    footer[16..38].copy_from_slice(format!("{toc_offset:016x}STARGZ").as_bytes());
    // Final stored block of length 0, then CRC-32 and size of nothing.
    footer[38..43].copy_from_slice(&[1, 0, 0, 0xff, 0xff]);
    footer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footer_is_a_valid_empty_gzip_member() {
        let footer = footer(0x1234);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&footer[..]).read_to_end(&mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!(&footer[16..38], b"0000000000001234STARGZ");
    }

    #[test]
    fn blob_decompresses_to_a_tar_ending_with_the_toc() {
        let mut writer = EstargzWriter::new(Vec::new(), 6, 2).unwrap();
        let data = vec![7u8; (CHUNK_SIZE + 10) as usize];
        let file = Entry {
            path: "big".into(),
            kind: Kind::Regular { size: data.len() as u64 },
            attrs: Attributes::file(false),
        };
        writer.append(&file, &mut &data[..]).unwrap();
        let (blob, summary) = writer.finish().unwrap();
        let mut tar = Vec::new();
        flate2::read::MultiGzDecoder::new(&blob[..]).read_to_end(&mut tar).unwrap();
        assert_eq!(Sha256Digest::of(&tar), summary.diff_id);
        let names: Vec<String> = tar::Archive::new(&tar[..])
            .entries()
            .unwrap()
            .map(|e| String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap())
            .collect();
        assert_eq!(names, [NO_PREFETCH_LANDMARK, "big", TOC_NAME]);
    }
}
