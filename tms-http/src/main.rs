//! `tms-server`: the TMS HTTP server and its operator commands.

use std::process::ExitCode;

fn main() -> ExitCode {
    tms_http::cli::main()
}
