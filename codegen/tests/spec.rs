//! The spec's promises: adding an attribute is one edit, and inconsistencies are caught.

use std::collections::BTreeMap;

use codegen::render::render_all;
use codegen::spec::{self, Attr, AttrType, Default, Expr, Step};

fn by_path(spec: &spec::Spec) -> BTreeMap<String, String> {
    render_all(spec).into_iter().map(|f| (f.path.to_string_lossy().into_owned(), f.contents)).collect()
}

#[test]
fn adding_one_attribute_changes_both_rules_the_docs_and_the_request_type() {
    let before = by_path(&spec::spec());
    let mut base = spec::base();
    let layer = base.rules.iter_mut().find(|r| r.name == "image_layer").unwrap();
    // The worked example of docs/contributing.md: one edit.
    layer.attrs.push(Attr::new("owner_note", AttrType::String, Default::Str(""), "A note for the owner.").to_request());
    let spec = spec::with_request_attrs(base);
    spec::check(&spec).expect("the spec stays consistent");
    let after = by_path(&spec);

    let changed: Vec<&str> =
        after.iter().filter(|(path, text)| before.get(*path) != Some(*text)).map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        changed,
        [
            "bazel/img/layer.bzl",
            "buck2/img/layer.bzl",
            "docs/reference/actions.md",
            "docs/reference/image_layer.md",
            "generated/src/layer.rs",
        ]
    );
    assert!(after["bazel/img/layer.bzl"].contains("\"owner_note\": attr.string(doc = \"A note for the owner.\")"));
    assert!(after["bazel/img/layer.bzl"].contains("\"owner_note\": ctx.attr.owner_note,"));
    assert!(after["buck2/img/layer.bzl"]
        .contains("\"owner_note\": attrs.string(default = \"\", doc = \"A note for the owner.\")"));
    assert!(after["buck2/img/layer.bzl"].contains("\"owner_note\": ctx.attrs.owner_note,"));
    assert!(after["docs/reference/image_layer.md"].contains("| `owner_note` | `attr.string` | `attrs.string` |"));
    assert!(after["generated/src/layer.rs"].contains("pub owner_note: String,"));
}

#[test]
fn a_request_field_left_unbound_is_reported() {
    let mut spec = spec::spec();
    let layer = spec.rules.iter_mut().find(|r| r.name == "image_layer").unwrap();
    let spec::Body::Impl(body) = &mut layer.body else { panic!("image_layer has an implementation") };
    for step in &mut body.steps {
        if let Step::Run(run) = step {
            run.request.retain(|(name, _)| *name != "symlinks");
        }
    }
    let problems = spec::check(&spec).unwrap_err();
    assert_eq!(problems, ["image_layer: request field LayerRequest.symlinks is bound 0 times"]);
}

#[test]
fn an_unknown_attribute_in_an_implementation_is_reported() {
    let mut spec = spec::spec();
    let layer = spec.rules.iter_mut().find(|r| r.name == "image_layer").unwrap();
    let spec::Body::Impl(body) = &mut layer.body else { panic!("image_layer has an implementation") };
    body.steps.push(Step::Do(Expr::Attr("no_such_attr")));
    assert_eq!(spec::check(&spec).unwrap_err(), ["image_layer: unknown attribute no_such_attr"]);
}

#[test]
fn a_rule_without_its_action_yet_fails_at_analysis_naming_the_capability_on_both_systems() {
    let mut spec = spec::spec();
    let push = spec.rules.iter_mut().find(|r| r.name == "image_push").unwrap();
    push.body = spec::Body::NotYet { capability: "a way to push" };
    let files = by_path(&spec);
    let expected = "fail_not_yet(ctx, \"image_push\", \"a way to push\")";
    assert!(files["bazel/img/push.bzl"].contains(expected), "{}", files["bazel/img/push.bzl"]);
    assert!(files["buck2/img/push.bzl"].contains(expected), "{}", files["buck2/img/push.bzl"]);
    assert!(files["docs/reference/image_push.md"].contains("**Not yet.**"));
}
