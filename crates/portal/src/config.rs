//! The command line and its settings: every flag also reads its `PORTAL_*` environment variable.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// The Provisioning Portal: tenant subscription requests for multi-tenant cloud contact centers.
#[derive(Parser)]
#[command(name = "portal", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve the web portal and the API, and run the provisioning worker (the default).
    Serve {
        /// Do not run the provisioning worker in this process (run `portal worker` instead).
        #[arg(long, env = "PORTAL_NO_WORKER")]
        no_worker: bool,
    },
    /// Run only the provisioning worker (for scale-out on PostgreSQL).
    Worker,
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Write a consistent copy of the embedded database and the mail spool into the new
    /// folder PATH, while the portal serves and writes (PostgreSQL: use `pg_dump`).
    Backup {
        /// A folder that does not exist yet (or is empty).
        path: PathBuf,
    },
    /// Put a backup made by `portal backup` back, after checking it, into a stopped portal.
    /// The database and mail spool it replaces are kept beside it.
    Restore {
        /// The folder `portal backup` wrote.
        path: PathBuf,
    },
    /// Export or import template service packages as JSON files.
    Template {
        #[command(subcommand)]
        action: TemplateCommand,
    },
    /// Break-glass account work for the machine's operator: each prints a single-use link to
    /// set a password (nothing secret is typed on the command line).
    User {
        #[command(subcommand)]
        action: UserCommand,
    },
}

#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Create a landlord account and print its link to set a password (valid 72 hours).
    Create {
        /// `landlord_admin`, `landlord_operator` or `landlord_viewer`.
        #[arg(long)]
        role: String,
        /// The person's address, which is also their user name.
        #[arg(long)]
        email: String,
    },
    /// Print a single-use link (valid one hour) to set the password of an account, by user
    /// name, login ID or address.
    ResetPassword { login: String },
    /// Remove the second factors (authenticator app and recovery codes) of an account whose
    /// owner lost them, by user name, login ID or address: the next sign-in asks for the
    /// password alone (and a role that requires one is led to set it up again).
    ResetSecondFactors { login: String },
}

#[derive(Debug, Clone, Subcommand)]
pub enum TemplateCommand {
    /// Print a template's current version as JSON (`portal template export ID > file.json`).
    Export { id: String },
    /// Check a JSON file and store it: a new template, or the next version of an existing one.
    /// A bad file is refused with the line and field at fault, and nothing is stored.
    Import { file: std::path::PathBuf },
}

#[derive(Clone, Args)]
pub struct Settings {
    /// Address and port to listen on (`127.0.0.1:0` picks a free port).
    #[arg(
        long,
        env = "PORTAL_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: String,

    /// Folder for the embedded database and the local mail spool.
    #[arg(long, env = "PORTAL_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,

    /// `sqlite://PATH` or `postgres://USER@HOST/DB`; the scheme picks the backend
    /// [default: sqlite://DATA_DIR/portal.db].
    #[arg(
        long,
        env = "PORTAL_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<String>,

    /// Public URL used in links inside emails [default: http:// + the listen address].
    #[arg(long, env = "PORTAL_BASE_URL", global = true)]
    pub base_url: Option<String>,

