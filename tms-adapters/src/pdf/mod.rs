//! The [`DocumentRenderer`] over printpdf (feature `pdf`): vouchers,
//! confirmations, invoices, credit notes and manifests as PDF.
//!
//! # How text gets onto the page
//!
//! printpdf's low-level operations map one character to one glyph: no
//! shaping, no bidi — Arabic written that way comes out as isolated letters
//! in the wrong order. Its HTML path shapes, but costs ~40 ms a document.
//! So this adapter shapes itself and hands printpdf positioned glyph ids:
//!
//! 1. **bidi** (unicode-bidi): each line is split into level runs and put in
//!    visual order (a Latin name inside Arabic text, or the reverse, lands
//!    where a reader expects it);
//! 2. **font fallback per run**: Arabic-script characters take Noto Naskh
//!    Arabic (Arabic, Urdu, Persian), the rest Noto Sans;
//! 3. **shaping** (rustybuzz): joined letters, the lam-alef ligature, mark
//!    positioning, kerning;
//! 4. each glyph is placed absolutely (`Tm` + glyph id; printpdf merges a
//!    line into one `TJ` with kerning numbers), carrying the **logical text
//!    of its cluster** as its ToUnicode entry. Glyphs stand left to right on
//!    the page, each mapping to its own characters, so extractors (pdftotext,
//!    viewers' copy) rebuild right-to-left runs in reading order — the way
//!    they read any PDF typeset right to left.
//!
//! Fonts are shipped in the repository (`fonts/`, OFL) and parsed once per
//! process; a logo is decoded once and reused while it stays the same.
//! Font programs are embedded whole (printpdf subsets only with its HTML
//! stack), compressed once per process and reused in every document; the
//! other streams are compressed per document at a fast level.

mod fonts;
mod layout;
mod render;
mod shape;

pub use render::PdfRenderer;
