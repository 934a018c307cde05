//! The fonts embedded in every document, shipped in the repository under
//! their licence (`tms-adapters/fonts/`, SIL OFL 1.1) and parsed **once**
//! per process: a Latin font (Noto Sans) and an Arabic-script font (Noto
//! Naskh Arabic, for Arabic, Urdu and Persian), each regular and bold.

use std::sync::OnceLock;

use rustybuzz::{Direction, Face, Feature, ShapePlan};

use super::shape::face_has;

/// Which of the four fonts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum FontKey {
    /// Noto Sans Regular.
    Latin,
    /// Noto Sans Bold.
    LatinBold,
    /// Noto Naskh Arabic Regular.
    Arabic,
    /// Noto Naskh Arabic Bold.
    ArabicBold,
}

impl FontKey {
    /// Every font, in [`FontKey::index`] order.
    pub(crate) const ALL: [FontKey; 4] = [
        FontKey::Latin,
        FontKey::LatinBold,
        FontKey::Arabic,
        FontKey::ArabicBold,
    ];

    /// The Latin font of that weight.
    pub(crate) const fn latin(bold: bool) -> Self {
        if bold {
            FontKey::LatinBold
        } else {
            FontKey::Latin
        }
    }

    /// The Arabic-script font of that weight.
    pub(crate) const fn arabic(bold: bool) -> Self {
        if bold {
            FontKey::ArabicBold
        } else {
            FontKey::Arabic
        }
    }

    /// Whether it is an Arabic-script font.
    pub(crate) const fn is_arabic(self) -> bool {
        matches!(self, FontKey::Arabic | FontKey::ArabicBold)
    }

    /// The script its runs are shaped as.
    pub(crate) const fn script(self) -> rustybuzz::Script {
        if self.is_arabic() {
            rustybuzz::script::ARABIC
        } else {
            rustybuzz::script::LATIN
        }
    }

    /// Position in [`FontKey::ALL`].
    pub(crate) const fn index(self) -> usize {
        match self {
            FontKey::Latin => 0,
            FontKey::LatinBold => 1,
            FontKey::Arabic => 2,
            FontKey::ArabicBold => 3,
        }
    }

    /// The font file's bytes.
    pub(crate) const fn bytes(self) -> &'static [u8] {
        match self {
            FontKey::Latin => include_bytes!("../../fonts/NotoSans-Regular.ttf"),
            FontKey::LatinBold => include_bytes!("../../fonts/NotoSans-Bold.ttf"),
            FontKey::Arabic => include_bytes!("../../fonts/NotoNaskhArabic-Regular.ttf"),
            FontKey::ArabicBold => include_bytes!("../../fonts/NotoNaskhArabic-Bold.ttf"),
        }
    }
}

/// The parsed fonts for shaping, and a shaping plan per font and
/// direction (building a plan costs more than shaping a word, so plans are
/// made once).
pub(crate) struct Fonts {
    faces: [Face<'static>; 4],
    /// `[font index][0 = left to right, 1 = right to left]`.
    plans: Vec<[ShapePlan; 2]>,
}

/// Latin ligatures are switched off: a ligature glyph stands for several
/// characters, and a Latin run's glyphs should map back one to one. Arabic
/// keeps its required ligatures (lam-alef, the name of God): each glyph
/// carries its cluster's text.
fn features(key: FontKey) -> Vec<Feature> {
    if key.is_arabic() {
        Vec::new()
    } else {
        vec![
            Feature::new(rustybuzz::ttf_parser::Tag::from_bytes(b"liga"), 0, ..),
            Feature::new(rustybuzz::ttf_parser::Tag::from_bytes(b"clig"), 0, ..),
        ]
    }
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fonts").finish_non_exhaustive()
    }
}

impl Fonts {
    /// The fonts, parsed on first use. An error only if a shipped font file
    /// is broken (a build problem, not a runtime one).
    pub(crate) fn get() -> Result<&'static Fonts, &'static str> {
        static FONTS: OnceLock<Result<Fonts, &'static str>> = OnceLock::new();
        FONTS
            .get_or_init(|| {
                let face = |key: FontKey| {
                    Face::from_slice(key.bytes(), 0).ok_or("a shipped font file is unreadable")
                };
                let faces = [
                    face(FontKey::Latin)?,
                    face(FontKey::LatinBold)?,
                    face(FontKey::Arabic)?,
                    face(FontKey::ArabicBold)?,
                ];
                let plans = FontKey::ALL
                    .iter()
                    .map(|&key| {
                        let f = &faces[key.index()];
                        let plan = |direction| {
                            ShapePlan::new(f, direction, Some(key.script()), None, &features(key))
                        };
                        [plan(Direction::LeftToRight), plan(Direction::RightToLeft)]
                    })
                    .collect();
                Ok(Fonts { faces, plans })
            })
            .as_ref()
            .map_err(|e| *e)
    }

    /// The shaping face of `key`.
    pub(crate) fn face(&self, key: FontKey) -> &Face<'static> {
        &self.faces[key.index()]
    }

    /// The shaping plan of `key` in that direction.
    pub(crate) fn plan(&self, key: FontKey, rtl: bool) -> Option<&ShapePlan> {
        self.plans.get(key.index()).map(|p| &p[usize::from(rtl)])
    }

    /// Whether font `key` has a glyph for `c`.
    pub(crate) fn has_glyph(&self, key: FontKey, c: char) -> bool {
        face_has(self.face(key), c)
    }
}
