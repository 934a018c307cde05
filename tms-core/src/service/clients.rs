//! Clients: create, read, search, update, delete, consent, and bulk import
//! from CSV (DESIGN.md §6).
//!
//! Every call authorizes first (clients are operational records, scoped by
//! branch), then validates, then writes and audits in one unit of work.
//! Another tenant's client and a client in a branch outside the caller's
//! scope are both `NotFound`.
//!
//! **Passport numbers** are sealed with the key ring before they reach the
//! store (table `clients`, field `passport_number`, row = the client id)
//! and indexed with a keyed blind index for exact search. They never go
//! into the audit log (the field is shown as redacted), logs or `Debug`
//! output ([`PassportNumber`]'s `Debug` shows the last two characters).
//!
//! **Duplicates** are flagged, never blocked: creating a client answers
//! with the ids of clients the caller can see that share its email, phone,
//! passport, or name and date of birth.
//!
//! **Deleting** a client is a critical action (clients have no draft
//! state): the first call returns a confirmation token. Sales may create
//! and edit clients but not delete them.

use crate::service::guard::authorize_in as authorize;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::audit::NewAuditEvent;
use crate::domain::{
    Client, ClientKind, ConsentChannel, ConsentRecord, ConsentSource, Context, Country, Email,
    LatinName, Name, PassportNumber, Phone, SealedPassport,
};
use crate::error::{Error, FieldErrors, Result};
use crate::id::{BranchId, ClientId, TenantId};
use crate::policy::{self, Action, Decision, Resource, ResourceKind};
use crate::ports::{ClientFilter, DuplicateProbe, Page, PageRequest, Scope, UnitOfWork};
use crate::security::keyring::{KeyRing, SealContext};
use crate::security::token::PlainToken;
use crate::service::import::{
    ByteSource, CsvImport, ImportColumn, ImportOptions, ImportRecord, ImportReport, ImportTarget,
};
use crate::service::tenancy::Deps;

/// The storage names the passport is sealed and indexed under.
const PASSPORT_TABLE: &str = "clients";
const PASSPORT_FIELD: &str = "passport_number";

/// A client's fields as they arrive (a form, a JSON body, a CSV row): raw
/// text, checked by [`ClientForm::parse`].
#[derive(Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientForm {
    /// `person` (default) or `company`.
    pub kind: Option<String>,
    /// The name in any script.
    pub name: Option<String>,
    /// Latin transliteration for tickets.
    pub latin_name: Option<String>,
    /// Phone, international form.
    pub phone: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Date of birth, `YYYY-MM-DD` (or `DD/MM/YYYY`, `DD.MM.YYYY`).
    pub date_of_birth: Option<String>,
    /// Nationality, ISO 3166-1 alpha-2.
    pub nationality: Option<String>,
    /// Passport number.
    pub passport_number: Option<String>,
    /// Passport expiry date.
    pub passport_expires_on: Option<String>,
}

impl std::fmt::Debug for ClientForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Personal data stays out of logs: only which fields are present.
        f.debug_struct("ClientForm")
            .field("kind", &self.kind)
            .field("name", &self.name.is_some())
            .field("passport_number", &self.passport_number.is_some())
            .finish_non_exhaustive()
    }
}

/// A client's checked fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFields {
    /// Person or company.
    pub kind: ClientKind,
    /// The name.
    pub name: Name,
    /// Latin transliteration.
    pub latin_name: Option<LatinName>,
    /// Phone.
    pub phone: Option<Phone>,
    /// Email.
    pub email: Option<Email>,
    /// Date of birth.
    pub date_of_birth: Option<NaiveDate>,
    /// Nationality.
    pub nationality: Option<Country>,
    /// Passport number (plain: sealed by the service).
    pub passport_number: Option<PassportNumber>,
    /// Passport expiry.
    pub passport_expires_on: Option<NaiveDate>,
}

