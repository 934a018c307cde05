//! `tms-server import clients FILE --tenant SLUG --branch NAME_OR_ID
//! [--dry-run] [--map COLUMN=HEADER]…` (a CSV file of clients into a
//! branch) and `tms-server import pilgrims FILE --tenant SLUG --group ID
//! [--dry-run] [--map …]` (pilgrims into an Umrah group), as the operator
//! (audit actor `system:cli`).
//!
//! The file is read 64 KiB at a time and streamed through the import (see
//! `tms_core::service::import`), with a progress bar of bytes read on
//! stderr. Every row is checked; when any is invalid nothing is written,
//! the row errors are printed on stdout and the exit code is 1. A dry run
//! checks and reports only.

use std::collections::HashMap;
use std::future::Future;
use std::io::Write as _;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};
use tms_core::domain::{BranchScope, Context, Principal, TenantSlug};
use tms_core::id::{BranchId, TenantId, UmrahGroupId};
use tms_core::ports::{PageRequest, Scope, Store as _};
use tms_core::service::clients::Clients;
use tms_core::service::import::{ByteSource, ImportOptions, ImportReport};
use tms_core::service::tenancy::Deps;
use tms_core::service::umrah::Umrah;
use tms_core::{Error, Result};
use tokio::io::AsyncReadExt as _;

use crate::config::Config;
use crate::setup;

/// `import` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ImportCommand {
    /// Import clients from a CSV file (UTF-8, `,` `;` or tab, with a
    /// header row): all rows or none.
    Clients(ImportClientsArgs),
    /// Import pilgrims into an Umrah group from a CSV file: all rows or
    /// none.
    Pilgrims(ImportPilgrimsArgs),
}

/// `import pilgrims`' options.
#[derive(Debug, clap::Args)]
pub struct ImportPilgrimsArgs {
    /// The CSV file.
    pub file: PathBuf,
    /// The tenant's slug.
    #[arg(long)]
    pub tenant: String,
    /// The Umrah group's id.
    #[arg(long)]
    pub group: String,
    /// Check every row and report; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Map a column to a header of the file (repeatable).
    #[arg(long = "map", value_name = "COLUMN=HEADER")]
    pub map: Vec<String>,
}

/// `import clients`' options.
#[derive(Debug, clap::Args)]
pub struct ImportClientsArgs {
    /// The CSV file.
    pub file: PathBuf,
    /// The tenant's slug.
    #[arg(long)]
    pub tenant: String,
    /// The branch the clients join: its id or its exact name.
    #[arg(long)]
    pub branch: String,
    /// Check every row and report; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Map a column to a header of the file, e.g. `--map name="Client Name"`
    /// (repeatable); other columns are matched by name and alias.
    #[arg(long = "map", value_name = "COLUMN=HEADER")]
    pub map: Vec<String>,
}

/// Runs an `import` subcommand.
pub async fn run(command: ImportCommand, config: Config) -> Result<ExitCode> {
    match command {
        ImportCommand::Clients(args) => import_clients(args, config).await,
        ImportCommand::Pilgrims(args) => import_pilgrims(args, config).await,
    }
}

/// The file as a [`ByteSource`], ticking a progress bar.
struct FileSource {
    file: tokio::fs::File,
    progress: ProgressBar,
}

impl FileSource {
    async fn chunk(&mut self) -> Result<Option<Vec<u8>>> {
        let mut buf = vec![0; 64 * 1024];
        let n = self
            .file
            .read(&mut buf)
            .await
            .map_err(|e| Error::invalid("file", format!("cannot be read: {}", e.kind())))?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        self.progress.inc(n as u64);
        Ok(Some(buf))
    }
}

// Written out: this crate does not depend on `async-trait`.
impl ByteSource for FileSource {
    fn next_chunk<'s, 'f>(
        &'s mut self,
    ) -> Pin<Box<dyn Future<Output = Result<Option<Vec<u8>>>> + Send + 'f>>
    where
        's: 'f,
        Self: 'f,
    {
        Box::pin(self.chunk())
    }
}

fn mapping(pairs: &[String]) -> Result<HashMap<String, String>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((column, header)) if !column.trim().is_empty() => {
                Ok((column.trim().to_owned(), header.trim().to_owned()))
            }
            _ => Err(Error::invalid(
                "map",
                format!("`{pair}` is not COLUMN=HEADER"),
            )),
        })
        .collect()
}

async fn find_branch(
    store: &dyn tms_core::ports::Store,
    tenant: TenantId,
    wanted: &str,
) -> Result<BranchId> {
    if let Ok(id) = wanted.parse::<BranchId>() {
        return Ok(id);
    }
    let scope = Scope {
        tenant_id: tenant,
        branches: BranchScope::All,
    };
    let mut page = PageRequest::new(Some(PageRequest::MAX_LIMIT), None)?;
    let mut uow = store.begin().await?;
    loop {
        let found = uow.branches().list(&scope, page).await?;
        if let Some(branch) = found
            .items
            .iter()
            .find(|b| b.name.as_str().eq_ignore_ascii_case(wanted.trim()))
        {
            let id = branch.id;
            uow.rollback().await?;
            return Ok(id);
        }
        match found.next {
            Some(next) => page.after = Some(next),
            None => {
                uow.rollback().await?;
                return Err(Error::not_found("branch"));
            }
        }
    }
}

