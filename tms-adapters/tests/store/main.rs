//! The SQL store's tests, as one binary.
