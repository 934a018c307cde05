//! `tms-server`: the TMS HTTP server and its operator commands.

use std::process::ExitCode;

fn main() -> ExitCode {
    // One TLS crypto provider (ring) for every outbound HTTPS client (S3,
    // OAuth, WhatsApp), installed before any is built.
    tms_adapters::blob::install_crypto_provider();
    tms_http::cli::main()
}
