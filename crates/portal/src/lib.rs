//! The Provisioning Portal: web server, provisioning worker and command line in one binary.
//!
//! Layers: `web` and `worker` call use cases in `service`, which use `portal_domain` types and
//! the `portal_store` database. Nothing flows the other way.

pub mod backup;
pub mod config;
pub mod cores;
pub mod fault;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod password;
pub mod service;
pub mod token;
pub mod web;
pub mod worker;

use std::io::{IsTerminal, Write};

use config::{Command, Resolved, SettingError};
use portal_store::Store;
use service::seed::{self, FirstAdmin};
use service::{ServiceError, Services};
use tokio::sync::watch;

/// Why the portal could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Setting(#[from] SettingError),
    #[error("{0}")]
    Other(String),
}

const DATABASE_SETTING: &str = "PORTAL_DATABASE_URL (--database-url)";

/// Sets up logging to standard error, filtered by `filter` (`PORTAL_LOG`), as text or as one
/// JSON object per line (`PORTAL_LOG_FORMAT`).
pub fn init_logging(filter: &str, format: &str) -> Result<(), SettingError> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| SettingError::new("PORTAL_LOG (--log)", format!("not a log filter: {e}")))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format.trim() {
        "text" | "" => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        "json" => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .try_init(),
        other => {
            return Err(SettingError::new(
                "PORTAL_LOG_FORMAT (--log-format)",
                format!("must be text or json, not {other:?}"),
            ));
        }
    };
    Ok(())
}

/// Opens the database named by the settings (creating the SQLite folder and file when
/// missing) and brings its schema up to date.
pub async fn open_store(settings: &Resolved) -> Result<Store, StartError> {
    prepare_sqlite(settings)?;
    let connections = match portal_store::backend_of(&settings.database_url) {
        Ok(portal_store::Backend::Postgres) => 16,
        _ => 8,
    };
    let store = Store::connect(&settings.database_url, connections)
        .await
        .map_err(|e| SettingError::new(DATABASE_SETTING, e.to_string()))?;
    patiently(
        "bring the schema up to date",
        |e| matches!(e, portal_store::StoreError::Unavailable(_)),
        async || store.migrate().await,
    )
    .await
    .map_err(|e| {
        SettingError::new(
            DATABASE_SETTING,
            format!("cannot bring the schema up to date: {e}"),
        )
    })?;
    // Messages sent before their links were erased at sending lose them now.
    match store
        .erase_finished_mail_links(service::mail::hide_tokens)
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(messages = n, "erased the links of messages already sent"),
        Err(e) => tracing::warn!(error = %e, "cannot erase the links of messages already sent"),
    }
    Ok(store)
}

/// Makes the SQLite database's folder and file, private to this user, when the settings name
/// one; says so at once when the folder cannot be written; takes the hold that keeps a
/// restore out while this process runs.
fn prepare_sqlite(settings: &Resolved) -> Result<(), StartError> {
    if let Some(folder) = settings.sqlite_folder()
        && !folder.as_os_str().is_empty()
    {
        private_folder(&folder).map_err(|e| {
            SettingError::new(
                "PORTAL_DATA_DIR (--data-dir)",
                format!("cannot create the folder {}: {e}", folder.display()),
            )
        })?;
        warn_if_shared(&folder);
        // SQLite needs to write beside its file (the journal), even to read: a folder that
        // cannot be written is said at once, not as a pool timing out.
        let probe = folder.join(".portal-write-check");
        std::fs::write(&probe, b"")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|e| {
                SettingError::new(
                    "PORTAL_DATA_DIR (--data-dir)",
                    format!("cannot write in the folder {}: {e}", folder.display()),
                )
            })?;
    }
    if let Some(file) = settings.sqlite_file() {
        // Made here, readable by this user alone: SQLite gives its WAL and shared-memory
        // files the database file's permissions.
        private_file(&file).map_err(|e| {
            SettingError::new(
                DATABASE_SETTING,
                format!("cannot create the database file {}: {e}", file.display()),
            )
        })?;
        warn_if_shared(&file);
        backup::hold(&file)?;
    }
    Ok(())
}

