//! Reading configuration once from the environment. Function config structs use these
//! helpers; nothing else in the workspace reads environment variables.

use crate::error::Error;
use std::str::FromStr;

/// Where settings come from: `std::env` in production, a map in tests.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A required variable.
pub fn required(env: Lookup<'_>, var: &'static str) -> Result<String, Error> {
    match env(var) {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(Error::Config {
            var,
            message: "is required".into(),
        }),
    }
}

/// An optional variable parsed as `T`, `default` when unset.
pub fn parsed<T: FromStr>(env: Lookup<'_>, var: &'static str, default: T) -> Result<T, Error>
where
    T::Err: std::fmt::Display,
{
    match env(var) {
        None => Ok(default),
        Some(v) if v.trim().is_empty() => Ok(default),
        Some(v) => v.trim().parse().map_err(|e: T::Err| Error::Config {
            var,
            message: format!("cannot parse {v:?}: {e}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn required_and_parsed_name_the_variable() {
        let map: HashMap<&str, &str> = [("A", "x"), ("N", "12"), ("BAD", "twelve")].into();
        let env = |k: &str| map.get(k).map(|v| v.to_string());
        assert_eq!(required(&env, "A").unwrap(), "x");
        let err = required(&env, "MISSING").unwrap_err().to_string();
        assert!(err.contains("MISSING"), "{err}");
        assert_eq!(parsed(&env, "N", 1u32).unwrap(), 12);
        assert_eq!(parsed(&env, "UNSET", 7u32).unwrap(), 7);
        let err = parsed(&env, "BAD", 1u32).unwrap_err().to_string();
        assert!(err.contains("BAD") && err.contains("twelve"), "{err}");
    }
}
