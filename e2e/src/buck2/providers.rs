//! `provider()`, `provider_field()`, provider instances, `ProviderCollection` and `Dependency`
//! (`app/buck2_build_api/src/interpreter/rule_defs/provider/*.rs`).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use allocative::Allocative;
use starlark::environment::{GlobalsBuilder, Methods, MethodsBuilder};
use starlark::eval::{Arguments, Evaluator, ParametersSpec, ParametersSpecParam};
use starlark::starlark_complex_value;
use starlark::starlark_module;
use starlark::typing::Ty;
use starlark::values::dict::DictRef;
use starlark::values::list::{AllocList, ListRef};
use starlark::values::tuple::TupleRef;
use starlark::values::typing::TypeCompiled;
use starlark::values::{
    starlark_value, Freeze, FrozenValue, Heap, NoSerialize, ProvidesStaticType, StarlarkValue, Trace, Value,
    ValueLifetimeless, ValueLike,
};

use super::error::{sl_bail, sl_err};
use super::labels::StarlarkLabel;

/// Identity of a provider type. Names are assigned on export (first export wins).
#[derive(Debug, Allocative)]
pub struct ProviderId {
    uid: u64,
    name: OnceLock<String>,
}

static NEXT_PROVIDER_UID: AtomicU64 = AtomicU64::new(1);

impl ProviderId {
    pub fn new_unnamed() -> Arc<Self> {
        Arc::new(ProviderId { uid: NEXT_PROVIDER_UID.fetch_add(1, Ordering::Relaxed), name: OnceLock::new() })
    }
    pub fn new_named(name: &str) -> Arc<Self> {
        let id = Self::new_unnamed();
        let _ = id.name.set(name.to_owned());
        id
    }
    pub fn name(&self) -> &str {
        self.name.get().map(String::as_str).unwrap_or("<unnamed provider>")
    }
    pub fn is_named(&self) -> bool {
        self.name.get().is_some()
    }
    pub fn same(&self, other: &ProviderId) -> bool {
        self.uid == other.uid
    }
}

/// One declared field of a user provider.
#[derive(Debug, Trace, Freeze, Allocative)]
pub struct ProviderFieldSpec<V: ValueLifetimeless> {
    pub name: String,
    /// Type annotation (dict form only).
    pub ty: Option<V>,
    /// `None` with `required == false` means default `None` (list form).
    pub default: Option<V>,
    pub required: bool,
}

/// `provider_field(ty, /, *, default=<absent value>)`.
#[derive(Debug, Trace, Freeze, ProvidesStaticType, NoSerialize, Allocative)]
#[repr(C)]
pub struct ProviderFieldGen<V: ValueLifetimeless> {
    pub ty: V,
    pub default: Option<V>,
}
starlark_complex_value!(pub ProviderField);

impl<'v, V: ValueLike<'v>> fmt::Display for ProviderFieldGen<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "provider_field({})", self.ty)
    }
}

#[starlark_value(type = "ProviderField")]
impl<'v, V: ValueLike<'v>> StarlarkValue<'v> for ProviderFieldGen<V> where Self: ProvidesStaticType<'v> {}

/// A provider type: user-defined (`provider(...)`) or built-in (constructor is a native function).
#[derive(Debug, Trace, Freeze, ProvidesStaticType, NoSerialize, Allocative)]
#[repr(C)]
pub struct ProviderCallableGen<V: ValueLifetimeless> {
    #[trace(static)]
    #[freeze(identity)]
    pub id: Arc<ProviderId>,
    pub fields: Vec<ProviderFieldSpec<V>>,
    /// Built-in providers delegate construction (and argument checking) to a native function.
    pub builtin_ctor: Option<V>,
}
starlark_complex_value!(pub ProviderCallable);

impl<'v, V: ValueLike<'v>> fmt::Display for ProviderCallableGen<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.id.name())
    }
}

/// The provider id of a provider *type* value (user or built-in), if `v` is one.
pub fn provider_id_of(v: Value) -> Option<Arc<ProviderId>> {
    ProviderCallable::from_value(v).map(|c| c.id.clone())
}

