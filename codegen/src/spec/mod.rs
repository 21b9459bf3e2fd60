//! The typed spec of rules_img: every rule, attribute, provider, setting and action.
//! Adding an attribute is one edit here; `cargo run -p codegen` renders the rest.

pub mod deploy;
pub mod deploy_types;
pub mod image;
pub mod image_types;
pub mod layer;
pub mod model;
pub mod platforms;
pub mod providers;
pub mod settings;
pub mod toolchain;

pub use model::*;

/// The spec, checked for internal consistency.
pub fn spec() -> Spec {
    let spec = with_request_attrs(base());
    if let Err(problems) = check(&spec) {
        panic!("the spec is inconsistent:\n  {}", problems.join("\n  "));
    }
    spec
}

/// The spec as written, before attributes marked `to_request` are added to their actions.
pub fn base() -> Spec {
    Spec {
        oses: platforms::oses(),
        cpus: platforms::cpus(),
        rules: vec![
            layer::image_layer(),
            layer::layer_from_tar(),
            image::image_manifest(),
            image::image_index(),
            image::image_manifest_from_oci_layout(),
            image::image_index_from_oci_layout(),
            deploy::image_push(),
            deploy::image_load(),
            deploy::multi_deploy(),
            deploy::pull(),
            toolchain::image_toolchain(),
        ],
        functions: vec![layer::file_metadata()],
        providers: providers::providers(),
        settings: settings::settings(),
        actions: [layer::actions(), image_types::actions()].concat(),
        enums: [layer::enums(), image_types::enums(), deploy_types::enums()].concat(),
        structs: [layer::structs(), image_types::structs(), deploy_types::structs()].concat(),
    }
}

