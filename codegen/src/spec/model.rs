//! The vocabulary of the spec: rules, attributes, providers, settings, actions and the
//! small statement language rule implementations are written in.
//!
//! Everything here is build-system neutral. The renderers decide how each piece looks in
//! Bazel and in Buck2; nothing in the spec is Starlark text except the doc strings.

/// The public `.bzl` file a symbol is loaded from: `@rules_img//img:<file>` on both systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LoadFile {
    Layer,
    Image,
    Push,
    Load,
    MultiDeploy,
    Pull,
    Convert,
    ImageToolchain,
}

impl LoadFile {
    pub const ALL: [LoadFile; 8] = [
        LoadFile::Layer,
        LoadFile::Image,
        LoadFile::Push,
        LoadFile::Load,
        LoadFile::MultiDeploy,
        LoadFile::Pull,
        LoadFile::Convert,
        LoadFile::ImageToolchain,
    ];

    /// File name inside `img/`.
    pub fn file_name(self) -> &'static str {
        match self {
            LoadFile::Layer => "layer.bzl",
            LoadFile::Image => "image.bzl",
            LoadFile::Push => "push.bzl",
            LoadFile::Load => "load.bzl",
            LoadFile::MultiDeploy => "multi_deploy.bzl",
            LoadFile::Pull => "pull.bzl",
            LoadFile::Convert => "convert.bzl",
            LoadFile::ImageToolchain => "image_toolchain.bzl",
        }
    }

    /// One line describing the file, used as its module docstring.
    pub fn summary(self) -> &'static str {
        match self {
            LoadFile::Layer => "Layer rules: image_layer, layer_from_tar and the file_metadata helper.",
            LoadFile::Image => "Image rules: image_manifest and image_index.",
            LoadFile::Push => "Pushing images to registries: image_push.",
            LoadFile::Load => "Loading images into local runtimes: image_load.",
            LoadFile::MultiDeploy => "Running many push and load operations at once: multi_deploy.",
            LoadFile::Pull => "Pulling base images: pull.",
            LoadFile::Convert => "Importing OCI layouts made elsewhere (rules_oci migration).",
            LoadFile::ImageToolchain => "The img toolchain.",
        }
    }
}

/// What kind of Starlark object a rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// A rule whose targets are built.
    Build,
    /// A rule whose targets are also run (`bazel run`, `buck2 run`).
    Executable,
    /// The toolchain rule.
    Toolchain,
    /// A Bazel repository rule. Buck2 has no repository rules; there the rule becomes a build
    /// rule whose action fetches (see `Rule::buck2_note`).
    Repository,
}

/// A public rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: &'static str,
    pub doc: &'static str,
    pub file: LoadFile,
    pub kind: RuleKind,
    pub attrs: Vec<Attr>,
    /// Global settings the rule reads (each becomes a hidden attribute).
    pub settings: Vec<&'static str>,
    /// Providers the rule returns (by name), for docs and checks.
    pub provides: Vec<&'static str>,
    /// Output groups (Bazel) / sub-targets (Buck2), for docs.
    pub output_groups: Vec<(&'static str, &'static str)>,
    pub body: Body,
    /// How this rule differs on Buck2, for docs (empty when it does not).
    pub buck2_note: &'static str,
    /// A configuration change the rule applies.
    pub transition: Option<Transition>,
    /// The rule reads the target platform's os, architecture and variant.
    pub reads_platform: bool,
}

/// A configuration change a rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The target is built for the platform its `platform` attribute names, when set (Bazel: a
    /// rule transition; Buck2: the target is configured for it through `attrs.configured_dep`).
    ToPlatform,
    /// Each target of the `manifests` attribute is built once per platform of the `platforms`
    /// attribute, when given (Bazel: a split transition; Buck2: one `configured_dep` per pair).
    SplitManifests,
}

/// How a `@platforms` / `config//` constraint maps to an OCI platform field.
#[derive(Debug, Clone)]
pub struct PlatformValue {
    /// The Bazel constraint value, e.g. `@platforms//cpu:aarch64`.
    pub bazel: &'static str,
    /// The Buck2 constraint value, e.g. `config//cpu:arm64`.
    pub buck2: &'static str,
    /// The OCI value, e.g. `arm64`.
    pub value: &'static str,
    /// The OCI variant this constraint implies (`v8` for arm64), or empty.
    pub variant: &'static str,
}

