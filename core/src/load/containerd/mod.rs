//! Loading straight into containerd's content store, incrementally: every blob is first looked up
//! (`Info`) and only the missing ones are written, so reloading an image after one small layer
//! changed writes that layer and the new manifest and config, nothing else.
//!
//! Order matters for both garbage collection and failures: everything happens under a lease
//! (expiring in an hour, so a killed load leaves nothing behind for long); layers and configs go in
//! first, then manifests carrying the gc labels that reference them, then the index; the image
//! names are created or moved only once every blob is in. A load that dies midway therefore never
//! leaves a name pointing at an incomplete image.

pub mod api;
mod unpack;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt, TryStreamExt};
use tonic::{Code, Status};

use self::api::{Client, Descriptor, WriteContentRequest, WRITE_ACTION_COMMIT, WRITE_ACTION_WRITE};
use super::plan::{Blob, Plan};
use super::socket::{dial, Dial};
use super::source::Sources;
use super::{LoadError, Summary};
use crate::registry::progress::human_bytes;

/// Blobs written at once.
const JOBS: usize = 4;
/// How long the lease keeps what a load wrote if the load never finishes.
const LEASE_EXPIRY: Duration = Duration::from_secs(3600);
/// How long to wait for another writer of the same blob (another load of the same image).
const LOCKED_RETRIES: u32 = 120;

const GC_CONFIG: &str = "containerd.io/gc.ref.content.config";
const GC_LAYER: &str = "containerd.io/gc.ref.content.l.";
const GC_MANIFEST: &str = "containerd.io/gc.ref.content.m.";
const GC_EXPIRE: &str = "containerd.io/gc.expire";

/// What to load: the plan, and which of its images (all of a manifest root; the chosen children
/// of an index, whose other children stay absent, as after `ctr pull --platform`).
pub struct Target<'a> {
    pub plan: &'a Plan,
    pub chosen: &'a [usize],
    pub names: &'a [String],
    /// Unpack into this snapshotter before naming (`--unpack`).
    pub unpack: Option<&'a str>,
}

/// Loads `target` into the containerd at `socket`, in `namespace`.
pub async fn load(
    socket: &Path,
    namespace: &str,
    target: &Target<'_>,
    sources: &Sources,
) -> Result<Summary, LoadError> {
    let mut client =
        Client::connect(socket, namespace).await.map_err(|err| gone(socket, "connecting", &err.to_string()))?;
    let lease = format!("img-load-{}", uuid::Uuid::new_v4());
    let expiry = time::OffsetDateTime::now_utc() + LEASE_EXPIRY;
    let expiry = expiry.format(&time::format_description::well_known::Rfc3339).expect("a time formats as RFC 3339");
    if let Err(status) = client.create_lease(&lease, HashMap::from([(GC_EXPIRE.to_owned(), expiry)])).await {
        return Err(failed(socket, "creating a lease", status).await);
    }
    client.set_lease(Some(lease.clone()));
    let result = load_under_lease(&client, &lease, namespace, target, sources).await;
    // The names (on success) now hold everything; on failure the content goes with the lease.
    let _ = client.delete_lease(&lease).await;
    result
}

