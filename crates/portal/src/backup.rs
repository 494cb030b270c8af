//! `portal backup` and `portal restore` for the embedded database and its mail spool.
//!
//! A backup is a folder: `portal.db`, a consistent copy made by SQLite's `VACUUM INTO` while
//! the portal serves and writes, and `mail/`, the spool's messages. A restore checks the copy
//! (SQLite's integrity check, a schema this build knows, brought up to date) before it replaces
//! anything, and keeps what it replaces beside it.
//!
//! Every process that opens the embedded database holds a shared lock on `<database>.lock`
//! for as long as it runs; a restore takes it exclusively, so it refuses to run under a
//! portal, and a portal refuses to start during a restore.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use portal_store::Store;

use crate::StartError;
use crate::config::Resolved;

/// The locks this process holds on the databases it opened.
static HELD: Mutex<Vec<File>> = Mutex::new(Vec::new());

/// The lock file beside an SQLite database file.
fn lock_file(database: &Path) -> PathBuf {
    with_suffix(database, ".lock")
}

fn open_lock(database: &Path) -> Result<File, StartError> {
    let path = lock_file(database);
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(&path)
        .map_err(|e| StartError::Other(format!("cannot open {}: {e}", path.display())))
}

/// Says that this process uses the embedded database `database` until it ends.
pub fn hold(database: &Path) -> Result<(), StartError> {
    let file = open_lock(database)?;
    match file.try_lock_shared() {
        Ok(()) => {
            HELD.lock().unwrap_or_else(|e| e.into_inner()).push(file);
            Ok(())
        }
        Err(std::fs::TryLockError::WouldBlock) => Err(StartError::Other(format!(
            "a restore is putting a backup into {}: try again once it has finished",
            database.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(StartError::Other(format!(
            "cannot lock {}: {e}",
            lock_file(database).display()
        ))),
    }
}

/// The database's lock taken exclusively, or why it cannot be: a portal uses the database.
fn alone_with(database: &Path) -> Result<File, StartError> {
    let lock = open_lock(database)?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(StartError::Other(format!(
            "a portal is using {}: stop it first (a restore replaces the database of a stopped portal)",
            database.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(StartError::Other(format!("cannot lock the database: {e}")))
        }
    }
}

/// The embedded database's file, or why there is none to back up or restore.
fn embedded(settings: &Resolved, what: &str) -> Result<PathBuf, StartError> {
    settings.sqlite_file().ok_or_else(|| {
        StartError::Other(format!(
            "portal {what} works on the embedded database; on PostgreSQL use pg_dump and \
             pg_restore (see the README)"
        ))
    })
}

/// `portal backup PATH`.
pub async fn back_up(settings: &Resolved, path: &Path) -> Result<(), StartError> {
    let database = embedded(settings, "backup")?;
    if !database.exists() {
        return Err(StartError::Other(format!(
            "there is no database at {} to back up",
            database.display()
        )));
    }
    if path.exists()
        && std::fs::read_dir(path)
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(true)
    {
        return Err(StartError::Other(format!(
            "{} already exists and is not an empty folder: name a new one",
            path.display()
        )));
    }
    // Like every process that opens the database: a restore cannot start meanwhile.
    hold(&database)?;
    crate::private_folder(path)
        .map_err(|e| StartError::Other(format!("cannot create {}: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700));
    }
    let copy = path.join("portal.db");
    let store = connect(&settings.database_url).await?;
    let copied = store.copy_into(&copy).await;
    crate::close(&store).await;
    copied.map_err(|e| StartError::Other(format!("cannot copy the database: {e}")))?;
    private(&copy)?;
    let mails = copy_folder(&settings.data_dir.join("mail"), &path.join("mail"))?;
    let contents = check_copy(&copy).await?;
    println!(
        "backed up to {}: {} requests, {} tenants, {mails} spooled messages",
        path.display(),
        contents.requests,
        contents.tenants
    );
    Ok(())
}

/// `portal restore PATH`, into a stopped portal.
pub async fn restore(settings: &Resolved, path: &Path) -> Result<(), StartError> {
    let database = embedded(settings, "restore")?;
    let copy = path.join("portal.db");
    if !copy.is_file() {
        return Err(StartError::Other(format!(
            "{} holds no portal.db: name a folder `portal backup` wrote",
            path.display()
        )));
    }
    if let Some(folder) = database.parent().filter(|f| !f.as_os_str().is_empty()) {
        crate::private_folder(folder)
            .map_err(|e| StartError::Other(format!("cannot create {}: {e}", folder.display())))?;
    }
    let lock = alone_with(&database)?;
    // The copy is checked and brought up to date beside the database, then moved in.
    let incoming = with_suffix(&database, ".restoring");
    remove_database_files(&incoming)?;
    std::fs::copy(&copy, &incoming)
        .map_err(|e| StartError::Other(format!("cannot copy {}: {e}", copy.display())))?;
    private(&incoming)?;
    let contents = match check_and_upgrade(&incoming).await {
        Ok(contents) => contents,
        Err(e) => {
            let _ = remove_database_files(&incoming);
            return Err(e);
        }
    };
    let now = jiff::Timestamp::now();
    let stamp = format!(
        "{}{:03}Z",
        now.strftime("%Y%m%dT%H%M%S"),
        now.subsec_millisecond()
    );
    let kept = keep_aside(&database, &stamp).await?;
    // One rename replaces the database: at every moment there is one at its path.
    std::fs::rename(&incoming, &database)
        .map_err(|e| StartError::Other(format!("cannot move the restored database in: {e}")))?;
    let mails = restore_spool(&path.join("mail"), &settings.data_dir.join("mail"), &stamp)?;
    drop(lock);
    println!(
        "restored {} into {}: {} requests, {} tenants, {mails} spooled messages{}",
        path.display(),
        database.display(),
        contents.requests,
        contents.tenants,
        kept.map(|k| format!("; the database it replaced is kept as {}", k.display()))
            .unwrap_or_default()
    );
    Ok(())
}

async fn connect(url: &str) -> Result<Store, StartError> {
    Store::connect(url, 1)
        .await
        .map_err(|e| StartError::Other(format!("cannot open the database: {e}")))
}

fn sqlite_url(file: &Path) -> String {
    format!("sqlite://{}", file.display())
}

/// Checks a copy: SQLite's integrity check, and every completed request with its tenant.
async fn check_copy(file: &Path) -> Result<portal_store::backup::Contents, StartError> {
    let store = connect(&sqlite_url(file)).await?;
    let checked = async {
        let problems = store.integrity_problems().await?;
        let contents = store.contents().await?;
        Ok::<_, portal_store::StoreError>((problems, contents))
    }
    .await;
    crate::close(&store).await;
    let (problems, contents) =
        checked.map_err(|e| StartError::Other(format!("cannot check the copy: {e}")))?;
    if !problems.is_empty() {
        return Err(StartError::Other(format!(
            "the copy fails SQLite's integrity check: {}",
            problems.join("; ")
        )));
    }
    if contents.completed_without_tenant > 0 {
        return Err(StartError::Other(format!(
            "the copy is not consistent: {} completed requests have no tenant",
            contents.completed_without_tenant
        )));
    }
    Ok(contents)
}

/// Checks a backup's database and brings its schema up to this build's.
async fn check_and_upgrade(file: &Path) -> Result<portal_store::backup::Contents, StartError> {
    let store = connect(&sqlite_url(file)).await?;
    let version = store.schema_version().await;
    let latest = store.latest_schema_version();
    let upgraded = match version {
        Err(_) => Err(StartError::Other(
            "the backup's portal.db is not a portal database".to_owned(),
        )),
        Ok(v) if v > latest => Err(StartError::Other(format!(
            "the backup comes from a newer portal (schema {v}; this one knows up to {latest}): \
             restore it with that version"
        ))),
        Ok(_) => store.migrate().await.map_err(|e| {
            StartError::Other(format!("cannot bring the backup's schema up to date: {e}"))
        }),
    };
    crate::close(&store).await;
    upgraded?;
    check_copy(file).await
}

/// Makes a file this user's alone (copies take the permissions of their source, or the
/// umask's).
fn private(file: &Path) -> Result<(), StartError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
            StartError::Other(format!("cannot make {} private: {e}", file.display()))
        })?;
    }
    Ok(())
}

fn with_suffix(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Removes a database file and its write-ahead log files, when there.
fn remove_database_files(file: &Path) -> Result<(), StartError> {
    for path in [
        file.to_path_buf(),
        with_suffix(file, "-wal"),
        with_suffix(file, "-shm"),
    ] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StartError::Other(format!(
                    "cannot remove {}: {e}",
                    path.display()
                )));
            }
        }
    }
    Ok(())
}

