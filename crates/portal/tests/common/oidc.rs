//! The OpenID provider of the single sign-on tests: the certified `oidc-provider` package from
//! npm (`tests/browser/oidc-provider.mjs`, installed by `scripts/test`) on a port it picks.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

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
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/oidc-provider.mjs");
        let errors = dir.path().join("errors.txt");
        let mut child = Command::new("node")
            .arg(&script)
            .env("OIDC_ACCOUNTS", dir.path().join("accounts.json"))
            .env("OIDC_MODE", dir.path().join("mode"))
            .env("OIDC_REDIRECT", redirect)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&errors).expect("a file for its errors"))
            .spawn()
            .expect("node runs the OpenID provider; scripts/test installs oidc-provider");
        // It picks its port as it listens, and says which.
        let stdout = child.stdout.take().expect("its output");
        let Some(issuer) = super::announced(stdout, "listening on ", Duration::from_secs(60))
            .and_then(|line| {
                line.split_once("listening on ")
                    .map(|(_, i)| i.trim().to_owned())
            })
        else {
            let said = std::fs::read_to_string(&errors).unwrap_or_default();
            panic!(
                "the OpenID provider stopped, or said nothing for a minute, before listening:\n{said}"
            );
        };
        let provider = Self { child, issuer, dir };
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