fn blank(raw: &Option<String>) -> Option<&str> {
    raw.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Parses a date as `YYYY-MM-DD`, `DD/MM/YYYY` or `DD.MM.YYYY` (day first,
/// as agencies in the Gulf, South Asia and Europe write it).
pub fn parse_date(field: &'static str, raw: &str) -> Result<NaiveDate> {
    let raw = raw.trim();
    ["%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y"]
        .iter()
        .find_map(|format| NaiveDate::parse_from_str(raw, format).ok())
        .ok_or_else(|| Error::invalid(field, "must be a date like 1990-02-28"))
}

impl ClientForm {
    /// Checks every field (all errors at once); `today` bounds the date of
    /// birth.
    pub fn parse(&self, today: NaiveDate) -> Result<ClientFields> {
        let mut errors = FieldErrors::new();
        let kind = match blank(&self.kind) {
            None => Some(ClientKind::Person),
            Some(raw) => errors.check("kind", ClientKind::parse(raw)),
        };
        let name = match blank(&self.name) {
            None => {
                errors.push("name", "is required");
                None
            }
            Some(raw) => errors.check("name", Name::parse(raw)),
        };
        let latin_name = blank(&self.latin_name)
            .and_then(|raw| errors.check("latin_name", LatinName::parse(raw)).map(Some));
        let phone =
            blank(&self.phone).and_then(|raw| errors.check("phone", Phone::parse(raw)).map(Some));
        let email =
            blank(&self.email).and_then(|raw| errors.check("email", Email::parse(raw)).map(Some));
        let date_of_birth = blank(&self.date_of_birth).and_then(|raw| {
            let date = errors.check("date_of_birth", parse_date("date_of_birth", raw))?;
            if date > today {
                errors.push("date_of_birth", "must not be in the future");
                return None;
            }
            Some(Some(date))
        });
        let nationality = blank(&self.nationality)
            .and_then(|raw| errors.check("nationality", Country::parse(raw)).map(Some));
        let passport_number = blank(&self.passport_number).and_then(|raw| {
            errors
                .check("passport_number", PassportNumber::parse(raw))
                .map(Some)
        });
        let passport_expires_on = blank(&self.passport_expires_on).and_then(|raw| {
            errors
                .check(
                    "passport_expires_on",
                    parse_date("passport_expires_on", raw),
                )
                .map(Some)
        });
        if passport_expires_on.is_some()
            && passport_number.is_none()
            && !errors
                .as_slice()
                .iter()
                .any(|e| e.field == "passport_number")
        {
            errors.push("passport_expires_on", "needs a passport number");
        }
        errors.into_result()?;
        match (kind, name) {
            (Some(kind), Some(name)) => Ok(ClientFields {
                kind,
                name,
                latin_name: latin_name.flatten(),
                phone: phone.flatten(),
                email: email.flatten(),
                date_of_birth: date_of_birth.flatten(),
                nationality: nationality.flatten(),
                passport_number: passport_number.flatten(),
                passport_expires_on: passport_expires_on.flatten(),
            }),
            _ => Err(Error::invalid("name", "is required")),
        }
    }
}

/// Deserializes a present field (even `null`) as `Some(value)`, so that a
/// patch tells "leave as is" (absent) from "clear" (`null`).
fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<String>>, D::Error> {
    <Option<String> as serde::Deserialize>::deserialize(d).map(Some)
}

/// A partial update: absent fields stay, `null` (or empty text) clears an
/// optional field. `version` is the version the caller read.
#[derive(Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    /// The version the caller edited; a newer stored one is a conflict.
    pub version: i64,
    /// Move the client to this branch.
    pub branch_id: Option<BranchId>,
    /// `person` or `company`.
    #[serde(default, deserialize_with = "present")]
    pub kind: Option<Option<String>>,
    /// The name.
    #[serde(default, deserialize_with = "present")]
    pub name: Option<Option<String>>,
    /// Latin transliteration.
    #[serde(default, deserialize_with = "present")]
    pub latin_name: Option<Option<String>>,
    /// Phone.
    #[serde(default, deserialize_with = "present")]
    pub phone: Option<Option<String>>,
    /// Email.
    #[serde(default, deserialize_with = "present")]
    pub email: Option<Option<String>>,
    /// Date of birth.
    #[serde(default, deserialize_with = "present")]
    pub date_of_birth: Option<Option<String>>,
    /// Nationality.
    #[serde(default, deserialize_with = "present")]
    pub nationality: Option<Option<String>>,
    /// Passport number.
    #[serde(default, deserialize_with = "present")]
    pub passport_number: Option<Option<String>>,
    /// Passport expiry.
    #[serde(default, deserialize_with = "present")]
    pub passport_expires_on: Option<Option<String>>,
}

impl std::fmt::Debug for ClientPatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientPatch")
            .field("version", &self.version)
            .field("branch_id", &self.branch_id)
            .field("passport_number", &self.passport_number.is_some())
            .finish_non_exhaustive()
    }
}

impl ClientPatch {
    /// The form that results from applying the patch to `current`.
    fn apply(&self, current: ClientForm) -> ClientForm {
        let pick = |patch: &Option<Option<String>>, now: Option<String>| match patch {
            Some(value) => value.clone(),
            None => now,
        };
        ClientForm {
            kind: pick(&self.kind, current.kind),
            name: pick(&self.name, current.name),
            latin_name: pick(&self.latin_name, current.latin_name),
            phone: pick(&self.phone, current.phone),
            email: pick(&self.email, current.email),
            date_of_birth: pick(&self.date_of_birth, current.date_of_birth),
            nationality: pick(&self.nationality, current.nationality),
            passport_number: pick(&self.passport_number, current.passport_number),
            passport_expires_on: pick(&self.passport_expires_on, current.passport_expires_on),
        }
    }
}

