//! Which client is asking, as far as its stream slot goes: the same client reconnecting (a
//! reload, a network blip) takes over the slot it holds instead of claiming a second one, while
//! its old response — which on Lambda runs on, unaware, until its segment ends — loses the slot
//! at its next renewal. Pure.
//!
//! "The same client" is, within the tenant (slots are per tenant) and the task:
//! - `?client_id=<id>` (1–64 of `[A-Za-z0-9_.:-]`, chosen by the client, e.g. one per browser
//!   tab kept in `sessionStorage` so it survives a reload, or one per `burstline tail` run) with
//!   the same credential: the same API key, or any stream token for this task (a reload mints a
//!   new token, so the token itself cannot be the identity);
//! - without `client_id`, a token client is its token: EventSource reconnects with the same
//!   URL, so its own reconnects after a blip find their slot;
//! - an API-key client without `client_id` is anonymous: every connect claims its own slot,
//!   since two programs sharing a key and a task must not evict each other.
//!
//! A client id is not a secret: whoever holds a credential for the task and guesses another
//! viewer's random id can only take over that viewer's slot within the same tenant.

use burstline::api_error::ApiError;
use burstline::apikey::KeyHash;
use burstline::ids::TaskId;
use burstline::leases::ClientKey;

/// Longest `client_id`.
pub const MAX_CLIENT_ID: usize = 64;

/// The credential a stream was opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// An API key, by its lookup hash.
    Key(&'a KeyHash),
    /// A stream token, as presented.
    Token(&'a str),
}

/// The slot key of a request for `task` (see the module doc), or `None` for an anonymous
/// client. A malformed `client_id` is a 400 naming it (as a malformed `Last-Event-ID` is).
pub fn client_key(
    credential: Credential<'_>,
    task: &TaskId,
    query: &[(String, String)],
) -> Result<Option<ClientKey>, ApiError> {
    let client_id = query
        .iter()
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.as_str());
    if let Some(id) = client_id
        && !is_valid(id)
    {
        return Err(ApiError::new(
            400,
            "invalid_request",
            format!("client_id must be 1 to {MAX_CLIENT_ID} of A-Z a-z 0-9 _ . : -"),
        )
        .at("client_id"));
    }
    Ok(match (credential, client_id) {
        (Credential::Key(hash), Some(id)) => {
            Some(ClientKey::derive(&["key", &hash.0, task.as_str(), id]))
        }
        (Credential::Token(_), Some(id)) => Some(ClientKey::derive(&["token", task.as_str(), id])),
        (Credential::Token(token), None) => Some(ClientKey::derive(&["token-url", token])),
        (Credential::Key(_), None) => None,
    })
}

fn is_valid(id: &str) -> bool {
    (1..=MAX_CLIENT_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_client_id_names_the_client_across_tokens_but_not_across_keys_or_tasks() {
        let task = TaskId::parse("run-42").unwrap();
        let other_task = TaskId::parse("run-43").unwrap();
        let (k1, k2) = (KeyHash("h1".into()), KeyHash("h2".into()));
        let tab = q(&[("client_id", "tab-1")]);
        let key = |c, t: &TaskId, q: &[(String, String)]| client_key(c, t, q).unwrap();
        // A reload mints a new token: the same tab is the same client.
        assert_eq!(
            key(Credential::Token("tok-a"), &task, &tab),
            key(Credential::Token("tok-b"), &task, &tab)
        );
        assert_ne!(
            key(Credential::Token("tok-a"), &task, &tab),
            key(Credential::Token("tok-a"), &other_task, &tab)
        );
        assert_eq!(
            key(Credential::Key(&k1), &task, &tab),
            key(Credential::Key(&k1), &task, &tab)
        );
        assert_ne!(
            key(Credential::Key(&k1), &task, &tab),
            key(Credential::Key(&k2), &task, &tab)
        );
        assert_ne!(
            key(Credential::Key(&k1), &task, &tab),
            key(Credential::Token("tok-a"), &task, &tab)
        );
    }

    #[test]
    fn without_a_client_id_a_token_is_its_url_and_a_key_is_anonymous() {
        let task = TaskId::parse("run-42").unwrap();
        let none = q(&[]);
        let a = client_key(Credential::Token("tok-a"), &task, &none).unwrap();
        assert!(a.is_some());
        assert_eq!(
            a,
            client_key(Credential::Token("tok-a"), &task, &none).unwrap()
        );
        assert_ne!(
            a,
            client_key(Credential::Token("tok-b"), &task, &none).unwrap()
        );
        let hash = KeyHash("h".into());
        assert_eq!(
            client_key(Credential::Key(&hash), &task, &none).unwrap(),
            None
        );
    }

    #[test]
    fn malformed_client_ids_are_refused_naming_the_field() {
        let task = TaskId::parse("t").unwrap();
        for bad in ["", "has space", "é", &"x".repeat(65)] {
            let e =
                client_key(Credential::Token("t"), &task, &q(&[("client_id", bad)])).unwrap_err();
            assert_eq!(
                (e.status, e.field.as_deref()),
                (400, Some("client_id")),
                "{bad:?}"
            );
        }
        assert!(
            client_key(
                Credential::Token("t"),
                &task,
                &q(&[("client_id", &"x".repeat(64))])
            )
            .is_ok()
        );
    }
}
