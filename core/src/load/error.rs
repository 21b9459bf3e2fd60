//! Why a load failed, naming the file, socket or daemon at fault and what to do about it.

use std::path::PathBuf;

use crate::deploy::image::DeployImageError;
use crate::registry::RegistryError;
use crate::request::RequestError;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Request(#[from] RequestError),

    /// The image the request names cannot be read or does not hold together.
    #[error(transparent)]
    Image(#[from] DeployImageError),

    /// A document of the image cannot be used (e.g. a config that is not an image config).
    #[error("load request {path}: {reason}")]
    Plan { path: PathBuf, reason: String },

    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    /// Bad command-line input.
    #[error("{0}")]
    Usage(String),

    #[error(
        "the index has no image for platform {wanted}; it has: {available}. \
         Pass --platform with one of those (or `all` for containerd)"
    )]
    PlatformNotFound { wanted: String, available: String },

    #[error("--platform all loads several images at once, which only containerd can take; {daemon} takes one platform per load")]
    AllPlatformsUnsupported { daemon: &'static str },

    /// No socket answered; every place that was looked at is listed with what was found there.
    #[error("no {daemon} is reachable; looked at:\n{tried}\n{hint}")]
    Unreachable { daemon: &'static str, tried: String, hint: &'static str },

    #[error(
        "permission denied on the {daemon} socket {socket}: run img as a user that may use it \
         (root, or a member of the group owning it), or point {env} at another socket"
    )]
    PermissionDenied { daemon: &'static str, socket: PathBuf, env: &'static str },

    /// containerd answered with an error.
    #[error("containerd at {socket}: {what} failed: {reason}")]
    Containerd { socket: PathBuf, what: String, reason: String },

    /// containerd went away in the middle of the load. Names are only set after every blob is in,
    /// so no half-loaded image is left named; `named` lists names already moved to the new image
    /// (when it died between two names).
    #[error(
        "containerd at {socket} stopped answering while {what} ({reason}); {}. Start containerd again \
         and rerun the load: blobs already written are skipped",
        named_so_far(.named)
    )]
    ContainerdGone { socket: PathBuf, what: String, reason: String, named: Vec<String> },

    /// The Docker Engine API answered with an error, or could not be spoken to.
    #[error("docker at {host}: {what} failed: {reason}")]
    Docker { host: String, what: String, reason: String },

    /// `podman load` or `$LOADER_BINARY` failed.
    #[error("`{program}` failed ({status}): {stderr}")]
    Loader { program: String, status: String, stderr: String },

    #[error("cannot run `{program}`: {source}; {hint}")]
    LoaderMissing { program: String, source: std::io::Error, hint: &'static str },

    /// A layer blob did not match its digest while it was streamed into the tarball.
    #[error("{what}: expected {expected} ({expected_size} bytes), got {actual} ({actual_size} bytes)")]
    BlobMismatch { what: String, expected: String, expected_size: u64, actual: String, actual_size: u64 },

    /// Fetching a base layer from its source registry failed.
    #[error("{what}: {source}")]
    Source { what: String, source: Box<RegistryError> },

    /// A base layer without a local blob that none of its registries served.
    #[error("{what} ({digest}) has no local blob and no source registry served it: {reasons}")]
    NoSource { what: String, digest: String, reasons: String },

    /// A blob's bytes could not be read (a local file, or a registry's response body).
    #[error("reading {what}: {source}")]
    Stream { what: String, source: std::io::Error },

    /// Writing the tarball stream failed for another reason than the reader going away.
    #[error("writing the image tarball: {0}")]
    Tarball(std::io::Error),
}

fn named_so_far(named: &[String]) -> String {
    if named.is_empty() {
        "no image name was created or changed".to_owned()
    } else {
        format!("only these names point at the new (complete) image: {}", named.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_gone_says_which_names_moved() {
        let gone = |named: Vec<String>| LoadError::ContainerdGone {
            socket: "/run/c.sock".into(),
            what: "naming the image b:1".into(),
            reason: "Unknown: transport error".into(),
            named,
        };
        let none = gone(Vec::new()).to_string();
        assert!(none.contains("/run/c.sock stopped answering") && none.contains("no image name was created"), "{none}");
        let some = gone(vec!["a:1".into()]).to_string();
        assert!(some.contains("only these names point at the new (complete) image: a:1"), "{some}");
    }
}
