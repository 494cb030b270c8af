//! The OpenID provider of the single sign-on tests: the certified `oidc-provider` package from
//! npm (`tests/browser/oidc-provider.mjs`, installed by `scripts/test`) on a free port.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

/// The provider's process, its address, and the files it reads its people and faults from.
pub struct Provider {
    child: Child,
    pub issuer: String,
    dir: tempfile::TempDir,
}

impl Provider {
    /// Starts a provider whose one client, `portal` (secret `portal-client-secret`), is sent
    /// back to `redirect`.
    pub fn start(redirect: &str) -> Self {
        let dir = tempfile::tempdir().expect("a folder");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/oidc-provider.mjs");
        let mut child = Command::new("node")
            .arg(&script)
            .arg(port.to_string())
            .env("OIDC_ACCOUNTS", dir.path().join("accounts.json"))
            .env("OIDC_MODE", dir.path().join("mode"))
            .env("OIDC_REDIRECT", redirect)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs the OpenID provider; scripts/test installs oidc-provider");
        let mut stdout = BufReader::new(child.stdout.take().expect("its output"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("a line");
        assert!(line.starts_with("listening on"), "{line:?}");
        // Whatever it prints later is read, so that it never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let provider = Self {
            child,
            issuer: format!("http://127.0.0.1:{port}"),
            dir,
        };
        provider.people(&json!({}));
        provider
    }

    /// Who may sign in, with their claims, by the name they sign in with.
    pub fn people(&self, people: &Value) {
        std::fs::write(self.dir.path().join("accounts.json"), people.to_string())
            .expect("the people file");
    }

    /// The fault the provider's next ID tokens carry ("" for none): "nonce", "issuer",
    /// "expired" or "other-key".
    pub fn fault(&self, how: &str) {
        std::fs::write(self.dir.path().join("mode"), how).expect("the fault file");
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A person's claims: an address, and the groups the portal maps to roles.
pub fn person(email: &str, groups: &[&str]) -> Value {
    json!({"email": email, "email_verified": true, "name": "Test Person", "groups": groups})
}
