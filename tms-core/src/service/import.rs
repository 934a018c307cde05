//! Bulk CSV import, generic over what is imported (clients now, pilgrims
//! next): stream → map the header → validate every row → write in batches
//! inside one unit of work → commit only when every row was valid.
//!
//! # Streaming
//! The bytes arrive in chunks ([`ByteSource`]: a file read 64 KiB at a
//! time, an HTTP multipart upload) and are pushed through `csv-core`, the
//! `csv` crate's push parser, so nothing waits on a blocking read and memory
//! stays constant: one record, one batch of [`BATCH_ROWS`] parsed rows, and
//! at most [`MAX_REPORTED_ERRORS`] row errors, whatever the file's size.
//!
//! # What a file may look like
//! - UTF-8, with or without a byte-order mark (Excel writes one);
//! - separated by `,`, `;` (Excel in many locales) or tab — sniffed from
//!   the header line: the one that occurs most often outside quotes;
//! - lines ending in LF or CRLF; blank lines are skipped;
//! - a header row naming the columns, matched to the target's columns by
//!   name or alias, ignoring case, surrounding spaces and `-`/space versus
//!   `_`; the caller may map columns explicitly ([`ImportOptions::mapping`]).
//!
//! # Errors
//! Rows are numbered as a spreadsheet shows them: the header is row 1.
//! - A **row** that does not validate (a bad email, a missing name) is a
//!   [`RowError`] in the [`ImportReport`]; every row is still checked so the
//!   report lists them all (the first [`MAX_REPORTED_ERRORS`], plus the
//!   total), and nothing is written.
//! - A **malformed file** — invalid UTF-8, a row with a different number of
//!   fields than the header, a stray or unclosed quote, a row longer than
//!   [`MAX_RECORD_BYTES`], a missing required column — stops the import
//!   with [`Error::Invalid`] on the field `file`, saying which row.
//!
//! # All or nothing
//! Valid rows are written in batches through the caller's unit of work as
//! they come (so a 100,000-row file never sits in memory). Once a row fails,
//! writing stops but checking goes on; the caller commits only a clean
//! report ([`ImportReport::is_clean`]) and rolls back otherwise. A dry run
//! writes nothing at all.

use std::borrow::Cow;
use std::collections::HashMap;

use async_trait::async_trait;

use crate::error::{Error, FieldErrors, Result};
use crate::ports::UnitOfWork;

/// Parsed rows written per [`ImportTarget::write_batch`] call.
pub const BATCH_ROWS: usize = 500;
/// Row errors kept in a report; the rest are only counted.
pub const MAX_REPORTED_ERRORS: usize = 1_000;
/// The longest record (all its fields) accepted.
pub const MAX_RECORD_BYTES: usize = 1 << 20;
/// The most fields a record may have.
pub const MAX_FIELDS: usize = 512;
/// The longest header line that is buffered to sniff the separator.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// One column a target understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportColumn {
    /// The canonical name, e.g. `email`.
    pub name: &'static str,
    /// Other header texts that mean the same, already normalised (lower
    /// case, `_` for spaces and dashes), e.g. `e_mail`, `mail`.
    pub aliases: &'static [&'static str],
    /// Whether a file without this column is refused.
    pub required: bool,
}

/// One data row, by the target's column names.
#[derive(Debug)]
pub struct ImportRecord<'a> {
    fields: &'a [&'a str],
    columns: &'a [(&'static str, usize)],
    row: u64,
}

impl ImportRecord<'_> {
    /// The trimmed value of `column`; `None` when the column is absent from
    /// the file or the cell is empty.
    pub fn get(&self, column: &str) -> Option<&str> {
        self.columns
            .iter()
            .find(|(name, _)| *name == column)
            .and_then(|(_, i)| self.fields.get(*i))
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The row number as a spreadsheet shows it (the header is row 1).
    pub fn row(&self) -> u64 {
        self.row
    }
}

/// What can be imported: its columns, how a row parses, how a batch is
/// written.
#[async_trait]
pub trait ImportTarget: Send + Sync {
    /// One valid row, ready to write.
    type Row: Send;

    /// The columns this target understands.
    fn columns(&self) -> &[ImportColumn];

