//! Text shaping: bidi reordering (unicode-bidi), font fallback per run and
//! glyph shaping (rustybuzz).
//!
//! A line of text comes out as [`Run`]s in **visual** order (left to right
//! on the page), each in one font and one direction, holding positioned
//! glyphs. Every glyph remembers the text of its cluster in **logical**
//! order, so that the PDF writer can make the text extractable in reading
//! order whatever shaping did to it (joined Arabic letters, the lam-alef
//! ligature, marks).
//!
//! Widths are in thousandths of an em (PDF text space units): a width `w`
//! at font size `s` points is `w * s / 1000` points.

use std::ops::Range;

use rustybuzz::ttf_parser::GlyphId;
use rustybuzz::{Direction, UnicodeBuffer};
use unicode_bidi::{BidiInfo, Level};

use super::fonts::{FontKey, Fonts};

/// One glyph, placed relative to the pen of its run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Glyph {
    /// The glyph id in its font.
    pub gid: u16,
    /// How far the pen moves after it (1/1000 em).
    pub advance: f32,
    /// Horizontal offset from the pen (1/1000 em).
    pub dx: f32,
    /// Vertical offset from the baseline (1/1000 em), e.g. Arabic marks.
    pub dy: f32,
    /// The logical text of the glyph's cluster, on the first glyph of each
    /// cluster only (the other glyphs of a cluster carry `None`).
    pub text: Option<String>,
    /// Whether the glyph draws nothing (a space): it only advances the pen.
    pub blank: bool,
}

/// Glyphs of one font and one direction, in visual order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Run {
    /// The font.
    pub font: FontKey,
    /// Right to left (the glyphs are already in visual order).
    pub rtl: bool,
    /// The glyphs, left to right.
    pub glyphs: Vec<Glyph>,
    /// The sum of the advances (1/1000 em).
    pub width: f32,
}

/// A shaped line: runs left to right.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Line {
    /// The runs, in visual order.
    pub runs: Vec<Run>,
    /// The line's width (1/1000 em).
    pub width: f32,
}

/// Whether a character belongs to the Arabic script blocks (Arabic, Urdu,
/// Persian letters, presentation forms).
pub(crate) fn is_arabic_script(c: char) -> bool {
    matches!(c as u32,
        0x0600..=0x06FF | 0x0750..=0x077F | 0x0870..=0x08FF | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF)
}

/// Whether `text` holds any right-to-left character: the paragraph is then
/// laid out from the right.
pub(crate) fn starts_rtl(text: &str) -> bool {
    // The first strong character decides (rule P2 of the bidi algorithm).
    for c in text.chars() {
        match unicode_bidi::bidi_class(c) {
            unicode_bidi::BidiClass::L => return false,
            unicode_bidi::BidiClass::R | unicode_bidi::BidiClass::AL => return true,
            _ => {}
        }
    }
    false
}

/// Picks the font of each character: Arabic-script letters take the Arabic
/// font; neutral characters (spaces, digits, punctuation) inside a
/// right-to-left run stay with the Arabic font when it has them, so that
/// spacing matches; everything else takes the Latin font, falling back to
/// whichever font has the glyph.
fn pick_font(fonts: &Fonts, c: char, rtl: bool, bold: bool, prev: Option<FontKey>) -> FontKey {
    let latin = FontKey::latin(bold);
    let arabic = FontKey::arabic(bold);
    if is_arabic_script(c) {
        return arabic;
    }
    // Combining marks stay with their base.
    if let Some(prev) = prev
        && unicode_bidi::bidi_class(c) == unicode_bidi::BidiClass::NSM
    {
        return prev;
    }
    let strong_latin = unicode_bidi::bidi_class(c) == unicode_bidi::BidiClass::L;
    if rtl && !strong_latin && fonts.has_glyph(arabic, c) {
        return arabic;
    }
    if fonts.has_glyph(latin, c) {
        latin
    } else if fonts.has_glyph(arabic, c) {
        arabic
    } else {
        latin
    }
}

