//! The typed spec of rules_img and the renderers that turn it into the Bazel module, the Buck2
//! cell, the Rust contract crate and the API reference.

pub mod render;
pub mod spec;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use render::File;

/// Renders every generated file. Rust files are formatted with the repository's rustfmt
/// settings so that `cargo fmt --check` and `codegen --check` agree.
pub fn generate(root: &Path) -> Result<Vec<File>, String> {
    let spec = spec::spec();
    let mut files = render::render_all(&spec);
    for file in files.iter_mut().filter(|f| f.path.extension().is_some_and(|e| e == "rs")) {
        file.contents =
            rustfmt(root, &file.contents).map_err(|e| format!("rustfmt failed on {}: {e}", file.path.display()))?;
    }
    Ok(files)
}

fn rustfmt(root: &Path, source: &str) -> Result<String, String> {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout", "--config-path"])
        .arg(root.join("rustfmt.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run rustfmt ({e}); install it with `rustup component add rustfmt`"))?;
    child.stdin.take().expect("piped").write_all(source.as_bytes()).map_err(|e| e.to_string())?;
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    String::from_utf8(output.stdout).map_err(|e| e.to_string())
}

/// Files whose contents on disk differ from the rendering, plus files in owned directories that
/// the spec no longer renders.
pub fn stale(root: &Path, files: &[File]) -> Vec<PathBuf> {
    let mut stale: Vec<PathBuf> = files
        .iter()
        .filter(|f| std::fs::read_to_string(root.join(&f.path)).ok().as_deref() != Some(f.contents.as_str()))
        .map(|f| f.path.clone())
        .collect();
    stale.extend(unrendered(root, files));
    stale.sort();
    stale
}

/// Files under the owned directories that are not rendered.
pub fn unrendered(root: &Path, files: &[File]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in render::OWNED_DIRS {
        collect(root, &root.join(dir), &mut found);
    }
    found.retain(|p| !files.iter().any(|f| &f.path == p));
    found.sort();
    found
}

fn collect(root: &Path, dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, found);
        } else if let Ok(relative) = path.strip_prefix(root) {
            found.push(relative.to_path_buf());
        }
    }
}

/// Writes through a temporary file in the same directory, so a reader never sees half a file.
pub fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let dir = path.parent().expect("generated files live in directories");
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp", path.file_name().expect("a file name").to_string_lossy()));
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}
