//! No Keychain off macOS: the constructors refuse first (`AVAILABLE`), so
//! these are never reached.

/// `errSecUnimplemented`.
const UNIMPLEMENTED: i32 = -4;

pub(super) const AVAILABLE: bool = false;

pub(super) fn set(_service: &str, _account: &str, _secret: &[u8]) -> Result<(), i32> {
    Err(UNIMPLEMENTED)
}

pub(super) fn get(_service: &str, _account: &str) -> Result<Vec<u8>, i32> {
    Err(UNIMPLEMENTED)
}

pub(super) fn delete(_service: &str, _account: &str) -> Result<(), i32> {
    Err(UNIMPLEMENTED)
}
