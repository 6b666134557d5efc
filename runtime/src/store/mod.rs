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

mod error;
mod files;
mod offline;

pub use error::{StoreError, StoreErrorKind};
pub use offline::{CheckReport, RestoreReport, check, restore};

use error::catching;
use files::{Backup, Files, encode, read_snapshot};
use nix::fcntl::Flock;
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition, TableError, WriteTransaction};
use rtprelay_core::{Credential, LiveId};
use std::fs::File;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
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
    use super::files::decode;
    use super::*;
    use std::path::PathBuf;

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
