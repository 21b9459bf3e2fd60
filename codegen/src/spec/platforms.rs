//! How target platform constraints map to OCI `os`, `architecture` and `variant`.
//! Bazel reads `@platforms` constraints; Buck2 the prelude's `config//os:*` and `config//cpu:*`.

use super::model::PlatformValue;

fn v(bazel: &'static str, buck2: &'static str, value: &'static str, variant: &'static str) -> PlatformValue {
    PlatformValue { bazel, buck2, value, variant }
}

pub fn oses() -> Vec<PlatformValue> {
    vec![
        v("@platforms//os:linux", "config//os:linux", "linux", ""),
        v("@platforms//os:windows", "config//os:windows", "windows", ""),
        v("@platforms//os:macos", "config//os:macos", "darwin", ""),
        v("@platforms//os:freebsd", "config//os:freebsd", "freebsd", ""),
    ]
}

pub fn cpus() -> Vec<PlatformValue> {
    vec![
        v("@platforms//cpu:x86_64", "config//cpu:x86_64", "amd64", ""),
        v("@platforms//cpu:aarch64", "config//cpu:arm64", "arm64", "v8"),
        v("@platforms//cpu:armv7", "config//cpu:arm32", "arm", "v7"),
        v("@platforms//cpu:x86_32", "config//cpu:x86_32", "386", ""),
        v("@platforms//cpu:s390x", "config//cpu:s390x", "s390x", ""),
        v("@platforms//cpu:ppc64le", "config//cpu:ppc64le", "ppc64le", ""),
        v("@platforms//cpu:riscv64", "config//cpu:riscv64", "riscv64", ""),
    ]
}
