//! The two DPAPI calls. Every buffer Windows allocates is freed with
//! `LocalFree` in exactly one place, [`OsBlob`]'s `Drop`, and a decrypted
//! one is zeroed first.

use std::ptr;

use windows_sys::Win32::Foundation::{ERROR_INVALID_PARAMETER, GetLastError, LocalFree};
use windows_sys::Win32::Security::Cryptography::{
    CRYPT_INTEGER_BLOB, CRYPTPROTECT_LOCAL_MACHINE, CRYPTPROTECT_UI_FORBIDDEN, CryptProtectData,
    CryptUnprotectData,
};
use zeroize::Zeroize;

pub(super) const AVAILABLE: bool = true;

/// Encrypts `plain` for the current user (or the machine), never showing UI.
/// `Err` carries the Windows error code.
pub(super) fn protect(
    plain: &[u8],
    description: &str,
    entropy: Option<&[u8]>,
    local_machine: bool,
) -> Result<Vec<u8>, u32> {
    let input = borrow(plain)?;
    let entropy = entropy.map(borrow).transpose()?;
    let descr: Vec<u16> = description.encode_utf16().chain([0]).collect();
    let flags = CRYPTPROTECT_UI_FORBIDDEN | if local_machine { CRYPTPROTECT_LOCAL_MACHINE } else { 0 };
    let mut out = OsBlob::new(false);
    // SAFETY: `input`, `entropy` and `descr` point to live buffers of the
    // lengths given; the reserved and prompt pointers are null as documented;
    // `out` receives a LocalAlloc'd buffer that OsBlob frees.
    let ok = unsafe {
        CryptProtectData(
            &input,
            descr.as_ptr(),
            entropy.as_ref().map_or(ptr::null(), |e| e as *const CRYPT_INTEGER_BLOB),
            ptr::null(),
            ptr::null(),
            flags,
            &mut out.0,
        )
    };
    if ok == 0 {
        return Err(last_error());
    }
    Ok(out.as_slice().to_vec())
}

/// Decrypts `blob`; the plaintext buffer Windows returned is zeroed and freed.
pub(super) fn unprotect(blob: &[u8], entropy: Option<&[u8]>) -> Result<Vec<u8>, u32> {
    let input = borrow(blob)?;
    let entropy = entropy.map(borrow).transpose()?;
    let mut out = OsBlob::new(true);
    // SAFETY: as in `protect`; the description out-pointer is null, so
    // Windows allocates nothing for it.
    let ok = unsafe {
        CryptUnprotectData(
            &input,
            ptr::null_mut(),
            entropy.as_ref().map_or(ptr::null(), |e| e as *const CRYPT_INTEGER_BLOB),
            ptr::null(),
            ptr::null(),
            CRYPTPROTECT_UI_FORBIDDEN,
            &mut out.0,
        )
    };
    if ok == 0 {
        return Err(last_error());
    }
    Ok(out.as_slice().to_vec()) // the caller owns this copy; the OS buffer is zeroed on drop
}

/// A read-only view of `data` as a `CRYPT_INTEGER_BLOB` (DPAPI never writes through it).
fn borrow(data: &[u8]) -> Result<CRYPT_INTEGER_BLOB, u32> {
    let len = u32::try_from(data.len()).map_err(|_| ERROR_INVALID_PARAMETER)?;
    Ok(CRYPT_INTEGER_BLOB { cbData: len, pbData: data.as_ptr().cast_mut() })
}

fn last_error() -> u32 {
    // SAFETY: GetLastError only reads this thread's last-error value.
    unsafe { GetLastError() }
}

/// An output blob whose buffer Windows allocated with `LocalAlloc`.
struct OsBlob(CRYPT_INTEGER_BLOB, bool);

impl OsBlob {
    /// `secret`: zero the buffer before freeing it.
    fn new(secret: bool) -> Self {
        OsBlob(CRYPT_INTEGER_BLOB { cbData: 0, pbData: ptr::null_mut() }, secret)
    }

    fn as_slice(&self) -> &[u8] {
        if self.0.pbData.is_null() {
            return &[];
        }
        // SAFETY: after a successful call pbData points to cbData bytes owned by us until Drop.
        unsafe { std::slice::from_raw_parts(self.0.pbData, self.0.cbData as usize) }
    }
}

impl Drop for OsBlob {
    fn drop(&mut self) {
        if self.0.pbData.is_null() {
            return;
        }
        if self.1 {
            // SAFETY: pbData points to cbData writable bytes that we own.
            unsafe { std::slice::from_raw_parts_mut(self.0.pbData, self.0.cbData as usize) }.zeroize();
        }
        // SAFETY: pbData was allocated by DPAPI with LocalAlloc and is freed exactly once, here.
        unsafe { LocalFree(self.0.pbData.cast()) };
    }
}
