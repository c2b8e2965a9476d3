//! read (filled in by the ops work).
