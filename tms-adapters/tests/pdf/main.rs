//! The PDF renderer, checked with poppler's tools: the text a reader's
//! software extracts (pdftotext) — Arabic, Urdu and Persian in reading
//! order — page flow and numbering, page sizes, and a rendered page that is
//! not blank (pdftoppm).
//!
//! Without poppler-utils the tests say so loudly and skip; under `CI=true`
//! they fail instead (`.ci/run` installs poppler-utils).

// Tests fail by panicking, helpers included.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod render;