async fn load_under_lease(
    client: &Client,
    lease: &str,
    namespace: &str,
    target: &Target<'_>,
    sources: &Sources,
) -> Result<Summary, LoadError> {
    let counters = Counters::default();
    let images: Vec<_> = target.chosen.iter().map(|&i| &target.plan.images[i]).collect();

    // Layers and configs, each digest once, several at a time.
    let mut seen = HashSet::new();
    let leaves: Vec<&Blob> = images
        .iter()
        .flat_map(|image| image.layers.iter().chain([&image.config]))
        .filter(|blob| seen.insert(blob.digest.clone()))
        .collect();
    futures::stream::iter(leaves)
        .map(|blob| ensure(client, lease, blob, HashMap::new(), sources, &counters))
        .buffer_unordered(JOBS)
        .try_collect::<Vec<()>>()
        .await?;

    // Manifests, with the labels that keep their config and layers alive.
    for image in &images {
        let mut labels = HashMap::from([(GC_CONFIG.to_owned(), image.config.digest.clone())]);
        for (i, layer) in image.layers.iter().enumerate() {
            labels.insert(format!("{GC_LAYER}{i}"), layer.digest.clone());
        }
        ensure(client, lease, &image.manifest, labels, sources, &counters).await?;
    }

    let root = match &target.plan.index {
        Some(index) => {
            let labels = images
                .iter()
                .enumerate()
                .map(|(i, image)| (format!("{GC_MANIFEST}{i}"), image.manifest.digest.clone()))
                .collect();
            ensure(client, lease, index, labels, sources, &counters).await?;
            index
        }
        None => &images[0].manifest,
    };

    let mut notes = Vec::new();
    if let Some(snapshotter) = target.unpack {
        let mut applied = 0;
        for image in &images {
            applied += unpack::unpack(client, image, snapshotter).await?;
        }
        let layers: usize = images.iter().map(|image| image.layers.len()).sum();
        notes.push(format!("unpacked into {snapshotter}: {applied} of {layers} layer(s) applied, the rest were there"));
    }

    // Every blob is in: only now do names appear or move.
    let descriptor = Descriptor {
        media_type: root.media_type.clone(),
        digest: root.digest.clone(),
        size: root.size as i64,
        annotations: HashMap::new(),
    };
    let names = match target.names {
        // An image without a record would be garbage once the lease ends: name it by digest, the
        // way docker names untagged images in its containerd store.
        [] => {
            let name = format!("{}@{}", if namespace == "moby" { "moby-dangling" } else { "untagged" }, root.digest);
            notes.push(format!("the request has no name; the image is kept as {name}"));
            vec![name]
        }
        names => names.to_vec(),
    };
    for (i, name) in names.iter().enumerate() {
        if let Err(mut err) = name_image(client, name, &descriptor).await {
            if let LoadError::ContainerdGone { named, .. } = &mut err {
                *named = names[..i].to_vec();
            }
            return Err(err);
        }
    }
    Ok(Summary {
        daemon: format!("containerd at {} (namespace {namespace})", client.socket.display()),
        names,
        digest: root.digest.clone(),
        blobs_present: counters.present.load(Ordering::Relaxed),
        blobs_written: counters.written.load(Ordering::Relaxed),
        bytes_written: counters.bytes.load(Ordering::Relaxed),
        notes,
    })
}

#[derive(Default)]
struct Counters {
    present: AtomicUsize,
    written: AtomicUsize,
    bytes: AtomicU64,
}

