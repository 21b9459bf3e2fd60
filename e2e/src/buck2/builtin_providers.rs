//! Built-in providers (`app/buck2_build_api/src/interpreter/rule_defs/provider/builtin/*.rs`).
//! Each constructor is a native function with Buck2's exact parameter kinds; the callable exposed
//! as a global is a `ProviderCallable` that delegates to it.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use starlark::environment::{Globals, GlobalsBuilder};
use starlark::starlark_module;
use starlark::values::dict::{AllocDict, DictRef};
use starlark::values::list::{AllocList, ListRef};
use starlark::values::list_or_tuple::UnpackListOrTuple;
use starlark::values::none::NoneOr;
use starlark::values::{Heap, Value, ValueLike};

use super::artifacts::Artifact;
use super::cmd_args::{check_arg_like, CmdArgs, CmdArgsData, CmdArgsOptions};
use super::configuration::configuration_data_from;
use super::error::{sl_bail, sl_err};
use super::labels::{StarlarkLabel, StarlarkProvidersLabel, StarlarkTargetLabel};
use super::providers::{collection_from_list, FrozenProviderCallable, ProviderId, ProviderInstance};

const BUILTINS: &[&str] = &[
    "DefaultInfo",
    "RunInfo",
    "TemplatePlaceholderInfo",
    "ExternalRunnerTestInfo",
    "PlatformInfo",
    "ConfigurationInfo",
    "ConstraintSettingInfo",
    "ConstraintValueInfo",
    "ExecutionPlatformInfo",
    "ExecutionPlatformRegistrationInfo",
    "TransitionInfo",
    "ValidationInfo",
    "ValidationSpec",
    "CommandExecutorConfig",
    "WorkerInfo",
    "WorkerRunInfo",
    "LocalResourceInfo",
    "InstallInfo",
];

static IDS: LazyLock<HashMap<&'static str, Arc<ProviderId>>> =
    LazyLock::new(|| BUILTINS.iter().map(|n| (*n, ProviderId::new_named(n))).collect());

/// The id of a built-in provider.
pub fn builtin_id(name: &str) -> Arc<ProviderId> {
    IDS.get(name).unwrap_or_else(|| panic!("unknown built-in provider {name}")).clone()
}

fn mk<'v>(name: &str, fields: Vec<(&str, Value<'v>)>) -> ProviderInstance<'v> {
    ProviderInstance { id: builtin_id(name), fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect() }
}

fn is_instance(v: Value, name: &str) -> bool {
    ProviderInstance::from_value(v).is_some_and(|p| p.id.same(&builtin_id(name)))
}

fn expect_instance(v: Value, name: &str, param: &str) -> starlark::Result<()> {
    if is_instance(v, name) {
        Ok(())
    } else {
        sl_bail(format!("Type of parameter `{param}` doesn't match, expected `{name}`, actual `{}`", v.get_type()))
    }
}

fn is_target_label(v: Value) -> bool {
    v.downcast_ref::<StarlarkTargetLabel>().is_some()
}

fn none_or<'v>(v: NoneOr<Value<'v>>) -> Value<'v> {
    v.into_option().unwrap_or_else(Value::new_none)
}

fn list_of_artifacts<'v>(v: Value<'v>, what: &str) -> starlark::Result<Vec<Value<'v>>> {
    let l = ListRef::from_value(v)
        .ok_or_else(|| sl_err(format!("`{what}` must be a list of artifacts, got `{}`", v.get_type())))?;
    for x in l.content() {
        if x.downcast_ref::<Artifact>().is_none() {
            return sl_bail(format!("`{what}` must contain only artifacts, got `{}`", x.get_type()));
        }
    }
    Ok(l.content().to_vec())
}

fn reject_none(name: &str, expected: &str, v: Option<Value>) -> starlark::Result<()> {
    if v.is_some_and(|v| v.is_none()) {
        return sl_bail(format!("Type of parameter `{name}` doesn't match, expected `{expected}`, actual `NoneType`"));
    }
    Ok(())
}

fn empty_list<'v>(heap: Heap<'v>) -> Value<'v> {
    heap.alloc(AllocList::EMPTY)
}

fn empty_dict<'v>(heap: Heap<'v>) -> Value<'v> {
    heap.alloc(AllocDict(std::iter::empty::<(Value, Value)>()))
}

