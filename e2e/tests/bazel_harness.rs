//! Proves the Bazel 7.7.1 harness (`e2e::bazel`) on the Bazel features rules_img relies on, in bzlmod and in
//! WORKSPACE mode. The workspace is `tests/fixtures/bazel_features` plus a per-mode `MODULE.bazel`/`WORKSPACE`.
//!
//! Run: `cargo test -p e2e --test bazel_harness -- --include-ignored` (after `scripts/bazel7-chroot.sh`).

use std::path::{Path, PathBuf};

use e2e::bazel::{Bazel7, BazelError, Mode, Workspace, WORKSPACE_PRELUDE};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bazel_features");

const MODULE_BAZEL: &str = r#"module(name = "harness")

bazel_dep(name = "platforms", version = "0.0.10")
bazel_dep(name = "rules_cc", version = "0.0.11")
bazel_dep(name = "rules_python", version = "0.22.1")

register_toolchains("//toolchain:all")
"#;

/// A copy of the fixture workspace set up for `mode`.
fn feature_workspace(mode: Mode) -> Workspace {
    let bazel = Bazel7::find().unwrap_or_else(|e| panic!("{e}"));
    let ws = bazel.workspace(mode).expect("creating a workspace");
    ws.copy_dir(Path::new(FIXTURE), ".").expect("copying the fixture");
    match mode {
        Mode::Bzlmod => ws.write("MODULE.bazel", MODULE_BAZEL),
        Mode::Workspace => ws.write(
            "WORKSPACE",
            &format!(
                "workspace(name = \"harness\")\n\n{WORKSPACE_PRELUDE}\nregister_toolchains(\"//toolchain:all\")\n"
            ),
        ),
    }
    .expect("writing the mode's root file");
    ws
}

