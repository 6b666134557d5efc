//! The durable credential store: one redb file under the data directory.
//!
//! Only hashed codes are stored ([`Credential`]: salt + SHA-256). Every
//! change is one write transaction committed with redb's default immediate
//! durability (fsync) before the caller answers, so a credential the HTTP
//! API returned survives a crash. The store is read once at start to load
//! the core; it is never on the packet path.

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use rtprelay_core::{Credential, LiveId};
use std::path::{Path, PathBuf};

/// `liveId` → salt (16 bytes) followed by hash (32 bytes).
const CREDENTIALS: TableDefinition<&str, &[u8]> = TableDefinition::new("credentials");
/// Small named counters.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Next number tried for a generated `user<N>` id.
const NEXT_USER: &str = "next_user";
/// The database file's name inside the data directory.
pub const FILE_NAME: &str = "credentials.redb";

/// A store failure (I/O, corruption, or the file held by another process).
#[derive(Debug)]
pub struct StoreError(String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    /// An error with a message of the caller's.
    pub fn from_message(message: String) -> Self {
        StoreError(message)
    }
}

impl<E: Into<redb::Error>> From<E> for StoreError {
    fn from(e: E) -> Self {
        StoreError(e.into().to_string())
    }
}

/// The credential store.
pub struct Store {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
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
    let corrupt = || StoreError(format!("corrupt credential record for {live_id:?}"));
    if value.len() != 48 {
        return Err(corrupt());
    }
    let live_id = LiveId::parse(live_id).map_err(|_| corrupt())?;
    let mut credential = Credential { live_id, salt: [0; 16], hash: [0; 32] };
    credential.salt.copy_from_slice(&value[..16]);
    credential.hash.copy_from_slice(&value[16..]);
    Ok(credential)
}

impl Store {
    /// Opens (or creates) the store in `dir`, creating the directory.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError(format!("cannot create data directory {}: {e}", dir.display())))?;
        let path = dir.join(FILE_NAME);
        let db = Database::create(&path).map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        let txn = db.begin_write()?;
        txn.open_table(CREDENTIALS)?;
        txn.open_table(META)?;
        txn.commit()?;
        Ok(Store { db, path })
    }

    /// Every stored credential, sorted by id.
    pub fn load(&self) -> Result<Vec<Credential>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(CREDENTIALS)?;
        let mut out = Vec::with_capacity(table.len()? as usize);
        for entry in table.iter()? {
            let (k, v) = entry?;
            out.push(decode(k.value(), v.value())?);
        }
        Ok(out)
    }

    /// Stores `credential`; `false` (and no change) if its id exists.
    pub fn insert(&self, credential: &Credential) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(CREDENTIALS)?;
            if table.get(credential.live_id.as_str())?.is_some() {
                return Ok(false);
            }
            table.insert(credential.live_id.as_str(), encode(credential).as_slice())?;
        }
        txn.commit()?;
        Ok(true)
    }

    /// Stores a credential under a fresh `user<N>` id (the lowest unused
    /// number from a persistent counter); `make` builds it for that id.
    pub fn insert_generated(&self, make: impl FnOnce(LiveId) -> Credential) -> Result<Credential, StoreError> {
        let txn = self.db.begin_write()?;
        let credential = {
            let mut table = txn.open_table(CREDENTIALS)?;
            let mut meta = txn.open_table(META)?;
            let mut n = meta.get(NEXT_USER)?.map_or(1, |v| v.value());
            let id = loop {
                let id = format!("user{n}");
                n = n.saturating_add(1);
                if table.get(id.as_str())?.is_none() {
                    break id;
                }
            };
            let live_id = LiveId::parse(&id).map_err(|e| StoreError(format!("generated id {id:?}: {e}")))?;
            let credential = make(live_id);
            table.insert(id.as_str(), encode(&credential).as_slice())?;
            meta.insert(NEXT_USER, n)?;
            credential
        };
        txn.commit()?;
        Ok(credential)
    }

    /// Deletes a credential; `false` if there was none.
    pub fn remove(&self, live_id: &LiveId) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let existed = txn.open_table(CREDENTIALS)?.remove(live_id.as_str())?.is_some();
        txn.commit()?;
        Ok(existed)
    }

    /// How many credentials are stored.
    pub fn len(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(CREDENTIALS)?.len()?)
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
            let g = store.insert_generated(|id| Credential::new(id, "x", [3; 16])).unwrap();
            assert_eq!(g.live_id, "user1");
        }
        let store = Store::open(&dir).unwrap();
        let loaded = store.load().unwrap();
        assert_eq!(loaded.iter().map(|c| c.live_id.as_str()).collect::<Vec<_>>(), ["a", "user1"]);
        assert!(loaded[0].verify(b"code-a"));
        assert!(store.remove(&id("a")).unwrap());
        assert!(!store.remove(&id("a")).unwrap());
        assert_eq!(store.len().unwrap(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn generated_ids_skip_taken_ones_and_never_repeat() {
        let dir = temp_dir("generated");
        let store = Store::open(&dir).unwrap();
        store.insert(&Credential::new(id("user1"), "c", [0; 16])).unwrap();
        let make = |id: LiveId| Credential::new(id, "c", [0; 16]);
        assert_eq!(store.insert_generated(make).unwrap().live_id, "user2");
        store.remove(&id("user2")).unwrap();
        assert_eq!(store.insert_generated(make).unwrap().live_id, "user3", "a revoked id is not reissued");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn corrupt_records_are_reported() {
        assert!(decode("x", &[0; 47]).is_err());
        assert!(decode("x", &[]).is_err());
        assert!(decode("x", &[0; 48]).is_ok());
        assert!(decode("a#b", &[0; 48]).is_err(), "a key that is no stream id");
    }
}
