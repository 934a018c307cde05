//! The contract suite of the [`Store`] port, for every implementation.
//!
//! Our SQLite and PostgreSQL stores run it, and so can an integrator's own
//! backend: enable the `testkit` feature in `dev-dependencies`, write a
//! factory that returns a fresh, empty store (and a guard that cleans it up
//! when dropped), and expand [`store_contract_tests!`](crate::store_contract_tests)
//! — one `#[tokio::test]` per case, so a failure names the rule broken:
//!
//! ```ignore
//! // In tests/store.rs of the integrator's adapter crate:
//! async fn fresh_store() -> Option<(Arc<dyn Store>, TempDatabase)> {
//!     let db = TempDatabase::create().await;
//!     Some((Arc::new(MyStore::connect(&db.url).await.unwrap()), db))
//! }
//! tms_core::store_contract_tests!(fresh_store);
//! ```
//!
//! The factory returns `None` to skip (e.g. a database that is not there
//! outside CI — say so loudly). Each case is also a public `async fn` taking
//! the store, to call by hand. The suite talks only to `Arc<dyn Store>`;
//! tampering with stored audit events needs raw access, so that part of the
//! audit contract ([`verify_chain`] finding edits, deletions, insertions and
//! reorderings) lives in each adapter's own tests.
//!
//! Cases never hold two units of work at once in one task: on SQLite the
//! second would wait for the first's write lock.

// A test suite fails by panicking: that is its whole interface.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

// The BlobStore contract suite (issue 8).
pub mod blobs;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Duration, DurationRound as _, Utc};
use serde_json::json;

use crate::audit::{AuditEvent, NewAuditEvent};
use crate::domain::{
    Branch, BranchScope, Context, Email, Name, Principal, Role, Session, Tenant, TenantSettings,
    TenantSlug, TwoFactor, User,
};
use crate::error::Error;
use crate::id::{BranchId, ConfirmationId, SessionId, TenantId, TokenId, UserId};
use crate::money::Currency;
use crate::policy::{Action, PendingConfirmation, Resource, ResourceKind};
use crate::ports::{
    AUDIT_PAGE, AuditLog, ChainStatus, OutboxMessage, PageRequest, Scope, SeededRandom, Store,
    StoredToken, UnitOfWork, export_csv, export_jsonl, transact, verify_chain,
};
use crate::security::keyring::Sealed;
use crate::security::lockout::{AccountLockout, IpThrottle, LockoutPolicy, ThrottlePolicy};
use crate::security::token::{SingleUseToken, TokenPurpose};
use crate::security::totp::RecoveryCodes;

/// Expands to one `#[tokio::test]` per contract case. `$factory` is a path
/// to an `async fn() -> Option<(Arc<dyn Store>, G)>`: `None` skips the case,
/// `G` is dropped after it (clean up there). The calling crate needs
/// `tokio` (features `macros`, `rt-multi-thread`) among its dev-dependencies.
#[macro_export]
macro_rules! store_contract_tests {
    ($factory:path) => {
        $crate::store_contract_tests!(@cases $factory;
            tenants_round_trip_and_stale_updates_conflict,
            tenant_isolation_on_every_repository,
            branch_scope_filters_every_list,
            pagination_returns_every_row_once_in_order,
            dropping_a_unit_of_work_rolls_back,
            a_write_and_its_audit_event_commit_together,
            a_failed_audit_append_prevents_the_commit,
            stale_versions_conflict,
            duplicate_unique_values_conflict,
            times_and_ids_round_trip_exactly,
            users_round_trip_with_scope_and_two_factor,
            settings_default_and_sealed_secrets_round_trip,
            sessions_touch_revoke_and_revoke_all,
            lockout_state_is_shared_across_units,
            concurrent_login_failures_are_all_counted,
            tokens_and_confirmations_are_single_use,
            audit_secrets_are_redacted_even_when_set_by_hand,
            audit_chains_are_per_tenant_and_verify,
            concurrent_audit_appends_keep_one_chain,
            export_of_100_000_events_streams_in_constant_memory,
            outbox_messages_round_trip_per_tenant_and_roll_back,
            sealed_values_page_through_every_tenant_and_are_replaced_once,
            key_rotation_reseals_every_value_once_and_resumes,
            // --- clients (issue 6) ---
            clients_round_trip_search_and_scope,
            client_consents_keep_history,
            many_clients_insert_in_batches,
            // --- catalogue, bookings, tickets (issue 6) ---
            concurrent_bookings_never_oversell_and_number_without_gaps,
            one_idempotency_key_creates_one_booking,
            booking_lifecycle_is_versioned_and_cancel_releases_places,
            bookings_are_isolated_by_tenant_and_branch,
            tickets_are_unique_per_tenant_and_capacity_holds_the_booked,
            key_rotation_reseals_booking_travellers_passports,
            // --- umrah (issue 6) ---
            umrah_records_round_trip_and_stay_in_their_tenant,
            room_locks_serialize_concurrent_assignments,
            // --- finance (issue 7) ---
            concurrent_issuers_number_invoices_without_gaps,
            one_idempotency_key_records_one_payment,
            payments_refunds_and_rates_keep_the_books,
            voiding_needs_confirmation_and_reverses_the_ledger,
            payables_and_reports_keep_the_books,
            // --- messaging (issue 9) ---
            outbox_claims_lease_and_log_every_attempt,
            concurrent_claimers_never_share_a_message,
            courier_retries_gives_up_and_honours_the_quota,
            // --- privacy (issue 7) ---
            privacy_export_gathers_everything_about_a_person,
            privacy_erasure_anonymises_everywhere_and_the_chain_verifies,
            privacy_erasure_of_a_user_blocks_login,
            retention_removes_what_is_due_and_nothing_else,
            privacy_files_hook_is_listed_and_erased,
            // --- files (issue 8) ---
            file_rows_round_trip_and_stay_with_their_owner,
            branding_saves_under_its_version,
            files_service_is_authorized_and_scoped_as_the_owner,
            deleting_an_owner_deletes_its_files,
            failed_uploads_leave_no_blob_and_logos_replace_each_other,
            // --- documents (issue 8) ---
            // --- outreach (issue 9) ---
            outreach_templates_and_suppressions_stay_in_their_tenant,
            campaign_expansion_reaches_each_address_once_and_resumes,
            whatsapp_campaigns_write_template_messages_to_consenting_phones,
            // --- documents follow-ups (issue 8) ---
            credit_notes_read_back_only_in_their_tenant,
            branding_keeps_its_emergency_contact,
            // --- whatsapp (issue 9) ---
            whatsapp_statuses_are_recorded_once_and_stay_in_their_tenant,
            whatsapp_connections_are_for_administrators_and_sealed,
            // --- mail ops (issue 10) ---
            mail_ops_records_round_trip_and_stay_in_their_tenant,
            mail_sync_routes_tickets_once_backs_off_and_recovers,
            support_tickets_are_answered_threaded_and_authorized,
            disconnect_stops_sync_and_deletes_mail_by_setting,
            mail_message_defects_are_stored_bounded,
            courier_sends_threaded_replies_into_the_mailbox_thread,
            ticket_breach_filter_matches_the_sla_in_the_query,
        );
    };
    (@cases $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let Some((store, guard)) = $factory().await else { return };
                $crate::testkit::$case(store).await;
                drop(guard);
            }
        )*
    };
}

