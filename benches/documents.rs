//! A one-page travel voucher with a logo, side by side:
//!
//! - `tms`: `tms_adapters::pdf::PdfRenderer` (printpdf's low-level
//!   operations, our own shaping of the Arabic and Urdu names);
//! - `weasyprint`: the same layout as HTML + CSS (same fonts, same logo),
//!   rendered by WeasyPrint in a persistent Python worker
//!   (`benches/weasyprint/worker.py`), so Python's start-up is not measured —
//!   each iteration is one HTML in, one PDF out over a pipe.
//!
//! Targets (issue 8): under 5 ms per voucher, and at least 20× faster than
//! WeasyPrint.
//!
//! ```sh
//! bash benches/weasyprint/setup.sh                  # WeasyPrint into benches/weasyprint/.venv
//! cargo bench -p tms-benches --bench documents      # measure both
//! cargo bench -p tms-benches --bench documents -- --test   # render each once
//! ```
//!
//! Without WeasyPrint the comparison is skipped with a loud message (as in
//! `cargo test -p tms-benches --benches`); the `tms` case always runs.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use criterion::{Criterion, criterion_group, criterion_main};
use tms_adapters::pdf::PdfRenderer;
use tms_core::ports::{Block, Branding, Document, DocumentKind, PageSize};

