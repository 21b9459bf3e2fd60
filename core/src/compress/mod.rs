//! Compression of layer blobs (gzip, zstd or none) and detection of the compression of input tars.

pub mod deflate_pool;
pub mod pgzip;

use std::io::{self, BufRead, Read, Write};

use img_contract::layer::Compression;

pub use pgzip::ParallelGzipWriter;

/// Default gzip level (that of `gzip` and `pigz`).
pub const GZIP_DEFAULT_LEVEL: i32 = 6;
/// Default zstd level (that of the `zstd` command).
pub const ZSTD_DEFAULT_LEVEL: i32 = 3;

/// Input bytes per zstd worker job. zstd's default (4 windows, 8 MiB at level 3) keeps some
/// 110 MB of buffers alive with two workers; 2 MiB jobs stay well under the 64 MB budget at a
/// ratio within a fraction of a percent. Part of the output format: changing it changes blobs.
const ZSTD_JOB_SIZE: u32 = 2 << 20;

/// A compression setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CompressError {
    #[error("gzip compression_level {0} is out of range: use 0 (store) to 9 (smallest)")]
    GzipLevel(i32),
    #[error("zstd compression_level {level} is out of range: use {min} to {max}")]
    ZstdLevel { level: i32, min: i32, max: i32 },
}

/// How a blob is compressed: algorithm, level and parallel jobs, all resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressionSettings {
    pub algorithm: Compression,
    pub level: i32,
    /// Worker threads, at least 1.
    pub jobs: usize,
}

impl CompressionSettings {
    /// Checks the level and resolves defaults: no level takes the algorithm's default, 0 jobs
    /// means one per CPU.
    pub fn new(algorithm: Compression, level: Option<i32>, jobs: u32) -> Result<Self, CompressError> {
        let level = match algorithm {
            Compression::Gzip => {
                let level = level.unwrap_or(GZIP_DEFAULT_LEVEL);
                if !(0..=9).contains(&level) {
                    return Err(CompressError::GzipLevel(level));
                }
                level
            }
            Compression::Zstd => {
                let level = level.unwrap_or(ZSTD_DEFAULT_LEVEL);
                let range = zstd::compression_level_range();
                if !range.contains(&level) || level == 0 {
                    let (min, max) = (*range.start(), *range.end());
                    return Err(CompressError::ZstdLevel { level, min, max });
                }
                level
            }
            Compression::None => 0,
        };
        let jobs = match jobs {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n as usize,
        };
        Ok(Self { algorithm, level, jobs })
    }

    pub fn media_type(&self) -> &'static str {
        media_type(self.algorithm)
    }
}

/// The OCI layer media type of a compression.
pub fn media_type(algorithm: Compression) -> &'static str {
    match algorithm {
        Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        Compression::None => "application/vnd.oci.image.layer.v1.tar",
    }
}

/// A writer that compresses into `W`.
pub enum Encoder<W: Write> {
    Gzip(ParallelGzipWriter<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
    None(W),
}

impl<W: Write> Encoder<W> {
    pub fn new(out: W, settings: CompressionSettings) -> io::Result<Self> {
        Ok(match settings.algorithm {
            Compression::Gzip => Encoder::Gzip(ParallelGzipWriter::new(out, settings.level as u32, settings.jobs)?),
            Compression::Zstd => {
                let mut encoder = zstd::stream::write::Encoder::new(out, settings.level)?;
                // zstd's multithreaded output is the same for any number of workers >= 1, but differs
                // from single-threaded mode: always use workers so jobs never change the bytes.
                encoder.multithread(settings.jobs.max(1) as u32)?;
                encoder.include_checksum(true)?;
                encoder.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB_SIZE))?;
                Encoder::Zstd(encoder)
            }
            Compression::None => Encoder::None(out),
        })
    }

    /// Ends the compressed stream and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Gzip(writer) => writer.finish(),
            Encoder::Zstd(writer) => writer.finish(),
            Encoder::None(mut writer) => {
                writer.flush()?;
                Ok(writer)
            }
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(writer) => writer.write(buf),
            Encoder::Zstd(writer) => writer.write(buf),
            Encoder::None(writer) => writer.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Gzip(writer) => writer.write_all(buf),
            Encoder::Zstd(writer) => writer.write_all(buf),
            Encoder::None(writer) => writer.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(writer) => writer.flush(),
            Encoder::Zstd(writer) => writer.flush(),
            Encoder::None(writer) => writer.flush(),
        }
    }
}

