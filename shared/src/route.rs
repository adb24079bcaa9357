//! Route tables: the (method, path template) pairs a function serves, and matching a request
//! against them. Pure.
//!
//! Each HTTP function declares its routes once, as a `ROUTES` table of [`Route`]s, and
//! dispatches only through [`find`] on that table, so the table is exactly what it serves.
//! Templates use OpenAPI's syntax (`/v1/endpoints/{endpoint_id}`): a test checks every table
//! against `docs/openapi.json`, both ways.

use crate::api_error::ApiError;

/// One route: an HTTP method, a path template, and what the function does for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route<Op> {
    /// Upper-case HTTP method (`GET`, `POST`, …).
    pub method: &'static str,
    /// The path template: literal segments and `{name}` parameters, one per segment.
    pub path: &'static str,
    /// The operation the function performs.
    pub op: Op,
}

impl<Op> Route<Op> {
    /// A route `method path` serving `op`.
    pub const fn new(method: &'static str, path: &'static str, op: Op) -> Self {
        Self { method, path, op }
    }
}

/// What a request matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match<'p, Op> {
    /// A route: its operation and the path parameters in template order.
    Found {
        /// The operation.
        op: Op,
        /// The values of the template's `{…}` segments, in order, still percent-encoded.
        params: Vec<&'p str>,
    },
    /// The path is a route, but not for this method: answer 405 with `Allow: <allowed>`.
    MethodNotAllowed {
        /// The methods the path serves.
        allowed: Vec<&'static str>,
    },
    /// No route has this path: 404.
    NotFound,
}

/// Matches `method path` against `table`. A trailing `/` is ignored; a `{…}` segment matches
/// any one non-empty segment; literal segments match exactly.
pub fn find<'p, Op: Copy>(table: &[Route<Op>], method: &str, path: &'p str) -> Match<'p, Op> {
    let path = path.trim_end_matches('/');
    let mut allowed = Vec::new();
    for route in table {
        let Some(params) = params(route.path, path) else {
            continue;
        };
        if route.method.eq_ignore_ascii_case(method) {
            return Match::Found {
                op: route.op,
                params,
            };
        }
        if !allowed.contains(&route.method) {
            allowed.push(route.method);
        }
    }
    if allowed.is_empty() {
        Match::NotFound
    } else {
        Match::MethodNotAllowed { allowed }
    }
}

/// 405 `method_not_allowed`, naming the methods the path serves. Send them in an `Allow`
/// header too ([`allow`]).
pub fn method_not_allowed(allowed: &[&str]) -> ApiError {
    ApiError::new(
        405,
        "method_not_allowed",
        format!("use {}", allowed.join(" or ")),
    )
}

/// The `Allow` header's value for `allowed`.
pub fn allow(allowed: &[&str]) -> String {
    allowed.join(", ")
}

/// The parameters if `path` fits `template`.
fn params<'p>(template: &str, path: &'p str) -> Option<Vec<&'p str>> {
    let mut want = template.split('/');
    let mut got = path.split('/');
    let mut params = Vec::new();
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                if g.is_empty() {
                    return None;
                }
                params.push(g);
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Op {
        List,
        Create,
        Get,
        Rotate,
    }

    const TABLE: &[Route<Op>] = &[
        Route::new("GET", "/v1/things", Op::List),
        Route::new("POST", "/v1/things", Op::Create),
        Route::new("GET", "/v1/things/{id}", Op::Get),
        Route::new("POST", "/v1/things/{id}/rotate", Op::Rotate),
    ];

    #[test]
    fn finds_the_route_and_its_parameters() {
        assert_eq!(
            find(TABLE, "GET", "/v1/things"),
            Match::Found {
                op: Op::List,
                params: vec![]
            }
        );
        assert_eq!(
            find(TABLE, "POST", "/v1/things/"),
            Match::Found {
                op: Op::Create,
                params: vec![]
            }
        );
        assert_eq!(
            find(TABLE, "GET", "/v1/things/t-1"),
            Match::Found {
                op: Op::Get,
                params: vec!["t-1"]
            }
        );
        assert_eq!(
            find(TABLE, "post", "/v1/things/t%201/rotate"),
            Match::Found {
                op: Op::Rotate,
                params: vec!["t%201"]
            }
        );
    }

    #[test]
    fn a_known_path_with_another_method_is_405_with_the_allowed_methods() {
        assert_eq!(
            find(TABLE, "DELETE", "/v1/things"),
            Match::MethodNotAllowed {
                allowed: vec!["GET", "POST"]
            }
        );
        assert_eq!(
            find(TABLE, "GET", "/v1/things/t-1/rotate"),
            Match::MethodNotAllowed {
                allowed: vec!["POST"]
            }
        );
    }

    #[test]
    fn method_not_allowed_names_the_methods() {
        let e = method_not_allowed(&["GET", "POST"]);
        assert_eq!((e.status, e.code), (405, "method_not_allowed"));
        assert_eq!(e.message, "use GET or POST");
        assert_eq!(allow(&["GET", "POST"]), "GET, POST");
    }

    #[test]
    fn anything_else_is_not_found() {
        for path in [
            "/",
            "",
            "/v1",
            "/v1/things/t-1/other",
            "/v1/things//rotate",
            "/v1/things/a/b",
            "/v2/things",
        ] {
            assert_eq!(find(TABLE, "GET", path), Match::NotFound, "{path}");
        }
    }
}
