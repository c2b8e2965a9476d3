//! codec tests