/// Shapes `text` (one line, no line breaks) in the regular or bold fonts.
/// `rtl_base` is the paragraph's direction (the order of runs of mixed
/// text depends on it).
pub(crate) fn shape_line(fonts: &Fonts, text: &str, bold: bool, rtl_base: bool) -> Line {
    if text.is_empty() {
        return Line::default();
    }
    let level = if rtl_base { Level::rtl() } else { Level::ltr() };
    let bidi = BidiInfo::new(text, Some(level));
    let mut line = Line::default();
    for para in &bidi.paragraphs {
        let (levels, level_runs) = bidi.visual_runs(para, para.range.clone());
        for level_run in level_runs {
            let rtl = levels
                .get(level_run.start)
                .copied()
                .unwrap_or(level)
                .is_rtl();
            let mut sub = font_runs(fonts, text, level_run, rtl, bold);
            if rtl {
                sub.reverse();
            }
            for (font, range) in sub {
                let run = shape_run(fonts, text, range, font, rtl);
                line.width += run.width;
                line.runs.push(run);
            }
        }
    }
    line
}

/// Splits `range` of `text` into maximal pieces of one font, in logical
/// order.
fn font_runs(
    fonts: &Fonts,
    text: &str,
    range: Range<usize>,
    rtl: bool,
    bold: bool,
) -> Vec<(FontKey, Range<usize>)> {
    let mut out: Vec<(FontKey, Range<usize>)> = Vec::new();
    let Some(slice) = text.get(range.clone()) else {
        return out;
    };
    let mut prev = None;
    for (i, c) in slice.char_indices() {
        let font = pick_font(fonts, c, rtl, bold, prev);
        prev = Some(font);
        let at = range.start + i;
        let end = at + c.len_utf8();
        match out.last_mut() {
            Some((f, r)) if *f == font => r.end = end,
            _ => out.push((font, at..end)),
        }
    }
    out
}

/// Shapes one piece of one font and direction.
fn shape_run(fonts: &Fonts, text: &str, range: Range<usize>, font: FontKey, rtl: bool) -> Run {
    let slice = text.get(range).unwrap_or("");
    let face = fonts.face(font);
    let mut buffer = UnicodeBuffer::new();
    buffer.push_str(slice);
    buffer.set_direction(if rtl {
        Direction::RightToLeft
    } else {
        Direction::LeftToRight
    });
    buffer.set_script(font.script());
    let output = match fonts.plan(font, rtl) {
        Some(plan) => rustybuzz::shape_with_plan(face, plan, buffer),
        None => rustybuzz::shape(face, &[], buffer),
    };
    let scale = 1000.0 / f32::from(face.units_per_em().max(1) as u16);

    // Cluster starts in logical order, to cut each cluster's text.
    let mut starts: Vec<usize> = output
        .glyph_infos()
        .iter()
        .map(|g| g.cluster as usize)
        .collect();
    starts.sort_unstable();
    starts.dedup();
    let cluster_text = |start: usize| -> String {
        let end = starts
            .iter()
            .find(|&&s| s > start)
            .copied()
            .unwrap_or(slice.len());
        slice.get(start..end).unwrap_or("").to_owned()
    };

    let mut glyphs = Vec::with_capacity(output.len());
    let mut width = 0.0;
    let mut last_cluster = None;
    for (info, pos) in output.glyph_infos().iter().zip(output.glyph_positions()) {
        let cluster = info.cluster as usize;
        let first = last_cluster != Some(cluster);
        last_cluster = Some(cluster);
        // Glyphs stand left to right; the text of each, read in page order,
        // spells the line's visual string, which extractors put back into
        // reading order with the bidi algorithm. So a right-to-left cluster
        // of several characters (the ligature of "الله") carries them
        // reversed, as they stand on the page.
        let text = first.then(|| {
            let t = cluster_text(cluster);
            if rtl && t.chars().nth(1).is_some() {
                t.chars().rev().collect()
            } else {
                t
            }
        });
        let blank = text
            .as_deref()
            .is_some_and(|t| !t.is_empty() && t.chars().all(char::is_whitespace));
        let advance = pos.x_advance as f32 * scale;
        width += advance;
        glyphs.push(Glyph {
            gid: u16::try_from(info.glyph_id).unwrap_or(0),
            advance,
            dx: pos.x_offset as f32 * scale,
            dy: pos.y_offset as f32 * scale,
            text,
            blank,
        });
    }
    Run {
        font,
        rtl,
        glyphs,
        width,
    }
}

