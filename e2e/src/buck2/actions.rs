//! `ctx.actions` (`app/buck2_action_impl/src/context/*.rs`): declaring outputs and registering
//! actions. Command lines are rendered at registration (artifact paths are fixed at declaration).

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use allocative::Allocative;
use starlark::environment::{Methods, MethodsBuilder};
use starlark::starlark_module;
use starlark::values::dict::DictRef;
use starlark::values::list::AllocList;
use starlark::values::none::{NoneOr, NoneType};
use starlark::values::tuple::AllocTuple;
use starlark::values::{starlark_value, Heap, NoSerialize, ProvidesStaticType, StarlarkValue, Trace, Value, ValueLike};

use super::artifacts::{check_relative_path, Artifact, ArtifactData, OutputArtifact};
use super::builtin_providers::builtin_id;
use super::cmd_args::{render_to_vec, visit_arg, PathStyle, Visited, WriteJsonCliArgs};
use super::configuration::Configuration;
use super::error::{sl_bail, sl_err};
use super::json::to_json;
use super::labels::TargetLabel;
use super::providers::ProviderInstance;

/// What an action does when executed.
#[derive(Debug, Clone)]
pub enum ActionKind {
    Write {
        content: String,
        is_executable: bool,
    },
    Run {
        argv: Vec<String>,
        env: Vec<(String, String)>,
    },
    Copy {
        src: String,
        executable_bit_override: Option<bool>,
    },
    Symlink {
        src: String,
    },
    /// `symlinked_dir` / `copied_dir`: entries `(relative dest, source path)`.
    Dir {
        entries: Vec<(String, String)>,
        copy: bool,
    },
    Download {
        url: String,
        sha256: Option<String>,
        sha1: Option<String>,
        is_executable: bool,
    },
}

/// One registered action.
#[derive(Debug, Clone)]
pub struct ActionRecord {
    pub category: String,
    pub identifier: Option<String>,
    pub inputs: Vec<Arc<ArtifactData>>,
    pub outputs: Vec<Arc<ArtifactData>>,
    pub kind: ActionKind,
}

/// Per-analysis bookkeeping.
#[derive(Debug)]
pub struct ActionsState {
    pub uid: u64,
    pub owner: TargetLabel,
    pub cfg: Arc<Configuration>,
    /// `buck-out/v2/gen/<cell>/<cfg-hash>/<pkg>/__<target>__`.
    pub out_root: String,
    pub project_root: String,
    pub declared: Vec<Arc<ArtifactData>>,
    pub actions: Vec<ActionRecord>,
}

static NEXT_ANALYSIS: AtomicU64 = AtomicU64::new(1);

impl ActionsState {
    pub fn new(owner: TargetLabel, cfg: Arc<Configuration>, cell_dir: &str, project_root: &str) -> Self {
        let _ = cell_dir;
        let pkg = if owner.package.is_empty() { String::new() } else { format!("{}/", owner.package) };
        let out_root = format!("buck-out/v2/gen/{}/{}/{}__{}__", owner.cell, cfg.hash(), pkg, owner.name);
        ActionsState {
            uid: NEXT_ANALYSIS.fetch_add(1, Ordering::Relaxed),
            owner,
            cfg,
            out_root,
            project_root: project_root.to_owned(),
            declared: Vec::new(),
            actions: Vec::new(),
        }
    }

    fn declare(&mut self, short_path: String, is_dir: bool) -> starlark::Result<Arc<ArtifactData>> {
        check_relative_path(&short_path, "declare_output")?;
        if self.declared.iter().any(|d| d.short_path == short_path) {
            return sl_bail(format!("Output path `{short_path}` was already declared by this target"));
        }
        let data = Arc::new(ArtifactData {
            path: format!("{}/{}", self.out_root, short_path),
            short_path,
            is_source: false,
            is_dir,
            owner: Some((self.owner.clone(), self.cfg.clone())),
            registry: self.uid,
            bound: AtomicBool::new(false),
        });
        self.declared.push(data.clone());
        Ok(data)
    }