    /// Landlord administrator created at first start if none exists.
    #[arg(
        long,
        env = "PORTAL_ADMIN_USERNAME",
        default_value = "admin",
        global = true
    )]
    pub admin_username: String,

    /// Its password; when unset at first start a strong one is generated and printed once.
    #[arg(
        long,
        env = "PORTAL_ADMIN_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub admin_password: Option<String>,

    /// SMTP server for outgoing mail, e.g. `smtp://127.0.0.1:2525`; unset = local mail spool.
    #[arg(long, env = "PORTAL_SMTP_URL", hide_env_values = true, global = true)]
    pub smtp_url: Option<String>,

    /// Sender address of notifications.
    #[arg(
        long,
        env = "PORTAL_MAIL_FROM",
        default_value = "portal@localhost",
        global = true
    )]
    pub mail_from: String,

    /// How many jobs the worker runs at once.
    #[arg(
        long,
        env = "PORTAL_WORKER_CONCURRENCY",
        default_value_t = 4,
        global = true
    )]
    pub worker_concurrency: u32,

    /// How many jobs the worker claims beyond its free slots, to start them without a round
    /// trip: more suits many short jobs, fewer lets several workers share long ones.
    #[arg(
        long,
        env = "PORTAL_WORKER_PREFETCH",
        default_value_t = 4,
        global = true
    )]
    pub worker_prefetch: u32,

    /// Milliseconds an idle worker waits before looking at the queue again: how soon it
    /// notices a retry or a scheduled job come due, and lapsed leases. On PostgreSQL a job
    /// queued by any process wakes the workers at once.
    #[arg(
        long,
        env = "PORTAL_WORKER_POLL_MS",
        default_value_t = 500,
        global = true
    )]
    pub worker_poll_ms: u64,

    /// Seconds a worker holds a job without renewing its lease before another may take it.
    #[arg(
        long,
        env = "PORTAL_JOB_LEASE_SECS",
        default_value_t = 30,
        global = true
    )]
    pub job_lease_secs: u64,

    /// How many times provisioning a request is tried before it is marked failed.
    #[arg(
        long,
        env = "PORTAL_PROVISION_ATTEMPTS",
        default_value_t = 5,
        global = true
    )]
    pub provision_attempts: u32,

    /// Proxies whose `Forwarded` / `X-Forwarded-For` headers name the client, as a comma
    /// list of networks (`10.0.0.0/8, ::1`); unset, the connection's peer is the client.
    #[arg(
        long,
        env = "PORTAL_TRUSTED_PROXIES",
        default_value = "",
        global = true
    )]
    pub trusted_proxies: String,

    /// The header the trusted proxies write the client into: `x-forwarded-for` or
    /// `forwarded` (the other is ignored, since a proxy passes it through as sent).
    #[arg(
        long,
        env = "PORTAL_FORWARDING_HEADER",
        default_value = "x-forwarded-for",
        global = true
    )]
    pub forwarding_header: String,

    /// Roles that must use two-step sign-in until landlord administrators set the security
    /// policy in the portal: a comma-separated list of landlord_admin, landlord_operator,
    /// landlord_viewer, tenant_admin, tenant_supervisor, or `none`.
    #[arg(
        long,
        env = "PORTAL_MFA_REQUIRED_FOR",
        default_value = "landlord_admin",
        global = true
    )]
    pub mfa_required_for: String,

    /// Staff single sign-on: the OpenID Connect issuer (`https://id.provider.example/realms/staff`);
    /// unset, there is none.
    #[arg(long, env = "PORTAL_OIDC_ISSUER", global = true)]
    pub oidc_issuer: Option<String>,

    /// The portal's client id at the identity provider.
    #[arg(long, env = "PORTAL_OIDC_CLIENT_ID", global = true)]
    pub oidc_client_id: Option<String>,

    /// The portal's client secret at the identity provider.
    #[arg(
        long,
        env = "PORTAL_OIDC_CLIENT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub oidc_client_secret: Option<String>,

    /// The ID token claim that holds a person's groups.
    #[arg(
        long,
        env = "PORTAL_OIDC_ROLE_CLAIM",
        default_value = "groups",
        global = true
    )]
    pub oidc_role_claim: String,

    /// Which group gives which landlord role, e.g.
    /// `portal-admins=landlord_admin,portal-operators=landlord_operator`.
    #[arg(long, env = "PORTAL_OIDC_ROLES", default_value = "", global = true)]
    pub oidc_roles: String,

    /// Whether webhooks may go to loopback, private and link-local addresses (`true` or
    /// `false`); tests and closed networks only.
    #[arg(
        long,
        env = "PORTAL_WEBHOOK_ALLOW_PRIVATE",
        default_value = "false",
        global = true
    )]
    pub webhook_allow_private: String,

    /// What the delays between a webhook's attempts are multiplied by (`1.0`: at least a day
    /// of attempts); tests use a small one.
    #[arg(
        long,
        env = "PORTAL_WEBHOOK_RETRY_SCALE",
        default_value = "1.0",
        global = true
    )]
    pub webhook_retry_scale: String,

    /// The DNS resolver (ip:port) that domain ownership records are looked up through; unset,
    /// the system's (`/etc/resolv.conf`).
    #[arg(long, env = "PORTAL_DNS_SERVER", global = true)]
    pub dns_server: Option<String>,

    /// Serve `/metrics` on this address:port only (not on PORTAL_LISTEN), so that it need not
    /// be public; unset, `/metrics` is served with everything else.
    #[arg(long, env = "PORTAL_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<String>,

    /// Seconds a connection has to send a request's headers (also how long an idle kept-alive
    /// connection stays open).
    #[arg(
        long,
        env = "PORTAL_HEADER_TIMEOUT_SECS",
        default_value_t = crate::web::server::DEFAULT_HEADER_TIMEOUT_SECS,
        global = true
    )]
    pub header_timeout_secs: u64,

    /// Seconds a request has to be read and answered; beyond, it is answered 408.
    #[arg(
        long,
        env = "PORTAL_REQUEST_TIMEOUT_SECS",
        default_value_t = crate::web::server::DEFAULT_REQUEST_TIMEOUT_SECS,
        global = true
    )]
    pub request_timeout_secs: u64,

    /// Connections open at once at most (lowered to fit the limit on open files); a
    /// connection beyond is answered 503 and closed.
    #[arg(
        long,
        env = "PORTAL_MAX_CONNECTIONS",
        default_value_t = crate::web::server::DEFAULT_MAX_CONNECTIONS,
        global = true
    )]
    pub max_connections: usize,

    /// Connections open at once from one client address at most (trusted proxies are not
    /// limited); a connection beyond is answered 503 and closed.
    #[arg(
        long,
        env = "PORTAL_MAX_CONNECTIONS_PER_CLIENT",
        default_value_t = crate::web::server::DEFAULT_MAX_PER_CLIENT,
        global = true
    )]
    pub max_connections_per_client: usize,

    /// Log filter, e.g. `info` or `portal=debug,info`.
    #[arg(long, env = "PORTAL_LOG", default_value = "info", global = true)]
    pub log: String,

    /// How log lines are written to standard error: `text` for people, or `json`, one object
    /// per line (time, level, message, target, and the fields of the spans it happened in,
    /// such as `http.request_id`, `request.id`, `tenant.id`, `job.kind`) for a log shipper.
    #[arg(long, env = "PORTAL_LOG_FORMAT", default_value = "text", global = true)]
    pub log_format: String,
}