// ------------------------------------------------------------------ helpers

/// Now, truncated to the microsecond that every store keeps.
pub fn now() -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(Duration::microseconds(1))
        .unwrap_or_else(|_| Utc::now())
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    )
}

/// A tenant that is not stored yet.
pub fn new_tenant() -> Tenant {
    Tenant {
        id: TenantId::new(),
        slug: TenantSlug::parse(&unique("agency")).expect("valid slug"),
        name: Name::parse("Al Noor Travel").expect("valid name"),
        base_currency: Currency::SAR,
        created_at: now(),
        version: 1,
    }
}

/// A branch of `tenant` that is not stored yet.
pub fn new_branch(tenant: TenantId, created_at: DateTime<Utc>) -> Branch {
    Branch {
        id: BranchId::new(),
        tenant_id: tenant,
        name: Name::parse("Head office").expect("valid name"),
        created_at,
        closed_at: None,
        version: 1,
    }
}

/// A user of `tenant` that is not stored yet.
pub fn new_user(tenant: TenantId, scope: BranchScope) -> User {
    User {
        id: UserId::new(),
        tenant_id: tenant,
        email: Email::parse(&format!("{}@example.com", unique("agent"))).expect("valid email"),
        name: Name::parse("Amina Rahman").expect("valid name"),
        role: Role::Sales,
        scope,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        two_factor: TwoFactor::default(),
        must_change_password: false,
        disabled_at: None,
        created_at: now(),
        version: 1,
    }
}

/// An audit event of `tenant`.
pub fn new_event(tenant: TenantId, action: &str) -> NewAuditEvent {
    let ctx = Context::new(Principal::system(tenant, "testkit"), now());
    NewAuditEvent::new(&ctx, action, "thing", Some(uuid::Uuid::now_v7()))
        .with_change(None, Some(json!({ "n": 1 })))
}

/// Stores a fresh tenant and returns it.
pub async fn seed_tenant(store: &dyn Store) -> Tenant {
    let tenant = new_tenant();
    let mut uow = store.begin().await.expect("begin");
    uow.tenants().insert(&tenant).await.expect("insert tenant");
    uow.commit().await.expect("commit");
    tenant
}

async fn seed_user(store: &dyn Store, tenant: TenantId) -> User {
    let user = new_user(tenant, BranchScope::All);
    let mut uow = store.begin().await.expect("begin");
    uow.users().insert(&user).await.expect("insert user");
    uow.commit().await.expect("commit");
    user
}

fn is_conflict<T: std::fmt::Debug>(result: &crate::Result<T>) -> bool {
    matches!(result, Err(Error::Conflict { .. }))
}

async fn verify(store: &dyn Store, tenant: TenantId) -> ChainStatus {
    let mut uow = store.begin().await.expect("begin");
    let status = verify_chain(uow.audit(), tenant).await.expect("verify");
    uow.rollback().await.expect("rollback");
    status
}

// -------------------------------------------------------------------- cases