fn provider_id_arg(v: Value) -> starlark::Result<Arc<ProviderId>> {
    match provider_id_of(v) {
        Some(id) => Ok(id),
        None if ProviderInstance::from_value(v).is_some() => {
            sl_bail(format!("Expected a provider type (e.g. `DefaultInfo`), got a provider instance `{v}`"))
        }
        None => sl_bail(format!("Expected a provider type, got `{}` of type `{}`", v, v.get_type())),
    }
}

fn check_field_type<'v>(
    provider: &str,
    field: &str,
    ty: Value<'v>,
    value: Value<'v>,
    heap: Heap<'v>,
) -> starlark::Result<()> {
    let compiled = TypeCompiled::new(ty, heap).map_err(starlark::Error::new_other)?;
    if !compiled.matches(value) {
        return sl_bail(format!(
            "Value `{value}` of type `{}` does not match the type annotation `{compiled}` for field `{field}` of provider `{provider}`",
            value.get_type()
        ));
    }
    Ok(())
}

#[starlark_value(type = "ProviderCallable")]
impl<'v, V: ValueLike<'v>> StarlarkValue<'v> for ProviderCallableGen<V>
where
    Self: ProvidesStaticType<'v>,
{
    fn export_as(&self, variable_name: &str, _eval: &mut Evaluator<'v, '_, '_>) -> starlark::Result<()> {
        // First export wins, like Buck2.
        let _ = self.id.name.set(variable_name.to_owned());
        Ok(())
    }

    fn invoke(
        &self,
        _me: Value<'v>,
        args: &Arguments<'v, '_>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> starlark::Result<Value<'v>> {
        if let Some(ctor) = &self.builtin_ctor {
            return ctor.to_value().invoke(args, eval);
        }
        if !self.id.is_named() {
            return sl_bail(
                "Provider must be assigned to a top-level variable before being called, e.g. `FooInfo = provider(fields = [...])`",
            );
        }
        let spec: ParametersSpec<FrozenValue> = ParametersSpec::new_named_only(
            self.id.name(),
            self.fields.iter().map(|f| {
                (
                    f.name.as_str(),
                    if f.required { ParametersSpecParam::Required } else { ParametersSpecParam::Optional },
                )
            }),
        );
        let heap = eval.heap();
        let mut slots = vec![None; self.fields.len()];
        spec.collect(args, &mut slots, heap)?;
        let mut fields = Vec::with_capacity(self.fields.len());
        for (spec, slot) in self.fields.iter().zip(slots) {
            let value = match slot {
                Some(v) => v,
                None => spec.default.map(|d| d.to_value()).unwrap_or_else(Value::new_none),
            };
            if let (Some(ty), Some(_)) = (&spec.ty, slot) {
                check_field_type(self.id.name(), &spec.name, ty.to_value(), value, heap)?;
            }
            // Mutable defaults (`[]`, `{}`) are fresh per instance.
            let value = if slot.is_none() { fresh_default(value, heap) } else { value };
            fields.push((spec.name.clone(), value));
        }
        Ok(heap.alloc(ProviderInstance { id: self.id.clone(), fields }))
    }

    fn eval_type(&self) -> Option<Ty> {
        // Every provider type annotates as "a provider instance" (the model does not distinguish
        // provider types in annotations; Buck2 does).
        Some(<FrozenProviderInstance as StarlarkValue>::get_type_starlark_repr())
    }

    fn equals(&self, other: Value<'v>) -> starlark::Result<bool> {
        Ok(provider_id_of(other).is_some_and(|o| o.same(&self.id)))
    }
}

fn fresh_default<'v>(v: Value<'v>, heap: Heap<'v>) -> Value<'v> {
    if let Some(l) = ListRef::from_value(v) {
        if l.is_empty() {
            return heap.alloc(AllocList::EMPTY);
        }
    }
    if let Some(d) = DictRef::from_value(v) {
        if d.is_empty() {
            return heap.alloc(starlark::values::dict::AllocDict(std::iter::empty::<(Value, Value)>()));
        }
    }
    v
}

/// An instance of a provider: its type id and field values in declaration order.
#[derive(Debug, Trace, Freeze, ProvidesStaticType, NoSerialize, Allocative)]
#[repr(C)]
pub struct ProviderInstanceGen<V: ValueLifetimeless> {
    #[trace(static)]
    #[freeze(identity)]
    pub id: Arc<ProviderId>,
    pub fields: Vec<(String, V)>,
}
starlark_complex_value!(pub ProviderInstance);

