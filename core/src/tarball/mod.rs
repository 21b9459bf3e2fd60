//! The tar entry model and a deterministic tar writer.
//!
//! Every header is written from an [`Entry`] alone (nothing is taken from the build machine unless
//! the entry says so): paths relative to the image root, directories with a trailing `/`, USTAR
//! headers with PAX extensions where needed, payloads padded to 512 bytes, and the archive closed
//! by two zero blocks. See docs/layers.md for the user-facing description.

pub mod header;

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

pub use header::BLOCK;

/// Modification time: seconds since the Unix epoch and nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mtime {
    pub secs: i64,
    pub nanos: u32,
}

/// Header fields other than name, type, size and link target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attributes {
    /// Permission bits (including setuid/setgid/sticky), at most 0o7777.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub uname: String,
    pub gname: String,
    pub mtime: Mtime,
    /// Further PAX records (xattrs, user-supplied records); sorted, so headers are deterministic.
    pub pax_records: BTreeMap<String, String>,
}

impl Attributes {
    /// Defaults for a regular file: 0755 when the host file is executable, 0644 otherwise; owner
    /// root with no names; mtime 0.
    pub fn file(executable: bool) -> Self {
        Self::with_mode(if executable { 0o755 } else { 0o644 })
    }

    pub fn directory() -> Self {
        Self::with_mode(0o755)
    }

    /// Symlinks get 0777 like GNU tar records them; the mode of a symlink is never used.
    pub fn symlink() -> Self {
        Self::with_mode(0o777)
    }

    pub fn with_mode(mode: u32) -> Self {
        Self {
            mode,
            uid: 0,
            gid: 0,
            uname: String::new(),
            gname: String::new(),
            mtime: Mtime::default(),
            pax_records: BTreeMap::new(),
        }
    }
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Kind {
    Regular {
        size: u64,
    },
    Directory,
    /// Target verbatim (absolute targets stay absolute).
    Symlink {
        target: String,
    },
    /// Target: another entry's path, written earlier in the same archive.
    Hardlink {
        target: String,
    },
    CharDevice {
        major: u32,
        minor: u32,
    },
    BlockDevice {
        major: u32,
        minor: u32,
    },
    Fifo,
}

impl Kind {
    pub fn typeflag(&self) -> u8 {
        match self {
            Kind::Regular { .. } => b'0',
            Kind::Hardlink { .. } => b'1',
            Kind::Symlink { .. } => b'2',
            Kind::CharDevice { .. } => b'3',
            Kind::BlockDevice { .. } => b'4',
            Kind::Directory => b'5',
            Kind::Fifo => b'6',
        }
    }

    /// Payload size in the archive (only regular files have one).
    pub fn size(&self) -> u64 {
        match self {
            Kind::Regular { size } => *size,
            _ => 0,
        }
    }

    pub fn link_target(&self) -> Option<&str> {
        match self {
            Kind::Symlink { target } | Kind::Hardlink { target } => Some(target),
            _ => None,
        }
    }
}

/// One tar entry, without its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path in the image: relative, normalised, no leading or trailing `/`.
    pub path: String,
    pub kind: Kind,
    pub attrs: Attributes,
}

impl Entry {
    /// The name written to the archive: directories end with `/`; the root directory of an
    /// imported tar (empty path) is `./`.
    pub fn tar_name(&self) -> String {
        match self.kind {
            Kind::Directory if self.path.is_empty() => "./".to_owned(),
            Kind::Directory => format!("{}/", self.path),
            _ => self.path.clone(),
        }
    }
}

/// Writing an entry failed.
#[derive(Debug, thiserror::Error)]
pub enum TarError {
    /// The payload could not be read.
    #[error("cannot read the content: {0}")]
    Read(io::Error),
    /// The payload ended early (the file shrank while the layer was built, or a truncated input).
    #[error("content ended after {got} of {expected} bytes")]
    ShortRead { expected: u64, got: u64 },
    /// The output could not be written.
    #[error("cannot write the layer: {0}")]
    Write(io::Error),
}

/// Something that takes tar entries in order: a plain tar stream or an eStargz blob.
pub trait ArchiveWriter {
    /// Appends an entry; `content` supplies exactly `entry.kind.size()` bytes.
    fn append(&mut self, entry: &Entry, content: &mut dyn Read) -> Result<(), TarError>;
}

/// Payload copy buffer: large reads keep syscalls cheap on big files.
pub const COPY_BUFFER: usize = 256 * 1024;

/// Writes a tar stream into `W`.
pub struct TarWriter<W: Write> {
    out: W,
    header: Vec<u8>,
    buffer: Vec<u8>,
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W) -> Self {
        Self { out, header: Vec::with_capacity(3 * BLOCK), buffer: vec![0; COPY_BUFFER] }
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Writes the end-of-archive marker (two zero blocks) and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0; 2 * BLOCK])?;
        Ok(self.out)
    }
}

impl<W: Write> ArchiveWriter for TarWriter<W> {
    fn append(&mut self, entry: &Entry, content: &mut dyn Read) -> Result<(), TarError> {
        self.header.clear();
        header::encode(entry, &mut self.header);
        self.out.write_all(&self.header).map_err(TarError::Write)?;
        let size = entry.kind.size();
        copy_exact(content, size, &mut self.buffer, |bytes| self.out.write_all(bytes))?;
        self.out.write_all(&[0; BLOCK][..header::padding(size)]).map_err(TarError::Write)
    }
}

/// Copies exactly `size` bytes from `content` to `sink`, in buffer-sized pieces.
pub fn copy_exact(
    content: &mut dyn Read,
    size: u64,
    buffer: &mut [u8],
    mut sink: impl FnMut(&[u8]) -> io::Result<()>,
) -> Result<(), TarError> {
    let mut copied = 0u64;
    while copied < size {
        let want = (size - copied).min(buffer.len() as u64) as usize;
        let n = match content.read(&mut buffer[..want]) {
            Ok(0) => return Err(TarError::ShortRead { expected: size, got: copied }),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(TarError::Read(err)),
        };
        sink(&buffer[..n]).map_err(TarError::Write)?;
        copied += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_archive_reads_back_with_the_tar_crate() {
        let mut writer = TarWriter::new(Vec::new());
        let dir = Entry { path: "etc".into(), kind: Kind::Directory, attrs: Attributes::directory() };
        let file = Entry { path: "etc/motd".into(), kind: Kind::Regular { size: 5 }, attrs: Attributes::file(false) };
        let link = Entry {
            path: "etc/motd.link".into(),
            kind: Kind::Symlink { target: "/etc/motd".into() },
            attrs: Attributes::symlink(),
        };
        writer.append(&dir, &mut io::empty()).unwrap();
        writer.append(&file, &mut &b"hello"[..]).unwrap();
        writer.append(&link, &mut io::empty()).unwrap();
        let bytes = writer.finish().unwrap();
        assert_eq!(bytes.len(), 6 * BLOCK);
        assert!(bytes[bytes.len() - 2 * BLOCK..].iter().all(|&b| b == 0));
        let mut archive = tar::Archive::new(&bytes[..]);
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap())
            .collect();
        assert_eq!(names, ["etc/", "etc/motd", "etc/motd.link"]);
    }

    #[test]
    fn short_content_is_an_error_not_a_corrupt_archive() {
        let mut writer = TarWriter::new(Vec::new());
        let file = Entry { path: "f".into(), kind: Kind::Regular { size: 10 }, attrs: Attributes::file(false) };
        let err = writer.append(&file, &mut &b"abc"[..]).unwrap_err();
        assert!(matches!(err, TarError::ShortRead { expected: 10, got: 3 }));
    }
}
