//! Apply: executes a plan through the filesystem writers into a copy-on-write overlay (default)
//! or in place (crash-safe, with an undo journal), keeps every original, and verifies each write
//! by re-reading it through the independent read path.
