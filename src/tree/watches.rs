//! Per-shard watch table (filled in by the watches work).
