//! Generates schema-valid requests for the model: entity data for some of
//! the entities policies name (so some reads fail with a missing entity),
//! random parents (cycles included), values at the edges of their ranges
//! (negative durations, decimals near the bounds, maps and sets past the
//! size the VM scans in a line, strings that are or almost are IPs and
//! decimals), only the ids an enumerated type or the stores declare, each
//! action's own context record (store actions' `key`, `ttl`, `size`), and
//! for store actions a declared store and a principal it admits; and
//! renders requests as the JSON `reaper eval` reads, for messages and to
//! check that they validate.

use reaper_lang::literal::{format_decimal, format_duration, format_timestamp, parse_ip};
use reaper_lang::request::{Entity, Request};
use reaper_lang::schema::Schema;
use reaper_lang::types::{ActionId, EntityTypeId, Type};
use reaper_lang::value::{Uid, Value};

use super::model::{Field, MAP_KEYS, Model, STORE, T};
use super::policy::{Head, STRINGS};
use super::tape::Tape;

const INTS: &[i64] = &[
    0,
    1,
    2,
    -1,
    3,
    7,
    100,
    1000,
    16384,
    3_037_000_500,
    -3_037_000_500,
    4_611_686_018_427_387_904,
    i64::MAX,
    i64::MAX - 1,
    i64::MIN,
    i64::MIN + 1,
];
const IPS: &[&str] = &[
    "10.1.2.3",
    "10.0.0.0/8",
    "10.1.0.0/16",
    "127.0.0.1",
    "127.0.0.0/8",
    "224.0.0.5",
    "192.168.1.1",
    "0.0.0.0/0",
    "::1",
    "2001:db8::1",
    "2001:db8::/32",
    "ff02::1",
    "::ffff:10.1.2.3",
];
const DURATIONS: &[i64] = &[
    0,
    -1,
    -18_000_000,
    -i64::MAX,
    1,
    500,
    30_000,
    5_400_000,
    604_800_000,
    i64::MAX,
    9_223_372_036_828_800_000,
];
const TIMESTAMPS: &[i64] = &[
    0,
    -1,
    1_764_339_910_250,
    1_767_225_600_000,
    1_780_297_200_250,
    253_402_128_000_000,
    -62_135_596_800_000,
];

/// Ten-thousandths; `i64::MIN` has no decimal text.
const DECIMALS: &[i64] = &[
    0,
    1,
    -1,
    5_000,
    125_000,
    -35_000,
    10_000,
    1_002_500,
    i64::MAX,
    -i64::MAX,
    i64::MAX - 9_999,
];

pub struct RequestGen<'m, 't> {
    model: &'m Model,
    tape: Tape<'t>,
}

impl<'m, 't> RequestGen<'m, 't> {
    pub fn new(model: &'m Model, tape: Tape<'t>) -> Self {
        Self { model, tape }
    }

    fn uid(&mut self, types: &[usize]) -> Uid {
        let ty = if types.is_empty() {
            self.tape.pick(self.model.entities.len())
        } else {
            *self.tape.choose(types)
        };
        let id = *self.tape.choose(self.model.ids(ty));
        Uid {
            ty: EntityTypeId(ty as u32),
            id: id.to_owned(),
        }
    }

