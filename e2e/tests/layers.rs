//! The example layers (`examples/layers`) built by real Bazel 7.7.1 and by the Buck2 model, each
//! checked without our code (GNU tar listing against a golden shared by both systems, sha256sum of
//! the blob and of the decompressed stream against the metadata, gzip -t / zstd -t), identical
//! bytes across systems, modes and clean rebuilds.

use std::collections::BTreeMap;
use std::path::Path;

use e2e::bazel::{Bazel7, Mode, Workspace};
use e2e::examples::{bazel_workspace, buck2_project, check_layer, layer_files, CheckedLayer, SHARED_LAYERS};
use e2e::tool::repo_root;

fn assert_listing(name: &str, listing: &str) {
    insta::with_settings!({
        snapshot_path => repo_root().join("snapshots/layers"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
        description => format!("tar -tvv (GNU tar) of a layer of examples/layers"),
    }, {
        insta::assert_snapshot!(name, listing);
    });
}

fn buck2_layers(dir: &Path, names: &[&str]) -> BTreeMap<String, CheckedLayer> {
    let project = buck2_project(dir);
    let mut checked = BTreeMap::new();
    for name in names {
        let blob = project.build(&format!("root//layers:{name}")).unwrap();
        let metadata = project.build_sub_target(&format!("root//layers:{name}[metadata]")).unwrap();
        let layer = check_layer(&blob[0], &metadata[0]).unwrap_or_else(|e| panic!("//layers:{name} on Buck2: {e}"));
        checked.insert(name.to_string(), layer);
    }
    checked
}

fn bazel_layers(ws: &Workspace, names: &[&str]) -> BTreeMap<String, CheckedLayer> {
    let targets: Vec<String> = names.iter().map(|n| format!("//layers:{n}")).collect();
    let mut args: Vec<&str> = vec!["--output_groups=+metadata"];
    args.extend(targets.iter().map(String::as_str));
    ws.build(&args).unwrap();
    let mut checked = BTreeMap::new();
    for (name, target) in names.iter().zip(&targets) {
        let outputs = ws.output_files_with(target, &["--output_groups=+metadata"]).unwrap();
        let (blob, metadata) = layer_files(&outputs);
        let layer = check_layer(&blob, &metadata).unwrap_or_else(|e| panic!("{target} on Bazel ({}): {e}", ws.mode()));
        checked.insert(name.to_string(), layer);
    }
    checked
}

#[test]
fn example_layers_build_in_the_buck2_model_and_pass_independent_checks() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<&str> = SHARED_LAYERS.iter().copied().chain(["sh", "group", "flattened"]).collect();
    let layers = buck2_layers(dir.path(), &names);
    assert_eq!(
        layers["annotated"].annotations,
        ["org.example.from-file=yes", "org.example.layer=annotated", "org.example.team=images"]
    );
    for (name, layer) in layers {
        let shared = SHARED_LAYERS.contains(&name.as_str());
        assert_listing(&if shared { name } else { format!("buck2_{name}") }, &layer.listing);
    }
}

#[test]
#[ignore = "needs the Bazel 7 chroot (scripts/bazel7-chroot.sh)"]
fn example_layers_on_bazel_match_buck2_byte_for_byte_in_both_modes_and_from_clean() {
    let dir = tempfile::tempdir().unwrap();
    let buck2 = buck2_layers(dir.path(), SHARED_LAYERS);
    let bazel = Bazel7::find().unwrap();
    let names: Vec<&str> = SHARED_LAYERS.iter().copied().chain(["cc", "py", "group", "flattened"]).collect();
    for mode in Mode::ALL {
        let ws = bazel_workspace(&bazel, mode).unwrap();
        let first = bazel_layers(&ws, &names);
        for (name, layer) in &first {
            let shared = SHARED_LAYERS.contains(&name.as_str());
            // Runfiles differ between modes: `_main` and `_repo_mapping` are bzlmod's.
            assert_listing(&if shared { name.clone() } else { format!("bazel_{mode}_{name}") }, &layer.listing);
            if let Some(other) = buck2.get(name) {
                assert_eq!(layer, other, "//layers:{name}: Bazel ({mode}) and Buck2 differ");
            }
        }
        ws.bazel_ok(&["clean"]).unwrap();
        let again = bazel_layers(&ws, &names);
        assert_eq!(first, again, "a build from clean ({mode}) gave other bytes");
    }
}