/// Tenants are found by id and slug, round-trip exactly, and a stale update
/// conflicts.
pub async fn tenants_round_trip_and_stale_updates_conflict(store: Arc<dyn Store>) {
    store.ping().await.expect("a fresh store answers");
    let mut tenant = seed_tenant(&*store).await;
    let mut uow = store.begin().await.expect("begin");
    assert_eq!(
        uow.tenants().get(tenant.id).await.expect("get").as_ref(),
        Some(&tenant)
    );
    assert_eq!(
        uow.tenants()
            .find_by_slug(&tenant.slug)
            .await
            .expect("find")
            .as_ref(),
        Some(&tenant)
    );
    let stale = tenant.clone();
    tenant.name = Name::parse("Al Noor Hajj & Umrah").expect("name");
    uow.tenants().update(&mut tenant).await.expect("update");
    assert_eq!(tenant.version, 2);
    let mut stale = stale;
    assert!(
        is_conflict(&uow.tenants().update(&mut stale).await),
        "stale tenant update"
    );
    assert_eq!(
        uow.tenants().get(tenant.id).await.expect("get"),
        Some(tenant.clone())
    );
    let mut missing = new_tenant();
    assert!(matches!(
        uow.tenants().update(&mut missing).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(uow.tenants().get(TenantId::new()).await.expect("get"), None);
    uow.commit().await.expect("commit");
}

/// Another tenant's id behaves exactly like a missing one, in every
/// repository, for reads and for writes.
pub async fn tenant_isolation_on_every_repository(store: Arc<dyn Store>) {
    let a = seed_tenant(&*store).await;
    let b = seed_tenant(&*store).await;
    let random = SeededRandom::new(7);
    let t = now();
    let branch = new_branch(a.id, t);
    let user = new_user(a.id, BranchScope::All);
    let session = Session {
        id: SessionId::new(),
        tenant_id: a.id,
        user_id: user.id,
        created_at: t,
        last_seen_at: t,
        expires_at: t + Duration::hours(12),
        revoked_at: None,
        ip: Some("192.0.2.1".into()),
        user_agent: None,
    };
    let (_, record) = SingleUseToken::issue(TokenPurpose::PasswordReset, t, &random);
    let token = StoredToken {
        id: TokenId::new(),
        tenant_id: a.id,
        user_id: user.id,
        token: record,
    };
    let owner = Principal::user(user.id, a.id, Role::TenantSuperAdmin, BranchScope::All);
    let (_, confirmation) = PendingConfirmation::issue(
        ConfirmationId::new(),
        &owner,
        Action::Delete,
        Resource::new(ResourceKind::Booking, a.id).in_branch(branch.id),
        t,
        &random,
    )
    .expect("issue");
    let email = user.email.clone();
    let ip = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    {
        let mut uow = store.begin().await.expect("begin");
        uow.branches().insert(&branch).await.expect("branch");
        uow.users().insert(&user).await.expect("user");
        uow.sessions().insert(&session).await.expect("session");
        uow.tokens().insert(&token).await.expect("token");
        uow.confirmations()
            .insert(&confirmation)
            .await
            .expect("confirmation");
        let mut lock = AccountLockout::default();
        lock.record_failure(t, &LockoutPolicy::default());
        uow.lockouts()
            .put_account(a.id, &email, &lock)
            .await
            .expect("lockout");
        let mut throttle = IpThrottle::default();
        throttle
            .attempt(t, &ThrottlePolicy::default())
            .expect("attempt");
        uow.lockouts()
            .put_ip(a.id, ip, &throttle)
            .await
            .expect("throttle");
        let mut settings = TenantSettings::defaults(a.id);
        settings.require_two_factor_for_admins = true;
        uow.settings().put(&mut settings).await.expect("settings");
        uow.settings()
            .put_secret(a.id, "smtp_password", &Sealed::from_bytes(vec![1, 2, 3]))
            .await
            .expect("secret");
        uow.audit()
            .append(new_event(a.id, "thing.done"))
            .await
            .expect("audit");
        uow.commit().await.expect("commit");
    }
    let mut uow = store.begin().await.expect("begin");
    // Reads through tenant B see nothing.
    assert_eq!(
        uow.branches().get(b.id, branch.id).await.expect("get"),
        None
    );
    assert_eq!(uow.users().get(b.id, user.id).await.expect("get"), None);
    assert_eq!(
        uow.users().find_by_email(b.id, &email).await.expect("find"),
        None
    );
    assert!(
        uow.users()
            .list(b.id, PageRequest::first())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    let scope_b = Scope {
        tenant_id: b.id,
        branches: BranchScope::All,
    };
    assert!(
        uow.branches()
            .list(&scope_b, PageRequest::first())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    let scope_b_with_a_branch = Scope {
        tenant_id: b.id,
        branches: BranchScope::only([branch.id]),
    };
    assert!(
        uow.branches()
            .list(&scope_b_with_a_branch, PageRequest::first())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    assert_eq!(
        uow.sessions().get(b.id, session.id).await.expect("get"),
        None
    );
    assert!(
        uow.sessions()
            .list_for_user(b.id, user.id)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        uow.tokens()
            .find_by_hash(b.id, TokenPurpose::PasswordReset, &token.token.hash)
            .await
            .expect("find"),
        None
    );
    assert_eq!(
        uow.tokens()
            .latest_for_user(b.id, user.id, TokenPurpose::PasswordReset)
            .await
            .expect("latest"),
        None
    );
    assert_eq!(
        uow.confirmations()
            .find_by_hash(b.id, &confirmation.token.hash)
            .await
            .expect("find"),
        None
    );
    assert!(
        uow.lockouts()
            .account(b.id, &email)
            .await
            .expect("account")
            .is_clear()
    );
    assert!(uow.lockouts().ip(b.id, ip).await.expect("ip").is_clear());
    assert_eq!(
        uow.settings().get(b.id).await.expect("settings"),
        TenantSettings::defaults(b.id)
    );
    assert_eq!(
        uow.settings()
            .secret(b.id, "smtp_password")
            .await
            .expect("secret"),
        None
    );
    assert!(
        uow.audit()
            .read(b.id, 0, 10)
            .await
            .expect("read")
            .is_empty()
    );
    // Writes through tenant B touch nothing of A's.
    assert!(matches!(
        uow.sessions().touch(b.id, session.id, t).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        uow.sessions().revoke(b.id, session.id, t).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        uow.sessions()
            .revoke_all(b.id, user.id, None, t)
            .await
            .expect("revoke_all"),
        0
    );
    let mut foreign_branch = branch.clone();
    foreign_branch.tenant_id = b.id;
    assert!(matches!(
        uow.branches().update(&mut foreign_branch).await,
        Err(Error::NotFound { .. })
    ));
    let mut foreign_user = user.clone();
    foreign_user.tenant_id = b.id;
    assert!(matches!(
        uow.users().update(&mut foreign_user).await,
        Err(Error::NotFound { .. })
    ));
    let mut foreign_token = token.clone();
    foreign_token.tenant_id = b.id;
    foreign_token.token.used_at = Some(t);
    assert!(uow.tokens().update(&foreign_token).await.is_err());
    assert!(
        !uow.settings()
            .delete_secret(b.id, "smtp_password")
            .await
            .expect("delete")
    );
    // And A still sees all of it.
    assert!(
        uow.branches()
            .get(a.id, branch.id)
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        uow.sessions()
            .get(a.id, session.id)
            .await
            .expect("get")
            .is_some_and(|s| s.revoked_at.is_none())
    );
    assert!(
        uow.tokens()
            .find_by_hash(a.id, TokenPurpose::PasswordReset, &token.token.hash)
            .await
            .expect("find")
            .is_some_and(|t| t.token.used_at.is_none())
    );
    assert!(
        uow.confirmations()
            .find_by_hash(a.id, &confirmation.token.hash)
            .await
            .expect("find")
            .is_some()
    );
    assert!(
        !uow.lockouts()
            .account(a.id, &email)
            .await
            .expect("account")
            .is_clear()
    );
    assert!(!uow.lockouts().ip(a.id, ip).await.expect("ip").is_clear());
    assert!(
        uow.settings()
            .get(a.id)
            .await
            .expect("settings")
            .require_two_factor_for_admins
    );
    assert!(
        uow.settings()
            .secret(a.id, "smtp_password")
            .await
            .expect("secret")
            .is_some()
    );
    assert_eq!(uow.audit().read(a.id, 0, 10).await.expect("read").len(), 1);
    uow.rollback().await.expect("rollback");
}

/// Branch lists return exactly the branches in scope: all, some, none.
pub async fn branch_scope_filters_every_list(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let other = seed_tenant(&*store).await;
    let t = now();
    let branches: Vec<Branch> = (0..5)
        .map(|i| new_branch(tenant.id, t + Duration::seconds(i)))
        .collect();
    let mut uow = store.begin().await.expect("begin");
    for b in &branches {
        uow.branches().insert(b).await.expect("insert");
    }
    uow.branches()
        .insert(&new_branch(other.id, t))
        .await
        .expect("insert");
    let list = |scope: BranchScope| Scope {
        tenant_id: tenant.id,
        branches: scope,
    };
    let all = uow
        .branches()
        .list(&list(BranchScope::All), PageRequest::first())
        .await
        .expect("list");
    assert_eq!(all.items, branches);
    let some = uow
        .branches()
        .list(
            &list(BranchScope::only([
                branches[1].id,
                branches[3].id,
                BranchId::new(),
            ])),
            PageRequest::first(),
        )
        .await
        .expect("list");
    assert_eq!(some.items, vec![branches[1].clone(), branches[3].clone()]);
    let none = uow
        .branches()
        .list(&list(BranchScope::only([])), PageRequest::first())
        .await
        .expect("list");
    assert!(none.items.is_empty() && none.next.is_none());
    // A branch-scoped principal's scope, derived the usual way.
    let sales = Principal::user(
        UserId::new(),
        tenant.id,
        Role::Sales,
        BranchScope::only([branches[4].id]),
    );
    let mine = uow
        .branches()
        .list(&Scope::of(&sales), PageRequest::first())
        .await
        .expect("list");
    assert_eq!(mine.items, vec![branches[4].clone()]);
    uow.rollback().await.expect("rollback");
}

/// Keyset pages return every row exactly once, in `(created_at, id)` order,
/// including rows that share a creation time, for branches and users.
pub async fn pagination_returns_every_row_once_in_order(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let t = now();
    let mut uow = store.begin().await.expect("begin");
    let mut branches = Vec::new();
    let mut users = Vec::new();
    for i in 0..23 {
        // Groups of three share a timestamp: the id breaks the tie.
        let b = new_branch(tenant.id, t + Duration::milliseconds(i / 3));
        uow.branches().insert(&b).await.expect("insert");
        branches.push(b);
        let mut u = new_user(tenant.id, BranchScope::All);
        u.created_at = t + Duration::milliseconds(i / 4);
        uow.users().insert(&u).await.expect("insert");
        users.push(u);
    }
    uow.commit().await.expect("commit");
    branches.sort_by_key(|b| (b.created_at, b.id));
    users.sort_by_key(|u| (u.created_at, u.id));
    let scope = Scope {
        tenant_id: tenant.id,
        branches: BranchScope::All,
    };
    for limit in [1, 5, 7, 23, 50] {
        let mut uow = store.begin().await.expect("begin");
        let (mut seen_b, mut seen_u) = (Vec::new(), Vec::new());
        let mut cursor: Option<String> = None;
        loop {
            let page = PageRequest::new(Some(limit), cursor.as_deref()).expect("page");
            let got = uow.branches().list(&scope, page).await.expect("list");
            assert!(got.items.len() <= limit as usize);
            seen_b.extend(got.items);
            match got.next {
                Some(next) => cursor = Some(next.encode()),
                None => break,
            }
        }
        let mut after = None;
        loop {
            let page = PageRequest::new(
                Some(limit),
                after
                    .as_ref()
                    .map(|c: &crate::ports::Cursor| c.encode())
                    .as_deref(),
            )
            .expect("page");
            let got = uow.users().list(tenant.id, page).await.expect("list");
            seen_u.extend(got.items);
            match got.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen_b, branches, "branches, limit {limit}");
        assert_eq!(
            seen_u.iter().map(|u| u.id).collect::<Vec<_>>(),
            users.iter().map(|u| u.id).collect::<Vec<_>>(),
            "users, limit {limit}"
        );
        uow.rollback().await.expect("rollback");
    }
}

/// Dropping a unit of work, or rolling it back, discards its writes.
pub async fn dropping_a_unit_of_work_rolls_back(store: Arc<dyn Store>) {
    let tenant = new_tenant();
    {
        let mut uow = store.begin().await.expect("begin");
        uow.tenants().insert(&tenant).await.expect("insert");
        uow.audit()
            .append(new_event(tenant.id, "tenant.created"))
            .await
            .expect("append");
        drop(uow);
    }
    let other = new_tenant();
    let mut uow = store.begin().await.expect("begin");
    uow.tenants().insert(&other).await.expect("insert");
    uow.rollback().await.expect("rollback");
    let mut uow = store.begin().await.expect("begin");
    assert_eq!(uow.tenants().get(tenant.id).await.expect("get"), None);
    assert_eq!(uow.tenants().get(other.id).await.expect("get"), None);
    assert!(
        uow.audit()
            .read(tenant.id, 0, 10)
            .await
            .expect("read")
            .is_empty()
    );
    assert_eq!(
        uow.audit().head(tenant.id).await.expect("head"),
        (0, crate::audit::GENESIS)
    );
    uow.rollback().await.expect("rollback");
}

/// A write and its audit event are visible together after commit.
pub async fn a_write_and_its_audit_event_commit_together(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let branch = new_branch(tenant.id, now());
    let event = new_event(tenant.id, "branch.created").in_branch(branch.id);
    let mut uow = store.begin().await.expect("begin");
    uow.branches().insert(&branch).await.expect("insert");
    let appended = uow.audit().append(event.clone()).await.expect("append");
    assert_eq!(appended.seq, 1);
    uow.commit().await.expect("commit");
    let mut uow = store.begin().await.expect("begin");
    assert_eq!(
        uow.branches().get(tenant.id, branch.id).await.expect("get"),
        Some(branch)
    );
    let events = uow.audit().read(tenant.id, 0, 10).await.expect("read");
    assert_eq!(events, vec![appended]);
    uow.rollback().await.expect("rollback");
    assert_eq!(
        verify(&*store, tenant.id).await,
        ChainStatus::Intact { events: 1 }
    );
}

/// When the audit append fails, the unit cannot commit its write.
pub async fn a_failed_audit_append_prevents_the_commit(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let event = new_event(tenant.id, "thing.done");
    let mut uow = store.begin().await.expect("begin");
    uow.audit().append(event.clone()).await.expect("append");
    uow.commit().await.expect("commit");

    let branch = new_branch(tenant.id, now());
    let mut uow = store.begin().await.expect("begin");
    uow.branches().insert(&branch).await.expect("insert");
    // The same event id again: the append fails…
    assert!(uow.audit().append(event).await.is_err());
    // …and the unit refuses to commit the branch without its event.
    assert!(uow.commit().await.is_err());
    let mut uow = store.begin().await.expect("begin");
    assert_eq!(
        uow.branches().get(tenant.id, branch.id).await.expect("get"),
        None
    );
    uow.rollback().await.expect("rollback");
    assert_eq!(
        verify(&*store, tenant.id).await,
        ChainStatus::Intact { events: 1 }
    );
}

/// Every versioned row refuses a stale update.
pub async fn stale_versions_conflict(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let mut branch = new_branch(tenant.id, now());
    let mut user = new_user(tenant.id, BranchScope::All);
    let mut uow = store.begin().await.expect("begin");
    uow.branches().insert(&branch).await.expect("insert");
    uow.users().insert(&user).await.expect("insert");
    let (mut stale_branch, mut stale_user) = (branch.clone(), user.clone());
    branch.closed_at = Some(now());
    uow.branches().update(&mut branch).await.expect("update");
    user.role = Role::Finance;
    uow.users().update(&mut user).await.expect("update");
    assert_eq!((branch.version, user.version), (2, 2));
    assert!(is_conflict(&uow.branches().update(&mut stale_branch).await));
    assert!(is_conflict(&uow.users().update(&mut stale_user).await));
    let mut settings = uow.settings().get(tenant.id).await.expect("get");
    let mut stale_settings = settings.clone();
    settings.session_idle_minutes = 15;
    uow.settings().put(&mut settings).await.expect("put");
    assert!(is_conflict(&uow.settings().put(&mut stale_settings).await));
    settings.session_absolute_hours = 8;
    uow.settings().put(&mut settings).await.expect("put again");
    // Conflicts are clean: the unit still commits what succeeded.
    uow.commit().await.expect("commit");
    let mut uow = store.begin().await.expect("begin");
    assert_eq!(
        uow.branches().get(tenant.id, branch.id).await.expect("get"),
        Some(branch)
    );
    assert_eq!(
        uow.users()
            .get(tenant.id, user.id)
            .await
            .expect("get")
            .map(|u| u.role),
        Some(Role::Finance)
    );
    assert_eq!(uow.settings().get(tenant.id).await.expect("get"), settings);
    uow.rollback().await.expect("rollback");
}

/// Unique values (tenant slug, a user's email in a tenant, ids) conflict.
pub async fn duplicate_unique_values_conflict(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let other = seed_tenant(&*store).await;
    let user = seed_user(&*store, tenant.id).await;
    let mut uow = store.begin().await.expect("begin");
    let mut same_slug = new_tenant();
    same_slug.slug = tenant.slug.clone();
    assert!(is_conflict(&uow.tenants().insert(&same_slug).await), "slug");
    let mut same_email = new_user(tenant.id, BranchScope::All);
    same_email.email = user.email.clone();
    assert!(is_conflict(&uow.users().insert(&same_email).await), "email");
    let mut same_id = new_user(tenant.id, BranchScope::All);
    same_id.id = user.id;
    assert!(is_conflict(&uow.users().insert(&same_id).await), "user id");
    let mut renamed = new_user(tenant.id, BranchScope::All);
    uow.users().insert(&renamed).await.expect("insert");
    renamed.email = user.email.clone();
    assert!(
        is_conflict(&uow.users().update(&mut renamed).await),
        "email on update"
    );
    let mut renamed_tenant = other.clone();
    renamed_tenant.slug = tenant.slug.clone();
    assert!(
        is_conflict(&uow.tenants().update(&mut renamed_tenant).await),
        "slug on update"
    );
    // The same email in another tenant is another person.
    let mut elsewhere = new_user(other.id, BranchScope::All);
    elsewhere.email = user.email.clone();
    uow.users()
        .insert(&elsewhere)
        .await
        .expect("same email, other tenant");
    uow.commit().await.expect("commit");
}

/// Instants (to the microsecond) and ids come back exactly as written.
pub async fn times_and_ids_round_trip_exactly(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let times = [
        DateTime::from_timestamp_micros(0).expect("epoch"),
        DateTime::from_timestamp_micros(1_700_000_000_123_456).expect("t"),
        DateTime::from_timestamp_micros(-86_400_000_001).expect("before 1970"),
        DateTime::from_timestamp_micros(4_102_444_799_999_999).expect("2099"),
    ];
    let mut uow = store.begin().await.expect("begin");
    for t in times {
        let mut branch = new_branch(tenant.id, t);
        branch.closed_at = Some(t + Duration::microseconds(1));
        uow.branches().insert(&branch).await.expect("insert");
        assert_eq!(
            uow.branches().get(tenant.id, branch.id).await.expect("get"),
            Some(branch)
        );
    }
    uow.rollback().await.expect("rollback");
}

/// Users keep their role, branch scope, password hash and 2FA state.
pub async fn users_round_trip_with_scope_and_two_factor(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let mut user = new_user(
        tenant.id,
        BranchScope::only([BranchId::new(), BranchId::new()]),
    );
    user.role = Role::Umrah;
    user.two_factor = TwoFactor {
        totp_secret: Some(Sealed::from_bytes(vec![1, 0, 0, 0, 7, 9, 9, 9])),
        totp_last_step: Some(58_000_123),
        email_otp: true,
        totp_pending: Some(Sealed::from_bytes(vec![1, 0, 0, 0, 8, 1, 2, 3])),
        recovery_codes: RecoveryCodes::generate(&SeededRandom::new(7)).1,
    };
    user.must_change_password = true;
    let mut uow = store.begin().await.expect("begin");
    uow.users().insert(&user).await.expect("insert");
    assert_eq!(
        uow.users().get(tenant.id, user.id).await.expect("get"),
        Some(user.clone())
    );
    assert_eq!(
        uow.users()
            .find_by_email(tenant.id, &user.email)
            .await
            .expect("find"),
        Some(user.clone())
    );
    user.scope = BranchScope::All;
    user.two_factor = TwoFactor::default();
    user.password_hash = None;
    user.must_change_password = false;
    user.disabled_at = Some(now());
    uow.users().update(&mut user).await.expect("update");
    assert_eq!(
        uow.users().get(tenant.id, user.id).await.expect("get"),
        Some(user)
    );
    uow.rollback().await.expect("rollback");
}

/// Settings start at their defaults; sealed secrets round-trip as bytes.
pub async fn settings_default_and_sealed_secrets_round_trip(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let mut uow = store.begin().await.expect("begin");
    assert_eq!(
        uow.settings().get(tenant.id).await.expect("get"),
        TenantSettings::defaults(tenant.id)
    );
    let sealed = Sealed::from_bytes((0..=255).collect());
    uow.settings()
        .put_secret(tenant.id, "gmail_refresh_token", &sealed)
        .await
        .expect("put");
    assert_eq!(
        uow.settings()
            .secret(tenant.id, "gmail_refresh_token")
            .await
            .expect("get"),
        Some(sealed)
    );
    let replaced = Sealed::from_bytes(vec![9; 40]);
    uow.settings()
        .put_secret(tenant.id, "gmail_refresh_token", &replaced)
        .await
        .expect("put");
    assert_eq!(
        uow.settings()
            .secret(tenant.id, "gmail_refresh_token")
            .await
            .expect("get"),
        Some(replaced)
    );
    assert!(
        uow.settings()
            .delete_secret(tenant.id, "gmail_refresh_token")
            .await
            .expect("delete")
    );
    assert_eq!(
        uow.settings()
            .secret(tenant.id, "gmail_refresh_token")
            .await
            .expect("get"),
        None
    );
    uow.commit().await.expect("commit");
}

/// Sessions: touch, revoke one, revoke all but one, list live ones newest first.
pub async fn sessions_touch_revoke_and_revoke_all(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let user = seed_user(&*store, tenant.id).await;
    let t = now();
    let sessions: Vec<Session> = (0..4)
        .map(|i| Session {
            id: SessionId::new(),
            tenant_id: tenant.id,
            user_id: user.id,
            created_at: t + Duration::seconds(i),
            last_seen_at: t + Duration::seconds(i),
            expires_at: t + Duration::hours(12),
            revoked_at: None,
            ip: None,
            user_agent: Some("Mozilla/5.0".into()),
        })
        .collect();
    let mut uow = store.begin().await.expect("begin");
    for s in &sessions {
        uow.sessions().insert(s).await.expect("insert");
    }
    let later = t + Duration::minutes(5);
    uow.sessions()
        .touch(tenant.id, sessions[0].id, later)
        .await
        .expect("touch");
    assert_eq!(
        uow.sessions()
            .get(tenant.id, sessions[0].id)
            .await
            .expect("get")
            .map(|s| s.last_seen_at),
        Some(later)
    );
    uow.sessions()
        .revoke(tenant.id, sessions[1].id, later)
        .await
        .expect("revoke");
    assert!(matches!(
        uow.sessions().touch(tenant.id, sessions[1].id, later).await,
        Err(Error::NotFound { .. })
    ));
    let live: Vec<SessionId> = uow
        .sessions()
        .list_for_user(tenant.id, user.id)
        .await
        .expect("list")
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(live, vec![sessions[3].id, sessions[2].id, sessions[0].id]);
    let revoked = uow
        .sessions()
        .revoke_all(tenant.id, user.id, Some(sessions[3].id), later)
        .await
        .expect("revoke_all");
    assert_eq!(revoked, 2);
    let live: Vec<SessionId> = uow
        .sessions()
        .list_for_user(tenant.id, user.id)
        .await
        .expect("list")
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(live, vec![sessions[3].id]);
    assert!(matches!(
        uow.sessions()
            .touch(tenant.id, SessionId::new(), later)
            .await,
        Err(Error::NotFound { .. })
    ));
    uow.commit().await.expect("commit");
}

/// Lockout and throttle state written by one unit is what the next reads
/// (every replica shares it), including for accounts that do not exist.
pub async fn lockout_state_is_shared_across_units(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let email = Email::parse("nobody-here@example.com").expect("email");
    let ip = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));
    let t = now();
    let policy = LockoutPolicy::default();
    for i in 0..policy.max_failures {
        let mut uow = store.begin().await.expect("begin");
        let mut state = uow
            .lockouts()
            .account(tenant.id, &email)
            .await
            .expect("account");
        assert_eq!(state.failures.len(), i as usize);
        state.record_failure(t + Duration::seconds(i64::from(i)), &policy);
        uow.lockouts()
            .put_account(tenant.id, &email, &state)
            .await
            .expect("put");
        let mut throttle = uow.lockouts().ip(tenant.id, ip).await.expect("ip");
        let _ = throttle.attempt(t, &ThrottlePolicy::default());
        uow.lockouts()
            .put_ip(tenant.id, ip, &throttle)
            .await
            .expect("put ip");
        uow.commit().await.expect("commit");
    }
    let mut uow = store.begin().await.expect("begin");
    let state = uow
        .lockouts()
        .account(tenant.id, &email)
        .await
        .expect("account");
    assert!(
        matches!(
            state.check(t + Duration::seconds(10)),
            Err(Error::Locked { .. })
        ),
        "{state:?}"
    );
    assert_eq!(
        uow.lockouts()
            .ip(tenant.id, ip)
            .await
            .expect("ip")
            .attempts
            .len(),
        policy.max_failures as usize
    );
    uow.rollback().await.expect("rollback");
}

/// Failures recorded at the same moment by many replicas (tasks, each in
/// its own unit of work) are all counted: the read locks the row.
pub async fn concurrent_login_failures_are_all_counted(store: Arc<dyn Store>) {
    const TASKS: usize = 8;
    let tenant = seed_tenant(&*store).await;
    let email = Email::parse("target@example.com").expect("email");
    let t = now();
    let policy = LockoutPolicy {
        max_failures: 1_000,
        ..LockoutPolicy::default()
    };
    let mut handles = Vec::new();
    for i in 0..TASKS {
        let (store, email) = (Arc::clone(&store), email.clone());
        handles.push(tokio::spawn(async move {
            transact(&*store, |uow| {
                let email = email.clone();
                Box::pin(async move {
                    let mut state = uow.lockouts().account(tenant.id, &email).await?;
                    tokio::task::yield_now().await;
                    state.record_failure(t + Duration::milliseconds(i as i64), &policy);
                    uow.lockouts().put_account(tenant.id, &email, &state).await
                })
            })
            .await
            .expect("record a failure");
        }));
    }
    for handle in handles {
        handle.await.expect("task");
    }
    let mut uow = store.begin().await.expect("begin");
    let state = uow
        .lockouts()
        .account(tenant.id, &email)
        .await
        .expect("account");
    uow.rollback().await.expect("rollback");
    assert_eq!(state.failures.len(), TASKS, "{state:?}");
}

/// Tokens and confirmations round-trip, and a used one can never be saved
/// as unused or used twice — even by two units racing.
pub async fn tokens_and_confirmations_are_single_use(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let user = seed_user(&*store, tenant.id).await;
    let random = SeededRandom::new(42);
    let t = now();
    let (plain, record) = SingleUseToken::issue(TokenPurpose::EmailOtp, t, &random);
    let (_, older) =
        SingleUseToken::issue(TokenPurpose::EmailOtp, t - Duration::minutes(1), &random);
    let token = StoredToken {
        id: TokenId::new(),
        tenant_id: tenant.id,
        user_id: user.id,
        token: record,
    };
    let older = StoredToken {
        id: TokenId::new(),
        tenant_id: tenant.id,
        user_id: user.id,
        token: older,
    };
    let principal = user.principal();
    let resource = Resource::new(ResourceKind::User, tenant.id)
        .with_id(user.id)
        .with_subject_role(Role::Admin)
        .granting_role(Role::Finance);
    let (confirm_plain, confirmation) = PendingConfirmation::issue(
        ConfirmationId::new(),
        &principal,
        Action::ChangeAccess,
        resource,
        t,
        &random,
    )
    .expect("issue");
    let mut uow = store.begin().await.expect("begin");
    uow.tokens().insert(&older).await.expect("insert");
    uow.tokens().insert(&token).await.expect("insert");
    uow.confirmations()
        .insert(&confirmation)
        .await
        .expect("insert");
    assert!(
        is_conflict(&uow.tokens().insert(&token).await),
        "duplicate token"
    );
    uow.commit().await.expect("commit");

    let mut uow = store.begin().await.expect("begin");
    assert_eq!(
        uow.tokens()
            .find_by_hash(tenant.id, TokenPurpose::EmailOtp, &token.token.hash)
            .await
            .expect("find")
            .as_ref(),
        Some(&token)
    );
    assert_eq!(
        uow.tokens()
            .find_by_hash(tenant.id, TokenPurpose::PasswordReset, &token.token.hash)
            .await
            .expect("find"),
        None
    );
    assert_eq!(
        uow.tokens()
            .latest_for_user(tenant.id, user.id, TokenPurpose::EmailOtp)
            .await
            .expect("latest")
            .map(|t| t.id),
        Some(token.id)
    );
    let mut found = uow
        .confirmations()
        .find_by_hash(tenant.id, &confirmation.token.hash)
        .await
        .expect("find")
        .expect("some");
    assert_eq!(found, confirmation);
    // A wrong guess counts; then the right one uses it.
    let mut wrong = token.clone();
    let _ = wrong.token.redeem(
        &crate::security::token::PlainToken::from_presented("000000"),
        t,
    );
    uow.tokens().update(&wrong).await.expect("count the try");
    let mut used = wrong.clone();
    used.token.redeem(&plain, t).expect("redeem");
    uow.tokens().update(&used).await.expect("use");
    found
        .redeem(
            &confirm_plain,
            &principal,
            Action::ChangeAccess,
            &resource,
            t,
        )
        .expect("redeem");
    uow.confirmations().update(&found).await.expect("use");
    uow.commit().await.expect("commit");

    let mut uow = store.begin().await.expect("begin");
    // A second redemption from a stale copy is refused.
    assert!(is_conflict(&uow.tokens().update(&used).await), "used twice");
    assert!(
        is_conflict(&uow.tokens().update(&wrong).await),
        "saved as unused again"
    );
    assert!(
        is_conflict(&uow.confirmations().update(&found).await),
        "confirmation used twice"
    );
    let stored = uow
        .tokens()
        .find_by_hash(tenant.id, TokenPurpose::EmailOtp, &token.token.hash)
        .await
        .expect("find")
        .expect("some");
    assert_eq!(
        (stored.token.failed_attempts, stored.token.used_at),
        (1, Some(t))
    );
    assert_eq!(
        uow.tokens()
            .latest_for_user(tenant.id, user.id, TokenPurpose::EmailOtp)
            .await
            .expect("latest")
            .map(|t| t.id),
        Some(older.id)
    );
    uow.rollback().await.expect("rollback");
}

/// Secret-looking fields never reach the log, even when a caller fills
/// `before`/`after` without [`NewAuditEvent::with_change`].
pub async fn audit_secrets_are_redacted_even_when_set_by_hand(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let mut event = new_event(tenant.id, "user.updated");
    event.after = Some(
        json!({ "email": "a@b.co", "password": "hunter2", "smtp": { "access_token": "ya29.secret" } }),
    );
    event.before = Some(json!([{ "totp_secret": "JBSWY3DPEHPK3PXP" }]));
    let mut uow = store.begin().await.expect("begin");
    let appended = uow.audit().append(event).await.expect("append");
    uow.commit().await.expect("commit");
    let mut uow = store.begin().await.expect("begin");
    let stored = uow.audit().read(tenant.id, 0, 10).await.expect("read");
    uow.rollback().await.expect("rollback");
    assert_eq!(stored, vec![appended]);
    let text = serde_json::to_string(&stored).expect("json");
    for secret in ["hunter2", "ya29.secret", "JBSWY3DPEHPK3PXP"] {
        assert!(!text.contains(secret), "{text}");
    }
    assert!(text.contains("a@b.co"));
    assert!(verify(&*store, tenant.id).await.is_intact());
}

/// Each tenant has its own chain from seq 1; both verify; reads page.
pub async fn audit_chains_are_per_tenant_and_verify(store: Arc<dyn Store>) {
    let a = seed_tenant(&*store).await;
    let b = seed_tenant(&*store).await;
    assert_eq!(
        verify(&*store, a.id).await,
        ChainStatus::Intact { events: 0 }
    );
    let mut uow = store.begin().await.expect("begin");
    for i in 0..7 {
        let ea = uow
            .audit()
            .append(new_event(a.id, "a.did"))
            .await
            .expect("append");
        assert_eq!(ea.seq, 2 * i + 1);
        uow.audit()
            .append(new_event(a.id, "a.did"))
            .await
            .expect("append");
        let eb = uow
            .audit()
            .append(new_event(b.id, "b.did"))
            .await
            .expect("append");
        assert_eq!(eb.seq, i + 1);
    }
    let batch: Vec<NewAuditEvent> = (0..5)
        .map(|_| new_event(b.id, "b.batch"))
        .chain((0..3).map(|_| new_event(a.id, "a.batch")))
        .collect();
    let batched = uow.audit().append_all(batch).await.expect("append_all");
    assert_eq!(
        batched.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![8, 9, 10, 11, 12, 15, 16, 17]
    );
    uow.commit().await.expect("commit");
    assert_eq!(
        verify(&*store, a.id).await,
        ChainStatus::Intact { events: 17 }
    );
    assert_eq!(
        verify(&*store, b.id).await,
        ChainStatus::Intact { events: 12 }
    );
    let mut uow = store.begin().await.expect("begin");
    let page = uow.audit().read(a.id, 10, 3).await.expect("read");
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![11, 12, 13]
    );
    assert!(page.iter().all(|e| e.event.tenant_id == a.id));
    uow.rollback().await.expect("rollback");
}

/// Many tasks appending at once (8 × 25, each in its own unit of work)
/// leave one unbroken chain with every event exactly once.
pub async fn concurrent_audit_appends_keep_one_chain(store: Arc<dyn Store>) {
    const TASKS: usize = 8;
    const EACH: usize = 25;
    let tenant = seed_tenant(&*store).await;
    let mut handles = Vec::new();
    for _ in 0..TASKS {
        let store = Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..EACH {
                let event = new_event(tenant.id, "thing.raced");
                ids.push(event.id);
                transact(&*store, |uow| {
                    let event = event.clone();
                    Box::pin(async move { uow.audit().append(event).await.map(drop) })
                })
                .await
                .expect("append under contention");
            }
            ids
        }));
    }
    let mut expected = HashSet::new();
    for handle in handles {
        expected.extend(handle.await.expect("task"));
    }
    assert_eq!(
        verify(&*store, tenant.id).await,
        ChainStatus::Intact {
            events: (TASKS * EACH) as i64
        }
    );
    let mut uow = store.begin().await.expect("begin");
    let events = uow.audit().read(tenant.id, 0, 1_000).await.expect("read");
    uow.rollback().await.expect("rollback");
    let found: HashSet<_> = events.iter().map(|e| e.event.id).collect();
    assert_eq!(found, expected);
}