    /// A request, usually aimed at one of `heads` (a rule's actions and
    /// resource types) so that most rules are evaluated.
    pub fn request(&mut self, heads: &[Head]) -> Request {
        let model = self.model;
        let aimed =
            (!heads.is_empty() && !self.tape.chance(20)).then(|| self.tape.choose(heads).clone());
        let action = match &aimed {
            Some(head) if !head.actions.is_empty() => *self.tape.choose(&head.actions),
            _ => *self.tape.choose(&model.requestable()),
        };
        let def = &model.actions[action];
        let on: Vec<usize> = match &aimed {
            Some(head) => {
                let both: Vec<usize> = if def.on.is_empty() {
                    head.resource_types.clone()
                } else {
                    def.on
                        .iter()
                        .copied()
                        .filter(|t| head.resource_types.contains(t))
                        .collect()
                };
                if both.is_empty() {
                    def.on.clone()
                } else {
                    both
                }
            }
            None => def.on.clone(),
        };
        let mut resource = self.uid(&on);
        if let Some(store) = aimed.as_ref().and_then(|h| h.store)
            && resource.ty.0 as usize == STORE
            && self.tape.chance(80)
        {
            store.clone_into(&mut resource.id);
        }
        // A store is accessed by its principals only; other actions on a
        // store (`ping`, which names no `on` or `by`) by their own.
        let principals = match model.store(&resource.id) {
            Some(store) if resource.ty.0 as usize == STORE && model.is_store_action(action) => {
                store.principals.clone()
            }
            _ => def.by.clone(),
        };
        let principal = self.uid(&principals);
        let mut entities = Vec::new();
        // Everyone's data is likely but not certain; the principal and the
        // resource are always among the candidates.
        let mut uids: Vec<Uid> = vec![principal.clone()];
        if resource != principal {
            uids.push(resource.clone());
        }
        for ty in 0..model.entities.len() {
            for id in model.ids(ty) {
                let uid = Uid {
                    ty: EntityTypeId(ty as u32),
                    id: (*id).to_owned(),
                };
                if !uids.contains(&uid) {
                    uids.push(uid);
                }
            }
        }
        for uid in uids {
            if self.tape.chance(30) {
                continue;
            }
            let def = &model.entities[uid.ty.0 as usize];
            let attrs = self.record(&def.attrs);
            let mut parents: Vec<Uid> = Vec::new();
            for _ in 0..self.tape.pick(4) {
                if def.parents.is_empty() {
                    break;
                }
                let parent = self.uid(&def.parents);
                if !parents.contains(&parent) {
                    parents.push(parent);
                }
            }
            entities.push(Entity {
                uid,
                attrs,
                parents,
            });
        }
        let context = self.record(&model.actions[action].context);
        Request {
            principal,
            action: ActionId(action as u32),
            resource,
            context,
            entities,
        }
    }

    fn record(&mut self, fields: &[Field]) -> Vec<Option<Value>> {
        fields
            .iter()
            .map(|f| {
                if f.optional && self.tape.chance(40) {
                    None
                } else {
                    Some(self.value(&f.ty))
                }
            })
            .collect()
    }

    fn len(&mut self) -> usize {
        if self.tape.chance(10) {
            4 + self.tape.pick(8)
        } else {
            self.tape.pick(4)
        }
    }

    fn value(&mut self, ty: &T) -> Value {
        match ty {
            T::Bool => Value::Bool(self.tape.chance(50)),
            T::Int => Value::Int(*self.tape.choose(INTS)),
            // Strings no policy mentions too: the VM interns those per request.
            T::Str => Value::String(if self.tape.chance(20) {
                (*self
                    .tape
                    .choose(&["zz", "Zz", "a b", "web", "x-y", "2001:db8::1"]))
                .to_owned()
            } else {
                (*self.tape.choose(STRINGS)).to_owned()
            }),
            T::Ip => Value::Ip(parse_ip(self.tape.choose::<&str>(IPS)).unwrap()),
            T::Dur => Value::Duration(*self.tape.choose(DURATIONS)),
            T::Ts => Value::Timestamp(*self.tape.choose(TIMESTAMPS)),
            T::Dec => Value::Decimal(*self.tape.choose(DECIMALS)),
            T::Ent(types) => Value::Entity(self.uid(types)),
            T::Set(elem) => {
                let len = self.len();
                Value::set((0..len).map(|_| self.value(elem)).collect())
            }
            T::Map(value) => {
                let len = self.len();
                Value::map(
                    (0..len)
                        .map(|_| {
                            let key = if self.tape.chance(10) {
                                "zz"
                            } else {
                                *self.tape.choose(&MAP_KEYS)
                            };
                            (key.to_owned(), self.value(value))
                        })
                        .collect(),
                )
            }
            T::Rec(fields) | T::Ctx(fields, _) => Value::Record(self.record(fields)),
            T::Action => {
                let actions = self.model.value_actions();
                Value::Action(ActionId(*self.tape.choose(&actions) as u32))
            }
        }
    }
}

