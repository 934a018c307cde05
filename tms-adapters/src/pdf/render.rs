//! Laid-out pages to PDF bytes with printpdf's low-level operations.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash as _, Hasher as _};
use std::io::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use printpdf::{
    Codepoint, Color, CurTransMat, FontId, Line as PdfLine, LinePoint, Op, PaintMode, ParsedFont,
    PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt, RawImage, Rect, TextItem,
    TextMatrix, XObjectId, XObjectTransform,
};
use tms_core::ports::{Block, Document, DocumentRenderer};
use tms_core::{Error, Result};

use super::fonts::{FontKey, Fonts};
use super::layout::{self, Draw, Page, Rgb};

/// Renders [`Document`]s to PDF: A4 or Letter, the tenant's logo, name,
/// address and accent colour on every page, "page n of m" numbers, and
/// text in any mix of Latin and Arabic-script languages (see the module
/// documentation of `tms_adapters::pdf`).
///
/// Cheap to share (`Arc<dyn DocumentRenderer>`); fonts are parsed once per
/// process and the last logo is kept decoded.
///
/// ```
/// use tms_adapters::pdf::PdfRenderer;
/// use tms_core::ports::{Block, Branding, Document, DocumentKind, PageSize};
///
/// let renderer = PdfRenderer::new().unwrap();
/// let doc = Document {
///     kind: DocumentKind::Voucher,
///     title: "Travel voucher".into(),
///     language: "en".into(),
///     branding: Branding { agency_name: "Al Noor Travel".into(), ..Default::default() },
///     blocks: vec![Block::Paragraph("مرحبا بكم — welcome".into())],
///     page_size: PageSize::A4,
///     footer: None,
/// };
/// let pdf = renderer.render_pdf(&doc).unwrap();
/// assert!(pdf.starts_with(b"%PDF-"));
/// ```
#[derive(Debug, Default, Clone)]
pub struct PdfRenderer {
    /// The last logo decoded: (hash of its bytes, the image). Shared by the
    /// clones that render long documents on a blocking thread.
    logo: Arc<Mutex<Option<CachedLogo>>>,
}

/// A decoded logo and the hash of the bytes it came from.
type CachedLogo = (u64, Arc<RawImage>);

/// Table rows above which a document is rendered on tokio's blocking pool
/// rather than on the async worker (a 1,000-pilgrim manifest takes tens of
/// milliseconds; a voucher about one).
const BLOCKING_ROWS: usize = 200;

/// printpdf's parsed fonts, in [`FontKey::index`] order, and their font
/// programs compressed once.
struct PdfFonts {
    parsed: Vec<ParsedFont>,
    /// Each font program compressed at the best level, made on the first
    /// document that uses it rather than with the parse: compressing the
    /// four fonts took a third of a `tms-server` start (about 20 ms of 60,
    /// by `perf`) before it could answer, and most processes render few
    /// documents or none.
    compressed: [OnceLock<Option<Vec<u8>>>; 4],
}

impl PdfFonts {
    /// Font `index`'s program, compressed; `None` if compression failed
    /// (the stream is then compressed per document, at the fast level).
    fn compressed(&self, index: usize) -> Option<&[u8]> {
        let key = FontKey::ALL.get(index)?;
        self.compressed
            .get(index)?
            .get_or_init(|| deflate(key.bytes(), flate2::Compression::best()))
            .as_deref()
    }
}

fn pdf_fonts() -> Result<&'static PdfFonts> {
    static FONTS: OnceLock<Option<PdfFonts>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut parsed = Vec::with_capacity(4);
            for key in FontKey::ALL {
                parsed.push(ParsedFont::from_bytes(key.bytes(), 0, &mut Vec::new())?);
            }
            Some(PdfFonts {
                parsed,
                compressed: Default::default(),
            })
        })
        .as_ref()
        .ok_or_else(|| Error::internal("a shipped font file is unreadable"))
}

fn deflate(bytes: &[u8], level: flate2::Compression) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::with_capacity(bytes.len() / 2), level);
    encoder.write_all(bytes).ok()?;
    encoder.finish().ok()
}

impl PdfRenderer {
    /// A renderer; parses the shipped fonts now (once per process), so a
    /// broken build fails at start-up rather than on the first document.
    /// Their compressed copies are made by the first document that needs
    /// them.
    pub fn new() -> Result<Self> {
        Fonts::get().map_err(Error::internal)?;
        pdf_fonts()?;
        Ok(Self::default())
    }

