//! path (filled in by the ops work).