/// `RunInfo(args)`-style wrapping of an ArgLike (or list) into a fresh `cmd_args`.
pub fn wrap_cmd_args<'v>(v: Value<'v>, heap: Heap<'v>) -> starlark::Result<Value<'v>> {
    check_arg_like(v)?;
    Ok(heap.alloc(CmdArgs::new(CmdArgsData { items: vec![v], hidden: vec![], options: CmdArgsOptions::default() })))
}

#[starlark_module]
fn builtin_ctors(builder: &mut GlobalsBuilder) {
    fn DefaultInfo<'v>(
        #[starlark(default = NoneOr::None)] default_output: NoneOr<Value<'v>>,
        #[starlark(default = NoneOr::None)] default_outputs: NoneOr<Value<'v>>,
        other_outputs: Option<Value<'v>>,
        sub_targets: Option<Value<'v>>,
        heap: Heap<'v>,
    ) -> starlark::Result<ProviderInstance<'v>> {
        reject_none("other_outputs", "list", other_outputs)?;
        reject_none("sub_targets", "dict", sub_targets)?;
        let outputs = match (default_output.into_option(), default_outputs.into_option()) {
            (Some(_), Some(_)) => {
                return sl_bail("Cannot specify both `default_output` and `default_outputs` in DefaultInfo")
            }
            (Some(o), None) => {
                if o.downcast_ref::<Artifact>().is_none() {
                    return sl_bail(format!("`default_output` must be an Artifact, got `{}`", o.get_type()));
                }
                vec![o]
            }
            (None, Some(list)) => list_of_artifacts(list, "default_outputs")?,
            (None, None) => vec![],
        };
        let other = match other_outputs {
            Some(v) => {
                let l = ListRef::from_value(v).ok_or_else(|| sl_err("`other_outputs` must be a list"))?;
                for x in l.content() {
                    check_arg_like(*x)?;
                }
                heap.alloc(AllocList(l.content().iter().copied()))
            }
            None => empty_list(heap),
        };
        let subs = match sub_targets {
            Some(v) => {
                let d = DictRef::from_value(v)
                    .ok_or_else(|| sl_err("`sub_targets` must be a dict[str, list[Provider]]"))?;
                let mut entries = Vec::new();
                for (k, list) in d.iter() {
                    let name = k.unpack_str().ok_or_else(|| sl_err("sub_targets keys must be strings"))?;
                    let c = collection_from_list(list, &format!("sub-target `{name}`"))?;
                    entries.push((k, heap.alloc(c)));
                }
                heap.alloc(AllocDict(entries))
            }
            None => empty_dict(heap),
        };
        Ok(mk(
            "DefaultInfo",
            vec![("default_outputs", heap.alloc(AllocList(outputs))), ("other_outputs", other), ("sub_targets", subs)],
        ))
    }

    fn RunInfo<'v>(args: Option<Value<'v>>, heap: Heap<'v>) -> starlark::Result<ProviderInstance<'v>> {
        reject_none("args", "ArgLike | list", args)?;
        let args = match args {
            Some(a) => wrap_cmd_args(a, heap)?,
            None => heap.alloc(CmdArgs::new(CmdArgsData {
                items: vec![],
                hidden: vec![],
                options: CmdArgsOptions::default(),
            })),
        };
        Ok(mk("RunInfo", vec![("args", args)]))
    }

    fn TemplatePlaceholderInfo<'v>(
        unkeyed_variables: Option<Value<'v>>,
        keyed_variables: Option<Value<'v>>,
        heap: Heap<'v>,
    ) -> starlark::Result<ProviderInstance<'v>> {
        Ok(mk(
            "TemplatePlaceholderInfo",
            vec![
                ("unkeyed_variables", unkeyed_variables.unwrap_or_else(|| empty_dict(heap))),
                ("keyed_variables", keyed_variables.unwrap_or_else(|| empty_dict(heap))),
            ],
        ))
    }

    fn ExternalRunnerTestInfo<'v>(
        #[starlark(require = named)] r#type: &str,
        #[starlark(require = named, default = NoneOr::None)] command: NoneOr<Value<'v>>,
        #[starlark(require = named, default = NoneOr::None)] env: NoneOr<Value<'v>>,
        #[starlark(require = named, default = NoneOr::None)] labels: NoneOr<Value<'v>>,
        #[starlark(require = named, default = NoneOr::None)] contacts: NoneOr<Value<'v>>,
        #[starlark(require = named, default = NoneOr::None)] use_project_relative_paths: NoneOr<bool>,
        #[starlark(require = named, default = NoneOr::None)] run_from_project_root: NoneOr<bool>,
        #[starlark(require = named, default = NoneOr::None)] default_executor: NoneOr<Value<'v>>,
        #[starlark(require = named, default = NoneOr::None)] executor_overrides: NoneOr<Value<'v>>,
        #[starlark(require = named, default = NoneOr::None)] local_resources: NoneOr<Value<'v>>,
        #[starlark(require = named, default = NoneOr::None)] required_local_resources: NoneOr<Value<'v>>,
        #[starlark(require = named, default = NoneOr::None)] worker: NoneOr<Value<'v>>,
        #[starlark(require = named, default = NoneOr::None)] supports_test_execution_caching: NoneOr<bool>,
        heap: Heap<'v>,
    ) -> starlark::Result<ProviderInstance<'v>> {
        let command = none_or(command);
        if !command.is_none() {
            let items = <UnpackListOrTuple<Value> as starlark::values::UnpackValue>::unpack_value_opt(command)
                .ok_or_else(|| sl_err("ExternalRunnerTestInfo: `command` must be a list or tuple of str/ArgLike"))?;
            for x in items.items {
                check_arg_like(x)?;
            }
        }
        let env = none_or(env);
        if let Some(d) = DictRef::from_value(env) {
            for (_, v) in d.iter() {
                check_arg_like(v)?;
            }
        } else if !env.is_none() {
            return sl_bail("ExternalRunnerTestInfo: `env` must be a dict of str to ArgLike");
        }
        let b = |x: NoneOr<bool>| x.into_option().map(Value::new_bool).unwrap_or_else(Value::new_none);
        Ok(mk(
            "ExternalRunnerTestInfo",
            vec![
                ("test_type", heap.alloc(r#type)),
                ("command", command),
                ("env", env),
                ("labels", none_or(labels)),
                ("contacts", none_or(contacts)),
                ("use_project_relative_paths", b(use_project_relative_paths)),
                ("run_from_project_root", b(run_from_project_root)),
                ("default_executor", none_or(default_executor)),
                ("executor_overrides", none_or(executor_overrides)),
                ("local_resources", none_or(local_resources)),
                ("required_local_resources", none_or(required_local_resources)),
                ("worker", none_or(worker)),
                ("supports_test_execution_caching", b(supports_test_execution_caching)),
            ],
        ))
    }

    fn PlatformInfo<'v>(
        #[starlark(require = named)] label: &str,
        #[starlark(require = named)] configuration: Value<'v>,
        heap: Heap<'v>,
    ) -> starlark::Result<ProviderInstance<'v>> {
        expect_instance(configuration, "ConfigurationInfo", "configuration")?;
        Ok(mk("PlatformInfo", vec![("label", heap.alloc(label)), ("configuration", configuration)]))
    }

    fn ConfigurationInfo<'v>(
        #[starlark(require = named)] constraints: Value<'v>,
        #[starlark(require = named)] values: Value<'v>,
    ) -> starlark::Result<ProviderInstance<'v>> {
        let info = mk("ConfigurationInfo", vec![("constraints", constraints), ("values", values)]);
        Ok(info)
    }

    fn ConstraintSettingInfo<'v>(
        #[starlark(require = named)] label: Value<'v>,
        #[starlark(require = named, default = NoneOr::None)] default: NoneOr<Value<'v>>,
    ) -> starlark::Result<ProviderInstance<'v>> {
        if !is_target_label(label) {
            return sl_bail(format!(
                "Type of parameter `label` doesn't match, expected `TargetLabel`, actual `{}`",
                label.get_type()
            ));
        }
        Ok(mk("ConstraintSettingInfo", vec![("label", label), ("default", none_or(default))]))
    }

    fn ConstraintValueInfo<'v>(
        #[starlark(require = named)] setting: Value<'v>,
        #[starlark(require = named)] label: Value<'v>,
    ) -> starlark::Result<ProviderInstance<'v>> {
        expect_instance(setting, "ConstraintSettingInfo", "setting")?;
        if !is_target_label(label) && label.downcast_ref::<StarlarkProvidersLabel>().is_none() {
            return sl_bail(format!(
                "Type of parameter `label` doesn't match, expected `TargetLabel | ProvidersLabel`, actual `{}`",
                label.get_type()
            ));
        }
        Ok(mk("ConstraintValueInfo", vec![("setting", setting), ("label", label)]))
    }

    fn ExecutionPlatformInfo<'v>(
        #[starlark(require = named)] label: Value<'v>,
        #[starlark(require = named)] configuration: Value<'v>,
        #[starlark(require = named)] executor_config: Value<'v>,
    ) -> starlark::Result<ProviderInstance<'v>> {
        expect_instance(configuration, "ConfigurationInfo", "configuration")?;
        Ok(mk(
            "ExecutionPlatformInfo",
            vec![("label", label), ("configuration", configuration), ("executor_config", executor_config)],
        ))
    }

    fn ExecutionPlatformRegistrationInfo<'v>(
        #[starlark(require = named)] platforms: Value<'v>,
        #[starlark(require = named, default = NoneOr::None)] fallback: NoneOr<Value<'v>>,
        #[starlark(require = named, default = NoneOr::None)] exec_marker_constraint: NoneOr<Value<'v>>,
    ) -> starlark::Result<ProviderInstance<'v>> {
        let l = ListRef::from_value(platforms)
            .ok_or_else(|| sl_err("`platforms` must be a list of ExecutionPlatformInfo"))?;
        for p in l.content() {
            expect_instance(*p, "ExecutionPlatformInfo", "platforms")?;
        }
        Ok(mk(
            "ExecutionPlatformRegistrationInfo",
            vec![
                ("platforms", platforms),
                ("fallback", none_or(fallback)),
                ("exec_marker_constraint", none_or(exec_marker_constraint)),
            ],
        ))
    }

    fn TransitionInfo<'v>(
        #[starlark(require = named)] r#impl: Value<'v>,
        #[starlark(require = named)] attrs: Option<UnpackListOrTuple<String>>,
        heap: Heap<'v>,
    ) -> starlark::Result<ProviderInstance<'v>> {
        let attrs = match attrs {
            Some(a) => heap.alloc(AllocList(a.items.iter().map(|s| heap.alloc(s.as_str())))),
            None => Value::new_none(),
        };
        Ok(mk("TransitionInfo", vec![("impl", r#impl), ("attrs", attrs)]))
    }

    fn ValidationInfo<'v>(
        #[starlark(require = named)] validations: Value<'v>,
    ) -> starlark::Result<ProviderInstance<'v>> {
        let l =
            ListRef::from_value(validations).ok_or_else(|| sl_err("`validations` must be a list of ValidationSpec"))?;
        if l.is_empty() {
            return sl_bail("ValidationInfo: `validations` must not be empty");
        }
        let mut names = Vec::new();
        for v in l.content() {
            expect_instance(*v, "ValidationSpec", "validations")?;
            let name =
                ProviderInstance::from_value(*v).and_then(|p| p.field("name")).map(|n| n.to_str()).unwrap_or_default();
            if names.contains(&name) {
                return sl_bail(format!("ValidationInfo: duplicate validation name `{name}`"));
            }
            names.push(name);
        }
        Ok(mk("ValidationInfo", vec![("validations", validations)]))
    }

    fn ValidationSpec<'v>(
        #[starlark(require = named)] name: &str,
        #[starlark(require = named)] validation_result: Value<'v>,
        #[starlark(require = named, default = false)] optional: bool,
        heap: Heap<'v>,
    ) -> starlark::Result<ProviderInstance<'v>> {
        if name.is_empty() {
            return sl_bail("ValidationSpec: `name` must not be empty");
        }
        let Some(a) = validation_result.downcast_ref::<Artifact>() else {
            return sl_bail("ValidationSpec: `validation_result` must be an Artifact");
        };
        if a.data.is_source {
            return sl_bail("ValidationSpec: `validation_result` must be a build artifact, not a source");
        }
        Ok(mk(
            "ValidationSpec",
            vec![
                ("name", heap.alloc(name)),
                ("validation_result", validation_result),
                ("optional", Value::new_bool(optional)),
            ],
        ))
    }

    fn CommandExecutorConfig<'v>(
        #[starlark(require = named)] local_enabled: bool,
        #[starlark(require = named)] remote_enabled: bool,
        #[starlark(kwargs)] rest: starlark::values::dict::DictRef<'v>,
    ) -> starlark::Result<ProviderInstance<'v>> {
        let mut fields = vec![
            ("local_enabled", Value::new_bool(local_enabled)),
            ("remote_enabled", Value::new_bool(remote_enabled)),
        ];
        let owned: Vec<(String, Value)> = rest.iter().map(|(k, v)| (k.to_str(), v)).collect();
        let mut inst = mk("CommandExecutorConfig", std::mem::take(&mut fields));
        inst.fields.extend(owned);
        Ok(inst)
    }

    fn WorkerInfo<'v>(
        exe: Option<Value<'v>>,
        #[starlark(default = NoneOr::None)] env: NoneOr<Value<'v>>,
        #[starlark(require = named, default = NoneOr::None)] concurrency: NoneOr<i32>,
        #[starlark(require = named, default = NoneOr::None)] streaming: NoneOr<bool>,
        #[starlark(require = named, default = false)] supports_bazel_remote_persistent_worker_protocol: bool,
        heap: Heap<'v>,
    ) -> starlark::Result<ProviderInstance<'v>> {
        let exe = wrap_cmd_args(exe.unwrap_or_else(|| empty_list(heap)), heap)?;
        Ok(mk(
            "WorkerInfo",
            vec![
                ("exe", exe),
                ("env", none_or(env)),
                ("concurrency", concurrency.into_option().map(|c| heap.alloc(c)).unwrap_or_else(Value::new_none)),
                ("streaming", streaming.into_option().map(Value::new_bool).unwrap_or_else(Value::new_none)),
                (
                    "supports_bazel_remote_persistent_worker_protocol",
                    Value::new_bool(supports_bazel_remote_persistent_worker_protocol),
                ),
            ],
        ))
    }

    fn WorkerRunInfo<'v>(
        #[starlark(require = named, default = NoneOr::None)] worker: NoneOr<Value<'v>>,
        #[starlark(require = named, default = NoneOr::None)] remote_worker: NoneOr<Value<'v>>,
        #[starlark(require = named)] exe: Option<Value<'v>>,
        heap: Heap<'v>,
    ) -> starlark::Result<ProviderInstance<'v>> {
        let exe = wrap_cmd_args(exe.unwrap_or_else(|| empty_list(heap)), heap)?;
        Ok(mk(
            "WorkerRunInfo",
            vec![("worker", none_or(worker)), ("remote_worker", none_or(remote_worker)), ("exe", exe)],
        ))
    }

    fn LocalResourceInfo<'v>(
        #[starlark(require = named)] setup: Value<'v>,
        #[starlark(require = named)] resource_env_vars: Value<'v>,
        #[starlark(require = named, default = NoneOr::None)] setup_timeout_seconds: NoneOr<Value<'v>>,
        heap: Heap<'v>,
    ) -> starlark::Result<ProviderInstance<'v>> {
        let setup = wrap_cmd_args(setup, heap)?;
        Ok(mk(
            "LocalResourceInfo",
            vec![
                ("setup", setup),
                ("resource_env_vars", resource_env_vars),
                ("setup_timeout_seconds", none_or(setup_timeout_seconds)),
            ],
        ))
    }

    fn InstallInfo<'v>(installer: Value<'v>, files: Value<'v>) -> starlark::Result<ProviderInstance<'v>> {
        if installer.downcast_ref::<StarlarkLabel>().is_none() {
            return sl_bail("InstallInfo: `installer` must be a Label");
        }
        Ok(mk("InstallInfo", vec![("installer", installer), ("files", files)]))
    }
}

static CTORS: LazyLock<Globals> = LazyLock::new(|| GlobalsBuilder::new().with(builtin_ctors).build());

/// Register every built-in provider as a global `ProviderCallable`.
pub(crate) fn register_builtin_providers(builder: &mut GlobalsBuilder) {
    for name in BUILTINS {
        let ctor = CTORS.iter().find(|(n, _)| n == name).map(|(_, v)| v).expect("constructor registered");
        builder.set(name, FrozenProviderCallable { id: builtin_id(name), fields: vec![], builtin_ctor: Some(ctor) });
    }
}

/// Validate a `ConfigurationInfo` value eagerly (used by configuration rules' results).
#[allow(dead_code)]
pub fn validate_configuration_info(v: Value) -> starlark::Result<()> {
    configuration_data_from(v).map(|_| ())
}
