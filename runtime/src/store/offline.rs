//! `rtprelay store check` and `rtprelay store restore`: the store examined
//! and rebuilt while no relay runs (each takes the data directory's lock).

use super::files::{Files, encode};
use super::{CREDENTIALS, FILE_NAME, StoreError};
use redb::Database;
use std::fs::File;
use std::path::{Path, PathBuf};

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