/// A setting that cannot be used, named as the user wrote it.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct SettingError {
    pub setting: &'static str,
    pub message: String,
}

impl SettingError {
    pub fn new(setting: &'static str, message: impl Into<String>) -> Self {
        Self {
            setting,
            message: message.into(),
        }
    }
}

/// Settings checked and resolved, ready to use. Its Debug form leaves out the password and the
/// URLs, which may carry credentials.
#[derive(Clone)]
pub struct Resolved {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub base_url: Option<String>,
    pub admin_username: String,
    pub admin_password: Option<String>,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    pub worker_concurrency: usize,
    pub worker_prefetch: usize,
    pub worker_poll: Duration,
    pub job_lease: Duration,
    pub provision_attempts: i64,
    pub trusted_proxies: crate::web::client::TrustedProxies,
    /// The roles that must use two-step sign-in while no security policy is stored.
    pub mfa_required_for: Vec<portal_domain::Role>,
    /// Staff single sign-on, when set up.
    pub oidc: Option<crate::service::oidc::OidcSettings>,
    /// The HTTP server's timeouts and connection caps.
    pub server: crate::web::server::Limits,
    /// Where `/metrics` is served apart, when it is.
    pub metrics_listen: Option<SocketAddr>,
    /// Where webhooks may go, and how fast their attempts come.
    pub webhooks: crate::service::webhook::WebhookSettings,
    /// Where domain ownership records are looked up.
    pub dns: crate::service::domain::DnsSettings,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("admin_username", &self.admin_username)
            .field("worker_concurrency", &self.worker_concurrency)
            .field("worker_prefetch", &self.worker_prefetch)
            .field("worker_poll", &self.worker_poll)
            .field("job_lease", &self.job_lease)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Checks every setting; the first unusable one is named in the error.
    pub fn resolve(&self) -> Result<Resolved, SettingError> {
        let listen = self.listen_address()?;
        let database_url = self.database_url()?;
        self.check_links_and_first_admin()?;
        self.check_worker()?;
        let trusted_proxies = self.trusted_proxies()?;
        let mfa_required_for = crate::service::security::parse_roles(&self.mfa_required_for)
            .map_err(|e| SettingError::new("PORTAL_MFA_REQUIRED_FOR (--mfa-required-for)", e))?;
        let oidc = self.oidc()?;
        let (server, metrics_listen) = self.server()?;
        let webhooks = self.webhooks()?;
        let dns = self.dns()?;
        Ok(Resolved {
            webhooks,
            dns,
            server,
            metrics_listen,
            oidc,
            mfa_required_for,
            trusted_proxies,
            listen,
            data_dir: self.data_dir.clone(),
            database_url,
            base_url: self
                .base_url
                .as_ref()
                .map(|b| b.trim_end_matches('/').to_owned()),
            admin_username: self.admin_username.trim().to_owned(),
            admin_password: self.admin_password.clone(),
            smtp_url: self.smtp_url.clone().filter(|s| !s.trim().is_empty()),
            mail_from: self.mail_from.clone(),
            worker_concurrency: self.worker_concurrency as usize,
            worker_prefetch: self.worker_prefetch as usize,
            worker_poll: Duration::from_millis(self.worker_poll_ms),
            job_lease: Duration::from_secs(self.job_lease_secs),
            provision_attempts: i64::from(self.provision_attempts),
        })
    }
}

