//! A real SMTP server for tests (mailin-embedded) that keeps what it receives, and a mailer
//! that speaks to it.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use mailin_embedded::{Handler, Server, response};
use portal::mail::Mailer;

/// One message as the SMTP server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    pub data: String,
}

#[derive(Clone)]
struct Sink {
    inbox: Arc<Mutex<Vec<Received>>>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Sink {
    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        to: &[String],
    ) -> mailin_embedded::Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        let data = String::from_utf8_lossy(&self.data).into_owned();
        self.inbox.lock().unwrap().push(Received {
            to: self.to.clone(),
            data,
        });
        response::OK
    }
}

/// Starts an SMTP server on `listener`; returns its inbox.
pub fn smtp_server(listener: TcpListener) -> Arc<Mutex<Vec<Received>>> {
    let inbox = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink {
        inbox: inbox.clone(),
        to: Vec::new(),
        data: Vec::new(),
    };
    std::thread::spawn(move || {
        let mut server = Server::new(sink);
        server.with_name("test.example").with_tcp_listener(listener);
        let _ = server.serve();
    });
    inbox
}

pub fn smtp_mailer(port: u16) -> Mailer {
    Mailer::new(
        Some(&format!("smtp://127.0.0.1:{port}")),
        std::env::temp_dir(),
        "Provisioning Portal <portal@provider.example>",
        "https://portal.provider.example".into(),
    )
    .unwrap()
}

impl Received {
    /// The message as text, with quoted-printable soft line breaks and `=3D` undone.
    pub fn text(&self) -> String {
        self.data
            .replace("=\r\n", "")
            .replace("=\n", "")
            .replace("=3D", "=")
    }

    /// The first link in the message whose path starts with `path` (e.g.
    /// `/registrations/verify/`), as that path and the token after it.
    pub fn link(&self, path: &str) -> Option<String> {
        let text = self.text();
        let at = text.find(path)?;
        let token: String = text[at + path.len()..]
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        Some(format!("{path}{token}"))
    }
}
