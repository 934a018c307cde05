//! The `tms-server` command line.
//!
//! ```text
//! tms-server [--config FILE] [serve]          run the server (default)
//! tms-server init --slug S --name N --currency C --branch B \
//!                 --email E --owner-name O [--password-stdin]
//! tms-server migrate                          apply database migrations
//! tms-server audit verify --tenant SLUG       check the tenant's hash chain
//! tms-server audit export --tenant SLUG --format csv|jsonl   to stdout
//! tms-server keys rotate                      add a newest key, re-encrypt every secret
//! tms-server keys reseal                      re-encrypt secrets under the newest key
//! tms-server import clients FILE --tenant SLUG --branch NAME_OR_ID [--dry-run]
//! tms-server import pilgrims FILE --tenant SLUG --group ID [--dry-run]
//! tms-server retention run [--dry-run]       apply the retention periods, print counts
//! ```
//!
//! Exit codes: 0 success, 1 failure (including a broken audit chain), 2 bad
//! usage. Command output goes to stdout, logs and progress to stderr.

use std::io::{BufRead as _, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use tms_core::domain::TenantSlug;
use tms_core::ports::{ChainStatus, Store as _, export_csv, export_jsonl, verify_chain};
use tms_core::security::secret::Secret;
use tms_core::service::tenancy::{Deps, NewTenant, NewTenantRequest, provision_tenant};
use tms_core::{Error, Result};

use crate::config::Config;
use crate::setup;

/// The TMS server and its operator commands.
#[derive(Debug, Parser)]
#[command(name = "tms-server", version, about)]
pub struct Cli {
    /// A TOML configuration file; environment variables override it.
    #[arg(long, global = true, env = "TMS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Create a tenant with its first branch and owner.
    Init(InitArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Check or export a tenant's audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Manage the key ring.
    #[command(subcommand)]
    Keys(KeysCommand),
    // --- clients (issue 6) ---
    /// Import records from CSV.
    #[command(subcommand)]
    Import(crate::cli_import::ImportCommand),
    // --- umrah (issue 6) ---
    // --- messaging (issue 9) ---
    /// Run only the outbox worker: deliver queued mail until Ctrl-C or
    /// SIGTERM (for a deployment that keeps sending apart from serving).
    Worker,
    // --- privacy (issue 7) ---
    /// Apply the configured retention periods (see the configuration).
    #[command(subcommand)]
    Retention(crate::retention::RetentionCommand),
}

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new key with the next id, then re-encrypt every secret with
    /// it (with a progress bar). With a key file (configured or generated)
    /// the key is appended to it first; with `TMS_KEYRING` the new entry is
    /// printed for the operator to append, and `keys reseal` re-encrypts
    /// once the servers run with it.
    Rotate,
    /// Re-encrypt every secret still sealed with an older key under the
    /// newest key of the configured ring (resumes an interrupted rotation).
    Reseal,
}

/// `init`'s options.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Login short name of the agency, e.g. `al-noor`.
    #[arg(long)]
    pub slug: String,
    /// Display name of the agency.
    #[arg(long)]
    pub name: String,
    /// ISO-4217 currency of the books, e.g. `SAR`.
    #[arg(long)]
    pub currency: String,
    /// Name of the first branch.
    #[arg(long)]
    pub branch: String,
    /// The owner's email (their login).
    #[arg(long)]
    pub email: String,
    /// The owner's name.
    #[arg(long)]
    pub owner_name: String,
    /// Read the owner's password from the first line of stdin; without it a
    /// strong password is generated and printed once.
    #[arg(long)]
    pub password_stdin: bool,
}

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the tenant's hash chain; exit 1 if it is broken.
    Verify {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
    },
    /// Stream the tenant's audit log to stdout.
    Export {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
    },
}