    /// `OutputArg`: str (declare), `OutputArtifact`, or unbound declared `Artifact`.
    fn output_arg(&mut self, v: Value) -> starlark::Result<Arc<ArtifactData>> {
        if let Some(s) = v.unpack_str() {
            return self.declare(s.to_owned(), false);
        }
        if let Some(o) = v.downcast_ref::<OutputArtifact>() {
            return Ok(o.data.clone());
        }
        if let Some(a) = v.downcast_ref::<Artifact>() {
            if a.data.is_source {
                return sl_bail(format!("Source artifact `{}` cannot be used as an output", a.path()));
            }
            return Ok(a.data.clone());
        }
        sl_bail(format!("Expected an output (str, OutputArtifact or declared Artifact), got `{}`", v.get_type()))
    }

    fn bind(&self, data: &Arc<ArtifactData>) -> starlark::Result<()> {
        if data.registry != self.uid {
            return sl_bail(format!(
                "Artifact `{}` was declared by another target (or analysis) and cannot be bound by `{}`",
                data.short_path, self.owner
            ));
        }
        if !data.mark_bound() {
            return sl_bail(format!("Artifact `{}` is already bound to an action", data.short_path));
        }
        Ok(())
    }

    fn check_category(&self, category: &str, identifier: Option<&str>) -> starlark::Result<()> {
        let re = regex::Regex::new("^[a-z][a-z0-9]*(_[a-z][a-z0-9]*)*$").expect("valid regex");
        if !re.is_match(category) {
            return sl_bail(format!(
                "Invalid category `{category}`: categories must match `^[a-z][a-z0-9]*(_[a-z][a-z0-9]*)*$`"
            ));
        }
        let same: Vec<&ActionRecord> = self.actions.iter().filter(|a| a.category == category).collect();
        if same.is_empty() {
            return Ok(());
        }
        if identifier.is_none() || same.iter().any(|a| a.identifier.is_none()) {
            return sl_bail(format!(
                "Analysis produced multiple actions with category `{category}` and at least one of them has no identifier; add a unique `identifier` to each"
            ));
        }
        if same.iter().any(|a| a.identifier.as_deref() == identifier) {
            return sl_bail(format!(
                "Action category `{category}` with identifier `{}` is not unique within the target",
                identifier.unwrap_or_default()
            ));
        }
        Ok(())
    }

    fn register(&mut self, record: ActionRecord) -> starlark::Result<()> {
        self.check_category(&record.category, record.identifier.as_deref())?;
        for o in &record.outputs {
            self.bind(o)?;
        }
        self.actions.push(record);
        Ok(())
    }
}

/// `AnalysisActions` value (`ctx.actions`). Never frozen: it lives only during analysis.
#[derive(Debug, ProvidesStaticType, NoSerialize, Allocative)]
pub struct AnalysisActions {
    #[allocative(skip)]
    pub state: RefCell<ActionsState>,
}

unsafe impl<'v> Trace<'v> for AnalysisActions {
    fn trace(&mut self, _tracer: &starlark::values::Tracer<'v>) {}
}

impl fmt::Display for AnalysisActions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<ctx.actions>")
    }
}

#[starlark_value(type = "AnalysisActions")]
impl<'v> StarlarkValue<'v> for AnalysisActions {
    fn get_methods() -> Option<&'static Methods> {
        Some(ACTIONS_METHODS.methods())
    }
}
starlark::methods_static!(ACTIONS_METHODS = actions_methods);

fn actions<'v>(this: Value<'v>) -> starlark::Result<&'v AnalysisActions> {
    this.downcast_ref::<AnalysisActions>().ok_or_else(|| sl_err("not AnalysisActions"))
}

fn unsupported<T>(what: &str) -> starlark::Result<T> {
    sl_bail(format!("`ctx.actions.{what}` is not supported by the Buck2 model"))
}

