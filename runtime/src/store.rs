//! The durable credential store: one redb file under the data directory,
//! a JSON backup beside it, and a lock file that keeps a second relay (or
//! `rtprelay store restore`) out while one runs.
//!
//! Only hashed codes are stored ([`Credential`]: salt + SHA-256). Every
//! change is one write transaction committed with redb's default immediate
//! durability (fsync) before the caller answers, so a credential the HTTP
//! API returned survives a crash. After each change the whole store is
//! written to [`BACKUP_NAME`] (temporary file, fsync, rename): ids, salts
//! and hashes, never codes. The store is read once at start to load the
//! core; it is never on the packet path.
//!
//! A failed write (a full disk) closes the database, since redb refuses
//! every later transaction after an I/O error; the next write, or the next
//! [`Store::health`] a second later, reopens it, so the store works again
//! once there is space. Until then [`Store::health`] reports the failure.
//!
//! A damaged file (empty, truncated, overwritten) is a [`StoreError`] of
//! kind [`StoreErrorKind::Damaged`] naming the file and the way out, never
//! an empty start: panics of the storage crate are caught and turned into
//! that error.

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use redb::{
    Database, DatabaseError, ReadableTable, ReadableTableMetadata, StorageError, TableDefinition, TableError,
    WriteTransaction,
};
use rtprelay_core::{Credential, LiveId};
use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, Once, PoisonError};
use std::time::{Duration, Instant};

/// `liveId` → salt (16 bytes) followed by hash (32 bytes).
const CREDENTIALS: TableDefinition<&str, &[u8]> = TableDefinition::new("credentials");
/// The database file's name inside the data directory.
pub const FILE_NAME: &str = "credentials.redb";
/// The backup's name inside the data directory.
pub const BACKUP_NAME: &str = "credentials.backup.json";
/// The lock file a running relay holds inside the data directory.
pub const LOCK_NAME: &str = "rtprelay.lock";
/// The backup's format number.
const BACKUP_FORMAT: u32 = 1;
/// How often a failing store is tried again when nothing writes.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// What kind of failure a [`StoreError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The file is damaged (or missing beside a backup): the operator must
    /// act (`rtprelay store restore`).
    Damaged,
    /// Another relay holds the data directory.
    InUse,
    /// Anything else: I/O errors such as a full disk.
    Io,
}

/// A store failure, with a one-line message.
#[derive(Debug)]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    /// An I/O error with a message of the caller's.
    pub fn from_message(message: String) -> Self {
        StoreError { kind: StoreErrorKind::Io, message }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}

impl<E: Into<redb::Error>> From<E> for StoreError {
    fn from(e: E) -> Self {
        StoreError::from_message(e.into().to_string())
    }
}

/// The files of a data directory.
#[derive(Clone, Debug)]
struct Files {
    dir: PathBuf,
    db: PathBuf,
    backup: PathBuf,
}

impl Files {
    fn new(dir: &Path) -> Files {
        Files { dir: dir.to_owned(), db: dir.join(FILE_NAME), backup: dir.join(BACKUP_NAME) }
    }

    /// The way out of a damaged store file.
    fn way_out(&self) -> String {
        if self.backup.exists() {
            format!(
                "run `rtprelay store restore --data-dir {}` to rebuild it from {}",
                self.dir.display(),
                self.backup.display()
            )
        } else {
            format!(
                "there is no backup ({}): move the file away to start with no credentials, and create them again",
                self.backup.display()
            )
        }
    }

    /// The store file `is` in some bad state.
    fn damaged(&self, is: impl std::fmt::Display) -> StoreError {
        StoreError {
            kind: StoreErrorKind::Damaged,
            message: format!("the credential store {} {is}; {}", self.db.display(), self.way_out()),
        }
    }

    fn io(&self, what: impl std::fmt::Display, e: impl std::fmt::Display) -> StoreError {
        StoreError::from_message(format!("{what}: {e}"))
    }

