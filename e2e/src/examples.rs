//! The example workspace (`examples/`) as a Bazel workspace in the chroot and as a Buck2 project
//! in the model, with the rendered rules and the `img` cargo builds; and checks of what they
//! build that do not use any of our code (GNU tar, sha256sum, gzip, zstd).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bazel::{Bazel7, BazelError, Mode, Workspace, WORKSPACE_PRELUDE};
use crate::buck2::Project;
use crate::tool::{img, repo_root};

/// Copies a directory tree, skipping build-system output links and locally placed binaries.
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in walkdir::WalkDir::new(from).follow_links(false) {
        let entry = entry.map_err(std::io::Error::other)?;
        let relative = entry.path().strip_prefix(from).expect("below its root");
        let first = relative.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned());
        if first.is_some_and(|c| c.starts_with("bazel-") || c == "buck-out") {
            continue;
        }
        let target = to.join(relative);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target)?;
        } else if entry.file_type().is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// `examples/` as a Bazel workspace in `mode`, with `@rules_img` pointing at the rendered module.
pub fn bazel_workspace(bazel: &Bazel7, mode: Mode) -> Result<Workspace, BazelError> {
    let mut ws = bazel.workspace(mode)?;
    let module = repo_root().join("bazel");
    ws.bind(&module);
    copy_tree(&repo_root().join("examples"), ws.path()).map_err(|source| BazelError::Io {
        action: "copying examples to",
        path: ws.path().to_owned(),
        source,
    })?;
    let dependency = mode.rules_img_dependency(&module);
    match mode {
        Mode::Bzlmod => {
            let text = format!(
                "module(name = \"rules_img_examples\")\n\n{dependency}\nbazel_dep(name = \"platforms\", version = \"0.0.10\")\n\n\
                 register_toolchains(\"//tools:img\")\n"
            );
            ws.write("MODULE.bazel", &text)?;
        }
        Mode::Workspace => {
            std::fs::remove_file(ws.path().join("MODULE.bazel")).ok();
            let text = format!(
                "workspace(name = \"rules_img_examples\")\n\n{WORKSPACE_PRELUDE}\n{dependency}\n\
                 load(\"@rules_img//img:dependencies.bzl\", \"rules_img_dependencies\")\n\n\
                 rules_img_dependencies()\n\nregister_toolchains(\"//tools:img\")\n"
            );
            ws.write("WORKSPACE", &text)?;
        }
    }
    let bin = ws.path().join("tools/bin");
    std::fs::create_dir_all(&bin).map_err(|source| BazelError::Io { action: "creating", path: bin.clone(), source })?;
    std::fs::copy(img(), bin.join("img")).map_err(|source| BazelError::Io {
        action: "copying img to",
        path: bin,
        source,
    })?;
    Ok(ws)
}

/// `examples/` as a Buck2 project in the model: the rendered cell at `rules_img/`, the model's
/// prelude standing in for the bundled one, and `img` in the toolchains cell.
pub fn buck2_project(dir: &Path) -> Project {
    copy_tree(&repo_root().join("examples"), dir).expect("copying examples");
    copy_tree(&repo_root().join("buck2"), &dir.join("rules_img")).expect("copying the rendered cell");
    copy_tree(&repo_root().join("e2e/fixtures/buck2/prelude"), &dir.join("prelude")).expect("copying the prelude");
    std::fs::copy(img(), dir.join("toolchains/img")).expect("copying img");
    Project::new(dir).expect("the examples are a Buck2 project")
}

/// The layers of `examples/layers` that are identical on both systems.
pub const SHARED_LAYERS: &[&str] = &[
    "files_gzip",
    "files_zstd",
    "files_estargz",
    "metadata",
    "parents",
    "tree",
    "from_tar_plain",
    "from_tar_gzip",
    "from_tar_zstd",
    "from_tar_optimized",
    "annotated",
];

/// What an independent check of a layer found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedLayer {
    pub digest: String,
    pub diff_id: String,
    pub media_type: String,
    /// The metadata's annotations, `key=value` sorted.
    pub annotations: Vec<String>,
    /// `tar -tvv` of the blob.
    pub listing: String,
}

fn run(command: &mut Command) -> Result<Vec<u8>, String> {
    let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if !output.status.success() {
        return Err(format!("{command:?} failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    Ok(output.stdout)
}

fn sha256_of_command(shell: &str) -> Result<String, String> {
    let out = run(Command::new("sh").arg("-c").arg(format!("{shell} | sha256sum")))?;
    let hex = String::from_utf8_lossy(&out).split_whitespace().next().unwrap_or_default().to_string();
    Ok(format!("sha256:{hex}"))
}

/// Checks a layer blob against its metadata with GNU tar, sha256sum, gzip and zstd only.
pub fn check_layer(blob: &Path, metadata: &Path) -> Result<CheckedLayer, String> {
    let text = std::fs::read_to_string(metadata).map_err(|e| format!("{}: {e}", metadata.display()))?;
    let meta: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", metadata.display()))?;
    let field =
        |name: &str| meta[name].as_str().map(str::to_string).ok_or(format!("{}: no {name}", metadata.display()));
    let (digest, diff_id, media_type) = (field("digest")?, field("diff_id")?, field("mediaType")?);
    let size = std::fs::metadata(blob).map_err(|e| e.to_string())?.len();
    if meta["size"].as_u64() != Some(size) {
        return Err(format!("{}: size {} but the blob has {size} bytes", metadata.display(), meta["size"]));
    }
    let quoted = format!("'{}'", blob.display());
    let actual = sha256_of_command(&format!("cat {quoted}"))?;
    if actual != digest {
        return Err(format!("{}: digest {digest} but sha256sum says {actual}", blob.display()));
    }
    let decompress = if media_type.ends_with("+gzip") {
        run(Command::new("gzip").arg("-t").arg(blob))?;
        format!("gzip -dc {quoted}")
    } else if media_type.ends_with("+zstd") {
        run(Command::new("zstd").arg("-q").arg("-t").arg(blob))?;
        format!("zstd -q -dc {quoted}")
    } else {
        format!("cat {quoted}")
    };
    let uncompressed = sha256_of_command(&decompress)?;
    if uncompressed != diff_id {
        return Err(format!(
            "{}: diff_id {diff_id} but the decompressed stream hashes to {uncompressed}",
            blob.display()
        ));
    }
    let listing = run(Command::new("sh").arg("-c").arg(format!("{decompress} | tar -tvv -f -")))?;
    let annotations = meta["annotations"]
        .as_object()
        .map(|map| map.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect())
        .unwrap_or_default();
    Ok(CheckedLayer {
        digest,
        diff_id,
        media_type,
        annotations,
        listing: String::from_utf8_lossy(&listing).into_owned(),
    })
}

/// The blob and metadata of a built layer, given the files a build printed.
pub fn layer_files(outputs: &[PathBuf]) -> (PathBuf, PathBuf) {
    let metadata = outputs.iter().find(|p| p.to_string_lossy().ends_with("_metadata.json")).cloned();
    let blob = outputs.iter().find(|p| !p.to_string_lossy().ends_with(".json")).cloned();
    (blob.expect("a layer blob"), metadata.expect("a metadata file"))
}
