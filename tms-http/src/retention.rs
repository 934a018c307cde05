//! The retention job (issue 7): `tms-server retention run [--dry-run]` and
//! the schedule `serve` runs it on.
//!
//! Both apply [`crate::config::RetentionConfig`] to every tenant through
//! [`Privacy::run_retention`]: login-attempt records, delivery logs and
//! finished outbox messages past their periods are deleted, and the
//! travellers of bookings closed long enough ago are anonymised; each
//! tenant's run is audited (`privacy.retention.applied`, counts only). A dry
//! run prints the same counts and changes nothing.
//!
//! On a schedule every replica runs the job; runs are idempotent (what one
//! removed, the next does not find), so replicas racing each other cost a
//! retried transaction at worst.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tms_core::Result;
use tms_core::ports::Clock;
use tms_core::service::privacy::{Privacy, RetentionPolicy, TenantRetention};
use tms_core::service::tenancy::Deps;

use crate::config::Config;
use crate::setup;

/// `retention` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum RetentionCommand {
    /// Apply the configured retention periods to every tenant now, printing
    /// the counts per tenant.
    Run {
        /// Count what would be removed, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs a `retention` command.
pub async fn run(command: RetentionCommand, config: Config) -> Result<ExitCode> {
    let RetentionCommand::Run { dry_run } = command;
    setup::prepare_data_dir(&config.data_dir)?;
    let keyring = Arc::new(setup::load_keyring(&config)?);
    let store = setup::connect_store(&config).await?;
    let deps = Deps::new(store.clone().into_dyn());
    let privacy = Privacy::new(deps.clone(), keyring);
    let policy = config.retention.policy();
    let result = privacy
        .run_retention(&policy, deps.clock.now(), dry_run)
        .await;
    store.close().await;
    let runs = result?;
    print!("{}", report(&policy, &runs, dry_run));
    Ok(ExitCode::SUCCESS)
}

/// The lines `retention run` prints: one per tenant, then the totals.
pub fn report(policy: &RetentionPolicy, runs: &[TenantRetention], dry_run: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let verb = if dry_run { "would remove" } else { "removed" };
    if policy.is_empty() {
        out.push_str("no retention period is configured: nothing to do\n");
        return out;
    }
    let mut total = tms_core::ports::RetentionCounts::default();
    for run in runs {
        let c = &run.counts;
        total.add(c);
        let _ = writeln!(
            out,
            "tenant {}: {verb} {} login-attempt records, {} delivery logs, {} outbox messages; \
             anonymised {} closed bookings",
            run.tenant_id,
            c.login_attempts,
            c.delivery_logs,
            c.outbox_messages,
            c.bookings_anonymised
        );
    }
    let _ = writeln!(
        out,
        "total ({} tenants): login_attempts={} delivery_logs={} outbox_messages={} \
         bookings_anonymised={}{}",
        runs.len(),
        total.login_attempts,
        total.delivery_logs,
        total.outbox_messages,
        total.bookings_anonymised,
        if dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        }
    );
    out
}

/// Runs the job every `every` until the task is aborted (the first run one
/// period after start, so that a restart loop does not hammer the store).
/// A failed run is logged and retried at the next tick.
pub async fn schedule(
    privacy: Arc<Privacy>,
    policy: RetentionPolicy,
    clock: Arc<dyn Clock>,
    every: Duration,
) {
    if policy.is_empty() {
        return;
    }
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match privacy.run_retention(&policy, clock.now(), false).await {
            Ok(runs) => {
                let mut total = tms_core::ports::RetentionCounts::default();
                runs.iter().for_each(|r| total.add(&r.counts));
                tracing::info!(
                    tenants = runs.len(),
                    login_attempts = total.login_attempts,
                    delivery_logs = total.delivery_logs,
                    outbox_messages = total.outbox_messages,
                    bookings_anonymised = total.bookings_anonymised,
                    "retention applied"
                );
            }
            Err(e) => tracing::warn!(error = %e, "retention run failed; retrying at the next tick"),
        }
    }
}