/// Runs a start-up step again while the database cannot do it for a moment (its connections
/// ended by an administrator, a server restarting, a lock held elsewhere): six tries, with
/// pauses of 0.1, 0.2, 0.4, 0.8 and 1.6 s between them. Each step is safe to run again: a
/// try that was cut off wrote nothing, or is found done by the next.
async fn patiently<T, E: std::fmt::Display>(
    what: &str,
    unavailable: impl Fn(&E) -> bool,
    mut step: impl AsyncFnMut() -> Result<T, E>,
) -> Result<T, E> {
    let mut pause = std::time::Duration::from_millis(100);
    for _ in 1..6 {
        match step().await {
            Err(e) if unavailable(&e) => {
                tracing::warn!(error = %e, "cannot {what} yet; trying again");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            done => return done,
        }
    }
    step().await
}

/// Creates a folder (and those above it) that only this user may enter, when missing.
pub fn private_folder(folder: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(folder)
}

/// Says so when the database or its folder is open to other users (made before the portal
/// made them private, or by hand).
fn warn_if_shared(path: &std::path::Path) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "open to other users: `chmod go-rwx` it"
            );
        }
    }
}

/// Creates an empty file that only this user may read or write, when missing.
fn private_file(file: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The use cases' shared parts, with mail links based on `base_url`.
fn services_for(
    store: Store,
    settings: &Resolved,
    base_url: String,
) -> Result<Services, StartError> {
    let mut services = Services::new(store);
    services.provision_attempts = settings.provision_attempts;
    services.webhooks = settings.webhooks;
    services.dns = settings.dns.clone();
    services.security = service::security::SecurityCache::new(
        service::security::SecurityDoc::initial(&settings.mfa_required_for),
    );
    services.oidc = settings.oidc.clone().map(std::sync::Arc::new);
    let mailer = mail::Mailer::new(
        settings.smtp_url.as_deref(),
        settings.data_dir.join("mail"),
        &settings.mail_from,
        base_url,
    )
    .map_err(|(setting, message)| SettingError::new(setting, message))?;
    services.mailer = std::sync::Arc::new(mailer);
    Ok(services)
}

fn worker_config(settings: &Resolved) -> worker::WorkerConfig {
    worker::WorkerConfig {
        concurrency: settings.worker_concurrency,
        prefetch: settings.worker_prefetch,
        lease: settings.job_lease,
        poll: settings.worker_poll,
        ..Default::default()
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("stopping");
}

/// Closes the pool, without waiting for ever on a job still holding a connection: its lease
/// lapses and another worker takes it up.
pub(crate) async fn close(store: &Store) {
    if tokio::time::timeout(std::time::Duration::from_secs(5), store.close())
        .await
        .is_err()
    {
        tracing::warn!("closed with a database connection still in use");
    }
}

/// Runs a command to its end.
pub async fn run(command: Command, settings: Resolved) -> Result<(), StartError> {
    match command {
        Command::Migrate => {
            let store = open_store(&settings).await?;
            store.close().await;
            println!("the database schema is up to date");
            Ok(())
        }
        Command::Worker => {
            let store = open_store(&settings).await?;
            let services = services_for(
                store.clone(),
                &settings,
                settings.base_url_for(settings.listen),
            )?;
            let (stop_tx, stop_rx) = watch::channel(false);
            let names = index_names(&store, &stop_rx);
            let worker = tokio::spawn(worker::run(services, worker_config(&settings), stop_rx));
            println!("worker running");
            let _ = std::io::stdout().flush();
            shutdown_signal().await;
            let _ = stop_tx.send(true);
            let _ = worker.await;
            let _ = names.await;
            close(&store).await;
            Ok(())
        }
        Command::Serve { no_worker } => serve(settings, no_worker).await,
        Command::Backup { path } => backup::back_up(&settings, &path).await,
        Command::Restore { path } => backup::restore(&settings, &path).await,
        Command::Template { action } => template_command(action, settings).await,
        Command::User { action } => user_command(action, settings).await,
    }
}

/// `portal user …`: prints a set-password link, or what was done, for the operator of the
/// machine.
async fn user_command(action: config::UserCommand, settings: Resolved) -> Result<(), StartError> {
    use service::account::{self, AccountError};
    let store = open_store(&settings).await?;
    let services = services_for(
        store.clone(),
        &settings,
        settings.base_url_for(settings.listen),
    )?;
    let result = match action {
        config::UserCommand::Create { role, email } => match role.parse() {
            Ok(role) => account::create_on_command_line(&services, role, &email).await,
            Err(_) => {
                close(&store).await;
                return Err(StartError::Other(format!(
                    "--role must be landlord_admin, landlord_operator or landlord_viewer, not {role:?}"
                )));
            }
        },
        config::UserCommand::ResetPassword { login } => {
            account::reset_on_command_line(&services, &login).await
        }
        config::UserCommand::ResetSecondFactors { login } => {
            service::second_factor::reset_on_command_line(&services, &login).await
        }
    };
    close(&store).await;
    match result {
        Ok(link) => {
            println!("{link}");
            Ok(())
        }
        Err(AccountError::Invalid(problems)) => Err(StartError::Other(
            problems
                .into_iter()
                .map(|p| format!("{}: {}", p.field, p.error.message))
                .collect::<Vec<_>>()
                .join("; "),
        )),
        Err(AccountError::Conflict(account::AccountConflict::Disabled)) => Err(StartError::Other(
            "the account is disabled: enable it in the portal first".to_owned(),
        )),
        Err(AccountError::Conflict(account::AccountConflict::SingleSignOn)) => {
            Err(StartError::Other(
                "the account signs in through single sign-on and has no password here".to_owned(),
            ))
        }
        Err(AccountError::Conflict(_)) => Err(StartError::Other(
            "another account has this email address".to_owned(),
        )),
        Err(AccountError::Service(ServiceError::NotFound)) => Err(StartError::Other(
            "there is no account with this user name, login ID or address".to_owned(),
        )),
        Err(e) => Err(StartError::Other(format!("cannot make the link: {e}"))),
    }
}

async fn template_command(
    action: config::TemplateCommand,
    settings: Resolved,
) -> Result<(), StartError> {
    match action {
        config::TemplateCommand::Export { id } => export_template(&id, &settings).await,
        config::TemplateCommand::Import { file } => import_template(&file, &settings).await,
    }
}

/// Prints the current version of template `id` as JSON.
async fn export_template(id: &str, settings: &Resolved) -> Result<(), StartError> {
    use service::template::TemplateDoc;
    let store = open_store(settings).await?;
    let services = Services::new(store.clone());
    let found =
        service::template::get_template(&services, &service::Actor::command_line(), id).await;
    close(&store).await;
    let (template, objects) = found.map_err(|e| match e {
        ServiceError::NotFound => StartError::Other(format!("there is no template {id:?}")),
        other => StartError::Other(format!("cannot read the template: {other}")),
    })?;
    let doc = TemplateDoc::from_stored(&template, objects)
        .map_err(|e| StartError::Other(e.to_string()))?;
    let text = serde_json::to_string_pretty(&doc).map_err(|e| StartError::Other(e.to_string()))?;
    println!("{text}");
    Ok(())
}

/// Checks the template in `file` and stores it: a new template, or the next version of the
/// one with its id.
async fn import_template(file: &std::path::Path, settings: &Resolved) -> Result<(), StartError> {
    use service::template::parse_file;
    let text = std::fs::read_to_string(file)
        .map_err(|e| StartError::Other(format!("cannot read {}: {e}", file.display())))?;
    let template = parse_file(&text).map_err(|problems| {
        StartError::Other(format!(
            "{} is refused and nothing was imported: {}",
            file.display(),
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })?;
    let store = open_store(settings).await?;
    let mut audit = portal_store::audit::AuditEntry {
        actor_id: None,
        actor_name: None,
        tenant_id: None,
        action: portal_domain::AuditAction::TemplateCreated,
        subject: Some(template.id.clone()),
        detail: Some(format!("imported from {}", file.display())),
        client: None,
    };
    let result = match store.create_template(&template, Some(&audit)).await {
        Ok(()) => Ok(1),
        Err(portal_store::StoreError::Conflict(portal_store::Conflict::TemplateIdTaken)) => {
            audit.action = portal_domain::AuditAction::TemplateVersionAdded;
            store.add_template_version(&template, Some(&audit)).await
        }
        Err(e) => Err(e),
    };
    close(&store).await;
    let version = result.map_err(|e| match e {
        portal_store::StoreError::Conflict(portal_store::Conflict::TemplateRetired) => {
            StartError::Other("cannot store the template: it is retired".into())
        }
        e => StartError::Other(format!("cannot store the template: {e}")),
    })?;
    println!(
        "imported template {} as version {version} ({} objects)",
        template.id,
        template.objects.len()
    );
    Ok(())
}

async fn serve(settings: Resolved, no_worker: bool) -> Result<(), StartError> {
    // Take the port first, so that a port in use stops the start before anything else.
    let (listener, addr) = listen(settings.listen, LISTEN_SETTING).await?;
    let metrics_listener = match settings.metrics_listen {
        Some(address) => Some(listen(address, "PORTAL_METRICS_LISTEN (--metrics-listen)").await?),
        None => None,
    };
    let store = open_store(&settings).await?;
    let services = services_for(store.clone(), &settings, settings.base_url_for(addr))?;
    seed_data(&services, &settings).await?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let names = index_names(&store, &stop_rx);
    let worker = (!no_worker).then(|| {
        tokio::spawn(worker::run(
            services.clone(),
            worker_config(&settings),
            stop_rx.clone(),
        ))
    });
    let trusted = std::sync::Arc::new(settings.trusted_proxies.clone());
    let state = web::AppState {
        services,
        trusted_proxies: trusted.clone(),
        metrics_apart: metrics_listener.is_some(),
    };
    let metrics_limits = settings.server.for_metrics();
    let others = if metrics_listener.is_some() {
        metrics_limits.descriptors()
    } else {
        0
    };
    let limits = settings.server.clone().within_open_file_limit(others);
    let metrics = metrics_listener
        .map(|listener| serve_metrics(listener, &state, metrics_limits, stop_rx.clone()));
    let app = web::router(state);
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    tracing::info!(%addr, base_url = %settings.base_url_for(addr), "serving");

    web::server::serve(listener, app, limits, trusted, async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    })
    .await;
    if let Some(metrics) = metrics {
        let _ = metrics.await;
    }
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    let _ = names.await;
    close(&store).await;
    Ok(())
}

/// Keeps the name search's indexes up with the requests stored (by this process or another
/// on the same SQLite file), until `stop` says so.
fn index_names(store: &Store, stop: &watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let (store, stop) = (store.clone(), stop.clone());
    tokio::spawn(async move {
        store
            .keep_names_indexed(stop, portal_store::NAMES_PER_BATCH)
            .await
    })
}

/// Serves `/metrics` on a listener of its own until `stop` says so.
fn serve_metrics(
    (listener, addr): (tokio::net::TcpListener, std::net::SocketAddr),
    state: &web::AppState,
    limits: web::server::Limits,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    println!("metrics on http://{addr}/metrics");
    tokio::spawn(web::server::serve(
        listener,
        web::metrics_router(state.clone()),
        limits,
        state.trusted_proxies.clone(),
        async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        },
    ))
}

const LISTEN_SETTING: &str = "PORTAL_LISTEN (--listen)";

/// Binds a listening address, and reads back the one bound (its port may have been 0).
async fn listen(
    address: std::net::SocketAddr,
    setting: &'static str,
) -> Result<(tokio::net::TcpListener, std::net::SocketAddr), StartError> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| SettingError::new(setting, format!("cannot listen on {address}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Other(format!("cannot read the listening address: {e}")))?;
    Ok((listener, addr))
}

/// Stores the seeded templates and makes sure there is a landlord administrator, saying so
/// when one was created.
async fn seed_data(services: &Services, settings: &Resolved) -> Result<(), StartError> {
    let unavailable = |e: &ServiceError| matches!(e, ServiceError::Unavailable);
    patiently("store the seeded templates", unavailable, async || {
        seed::seed_templates(services).await
    })
    .await
    .map_err(|e| StartError::Other(format!("cannot store the seeded templates: {e}")))?;
    let admin = patiently(
        "create the landlord administrator",
        unavailable,
        async || {
            seed::ensure_landlord(
                services,
                &settings.admin_username,
                settings.admin_password.as_deref(),
            )
            .await
        },
    )
    .await
    .map_err(|e| StartError::Other(format!("cannot create the landlord administrator: {e}")))?;
    match admin {
        // Said, not silently ignored: the first start's settings do not reset a password.
        FirstAdmin::Exists if settings.admin_password.is_some() => {
            println!(
                "PORTAL_ADMIN_PASSWORD is used at the first start only and was not applied: \
                 change passwords on My account, or print a link with `portal user reset-password`"
            );
        }
        FirstAdmin::Exists => {}
        FirstAdmin::Created => {
            println!(
                "created the landlord administrator {:?}",
                settings.admin_username
            );
        }
        FirstAdmin::CreatedWithPassword(password) => {
            // Shown once, by design: there is no other way to learn it.
            println!(
                "created the landlord administrator {:?} with the generated password {password} (shown only this once)",
                settings.admin_username
            );
        }
    }
    Ok(())
}
