//! The files of a data directory: the lock, the store file (opened,
//! checked, reopened), the JSON backup, and the records' encoding.

use super::error::catching;
use super::{BACKUP_FORMAT, BACKUP_NAME, CREDENTIALS, FILE_NAME, LOCK_NAME, StoreError, StoreErrorKind};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use redb::{Database, DatabaseError, ReadableTable, ReadableTableMetadata, StorageError, TableError};
use rtprelay_core::{Credential, LiveId};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The files of a data directory.
#[derive(Clone, Debug)]
pub(super) struct Files {
    pub(super) dir: PathBuf,
    pub(super) db: PathBuf,
    pub(super) backup: PathBuf,
}

impl Files {
    pub(super) fn new(dir: &Path) -> Files {
        Files { dir: dir.to_owned(), db: dir.join(FILE_NAME), backup: dir.join(BACKUP_NAME) }
    }

    /// The way out of a damaged store file.
    pub(super) fn way_out(&self) -> String {
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
    pub(super) fn damaged(&self, is: impl std::fmt::Display) -> StoreError {
        StoreError {
            kind: StoreErrorKind::Damaged,
            message: format!("the credential store {} {is}; {}", self.db.display(), self.way_out()),
        }
    }

    pub(super) fn io(&self, what: impl std::fmt::Display, e: impl std::fmt::Display) -> StoreError {
        StoreError::from_message(format!("{what}: {e}"))
    }

    /// An error of redb's while opening the file.
    pub(super) fn open_error(&self, e: DatabaseError) -> StoreError {
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

    pub(super) fn in_use(&self) -> StoreError {
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
    pub(super) fn lock(&self) -> Result<Flock<File>, StoreError> {
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
    pub(super) fn read_backup(&self) -> Result<Option<Backup>, StoreError> {
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
    pub(super) fn write_backup(&self, backup: &Backup) -> Result<(), StoreError> {
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
    pub(super) fn db_len(&self) -> Result<Option<u64>, StoreError> {
        match std::fs::metadata(&self.db) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(format_args!("cannot read {}", self.db.display()), e)),
        }
    }

    /// Opens an existing, non-empty store file and checks every page's
    /// checksum; `true` when redb had nothing to repair.
    pub(super) fn open_existing(&self) -> Result<(Database, bool), StoreError> {
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
    pub(super) fn reopen(&self) -> Result<Database, StoreError> {
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
    pub(super) fn inspect(&self) -> Result<Option<(Database, Backup)>, StoreError> {
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
pub(super) struct Backup {
    /// [`BACKUP_FORMAT`].
    pub(super) format: u32,
    /// Every credential (id, salt, hash), sorted by id.
    pub(super) credentials: Vec<Credential>,
}

/// Every credential, read in one transaction; a missing table is empty.
pub(super) fn read_snapshot(db: &Database) -> Result<Backup, StoreError> {
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

pub(super) fn encode(c: &Credential) -> [u8; 48] {
    let mut value = [0; 48];
    value[..16].copy_from_slice(&c.salt);
    value[16..].copy_from_slice(&c.hash);
    value
}

/// A record as a credential: its key must be a stream id and its value 48
/// bytes.
pub(super) fn decode(live_id: &str, value: &[u8]) -> Result<Credential, StoreError> {
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