/// A client with its passport number opened, for a caller who may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientDetails {
    /// The stored client (passport sealed).
    pub client: Client,
    /// The passport number, opened.
    pub passport_number: Option<PassportNumber>,
}

/// A new client and the clients it may duplicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedClient {
    /// The client.
    pub details: ClientDetails,
    /// Ids of likely duplicates the caller can see (oldest first).
    pub duplicates: Vec<ClientId>,
}

/// Search parameters as they arrive (query string): raw text.
#[derive(Clone, Default, serde::Deserialize)]
pub struct ClientQuery {
    /// Name prefix (name or Latin name).
    pub q: Option<String>,
    /// Exact phone.
    pub phone: Option<String>,
    /// Exact email.
    pub email: Option<String>,
    /// Exact passport number.
    pub passport: Option<String>,
    /// Only this branch.
    pub branch_id: Option<BranchId>,
}

impl std::fmt::Debug for ClientQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A passport number searched for stays out of logs.
        f.debug_struct("ClientQuery")
            .field("q", &self.q)
            .field("phone", &self.phone)
            .field("email", &self.email)
            .field("passport", &self.passport.as_ref().map(|_| "[hidden]"))
            .field("branch_id", &self.branch_id)
            .finish()
    }
}

/// A consent answer to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct ConsentChange {
    /// The channel.
    pub channel: ConsentChannel,
    /// Granted or withdrawn.
    pub granted: bool,
    /// Where it came from.
    pub source: ConsentSource,
}

/// The clients service.
#[derive(Debug, Clone)]
pub struct Clients {
    deps: Deps,
    keyring: Arc<KeyRing>,
    // --- files (issue 8) ---
    blobs: Option<Arc<dyn crate::ports::BlobStore>>,
}

impl Clients {
    /// The service over `deps`, sealing passports with `keyring`.
    pub fn new(deps: Deps, keyring: Arc<KeyRing>) -> Self {
        Self {
            deps,
            keyring,
            blobs: None,
        }
    }

    // --- files (issue 8) ---
    /// Deletes the bytes of a deleted client's documents from `blobs`
    /// (without it, only their rows go, and the bytes stay unreachable).
    pub fn with_blobs(mut self, blobs: Arc<dyn crate::ports::BlobStore>) -> Self {
        self.blobs = Some(blobs);
        self
    }

