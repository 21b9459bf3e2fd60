//! SHA-256 digests of streams: a writer and a reader that hash and count what passes through.
//!
//! A layer is hashed twice in one pass: once before the compressor (the diff_id) and once after
//! it (the blob digest), so both hashers are plain pass-through adapters.

use std::fmt;
use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

/// A finished SHA-256 digest with the byte count it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sha256Digest {
    pub hash: [u8; 32],
    pub size: u64,
}

impl Sha256Digest {
    /// Digest of a byte slice.
    pub fn of(bytes: &[u8]) -> Self {
        Self { hash: Sha256::digest(bytes).into(), size: bytes.len() as u64 }
    }

    /// The lowercase hex of the hash, without the algorithm prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.hash)
    }
}

/// `sha256:<hex>`, the form OCI descriptors and diff_ids use.
impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

/// A running SHA-256 over a byte stream.
#[derive(Default, Clone)]
pub struct Sha256Counter {
    hasher: Sha256,
    size: u64,
}

impl Sha256Counter {
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn finish(self) -> Sha256Digest {
        Sha256Digest { hash: self.hasher.finalize().into(), size: self.size }
    }
}

/// Hashes everything written through it before passing it on.
pub struct HashingWriter<W> {
    inner: W,
    digest: Sha256Counter,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        Self { inner, digest: Sha256Counter::default() }
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.digest.size()
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The inner writer and the digest of everything written.
    pub fn finish(self) -> (W, Sha256Digest) {
        (self.inner, self.digest.finish())
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digest.update(&buf[..n]);
        Ok(n)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)?;
        self.digest.update(buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Hashes everything read through it.
pub struct HashingReader<R> {
    inner: R,
    digest: Sha256Counter,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        Self { inner, digest: Sha256Counter::default() }
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The inner reader and the digest of everything read.
    pub fn finish(self) -> (R, Sha256Digest) {
        (self.inner, self.digest.finish())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digest.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_stream_has_the_well_known_sha256() {
        let (_, digest) = HashingWriter::new(Vec::new()).finish();
        assert_eq!(digest.to_string(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(digest.size, 0);
    }

    #[test]
    fn writer_and_reader_agree_with_one_shot_digest() {
        let data = b"hello layer".repeat(1000);
        let mut writer = HashingWriter::new(Vec::new());
        for chunk in data.chunks(7) {
            writer.write_all(chunk).unwrap();
        }
        let (copy, written) = writer.finish();
        assert_eq!(copy, data);
        let mut reader = HashingReader::new(&data[..]);
        io::copy(&mut reader, &mut io::sink()).unwrap();
        let (_, read) = reader.finish();
        assert_eq!(written, Sha256Digest::of(&data));
        assert_eq!(read, written);
        assert_eq!(read.size, data.len() as u64);
    }
}