    /// An error of redb's while opening the file.
    fn open_error(&self, e: DatabaseError) -> StoreError {
        match e {
            DatabaseError::DatabaseAlreadyOpen => self.in_use(),
            DatabaseError::Storage(StorageError::Io(e))
                if !matches!(e.kind(), std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof) =>
            {
                self.io(format_args!("cannot open {}", self.db.display()), e)
            }
            e => self.damaged(format_args!("is damaged ({e})")),
        }
    }

    fn in_use(&self) -> StoreError {
        StoreError {
            kind: StoreErrorKind::InUse,
            message: format!(
                "the data directory {} is in use by a running relay ({} is locked)",
                self.dir.display(),
                self.dir.join(LOCK_NAME).display()
            ),
        }
    }

    /// Takes the data directory's lock, held as long as the file is open.
    fn lock(&self) -> Result<Flock<File>, StoreError> {
        let path = self.dir.join(LOCK_NAME);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| self.io(format_args!("cannot open {}", path.display()), e))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(lock),
            Err((_, Errno::EWOULDBLOCK)) => Err(self.in_use()),
            Err((_, e)) => Err(self.io(format_args!("cannot lock {}", path.display()), e)),
        }
    }

    /// The backup, if there is one.
    fn read_backup(&self) -> Result<Option<Backup>, StoreError> {
        let text = match std::fs::read_to_string(&self.backup) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(format_args!("cannot read the backup {}", self.backup.display()), e)),
        };
        let backup: Backup = serde_json::from_str(&text).map_err(|e| StoreError {
            kind: StoreErrorKind::Damaged,
            message: format!("the backup {} is unreadable: {e}", self.backup.display()),
        })?;
        if backup.format != BACKUP_FORMAT {
            return Err(StoreError {
                kind: StoreErrorKind::Damaged,
                message: format!("the backup {} has unknown format {}", self.backup.display(), backup.format),
            });
        }
        Ok(Some(backup))
    }

    /// Replaces the backup atomically: a temporary file, fsync, rename,
    /// fsync of the directory.
    fn write_backup(&self, backup: &Backup) -> Result<(), StoreError> {
        let tmp = self.dir.join(format!("{BACKUP_NAME}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut text = serde_json::to_vec_pretty(backup).map_err(std::io::Error::other)?;
            text.push(b'\n');
            let mut file = File::create(&tmp)?;
            file.write_all(&text)?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&tmp, &self.backup)?;
            File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            self.io(format_args!("cannot write the backup {}", self.backup.display()), e)
        })
    }

    /// The state of the store file: `None` if there is none.
    fn db_len(&self) -> Result<Option<u64>, StoreError> {
        match std::fs::metadata(&self.db) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(format_args!("cannot read {}", self.db.display()), e)),
        }
    }

    /// Opens an existing, non-empty store file and checks every page's
    /// checksum; `true` when redb had nothing to repair.
    fn open_existing(&self) -> Result<(Database, bool), StoreError> {
        let opened = catching(|| -> Result<(Database, bool), DatabaseError> {
            let mut db = Database::open(&self.db)?;
            let clean = db.check_integrity()?;
            Ok((db, clean))
        });
        match opened {
            Ok(Ok(opened)) => Ok(opened),
            Ok(Err(e)) => Err(self.open_error(e)),
            Err(panic) => Err(self.damaged(format_args!("is damaged (the storage library failed: {panic})"))),
        }
    }

    /// Opens the store file again after a failure (it must still be there).
    fn reopen(&self) -> Result<Database, StoreError> {
        match self.db_len()? {
            None => return Err(self.damaged("is missing")),
            Some(0) => return Err(self.damaged("is empty (0 bytes)")),
            Some(_) => {}
        }
        match catching(|| Database::create(&self.db)) {
            Ok(Ok(db)) => Ok(db),
            Ok(Err(e)) => Err(self.open_error(e)),
            Err(panic) => Err(self.damaged(format_args!("is damaged (the storage library failed: {panic})"))),
        }
    }

    /// Validates an existing store file: what it holds, checked against the
    /// backup when redb had to repair it. `None` when there is no file and
    /// no backup with credentials (a first start).
    fn inspect(&self) -> Result<Option<(Database, Backup)>, StoreError> {
        match self.db_len()? {
            None => {
                let backup = self.read_backup()?;
                return match backup {
                    Some(b) if !b.credentials.is_empty() => Err(self
                        .damaged(format_args!("is missing but its backup holds {} credentials", b.credentials.len()))),
                    _ => Ok(None),
                };
            }
            Some(0) => return Err(self.damaged("is empty (0 bytes)")),
            Some(_) => {}
        }
        let (db, clean) = self.open_existing()?;
        let snapshot = match catching(|| read_snapshot(&db)) {
            Ok(Ok(snapshot)) => snapshot,
            Ok(Err(e)) => return Err(self.damaged(format_args!("is damaged ({e})"))),
            Err(panic) => return Err(self.damaged(format_args!("is damaged (the storage library failed: {panic})"))),
        };
        if !clean && self.read_backup().ok().flatten().is_some_and(|b| b != snapshot) {
            // redb rolled a damaged commit back: changes may be lost.
            return Err(
                self.damaged("is damaged (the storage library repaired it and it no longer matches the backup)")
            );
        }
        Ok(Some((db, snapshot)))
    }
}

