//! Values as JSON: checked to read back before they are written, and decoded with the key named
//! when they do not.

use super::keys::show;
use super::StoreError;
use serde::{de::DeserializeOwned, Serialize};

/// JSON that is checked to read back as the same type (JSON turns NaN and ±inf into `null`).
pub(super) fn encode<T: Serialize + DeserializeOwned>(
    key: &[u8],
    v: &T,
) -> Result<Vec<u8>, StoreError> {
    let err = |e: serde_json::Error| StoreError::Encode {
        key: show(key),
        reason: e.to_string(),
    };
    let bytes = serde_json::to_vec(v).map_err(err)?;
    serde_json::from_slice::<T>(&bytes).map_err(|e| StoreError::Encode {
        key: show(key),
        reason: format!("it would not read back ({e})"),
    })?;
    Ok(bytes)
}

pub(super) fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: show(key),
        reason: e.to_string(),
    })
}
