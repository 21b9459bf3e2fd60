//! A model of Buck2's rule API on starlark-rust, following `shared/reference/buck2-api.md`
//! signature for signature: cells and `.buckconfig`, `.bzl`/BUCK dialects, `rule`/`attrs`/providers,
//! configurations (`select`, platforms, transitions), analysis with `ctx`, and actions executed
//! as real processes. See `e2e/README.md` ("Buck2 model") for what is and is not modelled.

// Native functions mirror Buck2's signatures parameter for parameter (e.g. `ctx.actions.run`).
#![allow(clippy::too_many_arguments)]

/// `starlark_complex_value!` needs `FrozenXGen: Coerce<XGen<Value>>`; our `Gen` types are
/// `#[repr(C)]` and differ only in `V` (`FrozenValue` and `Value` share a representation).
macro_rules! coerce_gen {
    ($t:ident) => {
        unsafe impl<'v> starlark::values::Coerce<$t<starlark::values::Value<'v>>>
            for $t<starlark::values::FrozenValue>
        {
        }
    };
}

mod actions;
mod analysis;
mod artifacts;
mod attrs;
mod buckconfig;
mod builtin_providers;
mod cmd_args;
mod coerce;
mod configuration;
mod configure;
mod error;
mod execute;
mod globals;
mod json;
mod labels;
mod loader;
mod project;
mod providers;
mod rule;
mod select;

pub use error::{Buck2Error, Result};
pub use project::{Analysis, Project};
