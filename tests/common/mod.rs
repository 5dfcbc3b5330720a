//! Shared by the tests that need the built test images (`mod common;` in each).

use std::path::PathBuf;

/// The images folder, from GUESTFIX_TEST_IMAGES (scripts/test.sh sets it). Without it the
/// caller skips, saying so loudly; with GUESTFIX_REQUIRE_IMAGES set a missing folder fails.
pub fn images_dir() -> Option<PathBuf> {
    match std::env::var_os("GUESTFIX_TEST_IMAGES") {
        Some(d) if !d.is_empty() => Some(PathBuf::from(d)),
        _ => {
            assert!(
                std::env::var("GUESTFIX_REQUIRE_IMAGES").is_err(),
                "GUESTFIX_REQUIRE_IMAGES is set but GUESTFIX_TEST_IMAGES is not"
            );
            eprintln!("\n*** SKIPPED: GUESTFIX_TEST_IMAGES is not set; run scripts/test.sh ***\n");
            None
        }
    }
}
