//! stream: the response-streaming Function URL that serves a task's events as Server-Sent Events, replaying from the store after `Last-Event-ID` and then tailing live.
//!
//! Not built yet: this crate reserves the function's place in the workspace and the
//! deployment; its behaviour arrives with its own issue.