/// What both imports set up: the file with its progress bar, the key ring,
/// the store and the tenant.
struct Prepared {
    source: FileSource,
    progress: ProgressBar,
    options: ImportOptions,
    keyring: Arc<tms_core::security::keyring::KeyRing>,
    store: tms_adapters::sql::SqlStore,
    tenant: TenantId,
}

async fn prepare(
    file: &std::path::Path,
    tenant: &str,
    dry_run: bool,
    map: &[String],
    config: &Config,
) -> Result<Prepared> {
    let options = ImportOptions {
        dry_run,
        mapping: mapping(map)?,
    };
    let handle = tokio::fs::File::open(file).await.map_err(|e| {
        Error::invalid(
            "file",
            format!("cannot open {}: {}", file.display(), e.kind()),
        )
    })?;
    let size = handle.metadata().await.map(|m| m.len()).unwrap_or(0);
    setup::prepare_data_dir(&config.data_dir)?;
    let keyring = Arc::new(setup::load_keyring(config)?);
    let store = setup::connect_store(config).await?;
    let slug = TenantSlug::parse(tenant)?;
    let mut uow = store.begin().await?;
    let found = uow.tenants().find_by_slug(&slug).await?;
    uow.rollback().await?;
    let Some(tenant) = found else {
        store.close().await;
        return Err(Error::not_found("tenant"));
    };
    let progress = ProgressBar::new(size).with_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Ok(Prepared {
        source: FileSource {
            file: handle,
            progress: progress.clone(),
        },
        progress,
        options,
        keyring,
        store,
        tenant: tenant.id,
    })
}

impl Prepared {
    fn context(&self) -> Context {
        Context::new(Principal::system(self.tenant, "cli"), Utc::now())
    }

    /// Closes what was opened and turns the report into the exit code.
    async fn finish(self, result: Result<ImportReport>, noun: &str) -> Result<ExitCode> {
        self.progress.finish_and_clear();
        self.store.close().await;
        let report = result?;
        print_report(&report, noun);
        Ok(if report.is_clean() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

async fn import_clients(args: ImportClientsArgs, config: Config) -> Result<ExitCode> {
    let mut prepared = prepare(&args.file, &args.tenant, args.dry_run, &args.map, &config).await?;
    let branch = match find_branch(&prepared.store, prepared.tenant, &args.branch).await {
        Ok(branch) => branch,
        Err(e) => return prepared.finish(Err(e), "clients").await,
    };
    let clients = Clients::new(
        Deps::new(prepared.store.clone().into_dyn()),
        prepared.keyring.clone(),
    );
    let ctx = prepared.context();
    let options = std::mem::take(&mut prepared.options);
    let result = clients
        .import_csv(&ctx, branch, &mut prepared.source, options, &mut |_| {})
        .await;
    prepared.finish(result, "clients").await
}

async fn import_pilgrims(args: ImportPilgrimsArgs, config: Config) -> Result<ExitCode> {
    let group = args
        .group
        .trim()
        .parse::<UmrahGroupId>()
        .map_err(|_| Error::invalid("group", "is not a group id"))?;
    let mut prepared = prepare(&args.file, &args.tenant, args.dry_run, &args.map, &config).await?;
    let umrah = Umrah::new(
        Deps::new(prepared.store.clone().into_dyn()),
        prepared.keyring.clone(),
    );
    let ctx = prepared.context();
    let options = std::mem::take(&mut prepared.options);
    let result = umrah
        .import_pilgrims(&ctx, group, &mut prepared.source, options, &mut |_| {})
        .await;
    prepared.finish(result, "pilgrims").await
}

fn print_report(report: &ImportReport, noun: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{} rows: {} valid, {} invalid{}",
        report.rows,
        report.valid,
        report.invalid,
        if report.dry_run { " (dry run)" } else { "" }
    );
    if !report.ignored_columns.is_empty() {
        let _ = writeln!(
            out,
            "ignored columns: {}",
            report.ignored_columns.join(", ")
        );
    }
    for e in &report.errors {
        let _ = writeln!(out, "row {}: {}: {}", e.row, e.field, e.message);
    }
    let hidden = report
        .error_count
        .saturating_sub(report.errors.len() as u64);
    if hidden > 0 {
        let _ = writeln!(out, "… and {hidden} more errors");
    }
    let _ = if report.committed {
        writeln!(out, "imported {} {noun}", report.written)
    } else if report.is_clean() {
        writeln!(out, "nothing written (dry run)")
    } else {
        writeln!(out, "nothing written: fix the rows above and run again")
    };
}