/// Counts what the export asks of the log: the largest page must be one
/// page, however long the log.
struct CountingLog<'a> {
    inner: &'a mut dyn AuditLog,
    largest_read: usize,
    reads: usize,
}

#[async_trait]
impl AuditLog for CountingLog<'_> {
    async fn append(&mut self, event: NewAuditEvent) -> crate::Result<AuditEvent> {
        self.inner.append(event).await
    }
    async fn read(
        &mut self,
        tenant: TenantId,
        after_seq: i64,
        limit: u32,
    ) -> crate::Result<Vec<AuditEvent>> {
        let page = self.inner.read(tenant, after_seq, limit).await?;
        self.largest_read = self.largest_read.max(page.len());
        self.reads += 1;
        Ok(page)
    }
    async fn head(&mut self, tenant: TenantId) -> crate::Result<(i64, [u8; 32])> {
        self.inner.head(tenant).await
    }
}

/// Records how much had been written at each flush: a streaming export
/// flushes once per page, long before the end.
#[derive(Default)]
struct FlushLog {
    bytes: usize,
    lines: usize,
    flushes: Vec<usize>,
}

struct Sink<'a>(&'a mut FlushLog);

impl std::io::Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.bytes += buf.len();
        self.0.lines += buf.iter().filter(|b| **b == b'\n').count();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flushes.push(self.0.lines);
        Ok(())
    }
}