impl<'v, V: ValueLike<'v>> ProviderInstanceGen<V> {
    pub fn field(&self, name: &str) -> Option<Value<'v>> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.to_value())
    }
}

impl<'v, V: ValueLike<'v>> fmt::Display for ProviderInstanceGen<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.id.name())?;
        for (i, (k, v)) in self.fields.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{k}={}", v.to_value().to_repr())?;
        }
        write!(f, ")")
    }
}

#[starlark_value(type = "Provider")]
impl<'v, V: ValueLike<'v>> StarlarkValue<'v> for ProviderInstanceGen<V>
where
    Self: ProvidesStaticType<'v>,
{
    fn get_attr(&self, attribute: &str, _heap: Heap<'v>) -> Option<Value<'v>> {
        self.field(attribute)
    }
    fn has_attr(&self, attribute: &str, _heap: Heap<'v>) -> bool {
        self.fields.iter().any(|(k, _)| k == attribute)
    }
    fn dir_attr(&self) -> Vec<String> {
        self.fields.iter().map(|(k, _)| k.clone()).collect()
    }
    fn equals(&self, other: Value<'v>) -> starlark::Result<bool> {
        let Some(o) = ProviderInstance::from_value(other) else { return Ok(false) };
        if !o.id.same(&self.id) || o.fields.len() != self.fields.len() {
            return Ok(false);
        }
        for ((_, a), (_, b)) in self.fields.iter().zip(o.fields.iter()) {
            if !a.to_value().equals(b.to_value())? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// A target's (or sub-target's) list of providers, indexable by provider type.
#[derive(Debug, Trace, Freeze, ProvidesStaticType, NoSerialize, Allocative)]
#[repr(C)]
pub struct ProviderCollectionGen<V: ValueLifetimeless> {
    pub providers: Vec<V>,
}
starlark_complex_value!(pub ProviderCollection);

impl<'v, V: ValueLike<'v>> ProviderCollectionGen<V> {
    pub fn get(&self, id: &ProviderId) -> Option<Value<'v>> {
        self.providers
            .iter()
            .map(|p| p.to_value())
            .find(|p| ProviderInstance::from_value(*p).is_some_and(|i| i.id.same(id)))
    }
    pub fn names(&self) -> Vec<String> {
        self.providers
            .iter()
            .filter_map(|p| ProviderInstance::from_value(p.to_value()).map(|i| i.id.name().to_owned()))
            .collect()
    }
    fn index(&self, key: Value<'v>, owner: &dyn fmt::Display) -> starlark::Result<Value<'v>> {
        let id = provider_id_arg(key)?;
        self.get(&id).ok_or_else(|| {
            sl_err(format!(
                "provider collection of `{owner}` does not have a key `{}` (it has: {})",
                id.name(),
                self.names().join(", ")
            ))
        })
    }
}

/// Build a collection from a list value, enforcing Buck2's rules (providers only, each type once).
pub fn collection_from_list<'v>(list: Value<'v>, what: &str) -> starlark::Result<ProviderCollection<'v>> {
    let items = ListRef::from_value(list)
        .map(|l| l.content().to_vec())
        .or_else(|| TupleRef::from_value(list).map(|t| t.content().to_vec()))
        .ok_or_else(|| sl_err(format!("{what}: expected a list of providers, got `{}`", list.get_type())))?;
    let mut seen: Vec<Arc<ProviderId>> = Vec::new();
    for item in &items {
        let inst = ProviderInstance::from_value(*item).ok_or_else(|| {
            sl_err(format!(
                "{what}: expected a list of providers, got an element `{item}` of type `{}`",
                item.get_type()
            ))
        })?;
        if seen.iter().any(|s| s.same(&inst.id)) {
            return sl_bail(format!("{what}: provider `{}` was specified multiple times", inst.id.name()));
        }
        seen.push(inst.id.clone());
    }
    Ok(ProviderCollection { providers: items })
}

impl<'v, V: ValueLike<'v>> fmt::Display for ProviderCollectionGen<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Providers[{}]", self.names().join(", "))
    }
}