/// Keeps the database about to be replaced beside it, under `stamp`, and moves its log files
/// out of the way; where the copy is, if there was a database. Its log is first checkpointed
/// into it (best effort: a damaged database is kept as it is), so that the file kept is whole
/// and no log is left for the restored database to replay. The database itself stays in place
/// (a second name for the same file) until the restored one replaces it.
async fn keep_aside(database: &Path, stamp: &str) -> Result<Option<PathBuf>, StartError> {
    if !database.exists() {
        return Ok(None);
    }
    match Store::connect(&sqlite_url(database), 1).await {
        Ok(store) => {
            if let Err(e) = store.checkpoint().await {
                eprintln!("note: the database's log could not be checkpointed: {e}");
            }
            crate::close(&store).await;
        }
        Err(e) => eprintln!("note: the database being replaced could not be opened: {e}"),
    }
    let kept = with_suffix(database, &format!(".before-restore-{stamp}"));
    if kept.exists() {
        return Err(StartError::Other(format!(
            "{} already exists: try again",
            kept.display()
        )));
    }
    std::fs::hard_link(database, &kept)
        .or_else(|_| std::fs::copy(database, &kept).map(|_| ()))
        .map_err(|e| StartError::Other(format!("cannot keep {}: {e}", database.display())))?;
    for suffix in ["-wal", "-shm"] {
        let from = with_suffix(database, suffix);
        if from.exists() {
            let to = with_suffix(&kept, suffix);
            std::fs::rename(&from, &to).map_err(|e| {
                StartError::Other(format!("cannot move {} aside: {e}", from.display()))
            })?;
        }
    }
    Ok(Some(kept))
}

