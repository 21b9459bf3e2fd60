//! The contract crate `img-contract` (`generated/src/`): request, output and document types.
//! rustfmt formats the result (see `codegen::generate`), so this only has to be correct.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::render::{header, File};
use crate::spec::{Action, EnumDef, Field, FieldType, Spec, StructDef};

const OUTPUTS: &str = include_str!("adapters/outputs.rs");

pub fn render(spec: &Spec) -> Vec<File> {
    let modules: BTreeSet<&str> = spec
        .actions
        .iter()
        .map(|a| a.module)
        .chain(spec.enums.iter().map(|e| e.module))
        .chain(spec.structs.iter().map(|s| s.module))
        .collect();
    let mut files = vec![
        File::new("generated/src/lib.rs", lib(spec, &modules)),
        File::new("generated/src/outputs.rs", format!("{}{OUTPUTS}", header("//"))),
    ];
    for module in modules {
        files.push(File::new(format!("generated/src/{module}.rs"), module_file(spec, module)));
    }
    files
}

fn lib(spec: &Spec, modules: &BTreeSet<&str>) -> String {
    let mut out = header("//");
    out.push_str(
        "//! Request types shared by the rules_img Starlark and the `img` tool.\n//!\n\
         //! Every build action runs `img <subcommand> --request <file.json> [--output NAME=PATH]...`.\n\
         //! The request JSON is written by the rule at analysis time; outputs travel on the command line.\n\
         //! Fields that carry many files name a param file (one entry per line) instead of embedding a list.\n\n",
    );
    for module in modules {
        let _ = writeln!(out, "pub mod {module};");
    }
    out.push_str("pub mod outputs;\n\n/// Every action's subcommand.\npub const SUBCOMMANDS: &[&str] = &[");
    for action in &spec.actions {
        let _ = write!(out, "{:?}, ", action.subcommand);
    }
    out.push_str("];\n");
    out
}

fn module_file(spec: &Spec, module: &str) -> String {
    let actions: Vec<&Action> = spec.actions.iter().filter(|a| a.module == module).collect();
    let mut out = header("//");
    let _ = writeln!(out, "//! Types of the `{module}` actions and documents.\n");
    let fields: Vec<&Field> = actions
        .iter()
        .flat_map(|a| &a.fields)
        .chain(spec.structs.iter().filter(|s| s.module == module).flat_map(|s| &s.fields))
        .collect();
    if fields.iter().any(|f| matches!(f.ty, FieldType::StrMap | FieldType::OptStrMap)) {
        out.push_str("use std::collections::BTreeMap;\n\n");
    }
    out.push_str("use serde::{Deserialize, Serialize};\n\n");
    if !actions.is_empty() {
        out.push_str("use crate::outputs::{self, OutputsError};\n");
    }
    // Types of other modules this one names.
    let mut imports: BTreeSet<String> = BTreeSet::new();
    for field in &fields {
        if let FieldType::Enum(t) | FieldType::List(t) | FieldType::Opt(t) | FieldType::Struct(t) = field.ty {
            let home = spec.enums.iter().find(|e| e.name == t).map(|e| e.module);
            let home = home.or_else(|| spec.structs.iter().find(|s| s.name == t).map(|s| s.module));
            if let Some(home) = home.filter(|home| *home != module) {
                imports.insert(format!("use crate::{home}::{t};"));
            }
        }
    }
    for import in &imports {
        let _ = writeln!(out, "{import}");
    }
    out.push('\n');
    for e in spec.enums.iter().filter(|e| e.module == module) {
        enum_def(&mut out, e);
    }
    for s in spec.structs.iter().filter(|s| s.module == module) {
        struct_def(&mut out, s.name, s.doc, &s.fields, s.omit_empty, s.default);
    }
    for action in actions {
        let doc = format!("Request of `img {}`: {}", action.subcommand, action.doc);
        struct_def(&mut out, action.request, &doc, &action.fields, false, false);
        let _ = writeln!(
            out,
            "impl {} {{\n    /// The subcommand that takes this request.\n    pub const SUBCOMMAND: &'static str = {:?};\n}}\n",
            action.request, action.subcommand
        );
        outputs_def(&mut out, action);
    }
    out
}

