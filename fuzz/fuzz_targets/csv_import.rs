//! CSV import parsing: any bytes, split into chunks anywhere, give records
//! or a clear error — never a panic — and the chunking never changes the
//! result (the upload arrives in network-sized pieces).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tms_core::service::import::read_records;

/// Every record as owned text, or the error's message.
fn parse<'a>(
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<(u64, Vec<String>)>, String> {
    let mut rows = Vec::new();
    read_records(chunks, &mut |row, fields| {
        rows.push((row, fields.iter().map(|f| (*f).to_owned()).collect()));
        Ok(())
    })
    .map(|()| rows)
    .map_err(|e| e.to_string())
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the chunk size (1..=256), the rest is the file.
    let Some((&size, file)) = data.split_first() else {
        return;
    };
    let whole = parse([file]);
    let chunked = parse(file.chunks(usize::from(size) + 1));
    assert_eq!(whole, chunked, "chunk size {}", usize::from(size) + 1);
    if let Ok(rows) = whole {
        // Rows are numbered in order, from the header's 1.
        for (i, (row, _)) in rows.iter().enumerate() {
            assert_eq!(*row, i as u64 + 1);
        }
    }
});