    /// The PDF bytes of `doc`, synchronously (a one-page document takes
    /// about a millisecond).
    pub fn render_pdf(&self, doc: &Document) -> Result<Vec<u8>> {
        let fonts = Fonts::get().map_err(Error::internal)?;
        let pdf_fonts = pdf_fonts()?;
        let logo = doc.branding.logo.as_deref().and_then(|b| self.logo(b));
        let pages = layout::layout(
            doc,
            fonts,
            logo.as_ref().map(|l| (l.width as u32, l.height as u32)),
        );

        let mut pdf = PdfDocument::new(&doc.title);
        // Only the fonts a document uses are added (and embedded).
        let mut used = [false; 4];
        for page in &pages {
            for draw in &page.draws {
                if let Draw::Text { line, .. } = draw {
                    for run in &line.runs {
                        used[run.font.index()] = true;
                    }
                }
            }
        }
        let font_ids: Vec<Option<FontId>> = FontKey::ALL
            .iter()
            .map(|k| used[k.index()].then(|| pdf.add_font(&pdf_fonts.parsed[k.index()])))
            .collect();
        let logo_id = logo.as_deref().map(|image| pdf.add_image(image));

        let (w, h) = doc.page_size.points();
        let pdf_pages: Vec<PdfPage> = pages
            .iter()
            .map(|page| PdfPage {
                media_box: Rect::from_wh(Pt(w), Pt(h)),
                trim_box: Rect::from_wh(Pt(w), Pt(h)),
                crop_box: Rect::from_wh(Pt(w), Pt(h)),
                ops: page_ops(page, &font_ids, logo_id.as_ref()),
            })
            .collect();
        pdf.with_pages(pdf_pages);

        let options = PdfSaveOptions {
            optimize: false,
            subset_fonts: false,
            secure: true,
            image_optimization: None,
        };
        let mut lo = pdf.to_lopdf_document(&options, &mut Vec::new());
        compress_streams(&mut lo, pdf_fonts);
        let mut out = Vec::with_capacity(64 * 1024);
        lo.save_to(&mut out)
            .map_err(|_| Error::internal("writing the PDF failed"))?;
        Ok(out)
    }

    /// The decoded logo, from the cache when the bytes are the same as last
    /// time. A logo that does not decode is left out (a broken logo must not
    /// stop every voucher); uploads are checked before they get here.
    fn logo(&self, bytes: &[u8]) -> Option<Arc<RawImage>> {
        let mut hasher = DefaultHasher::new();
        bytes.hash(&mut hasher);
        let key = hasher.finish();
        if let Ok(cache) = self.logo.lock()
            && let Some((k, image)) = cache.as_ref()
            && *k == key
        {
            return Some(image.clone());
        }
        let image = Arc::new(RawImage::decode_from_bytes(bytes, &mut Vec::new()).ok()?);
        if let Ok(mut cache) = self.logo.lock() {
            *cache = Some((key, image.clone()));
        }
        Some(image)
    }
}

/// Compresses the streams printpdf left plain: the font programs with the
/// copy compressed once per process, everything else (page contents, the
/// logo's pixels, ToUnicode maps) at a fast level.
fn compress_streams(doc: &mut lopdf::Document, fonts: &PdfFonts) {
    for object in doc.objects.values_mut() {
        let lopdf::Object::Stream(stream) = object else {
            continue;
        };
        if stream.dict.get(b"Filter").is_ok() {
            continue;
        }
        let font = FontKey::ALL
            .iter()
            .position(|k| stream.content.as_slice() == k.bytes());
        match font.and_then(|i| fonts.compressed(i)) {
            Some(compressed) => {
                stream
                    .dict
                    .set("Filter", lopdf::Object::Name(b"FlateDecode".to_vec()));
                stream.set_content(compressed.to_vec());
            }
            None => {
                if stream.content.len() < 64 {
                    continue;
                }
                if let Some(compressed) = deflate(&stream.content, flate2::Compression::fast()) {
                    stream
                        .dict
                        .set("Filter", lopdf::Object::Name(b"FlateDecode".to_vec()));
                    stream.set_content(compressed);
                }
            }
        }
    }
}

fn colour(c: Rgb) -> Color {
    Color::Rgb(printpdf::Rgb::new(c.0, c.1, c.2, None))
}