/// Render a `write` content: str as is; ArgLikes one argument per line.
fn render_content(content: Value, style: &PathStyle) -> starlark::Result<String> {
    if let Some(s) = content.unpack_str() {
        return Ok(s.to_owned());
    }
    Ok(render_to_vec(content, style)?.join("\n"))
}

fn run_info_args(v: Value) -> Option<Value> {
    let p = ProviderInstance::from_value(v)?;
    if p.id.same(&builtin_id("RunInfo")) {
        p.field("args")
    } else if p.id.same(&builtin_id("WorkerRunInfo")) {
        p.field("exe")
    } else {
        None
    }
}

#[starlark_module]
fn actions_methods(builder: &mut MethodsBuilder) {
    fn declare_output<'v>(
        this: Value<'v>,
        #[starlark(require = pos)] prefix: &str,
        #[starlark(require = pos)] filename: Option<&str>,
        #[starlark(require = named, default = false)] dir: bool,
        #[starlark(require = named)] has_content_based_path: Option<bool>,
    ) -> starlark::Result<Artifact> {
        let _ = has_content_based_path;
        let short_path = match filename {
            Some(f) => format!("{prefix}/{f}"),
            None => prefix.to_owned(),
        };
        let data = actions(this)?.state.borrow_mut().declare(short_path, dir)?;
        Ok(Artifact::new(data))
    }

    fn write<'v>(
        this: Value<'v>,
        #[starlark(require = pos)] output: Value<'v>,
        #[starlark(require = pos)] content: Value<'v>,
        #[starlark(require = named, default = false)] is_executable: bool,
        #[starlark(require = named, default = false)] allow_args: bool,
        #[starlark(require = named, default = false)] with_inputs: bool,
        #[starlark(require = named, default = false)] absolute: bool,
        #[starlark(require = named, default = NoneOr::None)] has_content_based_path: NoneOr<bool>,
        #[starlark(require = named, default = false)] use_dep_files_placeholder_for_content_based_paths: bool,
        heap: Heap<'v>,
    ) -> starlark::Result<Value<'v>> {
        let _ = (has_content_based_path, use_dep_files_placeholder_for_content_based_paths);
        let mut state = actions(this)?.state.borrow_mut();
        let out = state.output_arg(output)?;
        let mut visited = Visited::default();
        if content.unpack_str().is_none() {
            super::cmd_args::check_arg_like(content)?;
            visit_arg(content, false, &mut visited);
        }
        if visited.has_macros && !allow_args {
            return sl_bail("`write` content contains `attrs.arg()` values (macros); pass `allow_args = True`");
        }
        let style = if absolute { PathStyle::absolute(&state.project_root) } else { PathStyle::project_relative() };
        let text = render_content(content, &style)?;
        let inputs = if with_inputs { visited.inputs } else { vec![] };
        state.register(ActionRecord {
            category: "write".to_owned(),
            identifier: Some(out.short_path.clone()),
            inputs,
            outputs: vec![out.clone()],
            kind: ActionKind::Write { content: text, is_executable },
        })?;
        let artifact = heap.alloc(Artifact::new(out));
        if allow_args {
            // No `$(@…)` macro files in the model: the list is always empty.
            Ok(heap.alloc(AllocTuple([artifact, heap.alloc(AllocList::EMPTY)])))
        } else {
            Ok(artifact)
        }
    }

    fn write_json<'v>(
        this: Value<'v>,
        #[starlark(require = pos)] output: Value<'v>,
        #[starlark(require = pos)] content: Value<'v>,
        #[starlark(require = named, default = false)] with_inputs: bool,
        #[starlark(require = named, default = false)] pretty: bool,
        #[starlark(require = named, default = false)] absolute: bool,
        #[starlark(require = named, default = NoneOr::None)] has_content_based_path: NoneOr<bool>,
        #[starlark(require = named, default = false)] use_dep_files_placeholder_for_content_based_paths: bool,
        heap: Heap<'v>,
    ) -> starlark::Result<Value<'v>> {
        let _ = (has_content_based_path, use_dep_files_placeholder_for_content_based_paths);
        let mut state = actions(this)?.state.borrow_mut();
        let out = state.output_arg(output)?;
        let style = if absolute { PathStyle::absolute(&state.project_root) } else { PathStyle::project_relative() };
        let mut inputs = Vec::new();
        let json = to_json(content, &style, &mut inputs)?;
        let text = if pretty { serde_json::to_string_pretty(&json) } else { serde_json::to_string(&json) }
            .map_err(|e| sl_err(format!("write_json: {e}")))?;
        state.register(ActionRecord {
            category: "write_json".to_owned(),
            identifier: Some(out.short_path.clone()),
            inputs: vec![],
            outputs: vec![out.clone()],
            kind: ActionKind::Write { content: text, is_executable: false },
        })?;
        let artifact = Artifact::new(out);
        if with_inputs {
            Ok(heap.alloc(WriteJsonCliArgs { json: artifact, inputs: inputs.into_iter().map(Artifact::new).collect() }))
        } else {
            Ok(heap.alloc(artifact))
        }
    }

    fn run<'v>(
        this: Value<'v>,
        #[starlark(require = pos)] arguments: Value<'v>,
        #[starlark(require = named)] category: &str,
        #[starlark(require = named, default = NoneOr::None)] identifier: NoneOr<&str>,
        #[starlark(require = named)] env: Option<DictRef<'v>>,
        #[starlark(require = named, default = false)] local_only: bool,
        #[starlark(require = named, default = false)] prefer_local: bool,
        #[starlark(require = named, default = false)] prefer_remote: bool,
        #[starlark(require = named, default = true)] low_pass_filter: bool,
        #[starlark(require = named, default = false)] always_print_stderr: bool,
        #[starlark(require = named)] weight: Option<i32>,
        #[starlark(require = named)] weight_percentage: Option<i32>,
        #[starlark(require = named)] dep_files: Option<DictRef<'v>>,
        #[starlark(require = named)] metadata_env_var: Option<&str>,
        #[starlark(require = named)] metadata_path: Option<&str>,
        #[starlark(require = named)] incremental_metadata_ignore_tags: Option<Value<'v>>,
        #[starlark(require = named, default = false)] no_outputs_cleanup: bool,
        #[starlark(require = named, default = false)] incremental_remote_outputs: bool,
        #[starlark(require = named, default = NoneOr::None)] allow_cache_upload: NoneOr<bool>,
        #[starlark(require = named, default = false)] allow_dep_file_cache_upload: bool,
        #[starlark(require = named, default = false)] allow_offline_output_cache: bool,
        #[starlark(require = named, default = false)] force_full_hybrid_if_capable: bool,
        #[starlark(require = named)] exe: Option<Value<'v>>,
        #[starlark(require = named, default = false)] unique_input_inodes: bool,
        #[starlark(require = named, default = NoneOr::None)] error_handler: NoneOr<Value<'v>>,
        #[starlark(require = named)] remote_execution_dependencies: Option<Value<'v>>,
        #[starlark(require = named)] re_gang_workers: Option<Value<'v>>,
        #[starlark(require = named, default = NoneOr::None)] remote_execution_dynamic_image: NoneOr<Value<'v>>,
        #[starlark(require = named, default = NoneOr::None)] timeout_seconds: NoneOr<i32>,
        #[starlark(require = named, default = NoneOr::None)] meta_internal_extra_params: NoneOr<Value<'v>>,
        #[starlark(require = named)] outputs_for_error_handler: Option<Value<'v>>,
        #[starlark(require = named, default = NoneOr::None)] expect_eligible_for_dedupe: NoneOr<bool>,
        #[starlark(require = named, default = false)] eager_materialization_enabled: bool,
    ) -> starlark::Result<NoneType> {
        // Accepted for signature fidelity; they tune scheduling/caching, which the model does not do.
        let _ = (local_only, prefer_local, prefer_remote, low_pass_filter, always_print_stderr, dep_files);
        let _ = (incremental_metadata_ignore_tags, allow_cache_upload, allow_dep_file_cache_upload);
        let _ = (allow_offline_output_cache, force_full_hybrid_if_capable, unique_input_inodes, error_handler);
        let _ = (remote_execution_dependencies, re_gang_workers, remote_execution_dynamic_image, timeout_seconds);
        let _ = (meta_internal_extra_params, outputs_for_error_handler, expect_eligible_for_dedupe);
        let _ = eager_materialization_enabled;
        if weight.is_some() && weight_percentage.is_some() {
            return sl_bail("`weight` and `weight_percentage` cannot both be specified");
        }
        if weight.is_some_and(|w| w < 1) || weight_percentage.is_some_and(|w| w < 1) {
            return sl_bail("`weight`/`weight_percentage` must be positive");
        }
        if metadata_env_var.is_some() != metadata_path.is_some() {
            return sl_bail("`metadata_env_var` and `metadata_path` must be specified together");
        }
        if incremental_remote_outputs && !no_outputs_cleanup {
            return sl_bail("`incremental_remote_outputs` requires `no_outputs_cleanup = True`");
        }
        let mut state = actions(this)?.state.borrow_mut();
        super::cmd_args::check_arg_like(arguments)?;
        let mut visited = Visited::default();
        let mut argv = Vec::new();
        if let Some(e) = exe {
            let args = run_info_args(e).ok_or_else(|| {
                sl_err(format!(
                    "Type of parameter `exe` doesn't match, expected `RunInfo | WorkerRunInfo`, actual `{}`",
                    e.get_type()
                ))
            })?;
            visit_arg(args, false, &mut visited);
            argv.extend(render_to_vec(args, &PathStyle::project_relative())?);
        }
        visit_arg(arguments, false, &mut visited);
        argv.extend(render_to_vec(arguments, &PathStyle::project_relative())?);
        let mut env_pairs = Vec::new();
        if let Some(env) = env {
            for (k, v) in env.iter() {
                let k = k.unpack_str().ok_or_else(|| sl_err("env keys must be strings"))?;
                super::cmd_args::check_arg_like(v)?;
                visit_arg(v, false, &mut visited);
                env_pairs.push((k.to_owned(), render_to_vec(v, &PathStyle::project_relative())?.join(" ")));
            }
        }
        if visited.outputs.is_empty() {
            return sl_bail(format!(
                "Action `{category}` expected at least one output artifact but none were provided (use `.as_output()`)"
            ));
        }
        let inputs =
            visited.inputs.into_iter().filter(|i| !visited.outputs.iter().any(|o| Arc::ptr_eq(o, i))).collect();
        state.register(ActionRecord {
            category: category.to_owned(),
            identifier: identifier.into_option().map(str::to_owned),
            inputs,
            outputs: visited.outputs,
            kind: ActionKind::Run { argv, env: env_pairs },
        })?;
        Ok(NoneType)
    }

    fn copy_file<'v>(
        this: Value<'v>,
        #[starlark(require = pos)] dest: Value<'v>,
        #[starlark(require = pos)] src: &Artifact,
        #[starlark(require = named, default = NoneOr::None)] has_content_based_path: NoneOr<bool>,
        #[starlark(require = named, default = NoneOr::None)] executable_bit_override: NoneOr<bool>,
    ) -> starlark::Result<Artifact> {
        let _ = has_content_based_path;
        copy_like(
            this,
            dest,
            src,
            "copy",
            ActionKind::Copy { src: src.path(), executable_bit_override: executable_bit_override.into_option() },
        )
    }

    fn symlink_file<'v>(
        this: Value<'v>,
        #[starlark(require = pos)] dest: Value<'v>,
        #[starlark(require = pos)] src: &Artifact,
        #[starlark(require = named, default = NoneOr::None)] has_content_based_path: NoneOr<bool>,
    ) -> starlark::Result<Artifact> {
        let _ = has_content_based_path;
        copy_like(this, dest, src, "symlink", ActionKind::Symlink { src: src.path() })
    }

    fn copy_dir<'v>(
        this: Value<'v>,
        #[starlark(require = pos)] dest: Value<'v>,
        #[starlark(require = pos)] src: &Artifact,
        #[starlark(require = named, default = NoneOr::None)] has_content_based_path: NoneOr<bool>,
        #[starlark(require = named, default = NoneOr::None)] executable_bit_override: NoneOr<bool>,
    ) -> starlark::Result<Artifact> {
        let _ = has_content_based_path;
        copy_like(
            this,
            dest,
            src,
            "copy",
            ActionKind::Copy { src: src.path(), executable_bit_override: executable_bit_override.into_option() },
        )
    }

    fn symlinked_dir<'v>(
        this: Value<'v>,
        #[starlark(require = pos)] output: Value<'v>,
        #[starlark(require = pos)] srcs: DictRef<'v>,
        #[starlark(require = named, default = NoneOr::None)] has_content_based_path: NoneOr<bool>,
    ) -> starlark::Result<Artifact> {
        let _ = has_content_based_path;
        dir_like(this, output, srcs, false)
    }

    fn copied_dir<'v>(
        this: Value<'v>,
        #[starlark(require = pos)] output: Value<'v>,
        #[starlark(require = pos)] srcs: DictRef<'v>,
        #[starlark(require = named, default = NoneOr::None)] has_content_based_path: NoneOr<bool>,
        #[starlark(require = named, default = NoneOr::None)] executable_bit_override: NoneOr<bool>,
    ) -> starlark::Result<Artifact> {
        let _ = (has_content_based_path, executable_bit_override);
        dir_like(this, output, srcs, true)
    }

    fn download_file<'v>(
        this: Value<'v>,
        #[starlark(require = pos)] output: Value<'v>,
        #[starlark(require = pos)] url: &str,
        #[starlark(require = named, default = NoneOr::None)] vpnless_url: NoneOr<&str>,
        #[starlark(require = named, default = NoneOr::None)] sha1: NoneOr<&str>,
        #[starlark(require = named, default = NoneOr::None)] sha256: NoneOr<&str>,
        #[starlark(require = named, default = NoneOr::None)] size_bytes: NoneOr<i32>,
        #[starlark(require = named, default = false)] is_executable: bool,
        #[starlark(require = named, default = NoneOr::None)] has_content_based_path: NoneOr<bool>,
    ) -> starlark::Result<Artifact> {
        let _ = (vpnless_url, size_bytes, has_content_based_path);
        let sha1 = sha1.into_option().map(str::to_owned);
        let sha256 = sha256.into_option().map(str::to_owned);
        if sha1.is_none() && sha256.is_none() {
            return sl_bail("download_file requires at least one of `sha1` or `sha256`");
        }
        for (name, digest, len) in [("sha1", &sha1, 40), ("sha256", &sha256, 64)] {
            if let Some(d) = digest {
                if d.len() != len || !d.chars().all(|c| c.is_ascii_hexdigit()) {
                    return sl_bail(format!("download_file: `{name}` must be {len} hex characters, got `{d}`"));
                }
            }
        }
        let mut state = actions(this)?.state.borrow_mut();
        let out = state.output_arg(output)?;
        state.register(ActionRecord {
            category: "download_file".to_owned(),
            identifier: Some(out.short_path.clone()),
            inputs: vec![],
            outputs: vec![out.clone()],
            kind: ActionKind::Download { url: url.to_owned(), sha256, sha1, is_executable },
        })?;
        Ok(Artifact::new(out))
    }

    fn tset<'v>(
        this: Value<'v>,
        #[starlark(args)] args: Value<'v>,
        #[starlark(kwargs)] kwargs: Value<'v>,
    ) -> starlark::Result<NoneType> {
        let _ = (this, args, kwargs);
        unsupported("tset (transitive sets)")
    }

    fn dynamic_output<'v>(this: Value<'v>, #[starlark(kwargs)] kwargs: Value<'v>) -> starlark::Result<NoneType> {
        let _ = (this, kwargs);
        unsupported("dynamic_output")
    }

    fn dynamic_output_new<'v>(this: Value<'v>, #[starlark(args)] args: Value<'v>) -> starlark::Result<NoneType> {
        let _ = (this, args);
        unsupported("dynamic_output_new")
    }

    fn anon_target<'v>(
        this: Value<'v>,
        #[starlark(args)] args: Value<'v>,
        #[starlark(kwargs)] kwargs: Value<'v>,
    ) -> starlark::Result<NoneType> {
        let _ = (this, args, kwargs);
        unsupported("anon_target")
    }

    fn anon_targets<'v>(
        this: Value<'v>,
        #[starlark(args)] args: Value<'v>,
        #[starlark(kwargs)] kwargs: Value<'v>,
    ) -> starlark::Result<NoneType> {
        let _ = (this, args, kwargs);
        unsupported("anon_targets")
    }

    fn artifact_tag<'v>(this: Value<'v>) -> starlark::Result<NoneType> {
        let _ = this;
        unsupported("artifact_tag")
    }

    fn assembled_dir<'v>(
        this: Value<'v>,
        #[starlark(args)] args: Value<'v>,
        #[starlark(kwargs)] kwargs: Value<'v>,
    ) -> starlark::Result<NoneType> {
        let _ = (this, args, kwargs);
        unsupported("assembled_dir")
    }

    fn cas_artifact<'v>(
        this: Value<'v>,
        #[starlark(args)] args: Value<'v>,
        #[starlark(kwargs)] kwargs: Value<'v>,
    ) -> starlark::Result<NoneType> {
        let _ = (this, args, kwargs);
        unsupported("cas_artifact")
    }
}