/// Runs `check` on a fresh fixture workspace in each mode; a failure names the mode.
fn in_both_modes(check: impl Fn(&Workspace) -> Result<(), BazelError>) {
    for mode in Mode::ALL {
        let ws = feature_workspace(mode);
        if let Err(e) = check(&ws) {
            panic!("[{mode} mode] {e}");
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The one output of `target` whose name ends with `suffix`.
fn output_ending_with(ws: &Workspace, target: &str, flags: &[&str], suffix: &str) -> Result<PathBuf, BazelError> {
    let files = ws.output_files_with(target, flags)?;
    let matching: Vec<_> = files.iter().filter(|f| f.to_string_lossy().ends_with(suffix)).collect();
    assert_eq!(matching.len(), 1, "[{}] outputs of {target} ending with {suffix}: {files:?}", ws.mode());
    Ok(matching[0].clone())
}

#[test]
#[ignore = "needs the Bazel 7 chroot (scripts/bazel7-chroot.sh)"]
fn toolchain_tool_reads_an_args_file_written_by_ctx_actions_write() {
    in_both_modes(|ws| {
        ws.build(&["//:packed"])?;
        let args_file = output_ending_with(ws, "//:packed", &[], "packed.args")?;
        // add_all(depset, map_each=, format_each=) in "multiline" format: one unquoted line per file.
        assert_eq!(read(&args_file), "--file=src/a.txt\n--file=src/b.txt\n", "[{}]", ws.mode());
        let packed = output_ending_with(ws, "//:packed", &[], "packed.packed")?;
        assert_eq!(
            read(&packed),
            "packed by packer-for-x86_64\nsrc/a.txt: alpha\nsrc/b.txt: beta\n",
            "[{}] the host-platform build must use the x86_64 toolchain's tool",
            ws.mode()
        );
        Ok(())
    });
}

#[test]
#[ignore = "needs the Bazel 7 chroot (scripts/bazel7-chroot.sh)"]
fn string_keyed_label_dict_maps_destinations_to_files() {
    in_both_modes(|ws| {
        ws.build(&["//:layout"])?;
        let layout = output_ending_with(ws, "//:layout", &[], "layout.json")?;
        let entries: serde_json::Value = serde_json::from_str(&read(&layout)).expect("layout.json is JSON");
        assert_eq!(
            entries,
            serde_json::json!({"/etc/motd": ["src/motd.txt"], "/srv/a.txt": ["src/a.txt"]}),
            "[{}]",
            ws.mode()
        );
        Ok(())
    });
}

#[test]
#[ignore = "needs the Bazel 7 chroot (scripts/bazel7-chroot.sh)"]
fn string_build_setting_is_read_by_a_rule_and_set_on_the_command_line() {
    in_both_modes(|ws| {
        ws.build(&["//:mode"])?;
        let default = output_ending_with(ws, "//:mode", &[], "mode.txt")?;
        assert_eq!(read(&default), "mode=dev\n", "[{}] default value", ws.mode());

        let flag = "--//settings:mode=prod";
        ws.build(&[flag, "//:mode"])?;
        let prod = output_ending_with(ws, "//:mode", &[flag], "mode.txt")?;
        assert_eq!(read(&prod), "mode=prod\n", "[{}] value from the command line", ws.mode());
        Ok(())
    });
}

#[test]
#[ignore = "needs the Bazel 7 chroot (scripts/bazel7-chroot.sh)"]
fn split_transition_over_platforms_resolves_a_toolchain_per_platform_without_allowlist() {
    in_both_modes(|ws| {
        ws.build(&["//:multi"])?;
        let manifest = output_ending_with(ws, "//:multi", &[], "multi.json")?;
        let per_platform: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&read(&manifest)).expect("multi.json is a JSON object");
        let keys: Vec<&String> = per_platform.keys().collect();
        assert_eq!(keys.len(), 2, "[{}] split keys: {keys:?}", ws.mode());
        assert!(keys[0].ends_with("//platforms:linux_amd64"), "[{}] {keys:?}", ws.mode());
        assert!(keys[1].ends_with("//platforms:linux_arm64"), "[{}] {keys:?}", ws.mode());

        let packed: Vec<PathBuf> = ws
            .output_files("//:multi")?
            .into_iter()
            .filter(|f| f.to_string_lossy().ends_with("packed.packed"))
            .collect();
        assert_eq!(packed.len(), 2, "[{}] one packed file per platform: {packed:?}", ws.mode());
        assert_ne!(packed[0].parent(), packed[1].parent(), "[{}] distinct output directories", ws.mode());
        let mut flavors: Vec<String> = packed.iter().map(|p| read(p).lines().next().unwrap_or("").to_owned()).collect();
        flavors.sort();
        assert_eq!(flavors, ["packed by packer-for-aarch64", "packed by packer-for-x86_64"], "[{}]", ws.mode());
        Ok(())
    });
}

#[test]
#[ignore = "needs the Bazel 7 chroot (scripts/bazel7-chroot.sh)"]
fn bazel_run_executes_an_executable_starlark_rule_with_runfiles() {
    in_both_modes(|ws| {
        let out = ws.run("//:greet", &["the", "tests"])?;
        assert_eq!(out.stdout, "greeter: runfile data for the tests\n", "[{}]", ws.mode());
        Ok(())
    });
}

/// Program headers of a 64-bit little-endian ELF file, as (p_type) values.
fn elf_program_header_types(bytes: &[u8]) -> Vec<u32> {
    assert_eq!(&bytes[..4], b"\x7fELF", "not an ELF file");
    assert_eq!((bytes[4], bytes[5]), (2, 1), "not a 64-bit little-endian ELF file");
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum)
        .map(|i| {
            let o = phoff + i * phentsize;
            u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap())
        })
        .collect()
}