#[starlark_value(type = "ProviderCollection")]
impl<'v, V: ValueLike<'v>> StarlarkValue<'v> for ProviderCollectionGen<V>
where
    Self: ProvidesStaticType<'v>,
{
    fn at(&self, index: Value<'v>, _heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        self.index(index, &"<sub-target>")
    }
    fn is_in(&self, other: Value<'v>) -> starlark::Result<bool> {
        Ok(self.get(&*provider_id_arg(other)?).is_some())
    }
    fn get_methods() -> Option<&'static Methods> {
        Some(COLLECTION_METHODS.methods())
    }
}
starlark::methods_static!(COLLECTION_METHODS = collection_methods);

#[starlark_module]
fn collection_methods(builder: &mut MethodsBuilder) {
    fn get<'v>(this: Value<'v>, #[starlark(require = pos)] index: Value<'v>) -> starlark::Result<Value<'v>> {
        let c = ProviderCollection::from_value(this).ok_or_else(|| sl_err("not a ProviderCollection"))?;
        Ok(c.get(&*provider_id_arg(index)?).unwrap_or_else(Value::new_none))
    }
}

/// `Dependency`: a configured dep's label plus its provider collection.
#[derive(Debug, Trace, Freeze, ProvidesStaticType, NoSerialize, Allocative)]
#[repr(C)]
pub struct DependencyGen<V: ValueLifetimeless> {
    /// A `StarlarkLabel` value.
    pub label: V,
    /// A `ProviderCollection` value.
    pub collection: V,
}
starlark_complex_value!(pub Dependency);

impl<'v, V: ValueLike<'v>> DependencyGen<V> {
    pub fn collection(&self) -> &'v ProviderCollection<'v> {
        ProviderCollection::from_value(self.collection.to_value()).expect("Dependency holds a ProviderCollection")
    }
    pub fn label_value(&self) -> &'v StarlarkLabel {
        self.label.to_value().downcast_ref::<StarlarkLabel>().expect("Dependency holds a Label")
    }
}

impl<'v, V: ValueLike<'v>> fmt::Display for DependencyGen<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<dependency {}>", self.label.to_value())
    }
}

#[starlark_value(type = "Dependency")]
impl<'v, V: ValueLike<'v>> StarlarkValue<'v> for DependencyGen<V>
where
    Self: ProvidesStaticType<'v>,
{
    fn at(&self, index: Value<'v>, _heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        self.collection().index(index, &self.label.to_value())
    }
    fn is_in(&self, other: Value<'v>) -> starlark::Result<bool> {
        Ok(self.collection().get(&*provider_id_arg(other)?).is_some())
    }
    fn equals(&self, other: Value<'v>) -> starlark::Result<bool> {
        match Dependency::from_value(other) {
            Some(o) => o.label.to_value().equals(self.label.to_value()),
            None => Ok(false),
        }
    }
    fn get_methods() -> Option<&'static Methods> {
        Some(DEPENDENCY_METHODS.methods())
    }
}
starlark::methods_static!(DEPENDENCY_METHODS = dependency_methods);

fn this_dep<'v>(this: Value<'v>) -> starlark::Result<&'v Dependency<'v>> {
    Dependency::from_value(this).ok_or_else(|| sl_err("not a Dependency"))
}

#[starlark_module]
fn dependency_methods(builder: &mut MethodsBuilder) {
    #[starlark(attribute)]
    fn label<'v>(this: Value<'v>) -> starlark::Result<Value<'v>> {
        Ok(this_dep(this)?.label.to_value())
    }
    #[starlark(attribute)]
    fn providers<'v>(this: Value<'v>, heap: Heap<'v>) -> starlark::Result<Value<'v>> {
        Ok(heap.alloc(AllocList(this_dep(this)?.collection().providers.iter().copied())))
    }
    fn get<'v>(this: Value<'v>, #[starlark(require = pos)] index: Value<'v>) -> starlark::Result<Value<'v>> {
        Ok(this_dep(this)?.collection().get(&*provider_id_arg(index)?).unwrap_or_else(Value::new_none))
    }
    fn sub_target<'v>(
        this: Value<'v>,
        #[starlark(require = pos)] subtarget: &str,
        heap: Heap<'v>,
    ) -> starlark::Result<Value<'v>> {
        let dep = this_dep(this)?;
        let sub = sub_target_collection(dep.collection(), subtarget)
            .ok_or_else(|| sl_err(format!("Dependency `{}` has no sub-target `{subtarget}`", dep.label.to_value())))?;
        let label = dep.label_value();
        let mut new_label = label.clone();
        new_label.label.sub_target.get_or_insert_with(Vec::new).push(subtarget.to_owned());
        Ok(heap.alloc(Dependency { label: heap.alloc(new_label), collection: sub }))
    }
}

