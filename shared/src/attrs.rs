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

/// An item's size as DynamoDB counts it against its limits (400 KB per item, 4 MB per
/// transaction): the UTF-8 length of every attribute name plus the size of its value.
pub(crate) fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// A value's size by DynamoDB's rules: strings and binaries by length, numbers by significant
/// digits, 1 byte for a boolean or null, 3 bytes plus 1 per element for lists and maps.
fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(list) => 3 + list.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, e)| 1 + k.len() + value_size(e))
                .sum::<usize>()
        }
        // Bool, Null, and variants a newer SDK may add.
        _ => 1,
    }
}

/// A number takes 1 byte per two significant digits (leading and trailing zeros trimmed),
/// plus 1.
fn number_size(n: &str) -> usize {
    let digits: String = n
        .split(['e', 'E'])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

fn missing(name: &str) -> Error {
    Error::InvalidData(format!("attribute {name} missing or of the wrong type"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_size_counts_names_and_values_as_dynamodb_does() {
        let item: Item = [
            ("pk".to_owned(), s("T#acme#run")),
            ("sk".to_owned(), n(0)),
            ("seq".to_owned(), n(1_234_500)),
            ("ok".to_owned(), AttributeValue::Bool(true)),
            ("l".to_owned(), AttributeValue::L(vec![s("ab"), s("c")])),
            ("é".to_owned(), s("ü")),
        ]
        .into();
        // pk 2+10, sk 2+1, seq 3+(5 digits→3)+1, ok 2+1, l 1+3+(1+2)+(1+1), é 2+2.
        assert_eq!(item_size(&item), 12 + 3 + 7 + 3 + 9 + 4);
        assert_eq!(number_size("-0.0012300"), 3);
    }
}
