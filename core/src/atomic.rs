//! Outputs that appear whole or not at all.
//!
//! Each output is written to a temporary file in its own directory (so the final rename stays on
//! one filesystem) and renamed into place only when the whole action succeeded. Dropping an
//! uncommitted output removes its temporary file, so an error anywhere leaves nothing behind.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// An output file could not be created or put in place.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot create a temporary file next to output {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot write output {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot move the finished output into place at {path}: {source}")]
    Commit { path: PathBuf, source: io::Error },
}

/// Buffer size of output writes: large enough that writes are not the bottleneck.
const OUTPUT_BUFFER: usize = 256 * 1024;

/// A file being written next to its final path.
pub struct PendingOutput {
    path: PathBuf,
    temp: NamedTempFile,
}

impl PendingOutput {
    /// Starts an output at `path`; removes a stale file there first, so that a failed action never
    /// leaves a previous run's output looking like this run's.
    pub fn create(path: &Path) -> Result<Self, OutputError> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        remove_stale(path).map_err(|source| OutputError::Create { path: path.to_owned(), source })?;
        let temp = tempfile::Builder::new()
            .prefix(".img-tmp-")
            .tempfile_in(&dir)
            .map_err(|source| OutputError::Create { path: path.to_owned(), source })?;
        Ok(Self { path: path.to_owned(), temp })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A buffered writer to the temporary file.
    pub fn writer(&self) -> Result<BufWriter<File>, OutputError> {
        let file = self.temp.reopen().map_err(|source| self.write_error(source))?;
        Ok(BufWriter::with_capacity(OUTPUT_BUFFER, file))
    }

    /// Writes the whole content at once (small outputs such as metadata JSON).
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), OutputError> {
        let file = self.temp.as_file_mut();
        file.write_all(bytes).map_err(|source| OutputError::Write { path: self.path.clone(), source })
    }

    pub fn write_error(&self, source: io::Error) -> OutputError {
        OutputError::Write { path: self.path.clone(), source }
    }

    /// Renames the temporary file into place.
    pub fn commit(self) -> Result<(), OutputError> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path;
        // Temporary files are private (0600); a finished output is an ordinary readable file.
        let readable = std::fs::Permissions::from_mode(0o644);
        self.temp
            .as_file()
            .set_permissions(readable)
            .map_err(|source| OutputError::Commit { path: path.clone(), source })?;
        self.temp.persist(&path).map_err(|err| OutputError::Commit { path, source: err.error })?;
        Ok(())
    }
}

fn remove_stale(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// Commits several outputs together: if a later one fails, the earlier ones are removed again.
pub fn commit_all(outputs: Vec<PendingOutput>) -> Result<(), OutputError> {
    let mut committed: Vec<PathBuf> = Vec::new();
    for output in outputs {
        let path = output.path.clone();
        if let Err(err) = output.commit() {
            for done in &committed {
                let _ = std::fs::remove_file(done);
            }
            return Err(err);
        }
        committed.push(path);
    }
    Ok(())
}

/// Passes `result` on; on error first removes whatever is at `paths` (a stale output of an
/// earlier run must not pass for this run's).
pub fn clean_on_error<T, E>(paths: &[&Path], result: Result<T, E>) -> Result<T, E> {
    if result.is_err() {
        for path in paths {
            let _ = remove_stale(path);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncommitted_output_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        {
            let output = PendingOutput::create(&path).unwrap();
            let mut writer = output.writer().unwrap();
            writer.write_all(b"half").unwrap();
            writer.flush().unwrap();
        }
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn committed_outputs_appear_with_their_content() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "stale").unwrap();
        let mut first = PendingOutput::create(&a).unwrap();
        assert!(!a.exists(), "a stale output is removed when the action starts");
        first.write_all(b"one").unwrap();
        let mut second = PendingOutput::create(&b).unwrap();
        second.write_all(b"two").unwrap();
        commit_all(vec![first, second]).unwrap();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "one");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "two");
    }
}
