//! To be written: see the foundation issue.
