//! The img toolchain: `image_toolchain` (a registered toolchain type on Bazel, a toolchain
//! rule in `toolchains//` on Buck2).

use super::model::{Attr, AttrType as T, Body, Default as D, LoadFile, Rule, RuleKind};

pub fn image_toolchain() -> Rule {
    Rule {
        name: "image_toolchain",
        doc: "Declares the img tool used by every action of rules_img.",
        file: LoadFile::ImageToolchain,
        kind: RuleKind::Toolchain,
        attrs: vec![Attr::new("tool_exe", T::Tool, D::Required, "The img executable.")],
        settings: vec![],
        provides: vec!["ImageToolchainInfo"],
        output_groups: vec![],
        body: Body::Builtin,
        transition: None,
        reads_platform: false,
        buck2_note: "A toolchain rule (`is_toolchain_rule = True`). Instantiate it as `toolchains//:img`; rules reach \
                     it through `attrs.toolchain_dep(default = \"toolchains//:img\")`.",
    }
}
