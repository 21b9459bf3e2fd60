//! From a layer request to the set of entries: `srcs` lines, executables with their runfiles,
//! symlinks, and optionally synthesized parent directories, keyed by image path.

use std::collections::btree_map::{BTreeMap, Entry as MapEntry};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use img_contract::layer::{Executable, LayerRequest, MultiFileLayout};

use super::LayerError;
use crate::tarball::{Attributes, Entry, Kind};

/// Where an entry's payload comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// No payload (directories, links) or an empty file.
    Nothing,
    /// A file on the build machine.
    Host(PathBuf),
}

/// An entry of the layer being planned.
#[derive(Debug, Clone)]
pub struct Planned {
    pub entry: Entry,
    pub content: Content,
    /// Human-readable source, for errors ("srcs line 3", "runfiles of app/server").
    pub origin: Arc<str>,
    /// Device and inode of a host file: equal ones have equal content without hashing.
    pub inode: Option<(u64, u64)>,
}

/// The layer's entries by image path (byte-wise order: parents before children).
pub type Plan = BTreeMap<String, Planned>;

/// Normalises an image path: no leading `/`, no `.` or empty components, `..` resolved; an
/// error if `..` would leave the root.
pub fn normalize(path: &str, origin: &str) -> Result<String, LayerError> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(LayerError::EscapesRoot { path: path.to_owned(), origin: origin.to_owned() });
                }
            }
            part => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

fn join(base: &str, rest: &str) -> String {
    match (base.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_owned(),
        (_, true) => base.to_owned(),
        _ => format!("{base}/{rest}"),
    }
}

/// Collects every entry the request asks for.
pub fn collect(request: &LayerRequest) -> Result<Plan, LayerError> {
    let mut plan = Plan::new();
    if let Some(srcs) = &request.srcs {
        collect_srcs(Path::new(srcs), request.multi_file_layout, &mut plan)?;
    }
    for executable in &request.executables {
        collect_executable(executable, &mut plan)?;
    }
    for (path, target) in &request.symlinks {
        let origin: Arc<str> = format!("symlinks[{path:?}]").into();
        let image_path = normalize(path, &origin)?;
        let entry =
            Entry { path: image_path, kind: Kind::Symlink { target: target.clone() }, attrs: Attributes::symlink() };
        insert(&mut plan, Planned { entry, content: Content::Nothing, origin, inode: None })?;
    }
    check_conflicts(&plan)?;
    Ok(plan)
}

/// Adds a directory entry for every missing ancestor of every entry.
pub fn add_parent_directories(plan: &mut Plan) {
    let origin: Arc<str> = "parent directory (create_parent_directories)".into();
    let mut missing = Vec::new();
    for path in plan.keys() {
        let mut ancestor = path.as_str();
        while let Some((parent, _)) = ancestor.rsplit_once('/') {
            if !plan.contains_key(parent) {
                missing.push(parent.to_owned());
            }
            ancestor = parent;
        }
    }
    for path in missing {
        plan.entry(path.clone()).or_insert_with(|| Planned {
            entry: Entry { path, kind: Kind::Directory, attrs: Attributes::directory() },
            content: Content::Nothing,
            origin: Arc::clone(&origin),
            inode: None,
        });
    }
}

fn read_param_file(path: &Path, what: &'static str) -> Result<String, LayerError> {
    fs::read_to_string(path).map_err(|source| LayerError::ReadInput { what, path: path.to_owned(), source })
}

/// One `srcs` line: line number, relative path, host path, where its mode comes from.
type SrcsLine = (usize, String, String, ModeFrom);

/// Whether a file is executable (mode 0755) or not (0644), unless file metadata says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModeFrom {
    /// The executable bit on disk: source files (version control keeps it) and runfiles.
    Disk,
    /// Never executable: a generated file placed as a file. Bazel marks every output executable,
    /// so the bit on disk says nothing; Buck2 does not, so this keeps both systems' layers equal.
    Generated,
    /// Always executable: the executable of an `executables` entry.
    Executable,
}