    /// Validates one row; every broken rule, by column name.
    fn parse_row(&self, record: &ImportRecord<'_>) -> std::result::Result<Self::Row, FieldErrors>;

    /// Writes valid rows inside the import's unit of work.
    async fn write_batch(&self, uow: &mut dyn UnitOfWork, rows: Vec<Self::Row>) -> Result<()>;
}

/// Where the bytes come from, chunk by chunk.
#[async_trait]
pub trait ByteSource: Send {
    /// The next chunk; `None` at the end. Chunks may be any size.
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>>;
}

/// A [`ByteSource`] over anything readable (a file, a byte slice), 64 KiB
/// at a time. Reads block: use it where that is fine (tests, a CLI).
#[derive(Debug)]
pub struct ReadSource<R>(pub R);

#[async_trait]
impl<R: std::io::Read + Send> ByteSource for ReadSource<R> {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        let mut buf = vec![0; 64 * 1024];
        loop {
            match self.0.read(&mut buf) {
                Ok(0) => return Ok(None),
                Ok(n) => {
                    buf.truncate(n);
                    return Ok(Some(buf));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::invalid("file", format!("cannot be read: {e}"))),
            }
        }
    }
}

/// How to run an import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Check every row and report, write nothing.
    pub dry_run: bool,
    /// Explicit header mapping: target column name → header text in the
    /// file (matched like any header). Columns not named here are matched
    /// by name and alias.
    pub mapping: HashMap<String, String>,
}

/// One broken rule in one row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    /// The row as a spreadsheet numbers it (the header is row 1).
    pub row: u64,
    /// The target column.
    pub field: Cow<'static, str>,
    /// What is wrong.
    pub message: String,
}

/// What an import found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Data rows read (blank lines not counted).
    pub rows: u64,
    /// Rows that validated.
    pub valid: u64,
    /// Rows with at least one error.
    pub invalid: u64,
    /// Row errors found in all (may exceed `errors.len()`).
    pub error_count: u64,
    /// The first [`MAX_REPORTED_ERRORS`] row errors, in file order.
    pub errors: Vec<RowError>,
    /// Header texts that matched no column (ignored).
    pub ignored_columns: Vec<String>,
    /// Rows written (0 unless committed).
    pub written: u64,
    /// Whether the rows were committed.
    pub committed: bool,
}

impl ImportReport {
    /// Whether every row validated.
    pub fn is_clean(&self) -> bool {
        self.error_count == 0
    }
}

