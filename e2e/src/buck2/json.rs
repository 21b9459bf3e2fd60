//! JSON rendering for `ctx.actions.write_json`: artifacts become their paths (and are collected as
//! inputs), command-line-likes become space-joined strings (Buck2's `SpaceSeparatedCommandLineBuilder`).

use std::sync::Arc;

use starlark::values::dict::DictRef;
use starlark::values::list::ListRef;
use starlark::values::structs::StructRef;
use starlark::values::tuple::TupleRef;
use starlark::values::{Value, ValueLike};

use super::artifacts::{Artifact, ArtifactData, OutputArtifact};
use super::cmd_args::{
    cmd_args_data, render_to_vec, visit_arg, PathStyle, ResolvedStringWithMacros, Visited, WriteJsonCliArgs,
};
use super::error::{sl_bail, sl_err};
use super::labels::{StarlarkLabel, StarlarkTargetLabel};

pub fn to_json(
    v: Value,
    style: &PathStyle,
    inputs: &mut Vec<Arc<ArtifactData>>,
) -> starlark::Result<serde_json::Value> {
    use serde_json::Value as J;
    if v.is_none() {
        return Ok(J::Null);
    }
    if let Some(b) = v.unpack_bool() {
        return Ok(J::Bool(b));
    }
    if let Some(s) = v.unpack_str() {
        return Ok(J::String(s.to_owned()));
    }
    if let Some(a) = v.downcast_ref::<Artifact>() {
        if !inputs.iter().any(|i| Arc::ptr_eq(i, &a.data)) {
            inputs.push(a.data.clone());
        }
        return Ok(J::String(render_to_vec(v, style)?.join(" ")));
    }
    if v.downcast_ref::<OutputArtifact>().is_some() {
        return sl_bail("write_json: OutputArtifact values cannot be written (pass the Artifact instead)");
    }
    if cmd_args_data(v).is_some()
        || ResolvedStringWithMacros::from_value(v).is_some()
        || v.downcast_ref::<WriteJsonCliArgs>().is_some()
    {
        let mut visited = Visited::default();
        visit_arg(v, false, &mut visited);
        for i in visited.inputs {
            if !inputs.iter().any(|x| Arc::ptr_eq(x, &i)) {
                inputs.push(i);
            }
        }
        return Ok(J::String(render_to_vec(v, style)?.join(" ")));
    }
    if v.downcast_ref::<StarlarkLabel>().is_some() || v.downcast_ref::<StarlarkTargetLabel>().is_some() {
        return Ok(J::String(v.to_str()));
    }
    if let Some(l) = ListRef::from_value(v) {
        return Ok(J::Array(l.content().iter().map(|x| to_json(*x, style, inputs)).collect::<Result<_, _>>()?));
    }
    if let Some(t) = TupleRef::from_value(v) {
        return Ok(J::Array(t.content().iter().map(|x| to_json(*x, style, inputs)).collect::<Result<_, _>>()?));
    }
    if let Some(d) = DictRef::from_value(v) {
        let mut map = serde_json::Map::new();
        for (k, x) in d.iter() {
            let k = k
                .unpack_str()
                .ok_or_else(|| sl_err(format!("write_json: dict keys must be strings, got `{}`", k.get_type())))?;
            map.insert(k.to_owned(), to_json(x, style, inputs)?);
        }
        return Ok(J::Object(map));
    }
    if let Some(s) = StructRef::from_value(v) {
        let mut map = serde_json::Map::new();
        for (k, x) in s.iter() {
            map.insert(k.as_str().to_owned(), to_json(x, style, inputs)?);
        }
        return Ok(J::Object(map));
    }
    // ints, floats, records, enums: Starlark's own JSON conversion.
    v.to_json_value()
        .map_err(|e| sl_err(format!("write_json: value of type `{}` is not JSON-serialisable: {e}", v.get_type())))
}