/// Exports 100,000 events to JSON Lines and CSV a page at a time: no read
/// returns more than one page, the writer is flushed after every page, and
/// every event comes out once. The chain then verifies in one pass.
pub async fn export_of_100_000_events_streams_in_constant_memory(store: Arc<dyn Store>) {
    const EVENTS: usize = 100_000;
    let tenant = seed_tenant(&*store).await;
    let written = AtomicUsize::new(0);
    while written.load(Ordering::Relaxed) < EVENTS {
        let mut uow = store.begin().await.expect("begin");
        let batch: Vec<NewAuditEvent> = (0..5_000)
            .map(|_| new_event(tenant.id, "bulk.imported"))
            .collect();
        uow.audit().append_all(batch).await.expect("append_all");
        uow.commit().await.expect("commit");
        written.fetch_add(5_000, Ordering::Relaxed);
    }
    let pages = EVENTS.div_ceil(AUDIT_PAGE as usize);

    let mut uow = store.begin().await.expect("begin");
    let mut log = CountingLog {
        inner: uow.audit(),
        largest_read: 0,
        reads: 0,
    };
    let mut jsonl = FlushLog::default();
    let n = export_jsonl(&mut log, tenant.id, Sink(&mut jsonl))
        .await
        .expect("jsonl");
    assert_eq!(n, EVENTS as u64);
    assert_eq!(jsonl.lines, EVENTS);
    assert!(
        log.largest_read <= AUDIT_PAGE as usize,
        "a read returned {} events",
        log.largest_read
    );
    assert!(log.reads > pages, "{} reads for {pages} pages", log.reads);
    assert_eq!(jsonl.flushes.len(), pages, "one flush per page");
    assert_eq!(
        jsonl.flushes.first().copied(),
        Some(AUDIT_PAGE as usize),
        "the first page is out before the second is read"
    );

    let mut log = CountingLog {
        inner: uow.audit(),
        largest_read: 0,
        reads: 0,
    };
    let mut csv = FlushLog::default();
    let n = export_csv(&mut log, tenant.id, Sink(&mut csv))
        .await
        .expect("csv");
    assert_eq!(n, EVENTS as u64);
    assert_eq!(csv.lines, EVENTS + 1, "header and one line per event");
    assert!(log.largest_read <= AUDIT_PAGE as usize);
    assert!(csv.flushes.len() >= pages);

    let mut log = CountingLog {
        inner: uow.audit(),
        largest_read: 0,
        reads: 0,
    };
    assert_eq!(
        verify_chain(&mut log, tenant.id).await.expect("verify"),
        ChainStatus::Intact {
            events: EVENTS as i64
        }
    );
    assert!(log.largest_read <= AUDIT_PAGE as usize);
    uow.rollback().await.expect("rollback");
}

