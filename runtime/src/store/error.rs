//! What can go wrong with the store, and how a panic of the storage crate
//! becomes one of those failures instead of a crash.

use std::cell::{Cell, RefCell};
use std::sync::Once;

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
    pub(super) kind: StoreErrorKind,
    pub(super) message: String,
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

thread_local! {
    /// Whether this thread is inside [`catching`].
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    /// The message of the panic [`catching`] caught.
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f`, turning a panic into its message, with nothing printed: the
/// storage crate panics on some damaged files. Panics of other threads
/// are printed as before.
pub(super) fn catching<T>(f: impl FnOnce() -> T) -> Result<T, String> {
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
