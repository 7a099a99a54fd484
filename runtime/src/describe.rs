//! A prepared request read back as plain data (`reaper_lang::request`
//! form): symbols turned back into text, pooled values into trees, typed
//! by the schema. Two prepared requests mean the same thing exactly when
//! their descriptions are equal, whatever order their strings were
//! interned in — which is how the tests hold the fast decoder to the
//! precise one.

use reaper_lang::request::{Entity, Request as Data};
use reaper_lang::types::{ActionId, EntityTypeId, RecordType, Type};
use reaper_lang::value::{Uid, Value};

use crate::engine::Engine;
use crate::request::Request;
use crate::strings::Texts;
use crate::value::{EntityKey, Pools, Slice, Val};

impl Engine {
    /// The request as data: entities sorted by reference, each entity's
    /// parents sorted and distinct, sets and maps in their canonical order.
    pub fn describe_request(&self, request: &Request) -> Data {
        let reader = Describer {
            engine: self,
            request,
        };
        let schema = self.schema();
        let mut entities: Vec<Entity> = request
            .entities
            .iter()
            .map(|data| {
                let attrs = schema
                    .entity_type(EntityTypeId(data.key.ty()))
                    .map_or_else(Vec::new, |def| reader.record(data.attrs, &def.attrs));
                let mut parents: Vec<Uid> = request
                    .parents_of(data.key)
                    .iter()
                    .map(|p| reader.uid(*p))
                    .collect();
                parents.sort();
                parents.dedup();
                Entity {
                    uid: reader.uid(data.key),
                    attrs,
                    parents,
                }
            })
            .collect();
        entities.sort_by(|a, b| a.uid.cmp(&b.uid));
        Data {
            principal: reader.uid(request.principal),
            action: ActionId(request.action),
            resource: reader.uid(request.resource),
            context: reader.record(request.context, schema.context_of(ActionId(request.action))),
            entities,
        }
    }
}

struct Describer<'a> {
    engine: &'a Engine,
    request: &'a Request,
}

impl Describer<'_> {
    fn pools(&self) -> Pools<'_> {
        Pools {
            constants: self.engine.constants(),
            request: &self.request.values,
            scratch: &[],
            constant_ips: &self.engine.constant_ips,
            request_ips: &self.request.ips,
            scratch_ips: &[],
        }
    }

    fn text(&self, sym: u32) -> String {
        Texts::Local(&self.request.strings)
            .text(self.engine.strings(), sym)
            .to_owned()
    }

    fn uid(&self, key: EntityKey) -> Uid {
        Uid {
            ty: EntityTypeId(key.ty()),
            id: self.text(key.id()),
        }
    }

    fn record(&self, slice: Slice, ty: &RecordType) -> Vec<Option<Value>> {
        let values = self.pools().slice(slice);
        ty.fields
            .iter()
            .enumerate()
            .map(|(i, field)| match values.get(i) {
                None | Some(Val::Absent) => None,
                Some(value) => Some(self.value(*value, &field.ty)),
            })
            .collect()
    }

    fn value(&self, value: Val, ty: &Type) -> Value {
        match (value, ty) {
            (Val::Bool(b), _) => Value::Bool(b),
            (Val::Int(n), Type::Duration) => Value::Duration(n),
            (Val::Int(n), Type::Timestamp) => Value::Timestamp(n),
            (Val::Int(n), Type::Decimal) => Value::Decimal(n),
            (Val::Int(n), _) => Value::Int(n),
            (Val::Str(sym), _) => Value::String(self.text(sym)),
            (Val::Entity(key), _) => Value::Entity(self.uid(key)),
            (Val::Action(id), _) => Value::Action(ActionId(id)),
            (Val::Ip(ip), _) => {
                let pools = self.pools();
                let table = match ip.pool {
                    crate::value::Pool::Const => pools.constant_ips,
                    _ => pools.request_ips,
                };
                table
                    .get(ip.index as usize)
                    .map_or(Value::Bool(false), |ip| Value::Ip(*ip))
            }
            (Val::Set(slice), Type::Set(element)) => Value::set(
                self.pools()
                    .slice(slice)
                    .iter()
                    .map(|v| self.value(*v, element))
                    .collect(),
            ),
            (Val::Map(slice), Type::Map(item)) => {
                let values = self.pools().slice(slice);
                let (keys, items) = values.split_at(values.len() / 2);
                Value::map(
                    keys.iter()
                        .zip(items)
                        .map(|(key, value)| {
                            let key = match key {
                                Val::Str(sym) => self.text(*sym),
                                _ => String::new(),
                            };
                            (key, self.value(*value, item))
                        })
                        .collect(),
                )
            }
            (Val::Record(slice), Type::Record(record)) => Value::Record(self.record(slice, record)),
            // A value its type does not describe: only a malformed request
            // could hold one; shown as an empty record so it differs.
            (Val::Set(_) | Val::Map(_) | Val::Record(_) | Val::Absent, _) => {
                Value::Record(Vec::new())
            }
        }
    }
}
