//! Identical files become hardlinks to their first occurrence.
//!
//! Two files are identical when their content and their header fields (mode, owner, times, PAX
//! records) are equal. "First" is in the layer's entry order. Empty files are left alone: a
//! hardlink saves nothing there. Only files whose size and header collide with another file's are
//! read ahead of writing (hashing everything would read the whole layer twice).

use std::collections::HashMap;
use std::fs::File;
use std::io;

use super::sources::{Content, Plan, Planned};
use super::LayerError;
use crate::digest::HashingWriter;
use crate::tarball::{Attributes, Kind};

/// Turns later copies of identical files into hardlinks.
pub fn hardlink_identical(plan: &mut Plan) -> Result<(), LayerError> {
    let mut by_shape: HashMap<(u64, &Attributes), Vec<&str>> = HashMap::new();
    for (path, planned) in plan.iter() {
        if let (Kind::Regular { size }, Content::Host(_)) = (&planned.entry.kind, &planned.content) {
            if *size > 0 {
                by_shape.entry((*size, &planned.entry.attrs)).or_default().push(path);
            }
        }
    }
    let mut links: Vec<(String, String)> = Vec::new();
    let mut cache = HashMap::new();
    for paths in by_shape.into_values().filter(|paths| paths.len() > 1) {
        // Paths arrive in entry order, so the first of each content is the one that stays a file.
        let mut first_by_content: HashMap<[u8; 32], &str> = HashMap::new();
        for path in paths {
            let key = content_hash(&plan[path], &mut cache)?;
            match first_by_content.get(&key) {
                Some(first) => links.push((path.to_owned(), (*first).to_owned())),
                None => {
                    first_by_content.insert(key, path);
                }
            }
        }
    }
    for (path, target) in links {
        let planned = plan.get_mut(&path).expect("planned path");
        planned.entry.kind = Kind::Hardlink { target };
        planned.content = Content::Nothing;
    }
    Ok(())
}

/// sha256 of a host file's content, read once per inode (the same file often appears at several
/// image paths, e.g. in `srcs` and in an executable's runfiles).
fn content_hash(planned: &Planned, cache: &mut HashMap<(u64, u64), [u8; 32]>) -> Result<[u8; 32], LayerError> {
    let Content::Host(host) = &planned.content else { unreachable!("only host files are compared") };
    if let Some(hash) = planned.inode.and_then(|inode| cache.get(&inode)) {
        return Ok(*hash);
    }
    let read_error = |source| LayerError::ReadInput { what: "source file", path: host.clone(), source };
    let mut file = File::open(host).map_err(read_error)?;
    let mut hasher = HashingWriter::new(io::sink());
    io::copy(&mut file, &mut hasher).map_err(read_error)?;
    let hash = hasher.finish().1.hash;
    if let Some(inode) = planned.inode {
        cache.insert(inode, hash);
    }
    Ok(hash)
}
