//! Placeholder until the PostgreSQL half lands.
