//! `Artifact` and `OutputArtifact` (`app/buck2_build_api/src/interpreter/rule_defs/artifact/methods.rs`).
//!
//! Paths are fixed when an artifact is declared (Buck2 layout
//! `buck-out/v2/gen/<cell>/<cfg-hash>/<pkg>/__<target>__/<short_path>`), so command lines can be
//! rendered as soon as an action is registered.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use allocative::Allocative;
use starlark::collections::StarlarkHasher;
use starlark::environment::{Methods, MethodsBuilder};
use starlark::starlark_module;
use starlark::starlark_simple_value;
use starlark::values::{starlark_value, Heap, NoSerialize, ProvidesStaticType, StarlarkValue, Value, ValueLike};

use super::configuration::Configuration;
use super::error::{sl_bail, sl_err};
use super::labels::{ProvidersLabel, StarlarkLabel, TargetLabel};

/// Shared identity of one source file or declared output.
#[derive(Debug, Allocative)]
pub struct ArtifactData {
    /// Project-relative path.
    pub path: String,
    /// Package-relative (source) or target-output-dir-relative (declared) path.
    pub short_path: String,
    pub is_source: bool,
    pub is_dir: bool,
    #[allocative(skip)]
    pub owner: Option<(TargetLabel, Arc<Configuration>)>,
    /// Which analysis declared it (0 for sources); only that analysis may bind it.
    pub registry: u64,
    pub bound: AtomicBool,
}

impl ArtifactData {
    pub fn source(path: String, short_path: String, is_dir: bool) -> Arc<Self> {
        Arc::new(ArtifactData {
            path,
            short_path,
            is_source: true,
            is_dir,
            owner: None,
            registry: 0,
            bound: AtomicBool::new(true),
        })
    }
    pub fn is_bound(&self) -> bool {
        self.bound.load(Ordering::SeqCst)
    }
    pub fn mark_bound(&self) -> bool {
        !self.bound.swap(true, Ordering::SeqCst)
    }
}

/// `Artifact`: a source or declared artifact, possibly projected into a directory artifact.
#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative)]
pub struct Artifact {
    pub data: Arc<ArtifactData>,
    /// `project()` path inside a directory artifact.
    pub projection: Option<String>,
    pub hide_prefix: bool,
}
starlark_simple_value!(Artifact);

impl Artifact {
    pub fn new(data: Arc<ArtifactData>) -> Self {
        Artifact { data, projection: None, hide_prefix: false }
    }
    /// Project-relative path used on command lines.
    pub fn path(&self) -> String {
        match &self.projection {
            Some(p) => format!("{}/{}", self.data.path, p),
            None => self.data.path.clone(),
        }
    }
    pub fn short_path(&self) -> String {
        match &self.projection {
            Some(p) if self.hide_prefix => p.clone(),
            Some(p) => format!("{}/{}", self.data.short_path, p),
            None => self.data.short_path.clone(),
        }
    }
    fn basename(&self) -> String {
        let p = self.path();
        p.rsplit('/').next().unwrap_or(&p).to_owned()
    }
}

fn extension_of(basename: &str) -> String {
    match basename.rfind('.') {
        Some(0) | None => String::new(),
        Some(i) => basename[i..].to_owned(),
    }
}

impl fmt::Display for Artifact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.data.is_source {
            write!(f, "<source {}>", self.path())
        } else {
            match &self.data.owner {
                Some((label, _)) => write!(f, "<build artifact {} bound to {}>", self.short_path(), label),
                None => write!(f, "<build artifact {}>", self.short_path()),
            }
        }
    }
}

#[starlark_value(type = "Artifact")]
impl<'v> StarlarkValue<'v> for Artifact {
    fn get_methods() -> Option<&'static Methods> {
        Some(ARTIFACT_METHODS.methods())
    }
    fn equals(&self, other: Value<'v>) -> starlark::Result<bool> {
        Ok(other.downcast_ref::<Artifact>().is_some_and(|o| o.path() == self.path()))
    }
    fn write_hash(&self, hasher: &mut StarlarkHasher) -> starlark::Result<()> {
        std::hash::Hash::hash(&self.path(), hasher);
        Ok(())
    }
}
starlark::methods_static!(ARTIFACT_METHODS = artifact_methods);

fn owner_value<'v>(data: &ArtifactData, heap: Heap<'v>) -> Value<'v> {
    match &data.owner {
        Some((label, cfg)) => heap.alloc(StarlarkLabel { label: ProvidersLabel::new(label.clone()), cfg: cfg.clone() }),
        None => Value::new_none(),
    }
}