/// Lower case, trimmed, spaces and dashes as `_`.
fn normalise_header(raw: &str) -> String {
    raw.trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

fn malformed(row: u64, message: impl std::fmt::Display) -> Error {
    Error::invalid("file", format!("row {row}: {message}"))
}

/// The push parser: bytes in, whole records out.
struct CsvStream {
    /// Bytes of the header line, kept until the separator is known.
    sniff: Option<Vec<u8>>,
    reader: Option<csv_core::Reader>,
    output: Vec<u8>,
    out_len: usize,
    ends: Vec<usize>,
    ends_len: usize,
    /// Records finished so far (the header is record 1).
    records: u64,
    /// Quote parity of the current record: odd means inside quotes.
    in_quotes: bool,
    /// A quote seen inside an unquoted field (the current record).
    stray_quote: bool,
    /// The byte before was the closing quote of a quoted field.
    just_closed: bool,
    /// Whether the current field has any byte yet.
    field_started: bool,
    delimiter: u8,
}

impl CsvStream {
    fn new() -> Self {
        Self {
            sniff: Some(Vec::new()),
            reader: None,
            output: vec![0; 4096],
            out_len: 0,
            ends: vec![0; 64],
            ends_len: 0,
            records: 0,
            in_quotes: false,
            stray_quote: false,
            just_closed: false,
            field_started: false,
            delimiter: b',',
        }
    }

    /// Picks the separator from the header line: `,`, `;` or tab, whichever
    /// occurs most outside quotes (`,` on a tie or none).
    fn sniff_delimiter(header: &[u8]) -> u8 {
        let mut counts = [0usize; 3];
        let mut quoted = false;
        for &b in header {
            match b {
                b'"' => quoted = !quoted,
                b'\n' if !quoted => break,
                b',' if !quoted => counts[0] += 1,
                b';' if !quoted => counts[1] += 1,
                b'\t' if !quoted => counts[2] += 1,
                _ => {}
            }
        }
        [b',', b';', b'\t']
            .into_iter()
            .zip(counts)
            .max_by_key(|&(d, n)| (n, d == b','))
            .map_or(b',', |(d, _)| d)
    }

    /// Whether `buf` holds a complete first line (a newline outside quotes).
    fn has_line(buf: &[u8]) -> bool {
        let mut quoted = false;
        for &b in buf {
            match b {
                b'"' => quoted = !quoted,
                b'\n' if !quoted => return true,
                _ => {}
            }
        }
        false
    }

    /// Feeds `input`; calls `on_record` for each finished record.
    fn push(
        &mut self,
        input: &[u8],
        on_record: &mut dyn FnMut(u64, &[&str]) -> Result<()>,
    ) -> Result<()> {
        if input.is_empty() {
            return Ok(());
        }
        if let Some(pending) = &mut self.sniff {
            pending.extend_from_slice(input);
            if !Self::has_line(pending) && pending.len() < MAX_HEADER_BYTES {
                return Ok(());
            }
            let pending = self.sniff.take().unwrap_or_default();
            return self.start_and_feed(pending, on_record);
        }
        self.feed(input, on_record)
    }

    fn start_and_feed(
        &mut self,
        mut pending: Vec<u8>,
        on_record: &mut dyn FnMut(u64, &[&str]) -> Result<()>,
    ) -> Result<()> {
        if pending.starts_with(b"\xEF\xBB\xBF") {
            pending.drain(..3);
        }
        self.delimiter = Self::sniff_delimiter(&pending);
        self.reader = Some(
            csv_core::ReaderBuilder::new()
                .delimiter(self.delimiter)
                .build(),
        );
        self.feed(&pending, on_record)
    }

    /// Ends the input: the last record (without a final newline) comes out.
    fn finish(&mut self, on_record: &mut dyn FnMut(u64, &[&str]) -> Result<()>) -> Result<()> {
        if let Some(pending) = self.sniff.take() {
            self.start_and_feed(pending, on_record)?;
        }
        if self.in_quotes {
            return Err(malformed(
                self.records + 1,
                "a quoted field is never closed (a missing \")",
            ));
        }
        self.feed(&[], on_record)
    }

    /// Tracks quoting over consumed bytes, to catch what `csv-core`
    /// tolerates silently: a quote inside an unquoted field, text after a
    /// closing quote, and a quoted field left open.
    fn track_quotes(&mut self, consumed: &[u8]) {
        for &b in consumed {
            if self.in_quotes {
                if b == b'"' {
                    self.in_quotes = false;
                    self.just_closed = true;
                }
                continue;
            }
            let boundary = b == b'\n' || b == b'\r' || b == self.delimiter;
            if self.just_closed {
                self.just_closed = false;
                if b == b'"' {
                    // A doubled quote: still inside the quoted field.
                    self.in_quotes = true;
                    continue;
                }
                if !boundary {
                    self.stray_quote = true;
                }
            }
            if boundary {
                self.field_started = false;
            } else if b == b'"' && !self.field_started {
                self.in_quotes = true;
                self.field_started = true;
            } else if b == b'"' {
                self.stray_quote = true;
            } else {
                self.field_started = true;
            }
        }
    }

    fn feed(
        &mut self,
        mut input: &[u8],
        on_record: &mut dyn FnMut(u64, &[&str]) -> Result<()>,
    ) -> Result<()> {
        use csv_core::ReadRecordResult as R;
        let Some(mut reader) = self.reader.take() else {
            return Ok(());
        };
        let outcome = loop {
            let (result, nin, nout, nend) = reader.read_record(
                input,
                &mut self.output[self.out_len..],
                &mut self.ends[self.ends_len..],
            );
            let (consumed, rest) = input.split_at(nin.min(input.len()));
            self.track_quotes(consumed);
            input = rest;
            self.out_len += nout;
            self.ends_len += nend;
            match result {
                R::InputEmpty | R::End => break Ok(()),
                R::OutputFull => {
                    if self.output.len() >= MAX_RECORD_BYTES {
                        break Err(malformed(
                            self.records + 1,
                            format!(
                                "is longer than {} bytes (an unclosed quote?)",
                                MAX_RECORD_BYTES
                            ),
                        ));
                    }
                    let grown = self.output.len() * 2;
                    self.output.resize(grown, 0);
                }
                R::OutputEndsFull => {
                    if self.ends.len() >= MAX_FIELDS {
                        break Err(malformed(
                            self.records + 1,
                            format!("has more than {MAX_FIELDS} fields"),
                        ));
                    }
                    let grown = self.ends.len() * 2;
                    self.ends.resize(grown, 0);
                }
                R::Record => {
                    self.records += 1;
                    let row = self.records;
                    let emitted = self.emit(row, on_record);
                    self.out_len = 0;
                    self.ends_len = 0;
                    self.stray_quote = false;
                    self.field_started = false;
                    self.just_closed = false;
                    if let Err(e) = emitted {
                        break Err(e);
                    }
                    // Go on: at the end `csv-core` says End on the next
                    // empty call; otherwise the rest of the input follows.
                }
            }
        };
        self.reader = Some(reader);
        outcome
    }

    fn emit(&self, row: u64, on_record: &mut dyn FnMut(u64, &[&str]) -> Result<()>) -> Result<()> {
        if self.stray_quote {
            return Err(malformed(
                row,
                "has a quote inside an unquoted field (quote the whole field and double the quote)",
            ));
        }
        let data = self.output.get(..self.out_len).unwrap_or_default();
        let ends = self.ends.get(..self.ends_len).unwrap_or_default();
        let mut fields = Vec::with_capacity(ends.len());
        let mut start = 0;
        for (i, &end) in ends.iter().enumerate() {
            let bytes = data.get(start..end).unwrap_or_default();
            let text = std::str::from_utf8(bytes).map_err(|_| {
                malformed(
                    row,
                    format!(
                        "field {} is not valid UTF-8 (save the file as CSV UTF-8)",
                        i + 1
                    ),
                )
            })?;
            fields.push(text);
            start = end;
        }
        on_record(row, &fields)
    }
}

/// Parses CSV bytes arriving in `chunks` exactly as an import does — byte
/// order mark, separator sniffed from the header line, quoting rules,
/// record and field limits — calling `on_record` with each record's row
/// number (the header is row 1) and its fields, header included.
///
/// An import reads through the same parser; this entry point serves
/// previews of a file and the fuzz targets (`fuzz/`), which check that any
/// bytes in any chunking give a clear result and never a panic.
///
/// ```
/// use tms_core::service::import::read_records;
/// let mut rows = Vec::new();
/// read_records(
///     [&b"name;email\r\n\"Khan; A"[..], &b"mina\";a@b.co\n"[..]],
///     &mut |row, fields| {
///         rows.push((row, fields.join("|")));
///         Ok(())
///     },
/// )?;
/// assert_eq!(rows, [(1, "name|email".to_owned()), (2, "Khan; Amina|a@b.co".to_owned())]);
/// # Ok::<(), tms_core::Error>(())
/// ```
pub fn read_records<'a>(
    chunks: impl IntoIterator<Item = &'a [u8]>,
    on_record: &mut dyn FnMut(u64, &[&str]) -> Result<()>,
) -> Result<()> {
    let mut stream = CsvStream::new();
    for chunk in chunks {
        stream.push(chunk, on_record)?;
    }
    stream.finish(on_record)
}