impl Settings {
    fn listen_address(&self) -> Result<SocketAddr, SettingError> {
        self.listen.parse().map_err(|_| {
            SettingError::new(
                "PORTAL_LISTEN (--listen)",
                format!(
                    "{:?} is not an address:port such as 127.0.0.1:8080",
                    self.listen
                ),
            )
        })
    }

    /// The database's URL (the embedded one in the data folder unless set), of a known kind.
    fn database_url(&self) -> Result<String, SettingError> {
        let database_url = match &self.database_url {
            Some(url) => url.trim().to_owned(),
            None => format!("sqlite://{}", self.data_dir.join("portal.db").display()),
        };
        portal_store::backend_of(&database_url).map_err(|e| {
            SettingError::new("PORTAL_DATABASE_URL (--database-url)", e.to_string())
        })?;
        Ok(database_url)
    }

    /// The base URL's scheme, and the first landlord admin's name and password.
    fn check_links_and_first_admin(&self) -> Result<(), SettingError> {
        if let Some(base) = &self.base_url
            && !(base.starts_with("http://") || base.starts_with("https://"))
        {
            return Err(SettingError::new(
                "PORTAL_BASE_URL (--base-url)",
                format!("{base:?} must start with http:// or https://"),
            ));
        }
        if self.admin_username.trim().is_empty() {
            return Err(SettingError::new(
                "PORTAL_ADMIN_USERNAME (--admin-username)",
                "must not be empty",
            ));
        }
        // The first landlord admin's password follows the one rule every password does.
        if let Some(pw) = &self.admin_password
            && let Err(e) = portal_domain::field::Password::parse(
                pw,
                &[("user name", self.admin_username.trim())],
            )
        {
            return Err(SettingError::new(
                "PORTAL_ADMIN_PASSWORD (--admin-password)",
                e.message,
            ));
        }
        Ok(())
    }