/// Doc comment lines, wrapped at 100 columns.
fn doc_comment(out: &mut String, indent: &str, doc: &str) {
    for paragraph_line in doc.lines() {
        if paragraph_line.is_empty() {
            let _ = writeln!(out, "{indent}///");
            continue;
        }
        let mut line = String::new();
        for word in paragraph_line.split(' ') {
            if !line.is_empty() && indent.len() + 4 + line.len() + 1 + word.len() > 100 {
                let _ = writeln!(out, "{indent}/// {line}");
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        let _ = writeln!(out, "{indent}/// {line}");
    }
}

fn enum_def(out: &mut String, e: &EnumDef) {
    doc_comment(out, "", e.doc);
    out.push_str("#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]\n");
    let _ = writeln!(out, "pub enum {} {{", e.name);
    for (variant, json) in e.values {
        let _ = writeln!(out, "    #[serde(rename = {json:?})]\n    {variant},");
    }
    out.push_str("}\n\n");
    let _ = writeln!(out, "impl {} {{\n    /// The value as it appears in JSON and Starlark.\n    pub fn as_str(self) -> &'static str {{\n        match self {{", e.name);
    for (variant, json) in e.values {
        let _ = writeln!(out, "            {}::{variant} => {json:?},", e.name);
    }
    out.push_str("        }\n    }\n}\n\n");
}

fn struct_def(out: &mut String, name: &str, doc: &str, fields: &[Field], omit_empty: bool, default: bool) {
    doc_comment(out, "", doc);
    let default = if default { "Default, " } else { "" };
    let _ = writeln!(out, "#[derive(Debug, Clone, {default}PartialEq, Eq, Serialize, Deserialize)]");
    out.push_str("#[serde(deny_unknown_fields)]\n");
    let _ = writeln!(out, "pub struct {name} {{");
    for field in fields {
        doc_comment(out, "    ", field.doc);
        let mut serde: Vec<String> = Vec::new();
        if let Some(json) = field.json {
            serde.push(format!("rename = {json:?}"));
        }
        if omit_empty {
            if let Some(skip) = skip_if(&field.ty) {
                serde.push("default".into());
                serde.push(format!("skip_serializing_if = {skip:?}"));
            }
        }
        if !serde.is_empty() {
            let _ = writeln!(out, "    #[serde({})]", serde.join(", "));
        }
        let _ = writeln!(out, "    pub {}: {},", field.name, rust_type(&field.ty));
    }
    out.push_str("}\n\n");
}

fn skip_if(ty: &FieldType) -> Option<&'static str> {
    match ty {
        FieldType::OptStr
        | FieldType::OptBool
        | FieldType::OptInt
        | FieldType::OptSize
        | FieldType::OptStrMap
        | FieldType::OptPath
        | FieldType::Opt(_) => Some("Option::is_none"),
        FieldType::StrMap => Some("BTreeMap::is_empty"),
        FieldType::StrList | FieldType::PathList | FieldType::List(_) => Some("Vec::is_empty"),
        _ => None,
    }
}

pub fn rust_type(ty: &FieldType) -> String {
    match ty {
        FieldType::Str | FieldType::Path => "String".into(),
        FieldType::OptStr | FieldType::OptPath => "Option<String>".into(),
        FieldType::Bool => "bool".into(),
        FieldType::OptBool => "Option<bool>".into(),
        FieldType::Int => "i32".into(),
        FieldType::OptInt => "Option<i32>".into(),
        FieldType::Count => "u32".into(),
        FieldType::Size => "u64".into(),
        FieldType::OptSize => "Option<u64>".into(),
        FieldType::StrList | FieldType::PathList => "Vec<String>".into(),
        FieldType::Opt(name) => format!("Option<{name}>"),
        FieldType::StrMap => "BTreeMap<String, String>".into(),
        FieldType::OptStrMap => "Option<BTreeMap<String, String>>".into(),
        FieldType::Enum(name) | FieldType::Struct(name) => (*name).into(),
        FieldType::List(name) => format!("Vec<{name}>"),
    }
}

fn outputs_def(out: &mut String, action: &Action) {
    let name = action.request.replace("Request", "Outputs");
    let _ = writeln!(out, "/// Outputs of `img {}`.", action.subcommand);
    out.push_str("#[derive(Debug, Clone, PartialEq, Eq)]\n");
    let _ = writeln!(out, "pub struct {name} {{");
    for (output, doc) in &action.outputs {
        doc_comment(out, "    ", doc);
        let _ = writeln!(out, "    pub {output}: String,");
    }
    for (output, doc) in &action.indexed_outputs {
        doc_comment(out, "    ", &format!("{doc} (`--output {output}.<N>=PATH`, N from 0)"));
        let _ = writeln!(out, "    pub {output}: Vec<String>,");
    }
    out.push_str("}\n\n");
    let _ = writeln!(out, "impl {name} {{\n    pub const ACTION: &'static str = {:?};\n", action.subcommand);
    out.push_str("    /// Reads the `--output NAME=PATH` arguments; every output is required, no other is allowed.\n");
    out.push_str("    pub fn from_args(args: &[String]) -> Result<Self, OutputsError> {\n");
    out.push_str("        let mut pairs = outputs::split_pairs(args)?;\n");
    for (output, _) in &action.outputs {
        let _ = writeln!(
            out,
            "        let {output} = outputs::take(Self::ACTION, &mut pairs, {output:?})?\n            .ok_or(OutputsError::Missing {{ action: Self::ACTION, name: {output:?} }})?;"
        );
    }
    for (output, _) in &action.indexed_outputs {
        let _ = writeln!(out, "        let {output} = outputs::take_indexed(Self::ACTION, &mut pairs, {output:?})?;");
    }
    out.push_str("        outputs::reject_unknown(Self::ACTION, &pairs)?;\n");
    let names: Vec<&str> = action.outputs.iter().chain(&action.indexed_outputs).map(|(o, _)| *o).collect();
    let _ = writeln!(out, "        Ok(Self {{ {} }})\n    }}\n}}\n", names.join(", "));
}

/// All structs of the spec, by name (for docs).
pub fn find_struct<'a>(spec: &'a Spec, name: &str) -> Option<&'a StructDef> {
    spec.structs.iter().find(|s| s.name == name)
}
