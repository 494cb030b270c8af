//! The webhook receiver of the tests, verifying with the Standard Webhooks reference library.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// The test receiver (`tests/webhook/receiver.py`): every delivery verified by the Standard
/// Webhooks reference library for Python, and answered as planned.
pub struct Receiver {
    child: Child,
    pub port: u16,
    log: PathBuf,
    secrets: PathBuf,
    _dir: tempfile::TempDir,
}

impl Receiver {
    /// Started with `plan` (`500,timeout,200`), on `port` when given.
    pub fn start(plan: &str, port: Option<u16>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (log, secrets) = (dir.path().join("log"), dir.path().join("secrets"));
        std::fs::write(&secrets, "[]").unwrap();
        // scripts/test installs the reference library and says where its Python is.
        let python =
            std::env::var("PORTAL_TEST_WEBHOOK_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webhook/receiver.py");
        let mut command = Command::new(&python);
        command.arg(script).arg(&log).arg(&secrets).arg(plan);
        if let Some(port) = port {
            command.arg(port.to_string());
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{python} could not start (run scripts/test, which installs standardwebhooks): {e}"));
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let port = first.trim().parse().unwrap_or_else(|_| {
            panic!("the receiver did not start; is standardwebhooks installed for {python}? (scripts/test installs it)")
        });
        Self {
            child,
            port,
            log,
            secrets,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    pub fn know(&self, secrets: &[&str]) {
        std::fs::write(&self.secrets, serde_json::to_string(secrets).unwrap()).unwrap();
    }

    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
