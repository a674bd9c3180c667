//! `msal-cache`: see, check, repair and migrate MSAL token caches.

fn main() {}