/// `DefaultInfo.sub_targets[name]` of a collection, if present.
pub fn sub_target_collection<'v>(c: &ProviderCollection<'v>, name: &str) -> Option<Value<'v>> {
    let default_info = c.get(&super::builtin_providers::builtin_id("DefaultInfo"))?;
    let subs = ProviderInstance::from_value(default_info)?.field("sub_targets")?;
    let dict = DictRef::from_value(subs)?;
    dict.get_str(name)
}

#[starlark_module]
pub(crate) fn register_provider(builder: &mut GlobalsBuilder) {
    /// `provider(*, doc="", fields)`.
    fn provider<'v>(
        #[starlark(require = named, default = "")] doc: &str,
        #[starlark(require = named)] fields: Value<'v>,
        heap: Heap<'v>,
    ) -> starlark::Result<ProviderCallable<'v>> {
        let _ = doc;
        let mut specs: Vec<ProviderFieldSpec<Value<'v>>> = Vec::new();
        let mut push = |spec: ProviderFieldSpec<Value<'v>>| -> starlark::Result<()> {
            if specs.iter().any(|s| s.name == spec.name) {
                return sl_bail(format!("duplicate field `{}` in provider", spec.name));
            }
            specs.push(spec);
            Ok(())
        };
        if let Some(dict) = DictRef::from_value(fields) {
            for (k, v) in dict.iter() {
                let name = k.unpack_str().ok_or_else(|| sl_err("provider field names must be strings"))?.to_owned();
                if let Some(pf) = ProviderField::from_value(v) {
                    // Validate the type now; defaults must match it.
                    let compiled = TypeCompiled::new(pf.ty, heap).map_err(starlark::Error::new_other)?;
                    if let Some(d) = pf.default {
                        if !compiled.matches(d) {
                            return sl_bail(format!(
                                "default value `{d}` of provider field `{name}` does not match its type `{compiled}`"
                            ));
                        }
                    }
                    push(ProviderFieldSpec {
                        name,
                        ty: Some(pf.ty),
                        default: pf.default,
                        required: pf.default.is_none(),
                    })?;
                } else {
                    TypeCompiled::new(v, heap).map_err(starlark::Error::new_other)?;
                    push(ProviderFieldSpec { name, ty: Some(v), default: None, required: true })?;
                }
            }
        } else {
            let names: Vec<String> = if let Some(l) = ListRef::from_value(fields) {
                l.content().iter().map(|v| v.unpack_str().map(str::to_owned)).collect::<Option<_>>()
            } else if let Some(t) = TupleRef::from_value(fields) {
                t.content().iter().map(|v| v.unpack_str().map(str::to_owned)).collect::<Option<_>>()
            } else {
                None
            }
            .ok_or_else(|| {
                sl_err("`fields` must be a list/tuple of strings or a dict of name to provider_field/type")
            })?;
            for name in names {
                push(ProviderFieldSpec { name, ty: None, default: None, required: false })?;
            }
        }
        Ok(ProviderCallable { id: ProviderId::new_unnamed(), fields: specs, builtin_ctor: None })
    }

    /// `provider_field(ty, /, *, default=<absent value>)`.
    fn provider_field<'v>(
        #[starlark(require = pos)] ty: Value<'v>,
        #[starlark(require = named)] default: Option<Value<'v>>,
    ) -> starlark::Result<ProviderField<'v>> {
        Ok(ProviderField { ty, default })
    }
}

coerce_gen!(ProviderFieldGen);

coerce_gen!(ProviderCallableGen);

coerce_gen!(ProviderInstanceGen);

coerce_gen!(ProviderCollectionGen);

coerce_gen!(DependencyGen);
