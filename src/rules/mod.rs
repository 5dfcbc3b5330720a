//! Rules: loads `rules/*.toml` (target-platform profiles, the OS/kernel matrix, and the rules
//! that say which built-in transform runs, when, and with which parameters). OS knowledge lives
//! in rule files, not in code.
