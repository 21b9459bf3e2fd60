//! Loaders that are programs reading the tarball on stdin: `podman load`, and the generic
//! `$LOADER_BINARY` (run with no arguments; whatever it is, it gets the docker-save/OCI tarball
//! on stdin and must exit 0 once the image is loaded).

use std::io::{self, BufWriter, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread::JoinHandle;

use super::source::CHUNK;
use super::LoadError;

/// Runs `command` with the tarball `produce` writes on its stdin; returns its stdout.
pub fn run(
    mut command: Command,
    hint: &'static str,
    produce: impl FnOnce(&mut BufWriter<ChildStdin>) -> Result<(), LoadError>,
) -> Result<String, LoadError> {
    let program = describe(&command);
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| LoadError::LoaderMissing { program: program.clone(), source, hint })?;
    // Drained on their own threads so a chatty loader never blocks on a full pipe.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let mut stdin = BufWriter::with_capacity(CHUNK, child.stdin.take().expect("stdin is piped"));
    let produced = produce(&mut stdin).and_then(|()| stdin.flush().map_err(LoadError::Tarball));
    drop(stdin);
    if let Err(err) = &produced {
        // The loader stopped reading: its exit status and stderr say why. Any other failure:
        // stop the loader so it never takes a cut-off archive for a whole one.
        if !is_broken_pipe(err) {
            kill(&mut child);
        }
    }
    let status = child.wait().map_err(|source| LoadError::LoaderMissing { program: program.clone(), source, hint })?;
    let (stdout, stderr) = (join(stdout), join(stderr));
    match produced {
        Err(err) if !is_broken_pipe(&err) || status.success() => Err(err),
        _ if !status.success() => {
            Err(LoadError::Loader { program, status: status.to_string(), stderr: stderr.trim().to_owned() })
        }
        _ => Ok(stdout),
    }
}

fn is_broken_pipe(err: &LoadError) -> bool {
    matches!(err, LoadError::Tarball(source) if source.kind() == io::ErrorKind::BrokenPipe)
}

fn kill(child: &mut Child) {
    let _ = child.kill();
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    })
}

fn join(handle: JoinHandle<String>) -> String {
    handle.join().unwrap_or_default()
}

fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loader_failure_reports_its_stderr() {
        let mut command = Command::new("sh");
        command.args(["-c", "cat >/dev/null; echo 'no space left' >&2; exit 3"]);
        let err = run(command, "", |stdin| stdin.write_all(b"data").map_err(LoadError::Tarball)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("no space left") && text.contains("exit status: 3"), "{text}");
    }

    #[test]
    fn loader_that_stops_reading_is_reported_not_the_broken_pipe() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo 'bad archive' >&2; exit 1"]);
        let big = vec![0u8; 8 << 20];
        let err = run(command, "", |stdin| stdin.write_all(&big).map_err(LoadError::Tarball)).unwrap_err();
        assert!(err.to_string().contains("bad archive"), "{err}");
    }

    #[test]
    fn missing_program_says_what_to_do() {
        let command = Command::new("/nonexistent/loader");
        let err = run(command, "set LOADER_BINARY", |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("set LOADER_BINARY"), "{err}");
    }
}