    /// Creates a client in `branch`; answers with likely duplicates.
    pub async fn create(
        &self,
        ctx: &Context,
        branch: BranchId,
        form: &ClientForm,
    ) -> Result<CreatedClient> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::Client, tenant).in_branch(branch);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Create, &resource, None).await?;
        let fields = form.parse(ctx.now.date_naive())?;
        open_branch(&mut *uow, tenant, branch).await?;
        let id = ClientId::generate_at(ctx.now, self.deps.random.as_ref());
        let client = self.build(tenant, id, branch, &fields, ctx.now, 1)?;
        let duplicates = uow
            .clients()
            .find_duplicates(
                &Scope::of(&ctx.principal),
                &probe(&self.keyring, &client, &fields),
            )
            .await?;
        uow.clients().insert(&client).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "client.created", "client", Some(id.as_uuid()))
                    .in_branch(branch)
                    .with_change(None, Some(audit_view(&client, &duplicates))),
            )
            .await?;
        uow.commit().await?;
        Ok(CreatedClient {
            details: ClientDetails {
                client,
                passport_number: fields.passport_number,
            },
            duplicates,
        })
    }

    /// One client, passport opened.
    pub async fn get(&self, ctx: &Context, id: ClientId) -> Result<ClientDetails> {
        let (uow, client) = self.load(ctx, id, Action::Read, None).await?;
        uow.rollback().await?;
        self.details(client)
    }

    /// The clients the caller sees matching `query`, a page at a time.
    pub async fn list(
        &self,
        ctx: &Context,
        query: &ClientQuery,
        page: PageRequest,
    ) -> Result<Page<ClientDetails>> {
        let tenant = ctx.principal.tenant_id();
        let mut resource = Resource::new(ResourceKind::Client, tenant);
        if let Some(branch) = query.branch_id {
            resource = resource.in_branch(branch);
        }
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Read, &resource, None).await?;
        let filter = self.filter(tenant, query)?;
        let found = uow
            .clients()
            .search(&Scope::of(&ctx.principal), &filter, page)
            .await?;
        uow.rollback().await?;
        let items = found
            .items
            .into_iter()
            .map(|c| self.details(c))
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items,
            next: found.next,
        })
    }

    /// Applies `patch` if `patch.version` is current (else `Conflict`).
    pub async fn update(
        &self,
        ctx: &Context,
        id: ClientId,
        patch: &ClientPatch,
    ) -> Result<ClientDetails> {
        let (mut uow, before) = self.load(ctx, id, Action::Update, None).await?;
        if before.version != patch.version {
            return Err(Error::conflict(
                "the client was changed by someone else; reload and retry",
            ));
        }
        let tenant = before.tenant_id;
        let branch = patch.branch_id.unwrap_or(before.branch_id);
        if branch != before.branch_id {
            let target = Resource::new(ResourceKind::Client, tenant)
                .in_branch(branch)
                .with_id(id);
            if let Decision::Deny(reason) =
                policy::authorize(&ctx.principal, Action::Update, &target)
            {
                return Err(reason.into_error(ResourceKind::Branch));
            }
            open_branch(&mut *uow, tenant, branch).await?;
        }
        let current = self.details(before.clone())?;
        let fields = patch.apply(form_of(&current)).parse(ctx.now.date_naive())?;
        let mut client = self.build(
            tenant,
            id,
            branch,
            &fields,
            before.created_at,
            before.version,
        )?;
        if fields.passport_number == current.passport_number {
            // Unchanged: keep the stored ciphertext rather than re-seal.
            client.passport = before.passport.clone();
        }
        client.updated_at = ctx.now;
        uow.clients().update(&mut client).await?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "client.updated", "client", Some(id.as_uuid()))
                    .in_branch(branch)
                    .with_change(
                        Some(audit_view(&before, &[])),
                        Some(audit_view(&client, &[])),
                    ),
            )
            .await?;
        uow.commit().await?;
        Ok(ClientDetails {
            client,
            passport_number: fields.passport_number,
        })
    }

    /// Deletes a client and its consent history. Critical: without
    /// `confirmation` this fails with `ConfirmationRequired` and a token;
    /// repeat with it.
    pub async fn delete(
        &self,
        ctx: &Context,
        id: ClientId,
        confirmation: Option<&PlainToken>,
    ) -> Result<()> {
        let (mut uow, before) = self.load(ctx, id, Action::Delete, confirmation).await?;
        // --- files (issue 8) ---
        let blob_keys = crate::service::files::delete_owned_rows(
            &mut *uow,
            ctx,
            crate::ports::FileOwner::Client(id),
        )
        .await?;
        // Bookings and pilgrims refer to their client (foreign keys): the
        // store refuses the delete with a bare `Conflict`. Say what to do.
        uow.clients()
            .delete(before.tenant_id, id)
            .await
            .map_err(|e| match e {
                Error::Conflict { .. } => Error::conflict(
                    "the client still has bookings or pilgrim records; cancel those, \
                     or erase the client's personal data instead of deleting",
                ),
                other => other,
            })?;
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "client.deleted", "client", Some(id.as_uuid()))
                    .in_branch(before.branch_id)
                    .with_change(Some(audit_view(&before, &[])), None),
            )
            .await?;
        uow.commit().await?;
        crate::service::files::purge_blobs(self.blobs.as_ref(), &blob_keys).await;
        Ok(())
    }

    /// The client's consent history, oldest first.
    pub async fn consents(&self, ctx: &Context, id: ClientId) -> Result<Vec<ConsentRecord>> {
        let (mut uow, client) = self.load(ctx, id, Action::Read, None).await?;
        let history = uow.clients().consents(client.tenant_id, id).await?;
        uow.rollback().await?;
        Ok(history)
    }

    /// Records a consent answer (granted or withdrawn) on one channel.
    pub async fn record_consent(
        &self,
        ctx: &Context,
        id: ClientId,
        change: ConsentChange,
    ) -> Result<ConsentRecord> {
        let (mut uow, client) = self.load(ctx, id, Action::Update, None).await?;
        let record = ConsentRecord {
            id: crate::id::new_uuid_v7(ctx.now, self.deps.random.as_ref()),
            tenant_id: client.tenant_id,
            client_id: id,
            channel: change.channel,
            granted: change.granted,
            source: change.source,
            at: ctx.now,
            recorded_by: ctx.principal.user_id(),
        };
        let before = uow
            .clients()
            .current_consent(client.tenant_id, id, change.channel)
            .await?;
        uow.clients().add_consent(&record).await?;
        let action = if change.granted {
            "client.consent.granted"
        } else {
            "client.consent.withdrawn"
        };
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, action, "client", Some(id.as_uuid()))
                    .in_branch(client.branch_id)
                    .with_change(
                        Some(json!({
                            "channel": change.channel,
                            "granted": before.map(|b| b.granted),
                        })),
                        Some(json!({
                            "channel": change.channel,
                            "granted": change.granted,
                            "source": change.source,
                        })),
                    ),
            )
            .await?;
        uow.commit().await?;
        Ok(record)
    }

    /// Whether the client currently consents to `channel` (the newest
    /// answer is a grant). The outreach service sends only when this holds.
    pub async fn consents_to(
        &self,
        ctx: &Context,
        id: ClientId,
        channel: ConsentChannel,
    ) -> Result<bool> {
        let (mut uow, client) = self.load(ctx, id, Action::Read, None).await?;
        let answer = consents_to(&mut *uow, client.tenant_id, id, channel).await?;
        uow.rollback().await?;
        Ok(answer)
    }

    /// Imports clients from CSV into `branch`: every row checked, nothing
    /// written unless all are valid (see [`crate::service::import`]). One
    /// `clients.imported` audit event records the counts. `on_progress`
    /// gets the bytes read so far.
    pub async fn import_csv(
        &self,
        ctx: &Context,
        branch: BranchId,
        source: &mut dyn ByteSource,
        options: ImportOptions,
        on_progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<ImportReport> {
        let tenant = ctx.principal.tenant_id();
        let resource = Resource::new(ResourceKind::Client, tenant).in_branch(branch);
        let uow = self.deps.store.begin().await?;
        let mut uow = authorize(uow, &self.deps, ctx, Action::Create, &resource, None).await?;
        open_branch(&mut *uow, tenant, branch).await?;
        let dry_run = options.dry_run;
        let target = ClientImport {
            service: self.clone(),
            tenant,
            branch,
            now: ctx.now,
            recorded_by: ctx.principal.user_id(),
        };
        let import = CsvImport::new(target, options);
        let mut report = import.run(&mut *uow, source, on_progress).await?;
        if dry_run || !report.is_clean() {
            uow.rollback().await?;
            report.written = 0;
            return Ok(report);
        }
        uow.audit()
            .append(
                NewAuditEvent::new(ctx, "clients.imported", "client", None)
                    .in_branch(branch)
                    .with_change(
                        None,
                        Some(json!({ "rows": report.rows, "written": report.written })),
                    ),
            )
            .await?;
        uow.commit().await?;
        report.committed = true;
        Ok(report)
    }

    /// Builds a client from checked fields, sealing the passport.
    fn build(
        &self,
        tenant: TenantId,
        id: ClientId,
        branch: BranchId,
        fields: &ClientFields,
        created_at: DateTime<Utc>,
        version: i64,
    ) -> Result<Client> {
        let passport = fields
            .passport_number
            .as_ref()
            .map(|number| self.seal(tenant, id, number))
            .transpose()?;
        Ok(Client {
            id,
            tenant_id: tenant,
            branch_id: branch,
            kind: fields.kind,
            name: fields.name.clone(),
            latin_name: fields.latin_name.clone(),
            phone: fields.phone.clone(),
            email: fields.email.clone(),
            date_of_birth: fields.date_of_birth,
            nationality: fields.nationality,
            passport,
            passport_expires_on: fields.passport_expires_on,
            created_at,
            updated_at: created_at,
            version,
        })
    }

    fn seal(
        &self,
        tenant: TenantId,
        id: ClientId,
        number: &PassportNumber,
    ) -> Result<SealedPassport> {
        let plain = number.expose().as_bytes();
        Ok(SealedPassport {
            sealed: self.keyring.seal(
                plain,
                &seal_context(tenant, id),
                self.deps.random.as_ref(),
            )?,
            index: self.keyring.blind_index(tenant, PASSPORT_FIELD, plain)?,
        })
    }

    /// Opens the passport of `client`.
    fn details(&self, client: Client) -> Result<ClientDetails> {
        let passport_number = match &client.passport {
            None => None,
            Some(p) => {
                let plain = self
                    .keyring
                    .open_string(&p.sealed, &seal_context(client.tenant_id, client.id))?;
                Some(
                    PassportNumber::parse(plain.expose())
                        .map_err(|_| Error::internal("a stored passport number is not valid"))?,
                )
            }
        };
        Ok(ClientDetails {
            client,
            passport_number,
        })
    }

    fn filter(&self, tenant: TenantId, query: &ClientQuery) -> Result<ClientFilter> {
        let mut errors = FieldErrors::new();
        let phone = blank(&query.phone).and_then(|raw| errors.check("phone", Phone::parse(raw)));
        let email = blank(&query.email).and_then(|raw| errors.check("email", Email::parse(raw)));
        let passport = blank(&query.passport)
            .and_then(|raw| errors.check("passport", PassportNumber::parse(raw)));
        errors.into_result()?;
        let passport_search = passport.is_some();
        Ok(ClientFilter {
            name_prefix: blank(&query.q).map(Client::search_key),
            phone,
            email,
            passport_index: passport
                .map(|p| {
                    self.keyring.blind_index_candidates(
                        tenant,
                        PASSPORT_FIELD,
                        p.expose().as_bytes(),
                    )
                })
                .unwrap_or_default(),
            passport_search,
            branch_id: query.branch_id,
        })
    }

    /// Authorizes `action` on clients, loads `id` of the caller's tenant,
    /// hides it when its branch is outside the caller's scope, then runs
    /// the full check on that client (confirming a critical action).
    async fn load(
        &self,
        ctx: &Context,
        id: ClientId,
        action: Action,
        confirmation: Option<&PlainToken>,
    ) -> Result<(Box<dyn UnitOfWork>, Client)> {
        let tenant = ctx.principal.tenant_id();
        // First whether the caller may see clients at all, so that a role
        // without access learns nothing about which ids exist; the action
        // itself is checked on the loaded client, where (as the policy
        // orders it) a branch outside the scope is `NotFound` before a
        // missing grant is `Forbidden`.
        let class = Resource::new(ResourceKind::Client, tenant);
        if let Decision::Deny(reason) = policy::authorize(&ctx.principal, Action::Read, &class) {
            return Err(reason.into_error(ResourceKind::Client));
        }
        let mut uow = self.deps.store.begin().await?;
        let client = uow
            .clients()
            .get(tenant, id)
            .await?
            .filter(|c| ctx.principal.sees_branch(c.branch_id))
            .ok_or(Error::not_found("client"))?;
        let resource = Resource::new(ResourceKind::Client, tenant)
            .in_branch(client.branch_id)
            .with_id(id);
        let uow = authorize(uow, &self.deps, ctx, action, &resource, confirmation).await?;
        Ok((uow, client))
    }
}

