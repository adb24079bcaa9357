//! Test support for Burstline's integration tests and benchmarks.
//!
//! # Layout
//! - [`aws_model`]: `--aws-model` for the bench binaries: every port of a stack behind the
//!   AWS latency model.
//! - [`moto`]: starts one moto server per test process on a free loopback port and stops it
//!   when the process exits.
//! - [`stack`]: uniquely named AWS resources on that server, with every adapter wired to them,
//!   or the same wiring on in-memory adapters.
//! - [`contracts`]: port contracts — what AWS refuses — run alike on memory and moto.
//! - [`faults`]: port wrappers that crash (panic) or fail after the n-th call.
//! - [`fixtures`]: tenants, keys, events and HTTP requests.
//! - [`ordering`]: webhook order per endpoint × task under concurrency, failures and replays.
//! - [`stream_bench`]: the SSE benchmark section of `make bench`.
//! - [`slow`]: ports whose stream-facing calls take a set time (a slow DynamoDB).
//! - [`serve`]: the stream function behind a real HTTP/1.1 server on a loopback port.
//! - [`streams`]: the stream function on a stack, tasks appended directly, a store that hides
//!   seqs, and an SSE client parsing with `eventsource-stream`.

pub mod aws_model;
pub mod benchdoc;
pub mod contracts;
pub mod faults;
pub mod fixtures;
pub mod moto;
pub mod ordering;
pub mod receiver;
pub mod scenarios;
pub mod serve;
pub mod serve_stream;
pub mod slow;
pub mod stack;
pub mod stream_bench;
pub mod streams;
