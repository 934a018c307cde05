use std::path::PathBuf;
use std::process::Command;

use tms_adapters::pdf::PdfRenderer;
use tms_core::ports::{Block, Branding, Document, DocumentKind, PageSize};

/// Whether poppler's `tool` runs; loud skip without it, failure under CI.
fn poppler(tool: &str) -> bool {
    let found = Command::new(tool).arg("-v").output().is_ok();
    if !found {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{tool} (poppler-utils) is required under CI=true");
        }
        eprintln!("\n*** SKIPPED: {tool} not found; install poppler-utils to check PDF text ***\n");
    }
    found
}

fn write(pdf: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, pdf).unwrap();
    (dir, path)
}

/// The text of the PDF, as pdftotext reads it (reading order).
fn text_of(pdf: &[u8]) -> String {
    let (_dir, path) = write(pdf);
    let out = Command::new("pdftotext")
        .args(["-enc", "UTF-8"])
        .arg(&path)
        .arg("-")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn doc(blocks: Vec<Block>) -> Document {
    Document {
        kind: DocumentKind::Voucher,
        title: "Travel voucher".into(),
        language: "en".into(),
        branding: Branding {
            agency_name: "Al Noor Travel".into(),
            address: vec!["12 King Fahd Road".into(), "Riyadh".into()],
            logo: None,
            accent_colour: Some("#0a7d5a".into()),
        },
        blocks,
        page_size: PageSize::A4,
        footer: Some("Voucher BK-2026-000123".into()),
    }
}

#[test]
fn arabic_urdu_and_persian_are_extracted_in_reading_order() {
    if !poppler("pdftotext") {
        return;
    }
    let r = PdfRenderer::new().unwrap();
    let pdf = r
        .render_pdf(&doc(vec![
            Block::Paragraph("السلام عليكم ورحمة الله".into()),
            Block::Paragraph("مسافر: آمنہ خان".into()),
            Block::Paragraph("سفر بخیر".into()),
            Block::Paragraph("Booking BK-2026-000123 for أحمد محمد in Makkah".into()),
            Block::Fields(vec![("Name".into(), "محمد عبد الله".into())]),
        ]))
        .unwrap();
    let text = text_of(&pdf);
    for expected in [
        "السلام عليكم ورحمة الله",
        "آمنہ خان",
        "سفر بخیر",
        "أحمد محمد",
        "محمد عبد الله",
        "Al Noor Travel",
        "Page 1 of 1",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
}

const LOGO: &[u8] = include_bytes!("logo.png");

fn long_document(rows: usize) -> Document {
    let mut d = doc(vec![
        Block::Heading("Pilgrims".into()),
        Block::Table {
            header: vec!["#".into(), "Name".into(), "الاسم".into(), "Visa".into()],
            rows: (1..=rows)
                .map(|i| {
                    vec![
                        i.to_string(),
                        format!("PILGRIM NUMBER {i}"),
                        "فاطمة الزهراء".into(),
                        "issued".into(),
                    ]
                })
                .collect(),
        },
        Block::Paragraph("End of the manifest.".into()),
    ]);
    d.branding.logo = Some(LOGO.to_vec());
    d
}

/// `pdfinfo`'s "Pages" and "Page size" lines.
fn info(pdf: &[u8]) -> String {
    let (_dir, path) = write(pdf);
    let out = Command::new("pdfinfo").arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn long_content_flows_onto_numbered_pages_with_the_table_header_repeated() {
    if !poppler("pdftotext") {
        return;
    }
    let pdf = PdfRenderer::new()
        .unwrap()
        .render_pdf(&long_document(120))
        .unwrap();
    if let Ok(dir) = std::env::var("TMS_PDF_DUMP") {
        std::fs::write(format!("{dir}/long.pdf"), &pdf).unwrap();
    }
    let info = info(&pdf);
    let pages: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pages >= 3, "120 rows should take several pages:\n{info}");
    let text = text_of(&pdf);
    let per_page: Vec<&str> = text
        .split('\u{c}')
        .filter(|p| !p.trim().is_empty())
        .collect();
    assert_eq!(per_page.len(), pages);
    for (n, page) in per_page.iter().enumerate() {
        let number = format!("Page {} of {pages}", n + 1);
        assert!(
            page.contains(&number),
            "{number:?} missing on page {}:\n{page}",
            n + 1
        );
        // The branding and the table's header row on every page.
        assert!(page.contains("Al Noor Travel"), "page {}", n + 1);
        assert!(
            page.contains("الاسم"),
            "header row missing on page {}",
            n + 1
        );
    }
    for i in [1, 60, 120] {
        assert!(text.contains(&format!("PILGRIM NUMBER {i}")), "row {i}");
    }
    assert!(text.contains("End of the manifest."));
    // Every row once: nothing lost or repeated at page breaks.
    assert_eq!(text.matches("PILGRIM NUMBER").count(), 120);
}

#[test]
fn a4_and_letter_set_the_media_box() {
    if !poppler("pdfinfo") {
        return;
    }
    let r = PdfRenderer::new().unwrap();
    let mut d = doc(vec![Block::Paragraph("Size check".into())]);
    let a4 = info(&r.render_pdf(&d).unwrap());
    assert!(a4.contains("595.28 x 841.89 pts (A4)"), "{a4}");
    d.page_size = PageSize::Letter;
    let letter = info(&r.render_pdf(&d).unwrap());
    assert!(letter.contains("612 x 792 pts (letter)"), "{letter}");
}

/// Renders page 1 to a PNG with pdftoppm and reads its pixels: enough ink
/// for text, and the logo's green in the top-left corner.
#[test]
fn a_rendered_page_shows_the_logo_and_text() {
    if !poppler("pdftoppm") {
        return;
    }
    let pdf = PdfRenderer::new()
        .unwrap()
        .render_pdf(&long_document(5))
        .unwrap();
    let (dir, path) = write(&pdf);
    let prefix = dir.path().join("page");
    // PPM: a header and raw RGB, easy to read without an image crate.
    let out = Command::new("pdftoppm")
        .args(["-r", "36", "-f", "1", "-l", "1", "-singlefile"])
        .arg(&path)
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ppm = std::fs::read(dir.path().join("page.ppm")).unwrap();
    let (width, pixels) = parse_ppm(&ppm);
    let height = pixels.len() / 3 / width;
    let dark = pixels
        .chunks(3)
        .filter(|p| p.iter().map(|&c| u32::from(c)).sum::<u32>() < 3 * 160)
        .count();
    assert!(dark > 200, "the page looks blank: {dark} dark pixels");
    // The logo sits in the top-left corner: its green (10, 125, 90).
    let green = (0..height / 6)
        .flat_map(|y| (0..width / 4).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let i = (y * width + x) * 3;
            let p = &pixels[i..i + 3];
            p[1] > 90 && p[0] < 80 && p[2] < 130
        })
        .count();
    assert!(green > 20, "no logo in the corner ({green} green pixels)");
}

fn parse_ppm(ppm: &[u8]) -> (usize, &[u8]) {
    // "P6\n<w> <h>\n255\n" then the pixels.
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while ppm[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while !ppm[i].is_ascii_whitespace() {
            i += 1;
        }
        fields.push(std::str::from_utf8(&ppm[start..i]).unwrap().to_owned());
    }
    assert_eq!(fields[0], "P6");
    (fields[1].parse().unwrap(), &ppm[i + 1..])
}

/// Through the port, a long document renders on the blocking pool, every
/// row of it.
#[tokio::test]
async fn the_port_renders_long_documents_off_the_async_workers() {
    let renderer: std::sync::Arc<dyn tms_core::ports::DocumentRenderer> =
        std::sync::Arc::new(PdfRenderer::new().unwrap());
    let pdf = renderer.render(&long_document(400)).await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    if poppler("pdftotext") {
        assert_eq!(text_of(&pdf).matches("PILGRIM NUMBER").count(), 400);
    }
}