fn collect_srcs(file: &Path, layout: MultiFileLayout, plan: &mut Plan) -> Result<(), LayerError> {
    let text = read_param_file(file, "srcs param file")?;
    // Lines that share an image path form one source; keep them together in first-seen order.
    let mut groups: Vec<(String, Vec<SrcsLine>)> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l)) {
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\0').collect();
        let malformed = || LayerError::MalformedLine {
            file: file.to_owned(),
            line: number,
            reason: format!("expected `<image path>\\0<relative path>\\0<s|g><host path>`, got {line:?}"),
        };
        let [image, relative, origin_and_host] = fields[..] else { return Err(malformed()) };
        let (mode, host) = match origin_and_host.split_at(1.min(origin_and_host.len())) {
            ("s", host) => (ModeFrom::Disk, host),
            ("g", host) => (ModeFrom::Generated, host),
            _ => return Err(malformed()),
        };
        let slot = *index.entry(image.to_owned()).or_insert_with(|| {
            groups.push((image.to_owned(), Vec::new()));
            groups.len() - 1
        });
        groups[slot].1.push((number, relative.to_owned(), host.to_owned(), mode));
    }
    for (image, lines) in groups {
        let single = lines.len() == 1;
        for (number, relative, host, mode) in lines {
            let origin: Arc<str> = format!("srcs line {number} ({host})").into();
            let base = normalize(&image, &origin)?;
            let target = if single {
                base
            } else {
                let placed = match layout {
                    MultiFileLayout::PackageRelative => relative.as_str(),
                    MultiFileLayout::Flatten => relative.rsplit('/').next().unwrap_or(&relative),
                };
                normalize(&join(&base, placed), &origin)?
            };
            place(plan, &target, Path::new(&host), mode, &origin)?;
        }
    }
    Ok(())
}

fn collect_executable(executable: &Executable, plan: &mut Plan) -> Result<(), LayerError> {
    let origin: Arc<str> = format!("executable {:?}", executable.path).into();
    let exe_path = normalize(&executable.path, &origin)?;
    place(plan, &exe_path, Path::new(&executable.file), ModeFrom::Executable, &origin)?;
    let root = format!("{exe_path}.runfiles");
    let main = join(&root, &executable.workspace_name);
    if let Some(mapping) = &executable.repo_mapping {
        for at in [join(&root, "_repo_mapping"), format!("{exe_path}.repo_mapping")] {
            place(plan, &at, Path::new(mapping), ModeFrom::Disk, &origin)?;
        }
    }
    let Some(runfiles) = &executable.runfiles else { return Ok(()) };
    let file = Path::new(runfiles);
    let text = read_param_file(file, "runfiles param file")?;
    for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l)) {
        if line.is_empty() {
            continue;
        }
        let malformed = |reason: String| LayerError::MalformedLine { file: file.to_owned(), line: number, reason };
        let (kind, rest) = line.split_at(1.min(line.len()));
        let Some((path, host)) = rest.split_once('\0') else {
            return Err(malformed(format!("expected `<kind><path>\\0<host path>`, got {line:?}")));
        };
        let line_origin: Arc<str> = format!("runfiles of {:?}, line {number} ({path})", executable.path).into();
        let target = match kind {
            "s" => match path.strip_prefix("../") {
                Some(external) => join(&root, external),
                None => join(&main, path),
            },
            "w" | "e" => join(&main, path),
            "r" => join(&root, path),
            other => return Err(malformed(format!("unknown runfiles kind {other:?} (expected s, w, r or e)"))),
        };
        let target = normalize(&target, &line_origin)?;
        if kind == "e" {
            let entry = Entry { path: target, kind: Kind::Regular { size: 0 }, attrs: Attributes::file(false) };
            insert(plan, Planned { entry, content: Content::Nothing, origin: line_origin, inode: None })?;
        } else {
            place(plan, &target, Path::new(host), ModeFrom::Disk, &line_origin)?;
        }
    }
    Ok(())
}

/// Places a host file at `image_path`, or walks a host directory (a tree artifact) below it.
fn place(plan: &mut Plan, image_path: &str, host: &Path, mode: ModeFrom, origin: &Arc<str>) -> Result<(), LayerError> {
    let metadata = stat(host, origin)?;
    if !metadata.is_dir() {
        return insert(plan, host_file(image_path, host, &metadata, mode, origin));
    }
    let directory = |path: String| Planned {
        entry: Entry { path, kind: Kind::Directory, attrs: Attributes::directory() },
        content: Content::Nothing,
        origin: Arc::clone(origin),
        inode: None,
    };
    if !image_path.is_empty() {
        insert(plan, directory(image_path.to_owned()))?;
    }
    for item in walkdir::WalkDir::new(host).follow_links(true).min_depth(1) {
        let item = item.map_err(|err| walk_error(err, host, origin))?;
        let relative = item.path().strip_prefix(host).expect("walk stays below its root");
        let Some(relative) = relative.to_str() else {
            return Err(LayerError::ReadInput {
                what: "tree artifact entry",
                path: item.path().to_owned(),
                source: std::io::Error::other("file name is not valid UTF-8"),
            });
        };
        let path = normalize(&join(image_path, relative), origin)?;
        let metadata = item.metadata().map_err(|err| walk_error(err, host, origin))?;
        if metadata.is_dir() {
            insert(plan, directory(path))?;
        } else if metadata.is_file() {
            insert(plan, host_file(&path, item.path(), &metadata, mode, origin))?;
        }
        // Sockets, FIFOs and devices inside tree artifacts are skipped: they are not build outputs.
    }
    Ok(())
}