const LOGO: &[u8] = include_bytes!("../tms-adapters/tests/pdf/logo.png");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// What the documents service puts on a voucher for a family of two with a
/// hotel and a flight (names in Arabic and Urdu).
fn voucher() -> Document {
    let s = |v: &str| v.to_owned();
    Document {
        kind: DocumentKind::Voucher,
        title: s("Travel voucher"),
        language: s("en"),
        branding: Branding {
            agency_name: s("Al Noor Travel & Tours"),
            address: vec![
                s("12 King Fahd Road, Al Olaya"),
                s("Riyadh 12214, Saudi Arabia"),
            ],
            logo: Some(LOGO.to_vec()),
            accent_colour: Some(s("#0a7d5a")),
        },
        blocks: vec![
            Block::Fields(vec![
                (s("Booking reference"), s("BK-2026-000123")),
                (s("Status"), s("confirmed")),
                (s("Client"), s("محمد عبد الله")),
                (s("Booked on"), s("01 Dec 2026")),
                (s("Issued"), s("01 Dec 2026 12:00 UTC")),
            ]),
            Block::Heading(s("Travellers")),
            Block::Table {
                header: vec![s("#"), s("Name"), s("Name (passport)"), s("Born")],
                rows: vec![
                    vec![
                        s("1"),
                        s("محمد عبد الله"),
                        s("ABDULLAH MUHAMMAD"),
                        s("02 Mar 1985"),
                    ],
                    vec![s("2"), s("آمنہ خان"), s("KHAN AMINA"), s("17 May 1990")],
                ],
            },
            Block::Heading(s("Services")),
            Block::Table {
                header: vec![s("Service"), s("Description"), s("Supplier"), s("Dates")],
                rows: vec![
                    vec![
                        s("Hotel"),
                        s("Makkah Clock Tower hotel, double room"),
                        s("Al Safwa"),
                        s("10 Dec 2026 – 13 Dec 2026"),
                    ],
                    vec![
                        s("Transfer"),
                        s("Jeddah airport to Makkah hotel"),
                        s("Haramain Transport"),
                        s("10 Dec 2026"),
                    ],
                ],
            },
            Block::Heading(s("Flights")),
            Block::Table {
                header: vec![
                    s("Flight"),
                    s("Route"),
                    s("Departure (local)"),
                    s("Arrival (local)"),
                    s("PNR / ticket"),
                ],
                rows: vec![vec![
                    s("SV701"),
                    s("KHI → JED"),
                    s("10 Dec 2026 10:00 (Asia/Karachi)"),
                    s("10 Dec 2026 11:30 (Asia/Riyadh)"),
                    s("AB12CD / 0652134567890"),
                ]],
            },
            Block::Heading(s("Emergency contact")),
            Block::Paragraph(s("Al Noor Travel & Tours, +966 11 555 0123 (24 hours)")),
            Block::Paragraph(s(
                "Please carry this voucher with your passport and show it at check-in. \
                 Times are local times at the place of departure or arrival.",
            )),
        ],
        page_size: PageSize::A4,
        footer: Some(s("Voucher BK-2026-000123 · issued 01 Dec 2026")),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The same voucher as HTML + CSS: the same fonts (from the repository),
/// sizes, colours, logo and page furniture ("page n of m").
fn html(doc: &Document) -> String {
    let fonts = repo().join("tms-adapters/fonts");
    let font = |family: &str, weight: u32, file: &str| {
        format!(
            "@font-face {{ font-family: '{family}'; font-weight: {weight}; src: url('file://{}'); }}\n",
            fonts.join(file).display()
        )
    };
    let b = &doc.branding;
    let accent = b.accent_colour.as_deref().unwrap_or("#1f4e79");
    let logo = b.logo.as_deref().map(|bytes| {
        let mut data = String::new();
        base64_encode(bytes, &mut data);
        format!("<img class=\"logo\" src=\"data:image/png;base64,{data}\">")
    });
    let mut out = String::with_capacity(8 * 1024);
    out.push_str("<!doctype html><html><head><meta charset=\"utf-8\"><style>\n");
    out.push_str(&font("Noto Sans", 400, "NotoSans-Regular.ttf"));
    out.push_str(&font("Noto Sans", 700, "NotoSans-Bold.ttf"));
    out.push_str(&font(
        "Noto Naskh Arabic",
        400,
        "NotoNaskhArabic-Regular.ttf",
    ));
    out.push_str(&font("Noto Naskh Arabic", 700, "NotoNaskhArabic-Bold.ttf"));
    let _ = write!(
        out,
        "@page {{ size: A4; margin: 40pt 42pt 56pt 42pt;
           @bottom-left {{ content: \"{footer}\"; font: 8pt 'Noto Sans'; color: #666; }}
           @bottom-right {{ content: \"Page \" counter(page) \" of \" counter(pages); font: 8pt 'Noto Sans'; color: #666; }} }}
         body {{ font: 10pt/1.4 'Noto Sans', 'Noto Naskh Arabic'; color: #1a1a1a; margin: 0; }}
         header {{ display: flex; gap: 14pt; border-bottom: 2.5pt solid {accent}; padding-bottom: 8pt; margin-bottom: 18pt; }}
         .logo {{ max-width: 120pt; max-height: 48pt; }}
         .agency {{ font-size: 15pt; font-weight: 700; color: {accent}; }}
         .address {{ font-size: 8.5pt; color: #666; }}
         h1 {{ font-size: 18pt; margin: 0 0 12pt; }}
         h2 {{ font-size: 12.5pt; color: {accent}; border-bottom: 0.6pt solid #ccc; margin: 8pt 0 6pt; }}
         dl {{ display: grid; grid-template-columns: 32% auto; margin: 0 0 6pt; }}
         dt {{ font-size: 9pt; font-weight: 700; color: #666; }} dd {{ margin: 0; }}
         table {{ width: 100%; border-collapse: collapse; font-size: 9pt; margin-bottom: 10pt; }}
         thead {{ display: table-header-group; }}
         th {{ background: #dceee8; text-align: start; }} th, td {{ padding: 2pt 4pt; }}
         tbody tr:nth-child(even) {{ background: #f5f5f5; }}
         </style></head><body>\n",
        footer = esc(doc.footer.as_deref().unwrap_or("")),
    );
    out.push_str("<header>");
    if let Some(img) = logo {
        out.push_str(&img);
    }
    let _ = write!(
        out,
        "<div><div class=\"agency\">{}</div><div class=\"address\">{}</div></div></header>",
        esc(&b.agency_name),
        b.address
            .iter()
            .map(|a| esc(a))
            .collect::<Vec<_>>()
            .join("<br>")
    );
    let _ = write!(out, "<h1>{}</h1>", esc(&doc.title));
    for block in &doc.blocks {
        match block {
            Block::Heading(t) => {
                let _ = write!(out, "<h2>{}</h2>", esc(t));
            }
            Block::Paragraph(t) => {
                let _ = write!(out, "<p dir=\"auto\">{}</p>", esc(t));
            }
            Block::Fields(fields) => {
                out.push_str("<dl>");
                for (k, v) in fields {
                    let _ = write!(out, "<dt>{}</dt><dd dir=\"auto\">{}</dd>", esc(k), esc(v));
                }
                out.push_str("</dl>");
            }
            Block::Table { header, rows } => {
                out.push_str("<table><thead><tr>");
                for h in header {
                    let _ = write!(out, "<th>{}</th>", esc(h));
                }
                out.push_str("</tr></thead><tbody>");
                for row in rows {
                    out.push_str("<tr>");
                    for c in row {
                        let _ = write!(out, "<td dir=\"auto\">{}</td>", esc(c));
                    }
                    out.push_str("</tr>");
                }
                out.push_str("</tbody></table>");
            }
        }
    }
    out.push_str("</body></html>");
    out
}

fn base64_encode(bytes: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
}

/// The persistent WeasyPrint worker.
struct Weasy {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

impl Weasy {
    /// Starts the worker, or says loudly why the comparison is skipped.
    fn start() -> Option<Weasy> {
        let dir = repo().join("benches/weasyprint");
        let python = dir.join(".venv/bin/python");
        if !python.exists() {
            eprintln!(
                "\n*** SKIPPED the WeasyPrint comparison: {} is missing; \
                 run `bash benches/weasyprint/setup.sh` first ***\n",
                python.display()
            );
            return None;
        }
        let mut child = Command::new(python)
            .arg(dir.join("worker.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .ok()?;
        let stdin = child.stdin.take()?;
        let stdout = child.stdout.take()?;
        Some(Weasy {
            child,
            stdin,
            stdout,
        })
    }

    fn render(&mut self, html: &str) -> Vec<u8> {
        let bytes = html.as_bytes();
        self.stdin
            .write_all(&u32::try_from(bytes.len()).unwrap().to_be_bytes())
            .unwrap();
        self.stdin.write_all(bytes).unwrap();
        self.stdin.flush().unwrap();
        let mut head = [0u8; 4];
        self.stdout.read_exact(&mut head).unwrap();
        let mut pdf = vec![0u8; u32::from_be_bytes(head) as usize];
        self.stdout.read_exact(&mut pdf).unwrap();
        assert!(pdf.starts_with(b"%PDF-"), "WeasyPrint failed (see stderr)");
        pdf
    }
}

impl Drop for Weasy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn documents(c: &mut Criterion) {
    let doc = voucher();
    let renderer = PdfRenderer::new().unwrap();
    let ours = renderer.render_pdf(&doc).unwrap();
    assert!(ours.starts_with(b"%PDF-"));
    let mut weasy = Weasy::start();
    let page = html(&doc);
    if let Some(w) = weasy.as_mut() {
        let theirs = w.render(&page);
        eprintln!(
            "voucher PDF: tms {} bytes (whole fonts embedded), WeasyPrint {} bytes (subset fonts)",
            ours.len(),
            theirs.len()
        );
    }

    let mut group = c.benchmark_group("voucher_one_page_with_logo");
    group.sample_size(30);
    group.bench_function("tms", |b| b.iter(|| renderer.render_pdf(&doc).unwrap()));
    if let Some(w) = weasy.as_mut() {
        group.bench_function("weasyprint", |b| b.iter(|| w.render(&page)));
    }
    group.finish();
}

criterion_group!(benches, documents);
criterion_main!(benches);