fn copy_like<'v>(
    this: Value<'v>,
    dest: Value<'v>,
    src: &Artifact,
    category: &str,
    kind: ActionKind,
) -> starlark::Result<Artifact> {
    let mut state = actions(this)?.state.borrow_mut();
    let out = state.output_arg(dest)?;
    state.register(ActionRecord {
        category: category.to_owned(),
        identifier: Some(out.short_path.clone()),
        inputs: vec![src.data.clone()],
        outputs: vec![out.clone()],
        kind,
    })?;
    Ok(Artifact::new(out))
}

fn dir_like<'v>(this: Value<'v>, output: Value<'v>, srcs: DictRef<'v>, copy: bool) -> starlark::Result<Artifact> {
    let mut state = actions(this)?.state.borrow_mut();
    let out = state.output_arg(output)?;
    let mut entries = Vec::new();
    let mut inputs = Vec::new();
    for (k, v) in srcs.iter() {
        let k = k.unpack_str().ok_or_else(|| sl_err("directory entry names must be strings"))?;
        check_relative_path(k, if copy { "copied_dir" } else { "symlinked_dir" })?;
        let a = v.downcast_ref::<Artifact>().ok_or_else(|| sl_err(format!("entry `{k}` must be an Artifact")))?;
        entries.push((k.to_owned(), a.path()));
        inputs.push(a.data.clone());
    }
    state.register(ActionRecord {
        category: if copy { "copied_dir" } else { "symlinked_dir" }.to_owned(),
        identifier: Some(out.short_path.clone()),
        inputs,
        outputs: vec![out.clone()],
        kind: ActionKind::Dir { entries, copy },
    })?;
    Ok(Artifact::new(out))
}
