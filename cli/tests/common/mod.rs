//! `burstline dev` as a subprocess, used only through its HTTP interface.

#![allow(dead_code)]

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running `burstline dev`.
#[derive(Debug)]
pub struct Dev {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// What it printed after the ready line (the rest of the banner), as read so far.
    printed: Arc<Mutex<Vec<String>>>,
    child: Child,
}

impl Dev {
    /// Starts `burstline dev --port 0 <args>` with `key` as the demo key and waits until it
    /// prints its ready line.
    pub async fn start(args: &[&str], key: &str) -> Dev {
        let mut child = Command::new(env!("CARGO_BIN_EXE_burstline"))
            .arg("dev")
            .args(["--port", "0"])
            .args(args)
            .env("BURSTLINE_API_KEY", key)
            .env(
                "BURSTLINE_LOG",
                std::env::var("DEV_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn burstline dev");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(url) = line.strip_prefix("burstline dev ready at ") {
                    return url.to_owned();
                }
            }
            panic!("burstline dev exited before it was ready");
        })
        .await
        .expect("burstline dev ready within 60 s");
        // Keep reading so the banner never blocks on a full pipe.
        let printed = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&printed);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                keep.lock().unwrap().push(line);
            }
        });
        Dev {
            url,
            printed,
            child,
        }
    }

    /// The banner line that starts with `label` (e.g. `"  aws model"`), waiting up to 10 s.
    pub async fn banner_line(&self, label: &str) -> String {
        for _ in 0..100 {
            let found = self
                .printed
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.starts_with(label))
                .cloned();
            if let Some(line) = found {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no banner line starting {label:?}");
    }

    /// SIGTERM, as Ctrl-C or a process manager would stop it; returns whether it exited
    /// cleanly (status 0) within `limit`.
    pub async fn stop(mut self, limit: Duration) -> bool {
        let pid = self.child.id().expect("running").to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .expect("kill");
        assert!(sent.success());
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(Ok(status)) => status.success(),
            _ => false,
        }
    }
}