    /// The proxies trusted to name the client, and the header they name it in.
    fn trusted_proxies(&self) -> Result<crate::web::client::TrustedProxies, SettingError> {
        let header = self
            .forwarding_header
            .parse()
            .map_err(|e| SettingError::new("PORTAL_FORWARDING_HEADER (--forwarding-header)", e))?;
        Ok(
            crate::web::client::TrustedProxies::parse(&self.trusted_proxies)
                .map_err(|e| SettingError::new("PORTAL_TRUSTED_PROXIES (--trusted-proxies)", e))?
                .reading(header),
        )
    }

    /// The server's limits, and the metrics listener's address.
    /// The webhook settings, each checked.
    fn webhooks(&self) -> Result<crate::service::webhook::WebhookSettings, SettingError> {
        let allow_private = match self.webhook_allow_private.trim() {
            "true" => true,
            "false" | "" => false,
            _ => {
                return Err(SettingError::new(
                    "PORTAL_WEBHOOK_ALLOW_PRIVATE (--webhook-allow-private)",
                    "must be true or false",
                ));
            }
        };
        let retry_scale = self
            .webhook_retry_scale
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|scale| (0.0001..=100.0).contains(scale))
            .ok_or_else(|| {
                SettingError::new(
                    "PORTAL_WEBHOOK_RETRY_SCALE (--webhook-retry-scale)",
                    "must be a number from 0.0001 to 100",
                )
            })?;
        Ok(crate::service::webhook::WebhookSettings {
            allow_private,
            retry_scale,
        })
    }

    /// The worker's limits: concurrency, prefetch, attempts, poll and lease.
    fn check_worker(&self) -> Result<(), SettingError> {
        if !(1..=256).contains(&self.worker_concurrency) {
            return Err(SettingError::new(
                "PORTAL_WORKER_CONCURRENCY (--worker-concurrency)",
                "must be between 1 and 256",
            ));
        }
        if self.worker_prefetch > 10_000 {
            return Err(SettingError::new(
                "PORTAL_WORKER_PREFETCH (--worker-prefetch)",
                "must be between 0 and 10000",
            ));
        }
        if !(1..=100).contains(&self.provision_attempts) {
            return Err(SettingError::new(
                "PORTAL_PROVISION_ATTEMPTS (--provision-attempts)",
                "must be between 1 and 100",
            ));
        }
        if !(10..=600_000).contains(&self.worker_poll_ms) {
            return Err(SettingError::new(
                "PORTAL_WORKER_POLL_MS (--worker-poll-ms)",
                "must be between 10 and 600000",
            ));
        }
        if !(1..=3600).contains(&self.job_lease_secs) {
            return Err(SettingError::new(
                "PORTAL_JOB_LEASE_SECS (--job-lease-secs)",
                "must be between 1 and 3600",
            ));
        }
        Ok(())
    }

    /// The resolver domain records are looked up through.
    fn dns(&self) -> Result<crate::service::domain::DnsSettings, SettingError> {
        let server = match self.dns_server.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(text.parse().map_err(|_| {
                SettingError::new(
                    "PORTAL_DNS_SERVER (--dns-server)",
                    format!("{text:?} is not an ip:port such as 127.0.0.1:53"),
                )
            })?),
        };
        Ok(crate::service::domain::DnsSettings { server })
    }

    fn server(&self) -> Result<(crate::web::server::Limits, Option<SocketAddr>), SettingError> {
        let within = |setting: &'static str, value: u64, range: std::ops::RangeInclusive<u64>| {
            if range.contains(&value) {
                Ok(value)
            } else {
                Err(SettingError::new(
                    setting,
                    format!(
                        "must be between {} and {}, not {value}",
                        range.start(),
                        range.end()
                    ),
                ))
            }
        };
        let header = within(
            "PORTAL_HEADER_TIMEOUT_SECS (--header-timeout-secs)",
            self.header_timeout_secs,
            1..=600,
        )?;
        let request = within(
            "PORTAL_REQUEST_TIMEOUT_SECS (--request-timeout-secs)",
            self.request_timeout_secs,
            1..=3600,
        )?;
        let total = within(
            "PORTAL_MAX_CONNECTIONS (--max-connections)",
            self.max_connections as u64,
            1..=1_000_000,
        )?;
        let per_client = within(
            "PORTAL_MAX_CONNECTIONS_PER_CLIENT (--max-connections-per-client)",
            self.max_connections_per_client as u64,
            1..=1_000_000,
        )?;
        let metrics_listen = match self.metrics_listen.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(address) => Some(address.parse().map_err(|_| {
                SettingError::new(
                    "PORTAL_METRICS_LISTEN (--metrics-listen)",
                    format!("{address:?} is not an address:port such as 127.0.0.1:9090"),
                )
            })?),
        };
        let limits = crate::web::server::Limits {
            header_timeout: Duration::from_secs(header),
            request_timeout: Duration::from_secs(request),
            max_connections: total as usize,
            max_per_client: per_client as usize,
            ..crate::web::server::Limits::default()
        };
        Ok((limits, metrics_listen))
    }

    /// The single sign-on settings: none without an issuer; with one, a client id and at
    /// least one group mapped to a landlord role.
    fn oidc(&self) -> Result<Option<crate::service::oidc::OidcSettings>, SettingError> {
        let Some(issuer) = self
            .oidc_issuer
            .as_deref()
            .map(str::trim)
            .filter(|i| !i.is_empty())
        else {
            return Ok(None);
        };
        if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
            return Err(SettingError::new(
                "PORTAL_OIDC_ISSUER (--oidc-issuer)",
                format!("{issuer:?} must start with https://"),
            ));
        }
        let client_id = self
            .oidc_client_id
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                SettingError::new(
                    "PORTAL_OIDC_CLIENT_ID (--oidc-client-id)",
                    "must be set with PORTAL_OIDC_ISSUER",
                )
            })?;
        let roles = crate::service::oidc::parse_role_map(&self.oidc_roles)
            .map_err(|e| SettingError::new("PORTAL_OIDC_ROLES (--oidc-roles)", e))?;
        let role_claim = self.oidc_role_claim.trim();
        if role_claim.is_empty() {
            return Err(SettingError::new(
                "PORTAL_OIDC_ROLE_CLAIM (--oidc-role-claim)",
                "must not be empty",
            ));
        }
        Ok(Some(crate::service::oidc::OidcSettings {
            // Compared with the provider's own issuer as written, so kept as given.
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: self.oidc_client_secret.clone().filter(|s| !s.is_empty()),
            role_claim: role_claim.to_owned(),
            roles,
        }))
    }
}

impl Resolved {
    /// The folder a SQLite database file lives in, when the database is SQLite.
    pub fn sqlite_folder(&self) -> Option<PathBuf> {
        self.sqlite_file()?.parent().map(Path::to_path_buf)
    }

    /// The SQLite database file, when the database is SQLite in a file.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        let path = self.database_url.strip_prefix("sqlite://")?;
        let path = path.split('?').next().unwrap_or(path);
        if path.is_empty() || path == ":memory:" {
            return None;
        }
        Some(PathBuf::from(path))
    }

    /// The base URL for links, from the setting or the address actually listened on.
    pub fn base_url_for(&self, bound: SocketAddr) -> String {
        self.base_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
    }
}