/// Audit export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// CSV with a header row.
    Csv,
    /// JSON Lines.
    Jsonl,
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("tms-server: configuration: {e}");
            return ExitCode::from(2);
        }
    };
    crate::telemetry::init(&config.log, config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tms-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli.command.unwrap_or(Command::Serve), config)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = %e, "tms-server failed");
            eprintln!("tms-server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one command.
pub async fn execute(command: Command, config: Config) -> Result<ExitCode> {
    match command {
        // clients (issue 6)
        Command::Import(command) => crate::cli_import::run(command, config).await,
        // privacy (issue 7)
        Command::Retention(command) => crate::retention::run(command, config).await,
        Command::Serve => crate::run(config).await.map(|()| ExitCode::SUCCESS),
        Command::Worker => worker(config).await,
        Command::Migrate => {
            setup::prepare_data_dir(&config.data_dir)?;
            let store = setup::connect_store(&config).await?;
            store.close().await;
            println!(
                "database migrated to schema version {}",
                tms_adapters::sql::SCHEMA_VERSION
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Init(args) => init(args, config).await,
        Command::Audit(AuditCommand::Verify { tenant }) => audit_verify(&tenant, config).await,
        Command::Audit(AuditCommand::Export { tenant, format }) => {
            audit_export(&tenant, format, config).await
        }
        Command::Keys(KeysCommand::Rotate) => keys_rotate(&config).await,
        Command::Keys(KeysCommand::Reseal) => {
            let ring = setup::load_keyring(&config)?;
            reseal(&config, &ring).await
        }
    }
}

async fn keys_rotate(config: &Config) -> Result<ExitCode> {
    use tms_core::ports::OsRandom;
    use tms_core::security::keyring::KeyRing;
    if let Some(text) = &config.keyring {
        let ring = KeyRing::parse(text.expose())?;
        let entry = KeyRing::generate_key(ring.next_key_id()?, &OsRandom);
        // Re-encrypting now with a key that is only printed would leave
        // the secrets unreadable if the entry were never appended.
        println!(
            "{}\nAppend this entry to TMS_KEYRING (keep the old ones), restart every server, \
             then run `tms-server keys reseal` to re-encrypt the stored secrets with it.",
            entry.expose()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let path = match &config.keyring_file {
        Some(path) => path.clone(),
        None => {
            setup::prepare_data_dir(&config.data_dir)?;
            // Generates the ring on first use, like `serve`.
            setup::load_keyring(config)?;
            config.data_dir.join(setup::KEYRING_FILE)
        }
    };
    let ring = KeyRing::from_file(&path)?;
    let id = ring.next_key_id()?;
    let entry = KeyRing::generate_key(id, &OsRandom);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|e| Error::internal(format!("cannot open {}: {}", path.display(), e.kind())))?;
    writeln!(file, "{}", entry.expose())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::internal(format!("cannot write {}: {}", path.display(), e.kind())))?;
    // The file must still parse, with the new key as the newest.
    let ring = KeyRing::from_file(&path)?;
    if ring.newest_key_id() != id {
        return Err(Error::internal(format!(
            "{} does not end with the new key {id}",
            path.display()
        )));
    }
    println!(
        "added key {id} to {}; key ids now {:?}. Restart every server to seal with it.",
        path.display(),
        ring.key_ids()
    );
    reseal(config, &ring).await
}

/// Re-encrypts every sealed value under the newest key of `ring`, with a
/// progress bar on stderr; prints the counts.
async fn reseal(config: &Config, ring: &tms_core::security::keyring::KeyRing) -> Result<ExitCode> {
    setup::prepare_data_dir(&config.data_dir)?;
    let store = setup::connect_store(config).await?;
    let deps = Deps::new(store.clone().into_dyn());
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} secrets ({eta})")
    {
        bar.set_style(style);
    }
    let result = tms_core::service::keys::rotate(&deps, ring, |p| {
        bar.set_length(p.total);
        bar.set_position(p.seen);
    })
    .await;
    bar.finish_and_clear();
    store.close().await;
    let done = result?;
    println!(
        "re-encrypted {} of {} secrets with key {} ({} already under it, {} changed meanwhile and left as written)",
        done.resealed,
        done.total,
        ring.newest_key_id(),
        done.already_current,
        done.skipped_changed
    );
    Ok(ExitCode::SUCCESS)
}

async fn init(args: InitArgs, config: Config) -> Result<ExitCode> {
    let (password, generated) = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::invalid("password", format!("cannot read stdin: {}", e.kind())))?;
        let trimmed = line.trim_end_matches(['\r', '\n']).to_owned();
        // Overwrite the buffer's copy: only the Secret keeps one.
        line.clear();
        (Secret::new(trimmed), false)
    } else {
        (setup::generate_password(), true)
    };
    let request = NewTenant::parse(NewTenantRequest {
        slug: args.slug,
        name: args.name,
        base_currency: args.currency,
        first_branch: args.branch,
        owner_email: args.email,
        owner_name: args.owner_name,
        owner_password: password.clone(),
    })?;
    // A generated password is printed: a handed-out one, to be replaced at
    // first login. One typed in on stdin was chosen by the operator.
    let request = if generated {
        request.with_password_change_required()
    } else {
        request
    };
    setup::prepare_data_dir(&config.data_dir)?;
    let store = setup::connect_store(&config).await?;
    let deps = Deps::new(store.clone().into_dyn());
    let provisioned = provision_tenant(&deps, request).await?;
    setup::mark_initialized(&config.data_dir)?;
    store.close().await;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "created tenant `{}` ({}) with owner {}",
        provisioned.tenant.slug, provisioned.tenant.id, provisioned.owner.email
    );
    if generated {
        let _ = writeln!(
            out,
            "password: {}\nThis password is shown ONCE; change it at first login.",
            password.expose()
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn open_tenant(
    slug: &str,
    config: &Config,
) -> Result<(tms_adapters::sql::SqlStore, tms_core::id::TenantId)> {
    let slug = TenantSlug::parse(slug)?;
    let store = setup::connect_store(config).await?;
    let mut uow = store.begin().await?;
    let tenant = uow.tenants().find_by_slug(&slug).await?;
    uow.rollback().await?;
    match tenant {
        Some(t) => Ok((store, t.id)),
        None => Err(Error::not_found("tenant")),
    }
}

async fn audit_verify(slug: &str, config: Config) -> Result<ExitCode> {
    let (store, tenant) = open_tenant(slug, &config).await?;
    let mut uow = store.begin().await?;
    let status = verify_chain(uow.audit(), tenant).await?;
    uow.rollback().await?;
    store.close().await;
    Ok(match status {
        ChainStatus::Intact { events } => {
            println!("audit chain of `{slug}` is intact: {events} events");
            ExitCode::SUCCESS
        }
        ChainStatus::Broken(at) => {
            println!("audit chain of `{slug}` is BROKEN: {at:?}");
            ExitCode::FAILURE
        }
        ChainStatus::HeadMismatch { last_seq, head_seq } => {
            println!(
                "audit chain of `{slug}` is BROKEN: it ends at event {last_seq} but the recorded head is {head_seq}"
            );
            ExitCode::FAILURE
        }
    })
}

/// Counts the lines going through to stdout and moves the progress bar.
struct Progress<W> {
    inner: W,
    bar: indicatif::ProgressBar,
    lines: u64,
    skip: u64,
}

impl<W: Write> Write for Progress<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        self.bar.set_position(self.lines.saturating_sub(self.skip));
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

async fn audit_export(slug: &str, format: ExportFormat, config: Config) -> Result<ExitCode> {
    let (store, tenant) = open_tenant(slug, &config).await?;
    let mut uow = store.begin().await?;
    let (total, _) = uow.audit().head(tenant).await?;
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(u64::try_from(total).unwrap_or_default()),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} events ({eta})")
    {
        bar.set_style(style);
    }
    let out = Progress {
        inner: std::io::BufWriter::new(std::io::stdout()),
        bar: bar.clone(),
        lines: 0,
        skip: u64::from(matches!(format, ExportFormat::Csv)),
    };
    let written = match format {
        ExportFormat::Csv => export_csv(uow.audit(), tenant, out).await?,
        ExportFormat::Jsonl => export_jsonl(uow.audit(), tenant, out).await?,
    };
    uow.rollback().await?;
    store.close().await;
    bar.finish_and_clear();
    eprintln!("exported {written} events of `{slug}`");
    Ok(ExitCode::SUCCESS)
}

/// `worker`: the outbox worker alone, on the configured store and transport.
async fn worker(config: Config) -> Result<ExitCode> {
    let store = setup::connect_store(&config).await?;
    let deps = Deps::new(store.clone().into_dyn());
    // --- mail connections (issue 9) ---
    // The tenants' own Gmail and SMTP settings are sealed: the worker needs
    // the key ring to open them.
    let keyring = Arc::new(setup::load_keyring(&config)?);
    let connections = tms_core::service::mail_connections::MailConnections::new(
        deps.clone(),
        keyring.clone(),
        config.gmail.provider()?,
    );
    let deps_for_attachments = deps.clone();
    let courier = crate::mail::courier_with_routes(
        deps,
        &config.mail,
        &config.data_dir,
        connections,
        config.gmail.clone(),
        config.gmail.mailbox()?,
    )?
    // --- messaging (issue 9) ---
    .with_attachments(Arc::new(crate::attachments::ServerAttachments::new(
        deps_for_attachments.clone(),
        keyring.clone(),
        setup::open_blob_store(&config)?,
        Arc::new(tms_adapters::pdf::PdfRenderer::new().unwrap_or_default()),
        Some(config.mail.sender().as_str().to_owned()),
    )))
    // --- whatsapp (issue 9) ---
    .with_channels(Arc::new(
        tms_adapters::whatsapp::ConnectionRoutes::new(
            tms_core::service::whatsapp::WhatsappConnections::new(
                deps_for_attachments.clone(),
                keyring.clone(),
            ),
        )?
        .with_base_url(config.whatsapp.graph_url.clone())
        .with_version(config.whatsapp.graph_version.clone()),
    ));
    let campaigns = Arc::new(tms_core::service::outreach::Outreach::new(
        deps_for_attachments.clone(),
        keyring.clone(),
        config.public_url(),
    ));
    // --- mail ops (issue 10) ---
    // The connected mailboxes are synced in the same loop, as in `serve`.
    let mail_ops = Arc::new(tms_core::service::mail_ops::MailOps::new(
        deps_for_attachments.clone(),
        tms_core::service::mail_connections::MailConnections::new(
            deps_for_attachments.clone(),
            keyring.clone(),
            config.gmail.provider()?,
        ),
        config.gmail.mailbox()?,
    ));
    crate::mail::run_worker_with(
        courier,
        Some(campaigns),
        Some(mail_ops),
        config.mail.poll,
        crate::shutdown_signal(),
    )
    .await;
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