/// Runs imports of one target.
#[derive(Debug)]
pub struct CsvImport<T> {
    target: T,
    options: ImportOptions,
}

impl<T: ImportTarget> CsvImport<T> {
    /// An import into `target`.
    pub fn new(target: T, options: ImportOptions) -> Self {
        Self { target, options }
    }

    /// Maps the header's fields to the target's columns.
    fn map_header(
        &self,
        header: &[&str],
        report: &mut ImportReport,
    ) -> Result<Vec<(&'static str, usize)>> {
        let normalised: Vec<String> = header.iter().map(|h| normalise_header(h)).collect();
        let mut mapped: Vec<(&'static str, usize)> = Vec::new();
        let mut used = vec![false; header.len()];
        for (wanted, given) in &self.options.mapping {
            let Some(column) = self.target.columns().iter().find(|c| c.name == wanted) else {
                return Err(Error::invalid(
                    "mapping",
                    format!("`{wanted}` is not a column of this import"),
                ));
            };
            let given = normalise_header(given);
            let Some(i) = normalised.iter().position(|h| *h == given) else {
                return Err(Error::invalid(
                    "mapping",
                    format!("the file has no column `{given}` (for `{wanted}`)"),
                ));
            };
            mapped.push((column.name, i));
            if let Some(u) = used.get_mut(i) {
                *u = true;
            }
        }
        for column in self.target.columns() {
            if mapped.iter().any(|(name, _)| *name == column.name) {
                continue;
            }
            let matches = |h: &String| h == column.name || column.aliases.contains(&h.as_str());
            let found: Vec<usize> = normalised
                .iter()
                .enumerate()
                .filter(|(i, h)| !used.get(*i).copied().unwrap_or(true) && matches(h))
                .map(|(i, _)| i)
                .collect();
            match found.as_slice() {
                [] if column.required => {
                    return Err(Error::invalid(
                        "file",
                        format!(
                            "row 1: the header has no `{}` column (found: {})",
                            column.name,
                            header.join(", ")
                        ),
                    ));
                }
                [] => {}
                [i] => {
                    mapped.push((column.name, *i));
                    if let Some(u) = used.get_mut(*i) {
                        *u = true;
                    }
                }
                _ => {
                    return Err(Error::invalid(
                        "file",
                        format!(
                            "row 1: several columns could be `{}`; map one explicitly",
                            column.name
                        ),
                    ));
                }
            }
        }
        report.ignored_columns = header
            .iter()
            .zip(&used)
            .filter(|(h, u)| !**u && !h.trim().is_empty())
            .map(|(h, _)| (*h).to_owned())
            .collect();
        Ok(mapped)
    }

    /// Reads `source` to the end, checking every row and — unless this is
    /// a dry run or a row failed — writing valid rows through `uow` in
    /// batches. `on_progress` gets the bytes read so far after each chunk.
    ///
    /// The caller commits `uow` when the report [`is_clean`] and this is
    /// not a dry run, and rolls back otherwise; the report's `written` and
    /// `committed` are for the caller to finish.
    ///
    /// [`is_clean`]: ImportReport::is_clean
    pub async fn run(
        &self,
        uow: &mut dyn UnitOfWork,
        source: &mut dyn ByteSource,
        on_progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<ImportReport> {
        let mut report = ImportReport {
            dry_run: self.options.dry_run,
            ..ImportReport::default()
        };
        let mut stream = CsvStream::new();
        let mut columns: Option<Vec<(&'static str, usize)>> = None;
        let mut header_len = 0;
        let mut batch: Vec<T::Row> = Vec::new();
        let mut read = 0u64;
        let mut written = 0u64;
        loop {
            let chunk = source.next_chunk().await?;
            let mut on_record = |row: u64, fields: &[&str]| -> Result<()> {
                let Some(mapped) = &columns else {
                    let mapped = self.map_header(fields, &mut report)?;
                    header_len = fields.len();
                    columns = Some(mapped);
                    return Ok(());
                };
                if fields.iter().all(|f| f.trim().is_empty()) {
                    return Ok(());
                }
                if fields.len() != header_len {
                    return Err(malformed(
                        row,
                        format!(
                            "has {} fields but the header has {header_len}",
                            fields.len()
                        ),
                    ));
                }
                report.rows += 1;
                let record = ImportRecord {
                    fields,
                    columns: mapped,
                    row,
                };
                match self.target.parse_row(&record) {
                    Ok(parsed) => {
                        report.valid += 1;
                        if !report.dry_run && report.error_count == 0 {
                            batch.push(parsed);
                        }
                    }
                    Err(errors) => {
                        report.invalid += 1;
                        for e in errors.as_slice() {
                            report.error_count += 1;
                            if report.errors.len() < MAX_REPORTED_ERRORS {
                                report.errors.push(RowError {
                                    row,
                                    field: e.field.clone(),
                                    message: e.message.clone(),
                                });
                            }
                        }
                    }
                }
                Ok(())
            };
            match &chunk {
                Some(bytes) => {
                    read += bytes.len() as u64;
                    stream.push(bytes, &mut on_record)?;
                }
                None => stream.finish(&mut on_record)?,
            }
            if report.error_count > 0 {
                batch.clear();
            }
            if batch.len() >= BATCH_ROWS || (chunk.is_none() && !batch.is_empty()) {
                let rows = std::mem::take(&mut batch);
                written += rows.len() as u64;
                self.target.write_batch(uow, rows).await?;
            }
            on_progress(read);
            if chunk.is_none() {
                break;
            }
        }
        if columns.is_none() {
            return Err(Error::invalid(
                "file",
                "row 1: the file is empty (no header)",
            ));
        }
        if report.is_clean() && !report.dry_run {
            report.written = written;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8], chunk: usize) -> Result<Vec<(u64, Vec<String>)>> {
        let mut stream = CsvStream::new();
        let mut out = Vec::new();
        let mut on = |row: u64, fields: &[&str]| -> Result<()> {
            out.push((row, fields.iter().map(|f| (*f).to_owned()).collect()));
            Ok(())
        };
        for piece in bytes.chunks(chunk.max(1)) {
            stream.push(piece, &mut on)?;
        }
        stream.finish(&mut on)?;
        Ok(out)
    }

    fn texts(rows: &[(u64, Vec<String>)]) -> Vec<Vec<&str>> {
        rows.iter()
            .map(|(_, f)| f.iter().map(String::as_str).collect())
            .collect()
    }

    #[test]
    fn excel_exports_parse_in_any_chunking() {
        let file = "\u{FEFF}Name;Email;Notes\r\n\"Khan; Amina\";a@b.co;\"said \"\"hi\"\"\"\r\nعلي;c@d.co;\r\n";
        for chunk in [1, 2, 3, 7, 64, 4096] {
            let rows = parse(file.as_bytes(), chunk).unwrap();
            assert_eq!(
                texts(&rows),
                vec![
                    vec!["Name", "Email", "Notes"],
                    vec!["Khan; Amina", "a@b.co", "said \"hi\""],
                    vec!["علي", "c@d.co", ""],
                ],
                "chunk {chunk}"
            );
            assert_eq!(rows[2].0, 3);
        }
    }

    #[test]
    fn separators_are_sniffed_from_the_header() {
        assert_eq!(CsvStream::sniff_delimiter(b"a,b,c\n"), b',');
        assert_eq!(CsvStream::sniff_delimiter(b"a;b;c\n"), b';');
        assert_eq!(CsvStream::sniff_delimiter(b"\"a,x\";b;c\n"), b';');
        assert_eq!(CsvStream::sniff_delimiter(b"a\tb\n"), b'\t');
        assert_eq!(CsvStream::sniff_delimiter(b"name\n"), b',');
    }

    #[test]
    fn a_last_line_without_newline_and_blank_lines_are_fine() {
        let rows = parse(b"a,b\n\n1,2\n\n3,4", 3).unwrap();
        let data: Vec<_> = texts(&rows)
            .into_iter()
            .filter(|r| r.iter().any(|f| !f.is_empty()))
            .collect();
        assert_eq!(data, vec![vec!["a", "b"], vec!["1", "2"], vec!["3", "4"]]);
    }

    #[test]
    fn malformed_files_name_the_row() {
        let cases: [(&[u8], &str); 4] = [
            (b"a,b\n1,2\n3,\"4\n", "row 3"),
            (b"a,b\n1,2\n3,4\"x\n", "row 3"),
            (b"a,b\n1,\xff\xfe\n", "row 2"),
            (b"a,b\n1,\"2\"x\n", "row 2"),
        ];
        for (bytes, row) in cases {
            for chunk in [1, 5, 4096] {
                let err = parse(bytes, chunk).unwrap_err();
                let text = err.to_string();
                assert!(
                    matches!(err, Error::Invalid(_)) && text.contains(row),
                    "{text} for {:?}",
                    String::from_utf8_lossy(bytes)
                );
            }
        }
    }

    #[test]
    fn an_unclosed_quote_early_in_a_big_file_stops_at_the_record_limit() {
        let mut file = b"name\nAmina\n\"Bilal\n".to_vec();
        file.extend(std::iter::repeat_n(b'x', MAX_RECORD_BYTES + 10));
        let err = parse(&file, 64 * 1024).unwrap_err().to_string();
        assert!(
            err.contains("row 3") && err.contains("unclosed quote"),
            "{err}"
        );
    }

    #[test]
    fn headers_normalise_case_spaces_and_dashes() {
        assert_eq!(normalise_header(" E-Mail "), "e_mail");
        assert_eq!(normalise_header("Date of Birth"), "date_of_birth");
    }
}