/// Compression of an input file, as told by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    Gzip,
    Zstd,
    /// Anything else; whether it really is a tar is found out by reading it.
    Plain,
}

impl Sniffed {
    /// The blob compression of this input when it is kept as it is.
    pub fn compression(self) -> Compression {
        match self {
            Sniffed::Gzip => Compression::Gzip,
            Sniffed::Zstd => Compression::Zstd,
            Sniffed::Plain => Compression::None,
        }
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Looks at the first bytes of `reader` without consuming them.
pub fn sniff<R: BufRead>(reader: &mut R) -> io::Result<Sniffed> {
    let mut head = reader.fill_buf()?;
    // `fill_buf` may return fewer bytes than a magic number at a buffer boundary; files here are
    // read from the start, where a fresh buffer holds far more than four bytes unless the file is
    // shorter than that.
    if head.len() > 4 {
        head = &head[..4];
    }
    Ok(if head.starts_with(&GZIP_MAGIC) {
        Sniffed::Gzip
    } else if head.starts_with(&ZSTD_MAGIC) {
        Sniffed::Zstd
    } else {
        Sniffed::Plain
    })
}

/// A reader of the decompressed stream. Gzip inputs may consist of several members (eStargz blobs
/// and `cat a.gz b.gz` do); all of them are read.
pub fn decoder<'a, R: BufRead + 'a>(reader: R, kind: Sniffed) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match kind {
        Sniffed::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Sniffed::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(reader)?),
        Sniffed::Plain => Box::new(reader),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_checked_and_defaults_resolved() {
        let gzip = CompressionSettings::new(Compression::Gzip, None, 3).unwrap();
        assert_eq!((gzip.level, gzip.jobs), (6, 3));
        assert_eq!(CompressionSettings::new(Compression::Zstd, None, 1).unwrap().level, 3);
        assert!(matches!(CompressionSettings::new(Compression::Gzip, Some(10), 1), Err(CompressError::GzipLevel(10))));
        assert!(CompressionSettings::new(Compression::Zstd, Some(99), 1).is_err());
        assert!(CompressionSettings::new(Compression::Gzip, None, 0).unwrap().jobs >= 1);
    }

    #[test]
    fn zstd_bytes_do_not_depend_on_the_number_of_workers() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8 ^ (i / 4096) as u8).collect();
        let compress = |jobs| {
            let settings = CompressionSettings::new(Compression::Zstd, Some(3), jobs).unwrap();
            let mut encoder = Encoder::new(Vec::new(), settings).unwrap();
            encoder.write_all(&data).unwrap();
            encoder.finish().unwrap()
        };
        assert_eq!(compress(1), compress(2));
        assert_eq!(compress(1), compress(4));
    }

    #[test]
    fn sniffing_uses_magic_bytes_and_the_decoder_round_trips() {
        let mut gz = Encoder::new(Vec::new(), CompressionSettings::new(Compression::Gzip, None, 1).unwrap()).unwrap();
        gz.write_all(b"payload").unwrap();
        let gz = gz.finish().unwrap();
        let mut reader = io::BufReader::new(&gz[..]);
        assert_eq!(sniff(&mut reader).unwrap(), Sniffed::Gzip);
        let mut out = String::new();
        decoder(reader, Sniffed::Gzip).unwrap().read_to_string(&mut out).unwrap();
        assert_eq!(out, "payload");
        assert_eq!(sniff(&mut &b"\x28\xb5\x2f\xfdxx"[..]).unwrap(), Sniffed::Zstd);
        assert_eq!(sniff(&mut &b"ab"[..]).unwrap(), Sniffed::Plain);
    }
}
