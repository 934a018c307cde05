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
    std::fs::write("/tmp/arabic.pdf", &pdf).unwrap();
    let text = text_of(&pdf);
    println!("{text}");
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