fn stat(host: &Path, origin: &Arc<str>) -> Result<fs::Metadata, LayerError> {
    match fs::metadata(host) {
        Ok(metadata) => Ok(metadata),
        Err(_) if fs::symlink_metadata(host).is_ok_and(|m| m.file_type().is_symlink()) => {
            Err(LayerError::DanglingSymlink { path: host.to_owned(), origin: origin.to_string() })
        }
        Err(source) => Err(LayerError::ReadInput { what: "source file", path: host.to_owned(), source }),
    }
}

fn walk_error(err: walkdir::Error, root: &Path, origin: &Arc<str>) -> LayerError {
    let path = err.path().unwrap_or(root).to_owned();
    if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) && fs::metadata(&path).is_err() {
        return LayerError::DanglingSymlink { path, origin: origin.to_string() };
    }
    let source = err.into_io_error().unwrap_or_else(|| std::io::Error::other("symlink loop"));
    LayerError::ReadInput { what: "tree artifact", path, source }
}

fn host_file(image_path: &str, host: &Path, metadata: &fs::Metadata, mode: ModeFrom, origin: &Arc<str>) -> Planned {
    let executable = match mode {
        ModeFrom::Disk => metadata.mode() & 0o111 != 0,
        ModeFrom::Generated => false,
        ModeFrom::Executable => true,
    };
    Planned {
        entry: Entry {
            path: image_path.to_owned(),
            kind: Kind::Regular { size: metadata.len() },
            attrs: Attributes::file(executable),
        },
        content: Content::Host(host.to_owned()),
        origin: Arc::clone(origin),
        inode: Some((metadata.dev(), metadata.ino())),
    }
}

/// Adds an entry; the same directory twice, or the very same source twice, is fine; anything
/// else at one path is a duplicate.
fn insert(plan: &mut Plan, planned: Planned) -> Result<(), LayerError> {
    if planned.entry.path.is_empty() {
        return Err(LayerError::AtRoot { origin: planned.origin.to_string() });
    }
    match plan.entry(planned.entry.path.clone()) {
        MapEntry::Vacant(slot) => {
            slot.insert(planned);
            Ok(())
        }
        MapEntry::Occupied(existing) => {
            let existing = existing.get();
            let both_dirs = existing.entry.kind == Kind::Directory && planned.entry.kind == Kind::Directory;
            let same_source = existing.entry == planned.entry && existing.content == planned.content;
            if both_dirs || same_source {
                Ok(())
            } else {
                Err(LayerError::Duplicate {
                    path: planned.entry.path,
                    first: existing.origin.to_string(),
                    second: planned.origin.to_string(),
                })
            }
        }
    }
}

/// An entry below something that is not a directory cannot be extracted.
fn check_conflicts(plan: &Plan) -> Result<(), LayerError> {
    for (path, planned) in plan {
        let mut ancestor = path.as_str();
        while let Some((parent, _)) = ancestor.rsplit_once('/') {
            if let Some(parent_entry) = plan.get(parent) {
                if parent_entry.entry.kind != Kind::Directory {
                    return Err(LayerError::Conflict {
                        path: path.clone(),
                        child_origin: planned.origin.to_string(),
                        parent: parent.to_owned(),
                        parent_origin: parent_entry.origin.to_string(),
                    });
                }
            }
            ancestor = parent;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_strips_root_and_dots_and_refuses_escapes() {
        assert_eq!(normalize("/app/./bin//x", "t").unwrap(), "app/bin/x");
        assert_eq!(normalize("a/b/../c", "t").unwrap(), "a/c");
        assert!(matches!(normalize("a/../../etc", "t"), Err(LayerError::EscapesRoot { .. })));
    }

    #[test]
    fn parents_are_added_once() {
        let mut plan = Plan::new();
        for path in ["a/b/c", "a/b/d", "a/e"] {
            let entry = Entry { path: path.into(), kind: Kind::Regular { size: 0 }, attrs: Attributes::file(false) };
            plan.insert(path.into(), Planned { entry, content: Content::Nothing, origin: "t".into(), inode: None });
        }
        add_parent_directories(&mut plan);
        let keys: Vec<&str> = plan.keys().map(String::as_str).collect();
        assert_eq!(keys, ["a", "a/b", "a/b/c", "a/b/d", "a/e"]);
    }
}
