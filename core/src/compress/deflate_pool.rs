//! A pool of threads that turn blocks of bytes into raw deflate, handed back in submission order.
//!
//! Both the parallel gzip writer (one gzip member made of many blocks) and the eStargz writer (many
//! independent gzip members) feed this pool. A job's output depends only on the job (its bytes, its
//! dictionary, whether it ends the stream and the level), never on which thread ran it or how many
//! threads there are: that is what makes blobs independent of `compression_jobs`.

use std::collections::VecDeque;
use std::io;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, Compression, FlushCompress, Status};

/// Deflate's window: a block may refer back this far into the bytes before it.
pub const WINDOW: usize = 32 * 1024;

/// One block to compress.
pub struct DeflateJob {
    /// The uncompressed bytes.
    pub data: Vec<u8>,
    /// The (up to 32 KiB) bytes that precede `data` in the stream; empty for a stream's first block.
    pub dictionary: Vec<u8>,
    /// Whether this block ends the deflate stream (sets BFINAL); otherwise it ends with a sync flush
    /// so that the next block starts on a byte boundary and can simply be appended.
    pub last: bool,
}

/// A compressed block.
pub struct Deflated {
    /// Raw deflate bytes.
    pub compressed: Vec<u8>,
    /// CRC-32 of the uncompressed bytes (to be combined into the gzip trailer).
    pub crc: crc32fast::Hasher,
    /// Number of uncompressed bytes.
    pub len: u64,
    /// The job's input buffer, handed back for reuse.
    pub data: Vec<u8>,
}

type Task = (DeflateJob, mpsc::SyncSender<io::Result<Deflated>>);

/// Uncompressed bytes in flight per worker before `submit` waits: room for one 4 MiB eStargz chunk
/// per worker (small blocks are bounded by count instead).
const PENDING_BYTES_PER_JOB: usize = 4 << 20;

/// Worker threads plus the queue of results not yet handed back, oldest first.
pub struct DeflatePool {
    tasks: Option<mpsc::SyncSender<Task>>,
    workers: Vec<JoinHandle<()>>,
    pending: VecDeque<(mpsc::Receiver<io::Result<Deflated>>, usize)>,
    pending_bytes: usize,
    max_pending: usize,
    max_pending_bytes: usize,
    /// Results already waited for, to be handed back before any pending one.
    ready: VecDeque<Deflated>,
}

impl DeflatePool {
    /// Starts `jobs` (at least one) worker threads compressing at `level` (0-9).
    pub fn new(jobs: usize, level: u32) -> Self {
        let jobs = jobs.max(1);
        let (tasks, receiver) = mpsc::sync_channel::<Task>(jobs);
        let receiver = Arc::new(Mutex::new(receiver));
        let workers = (0..jobs)
            .map(|_| {
                let receiver = Arc::clone(&receiver);
                std::thread::spawn(move || work(&receiver, level))
            })
            .collect();
        // Two jobs per worker in flight keep every worker busy while the caller produces input;
        // the byte bound keeps large jobs from multiplying memory.
        Self {
            tasks: Some(tasks),
            workers,
            pending: VecDeque::new(),
            pending_bytes: 0,
            max_pending: 2 * jobs,
            max_pending_bytes: jobs * PENDING_BYTES_PER_JOB,
            ready: VecDeque::new(),
        }
    }

    /// Queues a job. While the queue is full (by count or bytes), first waits for the oldest jobs;
    /// their results are then handed out by [`DeflatePool::take_ready`].
    pub fn submit(&mut self, job: DeflateJob) -> io::Result<()> {
        let len = job.data.len();
        while !self.pending.is_empty()
            && (self.pending.len() >= self.max_pending || self.pending_bytes + len > self.max_pending_bytes)
        {
            let done = self.wait_oldest().expect("queue is not empty")?;
            self.ready.push_back(done);
        }
        let (result_sender, result) = mpsc::sync_channel(1);
        self.tasks
            .as_ref()
            .expect("pool is running")
            .send((job, result_sender))
            .map_err(|_| io::Error::other("deflate worker stopped"))?;
        self.pending.push_back((result, len));
        self.pending_bytes += len;
        Ok(())
    }

    /// A result already waited for, if any (never blocks).
    pub fn take_ready(&mut self) -> Option<Deflated> {
        self.ready.pop_front()
    }

    /// The next result in submission order, waiting for it; `None` when nothing is queued.
    pub fn next_result(&mut self) -> Option<io::Result<Deflated>> {
        match self.ready.pop_front() {
            Some(done) => Some(Ok(done)),
            None => self.wait_oldest(),
        }
    }