#[test]
#[ignore = "needs the Bazel 7 chroot (scripts/bazel7-chroot.sh)"]
fn static_cc_binary_has_no_interpreter_and_runs_on_the_host() {
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    in_both_modes(|ws| {
        ws.build(&["//cc:hello_static"])?;
        let binary = output_ending_with(ws, "//cc:hello_static", &[], "hello_static")?;
        let types = elf_program_header_types(&std::fs::read(&binary).expect("reading the binary"));
        assert!(!types.contains(&PT_INTERP), "[{}] has a dynamic loader: {types:?}", ws.mode());
        assert!(!types.contains(&PT_DYNAMIC), "[{}] has a dynamic section: {types:?}", ws.mode());

        // Built against sid's glibc, run on the bookworm host: only a static binary can do that.
        let host = std::process::Command::new(&binary).output().expect("running the binary on the host");
        assert!(host.status.success(), "[{}] {host:?}", ws.mode());
        assert_eq!(String::from_utf8_lossy(&host.stdout), "hello from a static cc_binary\n", "[{}]", ws.mode());

        let run = ws.run("//cc:hello_static", &[])?;
        assert_eq!(run.stdout, "hello from a static cc_binary\n", "[{}] bazel run", ws.mode());
        Ok(())
    });
}

#[test]
#[ignore = "needs the Bazel 7 chroot (scripts/bazel7-chroot.sh)"]
fn py_binary_reads_its_runfiles() {
    in_both_modes(|ws| {
        let out = ws.run("//py:greet", &["x", "y"])?;
        assert_eq!(out.stdout, "py says: message from a runfile / args: x y\n", "[{}]", ws.mode());
        Ok(())
    });
}

#[test]
#[ignore = "needs the Bazel 7 chroot (scripts/bazel7-chroot.sh)"]
fn failed_build_reports_bazels_error_and_query_lists_targets() {
    in_both_modes(|ws| {
        let targets = ws.query("kind('pack rule', //...)")?;
        assert_eq!(targets, ["//:packed"], "[{}]", ws.mode());

        ws.write("broken/BUILD.bazel", "pack(name = \"oops\")\n")?;
        match ws.build(&["//broken:oops"]) {
            Err(BazelError::Failed { stderr, status, .. }) => {
                assert!(!status.success());
                assert!(stderr.contains("name 'pack' is not defined"), "[{}] stderr:\n{stderr}", ws.mode());
            }
            other => panic!("[{}] expected a failed build, got {other:?}", ws.mode()),
        }
        Ok(())
    });
}

#[test]
fn missing_chroot_error_names_the_setup_script() {
    let message = BazelError::ChrootMissing(PathBuf::from("/x/.rules_img-ready")).to_string();
    assert!(message.contains("scripts/bazel7-chroot.sh"), "{message}");
}

#[test]
#[ignore = "needs the Bazel 7 chroot (scripts/bazel7-chroot.sh)"]
fn command_over_its_timeout_is_interrupted_and_its_action_stops() {
    let mut ws = feature_workspace(Mode::Bzlmod);
    // A marker duration, so the check below finds exactly this action's process.
    ws.write("slow/BUILD.bazel", "genrule(name = \"slow\", outs = [\"slow.txt\"], cmd = \"sleep 417; touch $@\")\n")
        .expect("writing slow/BUILD.bazel");
    ws.set_timeout(std::time::Duration::from_secs(45));
    let started = std::time::Instant::now();
    match ws.build(&["//slow"]) {
        Err(BazelError::Timeout { .. }) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed().as_secs() < 90, "the timeout did not bound the command: {:?}", started.elapsed());

    ws.set_timeout(std::time::Duration::from_secs(60));
    ws.shutdown().expect("shutting the server down after an interrupted command");
    // The harness interrupts the client (as Ctrl-C would), so the server cancels the action.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let ps = std::process::Command::new("ps").args(["-eo", "args"]).output().expect("running ps");
        let still_running = String::from_utf8_lossy(&ps.stdout).lines().any(|l| l.starts_with("sleep 417"));
        if !still_running {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the timed-out action `sleep 417` is still running");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
