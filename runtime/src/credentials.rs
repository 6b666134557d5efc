//! Creating and revoking stream credentials: the durable store first
//! (committed before anyone is answered), then the core. Shared by the
//! native API and the signed-envelope `getLiveInfo` route.

use crate::relay_handle::{RelayGone, RelayHandle};
use crate::secrets;
use crate::store::{Failing, Store, StoreError};
use rtprelay_core::is_valid_live_code;
use rtprelay_core::{Command, CommandError, Credential, LiveId};
use std::sync::Arc;

/// Draws of a generated id before giving up (with 10^16 ids, a second
/// draw is already rare).
const GENERATE_TRIES: usize = 8;

/// Why a credential could not be created or revoked.
#[derive(Debug)]
pub enum CredentialError {
    /// The `liveId` breaks the grammar (1-40 of `[A-Za-z0-9._-]`, not `.` or
    /// `..`).
    InvalidId,
    /// The `liveCode` breaks the grammar (1-64 of `[A-Za-z0-9._-]`).
    InvalidCode,
    /// A credential with this id exists.
    Exists,
    /// The OS random source failed.
    Random(secrets::RandomError),
    /// The store failed.
    Store(StoreError),
    /// The packet loop is gone (shutting down).
    RelayGone,
}

impl std::fmt::Display for CredentialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialError::InvalidId => {
                f.write_str("liveId must be 1-40 characters of A-Z a-z 0-9 . _ - (not . or ..)")
            }
            CredentialError::InvalidCode => f.write_str("liveCode must be 1-64 characters of A-Z a-z 0-9 . _ -"),
            CredentialError::Exists => f.write_str("a stream with this liveId exists"),
            CredentialError::Random(e) => write!(f, "random source failed: {e}"),
            CredentialError::Store(e) => write!(f, "store failed: {e}"),
            CredentialError::RelayGone => RelayGone.fmt(f),
        }
    }
}

impl std::error::Error for CredentialError {}

impl From<RelayGone> for CredentialError {
    fn from(_: RelayGone) -> Self {
        CredentialError::RelayGone
    }
}

/// New credentials as shown once to the caller.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewStream {
    /// The stream id.
    pub live_id: String,
    /// The code in clear (only the hash is kept).
    pub live_code: String,
}

/// The credential service: store plus core, one change at a time so the
/// two never disagree.
#[derive(Debug)]
pub struct Credentials {
    store: Arc<Store>,
    relay: RelayHandle,
    writes: tokio::sync::Mutex<()>,
}

/// Runs a store call off the async workers.
async fn blocking<T: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, CredentialError> {
    let store = Arc::clone(store);
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(result) => result.map_err(CredentialError::Store),
        Err(e) => Err(CredentialError::Store(StoreError::from_message(format!("store task failed: {e}")))),
    }
}

impl Credentials {
    /// The service over `store` and the packet loop behind `relay`.
    pub fn new(store: Arc<Store>, relay: RelayHandle) -> Self {
        Credentials { store, relay, writes: tokio::sync::Mutex::new(()) }
    }

    /// Creates (or imports) a credential: the id is generated (`user` + 16
    /// random digits) when absent, the code (20 random characters) when absent.
    pub async fn create(
        &self,
        live_id: Option<String>,
        live_code: Option<String>,
    ) -> Result<NewStream, CredentialError> {
        let live_id = live_id.map(LiveId::try_from).transpose().map_err(|_| CredentialError::InvalidId)?;
        if live_code.as_deref().is_some_and(|c| !is_valid_live_code(c)) {
            return Err(CredentialError::InvalidCode);
        }
        let imported = live_code.is_some();
        let live_code = match live_code {
            Some(code) => code,
            None => secrets::live_code().map_err(CredentialError::Random)?,
        };
        let salt = secrets::salt().map_err(CredentialError::Random)?;
        let _guard = self.writes.lock().await;
        let credential = match live_id {
            Some(id) => {
                let credential = Credential::new(id, &live_code, salt);
                let stored = credential.clone();
                if !blocking(&self.store, move |s| s.insert(&stored)).await? {
                    return Err(CredentialError::Exists);
                }
                credential
            }
            None => self.insert_generated(&live_code, salt).await?,
        };
        let live_id = credential.live_id.clone();
        match self.relay.run(Command::AddCredential(credential)).await? {
            // The store is the truth; the core already knowing the id is harmless.
            Ok(_) | Err(CommandError::AlreadyExists) => {}
            Err(e) => tracing::warn!(%live_id, error = %e, "core refused a stored credential"),
        }
        // Never the code.
        tracing::info!(%live_id, imported, "credentials created");
        Ok(NewStream { live_id: live_id.into(), live_code })
    }

    /// Stores `code` under a fresh random id (`user` + 16 digits, §3.1),
    /// drawing again in the unlikely case the id is taken. The caller holds
    /// the write lock.
    async fn insert_generated(&self, code: &str, salt: [u8; 16]) -> Result<Credential, CredentialError> {
        for _ in 0..GENERATE_TRIES {
            let credential = Credential::new(secrets::live_id().map_err(CredentialError::Random)?, code, salt);
            let stored = credential.clone();
            if blocking(&self.store, move |s| s.insert(&stored)).await? {
                return Ok(credential);
            }
        }
        Err(CredentialError::Store(StoreError::from_message("no free generated liveId".to_owned())))
    }

    /// Revokes a credential and stops its stream; `false` if neither the
    /// store nor the core knew it.
    pub async fn revoke(&self, live_id: &LiveId) -> Result<bool, CredentialError> {
        let _guard = self.writes.lock().await;
        let id = live_id.clone();
        let stored = blocking(&self.store, move |s| s.remove(&id)).await?;
        let revoked = self.relay.run(Command::RevokeStream { live_id: live_id.clone() }).await?.is_ok();
        if stored || revoked {
            tracing::info!(%live_id, "credentials revoked");
        }
        Ok(stored || revoked)
    }

    /// Whether the store works (see [`Store::health`]): a failing store is
    /// tried again here, so health turns back to `Ok` once it works.
    pub async fn health(&self) -> Result<(), Failing> {
        let store = Arc::clone(&self.store);
        match tokio::task::spawn_blocking(move || store.health()).await {
            Ok(health) => health,
            Err(e) => Err(Failing { error: format!("store task failed: {e}"), seconds: 0 }),
        }
    }

    /// How many credentials are stored.
    pub async fn count(&self) -> Result<u64, CredentialError> {
        blocking(&self.store, |s| s.len()).await
    }
}