/// The operations of one page: shapes and the logo first, then all text in
/// one text object (text is always on top).
fn page_ops(page: &Page, fonts: &[Option<FontId>], logo: Option<&XObjectId>) -> Vec<Op> {
    let mut ops = Vec::with_capacity(page.draws.len() * 8);
    for draw in &page.draws {
        match draw {
            Draw::Fill {
                x,
                y,
                w,
                h,
                colour: c,
            } => {
                ops.push(Op::SetFillColor { col: colour(*c) });
                ops.push(Op::DrawRectangle {
                    rectangle: Rect {
                        x: Pt(*x),
                        y: Pt(*y),
                        width: Pt(*w),
                        height: Pt(*h),
                        mode: Some(PaintMode::Fill),
                        winding_order: None,
                    },
                });
            }
            Draw::Rule {
                x1,
                y1,
                x2,
                y2,
                width,
                colour: c,
            } => {
                ops.push(Op::SetOutlineColor { col: colour(*c) });
                ops.push(Op::SetOutlineThickness { pt: Pt(*width) });
                let point = |x: f32, y: f32| LinePoint {
                    p: Point { x: Pt(x), y: Pt(y) },
                    bezier: false,
                };
                ops.push(Op::DrawLine {
                    line: PdfLine {
                        points: vec![point(*x1, *y1), point(*x2, *y2)],
                        is_closed: false,
                    },
                });
            }
            Draw::Logo { x, y, w, h } => {
                if let Some(id) = logo {
                    ops.push(Op::SaveGraphicsState);
                    // An image is drawn into the unit square: scale it to
                    // the box and move it into place.
                    ops.push(Op::SetTransformationMatrix {
                        matrix: CurTransMat::Raw([*w, 0.0, 0.0, *h, *x, *y]),
                    });
                    ops.push(Op::UseXobject {
                        id: id.clone(),
                        transform: XObjectTransform {
                            no_auto_scale: true,
                            ..Default::default()
                        },
                    });
                    ops.push(Op::RestoreGraphicsState);
                }
            }
            Draw::Text { .. } => {}
        }
    }
    ops.push(Op::StartTextSection);
    let mut current: Option<(FontKey, f32)> = None;
    let mut fill: Option<Rgb> = None;
    for draw in &page.draws {
        let Draw::Text {
            x,
            y,
            size,
            line,
            colour: c,
        } = draw
        else {
            continue;
        };
        if fill != Some(*c) {
            ops.push(Op::SetFillColor { col: colour(*c) });
            fill = Some(*c);
        }
        let scale = size / 1000.0;
        let mut pen = *x;
        for run in &line.runs {
            let Some(Some(font_id)) = fonts.get(run.font.index()) else {
                pen += run.width * scale;
                continue;
            };
            if current != Some((run.font, *size)) {
                ops.push(Op::SetFont {
                    font: PdfFontHandle::External(font_id.clone()),
                    size: Pt(*size),
                });
                current = Some((run.font, *size));
            }
            for glyph in &run.glyphs {
                if !glyph.blank {
                    // Absolute placement; printpdf merges a baseline's glyphs
                    // into one TJ with exact kerning numbers.
                    ops.push(Op::SetTextMatrix {
                        matrix: TextMatrix::Translate(
                            Pt(pen + glyph.dx * scale),
                            Pt(y + glyph.dy * scale),
                        ),
                    });
                    ops.push(Op::ShowText {
                        items: vec![TextItem::GlyphIds(vec![Codepoint {
                            gid: glyph.gid,
                            offset: 0.0,
                            cid: glyph.text.clone(),
                        }])],
                    });
                }
                pen += glyph.advance * scale;
            }
        }
    }
    ops.push(Op::EndTextSection);
    ops
}

#[async_trait]
impl DocumentRenderer for PdfRenderer {
    async fn render(&self, document: &Document) -> Result<Vec<u8>> {
        let rows: usize = document
            .blocks
            .iter()
            .map(|b| match b {
                Block::Table { rows, .. } => rows.len(),
                Block::Fields(f) => f.len(),
                _ => 1,
            })
            .sum();
        if rows <= BLOCKING_ROWS {
            return self.render_pdf(document);
        }
        let renderer = self.clone();
        let document = document.clone();
        tokio::task::spawn_blocking(move || renderer.render_pdf(&document))
            .await
            .map_err(|_| Error::internal("rendering a document failed"))?
    }
}