/// The width of `text` on one line (1/1000 em).
pub(crate) fn measure(fonts: &Fonts, text: &str, bold: bool, rtl_base: bool) -> f32 {
    shape_line(fonts, text, bold, rtl_base).width
}

/// Breaks `text` into lines no wider than `max` (1/1000 em): greedy, at
/// spaces; a word longer than a line is cut between characters. Explicit
/// line breaks are kept. Returns the lines' text, trimmed.
pub(crate) fn wrap(fonts: &Fonts, text: &str, bold: bool, rtl_base: bool, max: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let space = measure(fonts, " ", bold, rtl_base);
    for paragraph in text.split('\n') {
        let mut current = String::new();
        let mut current_width = 0.0_f32;
        for word in paragraph.split_whitespace() {
            let w = measure(fonts, word, bold, rtl_base);
            let needed = if current.is_empty() {
                w
            } else {
                current_width + space + w
            };
            if needed <= max {
                if !current.is_empty() {
                    current.push(' ');
                }
                current.push_str(word);
                current_width = needed;
                continue;
            }
            if !current.is_empty() {
                lines.push(std::mem::take(&mut current));
            }
            if w <= max {
                current.push_str(word);
                current_width = w;
            } else {
                // A word wider than a line: cut it where it overflows.
                let mut piece = String::new();
                for c in word.chars() {
                    piece.push(c);
                    if measure(fonts, &piece, bold, rtl_base) > max && piece.chars().count() > 1 {
                        piece.pop();
                        lines.push(std::mem::take(&mut piece));
                        piece.push(c);
                    }
                }
                current_width = measure(fonts, &piece, bold, rtl_base);
                current = piece;
            }
        }
        lines.push(current);
    }
    lines
}

/// Whether the face has a glyph for `c`.
pub(crate) fn face_has(face: &rustybuzz::Face<'_>, c: char) -> bool {
    face.glyph_index(c).is_some_and(|g| g != GlyphId(0))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fonts() -> &'static Fonts {
        Fonts::get().unwrap()
    }

    #[test]
    fn mixed_lines_put_arabic_runs_right_to_left_in_the_arabic_font() {
        let line = shape_line(fonts(), "Hotel فندق", false, false);
        assert_eq!(line.runs.len(), 2, "{line:?}");
        let (latin, arabic) = (&line.runs[0], &line.runs[1]);
        assert!(!latin.rtl && latin.font == FontKey::Latin);
        assert!(arabic.rtl && arabic.font == FontKey::Arabic);
        // Visual order: the leftmost glyph is the word's last letter.
        let texts: Vec<&str> = arabic
            .glyphs
            .iter()
            .filter_map(|g| g.text.as_deref())
            .collect();
        assert_eq!(texts.first(), Some(&"ق"), "{texts:?}");
        assert_eq!(texts.last(), Some(&"ف"), "{texts:?}");
        assert!((line.width - latin.width - arabic.width).abs() < 0.01);
    }

    #[test]
    fn arabic_letters_join_into_contextual_forms() {
        // Joined, "ببب" uses three different glyphs (initial, medial, final);
        // isolated letters would repeat one.
        let line = shape_line(fonts(), "ببب", false, true);
        let gids: Vec<u16> = line.runs[0].glyphs.iter().map(|g| g.gid).collect();
        assert_eq!(gids.len(), 3);
        assert!(gids[0] != gids[1] && gids[1] != gids[2], "{gids:?}");
    }

    #[test]
    fn wrapped_lines_fit_the_width_and_keep_every_word() {
        let text =
            "Please carry this voucher with your passport and show it at check-in مع جواز السفر";
        let max = 20_000.0; // 20 em
        let lines = wrap(fonts(), text, false, false, max);
        assert!(lines.len() > 1);
        for l in &lines {
            assert!(measure(fonts(), l, false, false) <= max, "{l}");
        }
        assert_eq!(lines.join(" "), text);
    }
}
