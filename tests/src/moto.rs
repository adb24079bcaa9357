//! A moto server for the whole test process.
//!
//! moto comes from the project's `.venv` (`make venv`), or from `MOTO_PYTHON`. The server is
//! started on first use on a free 127.0.0.1 port; it reads its stdin and exits when that
//! closes, so it dies with the test process even when the process is killed.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const SERVE: &str = r#"
import os, sys, threading
def watch():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
# Real DynamoDB applies each request atomically; moto's threaded server does not (a
# TransactWriteItems deep-copies the tables while other requests change them, and conditional
# writes race), so concurrent callers (fanout's commit lanes, simultaneous stream claims) would
# see moto's 500s and lost conditions. One DynamoDB request at a time restores per-request
# atomicity; clients still overlap their requests.
from moto.dynamodb.responses import DynamoHandler
_dynamodb = threading.Lock()
_call_action = DynamoHandler.call_action
def _one_at_a_time(self):
    with _dynamodb:
        return _call_action(self)
DynamoHandler.call_action = _one_at_a_time
from moto.server import main
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
"#;

/// A running moto server.
#[derive(Debug)]
pub struct Moto {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    _child: Mutex<Child>,
}

static MOTO: OnceLock<Moto> = OnceLock::new();

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("MOTO_PYTHON") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

impl Moto {
    /// The process-wide server, started on first call.
    ///
    /// # Panics
    /// When moto is not installed or does not start: run `make venv` first.
    pub fn shared() -> &'static Moto {
        MOTO.get_or_init(|| {
            let mut last_error = String::new();
            for _ in 0..3 {
                match Self::start() {
                    Ok(m) => return m,
                    Err(e) => last_error = e,
                }
            }
            panic!(
                "could not start moto ({}): {last_error}. Run `make venv`.",
                python().display()
            );
        })
    }

    fn start() -> Result<Moto, String> {
        let port = free_port();
        let mut child = Command::new(python())
            .arg("-c")
            .arg(SERVE)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        // Drain moto's request log so the pipe never fills and blocks the server.
        if let Some(stderr) = child.stderr.take() {
            std::thread::spawn(move || for _ in BufReader::new(stderr).lines() {});
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(Moto {
                    endpoint: format!("http://127.0.0.1:{port}"),
                    _child: Mutex::new(child),
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("moto exited with {status}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        Err("moto did not listen within 30 s".into())
    }

    /// SDK configuration pointing at this server with dummy credentials.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .load()
            .await
    }
}