/// What a rule does when analysed.
#[derive(Debug, Clone)]
pub enum Body {
    /// The rule is declared in full but its action is not there yet: analysis fails, naming
    /// the missing capability.
    NotYet { capability: &'static str },
    /// A system-specific implementation that is not expressed in statements, e.g. the toolchain
    /// rule; the renderers know it by name.
    Builtin,
    /// Statements, then providers.
    Impl(Impl),
}

/// A rule implementation: statements that declare outputs and run `img`, then the providers.
#[derive(Debug, Clone, Default)]
pub struct Impl {
    pub steps: Vec<Step>,
    pub returns: Vec<Ret>,
}

/// One statement of a rule implementation.
#[derive(Debug, Clone)]
pub enum Step {
    /// `name = expr`.
    Let(&'static str, Expr),
    /// Declare an output file named `<target name><suffix>`.
    Declare { var: &'static str, suffix: Expr },
    /// Declare an output directory named `<target name><suffix>`.
    DeclareDir { var: &'static str, suffix: Expr },
    /// Run `img <action>`: one request, its inputs, its outputs.
    Run(Run),
    /// Evaluate an expression for its effect (a check that fails analysis).
    Do(Expr),
    /// Write a document of the contract (e.g. a `PushRequest` read by `img push` at run time) to
    /// `<target name><suffix>`; every field of the document is bound once.
    WriteDocument { var: &'static str, suffix: &'static str, document: &'static str, fields: Vec<(&'static str, Expr)> },
}

/// Running one action of the tool.
#[derive(Debug, Clone)]
pub struct Run {
    pub action: &'static str,
    /// Every field of the action's request, bound to its value.
    pub request: Vec<(&'static str, Expr)>,
    /// Extra inputs: expressions that evaluate to a file, `None`, or (with `depsets`) a depset / list.
    pub inputs: Vec<Expr>,
    /// Expressions that evaluate to a Bazel depset / Buck2 list of artifacts.
    pub input_sets: Vec<Expr>,
    /// `(output name, variable)` pairs; the variable holds a declared output.
    pub outputs: Vec<(&'static str, &'static str)>,
    /// Expressions that evaluate to dicts of more outputs (numbered ones, declared by an adapter).
    pub output_sets: Vec<Expr>,
}

/// An expression in a rule implementation.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A string literal.
    Str(&'static str),
    /// A local variable.
    Var(&'static str),
    /// An attribute's value.
    Attr(&'static str),
    /// The path of a single-file attribute's file, or `None` when it is unset.
    FilePath(&'static str),
    /// The file of a single-file attribute, or `None`.
    File(&'static str),
    /// The path of the file a value holds, or `None` (Buck2 renders artifacts as paths itself).
    PathOf(Box<Expr>),
    /// The files of a file-list attribute, as an input set (a Bazel depset, a Buck2 list).
    Files(&'static str),
    /// The paths of the files of a file-list attribute.
    FilePaths(&'static str),
    /// The target's name.
    Name,
    /// `value` of an attribute with an `"auto"` value, falling back to a setting.
    Auto { attr: &'static str, setting: &'static str },
    /// A setting's value.
    Setting(&'static str),
    /// A function of the adapter library (`img/private/common.bzl`), called with the arguments.
    Call(&'static str, Vec<Expr>),
    /// `left == right`.
    Eq(Box<Expr>, Box<Expr>),
    /// `value[key]` on a dict literal of string keys and expressions.
    Pick(Vec<(&'static str, &'static str)>, Box<Expr>),
    /// `value.field`.
    Field(Box<Expr>, &'static str),
    /// A list of expressions.
    List(Vec<Expr>),
    /// `value` if it is not empty, else `None`.
    NoneIfEmpty(Box<Expr>),
    /// The analysis context, for adapter functions that need it.
    Ctx,
    /// `None`.
    None,
    /// `True` or `False`.
    Bool(bool),
    /// A provider instance built from fields.
    Make(&'static str, Vec<(&'static str, Expr)>),
    /// A dict with string keys.
    Dict(Vec<(&'static str, Expr)>),
}

/// One entry of what a rule implementation returns.
#[derive(Debug, Clone)]
pub enum Ret {
    /// The default outputs (`DefaultInfo`).
    Default(Vec<&'static str>),
    /// An output group (Bazel `OutputGroupInfo`) / sub-target (Buck2 `sub_targets`).
    Group(&'static str, Vec<&'static str>),
    /// A provider built from fields.
    Provider(&'static str, Vec<(&'static str, Expr)>),
    /// More providers: an expression that evaluates to a (possibly empty) list of them.
    Extend(Expr),
    /// What `bazel run` / `buck2 run` runs: an adapter's launcher (Bazel: `DefaultInfo` with the
    /// executable and its runfiles; Buck2: `RunInfo`). Takes the place of `Ret::Default`.
    Runnable(Expr),
}

/// A rule attribute.
#[derive(Debug, Clone)]
pub struct Attr {
    pub name: &'static str,
    pub doc: &'static str,
    pub ty: AttrType,
    pub default: Default,
    /// The attribute travels, as is, to a field of the same name of the request of the rule's
    /// action (see `Attr::to_request`).
    pub to_request: bool,
    /// The attribute exists on Buck2 only (what Bazel learns at fetch time, Buck2 needs written down).
    pub buck2_only: bool,
}

/// The type of an attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrType {
    String,
    /// A string limited to these values.
    Enum(&'static [&'static str]),
    Bool,
    Int,
    StringList,
    StringDict,
    /// A single file (a source file or a target with one output).
    File,
    /// An executable file run at build time (on the execution platform).
    Tool,
    /// A dependency that must return these providers (any of them, when several).
    Dep(&'static [&'static str]),
    DepList(&'static [&'static str]),
    /// Files (source files or targets' outputs).
    FileList,
    /// Keys are image paths; values are files, file groups, directories or executables.
    PathToTarget,
    /// Keys are names; values are targets (e.g. string flags for template expansion).
    NameToTarget,
    /// A platform (`platform()` target).
    Platform,
    PlatformList,
    /// A list of dicts with string keys (facts written down, e.g. by `img pull --print-buck2`).
    Records,
}

/// The default of an attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Default {
    /// The attribute is mandatory.
    Required,
    /// Unset (`None`).
    None,
    Str(&'static str),
    Bool(bool),
    Int(i64),
    StrList(&'static [&'static str]),
    StrDict(&'static [(&'static str, &'static str)]),
}

/// A provider and its fields.
#[derive(Debug, Clone)]
pub struct Provider {
    pub name: &'static str,
    pub doc: &'static str,
    /// Exported from `@rules_img//img:providers.bzl`.
    pub public: bool,
    pub fields: Vec<(&'static str, &'static str)>,
}

/// A global setting: a Bazel string flag under `//img/settings`, a key of the `[rules_img]`
/// buckconfig section on Buck2.
#[derive(Debug, Clone)]
pub struct Setting {
    pub name: &'static str,
    pub doc: &'static str,
    pub default: &'static str,
    /// Allowed values; empty means free text.
    pub values: &'static [&'static str],
}

/// A helper function (not a rule), e.g. `file_metadata`.
#[derive(Debug, Clone)]
pub struct Function {
    pub name: &'static str,
    pub doc: &'static str,
    pub file: LoadFile,
    /// Keyword parameters, all defaulting to `None`, with their doc.
    pub params: Vec<(&'static str, &'static str)>,
    /// The returned JSON document (a struct of the contract) built from the non-`None` parameters.
    pub returns_json_of: &'static str,
}

/// An action of the tool: `img <subcommand> --request R --output NAME=PATH ...`.
#[derive(Debug, Clone)]
pub struct Action {
    /// The subcommand, e.g. `layer`.
    pub subcommand: &'static str,
    pub doc: &'static str,
    /// The Rust module of the contract crate the request goes to.
    pub module: &'static str,
    /// The request type's name, e.g. `LayerRequest`.
    pub request: &'static str,
    pub fields: Vec<Field>,
    /// Outputs by name, with their doc.
    pub outputs: Vec<(&'static str, &'static str)>,
    /// Numbered outputs, `--output <name>.<N>=PATH` for N = 0, 1, ..., with their doc.
    pub indexed_outputs: Vec<(&'static str, &'static str)>,
    /// Bazel mnemonic, e.g. `ImageLayer`; the Buck2 category is its snake_case form.
    pub mnemonic: &'static str,
}

/// A field of a request or document.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: &'static str,
    /// The JSON key when it differs from the name (e.g. `mediaType`).
    pub json: Option<&'static str>,
    pub ty: FieldType,
    pub doc: &'static str,
}

/// The type of a request or document field.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldType {
    Str,
    OptStr,
    Bool,
    OptBool,
    Int,
    OptInt,
    /// A count; 0 often means "as many as CPUs".
    Count,
    /// A size in bytes, or another non-negative 64-bit number.
    Size,
    OptSize,
    StrList,
    StrMap,
    OptStrMap,
    /// A path of an input file (relative to the action's working directory).
    Path,
    OptPath,
    /// Paths of a few input files known at analysis time (many files travel as param files).
    PathList,
    /// An optional contract struct.
    Opt(&'static str),
    /// A contract struct.
    Struct(&'static str),
    Enum(&'static str),
    /// A list of a contract struct.
    List(&'static str),
}

/// A string enum of the contract, e.g. `Compression`.
#[derive(Debug, Clone)]
pub struct EnumDef {
    pub name: &'static str,
    pub doc: &'static str,
    pub module: &'static str,
    pub values: &'static [(&'static str, &'static str)],
}

/// A struct of the contract that is not a request: a part of one (e.g. `Executable`) or a
/// document the tool writes and reads (e.g. `LayerMetadata`).
#[derive(Debug, Clone)]
pub struct StructDef {
    pub name: &'static str,
    pub doc: &'static str,
    pub module: &'static str,
    pub fields: Vec<Field>,
    /// Optional and empty fields are left out when writing (documents); requests always carry
    /// every field so that Starlark and tool agree on the full shape.
    pub omit_empty: bool,
    /// Derive `Default` (documents whose fields are all optional).
    pub default: bool,
}

/// The whole spec.
#[derive(Debug, Clone)]
pub struct Spec {
    pub rules: Vec<Rule>,
    /// OS constraints and their OCI `os`.
    pub oses: Vec<PlatformValue>,
    /// CPU constraints and their OCI `architecture` (and `variant`).
    pub cpus: Vec<PlatformValue>,
    pub functions: Vec<Function>,
    pub providers: Vec<Provider>,
    pub settings: Vec<Setting>,
    pub actions: Vec<Action>,
    pub enums: Vec<EnumDef>,
    pub structs: Vec<StructDef>,
}

impl Spec {
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }
    pub fn action(&self, subcommand: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.subcommand == subcommand)
    }
    pub fn setting(&self, name: &str) -> Option<&Setting> {
        self.settings.iter().find(|s| s.name == name)
    }
    pub fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.name == name)
    }
}

// Small constructors that keep the spec tables readable.

impl Attr {
    pub fn new(name: &'static str, ty: AttrType, default: Default, doc: &'static str) -> Attr {
        Attr { name, doc, ty, default, to_request: false, buck2_only: false }
    }

    /// Marks the attribute as Buck2-only.
    pub fn buck2_only(mut self) -> Attr {
        self.buck2_only = true;
        self
    }

    /// Sends the attribute's value to the request of the rule's action, in a field of the same
    /// name whose type follows from the attribute's: one edit adds the attribute to both rules,
    /// the docs and the Rust request type.
    pub fn to_request(mut self) -> Attr {
        self.to_request = true;
        self
    }

    /// The request field and its value for an attribute sent with `to_request`, or `None` for
    /// attribute types that need an explicit binding.
    pub fn request_field(&self) -> Option<(Field, Expr)> {
        let (ty, value) = match (&self.ty, &self.default) {
            (AttrType::String | AttrType::Enum(_), _) => (FieldType::Str, Expr::Attr(self.name)),
            (AttrType::Bool, _) => (FieldType::Bool, Expr::Attr(self.name)),
            (AttrType::Int, _) => (FieldType::Int, Expr::Attr(self.name)),
            (AttrType::StringList, _) => (FieldType::StrList, Expr::Attr(self.name)),
            (AttrType::StringDict, _) => (FieldType::StrMap, Expr::Attr(self.name)),
            (AttrType::File, Default::Required) => (FieldType::Path, Expr::FilePath(self.name)),
            (AttrType::File, _) => (FieldType::OptPath, Expr::FilePath(self.name)),
            _ => return None,
        };
        Some((Field::new(self.name, ty, self.doc), value))
    }
}

impl Field {
    pub fn new(name: &'static str, ty: FieldType, doc: &'static str) -> Field {
        Field { name, json: None, ty, doc }
    }
    pub fn json(mut self, key: &'static str) -> Field {
        self.json = Some(key);
        self
    }
}

impl Expr {
    pub fn call(name: &'static str, args: Vec<Expr>) -> Expr {
        Expr::Call(name, args)
    }
    pub fn eq(left: Expr, right: Expr) -> Expr {
        Expr::Eq(Box::new(left), Box::new(right))
    }
    pub fn none_if_empty(value: Expr) -> Expr {
        Expr::NoneIfEmpty(Box::new(value))
    }
    pub fn field(value: Expr, name: &'static str) -> Expr {
        Expr::Field(Box::new(value), name)
    }
    pub fn path_of(value: Expr) -> Expr {
        Expr::PathOf(Box::new(value))
    }
}
