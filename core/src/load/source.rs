//! The bytes of a blob as a stream: a local file, a document in memory, or a base layer fetched
//! from its source registry (never written to disk), checked against its digest on the way.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use super::plan::{Blob, Content};
use super::LoadError;
use crate::digest::Sha256Counter;
use crate::registry::client::{http_client, Access, ClientOptions, Registry};

/// Size of the pieces blobs are read and sent in.
pub const CHUNK: usize = 1 << 20;

/// Registries base layers are fetched from, one client each, made when first needed. Clones
/// share the clients.
#[derive(Clone)]
pub struct Sources {
    options: Arc<ClientOptions>,
    http: Arc<Mutex<Option<reqwest::Client>>>,
    registries: Arc<Mutex<HashMap<String, Arc<Registry>>>>,
}

impl Sources {
    pub fn new(options: ClientOptions) -> Self {
        Self { options: Arc::new(options), http: Arc::default(), registries: Arc::default() }
    }

    fn registry(&self, host: &str) -> Result<Arc<Registry>, crate::registry::RegistryError> {
        let mut registries = self.registries.lock().expect("source registry map lock");
        if let Some(registry) = registries.get(host) {
            return Ok(registry.clone());
        }
        let http = {
            let mut http = self.http.lock().expect("http client lock");
            match &*http {
                Some(client) => client.clone(),
                None => http.insert(http_client()?).clone(),
            }
        };
        let registry = Arc::new(Registry::new(host, Access::Pull, &self.options, http)?);
        registries.insert(host.to_owned(), registry.clone());
        Ok(registry)
    }

    /// The blob's bytes in pieces of at most [`CHUNK`] bytes.
    pub async fn open(&self, blob: &Blob) -> Result<BoxStream<'static, io::Result<Bytes>>, LoadError> {
        match &blob.content {
            Content::Bytes(bytes) => Ok(futures::stream::iter([Ok(bytes.clone())]).boxed()),
            Content::File(path) => {
                let file =
                    tokio::fs::File::open(path).await.map_err(|source| LoadError::Io { path: path.clone(), source })?;
                Ok(tokio_util::io::ReaderStream::with_capacity(file, CHUNK).boxed())
            }
            Content::Remote(sources) => {
                let mut reasons = Vec::new();
                for source in sources {
                    let registry = self
                        .registry(&source.registry)
                        .map_err(|source| LoadError::Source { what: blob.what.clone(), source: Box::new(source) })?;
                    let what = format!("fetching {} from {}/{}", blob.what, source.registry, source.repository);
                    let response = registry.retry.run(&what, || registry.blob(&source.repository, &blob.digest)).await;
                    match response {
                        Ok(Some(response)) => {
                            let stream = response.bytes_stream().map_err(io::Error::other);
                            return Ok(verified(rechunk(stream.boxed()), blob));
                        }
                        Ok(None) => reasons.push(format!("{}/{}: no such blob", source.registry, source.repository)),
                        Err(err) => reasons.push(format!("{}/{}: {err}", source.registry, source.repository)),
                    }
                }
                Err(LoadError::NoSource {
                    what: blob.what.clone(),
                    digest: blob.digest.clone(),
                    reasons: reasons.join("; "),
                })
            }
        }
    }
}

/// Gathers the small pieces an HTTP body arrives in into [`CHUNK`]-sized ones.
fn rechunk(stream: BoxStream<'static, io::Result<Bytes>>) -> BoxStream<'static, io::Result<Bytes>> {
    futures::stream::unfold((stream, BytesMut::new(), false), |(mut stream, mut buffer, mut done)| async move {
        if done && buffer.is_empty() {
            return None;
        }
        while !done && buffer.len() < CHUNK {
            match stream.next().await {
                Some(Ok(piece)) => buffer.extend_from_slice(&piece),
                Some(Err(err)) => return Some((Err(err), (stream, buffer, true))),
                None => done = true,
            }
        }
        if buffer.is_empty() {
            return None;
        }
        let piece = buffer.split().freeze();
        Some((Ok(piece), (stream, buffer, done)))
    })
    .boxed()
}

/// Ends the stream with an error if it carries more than the blob's size or, at its last byte,
/// not the blob's digest: a registry's bytes are never taken on trust.
fn verified(stream: BoxStream<'static, io::Result<Bytes>>, blob: &Blob) -> BoxStream<'static, io::Result<Bytes>> {
    let (digest, size, what) = (blob.digest.clone(), blob.size, blob.what.clone());
    let mut hasher = Sha256Counter::default();
    let mut finished = false;
    stream
        .map(move |piece| {
            let piece = piece?;
            hasher.update(&piece);
            if hasher.size() > size {
                return Err(io::Error::other(format!("the registry sent more than the {size} bytes of {what}")));
            }
            if hasher.size() == size && !finished {
                finished = true;
                let actual = hasher.clone().finish().to_string();
                if actual != digest {
                    return Err(io::Error::other(format!("the registry sent {actual} for {what} ({digest})")));
                }
            }
            Ok(piece)
        })
        .boxed()
}
