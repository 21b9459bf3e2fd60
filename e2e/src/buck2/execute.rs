//! Running actions with real processes/filesystem operations, in dependency order, once each.
//! Like Buck2: outputs are deleted before an action runs, parent directories are created, and
//! every declared output must exist afterwards.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::Digest;

use super::actions::ActionKind;
use super::artifacts::ArtifactData;
use super::cmd_args::relativize;
use super::error::{Buck2Error, Result};
use super::project::Project;

impl Project {
    /// Make sure an artifact exists: sources must exist; build artifacts run their action.
    pub(crate) fn ensure_artifact(&self, a: &ArtifactData) -> Result<()> {
        if a.is_source {
            let p = self.root.join(&a.path);
            if !p.exists() {
                return Err(Buck2Error::io(
                    p,
                    std::io::Error::new(std::io::ErrorKind::NotFound, "source file is missing"),
                ));
            }
            return Ok(());
        }
        let entry = self.action_index.borrow().get(&a.path).cloned();
        let Some((res, index)) = entry else {
            return Err(Buck2Error::Analysis {
                target: a.owner.as_ref().map(|(l, c)| format!("{l} ({c})")).unwrap_or_default(),
                message: format!("no action produces `{}`", a.path),
            });
        };
        let key = format!("{}#{}", res.label, a.path);
        let action_key = format!("{} ({})#{index}", res.label, res.cfg);
        if self.executed.borrow().contains(&action_key) {
            return Ok(());
        }
        let action = res.actions[index].clone();
        for input in &action.inputs {
            self.ensure_artifact(input)?;
        }
        let fail = |message: String| Buck2Error::Action {
            target: format!("{} ({})", res.label, res.cfg),
            category: action.category.clone(),
            identifier: action.identifier.as_ref().map(|i| format!(" {i}")).unwrap_or_default(),
            message,
        };
        for o in &action.outputs {
            let p = self.root.join(&o.path);
            remove_path(&p).map_err(|e| fail(format!("cannot clean output {}: {e}", p.display())))?;
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| fail(format!("cannot create {}: {e}", parent.display())))?;
            }
        }
        let out0 = self.root.join(&action.outputs[0].path);
        match &action.kind {
            ActionKind::Write { content, is_executable } => {
                write_atomically(&out0, content.as_bytes(), *is_executable).map_err(|e| fail(e.to_string()))?;
            }
            ActionKind::Run { argv, env } => {
                let Some((program, args)) = argv.split_first() else {
                    return Err(fail("empty command line".to_owned()));
                };
                let program_path = if program.contains('/') && !program.starts_with('/') {
                    self.root.join(program)
                } else {
                    PathBuf::from(program)
                };
                let output = std::process::Command::new(&program_path)
                    .args(args)
                    .current_dir(&self.root)
                    .envs(env.iter().map(|(k, v)| (k, v)))
                    .output()
                    .map_err(|e| fail(format!("cannot start `{program}`: {e}")))?;
                if !output.status.success() {
                    return Err(fail(format!(
                        "command exited with {}\ncommand: {}\nstdout:\n{}\nstderr:\n{}",
                        output.status,
                        argv.join(" "),
                        String::from_utf8_lossy(&output.stdout),
                        String::from_utf8_lossy(&output.stderr)
                    )));
                }
            }
            ActionKind::Copy { src, executable_bit_override } => {
                copy_recursive(&self.root.join(src), &out0).map_err(|e| fail(format!("copy {src}: {e}")))?;
                if let Some(exec) = executable_bit_override {
                    set_executable(&out0, *exec).map_err(|e| fail(e.to_string()))?;
                }
            }
            ActionKind::Symlink { src } => {
                let parent = Path::new(&action.outputs[0].path)
                    .parent()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                std::os::unix::fs::symlink(relativize(src, &parent), &out0).map_err(|e| fail(e.to_string()))?;
            }
            ActionKind::Dir { entries, copy } => {
                std::fs::create_dir_all(&out0).map_err(|e| fail(e.to_string()))?;
                for (dest, src) in entries {
                    let d = out0.join(dest);
                    if let Some(parent) = d.parent() {
                        std::fs::create_dir_all(parent).map_err(|e| fail(e.to_string()))?;
                    }
                    if *copy {
                        copy_recursive(&self.root.join(src), &d).map_err(|e| fail(format!("copy {src}: {e}")))?;
                    } else {
                        let dest_dir = format!("{}/{}", action.outputs[0].path, dest);
                        let dest_parent =
                            Path::new(&dest_dir).parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
                        std::os::unix::fs::symlink(relativize(src, &dest_parent), &d)
                            .map_err(|e| fail(e.to_string()))?;
                    }
                }
            }
            ActionKind::Download { url, sha256, sha1, is_executable } => {
                let bytes = fetch(url).map_err(&fail)?;
                match (sha256, sha1) {
                    (Some(expected), _) => {
                        let got = hex::encode(sha2::Sha256::digest(&bytes));
                        if &got != expected {
                            return Err(fail(format!("sha256 mismatch for {url}: expected {expected}, got {got}")));
                        }
                    }
                    (None, Some(_)) => {
                        return Err(fail("sha1-only verification is not supported by the Buck2 model".to_owned()))
                    }
                    (None, None) => unreachable!("checked at registration"),
                }
                write_atomically(&out0, &bytes, *is_executable).map_err(|e| fail(e.to_string()))?;
            }
        }
        for o in &action.outputs {
            let p = self.root.join(&o.path);
            if std::fs::symlink_metadata(&p).is_err() {
                return Err(fail(format!("Action failed to produce output `{}`", o.path)));
            }
        }
        let _ = key;
        self.executed.borrow_mut().insert(action_key);
        Ok(())
    }
}

fn remove_path(p: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Write to a temp file next to `path`, then rename (nothing half-written is left behind).
fn write_atomically(path: &Path, bytes: &[u8], executable: bool) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    set_executable(path, executable)
}

fn set_executable(path: &Path, executable: bool) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if executable { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

fn copy_recursive(src: &Path, dest: &Path) -> std::io::Result<()> {
    if src.is_dir() {
        std::fs::create_dir_all(dest)?;
        for entry in std::fs::read_dir(src)? {
            let entry = entry?;
            copy_recursive(&entry.path(), &dest.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(src, dest).map(|_| ())
    }
}

/// `file://` URLs and plain-HTTP URLs on 127.0.0.1 only (the machine is offline otherwise).
fn fetch(url: &str) -> std::result::Result<Vec<u8>, String> {
    if let Some(path) = url.strip_prefix("file://") {
        return std::fs::read(path).map_err(|e| format!("{url}: {e}"));
    }
    let Some(rest) = url.strip_prefix("http://127.0.0.1") else {
        return Err(format!(
            "download_file of `{url}` is not supported offline by the Buck2 model (use file:// or http://127.0.0.1)"
        ));
    };
    let (port, path) = match rest.strip_prefix(':') {
        Some(r) => {
            let (p, path) = r.split_at(r.find('/').unwrap_or(r.len()));
            (p.parse::<u16>().map_err(|e| format!("{url}: bad port: {e}"))?, path)
        }
        None => (80, rest),
    };
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("{url}: {e}"))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(|e| format!("{url}: {e}"))?;
    let split =
        response.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| format!("{url}: malformed HTTP response"))?;
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        return Err(format!("{url}: HTTP status {status}"));
    }
    Ok(response[split + 4..].to_vec())
}
