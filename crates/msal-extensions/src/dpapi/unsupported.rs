//! No DPAPI off Windows: [`DpapiPersistence::new`](super::DpapiPersistence::new)
//! refuses first, so these are never reached.

/// `ERROR_NOT_SUPPORTED`.
const NOT_SUPPORTED: u32 = 50;

pub(super) const AVAILABLE: bool = false;

pub(super) fn protect(
    _plain: &[u8],
    _description: &str,
    _entropy: Option<&[u8]>,
    _local_machine: bool,
) -> Result<Vec<u8>, u32> {
    Err(NOT_SUPPORTED)
}

pub(super) fn unprotect(_blob: &[u8], _entropy: Option<&[u8]>) -> Result<Vec<u8>, u32> {
    Err(NOT_SUPPORTED)
}