/// Whether `client` currently consents to `channel`, inside a unit of work
/// (for services and workers that already hold one).
pub async fn consents_to(
    uow: &mut dyn UnitOfWork,
    tenant: TenantId,
    client: ClientId,
    channel: ConsentChannel,
) -> Result<bool> {
    Ok(uow
        .clients()
        .current_consent(tenant, client, channel)
        .await?
        .is_some_and(|c| c.granted))
}

fn seal_context(tenant: TenantId, id: ClientId) -> SealContext<'static> {
    SealContext {
        tenant_id: tenant,
        table: PASSPORT_TABLE,
        row: id.as_uuid(),
        field: PASSPORT_FIELD,
    }
}

fn probe(keyring: &KeyRing, client: &Client, fields: &ClientFields) -> DuplicateProbe {
    DuplicateProbe {
        email: client.email.clone(),
        phone: client.phone.clone(),
        passport_index: fields
            .passport_number
            .as_ref()
            .map(|p| {
                keyring.blind_index_candidates(
                    client.tenant_id,
                    PASSPORT_FIELD,
                    p.expose().as_bytes(),
                )
            })
            .unwrap_or_default(),
        name_and_birth: client
            .date_of_birth
            .map(|born| (Client::search_key(client.name.as_str()), born)),
        except: Some(client.id),
    }
}