// ------------------------------------------------------------------ JSON

fn string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn uid_json(schema: &Schema, uid: &Uid) -> String {
    let ty = schema.entity_type(uid.ty).map_or("?", |t| t.name.as_str());
    format!("{{\"type\": {}, \"id\": {}}}", string(ty), string(&uid.id))
}

fn value_json(schema: &Schema, value: &Value, ty: &Type) -> String {
    match (value, ty) {
        (Value::Bool(b), _) => b.to_string(),
        (Value::Int(n), _) => n.to_string(),
        (Value::String(s), _) => string(s),
        (Value::Ip(net), _) => string(&net.to_string()),
        (Value::Duration(ms), _) => string(&format_duration(*ms)),
        (Value::Timestamp(ms), _) => string(&format_timestamp(*ms)),
        // A number when the JSON number prints as the decimal's text.
        (Value::Decimal(n), _) if n.unsigned_abs() < 100_000_000 && n % 2 == 0 => {
            format_decimal(*n)
        }
        (Value::Decimal(n), _) => string(&format_decimal(*n)),
        (Value::Entity(uid), _) => uid_json(schema, uid),
        (Value::Action(id), _) => string(schema.action(*id).map_or("?", |a| a.name.as_str())),
        (Value::Set(items), Type::Set(elem)) => {
            let items: Vec<String> = items.iter().map(|v| value_json(schema, v, elem)).collect();
            format!("[{}]", items.join(", "))
        }
        (Value::Map(entries), Type::Map(value)) => {
            let items: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}: {}", string(k), value_json(schema, v, value)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        (Value::Record(slots), Type::Record(record)) => record_json(schema, slots, &record.fields),
        _ => "null".into(),
    }
}

fn record_json(
    schema: &Schema,
    slots: &[Option<Value>],
    fields: &[reaper_lang::types::Field],
) -> String {
    let items: Vec<String> = fields
        .iter()
        .zip(slots)
        .filter_map(|(f, v)| {
            v.as_ref()
                .map(|v| format!("{}: {}", string(&f.name), value_json(schema, v, &f.ty)))
        })
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// The request as `reaper eval` reads it, one entity per line.
pub fn json(schema: &Schema, request: &Request) -> String {
    let action = schema
        .action(request.action)
        .map_or("?", |a| a.name.as_str());
    let mut entities = Vec::new();
    for entity in &request.entities {
        let attrs = schema
            .entity_type(entity.uid.ty)
            .map_or_else(String::new, |def| {
                record_json(schema, &entity.attrs, &def.attrs.fields)
            });
        let parents: Vec<String> = entity.parents.iter().map(|p| uid_json(schema, p)).collect();
        let ty = schema
            .entity_type(entity.uid.ty)
            .map_or("?", |t| t.name.as_str());
        entities.push(format!(
            "    {{\"type\": {}, \"id\": {}, \"attrs\": {attrs}, \"parents\": [{}]}}",
            string(ty),
            string(&entity.uid.id),
            parents.join(", ")
        ));
    }
    format!(
        "{{\n  \"principal\": {},\n  \"action\": {},\n  \"resource\": {},\n  \"context\": {},\n  \"entities\": [\n{}\n  ]\n}}",
        uid_json(schema, &request.principal),
        string(action),
        uid_json(schema, &request.resource),
        record_json(
            schema,
            &request.context,
            &schema.context_of(request.action).fields
        ),
        entities.join(",\n")
    )
}
