//! `select()`: opaque during build-file evaluation, composable with `+`, resolved at configuration
//! time (`app/buck2_interpreter_for_build/src/interpreter/selector.rs`).

use std::fmt;

use allocative::Allocative;
use starlark::environment::GlobalsBuilder;
use starlark::starlark_complex_value;
use starlark::starlark_module;
use starlark::values::dict::DictRef;
use starlark::values::{
    starlark_value, Freeze, Heap, NoSerialize, ProvidesStaticType, StarlarkValue, Trace, Value, ValueLifetimeless,
    ValueLike,
};

use super::error::sl_bail;

/// `select({...})` or a concatenation `a + select(...) + b`.
#[derive(Debug, Trace, Freeze, ProvidesStaticType, NoSerialize, Allocative)]
#[repr(C)]
pub enum SelectGen<V: ValueLifetimeless> {
    /// Keys are label strings or `"DEFAULT"`, in written order.
    Dict(Vec<(String, V)>),
    /// Operands of `+`, each a select or a plain value.
    Concat(Vec<V>),
}
starlark_complex_value!(pub Select);

impl<'v, V: ValueLike<'v>> fmt::Display for SelectGen<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectGen::Dict(entries) => {
                write!(f, "select({{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{k:?}: {}", v.to_value().to_repr())?;
                }
                write!(f, "}})")
            }
            SelectGen::Concat(items) => {
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, " + ")?;
                    }
                    write!(f, "{}", v.to_value().to_repr())?;
                }
                Ok(())
            }
        }
    }
}

fn concat<'v>(lhs: Value<'v>, rhs: Value<'v>, heap: Heap<'v>) -> Value<'v> {
    let mut items = Vec::new();
    for side in [lhs, rhs] {
        match Select::from_value(side) {
            Some(SelectGen::Concat(xs)) => items.extend(xs.iter().copied()),
            _ => items.push(side),
        }
    }
    heap.alloc(Select::Concat(items))
}

#[starlark_value(type = "Select")]
impl<'v, V: ValueLike<'v>> StarlarkValue<'v> for SelectGen<V>
where
    Self: ProvidesStaticType<'v>,
{
    fn add(&self, rhs: Value<'v>, heap: Heap<'v>) -> Option<starlark::Result<Value<'v>>> {
        // `self` is the lhs; we need it as a Value: rebuild from contents.
        let me = match self {
            SelectGen::Dict(e) => heap.alloc(Select::Dict(e.iter().map(|(k, v)| (k.clone(), v.to_value())).collect())),
            SelectGen::Concat(xs) => heap.alloc(Select::Concat(xs.iter().map(|v| v.to_value()).collect())),
        };
        Some(Ok(concat(me, rhs, heap)))
    }
    fn radd(&self, lhs: Value<'v>, heap: Heap<'v>) -> Option<starlark::Result<Value<'v>>> {
        let me = match self {
            SelectGen::Dict(e) => heap.alloc(Select::Dict(e.iter().map(|(k, v)| (k.clone(), v.to_value())).collect())),
            SelectGen::Concat(xs) => heap.alloc(Select::Concat(xs.iter().map(|v| v.to_value()).collect())),
        };
        Some(Ok(concat(lhs, me, heap)))
    }
    fn to_bool(&self) -> bool {
        true
    }
}

#[starlark_module]
pub(crate) fn register_select(builder: &mut GlobalsBuilder) {
    /// `select(d: dict[str, Any], /) -> Select`.
    fn select<'v>(#[starlark(require = pos)] d: Value<'v>) -> starlark::Result<Select<'v>> {
        let Some(dict) = DictRef::from_value(d) else {
            return sl_bail(format!("select() expects a dict, got `{}`", d.get_type()));
        };
        let mut entries = Vec::new();
        for (k, v) in dict.iter() {
            let Some(k) = k.unpack_str() else {
                return sl_bail(format!("select() keys must be strings (labels or \"DEFAULT\"), got `{k}`"));
            };
            entries.push((k.to_owned(), v));
        }
        Ok(Select::Dict(entries))
    }

    /// `select_fail(msg, /)`: deliberately not modelled.
    fn select_fail(#[starlark(require = pos)] msg: &str) -> starlark::Result<starlark::values::none::NoneType> {
        sl_bail(format!("select_fail is not supported by the Buck2 model: {msg}"))
    }
}

coerce_gen!(SelectGen);
