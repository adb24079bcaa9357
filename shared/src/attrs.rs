//! Reading and writing DynamoDB attribute values. Used by the DynamoDB adapters only.

use crate::error::{Error, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// A DynamoDB item.
pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| missing(name))
}

pub(crate) fn get_opt_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

pub(crate) fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| missing(name))
}

pub(crate) fn get_opt_n<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

pub(crate) fn get_bool(item: &Item, name: &str) -> Result<bool> {
    item.get(name)
        .and_then(|v| v.as_bool().ok())
        .copied()
        .ok_or_else(|| missing(name))
}

pub(crate) fn get_list_s(item: &Item, name: &str) -> Result<Vec<String>> {
    let list = item
        .get(name)
        .and_then(|v| v.as_l().ok())
        .ok_or_else(|| missing(name))?;
    list.iter()
        .map(|v| v.as_s().cloned().map_err(|_| missing(name)))
        .collect()
}

pub(crate) fn get_time(item: &Item, name: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(get_s(item, name)?)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| Error::InvalidData(format!("attribute {name}: {e}")))
}

pub(crate) fn parse<T: std::str::FromStr>(name: &str, v: &str) -> Result<T>
where
    T::Err: std::fmt::Debug,
{
    v.parse()
        .map_err(|e| Error::InvalidData(format!("attribute {name}: {e:?}")))
}

fn missing(name: &str) -> Error {
    Error::InvalidData(format!("attribute {name} missing or of the wrong type"))
}
