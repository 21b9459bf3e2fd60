//! `img layer`: layers from files, trees, runfiles, symlinks and metadata, checked with GNU tar,
//! gzip, zstd and sha256sum.

mod layer_support;
mod support;

use layer_support::*;
use serde_json::json;

const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// Sources of a typical application layer: single files, a multi-file source, a tree artifact.
fn app_sources(ws: &Workspace) -> std::path::PathBuf {
    let config = ws.file("src/pkg/config.txt", "key = value\n");
    let server = ws.executable("src/pkg/server", "#!/bin/sh\necho serving\n");
    let a = ws.file("src/pkg/data/a.txt", "alpha\n");
    let b = ws.file("src/pkg/data/nested/b.txt", "beta\n");
    ws.file("src/tree/index.html", "<h1>hi</h1>\n");
    ws.file("src/tree/css/site.css", "body {}\n");
    std::fs::create_dir_all(ws.path("src/tree/empty")).unwrap();
    ws.srcs(
        "srcs",
        &[
            ("/app/bin/server", "server", &server),
            ("/etc/app/config.txt", "config.txt", &config),
            ("/app/data", "data/a.txt", &a),
            ("/app/data", "data/nested/b.txt", &b),
            ("/srv/www", "tree", &ws.path("src/tree")),
        ],
    )
}

