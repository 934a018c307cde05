//! Page layout: the branded header, the blocks (headings, wrapping
//! paragraphs, label/value fields, tables with a repeated header row),
//! page breaks and the "page n of m" footer.
//!
//! The result is a list of [`Page`]s of simple drawing commands in PDF
//! points (origin at the bottom left), which `render` turns into PDF
//! operations. Keeping layout apart from the PDF library keeps it testable
//! and cheap.

use tms_core::ports::{Block, Document};

use super::fonts::Fonts;
use super::shape::{self, Line};

/// An RGB colour, each channel 0.0 to 1.0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rgb(pub f32, pub f32, pub f32);

impl Rgb {
    /// Parses `#rrggbb`; `None` for anything else.
    pub(crate) fn parse(raw: &str) -> Option<Rgb> {
        let hex = raw.trim().strip_prefix('#')?;
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let channel = |i: usize| {
            hex.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .map(|v| f32::from(v) / 255.0)
        };
        Some(Rgb(channel(0)?, channel(2)?, channel(4)?))
    }

    /// The colour mixed with white: `amount` 0.0 keeps it, 1.0 is white.
    fn tint(self, amount: f32) -> Rgb {
        let mix = |c: f32| c + (1.0 - c) * amount;
        Rgb(mix(self.0), mix(self.1), mix(self.2))
    }
}

/// The accent when the tenant set none: a dark blue.
const DEFAULT_ACCENT: Rgb = Rgb(0.12, 0.31, 0.47);
const TEXT: Rgb = Rgb(0.1, 0.1, 0.1);
const MUTED: Rgb = Rgb(0.4, 0.4, 0.4);
const RULE: Rgb = Rgb(0.8, 0.8, 0.8);
const ZEBRA: Rgb = Rgb(0.96, 0.96, 0.96);

/// One drawing command.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Draw {
    /// A filled rectangle; `(x, y)` is its bottom-left corner.
    Fill {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        colour: Rgb,
    },
    /// A straight line.
    Rule {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
        width: f32,
        colour: Rgb,
    },
    /// A shaped line of text; `(x, y)` is the left end of its baseline.
    Text {
        x: f32,
        y: f32,
        size: f32,
        line: Line,
        colour: Rgb,
    },
    /// The logo, scaled into the box.
    Logo { x: f32, y: f32, w: f32, h: f32 },
}

/// One laid-out page.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Page {
    /// What is drawn, in order.
    pub draws: Vec<Draw>,
}

const MARGIN_X: f32 = 42.0;
const MARGIN_TOP: f32 = 40.0;
const MARGIN_BOTTOM: f32 = 56.0;
const LOGO_MAX_W: f32 = 120.0;
const LOGO_MAX_H: f32 = 48.0;
const BODY: f32 = 10.0;
const LEADING: f32 = 1.4;
const CELL_PAD: f32 = 4.0;

/// Lays `doc` out. `logo` is the logo's pixel size, when there is one.
pub(crate) fn layout(doc: &Document, fonts: &Fonts, logo: Option<(u32, u32)>) -> Vec<Page> {
    let (width, height) = doc.page_size.points();
    let accent = doc
        .branding
        .accent_colour
        .as_deref()
        .and_then(Rgb::parse)
        .unwrap_or(DEFAULT_ACCENT);
    let mut l = Layout {
        fonts,
        doc,
        logo,
        accent,
        width,
        height,
        pages: Vec::new(),
        page: Page::default(),
        y: 0.0,
        rtl_doc: matches!(
            doc.language.split(['-', '_']).next().unwrap_or(""),
            "ar" | "ur" | "fa" | "he"
        ),
    };
    l.start_page();
    l.text_block(&doc.title, 18.0, true, TEXT, 4.0);
    l.y -= 8.0;
    for block in &doc.blocks {
        match block {
            Block::Heading(text) => l.heading(text),
            Block::Paragraph(text) => l.text_block(text, BODY, false, TEXT, 6.0),
            Block::Fields(fields) => l.fields(fields),
            Block::Table { header, rows } => l.table(header, rows),
        }
    }
    l.pages.push(std::mem::take(&mut l.page));
    l.footers();
    l.pages
}

struct Layout<'a> {
    fonts: &'a Fonts,
    doc: &'a Document,
    logo: Option<(u32, u32)>,
    accent: Rgb,
    width: f32,
    height: f32,
    pages: Vec<Page>,
    page: Page,
    /// The top of the free space on the current page.
    y: f32,
    /// The document's language is written right to left: text without a
    /// strong direction of its own (numbers) lines up on the right too.
    rtl_doc: bool,
}

