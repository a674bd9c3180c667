//! The Keychain calls, through `security-framework`'s `SecItem` wrappers.
//! `Err` carries the `OSStatus`.

use security_framework::passwords::{
    PasswordOptions, delete_generic_password, generic_password, set_generic_password,
};

pub(super) const AVAILABLE: bool = true;

/// Creates the generic-password item, or replaces its data.
pub(super) fn set(service: &str, account: &str, secret: &[u8]) -> Result<(), i32> {
    set_generic_password(service, account, secret).map_err(|e| e.code())
}

/// The item's data.
pub(super) fn get(service: &str, account: &str) -> Result<Vec<u8>, i32> {
    generic_password(PasswordOptions::new_generic_password(service, account)).map_err(|e| e.code())
}

/// Deletes the generic-password item.
pub(super) fn delete(service: &str, account: &str) -> Result<(), i32> {
    delete_generic_password(service, account).map_err(|e| e.code())
}