    fn wait_oldest(&mut self) -> Option<io::Result<Deflated>> {
        let (result, len) = self.pending.pop_front()?;
        self.pending_bytes -= len;
        Some(result.recv().unwrap_or_else(|_| Err(io::Error::other("deflate worker panicked"))))
    }
}

impl Drop for DeflatePool {
    fn drop(&mut self) {
        self.pending.clear();
        self.tasks = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn work(receiver: &Mutex<mpsc::Receiver<Task>>, level: u32) {
    loop {
        let task = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok((job, result)) = task else { return };
        let _ = result.send(deflate(level, job));
    }
}

/// Compresses one job with a fresh compressor, so the output depends on the job alone.
///
/// A fresh compressor per job, not `Compress::reset`: with the zlib-rs backend a reset compressor
/// still produced output that depended on the jobs it had compressed before (seen as blobs that
/// differed between 1 and 2 jobs), and the allocation is cheap next to compressing 256 KiB.
pub fn deflate(level: u32, job: DeflateJob) -> io::Result<Deflated> {
    // Raw deflate (no zlib header), full 32 KiB window.
    let mut compressor = Compress::new(Compression::new(level), false);
    if !job.dictionary.is_empty() {
        compressor.set_dictionary(&job.dictionary).map_err(io::Error::other)?;
    }
    let flush = if job.last { FlushCompress::Finish } else { FlushCompress::Sync };
    // Room for the worst case (stored blocks) up front, so the output buffer never fills: with
    // zlib-rs the deflate blocks come out differently when it does (measured: 25 of 4057 blocks of
    // the 1 GB benchmark changed with a half-size, growing buffer), which would tie the bytes to
    // buffer sizes. Pages of an untouched large allocation are never made resident.
    let mut compressed = Vec::with_capacity(job.data.len() + job.data.len() / 64 + 1024);
    let start = compressor.total_in();
    loop {
        // Never reached with the capacity above; kept so a full buffer can only ever grow (zlib
        // also asks for more than six free bytes around sync flushes).
        if compressed.capacity() - compressed.len() < 64 {
            compressed.reserve(compressed.capacity().max(4096));
        }
        let consumed = (compressor.total_in() - start) as usize;
        let status =
            compressor.compress_vec(&job.data[consumed..], &mut compressed, flush).map_err(io::Error::other)?;
        let all_in = (compressor.total_in() - start) as usize == job.data.len();
        let done = match status {
            Status::StreamEnd => true,
            // A sync flush is complete once all input is in and the output was not full.
            _ => !job.last && all_in && compressed.len() < compressed.capacity(),
        };
        if done {
            break;
        }
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&job.data);
    Ok(Deflated { compressed, crc, len: job.data.len() as u64, data: job.data })
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn inflate_raw(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(bytes).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn blocks_with_dictionaries_concatenate_to_one_deflate_stream() {
        let text: Vec<u8> = (0..200_000u32).flat_map(|i| format!("line {} of text\n", i % 977).into_bytes()).collect();
        let (first, second) = text.split_at(100_000);
        let mut pool = DeflatePool::new(2, 6);
        let dictionary = first[first.len() - WINDOW..].to_vec();
        pool.submit(DeflateJob { data: first.to_vec(), dictionary: Vec::new(), last: false }).unwrap();
        pool.submit(DeflateJob { data: second.to_vec(), dictionary, last: true }).unwrap();
        assert!(pool.take_ready().is_none());
        let a = pool.next_result().unwrap().unwrap();
        let b = pool.next_result().unwrap().unwrap();
        assert!(pool.next_result().is_none());
        let mut stream = a.compressed.clone();
        stream.extend_from_slice(&b.compressed);
        assert_eq!(inflate_raw(&stream), text);
        let mut crc = a.crc.clone();
        crc.combine(&b.crc);
        assert_eq!(crc.finalize(), crc32fast::hash(&text));
    }

    #[test]
    fn results_come_back_in_submission_order_when_the_queue_is_full() {
        let mut pool = DeflatePool::new(1, 1);
        let mut seen = Vec::new();
        for i in 0..10u8 {
            let job = DeflateJob { data: vec![i; 1000 * (10 - i as usize)], dictionary: Vec::new(), last: true };
            pool.submit(job).unwrap();
            while let Some(done) = pool.take_ready() {
                seen.push(done.data[0]);
            }
        }
        while let Some(done) = pool.next_result() {
            seen.push(done.unwrap().data[0]);
        }
        assert_eq!(seen, (0..10).collect::<Vec<u8>>());
    }
}