impl Layout<'_> {
    fn content_width(&self) -> f32 {
        self.width - 2.0 * MARGIN_X
    }

    /// Ends the current page (if it has content) and starts a new one with
    /// the branded header.
    fn start_page(&mut self) {
        if !self.page.draws.is_empty() {
            self.pages.push(std::mem::take(&mut self.page));
        }
        let top = self.height - MARGIN_TOP;
        let mut text_x = MARGIN_X;
        let mut bottom = top;
        if let Some((pw, ph)) = self.logo.filter(|(w, h)| *w > 0 && *h > 0) {
            let scale = (LOGO_MAX_W / pw as f32).min(LOGO_MAX_H / ph as f32);
            let (w, h) = (pw as f32 * scale, ph as f32 * scale);
            self.page.draws.push(Draw::Logo {
                x: MARGIN_X,
                y: top - h,
                w,
                h,
            });
            text_x += w + 14.0;
            bottom = bottom.min(top - h);
        }
        let branding = &self.doc.branding;
        let name_size = 15.0;
        let mut y = top - name_size;
        let max = self.width - MARGIN_X - text_x;
        for line in self.wrap(&branding.agency_name, name_size, true, max) {
            self.put(line, text_x, y, max, name_size, self.accent);
            y -= name_size * 1.25;
        }
        let small = 8.5;
        y += name_size * 1.25 - name_size - 4.0;
        for address in &branding.address {
            for line in self.wrap(address, small, false, max) {
                y -= small * 1.3;
                self.put(line, text_x, y, max, small, MUTED);
            }
        }
        bottom = bottom.min(y - 4.0);
        let bar = 2.5;
        self.page.draws.push(Draw::Fill {
            x: MARGIN_X,
            y: bottom - 8.0 - bar,
            w: self.content_width(),
            h: bar,
            colour: self.accent,
        });
        self.y = bottom - 8.0 - bar - 18.0;
    }

    /// Makes room for `needed` points, starting a new page if they do not
    /// fit; returns whether a new page was started.
    fn ensure(&mut self, needed: f32) -> bool {
        if self.y - needed < MARGIN_BOTTOM {
            self.start_page();
            true
        } else {
            false
        }
    }

    fn wrap(&self, text: &str, size: f32, bold: bool, max: f32) -> Vec<(String, bool)> {
        let rtl = shape::starts_rtl(text) || (self.rtl_doc && !has_strong_ltr(text));
        shape::wrap(self.fonts, text, bold, rtl, max * 1000.0 / size)
            .into_iter()
            .map(|line| (line, rtl))
            .collect()
    }

    /// Shapes and places one line in a box of width `max` starting at `x`:
    /// left-aligned, or right-aligned when its paragraph is right to left.
    fn put(&mut self, (text, rtl): (String, bool), x: f32, y: f32, max: f32, size: f32, c: Rgb) {
        let bold = size >= 12.0 || c == self.accent;
        self.put_styled(&text, rtl, bold, x, y, max, size, c);
    }

    #[allow(clippy::too_many_arguments)]
    fn put_styled(
        &mut self,
        text: &str,
        rtl: bool,
        bold: bool,
        x: f32,
        y: f32,
        max: f32,
        size: f32,
        colour: Rgb,
    ) {
        if text.is_empty() {
            return;
        }
        let line = shape::shape_line(self.fonts, text, bold, rtl);
        let w = line.width * size / 1000.0;
        let x = if rtl { x + (max - w).max(0.0) } else { x };
        self.page.draws.push(Draw::Text {
            x,
            y,
            size,
            line,
            colour,
        });
    }

    /// A wrapped paragraph at `size`, flowing over pages.
    fn text_block(&mut self, text: &str, size: f32, bold: bool, colour: Rgb, after: f32) {
        let max = self.content_width();
        let lead = size * LEADING;
        for (line, rtl) in self.wrap_styled(text, size, bold, max) {
            self.ensure(lead);
            self.y -= lead;
            self.put_styled(
                &line,
                rtl,
                bold,
                MARGIN_X,
                self.y + lead - size,
                max,
                size,
                colour,
            );
        }
        self.y -= after;
    }

    fn wrap_styled(&self, text: &str, size: f32, bold: bool, max: f32) -> Vec<(String, bool)> {
        let rtl = shape::starts_rtl(text) || (self.rtl_doc && !has_strong_ltr(text));
        shape::wrap(self.fonts, text, bold, rtl, max * 1000.0 / size)
            .into_iter()
            .map(|line| (line, rtl))
            .collect()
    }

    fn heading(&mut self, text: &str) {
        let size = 12.5;
        // Keep a heading with at least two lines of what follows.
        self.ensure(size * LEADING + 8.0 + 2.0 * BODY * LEADING);
        self.y -= 8.0;
        self.text_block(text, size, true, self.accent, 0.0);
        self.y -= 3.0;
        self.page.draws.push(Draw::Rule {
            x1: MARGIN_X,
            y1: self.y,
            x2: self.width - MARGIN_X,
            y2: self.y,
            width: 0.6,
            colour: RULE,
        });
        self.y -= 6.0;
    }

    fn fields(&mut self, fields: &[(String, String)]) {
        let label_w = (self.content_width() * 0.32).min(170.0);
        let value_w = self.content_width() - label_w - 8.0;
        let size = BODY;
        let lead = size * LEADING;
        for (label, value) in fields {
            let labels = self.wrap_styled(label, 9.0, true, label_w);
            let values = self.wrap_styled(value, size, false, value_w);
            let rows = labels.len().max(values.len()).max(1);
            let h = rows as f32 * lead + 2.0;
            self.ensure(h);
            let top = self.y;
            for (i, (line, rtl)) in labels.into_iter().enumerate() {
                let y = top - (i as f32 + 1.0) * lead + (lead - size);
                self.put_styled(&line, rtl, true, MARGIN_X, y, label_w, 9.0, MUTED);
            }
            let vx = MARGIN_X + label_w + 8.0;
            for (i, (line, rtl)) in values.into_iter().enumerate() {
                let y = top - (i as f32 + 1.0) * lead + (lead - size);
                self.put_styled(&line, rtl, false, vx, y, value_w, size, TEXT);
            }
            self.y -= h;
        }
        self.y -= 6.0;
    }

    /// Column widths: each column gets at least its longest word (so that
    /// words are not cut) and shares the rest of the line in proportion to
    /// how much more its widest cell wants (capped at 45% of the line).
    fn column_widths(&self, header: &[String], rows: &[Vec<String>], size: f32) -> Vec<f32> {
        let cols = header
            .len()
            .max(rows.iter().map(Vec::len).max().unwrap_or(0));
        let line = self.content_width();
        let cap = line * 0.45;
        let pad = 2.0 * CELL_PAD;
        let mut natural = vec![pad + 12.0; cols];
        let mut minimum = vec![pad + 12.0; cols];
        let mut widest = |i: usize, text: &str, bold: bool| {
            let rtl = shape::starts_rtl(text);
            let em = size / 1000.0;
            let whole = shape::measure(self.fonts, text, bold, rtl) * em + pad;
            let word = text
                .split_whitespace()
                .map(|w| shape::measure(self.fonts, w, bold, rtl) * em + pad)
                .fold(0.0_f32, f32::max);
            if let (Some(n), Some(m)) = (natural.get_mut(i), minimum.get_mut(i)) {
                *n = n.max(whole.min(cap));
                *m = m.max(word.min(cap));
            }
        };
        for (i, h) in header.iter().enumerate() {
            widest(i, h, true);
        }
        for row in rows {
            for (i, cell) in row.iter().enumerate() {
                widest(i, cell, false);
            }
        }
        for (n, m) in natural.iter_mut().zip(&minimum) {
            *n = n.max(*m);
        }
        let sum_natural: f32 = natural.iter().sum();
        let sum_minimum: f32 = minimum.iter().sum();
        if sum_natural <= line {
            let scale = line / sum_natural.max(1.0);
            natural.into_iter().map(|w| w * scale).collect()
        } else if sum_minimum <= line {
            let share = (line - sum_minimum) / (sum_natural - sum_minimum).max(1.0);
            natural
                .iter()
                .zip(&minimum)
                .map(|(n, m)| m + (n - m) * share)
                .collect()
        } else {
            let scale = line / sum_minimum.max(1.0);
            minimum.into_iter().map(|w| w * scale).collect()
        }
    }

    fn table(&mut self, header: &[String], rows: &[Vec<String>]) {
        // Wide tables (a manifest) in a smaller size, so that cells wrap
        // less.
        let cols = header
            .len()
            .max(rows.iter().map(Vec::len).max().unwrap_or(0));
        let size = if cols > 7 { 8.0 } else { 9.0 };
        let lead = size * LEADING;
        let widths = self.column_widths(header, rows, size);
        if widths.is_empty() {
            return;
        }
        let head_lines: Vec<Vec<(String, bool)>> = widths
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let text = header.get(i).map(String::as_str).unwrap_or("");
                self.wrap_styled(text, size, true, w - 2.0 * CELL_PAD)
            })
            .collect();
        let head_h = head_lines.iter().map(Vec::len).max().unwrap_or(1) as f32 * lead + CELL_PAD;
        let first_row_h = rows
            .first()
            .map(|r| self.row_lines(r, &widths, size).1)
            .unwrap_or(0.0);
        self.ensure(head_h + first_row_h);
        self.table_header(&head_lines, &widths, head_h, size);
        for (n, row) in rows.iter().enumerate() {
            let (cells, h) = self.row_lines(row, &widths, size);
            if self.ensure(h) {
                // The header row again at the top of the new page.
                self.table_header(&head_lines, &widths, head_h, size);
            }
            if n % 2 == 1 {
                self.page.draws.push(Draw::Fill {
                    x: MARGIN_X,
                    y: self.y - h,
                    w: self.content_width(),
                    h,
                    colour: ZEBRA,
                });
            }
            self.cells(&cells, &widths, size, false, TEXT);
            self.y -= h;
        }
        self.page.draws.push(Draw::Rule {
            x1: MARGIN_X,
            y1: self.y,
            x2: self.width - MARGIN_X,
            y2: self.y,
            width: 0.6,
            colour: RULE,
        });
        self.y -= 10.0;
    }

    fn row_lines(
        &self,
        row: &[String],
        widths: &[f32],
        size: f32,
    ) -> (Vec<Vec<(String, bool)>>, f32) {
        let cells: Vec<Vec<(String, bool)>> = widths
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let text = row.get(i).map(String::as_str).unwrap_or("");
                self.wrap_styled(text, size, false, w - 2.0 * CELL_PAD)
            })
            .collect();
        let h =
            cells.iter().map(Vec::len).max().unwrap_or(1).max(1) as f32 * size * LEADING + CELL_PAD;
        (cells, h)
    }

    fn table_header(&mut self, lines: &[Vec<(String, bool)>], widths: &[f32], h: f32, size: f32) {
        self.page.draws.push(Draw::Fill {
            x: MARGIN_X,
            y: self.y - h,
            w: self.content_width(),
            h,
            colour: self.accent.tint(0.85),
        });
        self.cells(lines, widths, size, true, TEXT);
        self.y -= h;
    }

    fn cells(
        &mut self,
        cells: &[Vec<(String, bool)>],
        widths: &[f32],
        size: f32,
        bold: bool,
        colour: Rgb,
    ) {
        let lead = size * LEADING;
        let mut x = MARGIN_X;
        let top = self.y - CELL_PAD / 2.0;
        for (cell, w) in cells.iter().zip(widths) {
            for (i, (line, rtl)) in cell.iter().enumerate() {
                let y = top - (i as f32 + 1.0) * lead + (lead - size);
                self.put_styled(
                    line,
                    *rtl,
                    bold,
                    x + CELL_PAD,
                    y,
                    w - 2.0 * CELL_PAD,
                    size,
                    colour,
                );
            }
            x += w;
        }
    }

    /// "Page n of m" and the footer line on every page.
    fn footers(&mut self) {
        let total = self.pages.len();
        let size = 8.0;
        let y = MARGIN_BOTTOM - 26.0;
        let max = self.content_width();
        let footer = self.doc.footer.clone();
        for n in 0..total {
            let mut draws = vec![Draw::Rule {
                x1: MARGIN_X,
                y1: y + 12.0,
                x2: self.width - MARGIN_X,
                y2: y + 12.0,
                width: 0.5,
                colour: RULE,
            }];
            let number = format!("Page {} of {}", n + 1, total);
            let number_line = shape::shape_line(self.fonts, &number, false, false);
            let number_w = number_line.width * size / 1000.0;
            draws.push(Draw::Text {
                x: self.width - MARGIN_X - number_w,
                y,
                size,
                line: number_line,
                colour: MUTED,
            });
            if let Some(text) = &footer {
                let rtl = shape::starts_rtl(text);
                // One line: what does not fit beside the number is cut.
                let room = max - number_w - 12.0;
                if let Some(first) = shape::wrap(self.fonts, text, false, rtl, room * 1000.0 / size)
                    .into_iter()
                    .next()
                {
                    draws.push(Draw::Text {
                        x: MARGIN_X,
                        y,
                        size,
                        line: shape::shape_line(self.fonts, &first, false, rtl),
                        colour: MUTED,
                    });
                }
            }
            if let Some(page) = self.pages.get_mut(n) {
                page.draws.extend(draws);
            }
        }
    }
}

/// Whether `text` has a strong left-to-right character (a Latin letter).
fn has_strong_ltr(text: &str) -> bool {
    text.chars()
        .any(|c| unicode_bidi::bidi_class(c) == unicode_bidi::BidiClass::L)
}
