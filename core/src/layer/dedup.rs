//! Identical files become hardlinks to their first occurrence.
//!
//! Two files are identical when their content and their header fields (mode, owner, times, PAX
//! records) are equal. "First" is in the layer's entry order. Empty files are left alone: a
//! hardlink saves nothing there. Only files whose size and header collide with another file's are
//! hashed (hashing everything would read the whole layer twice).
//!
//! The decision is made while the layer is written, entry by entry, so the compressor's workers
//! are busy from the first entry on instead of waiting for a hashing pass; a small file that has
//! to be hashed is read once and written from the same buffer.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read};

use super::sources::{Content, Plan, Planned};
use super::LayerError;
use crate::digest::{HashingWriter, Sha256Digest};
use crate::tarball::{Attributes, Kind};

/// Files up to this size that must be hashed are read into memory once and written from there;
/// larger ones are read twice (hash, then write) so memory stays bounded.
const BUFFERED_MAX: u64 = 1 << 20;

/// What to write for a file entry.
pub enum Verdict<'p> {
    /// Write the file from its host path.
    Write,
    /// Write the file from [`Deduplicator::buffer`], where it was read to be hashed.
    WriteBuffered,
    /// Write a hardlink to this earlier entry instead.
    Link(&'p str),
}

/// Remembers, in entry order, the first file of each (size, header, content).
pub struct Deduplicator<'p> {
    /// Shapes that more than one file has: only these can have an identical twin.
    shared: HashSet<(u64, &'p Attributes)>,
    first: HashMap<(u64, &'p Attributes, [u8; 32]), &'p str>,
    /// Content hash by device and inode: the same host file often appears at several image
    /// paths (in `srcs` and in an executable's runfiles), and is read once.
    by_inode: HashMap<(u64, u64), [u8; 32]>,
    /// The content of the last `WriteBuffered` file.
    pub buffer: Vec<u8>,
}

impl<'p> Deduplicator<'p> {
    pub fn new(plan: &'p Plan) -> Self {
        let mut seen = HashSet::new();
        let mut shared = HashSet::new();
        for planned in plan.values() {
            if let Some(shape) = shape(planned) {
                if !seen.insert(shape) {
                    shared.insert(shape);
                }
            }
        }
        Self { shared, first: HashMap::new(), by_inode: HashMap::new(), buffer: Vec::new() }
    }

    /// Decides how to write `planned`, the next entry in order, at `path`.
    pub fn verdict(&mut self, path: &'p str, planned: &'p Planned) -> Result<Verdict<'p>, LayerError> {
        let Some((size, attrs)) = shape(planned).filter(|shape| self.shared.contains(shape)) else {
            return Ok(Verdict::Write);
        };
        let Content::Host(host) = &planned.content else { unreachable!("shape() admits host files only") };
        let read_error = |source| LayerError::ReadInput { what: "source file", path: host.clone(), source };
        let cached = planned.inode.and_then(|inode| self.by_inode.get(&inode).copied());
        let (hash, buffered) = match cached {
            Some(hash) => (hash, false),
            None => {
                let file = File::open(host).map_err(read_error)?;
                let buffered = size <= BUFFERED_MAX;
                let hash = if buffered {
                    // One byte more than planned, to notice a file that grew.
                    self.buffer.clear();
                    file.take(size + 1).read_to_end(&mut self.buffer).map_err(read_error)?;
                    Sha256Digest::of(&self.buffer).hash
                } else {
                    let mut hasher = HashingWriter::new(io::sink());
                    io::copy(&mut file.take(size), &mut hasher).map_err(read_error)?;
                    hasher.finish().1.hash
                };
                if let Some(inode) = planned.inode {
                    self.by_inode.insert(inode, hash);
                }
                // A file that changed size since it was planned is written from its path, where
                // the tar writer reports the mismatch.
                (hash, buffered && self.buffer.len() as u64 == size)
            }
        };
        Ok(match self.first.get(&(size, attrs, hash)) {
            Some(first) => Verdict::Link(first),
            None => {
                self.first.insert((size, attrs, hash), path);
                if buffered {
                    Verdict::WriteBuffered
                } else {
                    Verdict::Write
                }
            }
        })
    }
}

/// The size and header of a non-empty host file; `None` for entries that are never linked.
fn shape(planned: &Planned) -> Option<(u64, &Attributes)> {
    match (&planned.entry.kind, &planned.content) {
        (Kind::Regular { size }, Content::Host(_)) if *size > 0 => Some((*size, &planned.entry.attrs)),
        _ => None,
    }
}