/// The form that reproduces `details` (to apply a patch to).
fn form_of(details: &ClientDetails) -> ClientForm {
    let c = &details.client;
    let date = |d: Option<NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string());
    ClientForm {
        kind: Some(c.kind.as_str().to_owned()),
        name: Some(c.name.as_str().to_owned()),
        latin_name: c.latin_name.as_ref().map(|l| l.as_str().to_owned()),
        phone: c.phone.as_ref().map(|p| p.as_str().to_owned()),
        email: c.email.as_ref().map(|e| e.as_str().to_owned()),
        date_of_birth: date(c.date_of_birth),
        nationality: c.nationality.map(|n| n.as_str().to_owned()),
        passport_number: details
            .passport_number
            .as_ref()
            .map(|p| p.expose().to_owned()),
        passport_expires_on: date(c.passport_expires_on),
    }
}

/// What the audit log keeps of a client: everything but the passport
/// number, which shows only whether there is one (and the audit module
/// redacts `passport*` fields on top).
fn audit_view(c: &Client, duplicates: &[ClientId]) -> Value {
    let mut view = json!({
        "branch_id": c.branch_id,
        "kind": c.kind,
        "name": c.name,
        "latin_name": c.latin_name,
        "phone": c.phone,
        "email": c.email,
        "date_of_birth": c.date_of_birth,
        "nationality": c.nationality,
        "passport_number": c.passport.as_ref().map(|_| "[sealed]"),
        "passport_expires_on": c.passport_expires_on,
        "version": c.version,
    });
    if !duplicates.is_empty()
        && let Some(map) = view.as_object_mut()
    {
        map.insert("likely_duplicates".into(), json!(duplicates));
    }
    view
}