/// Makes sure the store has `blob` with (at least) `labels`: present content only gets missing
/// labels added and is put under the lease; absent content is written.
async fn ensure(
    client: &Client,
    lease: &str,
    blob: &Blob,
    labels: HashMap<String, String>,
    sources: &Sources,
    counters: &Counters,
) -> Result<(), LoadError> {
    let socket = &client.socket;
    for _ in 0..LOCKED_RETRIES {
        match client.info(&blob.digest).await {
            Ok(Some(info)) => return keep_present(client, lease, blob, labels, info.labels, counters).await,
            Ok(None) => {}
            Err(status) => return Err(failed(socket, &format!("looking up {}", blob.what), status).await),
        }
        match write(client, blob, &labels, sources).await {
            Ok(bytes) => {
                counters.written.fetch_add(1, Ordering::Relaxed);
                counters.bytes.fetch_add(bytes, Ordering::Relaxed);
                eprintln!("img load: wrote {} {} ({})", short(&blob.digest), blob.what, human_bytes(bytes));
                return Ok(());
            }
            // Someone else committed it meanwhile: it is present now.
            Err(WriteError::Status(status)) if status.code() == Code::AlreadyExists => continue,
            // Another load is writing the same blob right now: wait for it.
            Err(WriteError::Status(status))
                if status.code() == Code::Unavailable && status.message().contains("locked") =>
            {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(WriteError::Status(status)) => {
                return Err(failed(socket, &format!("writing {}", blob.what), status).await)
            }
            Err(WriteError::Load(err)) => return Err(err),
        }
    }
    Err(LoadError::Containerd {
        socket: socket.clone(),
        what: format!("writing {}", blob.what),
        reason: format!("another writer held it for {LOCKED_RETRIES} s"),
    })
}

async fn keep_present(
    client: &Client,
    lease: &str,
    blob: &Blob,
    wanted: HashMap<String, String>,
    existing: HashMap<String, String>,
    counters: &Counters,
) -> Result<(), LoadError> {
    let socket = &client.socket;
    counters.present.fetch_add(1, Ordering::Relaxed);
    // Present content may belong to nothing yet (an earlier load that died): the lease keeps the
    // garbage collector off it until the names hold it.
    if let Err(status) = client.lease_content(lease, &blob.digest).await {
        return Err(failed(socket, &format!("protecting {}", blob.what), status).await);
    }
    let missing: HashMap<String, String> =
        wanted.into_iter().filter(|(key, value)| existing.get(key) != Some(value)).collect();
    if !missing.is_empty() {
        if let Err(status) = client.set_labels(&blob.digest, missing).await {
            return Err(failed(socket, &format!("labelling {}", blob.what), status).await);
        }
    }
    Ok(())
}

enum WriteError {
    Status(Status),
    Load(LoadError),
}

/// Streams one blob into a content write and commits it with its expected digest and size
/// (containerd verifies both). Returns the bytes sent.
async fn write(
    client: &Client,
    blob: &Blob,
    labels: &HashMap<String, String>,
    sources: &Sources,
) -> Result<u64, WriteError> {
    let mut stream = sources.open(blob).await.map_err(WriteError::Load)?;
    let (mut tx, rx) = futures::channel::mpsc::channel::<WriteContentRequest>(2);
    let reference = format!("img-load-{}", blob.digest);
    let total = blob.size as i64;
    let expected = blob.digest.clone();
    let commit_labels = labels.clone();
    let what = blob.what.clone();

    // The producer reads the blob and feeds the request stream; it stops quietly when the
    // stream is closed, because then the response side holds the real error.
    let produce = async move {
        let mut offset = 0i64;
        while let Some(piece) = stream.next().await {
            let piece = piece.map_err(|source| WriteError::Load(LoadError::Stream { what: what.clone(), source }))?;
            let first = offset == 0;
            let len = piece.len() as i64;
            let request = WriteContentRequest {
                action: WRITE_ACTION_WRITE,
                r#ref: reference.clone(),
                // Expected digest and size go on the first message (containerd's writer checks
                // them at commit) and the commit; on others an `expected` would re-run the
                // "already exists" check for every piece.
                total: if first { total } else { 0 },
                expected: if first { expected.clone() } else { String::new() },
                offset,
                data: piece,
                labels: HashMap::new(),
            };
            if tx.send(request).await.is_err() {
                return Ok(offset as u64);
            }
            offset += len;
        }
        let commit = WriteContentRequest {
            action: WRITE_ACTION_COMMIT,
            r#ref: reference.clone(),
            total,
            expected: expected.clone(),
            offset,
            data: bytes::Bytes::new(),
            labels: commit_labels,
        };
        let _ = tx.send(commit).await;
        Ok::<u64, WriteError>(offset as u64)
    };
    let consume = async {
        let mut responses = client.write(rx).await.map_err(WriteError::Status)?;
        let mut committed = false;
        while let Some(response) = responses.message().await.map_err(WriteError::Status)? {
            committed |= response.action == WRITE_ACTION_COMMIT;
        }
        if !committed {
            return Err(WriteError::Status(Status::unavailable("the write stream ended before the commit")));
        }
        Ok(())
    };
    let (sent, ()) = futures::try_join!(produce, consume)?;
    Ok(sent)
}

/// Creates image `name` pointing at `target`, or moves an existing one there.
async fn name_image(client: &Client, name: &str, target: &Descriptor) -> Result<(), LoadError> {
    let socket = &client.socket;
    let image = api::Image { name: name.to_owned(), target: Some(target.clone()), ..Default::default() };
    let existing = match client.get_image(name).await {
        Ok(existing) => existing,
        Err(status) => return Err(failed(socket, &format!("looking up image {name}"), status).await),
    };
    let result = match existing {
        Some(_) => client.update_image_target(image).await,
        None => match client.create_image(image.clone()).await {
            // Created by someone else between our Get and Create.
            Err(status) if status.code() == Code::AlreadyExists => client.update_image_target(image).await,
            other => other,
        },
    };
    match result {
        Ok(()) => Ok(()),
        Err(status) => Err(failed(socket, &format!("naming the image {name}"), status).await),
    }
}

/// A failed call: if the connection broke, or containerd no longer answers at all, it went away
/// (say so, and that nothing was named); otherwise it refused, and its message says why.
async fn failed(socket: &Path, what: &str, status: Status) -> LoadError {
    let reason = format!("{:?}: {}", status.code(), status.message());
    if matches!(status.code(), Code::Unavailable | Code::Unknown | Code::Cancelled | Code::Internal)
        && (connection_broke(&status) || dial(socket).await != Dial::Ok)
    {
        return gone(socket, what, &reason);
    }
    LoadError::Containerd { socket: socket.to_owned(), what: what.to_owned(), reason }
}

/// tonic's words for a connection that broke under a call (as opposed to containerd refusing it).
fn connection_broke(status: &Status) -> bool {
    let message = status.message().to_ascii_lowercase();
    ["transport error", "h2 protocol error", "broken pipe", "connection reset", "error trying to connect"]
        .iter()
        .any(|words| message.contains(words))
}

fn gone(socket: &Path, what: &str, reason: &str) -> LoadError {
    LoadError::ContainerdGone {
        socket: socket.to_owned(),
        what: what.to_owned(),
        reason: reason.to_owned(),
        named: Vec::new(),
    }
}

/// `sha256:0123456789ab`.
fn short(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}