#[test]
fn files_multi_file_sources_and_trees_make_a_sorted_tar_with_parents() {
    let ws = Workspace::new();
    let srcs = app_sources(&ws);
    let run = ws.layer("app", layer_request(json!({"srcs": srcs, "create_parent_directories": true})));
    let metadata = run.ok();
    assert_eq!(metadata["mediaType"], GZIP);
    verify_layer(&run, &metadata);
    insta::assert_snapshot!(listing(&run, GZIP), @r"
    drwxr-xr-x 0/0               0 1970-01-01 00:00 app/
    drwxr-xr-x 0/0               0 1970-01-01 00:00 app/bin/
    -rwxr-xr-x 0/0              23 1970-01-01 00:00 app/bin/server
    drwxr-xr-x 0/0               0 1970-01-01 00:00 app/data/
    drwxr-xr-x 0/0               0 1970-01-01 00:00 app/data/data/
    -rw-r--r-- 0/0               6 1970-01-01 00:00 app/data/data/a.txt
    drwxr-xr-x 0/0               0 1970-01-01 00:00 app/data/data/nested/
    -rw-r--r-- 0/0               5 1970-01-01 00:00 app/data/data/nested/b.txt
    drwxr-xr-x 0/0               0 1970-01-01 00:00 etc/
    drwxr-xr-x 0/0               0 1970-01-01 00:00 etc/app/
    -rw-r--r-- 0/0              12 1970-01-01 00:00 etc/app/config.txt
    drwxr-xr-x 0/0               0 1970-01-01 00:00 srv/
    drwxr-xr-x 0/0               0 1970-01-01 00:00 srv/www/
    drwxr-xr-x 0/0               0 1970-01-01 00:00 srv/www/css/
    -rw-r--r-- 0/0               8 1970-01-01 00:00 srv/www/css/site.css
    drwxr-xr-x 0/0               0 1970-01-01 00:00 srv/www/empty/
    -rw-r--r-- 0/0              12 1970-01-01 00:00 srv/www/index.html
    ");
}

#[test]
fn without_parent_directories_only_sources_and_trees_have_directory_entries() {
    let ws = Workspace::new();
    let srcs = app_sources(&ws);
    let run = ws.layer("app", layer_request(json!({"srcs": srcs, "multi_file_layout": "flatten"})));
    let metadata = run.ok();
    verify_layer(&run, &metadata);
    insta::assert_snapshot!(listing(&run, GZIP), @r"
    -rwxr-xr-x 0/0              23 1970-01-01 00:00 app/bin/server
    -rw-r--r-- 0/0               6 1970-01-01 00:00 app/data/a.txt
    -rw-r--r-- 0/0               5 1970-01-01 00:00 app/data/b.txt
    -rw-r--r-- 0/0              12 1970-01-01 00:00 etc/app/config.txt
    drwxr-xr-x 0/0               0 1970-01-01 00:00 srv/www/
    drwxr-xr-x 0/0               0 1970-01-01 00:00 srv/www/css/
    -rw-r--r-- 0/0               8 1970-01-01 00:00 srv/www/css/site.css
    drwxr-xr-x 0/0               0 1970-01-01 00:00 srv/www/empty/
    -rw-r--r-- 0/0              12 1970-01-01 00:00 srv/www/index.html
    ");
}

#[test]
fn executable_runfiles_lines_land_in_the_runfiles_tree() {
    let ws = Workspace::new();
    let exe = ws.executable("bin/tool", "#!/bin/sh\n");
    let lib = ws.file("bin/lib.py", "print(1)\n");
    let ext = ws.file("external/dep/dep.py", "x = 1\n");
    let alias = ws.file("bin/alias.txt", "aliased\n");
    let root = ws.file("bin/root.txt", "root\n");
    let mapping = ws.file("bin/tool.repo_mapping", ",dep,dep~\n");
    let runfiles = ws.file(
        "runfiles",
        format!(
            "spkg/lib.py\0{}\ns../dep/dep.py\0{}\nwlinks/alias.txt\0{}\nrtop/root.txt\0{}\nepkg/__init__.py\0\n",
            lib.display(),
            ext.display(),
            alias.display(),
            root.display()
        ),
    );
    let executable = json!({
        "path": "/app/tool", "file": exe, "runfiles": runfiles, "workspace_name": "_main", "repo_mapping": mapping,
    });
    let run = ws.layer("exe", layer_request(json!({"executables": [executable], "compress": "zstd"})));
    let metadata = run.ok();
    assert_eq!(metadata["mediaType"], ZSTD);
    verify_layer(&run, &metadata);
    insta::assert_snapshot!(listing(&run, ZSTD), @r"
    -rwxr-xr-x 0/0              10 1970-01-01 00:00 app/tool
    -rw-r--r-- 0/0              10 1970-01-01 00:00 app/tool.repo_mapping
    -rw-r--r-- 0/0               8 1970-01-01 00:00 app/tool.runfiles/_main/links/alias.txt
    -rw-r--r-- 0/0               0 1970-01-01 00:00 app/tool.runfiles/_main/pkg/__init__.py
    -rw-r--r-- 0/0               9 1970-01-01 00:00 app/tool.runfiles/_main/pkg/lib.py
    hrw-r--r-- 0/0               0 1970-01-01 00:00 app/tool.runfiles/_repo_mapping link to app/tool.repo_mapping
    -rw-r--r-- 0/0               6 1970-01-01 00:00 app/tool.runfiles/dep/dep.py
    -rw-r--r-- 0/0               5 1970-01-01 00:00 app/tool.runfiles/top/root.txt
    ");
}

#[test]
fn symlinks_and_metadata_overrides_reach_the_headers() {
    let ws = Workspace::new();
    let data = ws.file("src/data.txt", "data\n");
    let script = ws.executable("src/run.sh", "#!/bin/sh\n");
    let srcs = ws.srcs("srcs", &[("/opt/data.txt", "data.txt", &data), ("/opt/run.sh", "run.sh", &script)]);
    let request = layer_request(json!({
        "srcs": srcs,
        "symlinks": {"usr/bin/run": "/opt/run.sh", "opt/current": "data.txt"},
        "default_metadata": r#"{"uid": 1000, "gid": 1000, "uname": "app", "gname": "app"}"#,
        "file_metadata": {
            "opt/data.txt": r#"{"mode": "0600", "mtime": "2023-05-06T07:08:09Z", "pax_records": {"comment": "hello pax"}}"#,
            "opt/run.sh": r#"{"mode": "4750", "uid": 0, "uname": "root"}"#,
        },
        "compress": "none",
    }));
    let run = ws.layer("meta", request);
    let metadata = run.ok();
    assert_eq!(metadata["mediaType"], TAR);
    assert_eq!(metadata["digest"], metadata["diff_id"], "an uncompressed blob is its own tar");
    verify_layer(&run, &metadata);
    insta::assert_snapshot!(listing_with_names(&run, TAR), @r"
    lrwxrwxrwx app/app           0 1970-01-01 00:00 opt/current -> data.txt
    -rw------- app/app           5 2023-05-06 07:08 opt/data.txt
    -rwsr-x--- root/app         10 1970-01-01 00:00 opt/run.sh
    lrwxrwxrwx app/app           0 1970-01-01 00:00 usr/bin/run -> /opt/run.sh
    ");
    let tar = decompressed(TAR, &run.blob);
    let text = String::from_utf8_lossy(&tar);
    assert!(text.contains("21 comment=hello pax\n"), "PAX record written");
}

#[test]
fn identical_files_become_hardlinks_to_the_first_in_entry_order() {
    let ws = Workspace::new();
    let one = ws.file("src/one", "same bytes\n");
    let two = ws.file("src/two", "same bytes\n");
    let other = ws.file("src/other", "different\n");
    let empty_a = ws.file("src/empty_a", "");
    let empty_b = ws.file("src/empty_b", "");
    // Dict order of the build system must not matter: z comes first here, a first in the tar.
    let srcs = ws.srcs(
        "srcs",
        &[
            ("z/copy", "two", &two),
            ("a/original", "one", &one),
            ("m/other", "other", &other),
            ("e/a", "empty_a", &empty_a),
            ("e/b", "empty_b", &empty_b),
        ],
    );
    let meta = json!({"z/copy": r#"{"mode": "0644"}"#});
    let run = ws.layer("dedup", layer_request(json!({"srcs": srcs, "file_metadata": meta})));
    let metadata = run.ok();
    verify_layer(&run, &metadata);
    insta::assert_snapshot!(listing(&run, GZIP), @r"
    -rw-r--r-- 0/0              11 1970-01-01 00:00 a/original
    -rw-r--r-- 0/0               0 1970-01-01 00:00 e/a
    -rw-r--r-- 0/0               0 1970-01-01 00:00 e/b
    -rw-r--r-- 0/0              10 1970-01-01 00:00 m/other
    hrw-r--r-- 0/0               0 1970-01-01 00:00 z/copy link to a/original
    ");
    // Different metadata means a different file, not a link.
    let meta = json!({"z/copy": r#"{"mode": "0600"}"#});
    let run = ws.layer("nodedup", layer_request(json!({"srcs": srcs, "file_metadata": meta})));
    run.ok();
    assert!(!listing(&run, GZIP).contains("link to"));
}

#[test]
fn identical_files_are_found_at_any_size_and_same_size_files_stay_apart() {
    // Above 1 MiB a file is hashed and written in two reads, below it from one buffer; the same
    // host file at two paths is hashed once. None of it may change which files become links.
    let ws = Workspace::new();
    let big = |fill: u8| [vec![0u8; (1 << 20) + 512], vec![fill; 512]].concat();
    let big_one = ws.file("src/big_one", big(1));
    let big_two = ws.file("src/big_two", big(1));
    let big_other = ws.file("src/big_other", big(2));
    let small = ws.file("src/small", "abc\n");
    let small_other = ws.file("src/small_other", "xyz\n");
    let srcs = ws.srcs(
        "srcs",
        &[
            ("big/1", "big_one", &big_one),
            ("big/2", "big_other", &big_other),
            ("big/3", "big_two", &big_two),
            ("small/1", "small", &small),
            ("small/2", "small_other", &small_other),
            ("small/3", "small", &small),
        ],
    );
    let run = ws.layer("sizes", layer_request(json!({"srcs": srcs})));
    let metadata = run.ok();
    verify_layer(&run, &metadata);
    insta::assert_snapshot!(listing(&run, GZIP), @r"
    -rw-r--r-- 0/0         1049600 1970-01-01 00:00 big/1
    -rw-r--r-- 0/0         1049600 1970-01-01 00:00 big/2
    hrw-r--r-- 0/0               0 1970-01-01 00:00 big/3 link to big/1
    -rw-r--r-- 0/0               4 1970-01-01 00:00 small/1
    -rw-r--r-- 0/0               4 1970-01-01 00:00 small/2
    hrw-r--r-- 0/0               0 1970-01-01 00:00 small/3 link to small/1
    ");
}

#[test]
fn long_and_non_ascii_names_use_pax_and_gnu_tar_reads_them() {
    let ws = Workspace::new();
    let file = ws.file("src/f", "x");
    let long = format!("deep/{}/file-with-a-long-name.txt", "directory-level".repeat(8));
    let srcs = ws.srcs("srcs", &[(&long, "f", &file), ("données/über.txt", "f", &file)]);
    let run = ws.layer("names", layer_request(json!({"srcs": srcs})));
    let metadata = run.ok();
    verify_layer(&run, &metadata);
    let listing = sh(&format!("gzip -dc < '{}' | tar -t --quoting-style=literal", run.blob.display()));
    assert_eq!(listing, format!("{long}\ndonnées/über.txt\n"));
}

#[test]
fn every_compression_holds_the_same_tar() {
    let ws = Workspace::new();
    let srcs = app_sources(&ws);
    let mut diff_ids = Vec::new();
    for (name, compress, level, media_type) in [
        ("gzip0", "gzip", Some(0), GZIP),
        ("gzip1", "gzip", Some(1), GZIP),
        ("gzip9", "gzip", Some(9), GZIP),
        ("gzip", "gzip", None, GZIP),
        ("zstd1", "zstd", Some(1), ZSTD),
        ("zstd19", "zstd", Some(19), ZSTD),
        ("none", "none", None, TAR),
    ] {
        let request = layer_request(json!({"srcs": srcs, "compress": compress, "compression_level": level}));
        let run = ws.layer(name, request);
        let metadata = run.ok();
        assert_eq!(metadata["mediaType"], media_type, "{name}");
        verify_layer(&run, &metadata);
        diff_ids.push(metadata["diff_id"].clone());
    }
    assert!(diff_ids.windows(2).all(|w| w[0] == w[1]), "one tar, whatever the compression: {diff_ids:?}");
}

#[test]
fn media_type_and_annotations_come_from_the_request_and_annotations_file() {
    let ws = Workspace::new();
    let file = ws.file("src/f", "x");
    let srcs = ws.srcs("srcs", &[("f", "f", &file)]);
    let annotations_file = ws.file("annotations.txt", "org.example.from-file=yes\norg.example.both=file\n");
    let request = layer_request(json!({
        "srcs": srcs,
        "media_type": "application/vnd.example.layer.v1.tar+gzip",
        "annotations": {"org.example.both": "request"},
        "annotations_file": annotations_file,
    }));
    let run = ws.layer("annotated", request);
    let metadata = run.ok();
    assert_eq!(metadata["mediaType"], "application/vnd.example.layer.v1.tar+gzip");
    assert_eq!(metadata["annotations"], json!({"org.example.both": "request", "org.example.from-file": "yes"}));
    let text = std::fs::read_to_string(&run.metadata).unwrap();
    assert!(text.starts_with("{\n  \"diff_id\": \"sha256:") && text.ends_with("}\n"), "pretty JSON: {text}");
}

/// Content big enough for several gzip blocks and zstd jobs, half compressible.
fn big_sources(ws: &Workspace) -> std::path::PathBuf {
    let mut state = 7u64;
    let noise: Vec<u8> = (0..3_000_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let text: String = (0..120_000).map(|i| format!("line {i} of a compressible text\n")).collect();
    let a = ws.file("big/noise.bin", &noise);
    let b = ws.file("big/text.txt", text);
    ws.srcs("big.srcs", &[("data/noise.bin", "noise.bin", &a), ("data/text.txt", "text.txt", &b)])
}

#[test]
fn bytes_are_reproducible_and_independent_of_compression_jobs() {
    let ws = Workspace::new();
    let srcs = big_sources(&ws);
    for compress in ["gzip", "zstd"] {
        let mut blobs = Vec::new();
        for (run_index, jobs) in [1, 1, 2, 4].into_iter().enumerate() {
            let request = layer_request(json!({"srcs": srcs, "compress": compress, "compression_jobs": jobs}));
            let run = ws.layer(&format!("{compress}-{run_index}-{jobs}"), request);
            let metadata = run.ok();
            verify_layer(&run, &metadata);
            blobs.push(std::fs::read(&run.blob).unwrap());
        }
        assert!(blobs[0].len() > 1_000_000);
        for (index, blob) in blobs.iter().enumerate() {
            assert!(blob == &blobs[0], "{compress} blob {index} differs from the first");
        }
    }
}

#[test]
fn parallel_gzip_output_is_within_two_percent_of_gzip() {
    require("gzip");
    let ws = Workspace::new();
    let srcs = big_sources(&ws);
    let run = ws.layer("size", layer_request(json!({"srcs": srcs, "compression_level": 6})));
    run.ok();
    let ours = std::fs::metadata(&run.blob).unwrap().len() as f64;
    let reference: f64 = sh(&format!("gzip -dc < '{}' | gzip -6 | wc -c", run.blob.display())).trim().parse().unwrap();
    assert!(ours <= reference * 1.02, "ours {ours} vs gzip -6 {reference}");
}

#[test]
fn long_symlink_targets_use_pax_linkpath() {
    let ws = Workspace::new();
    let target = format!("/opt/{}/bin/tool", "very-long-directory-name".repeat(6));
    let run = ws.layer("link", layer_request(json!({"symlinks": {"usr/bin/tool": target}})));
    let metadata = run.ok();
    verify_layer(&run, &metadata);
    assert_eq!(
        listing(&run, GZIP),
        format!("lrwxrwxrwx 0/0               0 1970-01-01 00:00 usr/bin/tool -> {target}\n")
    );
}

#[test]
#[ignore = "slow: packs and checks an 8 GiB (sparse) file"]
fn files_of_8_gib_and_more_get_a_pax_size() {
    require("bash");
    let ws = Workspace::new();
    let huge = ws.path("src/huge.bin");
    std::fs::create_dir_all(huge.parent().unwrap()).unwrap();
    let size = (8u64 << 30) + 1;
    std::fs::File::create(&huge).unwrap().set_len(size).unwrap();
    let srcs = ws.srcs("srcs", &[("data/huge.bin", "huge.bin", &huge)]);
    let request = layer_request(json!({"srcs": srcs, "compression_level": 1}));
    let run = ws.layer("huge", request);
    let metadata = run.ok();
    assert_eq!(metadata["digest"], sha256_of_file(&run.blob));
    // One pass over the 8 GiB: hash it and list it.
    let script = format!(
        "gzip -dc < '{}' | tee >(sha256sum > '{}') | tar -tvv --numeric-owner -f -; wait",
        run.blob.display(),
        ws.path("diff_id").display()
    );
    let output = std::process::Command::new("bash").arg("-c").arg(script).env("TZ", "UTC").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let listing = String::from_utf8(output.stdout).unwrap();
    assert_eq!(listing, format!("-rw-r--r-- 0/0      {size} 1970-01-01 00:00 data/huge.bin\n"));
    // `sha256sum` runs in a process substitution, which may finish just after the pipeline.
    let mut diff_id = String::new();
    for _ in 0..100 {
        diff_id = std::fs::read_to_string(ws.path("diff_id")).unwrap_or_default();
        if diff_id.len() >= 64 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(metadata["diff_id"], format!("sha256:{}", &diff_id[..64]));
}