/// Adds the request fields of attributes marked `to_request` to their rule's action, bound to
/// the attribute's value, and the files among them to the action's inputs.
pub fn with_request_attrs(mut spec: Spec) -> Spec {
    let mut added: Vec<(&'static str, Field)> = Vec::new();
    for rule in &mut spec.rules {
        let attrs: Vec<(Field, Expr)> = rule
            .attrs
            .iter()
            .filter(|a| a.to_request)
            .map(|a| a.request_field().unwrap_or_else(|| panic!("{}.{}: cannot be sent as is", rule.name, a.name)))
            .collect();
        if attrs.is_empty() {
            continue;
        }
        let Body::Impl(body) = &mut rule.body else { panic!("{}: to_request without an implementation", rule.name) };
        let mut runs = body.steps.iter_mut().filter_map(|s| if let Step::Run(run) = s { Some(run) } else { None });
        let run = runs.next().unwrap_or_else(|| panic!("{}: to_request without an action", rule.name));
        for (field, value) in attrs {
            if let Expr::FilePath(attr) = value {
                run.inputs.push(Expr::File(attr));
            }
            run.request.push((field.name, value));
            added.push((run.action, field));
        }
    }
    for (action, field) in added {
        let action = spec.actions.iter_mut().find(|a| a.subcommand == action).expect("known action");
        if !action.fields.iter().any(|f| f.name == field.name) {
            action.fields.push(field);
        }
    }
    spec
}

/// Cross-references that the type system cannot check: every name used exists, every request
/// field is bound exactly once, every setting a rule reads is declared.
pub fn check(spec: &Spec) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    for rule in &spec.rules {
        let attr = |name: &str| rule.attrs.iter().any(|a| a.name == name);
        for setting in &rule.settings {
            if spec.setting(setting).is_none() {
                problems.push(format!("{}: unknown setting {setting}", rule.name));
            }
        }
        for provider in &rule.provides {
            if spec.provider(provider).is_none() {
                problems.push(format!("{}: unknown provider {provider}", rule.name));
            }
        }
        for a in &rule.attrs {
            if let AttrType::Dep(ps) | AttrType::DepList(ps) = &a.ty {
                for p in ps.iter().filter(|p| spec.provider(p).is_none()) {
                    problems.push(format!("{}.{}: unknown provider {p}", rule.name, a.name));
                }
            }
        }
        let Body::Impl(body) = &rule.body else { continue };
        let mut exprs: Vec<&Expr> = Vec::new();
        for step in &body.steps {
            match step {
                Step::Let(_, e)
                | Step::Do(e)
                | Step::Declare { suffix: e, .. }
                | Step::DeclareDir { suffix: e, .. } => exprs.push(e),
                Step::WriteDocument { document, fields, .. } => {
                    match spec.structs.iter().find(|s| s.name == *document) {
                        None => problems.push(format!("{}: unknown document {document}", rule.name)),
                        Some(def) => {
                            for field in &def.fields {
                                let bound = fields.iter().filter(|(name, _)| *name == field.name).count();
                                if bound != 1 {
                                    problems.push(format!(
                                        "{}: document field {document}.{} is bound {bound} times",
                                        rule.name, field.name
                                    ));
                                }
                            }
                            for (name, _) in fields {
                                if !def.fields.iter().any(|f| f.name == *name) {
                                    problems.push(format!("{}: {document} has no field {name}", rule.name));
                                }
                            }
                        }
                    }
                    exprs.extend(fields.iter().map(|(_, e)| e));
                }
                Step::Run(run) => {
                    let Some(action) = spec.action(run.action) else {
                        problems.push(format!("{}: unknown action {}", rule.name, run.action));
                        continue;
                    };
                    for field in &action.fields {
                        let bound = run.request.iter().filter(|(name, _)| *name == field.name).count();
                        if bound != 1 {
                            problems.push(format!(
                                "{}: request field {}.{} is bound {bound} times",
                                rule.name, action.request, field.name
                            ));
                        }
                    }
                    for (name, _) in &run.request {
                        if !action.fields.iter().any(|f| f.name == *name) {
                            problems.push(format!("{}: {} has no field {name}", rule.name, action.request));
                        }
                    }
                    for (name, _) in &run.outputs {
                        if !action.outputs.iter().any(|(o, _)| o == name) {
                            problems.push(format!("{}: `img {}` has no output {name}", rule.name, action.subcommand));
                        }
                    }
                    exprs.extend(run.request.iter().map(|(_, e)| e));
                    exprs.extend(run.inputs.iter().chain(&run.input_sets).chain(&run.output_sets));
                }
            }
        }
        for ret in &body.returns {
            match ret {
                Ret::Provider(p, fields) => {
                    check_make(spec, rule.name, p, fields, &mut problems);
                    exprs.extend(fields.iter().map(|(_, e)| e));
                }
                Ret::Extend(e) | Ret::Runnable(e) => exprs.push(e),
                _ => {}
            }
        }
        let mut stack = exprs;
        while let Some(e) = stack.pop() {
            match e {
                Expr::Attr(a) | Expr::FilePath(a) | Expr::File(a) | Expr::Files(a) | Expr::FilePaths(a) if !attr(a) => {
                    problems.push(format!("{}: unknown attribute {a}", rule.name))
                }
                Expr::Auto { attr: a, setting } | Expr::Setting(setting @ a) => {
                    if matches!(e, Expr::Auto { .. }) && !attr(a) {
                        problems.push(format!("{}: unknown attribute {a}", rule.name));
                    }
                    if !rule.settings.contains(setting) {
                        problems.push(format!("{}: reads setting {setting} without declaring it", rule.name));
                    }
                }
                Expr::Call(_, args) | Expr::List(args) => stack.extend(args),
                Expr::Eq(l, r) => stack.extend([&**l, &**r]),
                Expr::Pick(_, v) | Expr::Field(v, _) | Expr::NoneIfEmpty(v) | Expr::PathOf(v) => stack.push(v),
                Expr::Make(p, fields) => {
                    check_make(spec, rule.name, p, fields, &mut problems);
                    stack.extend(fields.iter().map(|(_, e)| e));
                }
                Expr::Dict(items) => stack.extend(items.iter().map(|(_, e)| e)),
                _ => {}
            }
        }
    }
    let known_type =
        |name: &str| spec.enums.iter().any(|e| e.name == name) || spec.structs.iter().any(|s| s.name == name);
    let fields = spec.actions.iter().flat_map(|a| &a.fields).chain(spec.structs.iter().flat_map(|s| &s.fields));
    for field in fields {
        if let FieldType::Enum(t) | FieldType::List(t) | FieldType::Opt(t) | FieldType::Struct(t) = &field.ty {
            if !known_type(t) {
                problems.push(format!("field {}: unknown type {t}", field.name));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn check_make(spec: &Spec, rule: &str, provider: &str, fields: &[(&str, Expr)], problems: &mut Vec<String>) {
    match spec.provider(provider) {
        None => problems.push(format!("{rule}: unknown provider {provider}")),
        Some(p) => {
            for (name, _) in fields {
                if !p.fields.iter().any(|(f, _)| f == name) {
                    problems.push(format!("{rule}: provider {provider} has no field {name}"));
                }
            }
        }
    }
}
