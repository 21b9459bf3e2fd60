//! `img load --unpack`: turning the layers into snapshots the way containerd's client does, so the
//! first `ctr run` / `nerdctl run` need not. (Without it `ctr run` unpacks on demand.)
//!
//! For each layer, bottom up: the snapshot named by its chain ID is kept if it exists; otherwise an
//! active snapshot is prepared on the parent chain, the diff service applies the layer blob from
//! the content store into it, the applied digest is checked against the config's diff_id, and the
//! snapshot is committed under the chain ID. Finally the config gets the gc label that keeps the
//! top snapshot alive and each layer its `containerd.io/uncompressed` label.

use std::collections::HashMap;

use oci_spec::image::ImageConfiguration;

use super::api::{Client, Descriptor};
use super::failed;
use crate::digest::Sha256Digest;
use crate::load::plan::{Content, Image};
use crate::load::LoadError;

const UNCOMPRESSED: &str = "containerd.io/uncompressed";

/// Unpacks `image` into `snapshotter`; returns the number of layers applied (0 when every
/// snapshot already existed).
pub async fn unpack(client: &Client, image: &Image, snapshotter: &str) -> Result<usize, LoadError> {
    let socket = &client.socket;
    let diff_ids = diff_ids(image)?;
    let chain = chain_ids(&diff_ids);
    let mut applied = 0;
    let mut parent = String::new();
    for (i, (layer, chain_id)) in image.layers.iter().zip(&chain).enumerate() {
        let exists = match client.snapshot_exists(snapshotter, chain_id).await {
            Ok(exists) => exists,
            Err(status) => return Err(failed(socket, &format!("looking up snapshot {chain_id}"), status).await),
        };
        if !exists {
            let key = format!("extract-{} {chain_id}", uuid::Uuid::new_v4());
            let what = format!("unpacking {} into {snapshotter}", layer.what);
            let mounts = match client.prepare_snapshot(snapshotter, &key, &parent).await {
                Ok(mounts) => mounts,
                Err(status) => return Err(failed(socket, &what, status).await),
            };
            let diff = Descriptor {
                media_type: layer.media_type.clone(),
                digest: layer.digest.clone(),
                size: layer.size as i64,
                annotations: HashMap::new(),
            };
            let result = match client.apply(diff, mounts).await {
                Ok(applied) if applied.digest != diff_ids[i] => Err(LoadError::Containerd {
                    socket: socket.clone(),
                    what: what.clone(),
                    reason: format!("the layer unpacks to {}, but the config says {}", applied.digest, diff_ids[i]),
                }),
                Ok(_) => match client.commit_snapshot(snapshotter, chain_id, &key).await {
                    Ok(()) => Ok(()),
                    Err(status) => Err(failed(socket, &what, status).await),
                },
                Err(status) => Err(failed(socket, &what, status).await),
            };
            if let Err(err) = result {
                let _ = client.remove_snapshot(snapshotter, &key).await;
                return Err(err);
            }
            applied += 1;
        }
        let labels = HashMap::from([(UNCOMPRESSED.to_owned(), diff_ids[i].clone())]);
        if let Err(status) = client.set_labels(&layer.digest, labels).await {
            return Err(failed(socket, &format!("labelling {}", layer.what), status).await);
        }
        parent = chain_id.clone();
    }
    if let Some(top) = chain.last() {
        let labels = HashMap::from([(format!("containerd.io/gc.ref.snapshot.{snapshotter}"), top.clone())]);
        if let Err(status) = client.set_labels(&image.config.digest, labels).await {
            return Err(failed(socket, &format!("labelling {}", image.config.what), status).await);
        }
    }
    Ok(applied)
}

fn diff_ids(image: &Image) -> Result<Vec<String>, LoadError> {
    let Content::Bytes(bytes) = &image.config.content else { unreachable!("configs are documents") };
    let config: ImageConfiguration = serde_json::from_slice(bytes).map_err(|err| LoadError::Plan {
        path: image.config.what.clone().into(),
        reason: format!("not a valid image config: {err}"),
    })?;
    let diff_ids: Vec<String> = config.rootfs().diff_ids().clone();
    if diff_ids.len() != image.layers.len() {
        return Err(LoadError::Plan {
            path: image.config.what.clone().into(),
            reason: format!("it lists {} diff_ids for {} layers", diff_ids.len(), image.layers.len()),
        });
    }
    Ok(diff_ids)
}

/// OCI chain IDs: the first layer's diff_id, then `sha256(parent + " " + diff_id)`.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut chain: Vec<String> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let next = match chain.last() {
            None => diff_id.clone(),
            Some(parent) => Sha256Digest::of(format!("{parent} {diff_id}").as_bytes()).to_string(),
        };
        chain.push(next);
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_image_spec() {
        let a = "sha256:aaaa".to_owned();
        let b = "sha256:bbbb".to_owned();
        let chain = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(chain[0], a);
        assert_eq!(chain[1], Sha256Digest::of(b"sha256:aaaa sha256:bbbb").to_string());
    }
}