/// Everything the store holds, as written to the backup.
#[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Backup {
    /// [`BACKUP_FORMAT`].
    format: u32,
    /// Every credential (id, salt, hash), sorted by id.
    credentials: Vec<Credential>,
}

/// Every credential, read in one transaction; a missing table is empty.
fn read_snapshot(db: &Database) -> Result<Backup, StoreError> {
    let txn = db.begin_read()?;
    let mut credentials = Vec::new();
    match txn.open_table(CREDENTIALS) {
        Ok(table) => {
            credentials.reserve(table.len()? as usize);
            for entry in table.iter()? {
                let (k, v) = entry?;
                credentials.push(decode(k.value(), v.value())?);
            }
        }
        Err(TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Backup { format: BACKUP_FORMAT, credentials })
}

thread_local! {
    /// Whether this thread is inside [`catching`].
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    /// The message of the panic [`catching`] caught.
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f`, turning a panic into its message, with nothing printed: the
/// storage crate panics on some damaged files. Panics of other threads
/// are printed as before.
fn catching<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) {
                let payload = info.payload();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned());
                CAUGHT.with(|c| *c.borrow_mut() = Some(message));
            } else {
                previous(info);
            }
        }));
    });
    let outer = CATCHING.with(|c| c.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(outer));
    result.map_err(|_| CAUGHT.with(|c| c.borrow_mut().take()).unwrap_or_else(|| "a panic".to_owned()))
}

/// Why the store is failing, and since when.
#[derive(Debug)]
struct Failure {
    message: String,
    since: Instant,
}

/// The store's failure as `/healthz` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failing {
    /// The last error.
    pub error: String,
    /// How long the store has been failing.
    pub seconds: u64,
}

#[derive(Debug)]
struct Inner {
    /// `None` after a failure, until it is reopened.
    db: Option<Database>,
    failure: Option<Failure>,
    /// When a failing store was last tried.
    last_try: Option<Instant>,
}

/// The credential store.
pub struct Store {
    files: Files,
    /// Held while the store is open.
    _lock: Flock<File>,
    /// Whether [`Store::open`] created an empty store.
    created: bool,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.files.db).finish_non_exhaustive()
    }
}

fn encode(c: &Credential) -> [u8; 48] {
    let mut value = [0; 48];
    value[..16].copy_from_slice(&c.salt);
    value[16..].copy_from_slice(&c.hash);
    value
}

/// A record as a credential: its key must be a stream id and its value 48
/// bytes.
fn decode(live_id: &str, value: &[u8]) -> Result<Credential, StoreError> {
    let corrupt = || StoreError::from_message(format!("corrupt credential record for {live_id:?}"));
    if value.len() != 48 {
        return Err(corrupt());
    }
    let live_id = LiveId::parse(live_id).map_err(|_| corrupt())?;
    let mut credential = Credential { live_id, salt: [0; 16], hash: [0; 32] };
    credential.salt.copy_from_slice(&value[..16]);
    credential.hash.copy_from_slice(&value[16..]);
    Ok(credential)
}

/// What `rtprelay store check` found.
#[derive(Debug, serde::Serialize)]
pub struct CheckReport {
    /// Always `true` (a problem is an error).
    pub ok: bool,
    /// Credentials in the store.
    pub credentials: usize,
}

/// What `rtprelay store restore` did.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    /// Credentials written to the new store.
    pub restored: usize,
    /// Where the replaced store file was moved, if there was one.
    pub replaced_file_kept_as: Option<PathBuf>,
}

/// Checks the store in `dir` without a relay running: the file opens,
/// every page's checksum holds, every record reads, and the backup matches.
pub fn check(dir: &Path) -> Result<CheckReport, StoreError> {
    let files = Files::new(dir);
    if !dir.is_dir() {
        return Err(StoreError::from_message(format!("there is no data directory {}", dir.display())));
    }
    let _lock = files.lock()?;
    let Some((_db, snapshot)) = files.inspect()? else {
        return Ok(CheckReport { ok: true, credentials: 0 });
    };
    match files.read_backup()? {
        None => Err(StoreError::from_message(format!(
            "there is no backup {}: start the relay once to write it",
            files.backup.display()
        ))),
        Some(backup) if backup != snapshot => Err(StoreError::from_message(format!(
            "the backup {} ({} credentials) does not match the store {} ({}): starting the relay rewrites the \
             backup from the store; `rtprelay store restore` goes back to the backup",
            files.backup.display(),
            backup.credentials.len(),
            files.db.display(),
            snapshot.credentials.len()
        ))),
        Some(_) => Ok(CheckReport { ok: true, credentials: snapshot.credentials.len() }),
    }
}

/// Rebuilds the store in `dir` from its backup; the old store file, if
/// any, is kept beside it. Refuses while a relay holds the directory.
pub fn restore(dir: &Path) -> Result<RestoreReport, StoreError> {
    let files = Files::new(dir);
    let _lock = files.lock()?;
    let backup = files.read_backup()?.ok_or_else(|| {
        StoreError::from_message(format!("there is no backup {} to restore from", files.backup.display()))
    })?;
    let fresh = dir.join(format!("{FILE_NAME}.restoring"));
    let _ = std::fs::remove_file(&fresh);
    let build = || -> Result<(), StoreError> {
        let db = Database::create(&fresh)?;
        let txn = db.begin_write()?;
        {
            let mut table = txn.open_table(CREDENTIALS)?;
            for credential in &backup.credentials {
                table.insert(credential.live_id.as_str(), encode(credential).as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    };
    build().map_err(|e| files.io(format_args!("cannot build {}", fresh.display()), e))?;
    let kept = match files.db_len()? {
        None => None,
        Some(_) => {
            let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
            let kept = dir.join(format!("{FILE_NAME}.replaced-{secs}"));
            std::fs::rename(&files.db, &kept)
                .map_err(|e| files.io(format_args!("cannot move {}", files.db.display()), e))?;
            Some(kept)
        }
    };
    std::fs::rename(&fresh, &files.db)
        .and_then(|()| File::open(dir)?.sync_all())
        .map_err(|e| files.io(format_args!("cannot move {} into place", fresh.display()), e))?;
    Ok(RestoreReport { restored: backup.credentials.len(), replaced_file_kept_as: kept })
}

impl Store {
    /// Opens (or creates) the store in `dir`, creating the directory and
    /// taking its lock. A damaged file is an error of kind
    /// [`StoreErrorKind::Damaged`]; only a missing file (with no backup
    /// holding credentials) starts empty.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::from_message(format!("cannot create data directory {}: {e}", dir.display())))?;
        let files = Files::new(dir);
        let lock = files.lock()?;
        let (db, snapshot, created) = match files.inspect()? {
            Some((db, snapshot)) => (db, snapshot, false),
            None => {
                let db = Database::create(&files.db)
                    .map_err(|e| files.io(format_args!("cannot create {}", files.db.display()), e))?;
                (db, Backup { format: BACKUP_FORMAT, credentials: Vec::new() }, true)
            }
        };
        let store = Store {
            files,
            _lock: lock,
            created,
            inner: Mutex::new(Inner { db: Some(db), failure: None, last_try: None }),
        };
        // The first start of a store without a backup, or a backup lost to
        // a crash or a full disk: the store is the truth.
        if store.files.read_backup().ok().flatten().as_ref() != Some(&snapshot)
            && let Err(e) = store.files.write_backup(&snapshot)
        {
            store.failed(&mut store.inner(), &e);
        }
        Ok(store)
    }

    /// Whether [`Store::open`] created a new, empty store.
    pub fn created(&self) -> bool {
        self.created
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.files.db
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the database, reopening it if a failure closed it; a
    /// failure (an error or a panic of the storage crate) closes it.
    fn attempt<T>(
        &self,
        inner: &mut Inner,
        f: impl FnOnce(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let db = match inner.db.take() {
            Some(db) => db,
            None => self.files.reopen()?,
        };
        let db = inner.db.insert(db);
        let result = catching(|| f(db))
            .unwrap_or_else(|panic| Err(StoreError::from_message(format!("the storage library failed: {panic}"))));
        if result.is_err() {
            inner.db = None;
        }
        result
    }

    /// Records a failure (logged when the store starts failing).
    fn failed(&self, inner: &mut Inner, e: &StoreError) {
        let since = match &inner.failure {
            Some(f) => f.since,
            None => {
                tracing::error!(file = %self.files.db.display(), error = %e, "the credential store is failing; \
                    changes are refused until a write succeeds again");
                Instant::now()
            }
        };
        inner.failure = Some(Failure { message: e.to_string(), since });
        inner.last_try = Some(Instant::now());
    }

    /// Writes the backup after a successful change; the store works again.
    fn sync_backup(&self, inner: &mut Inner) {
        match self.attempt(inner, read_snapshot).and_then(|snapshot| self.files.write_backup(&snapshot)) {
            Ok(()) => {
                if inner.failure.take().is_some() {
                    tracing::info!(file = %self.files.db.display(), "the credential store works again");
                }
            }
            // The change itself is committed: only the backup lags.
            Err(e) => self.failed(inner, &e),
        }
    }

    /// Runs one write transaction: `f` returns its value and whether it
    /// changed anything (committed, then backed up) or not (aborted).
    fn change<T>(&self, f: impl FnOnce(&WriteTransaction) -> Result<(T, bool), StoreError>) -> Result<T, StoreError> {
        let mut inner = self.inner();
        let result = self.attempt(&mut inner, |db| {
            let txn = db.begin_write()?;
            let (value, changed) = f(&txn)?;
            if changed {
                txn.commit()?;
            } else {
                txn.abort()?;
            }
            Ok((value, changed))
        });
        match result {
            Ok((value, changed)) => {
                if changed {
                    self.sync_backup(&mut inner);
                }
                Ok(value)
            }
            Err(e) => {
                self.failed(&mut inner, &e);
                Err(e)
            }
        }
    }

    /// `Ok` while the store works; while it fails, tries it again (at most
    /// once a second: reopen, an empty commit, the backup) and reports the
    /// failure if it persists.
    pub fn health(&self) -> Result<(), Failing> {
        let mut inner = self.inner();
        if inner.failure.is_some() && inner.last_try.is_none_or(|t| t.elapsed() >= RETRY_EVERY) {
            let probe = self.attempt(&mut inner, |db| {
                db.begin_write()?.commit()?;
                Ok(())
            });
            match probe {
                Ok(()) => self.sync_backup(&mut inner),
                Err(e) => self.failed(&mut inner, &e),
            }
        }
        match &inner.failure {
            None => Ok(()),
            Some(f) => Err(Failing { error: f.message.clone(), seconds: f.since.elapsed().as_secs() }),
        }
    }

    /// Every stored credential, sorted by id.
    pub fn load(&self) -> Result<Vec<Credential>, StoreError> {
        let mut inner = self.inner();
        self.attempt(&mut inner, read_snapshot).map(|s| s.credentials)
    }

    /// Stores `credential`; `false` (and no change) if its id exists.
    pub fn insert(&self, credential: &Credential) -> Result<bool, StoreError> {
        self.change(|txn| {
            let mut table = txn.open_table(CREDENTIALS)?;
            if table.get(credential.live_id.as_str())?.is_some() {
                return Ok((false, false));
            }
            table.insert(credential.live_id.as_str(), encode(credential).as_slice())?;
            Ok((true, true))
        })
    }

    /// Deletes a credential; `false` if there was none.
    pub fn remove(&self, live_id: &LiveId) -> Result<bool, StoreError> {
        self.change(|txn| {
            let existed = txn.open_table(CREDENTIALS)?.remove(live_id.as_str())?.is_some();
            Ok((existed, existed))
        })
    }

    /// How many credentials are stored.
    pub fn len(&self) -> Result<u64, StoreError> {
        let mut inner = self.inner();
        self.attempt(&mut inner, |db| {
            let txn = db.begin_read()?;
            match txn.open_table(CREDENTIALS) {
                Ok(table) => Ok(table.len()?),
                Err(TableError::TableDoesNotExist(_)) => Ok(0),
                Err(e) => Err(e.into()),
            }
        })
    }

    /// Whether no credential is stored.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rtprelay-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn id(text: &str) -> LiveId {
        LiveId::parse(text).unwrap()
    }

    #[test]
    fn credentials_survive_reopening() {
        let dir = temp_dir("reopen");
        let a = Credential::new(id("a"), "code-a", [1; 16]);
        {
            let store = Store::open(&dir).unwrap();
            assert!(store.insert(&a).unwrap());
            assert!(!store.insert(&Credential::new(id("a"), "other", [2; 16])).unwrap(), "no overwrite");
            assert!(store.insert(&Credential::new(id("b"), "code-b", [3; 16])).unwrap());
        }
        let store = Store::open(&dir).unwrap();
        let loaded = store.load().unwrap();
        assert_eq!(loaded.iter().map(|c| c.live_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(loaded[0].verify(b"code-a"));
        assert!(store.remove(&id("a")).unwrap());
        assert!(!store.remove(&id("a")).unwrap());
        assert_eq!(store.len().unwrap(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn every_change_rewrites_the_backup_and_restore_rebuilds_from_it() {
        let dir = temp_dir("backup");
        let files = Files::new(&dir);
        {
            let store = Store::open(&dir).unwrap();
            assert!(store.created());
            assert_eq!(files.read_backup().unwrap().unwrap().credentials.len(), 0, "written at the first start");
            store.insert(&Credential::new(id("a"), "secret-code", [1; 16])).unwrap();
            store.insert(&Credential::new(id("b"), "x", [3; 16])).unwrap();
            let backup = files.read_backup().unwrap().unwrap();
            assert_eq!(backup.credentials, store.load().unwrap());
            assert!(!std::fs::read_to_string(&files.backup).unwrap().contains("secret-code"));
            store.remove(&id("b")).unwrap();
            assert_eq!(files.read_backup().unwrap().unwrap().credentials.len(), 1);
            assert_eq!(restore(&dir).unwrap_err().kind(), StoreErrorKind::InUse);
        }
        assert_eq!(check(&dir).unwrap().credentials, 1);
        let report = restore(&dir).unwrap();
        assert_eq!(report.restored, 1);
        let store = Store::open(&dir).unwrap();
        assert!(!store.created());
        assert!(store.load().unwrap()[0].verify(b"secret-code"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn panics_are_caught_quietly() {
        assert_eq!(catching(|| 7), Ok(7));
        assert_eq!(catching(|| -> u8 { panic!("boom") }), Err("boom".to_owned()));
    }

    #[test]
    fn corrupt_records_are_reported() {
        assert!(decode("x", &[0; 47]).is_err());
        assert!(decode("x", &[]).is_err());
        assert!(decode("x", &[0; 48]).is_ok());
        assert!(decode("a#b", &[0; 48]).is_err(), "a key that is no stream id");
    }
}
