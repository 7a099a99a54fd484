//! Python values into request JSON text (`docs/requests.md`), which the
//! runtime's decoder then validates against the schema, so a refused
//! request names its field whatever form it came in.
//!
//! | Python | JSON |
//! |---|---|
//! | `("User", "ana")`, `'User::"ana"'`, `reaper.Entity`, a dict | an entity (principal, resource, `entities`, parents) |
//! | `bool`, `int`, `float`, `str` | themselves |
//! | `datetime` with a time zone | an RFC 3339 timestamp, to the millisecond (a naive one is refused) |
//! | `timedelta` | a duration (`"1h30m"`), whole milliseconds |
//! | `ipaddress` addresses, networks, interfaces | their text |
//! | `decimal.Decimal` | its text |
//! | `("User", "bob")`, `reaper.Entity` as a value | an entity reference |
//! | `list`, `set`, `frozenset`, other tuples | an array (a set) |
//! | `dict` with string keys | an object (a record or map) |
//!
//! A tuple of two strings is an entity reference wherever it appears, as
//! in the principal and resource: a set of two strings is a list or a
//! set.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString,
    PyTuple, PyType,
};
use reaper_runtime::store::access::push_json_string;

use crate::errors::request_error;
use crate::results::Entity;

/// Nesting deeper than the runtime's decoder takes (128) is refused
/// here, before a self-containing list could recurse for ever.
const MAX_DEPTH: usize = 128;

/// The request of `authorize` as JSON text: either `request` (a dict in
/// the JSON form, whose principal, resource and entities may use the
/// Python forms; or JSON text) or the keyword fields.
#[pyfunction]
#[pyo3(signature = (request=None, /, *, principal=None, action=None, resource=None, context=None, entities=None))]
pub fn request_json(
    py: Python<'_>,
    request: Option<&Bound<'_, PyAny>>,
    principal: Option<&Bound<'_, PyAny>>,
    action: Option<&Bound<'_, PyAny>>,
    resource: Option<&Bound<'_, PyAny>>,
    context: Option<&Bound<'_, PyAny>>,
    entities: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let fields = Fields {
        principal,
        action,
        resource,
        context,
        entities,
    };
    match request {
        Some(request) => {
            if fields.any() {
                return Err(pyo3::exceptions::PyTypeError::new_err(
                    "pass a request, or principal=/action=/resource=/context=/entities=, not both",
                ));
            }
            request_text(py, request, "")
        }
        None => {
            let mut writer = Writer::new(py);
            let written = writer.fields(&fields);
            writer.finish(written, "")
        }
    }
}

/// An entity reference as request JSON (`{"type": …, "id": …}`): a store
/// caller's principal.
#[pyfunction]
pub fn entity_reference_json(py: Python<'_>, entity: &Bound<'_, PyAny>) -> PyResult<String> {
    let mut writer = Writer::new(py);
    let written = writer.reference(entity);
    writer.finish(written, "principal")
}

