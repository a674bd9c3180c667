//! Cache cost benchmark (placeholder until the measurements land).
fn main() {}
