//! Jute codec: filled in by the proto work.