/// Outbox messages round-trip exactly, list per tenant oldest first, and
/// vanish with a rolled-back unit of work.
pub async fn outbox_messages_round_trip_per_tenant_and_roll_back(store: Arc<dyn Store>) {
    let tenant = seed_tenant(&*store).await;
    let other = seed_tenant(&*store).await;
    let at = now();
    let to = Email::parse("amina@example.com").expect("email");
    let first = OutboxMessage::email(
        crate::id::MessageId::new(),
        tenant.id,
        to.clone(),
        "Reset your password",
        "Open https://example.com/reset#token and choose a new password.\nمرحبا",
        at,
    );
    let mut second = OutboxMessage::email(
        crate::id::MessageId::new(),
        tenant.id,
        to.clone(),
        "Your code",
        "123456",
        at + Duration::seconds(1),
    );
    second.not_before = at + Duration::minutes(5);
    let foreign = OutboxMessage::email(
        crate::id::MessageId::new(),
        other.id,
        to,
        "Elsewhere",
        "x",
        at,
    );
    let mut uow = store.begin().await.expect("begin");
    uow.outbox().enqueue(&first).await.expect("enqueue");
    uow.outbox().enqueue(&second).await.expect("enqueue");
    uow.outbox().enqueue(&foreign).await.expect("enqueue");
    assert!(matches!(
        uow.outbox().enqueue(&first).await,
        Err(Error::Conflict { .. })
    ));
    uow.commit().await.expect("commit");

    let mut uow = store.begin().await.expect("begin");
    let page = uow
        .outbox()
        .list(tenant.id, PageRequest::first())
        .await
        .expect("list");
    assert_eq!(page.items, vec![first.clone(), second]);
    assert!(page.next.is_none());
    let page = uow
        .outbox()
        .list(other.id, PageRequest::first())
        .await
        .expect("list");
    assert_eq!(page.items, vec![foreign]);
    let dropped = OutboxMessage::email(
        crate::id::MessageId::new(),
        tenant.id,
        first.as_email().unwrap().to.clone(),
        "Never sent",
        "y",
        at,
    );
    uow.outbox().enqueue(&dropped).await.expect("enqueue");
    uow.rollback().await.expect("rollback");

    let mut uow = store.begin().await.expect("begin");
    let page = uow
        .outbox()
        .list(tenant.id, PageRequest::first())
        .await
        .expect("list");
    assert_eq!(page.items.len(), 2, "a rolled-back message is not kept");
    uow.rollback().await.expect("rollback");
}