/// Puts the backup's spool in place of the current one (kept aside); how many messages.
fn restore_spool(from: &Path, spool: &Path, stamp: &str) -> Result<usize, StartError> {
    if spool.exists() {
        let aside = with_suffix(spool, &format!(".before-restore-{stamp}"));
        std::fs::rename(spool, &aside).map_err(|e| {
            StartError::Other(format!("cannot move {} aside: {e}", spool.display()))
        })?;
    }
    copy_folder(from, spool)
}

/// Copies the regular files of `from` (when it exists) into the new folder `to`; how many.
fn copy_folder(from: &Path, to: &Path) -> Result<usize, StartError> {
    let entries = match std::fs::read_dir(from) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => {
            return Err(StartError::Other(format!(
                "cannot read {}: {e}",
                from.display()
            )));
        }
    };
    crate::private_folder(to)
        .map_err(|e| StartError::Other(format!("cannot create {}: {e}", to.display())))?;
    let mut copied = 0;
    for entry in entries {
        let entry =
            entry.map_err(|e| StartError::Other(format!("cannot read {}: {e}", from.display())))?;
        let name = entry.file_name();
        // A message being written is a `.tmp` file until it is renamed: it is not copied.
        let is_message = Path::new(&name).extension().is_some_and(|x| x == "eml");
        if entry.file_type().is_ok_and(|t| t.is_file()) && is_message {
            std::fs::copy(entry.path(), to.join(&name)).map_err(|e| {
                StartError::Other(format!("cannot copy {}: {e}", entry.path().display()))
            })?;
            copied += 1;
        }
    }
    Ok(copied)
}