/// A value as JSON text (a store caller's context).
#[pyfunction]
pub fn value_json(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<String> {
    let mut writer = Writer::new(py);
    let written = writer.value(value, 0);
    writer.finish(written, "context")
}

/// One request of a batch (a dict, JSON text or bytes), its errors under
/// `prefix`.
pub fn request_text(py: Python<'_>, request: &Bound<'_, PyAny>, prefix: &str) -> PyResult<String> {
    if let Ok(text) = request.cast::<PyString>() {
        return Ok(text.to_str()?.to_owned());
    }
    if let Ok(bytes) = request.cast::<PyBytes>() {
        return String::from_utf8(bytes.as_bytes().to_vec())
            .map_err(|_| request_error(py, prefix, "the request is not UTF-8"));
    }
    let Ok(dict) = request.cast::<PyDict>() else {
        return Err(request_error(
            py,
            prefix,
            &format!(
                "a request is a dict or JSON text, not {}",
                type_name(request)
            ),
        ));
    };
    let mut writer = Writer::new(py);
    let written = writer.request_dict(dict);
    writer.finish(written, prefix)
}

/// A store caller's context fields: the inside of one JSON object.
pub fn context_fields(py: Python<'_>, context: Option<&Bound<'_, PyAny>>) -> PyResult<String> {
    let Some(context) = context.filter(|c| !c.is_none()) else {
        return Ok(String::new());
    };
    if !context.is_instance_of::<PyDict>() {
        return Err(request_error(
            py,
            "context",
            &format!("the context is a dict, not {}", type_name(context)),
        ));
    }
    let text = value_json(py, context)?;
    Ok(text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or_default()
        .to_owned())
}

struct Fields<'a, 'py> {
    principal: Option<&'a Bound<'py, PyAny>>,
    action: Option<&'a Bound<'py, PyAny>>,
    resource: Option<&'a Bound<'py, PyAny>>,
    context: Option<&'a Bound<'py, PyAny>>,
    entities: Option<&'a Bound<'py, PyAny>>,
}

impl Fields<'_, '_> {
    fn any(&self) -> bool {
        [
            self.principal,
            self.action,
            self.resource,
            self.context,
            self.entities,
        ]
        .iter()
        .any(Option::is_some)
    }
}

/// The Python classes whose values have a text form, looked up once.
struct Classes {
    datetime: Py<PyType>,
    date: Py<PyType>,
    timedelta: Py<PyType>,
    decimal: Py<PyType>,
    ip: Vec<Py<PyType>>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

impl Classes {
    fn is_ip(&self, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        for class in &self.ip {
            if value.is_instance(class.bind(value.py()))? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || {
        let datetime = py.import("datetime")?;
        let ipaddress = py.import("ipaddress")?;
        let class = |module: &Bound<'_, PyModule>, name: &str| -> PyResult<Py<PyType>> {
            Ok(module.getattr(name)?.cast_into::<PyType>()?.unbind())
        };
        let ip = [
            "IPv4Address",
            "IPv6Address",
            "IPv4Network",
            "IPv6Network",
            "IPv4Interface",
            "IPv6Interface",
        ]
        .iter()
        .map(|name| class(&ipaddress, name))
        .collect::<PyResult<Vec<_>>>()?;
        Ok(Classes {
            datetime: class(&datetime, "datetime")?,
            date: class(&datetime, "date")?,
            timedelta: class(&datetime, "timedelta")?,
            decimal: class(&py.import("decimal")?, "Decimal")?,
            ip,
        })
    })
}

/// `("User", "bob")`: a tuple of two strings.
fn is_reference_pair(value: &Bound<'_, PyAny>) -> bool {
    value.cast::<PyTuple>().is_ok_and(|pair| {
        pair.len() == 2 && pair.iter().all(|item| item.is_instance_of::<PyString>())
    })
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| format!("a `{n}`"))
        .unwrap_or_else(|_| "this value".into())
}

/// Why a value could not be written: a Python error (raised as is), or a
/// value of the wrong shape, with the path to it collected on the way out
/// (innermost first) so that the way in costs nothing.
enum Fail {
    Python(PyErr),
    Shape { reason: String, path: Vec<Segment> },
}

enum Segment {
    Key(String),
    Index(usize),
}

impl From<PyErr> for Fail {
    fn from(error: PyErr) -> Self {
        Fail::Python(error)
    }
}

type Written = Result<(), Fail>;

fn shape(reason: impl Into<String>) -> Fail {
    Fail::Shape {
        reason: reason.into(),
        path: Vec::new(),
    }
}

trait Within {
    /// Adds the segment a failure happened under.
    fn within(self, segment: impl FnOnce() -> Segment) -> Self;
}

impl Within for Written {
    fn within(self, segment: impl FnOnce() -> Segment) -> Self {
        match self {
            Err(Fail::Shape { reason, mut path }) => {
                path.push(segment());
                Err(Fail::Shape { reason, path })
            }
            other => other,
        }
    }
}

fn key(name: &str) -> impl FnOnce() -> Segment + '_ {
    move || Segment::Key(name.to_owned())
}