/// Runs `work` in a unit of work and commits it (a shorthand for tests).
pub async fn in_unit<T, F>(store: &dyn Store, work: F) -> T
where
    F: for<'u> FnOnce(
        &'u mut dyn UnitOfWork,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = crate::Result<T>> + Send + 'u>,
    >,
{
    let mut uow = store.begin().await.expect("begin");
    let value = work(&mut *uow).await.expect("work");
    uow.commit().await.expect("commit");
    value
}

// Contract cases of later aggregates live in their own files, re-exported
// here so that `store_contract_tests!` finds them as `testkit::case`.
mod secrets;
pub use secrets::*;
// --- clients (issue 6) ---
mod clients;
pub use clients::*;
// --- catalogue, bookings, tickets (issue 6) ---
mod bookings;
pub use bookings::*;
// --- umrah (issue 6) ---
mod umrah;
pub use umrah::{
    new_pilgrim, new_umrah_group, new_umrah_room, room_locks_serialize_concurrent_assignments,
    seed_umrah_group, umrah_records_round_trip_and_stay_in_their_tenant,
};
// --- finance (issue 7) ---
mod finance;
pub use finance::{
    FinanceWorld, concurrent_issuers_number_invoices_without_gaps,
    one_idempotency_key_records_one_payment, payables_and_reports_keep_the_books,
    payments_refunds_and_rates_keep_the_books, voiding_needs_confirmation_and_reverses_the_ledger,
};
// --- messaging (issue 9) ---
mod messaging;
pub use messaging::{
    concurrent_claimers_never_share_a_message, courier_retries_gives_up_and_honours_the_quota,
    courier_sends_threaded_replies_into_the_mailbox_thread,
    outbox_claims_lease_and_log_every_attempt,
};
// --- privacy (issue 7) ---
mod privacy;
pub use privacy::{
    privacy_erasure_anonymises_everywhere_and_the_chain_verifies,
    privacy_erasure_of_a_user_blocks_login, privacy_export_gathers_everything_about_a_person,
    privacy_files_hook_is_listed_and_erased, retention_removes_what_is_due_and_nothing_else,
};
// --- files (issue 8) ---
pub mod files;
pub use files::{
    MemoryBlobStore, TINY_PNG, branding_saves_under_its_version,
    deleting_an_owner_deletes_its_files, failed_uploads_leave_no_blob_and_logos_replace_each_other,
    file_rows_round_trip_and_stay_with_their_owner,
    files_service_is_authorized_and_scoped_as_the_owner, tiny_pdf,
};
// --- documents (issue 8) ---
// --- outreach (issue 9) ---
mod outreach;
pub use outreach::{
    campaign_expansion_reaches_each_address_once_and_resumes, offer_template,
    outreach_templates_and_suppressions_stay_in_their_tenant,
    whatsapp_campaigns_write_template_messages_to_consenting_phones,
};
// --- documents follow-ups (issue 8) ---
mod documents;
pub use documents::{
    branding_keeps_its_emergency_contact, credit_notes_read_back_only_in_their_tenant,
};
// --- whatsapp (issue 9) ---
mod whatsapp;
pub use whatsapp::{
    whatsapp_connections_are_for_administrators_and_sealed,
    whatsapp_statuses_are_recorded_once_and_stay_in_their_tenant,
};
// --- mail ops (issue 10) ---
mod mail_ops;
pub use mail_ops::{
    FakeGoogle, FakeMailbox, MAILBOX, disconnect_stops_sync_and_deletes_mail_by_setting, inbound,
    mail_message_defects_are_stored_bounded, mail_ops_records_round_trip_and_stay_in_their_tenant,
    mail_sync_routes_tickets_once_backs_off_and_recovers,
    support_tickets_are_answered_threaded_and_authorized,
    ticket_breach_filter_matches_the_sla_in_the_query,
};
