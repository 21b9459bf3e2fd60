//! `cargo run -p codegen` renders every generated file; `-- --check` fails when one is stale.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use codegen::render::File;

fn main() -> ExitCode {
    let mut check = false;
    let mut root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("codegen/ has a parent").to_path_buf();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.len()) {
            ("--check", _) => check = true,
            // Another checkout to render into or check (the tests use it on a scratch copy).
            ("--root", 1..) => root = PathBuf::from(args.next().expect("counted")),
            _ => {
                eprintln!(
                    "codegen: unexpected argument {arg:?}; usage: cargo run -p codegen [-- --check] [--root DIR]"
                );
                return ExitCode::from(2);
            }
        }
    }
    let files = match codegen::generate(&root) {
        Ok(files) => files,
        Err(err) => {
            eprintln!("codegen: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = if check { check_files(&root, &files) } else { write_files(&root, &files) };
    match result {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn check_files(root: &Path, files: &[File]) -> Result<String, String> {
    let stale = codegen::stale(root, files);
    if stale.is_empty() {
        Ok(format!("codegen: {} generated files are up to date", files.len()))
    } else {
        let list: Vec<String> = stale.iter().map(|p| format!("  {}", p.display())).collect();
        Err(format!(
            "codegen: these generated files differ from the spec (never edit them; run `cargo run -p codegen`):\n{}",
            list.join("\n")
        ))
    }
}

fn write_files(root: &Path, files: &[File]) -> Result<String, String> {
    let mut written = 0;
    for file in files {
        let path = root.join(&file.path);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(file.contents.as_str()) {
            continue;
        }
        codegen::write_atomically(&path, &file.contents)
            .map_err(|e| format!("codegen: cannot write {}: {e}", path.display()))?;
        written += 1;
    }
    let mut removed: Vec<PathBuf> = Vec::new();
    for path in codegen::unrendered(root, files) {
        std::fs::remove_file(root.join(&path))
            .map_err(|e| format!("codegen: cannot remove {}: {e}", path.display()))?;
        removed.push(path);
    }
    Ok(format!("codegen: {} files rendered, {written} written, {} stale removed", files.len(), removed.len()))
}