fn index(i: usize) -> impl FnOnce() -> Segment {
    move || Segment::Index(i)
}

/// Writes JSON text.
struct Writer<'py> {
    py: Python<'py>,
    out: String,
}

impl<'py> Writer<'py> {
    fn new(py: Python<'py>) -> Self {
        Writer {
            py,
            out: String::with_capacity(512),
        }
    }

    /// The text, or the failure as `RequestError` naming its field under
    /// `prefix`.
    fn finish(self, written: Written, prefix: &str) -> PyResult<String> {
        match written {
            Ok(()) => Ok(self.out),
            Err(Fail::Python(error)) => Err(error),
            Err(Fail::Shape { reason, path }) => {
                let mut field = prefix.to_owned();
                for segment in path.iter().rev() {
                    match segment {
                        Segment::Key(name) => {
                            if !field.is_empty() {
                                field.push('.');
                            }
                            field.push_str(name);
                        }
                        Segment::Index(i) => {
                            use std::fmt::Write as _;
                            let _ = write!(field, "[{i}]");
                        }
                    }
                }
                Err(request_error(self.py, &field, &reason))
            }
        }
    }

    fn key(&mut self, first: &mut bool, key: &str) {
        if !std::mem::take(first) {
            self.out.push(',');
        }
        push_json_string(&mut self.out, key);
        self.out.push(':');
    }

    fn fields(&mut self, fields: &Fields<'_, 'py>) -> Written {
        self.out.push('{');
        let mut first = true;
        if let Some(principal) = fields.principal {
            self.key(&mut first, "principal");
            self.entity(principal).within(key("principal"))?;
        }
        if let Some(action) = fields.action {
            self.key(&mut first, "action");
            self.value(action, 1).within(key("action"))?;
        }
        if let Some(resource) = fields.resource {
            self.key(&mut first, "resource");
            self.entity(resource).within(key("resource"))?;
        }
        if let Some(context) = fields.context.filter(|c| !c.is_none()) {
            self.key(&mut first, "context");
            self.value(context, 1).within(key("context"))?;
        }
        if let Some(entities) = fields.entities.filter(|e| !e.is_none()) {
            self.key(&mut first, "entities");
            self.entity_list(entities).within(key("entities"))?;
        }
        self.out.push('}');
        Ok(())
    }

    /// A request in the JSON form, entities in the Python forms too.
    fn request_dict(&mut self, dict: &Bound<'py, PyDict>) -> Written {
        self.out.push('{');
        let mut first = true;
        for (name, value) in dict.iter() {
            let name = dict_key(&name)?;
            let name = name.to_str()?;
            self.key(&mut first, name);
            match name {
                "principal" | "resource" => self.entity(&value),
                "entities" => self.entity_list(&value),
                _ => self.value(&value, 1),
            }
            .within(key(name))?;
        }
        self.out.push('}');
        Ok(())
    }

    /// Items of a list (not a str or a dict), each written by `item`.
    fn list(
        &mut self,
        items: &Bound<'py, PyAny>,
        what: &str,
        mut item: impl FnMut(&mut Self, &Bound<'py, PyAny>) -> Written,
    ) -> Written {
        if items.is_instance_of::<PyString>() || items.is_instance_of::<PyDict>() {
            return Err(shape(format!("{what} are a list of entities")));
        }
        let iterator = items
            .try_iter()
            .map_err(|_| shape(format!("{what} are a list of entities")))?;
        self.out.push('[');
        for (i, element) in iterator.enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            item(self, &element?).within(index(i))?;
        }
        self.out.push(']');
        Ok(())
    }

    fn entity_list(&mut self, entities: &Bound<'py, PyAny>) -> Written {
        self.list(entities, "entities", |w, e| w.entity(e))
    }

