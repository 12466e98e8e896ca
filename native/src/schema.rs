//! What the native decoders accept, for tests/unit/test_native_schema.py to hold equal to the Python
//! models, which are the source of each schema. Field names and required fields are read off the
//! decoders' own serde types (a probe deserializes each with every field, then without each one): the
//! report is what the decoders parse, not a list kept beside them. The allowed values and limits are
//! the constants the decoders check with.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;

/// One decoder's schema: its fields (JSON names), the required ones, the values allowed where it
/// takes only some, the lengths it allows (characters, or items of a list), the pattern of what it
/// takes as text, and the schema of the items of its lists of objects.
pub(crate) struct Schema {
    fields: Vec<&'static str>,
    required: Vec<&'static str>,
    allowed: Vec<(&'static str, &'static [&'static str])>,
    lengths: Vec<(&'static str, (usize, usize))>,
    patterns: Vec<(&'static str, &'static str)>,
    items: Vec<(&'static str, Schema)>,
}

impl Schema {
    /// The fields of T and the required ones, as T's Deserialize sees them.
    pub(crate) fn of<T: Deserialize<'static>>() -> PyResult<Schema> {
        let fields = RefCell::new(Vec::new());
        T::deserialize(Probe { record: Some(&fields), omit: None }).map_err(|e| {
            pyo3::exceptions::PyTypeError::new_err(format!("the schema probe cannot fill a type: {e}"))
        })?;
        let fields = fields.into_inner();
        let required = fields
            .iter()
            .copied()
            .filter(|&f| matches!(T::deserialize(Probe { record: None, omit: Some(f) }), Err(ProbeError::Missing(m)) if m == f))
            .collect();
        Ok(Schema { fields, required, allowed: Vec::new(), lengths: Vec::new(), patterns: Vec::new(), items: Vec::new() })
    }

    pub(crate) fn allowing(mut self, field: &'static str, values: &'static [&'static str]) -> Self {
        self.allowed.push((field, values));
        self
    }

    pub(crate) fn length(mut self, field: &'static str, min: usize, max: usize) -> Self {
        self.lengths.push((field, (min, max)));
        self
    }

    pub(crate) fn pattern(mut self, field: &'static str, pattern: &'static str) -> Self {
        self.patterns.push((field, pattern));
        self
    }

    pub(crate) fn items(mut self, field: &'static str, schema: Schema) -> Self {
        self.items.push((field, schema));
        self
    }

    pub(crate) fn into_py(self, py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
        let out = PyDict::new(py);
        out.set_item("fields", self.fields)?;
        out.set_item("required", self.required)?;
        out.set_item("allowed", self.allowed.into_iter().map(|(f, v)| (f, v.to_vec())).collect::<BTreeMap<_, _>>())?;
        out.set_item("lengths", self.lengths.into_iter().collect::<BTreeMap<_, _>>())?;
        out.set_item("patterns", self.patterns.into_iter().collect::<BTreeMap<_, _>>())?;
        let items = PyDict::new(py);
        for (field, schema) in self.items {
            items.set_item(field, schema.into_py(py)?)?;
        }
        out.set_item("items", items)?;
        Ok(out)
    }
}

/// Why a probe failed: a required field left out, or anything else.
#[derive(Debug)]
enum ProbeError {
    Missing(&'static str),
    Other(String),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Missing(field) => write!(f, "missing field `{field}`"),
            ProbeError::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ProbeError {}

impl de::Error for ProbeError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        ProbeError::Other(message.to_string())
    }

    fn missing_field(field: &'static str) -> Self {
        ProbeError::Missing(field)
    }
}

/// A stand-in for a JSON document: an object with every field of the struct asked for but `omit`,
/// each a value of the type asked for (an empty string, 0, null, an empty list, any value where the
/// decoder ignores it). `record` takes the field names of the outermost struct.
struct Probe<'r> {
    record: Option<&'r RefCell<Vec<&'static str>>>,
    omit: Option<&'static str>,
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = ProbeError;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, ProbeError> {
        Err(ProbeError::Other("a value of a type the probe does not make".into()))
    }

    fn deserialize_struct<V: Visitor<'de>>(self, _: &'static str, fields: &'static [&'static str], visitor: V)
                                           -> Result<V::Value, ProbeError> {
        if let Some(record) = self.record {
            record.replace(fields.to_vec());
        }
        let omit = self.omit;
        visitor.visit_map(Fields { keys: fields.iter().copied().filter(move |&f| Some(f) != omit) })
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_borrowed_str("")
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_borrowed_str("")
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_i64(0)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_none()
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_bool(false)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_seq(Empty)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit unit_struct
        newtype_struct tuple tuple_struct map enum identifier
    }
}

struct Fields<I> {
    keys: I,
}

impl<'de, I: Iterator<Item = &'static str>> MapAccess<'de> for Fields<I> {
    type Error = ProbeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, ProbeError> {
        match self.keys.next() {
            Some(key) => seed.deserialize(BorrowedStrDeserializer::new(key)).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, ProbeError> {
        seed.deserialize(Probe { record: None, omit: None })
    }
}

struct Empty;

impl<'de> SeqAccess<'de> for Empty {
    type Error = ProbeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, _: T) -> Result<Option<T::Value>, ProbeError> {
        Ok(None)
    }
}

/// What the native decoders accept: {"event envelope": ..., "events": {event type: ...}, "visits
/// body": ...}, each {"fields", "required", "allowed", "lengths", "patterns", "items"}.
#[pyfunction]
pub fn decoder_schemas(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let (envelope, events) = crate::events::schemas()?;
    let by_type = PyDict::new(py);
    for (event_type, schema) in events {
        by_type.set_item(event_type, schema.into_py(py)?)?;
    }
    let out = PyDict::new(py);
    out.set_item("event envelope", envelope.into_py(py)?)?;
    out.set_item("events", by_type)?;
    out.set_item("visits body", crate::visits::schema()?.into_py(py)?)?;
    Ok(out)
}