#[starlark_module]
fn artifact_methods(builder: &mut MethodsBuilder) {
    #[starlark(attribute)]
    fn basename(this: &Artifact) -> starlark::Result<String> {
        Ok(this.basename())
    }
    #[starlark(attribute)]
    fn extension(this: &Artifact) -> starlark::Result<String> {
        Ok(extension_of(&this.basename()))
    }
    #[starlark(attribute)]
    fn short_path(this: &Artifact) -> starlark::Result<String> {
        Ok(this.short_path())
    }
    #[starlark(attribute)]
    fn is_source(this: &Artifact) -> starlark::Result<bool> {
        Ok(this.data.is_source)
    }
    #[starlark(attribute)]
    fn owner<'v>(this: &Artifact, heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        Ok(owner_value(&this.data, heap))
    }
    fn as_output(this: &Artifact) -> starlark::Result<OutputArtifact> {
        if this.data.is_source {
            return sl_bail(format!("Source artifact `{}` cannot be used as an output", this.path()));
        }
        if this.projection.is_some() {
            return sl_bail(format!("Projected artifact `{}` cannot be used as an output", this.path()));
        }
        if this.data.is_bound() {
            return sl_bail(format!(
                "Artifact `{}` is already bound to an action, so it cannot be used as an output",
                this.short_path()
            ));
        }
        Ok(OutputArtifact { data: this.data.clone() })
    }
    fn project(
        this: &Artifact,
        #[starlark(require = pos)] path: &str,
        #[starlark(require = named, default = false)] hide_prefix: bool,
    ) -> starlark::Result<Artifact> {
        check_relative_path(path, "project")?;
        let projection = match &this.projection {
            Some(p) => format!("{p}/{path}"),
            None => path.to_owned(),
        };
        Ok(Artifact { data: this.data.clone(), projection: Some(projection), hide_prefix })
    }
    fn with_associated_artifacts<'v>(
        this: &Artifact,
        #[starlark(require = pos)] artifacts: Value<'v>,
    ) -> starlark::Result<Artifact> {
        // Associated artifacts are not tracked by the model; the copy is the artifact itself.
        let _ = artifacts;
        Ok(this.clone())
    }
    fn without_associated_artifacts(this: &Artifact) -> starlark::Result<Artifact> {
        Ok(this.clone())
    }
}

/// Reject empty, absolute and `..`-containing paths (Buck2's `ForwardRelativePath`).
pub fn check_relative_path(path: &str, what: &str) -> starlark::Result<()> {
    if path.is_empty() || path.starts_with('/') || path.split('/').any(|c| c == ".." || c == "." || c.is_empty()) {
        return Err(sl_err(format!("{what}: `{path}` is not a normalized forward relative path")));
    }
    Ok(())
}

/// `OutputArtifact` (`artifact.as_output()`).
#[derive(Debug, Clone, ProvidesStaticType, NoSerialize, Allocative)]
pub struct OutputArtifact {
    pub data: Arc<ArtifactData>,
}
starlark_simple_value!(OutputArtifact);

impl fmt::Display for OutputArtifact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<output artifact {}>", self.data.short_path)
    }
}

#[starlark_value(type = "OutputArtifact")]
impl<'v> StarlarkValue<'v> for OutputArtifact {
    fn get_methods() -> Option<&'static Methods> {
        Some(OUTPUT_ARTIFACT_METHODS.methods())
    }
}
starlark::methods_static!(OUTPUT_ARTIFACT_METHODS = output_artifact_methods);

#[starlark_module]
fn output_artifact_methods(builder: &mut MethodsBuilder) {
    #[starlark(attribute)]
    fn basename(this: &OutputArtifact) -> starlark::Result<String> {
        Ok(Artifact::new(this.data.clone()).basename())
    }
    #[starlark(attribute)]
    fn extension(this: &OutputArtifact) -> starlark::Result<String> {
        Ok(extension_of(&Artifact::new(this.data.clone()).basename()))
    }
    #[starlark(attribute)]
    fn short_path(this: &OutputArtifact) -> starlark::Result<String> {
        Ok(this.data.short_path.clone())
    }
    #[starlark(attribute)]
    fn is_source(this: &OutputArtifact) -> starlark::Result<bool> {
        Ok(false)
    }
    #[starlark(attribute)]
    fn owner<'v>(this: &OutputArtifact, heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        Ok(owner_value(&this.data, heap))
    }
    fn as_input(this: &OutputArtifact) -> starlark::Result<Artifact> {
        Ok(Artifact::new(this.data.clone()))
    }
}