    fn reference_list(&mut self, parents: &Bound<'py, PyAny>) -> Written {
        self.list(parents, "parents", |w, p| w.reference(p))
    }

    /// An entity where one is expected: with its data when it has some.
    fn entity(&mut self, entity: &Bound<'py, PyAny>) -> Written {
        if let Ok(entity) = entity.cast::<Entity>() {
            let entity = entity.get();
            self.uid_fields(&entity.ty, &entity.id);
            if let Some(attrs) = &entity.attrs {
                self.out.push_str(",\"attrs\":");
                self.value(attrs.bind(self.py), 1).within(key("attrs"))?;
            }
            if let Some(parents) = &entity.parents {
                self.out.push_str(",\"parents\":");
                self.reference_list(parents.bind(self.py))
                    .within(key("parents"))?;
            }
            self.out.push('}');
            return Ok(());
        }
        if let Ok(dict) = entity.cast::<PyDict>() {
            self.out.push('{');
            let mut first = true;
            for (name, value) in dict.iter() {
                let name = dict_key(&name)?;
                let name = name.to_str()?;
                self.key(&mut first, name);
                if name == "parents" {
                    self.reference_list(&value)
                } else {
                    self.value(&value, 1)
                }
                .within(key(name))?;
            }
            self.out.push('}');
            return Ok(());
        }
        self.reference(entity)
    }

    /// An entity reference: `(type, id)`, `'Type::"id"'`, a
    /// `reaper.Entity` or a `{"type", "id"}` dict.
    fn reference(&mut self, entity: &Bound<'py, PyAny>) -> Written {
        let (ty, id) = type_and_id(entity)?;
        self.uid_fields(&ty, &id);
        self.out.push('}');
        Ok(())
    }

    /// `{"type": …, "id": …` (the object left open for data).
    fn uid_fields(&mut self, ty: &str, id: &str) {
        self.out.push_str("{\"type\":");
        push_json_string(&mut self.out, ty);
        self.out.push_str(",\"id\":");
        push_json_string(&mut self.out, id);
    }

