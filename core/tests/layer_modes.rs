//! Which files a layer makes executable: a source file keeps the executable bit it has on disk,
//! a generated file never has it (Bazel marks every output executable, Buck2 does not, and the
//! layer must be the same on both), a walked generated directory neither.

mod layer_support;
mod support;

use layer_support::*;
use serde_json::json;

const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

#[test]
fn generated_files_are_not_executable_whatever_their_mode_on_disk() {
    let ws = Workspace::new();
    let source = ws.executable("src/run.sh", "#!/bin/sh\n");
    let generated = ws.executable("out/data.txt", "made by an action\n");
    ws.executable("out/tree/inner.txt", "inside a directory output\n");
    let tree = ws.path("out/tree");
    let srcs = ws.path("srcs");
    std::fs::write(
        &srcs,
        format!(
            "bin/run.sh\0run.sh\0s{}\nshare/data.txt\0data.txt\0g{}\nshare/tree\0tree\0g{}\n",
            source.display(),
            generated.display(),
            tree.display()
        ),
    )
    .unwrap();
    let run = ws.layer("modes", layer_request(json!({"srcs": srcs})));
    let metadata = run.ok();
    verify_layer(&run, &metadata);
    insta::assert_snapshot!(listing(&run, GZIP), @r"
    -rwxr-xr-x 0/0              10 1970-01-01 00:00 bin/run.sh
    -rw-r--r-- 0/0              18 1970-01-01 00:00 share/data.txt
    drwxr-xr-x 0/0               0 1970-01-01 00:00 share/tree/
    -rw-r--r-- 0/0              26 1970-01-01 00:00 share/tree/inner.txt
    ");
}

#[test]
fn a_srcs_line_without_an_origin_is_rejected_naming_the_line() {
    let ws = Workspace::new();
    let file = ws.file("src/a.txt", "a\n");
    let srcs = ws.path("srcs");
    std::fs::write(&srcs, format!("a.txt\0a.txt\0{}\n", file.display())).unwrap();
    let run = ws.layer("bad", layer_request(json!({"srcs": srcs})));
    run.fails_with(&["srcs:1:", "<s|g><host path>"]);
}