/// The branch, if it is the tenant's and open: a missing one is
/// `NotFound`, a closed one `Conflict`.
async fn open_branch(uow: &mut dyn UnitOfWork, tenant: TenantId, branch: BranchId) -> Result<()> {
    let found = uow
        .branches()
        .get(tenant, branch)
        .await?
        .ok_or(Error::not_found("branch"))?;
    if !found.is_open() {
        return Err(Error::conflict("the branch is closed"));
    }
    Ok(())
}

// ------------------------------------------------------------------ import

/// The columns of a client import. Consent columns take yes/no
/// (`yes`, `y`, `true`, `1`, `no`, `n`, `false`, `0`); an empty cell
/// records nothing.
pub const CLIENT_IMPORT_COLUMNS: &[ImportColumn] = &[
    ImportColumn {
        name: "kind",
        aliases: &["type", "client_type"],
        required: false,
    },
    ImportColumn {
        name: "name",
        aliases: &["full_name", "client_name", "client"],
        required: true,
    },
    ImportColumn {
        name: "latin_name",
        aliases: &[
            "name_latin",
            "transliteration",
            "english_name",
            "ticket_name",
        ],
        required: false,
    },
    ImportColumn {
        name: "phone",
        aliases: &[
            "mobile",
            "telephone",
            "tel",
            "phone_number",
            "mobile_number",
        ],
        required: false,
    },
    ImportColumn {
        name: "email",
        aliases: &["e_mail", "mail", "email_address"],
        required: false,
    },
    ImportColumn {
        name: "date_of_birth",
        aliases: &["dob", "birth_date", "birthdate", "birthday"],
        required: false,
    },
    ImportColumn {
        name: "nationality",
        aliases: &["country", "citizenship"],
        required: false,
    },
    ImportColumn {
        name: "passport_number",
        aliases: &["passport", "passport_no", "passport_num"],
        required: false,
    },
    ImportColumn {
        name: "passport_expires_on",
        aliases: &[
            "passport_expiry",
            "passport_expiry_date",
            "passport_expires",
            "expiry_date",
        ],
        required: false,
    },
    ImportColumn {
        name: "consent_email",
        aliases: &["email_consent"],
        required: false,
    },
    ImportColumn {
        name: "consent_whatsapp",
        aliases: &["whatsapp_consent"],
        required: false,
    },
    ImportColumn {
        name: "consent_marketing",
        aliases: &["marketing_consent"],
        required: false,
    },
];

/// One valid import row.
#[derive(Debug)]
pub struct ImportedClient {
    client: Client,
    consents: Vec<(ConsentChannel, bool)>,
}

struct ClientImport {
    service: Clients,
    tenant: TenantId,
    branch: BranchId,
    now: DateTime<Utc>,
    recorded_by: Option<crate::id::UserId>,
}

fn yes_no(field: &'static str, raw: &str) -> Result<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "1" => Ok(true),
        "no" | "n" | "false" | "0" => Ok(false),
        _ => Err(Error::invalid(field, "must be yes or no")),
    }
}

#[async_trait::async_trait]
impl ImportTarget for ClientImport {
    type Row = ImportedClient;

    fn columns(&self) -> &[ImportColumn] {
        CLIENT_IMPORT_COLUMNS
    }

    fn parse_row(
        &self,
        record: &ImportRecord<'_>,
    ) -> std::result::Result<ImportedClient, FieldErrors> {
        let text = |column: &str| record.get(column).map(str::to_owned);
        let form = ClientForm {
            kind: text("kind"),
            name: text("name"),
            latin_name: text("latin_name"),
            phone: text("phone"),
            email: text("email"),
            date_of_birth: text("date_of_birth"),
            nationality: text("nationality"),
            passport_number: text("passport_number"),
            passport_expires_on: text("passport_expires_on"),
        };
        let mut errors = FieldErrors::new();
        let fields = match form.parse(self.now.date_naive()) {
            Ok(fields) => Some(fields),
            Err(Error::Invalid(found)) => {
                for e in found.as_slice() {
                    errors.push(e.field.clone(), e.message.clone());
                }
                None
            }
            Err(other) => return Err(FieldErrors::single("row", other.to_string())),
        };
        let mut consents = Vec::new();
        for (column, channel) in [
            ("consent_email", ConsentChannel::Email),
            ("consent_whatsapp", ConsentChannel::Whatsapp),
            ("consent_marketing", ConsentChannel::Marketing),
        ] {
            if let Some(raw) = record.get(column)
                && let Some(granted) = errors.check(column, yes_no(column, raw))
            {
                consents.push((channel, granted));
            }
        }
        let fields = match fields {
            Some(fields) if errors.is_empty() => fields,
            _ => return Err(errors),
        };
        let id = ClientId::generate_at(self.now, self.service.deps.random.as_ref());
        let client = self
            .service
            .build(self.tenant, id, self.branch, &fields, self.now, 1)
            .map_err(|e| FieldErrors::single("passport_number", e.to_string()))?;
        Ok(ImportedClient { client, consents })
    }