    /// A value of an attribute or of the context.
    fn value(&mut self, value: &Bound<'py, PyAny>, depth: usize) -> Written {
        if depth > MAX_DEPTH {
            return Err(shape(format!("nested more than {MAX_DEPTH} levels deep")));
        }
        if let Ok(text) = value.cast::<PyString>() {
            push_json_string(&mut self.out, text.to_str()?);
        } else if let Ok(flag) = value.cast::<PyBool>() {
            self.out
                .push_str(if flag.is_true() { "true" } else { "false" });
        } else if let Ok(int) = value.cast::<PyInt>() {
            let int: i64 = int
                .extract()
                .map_err(|_| shape("an Int is a 64-bit signed integer"))?;
            self.out.push_str(itoa::Buffer::new().format(int));
        } else if let Ok(dict) = value.cast::<PyDict>() {
            self.out.push('{');
            let mut first = true;
            for (name, item) in dict.iter() {
                let name = dict_key(&name)?;
                let name = name.to_str()?;
                self.key(&mut first, name);
                self.value(&item, depth + 1).within(key(name))?;
            }
            self.out.push('}');
        } else if value.is_none() {
            self.out.push_str("null");
        } else if let Ok(float) = value.cast::<PyFloat>() {
            let number = serde_json::Number::from_f64(float.value())
                .ok_or_else(|| shape("a number is finite"))?;
            self.out.push_str(&number.to_string());
        } else if is_reference_pair(value) || value.is_instance_of::<Entity>() {
            self.reference(value)?;
        } else if value.is_instance_of::<PyList>()
            || value.is_instance_of::<PyTuple>()
            || value.is_instance_of::<PySet>()
            || value.is_instance_of::<PyFrozenSet>()
        {
            self.out.push('[');
            for (i, item) in value.try_iter()?.enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.value(&item?, depth + 1).within(index(i))?;
            }
            self.out.push(']');
        } else if value.is_instance_of::<PyBytes>() || value.is_instance_of::<PyByteArray>() {
            return Err(shape("bytes are not a policy value; decode them to a str"));
        } else {
            self.text_form(value)?;
        }
        Ok(())
    }

    /// Timestamps, durations, IPs and decimals: their text.
    fn text_form(&mut self, value: &Bound<'py, PyAny>) -> Written {
        let py = self.py;
        let classes = classes(py)?;
        if value.is_instance(classes.datetime.bind(py))? {
            if value.getattr("utcoffset")?.call0()?.is_none() {
                return Err(shape(
                    "a naive datetime has no time zone; give one (datetime.now(timezone.utc))",
                ));
            }
            // Timestamps are whole milliseconds; finer digits are dropped.
            let kwargs = PyDict::new(py);
            kwargs.set_item("timespec", "milliseconds")?;
            let text = value.call_method("isoformat", (), Some(&kwargs))?;
            push_json_string(
                &mut self.out,
                text.cast::<PyString>().map_err(PyErr::from)?.to_str()?,
            );
        } else if value.is_instance(classes.date.bind(py))? {
            return Err(shape(
                "a date is not a timestamp; give a datetime with a time zone",
            ));
        } else if value.is_instance(classes.timedelta.bind(py))? {
            let days: i64 = value.getattr("days")?.extract()?;
            let seconds: i64 = value.getattr("seconds")?.extract()?;
            let micros: i64 = value.getattr("microseconds")?.extract()?;
            if micros % 1_000 != 0 {
                return Err(shape("a Duration is whole milliseconds"));
            }
            let ms = days
                .checked_mul(86_400_000)
                .and_then(|d| d.checked_add(seconds * 1_000 + micros / 1_000))
                .ok_or_else(|| shape("the duration is out of range"))?;
            push_json_string(&mut self.out, &reaper_lang::literal::format_duration(ms));
        } else if value.is_instance(classes.decimal.bind(py))? || classes.is_ip(value)? {
            let text = value.str()?;
            push_json_string(&mut self.out, text.to_str()?);
        } else {
            return Err(shape(format!(
                "{} is not a policy value (bool, int, float, str, datetime, timedelta, ipaddress, Decimal, list, set, dict, reaper.Entity)",
                type_name(value)
            )));
        }
        Ok(())
    }
}

/// A dict key, which must be a str.
fn dict_key<'a, 'py>(name: &'a Bound<'py, PyAny>) -> Result<&'a Bound<'py, PyString>, Fail> {
    name.cast::<PyString>().map_err(|_| {
        shape(format!(
            "keys are strings, not {}: {}",
            type_name(name),
            name.repr().map(|r| r.to_string()).unwrap_or_default()
        ))
    })
}

fn type_and_id(entity: &Bound<'_, PyAny>) -> Result<(String, String), Fail> {
    if let Ok(entity) = entity.cast::<Entity>() {
        let entity = entity.get();
        return Ok((entity.ty.clone(), entity.id.clone()));
    }
    if let Ok(pair) = entity.cast::<PyTuple>()
        && pair.len() == 2
        && let (Ok(ty), Ok(id)) = (
            pair.get_item(0)?.extract::<String>(),
            pair.get_item(1)?.extract::<String>(),
        )
    {
        return Ok((ty, id));
    }
    if let Ok(text) = entity.cast::<PyString>()
        && let Some((ty, id)) = text.to_str()?.split_once("::")
        && let Ok(id) = serde_json::from_str::<String>(id)
    {
        return Ok((ty.to_owned(), id));
    }
    if let Ok(dict) = entity.cast::<PyDict>()
        && let (Some(ty), Some(id)) = (dict.get_item("type")?, dict.get_item("id")?)
    {
        return Ok((ty.extract()?, id.extract()?));
    }
    Err(shape(format!(
        "expected an entity: (\"Type\", \"id\"), 'Type::\"id\"', reaper.Entity or {{\"type\": …, \"id\": …}}; found {}",
        type_name(entity)
    )))
}
