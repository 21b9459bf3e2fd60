//! Parallel gzip, pigz style: one ordinary gzip member compressed in fixed-size blocks.
//!
//! The input is cut into blocks of [`BLOCK_SIZE`] bytes. Each block is deflated on its own, primed
//! with the last 32 KiB of the block before it as dictionary, and ends with a sync flush (the last
//! block ends the stream). Appending the blocks gives one valid deflate stream, wrapped in a single
//! gzip header and trailer (CRC-32 combined from the blocks' CRCs).
//!
//! The cut points depend only on the input, so the blob is the same for any number of jobs.

use std::io::{self, Write};

use super::deflate_pool::{DeflateJob, DeflatePool, Deflated, WINDOW};

/// Uncompressed bytes per block. Part of the output format: changing it changes every blob.
pub const BLOCK_SIZE: usize = 256 * 1024;

/// The 10-byte gzip header rules_img writes: no name, mtime 0, OS "unknown" (the same on every
/// build machine), XFL as zlib sets it for the level.
pub fn gzip_header(level: u32) -> [u8; 10] {
    let xfl = match level {
        9 => 2,
        0 | 1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]
}

/// The 8-byte gzip trailer: CRC-32 and length modulo 2^32, little endian.
pub fn gzip_trailer(crc: u32, len: u64) -> [u8; 8] {
    let mut trailer = [0; 8];
    trailer[..4].copy_from_slice(&crc.to_le_bytes());
    trailer[4..].copy_from_slice(&(len as u32).to_le_bytes());
    trailer
}

/// Writes one gzip member, compressing blocks on a [`DeflatePool`].
pub struct ParallelGzipWriter<W: Write> {
    out: W,
    pool: DeflatePool,
    block: Vec<u8>,
    dictionary: Vec<u8>,
    spare: Vec<Vec<u8>>,
    crc: crc32fast::Hasher,
    len: u64,
}

impl<W: Write> ParallelGzipWriter<W> {
    pub fn new(mut out: W, level: u32, jobs: usize) -> io::Result<Self> {
        out.write_all(&gzip_header(level))?;
        Ok(Self {
            out,
            pool: DeflatePool::new(jobs, level),
            block: Vec::with_capacity(BLOCK_SIZE),
            dictionary: Vec::new(),
            spare: Vec::new(),
            crc: crc32fast::Hasher::new(),
            len: 0,
        })
    }

    fn submit(&mut self, last: bool) -> io::Result<()> {
        let fresh = self.spare.pop().unwrap_or_else(|| Vec::with_capacity(BLOCK_SIZE));
        let data = std::mem::replace(&mut self.block, fresh);
        let next_dictionary = data[data.len().saturating_sub(WINDOW)..].to_vec();
        let dictionary = std::mem::replace(&mut self.dictionary, next_dictionary);
        self.pool.submit(DeflateJob { data, dictionary, last })?;
        while let Some(done) = self.pool.take_ready() {
            self.emit(done)?;
        }
        Ok(())
    }

    fn emit(&mut self, mut done: Deflated) -> io::Result<()> {
        self.out.write_all(&done.compressed)?;
        self.crc.combine(&done.crc);
        self.len += done.len;
        done.data.clear();
        self.spare.push(done.data);
        Ok(())
    }

    /// Compresses the rest, writes the trailer and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.submit(true)?;
        while let Some(done) = self.pool.next_result() {
            self.emit(done?)?;
        }
        let trailer = gzip_trailer(self.crc.clone().finalize(), self.len);
        self.out.write_all(&trailer)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for ParallelGzipWriter<W> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let total = buf.len();
        while !buf.is_empty() {
            // A full block is sent only once more input arrives: the final block must be marked
            // as last, and only `finish` knows which one that is.
            if self.block.len() == BLOCK_SIZE {
                self.submit(false)?;
            }
            let take = (BLOCK_SIZE - self.block.len()).min(buf.len());
            self.block.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
        }
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gzip(data: &[u8], level: u32, jobs: usize) -> Vec<u8> {
        let mut writer = ParallelGzipWriter::new(Vec::new(), level, jobs).unwrap();
        for piece in data.chunks(100_003) {
            writer.write_all(piece).unwrap();
        }
        writer.finish().unwrap()
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
        out
    }

    fn sample(len: usize) -> Vec<u8> {
        let mut state = 12345u32;
        (0..len)
            .map(|i| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                if i % 3 == 0 {
                    (state >> 24) as u8
                } else {
                    b"abcdefgh"[(i / 7) % 8]
                }
            })
            .collect()
    }

    #[test]
    fn output_is_one_gzip_member_that_round_trips() {
        for len in [0, 1, BLOCK_SIZE, BLOCK_SIZE + 1, 3 * BLOCK_SIZE + 17] {
            let data = sample(len);
            let compressed = gzip(&data, 6, 2);
            assert_eq!(gunzip(&compressed), data, "length {len}");
        }
    }

    #[test]
    fn bytes_do_not_depend_on_the_number_of_jobs() {
        let data = sample(5 * BLOCK_SIZE + 999);
        let one = gzip(&data, 6, 1);
        assert_eq!(one, gzip(&data, 6, 2));
        assert_eq!(one, gzip(&data, 6, 4));
    }

    #[test]
    fn every_level_round_trips() {
        let data = sample(2 * BLOCK_SIZE + 5);
        for level in 0..=9 {
            assert_eq!(gunzip(&gzip(&data, level, 2)), data, "level {level}");
        }
    }
}