    async fn write_batch(&self, uow: &mut dyn UnitOfWork, rows: Vec<ImportedClient>) -> Result<()> {
        let clients: Vec<Client> = rows.iter().map(|r| r.client.clone()).collect();
        uow.clients().insert_many(&clients).await?;
        for row in &rows {
            for &(channel, granted) in &row.consents {
                let record = ConsentRecord {
                    id: crate::id::new_uuid_v7(self.now, self.service.deps.random.as_ref()),
                    tenant_id: self.tenant,
                    client_id: row.client.id,
                    channel,
                    granted,
                    source: ConsentSource::Import,
                    at: self.now,
                    recorded_by: self.recorded_by,
                };
                uow.clients().add_consent(&record).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
    }

    #[test]
    fn a_form_reports_every_broken_field_at_once() {
        let form = ClientForm {
            kind: Some("robot".into()),
            name: None,
            latin_name: Some("محمد".into()),
            phone: Some("0501234567".into()),
            email: Some("nope".into()),
            date_of_birth: Some("2030-01-01".into()),
            nationality: Some("XX".into()),
            passport_number: Some("12".into()),
            passport_expires_on: Some("soon".into()),
        };
        let Err(Error::Invalid(errors)) = form.parse(today()) else {
            panic!("expected invalid");
        };
        let fields: Vec<&str> = errors.as_slice().iter().map(|e| &*e.field).collect();
        assert_eq!(
            fields,
            [
                "kind",
                "name",
                "latin_name",
                "phone",
                "email",
                "date_of_birth",
                "nationality",
                "passport_number",
                "passport_expires_on"
            ]
        );
    }

    #[test]
    fn forms_normalise_and_accept_day_first_dates() {
        let form = ClientForm {
            name: Some("  عائشہ صدیقہ ".into()),
            phone: Some("00966 50 123 4567".into()),
            email: Some("A@B.CO".into()),
            date_of_birth: Some("28/02/1990".into()),
            passport_number: Some("ab 123-4567".into()),
            passport_expires_on: Some("31.12.2031".into()),
            ..ClientForm::default()
        };
        let fields = form.parse(today()).unwrap();
        assert_eq!(fields.name.as_str(), "عائشہ صدیقہ");
        assert_eq!(fields.kind, ClientKind::Person);
        assert_eq!(fields.phone.unwrap().as_str(), "+966501234567");
        assert_eq!(fields.email.unwrap().as_str(), "a@b.co");
        assert_eq!(fields.date_of_birth, NaiveDate::from_ymd_opt(1990, 2, 28));
        assert_eq!(fields.passport_number.unwrap().expose(), "AB1234567");
        assert_eq!(
            fields.passport_expires_on,
            NaiveDate::from_ymd_opt(2031, 12, 31)
        );
    }

    #[test]
    fn debug_of_forms_and_patches_never_shows_the_passport() {
        let form = ClientForm {
            name: Some("Amina".into()),
            passport_number: Some("AB1234567".into()),
            ..ClientForm::default()
        };
        let patch: ClientPatch =
            serde_json::from_str(r#"{"version": 1, "passport_number": "AB1234567"}"#).unwrap();
        for shown in [format!("{form:?}"), format!("{patch:?}")] {
            assert!(!shown.contains("1234567"), "{shown}");
        }
    }

    #[test]
    fn patches_tell_absent_from_null() {
        let patch: ClientPatch =
            serde_json::from_str(r#"{"version": 3, "phone": null, "name": "New"}"#).unwrap();
        let current = ClientForm {
            name: Some("Old".into()),
            phone: Some("+966501234567".into()),
            email: Some("a@b.co".into()),
            ..ClientForm::default()
        };
        let next = patch.apply(current);
        assert_eq!(next.name.as_deref(), Some("New"));
        assert_eq!(next.phone, None);
        assert_eq!(next.email.as_deref(), Some("a@b.co"));
        assert!(serde_json::from_str::<ClientPatch>(r#"{"version": 1, "x": 1}"#).is_err());
    }

    #[test]
    fn consent_cells_are_yes_or_no() {
        assert!(yes_no("c", " Yes ").unwrap());
        assert!(!yes_no("c", "0").unwrap());
        assert!(yes_no("c", "maybe").is_err());
    }
}
