//! Errors of the meta store: each message says what went wrong and what to do about it.

use std::path::PathBuf;

/// Why the meta store could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds sled's file lock on the directory.
    #[error(
        "another optidb daemon is using the store at {}; stop it or pass a different --store",
        dir.display()
    )]
    Locked {
        /// The store directory.
        dir: PathBuf,
    },

    /// The directory was written by an optidb with another store format.
    #[error(
        "the store at {dir} has format version {found} but this optidb reads version {expected}, \
         and no migration exists yet; move the directory aside (e.g. `mv {dir} {dir}.v{found}`) \
         or pass a different --store: the next scans fill a new store",
        dir = dir.display()
    )]
    FormatMismatch {
        /// The store directory.
        dir: PathBuf,
        /// The version found on disk.
        found: u32,
        /// [`super::FORMAT_VERSION`].
        expected: u32,
    },

    /// The directory holds a sled database that is not an optidb store.
    #[error(
        "{} holds a sled database without an optidb format marker, so it is not an optidb \
         store; pass a different --store or move that directory aside",
        dir.display()
    )]
    NotAStore {
        /// The store directory.
        dir: PathBuf,
    },

    /// Opening failed for another reason (permissions, disk, damaged files).
    #[error(
        "cannot open the store at {}: {source}; check that the directory is writable and the \
         disk has space, or move it aside if its files are damaged",
        dir.display()
    )]
    Open {
        /// The store directory.
        dir: PathBuf,
        /// What sled or the file system said.
        #[source]
        source: sled::Error,
    },

    /// A read or write failed after the store was open.
    #[error(
        "the store failed to read or write: {0}; check free disk space and the permissions of \
         the --store directory"
    )]
    Io(#[from] sled::Error),

    /// A stored value (or key) cannot be decoded.
    #[error(
        "the store entry {key} cannot be read ({reason}); the store is damaged: move the --store \
         directory aside and let the next scans fill a new one"
    )]
    Corrupt {
        /// The key, with `\0` separators shown as `\0`.
        key: String,
        /// What the decoder said.
        reason: String,
    },

    /// A value cannot be stored as JSON that reads back (for example a NaN or infinite
    /// number, which JSON writes as `null`). Nothing of the scan was written.
    #[error(
        "cannot store {key}: {reason}; nothing of this scan was written. This is a bug in the \
         code that built the value (a NaN or infinite number?): please report it"
    )]
    Encode {
        /// The key, with `\0` separators shown as `\0`.
        key: String,
        /// What the encoder or the read-back said.
        reason: String,
    },

    /// A scan's data does not hang together (a metric of a query that is neither in the scan
    /// nor stored, an empty query id, ...). Nothing of the scan was written.
    #[error("scan rejected by the store, nothing of it was written: {0}")]
    InvalidScan(String),

    /// A scan with this id is already stored.
    #[error(
        "a scan with id {scan_id} is already stored for this target; scan ids are start times \
         in milliseconds and must be unique: wait a millisecond and record it again"
    )]
    ScanIdTaken {
        /// The scan id.
        scan_id: i64,
    },
}
