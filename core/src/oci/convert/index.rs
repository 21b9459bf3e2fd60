//! `img index-from-oci-layout`: the image index at the root of an OCI layout, as it is. Its
//! children are imported one platform at a time by `img manifest-from-oci-layout`.

use std::path::Path;

use img_contract::image::{IndexFromOciLayoutOutputs, IndexFromOciLayoutRequest};
use oci_spec::image::{Descriptor, ImageIndex, MediaType};

use super::source::SourceLayout;
use super::{is_index, is_manifest, ConvertError};
use crate::atomic::{self, PendingOutput};
use crate::oci::json;

/// Runs `img index-from-oci-layout`.
pub fn build(request: &IndexFromOciLayoutRequest, outputs: &IndexFromOciLayoutOutputs) -> Result<(), ConvertError> {
    let paths = [&outputs.index, &outputs.descriptor, &outputs.digest].map(|p| Path::new(p.as_str()));
    atomic::clean_on_error(&paths, import(request, outputs))
}

fn import(request: &IndexFromOciLayoutRequest, outputs: &IndexFromOciLayoutOutputs) -> Result<(), ConvertError> {
    let layout = SourceLayout::open(Path::new(&request.src))?;
    let (bytes, descriptor) = root_index(&layout)?;
    let descriptor_bytes = json::to_bytes(&descriptor);
    let digest = descriptor.digest().to_string();
    let mut pending = Vec::with_capacity(3);
    for (path, bytes) in [
        (&outputs.index, &bytes[..]),
        (&outputs.descriptor, &descriptor_bytes[..]),
        (&outputs.digest, digest.as_bytes()),
    ] {
        let mut output = PendingOutput::create(Path::new(path))?;
        output.write_all(bytes)?;
        pending.push(output);
    }
    Ok(atomic::commit_all(pending)?)
}

/// The layout's root index and its descriptor (media type, digest, size). `index.json` either
/// points at one index blob (`skopeo copy --all`, rules_oci's oci_image_index) or is itself the
/// index of the images (then it is taken as it is on disk).
fn root_index(layout: &SourceLayout) -> Result<(Vec<u8>, Descriptor), ConvertError> {
    match layout.index.manifests().as_slice() {
        [] => Err(ConvertError::NoImage { layout: layout.dir().to_owned() }),
        [root] if is_index(root.media_type()) => {
            let bytes = layout.read_document(root, "image index")?;
            // Only to be sure that the blob is an index: its bytes are what is written.
            let _: ImageIndex = layout.parse(root, &bytes, "image index")?;
            Ok((bytes, Descriptor::new(root.media_type().clone(), root.size(), root.digest().clone())))
        }
        [root] if is_manifest(root.media_type()) => {
            Err(ConvertError::RootIsManifest { layout: layout.dir().to_owned(), digest: root.digest().to_string() })
        }
        _ => {
            let media_type = layout.index.media_type().clone().unwrap_or(MediaType::ImageIndex);
            Ok((layout.index_bytes.clone(), json::descriptor_of(media_type, &layout.index_bytes)))
        }
    }
}
