//! The global settings on real Bazel 7.7.1: `--@rules_img//img/settings:<name>=<value>` changes
//! what `auto` attributes mean, and a value outside the allowed ones fails naming the flag.

use e2e::bazel::{Bazel7, Mode};
use e2e::examples::{bazel_workspace, layer_files};

#[test]
#[ignore = "needs the Bazel 7 chroot (scripts/bazel7-chroot.sh)"]
fn settings_flags_change_auto_attributes_and_bad_values_fail_naming_the_flag() {
    let bazel = Bazel7::find().unwrap();
    let ws = bazel_workspace(&bazel, Mode::Bzlmod).unwrap();
    let metadata_of = |flags: &[&str]| -> serde_json::Value {
        let mut args = vec!["--output_groups=+metadata"];
        args.extend_from_slice(flags);
        args.push("//layers:annotated");
        ws.build(&args).unwrap();
        let outputs =
            ws.output_files_with("//layers:annotated", &[&["--output_groups=+metadata"], flags].concat()).unwrap();
        let (blob, metadata) = layer_files(&outputs);
        let metadata: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(metadata).unwrap()).unwrap();
        assert!(blob.exists());
        metadata
    };

    let default = metadata_of(&[]);
    assert_eq!(default["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
    let zstd = metadata_of(&["--@rules_img//img/settings:compress=zstd"]);
    assert_eq!(zstd["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd");
    let estargz = metadata_of(&["--@rules_img//img/settings:estargz=enabled"]);
    assert!(estargz["annotations"]["containerd.io/snapshot/stargz/toc.digest"].is_string(), "{estargz}");
    // The gzip bytes depend on the level, never on the number of jobs.
    let best = metadata_of(&["--@rules_img//img/settings:compression_level=best"]);
    let one_job = metadata_of(&[
        "--@rules_img//img/settings:compression_level=best",
        "--@rules_img//img/settings:compression_jobs=1",
    ]);
    assert_eq!(best["digest"], one_job["digest"]);
    assert_eq!(best["diff_id"], default["diff_id"], "the level changes the blob, not the tar");

    let bad = ws.bazel(&["build", "--@rules_img//img/settings:compress=brotli", "//layers:annotated"]).unwrap();
    assert!(!bad.status.success());
    assert!(
        bad.stderr.contains("--@rules_img//img/settings:compress=brotli is not allowed; use one of: gzip, zstd."),
        "{}",
        bad.stderr
    );

    // The registry settings travel in the push request, where `img push` reads them.
    let flags = [
        "--output_groups=deploy_manifest",
        "--@rules_img//img/settings:credential_helper=/opt/bin/helper",
        "--@rules_img//img/settings:insecure=enabled",
    ];
    ws.build(&[&flags[..], &["//deploy:push"]].concat()).unwrap();
    let outputs = ws.output_files_with("//deploy:push", &flags).unwrap();
    let request = outputs.iter().find(|p| p.to_string_lossy().ends_with(".push.json")).expect("the push request");
    let request: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(request).unwrap()).unwrap();
    assert_eq!(request["credential_helper"], "/opt/bin/helper", "{request}");
    assert_eq!(request["docker_config_path"], serde_json::Value::Null, "{request}");
    assert_eq!(request["insecure"], true, "{request}");

    // An allowed value rules_img does not implement yet fails at analysis instead of quietly
    // meaning `eager`.
    let lazy = ws.bazel(&["build", "--@rules_img//img/settings:load_strategy=lazy", "//deploy:load"]).unwrap();
    assert!(!lazy.status.success());
    assert!(
        lazy.stderr.contains("strategy = \"auto\" takes the load_strategy setting, which is \"lazy\""),
        "{}",
        lazy.stderr
    );
}
