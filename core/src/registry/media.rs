//! Media types of the documents a registry serves, and the Docker names of the OCI ones.

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_NONDISTRIBUTABLE_GZIP: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_LAYER_FOREIGN_GZIP: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// What `img pull` asks for: every manifest and index type it understands.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// Whether a media type names a list of manifests (OCI index or Docker manifest list).
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// The OCI media type of a layer (Docker's names map one to one; everything else is kept), so
/// that a manifest built on a pulled Docker image is a consistent OCI manifest.
pub fn oci_layer_type(media_type: &str) -> &str {
    match media_type {
        DOCKER_LAYER_GZIP => OCI_LAYER_GZIP,
        DOCKER_LAYER_FOREIGN_GZIP => OCI_LAYER_NONDISTRIBUTABLE_GZIP,
        other => other,
    }
}

/// The media type of a manifest document: its `mediaType` field, else what its shape says
/// (`manifests` makes an index).
pub fn of_document(document: &serde_json::Value) -> &str {
    match document.get("mediaType").and_then(|value| value.as_str()) {
        Some(media_type) if !media_type.is_empty() => media_type,
        _ if document.get("manifests").is_some() => OCI_INDEX,
        _ => OCI_MANIFEST,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_layer_types_map_to_oci() {
        assert_eq!(oci_layer_type(DOCKER_LAYER_GZIP), OCI_LAYER_GZIP);
        assert_eq!(oci_layer_type(DOCKER_LAYER_FOREIGN_GZIP), OCI_LAYER_NONDISTRIBUTABLE_GZIP);
        let zstd = "application/vnd.oci.image.layer.v1.tar+zstd";
        assert_eq!(oci_layer_type(zstd), zstd);
    }

    #[test]
    fn document_type_falls_back_to_its_shape() {
        assert_eq!(of_document(&serde_json::json!({"manifests": []})), OCI_INDEX);
        assert_eq!(of_document(&serde_json::json!({"layers": []})), OCI_MANIFEST);
        assert_eq!(of_document(&serde_json::json!({"mediaType": DOCKER_MANIFEST})), DOCKER_MANIFEST);
        assert!(is_index(DOCKER_MANIFEST_LIST) && !is_index(OCI_MANIFEST));
    }
}
