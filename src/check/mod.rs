//! Pre-flight checks: findings about an inspected guest, each tied to a requirement ID of the
//! import spec (FMT-*, OS-*, BOOT-*, GEN-*, LNX-*, WIN-*), with severity, evidence and a fix.
