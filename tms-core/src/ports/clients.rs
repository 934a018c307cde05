//! The clients repository: clients, their consent history, search and
//! duplicate probes. Reached through [`UnitOfWork::clients`].
//!
//! Like every repository: reads take the tenant and another tenant's client
//! is `None`; lists take a [`Scope`] and filter branches in the query;
//! updates check `version` (stale → `Conflict`).
//!
//! [`UnitOfWork::clients`]: crate::ports::UnitOfWork::clients

use async_trait::async_trait;

use crate::domain::{Client, ConsentChannel, ConsentRecord, Email, Phone};
use crate::error::Result;
use crate::id::{BranchId, ClientId, TenantId};
use crate::ports::{Page, PageRequest, Scope};
use crate::security::keyring::BlindIndex;

/// What a client search matches; every given part must match (AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientFilter {
    /// A prefix of the name's or the Latin name's search key
    /// ([`Client::search_key`]), already folded.
    pub name_prefix: Option<String>,
    /// This exact phone.
    pub phone: Option<Phone>,
    /// This exact email.
    pub email: Option<Email>,
    /// Any of these passport blind indexes (one per key in the ring); an
    /// empty list matches nothing when `passport_search` is set.
    pub passport_index: Vec<BlindIndex>,
    /// Whether to filter on `passport_index` at all.
    pub passport_search: bool,
    /// Only this branch (still inside the scope).
    pub branch_id: Option<BranchId>,
}

/// What makes two clients likely the same: any one part matching.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DuplicateProbe {
    /// Same email.
    pub email: Option<Email>,
    /// Same phone.
    pub phone: Option<Phone>,
    /// Same passport (any of these indexes).
    pub passport_index: Vec<BlindIndex>,
    /// Same name search key and date of birth (both needed).
    pub name_and_birth: Option<(String, chrono::NaiveDate)>,
    /// Leave this client out (the one being created or edited).
    pub except: Option<ClientId>,
}

impl DuplicateProbe {
    /// Whether the probe has nothing to compare.
    pub fn is_empty(&self) -> bool {
        self.email.is_none()
            && self.phone.is_none()
            && self.passport_index.is_empty()
            && self.name_and_birth.is_none()
    }
}

/// Most duplicate ids [`ClientRepo::find_duplicates`] returns.
pub const MAX_DUPLICATES: u32 = 20;

/// Clients and their consents.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ClientRepo: Send {
    /// Adds a client; `Conflict` if the id is taken.
    async fn insert(&mut self, client: &Client) -> Result<()>;
    /// Adds many clients in as few statements as the store can (imports).
    /// The default inserts them one by one.
    async fn insert_many(&mut self, clients: &[Client]) -> Result<()> {
        for client in clients {
            self.insert(client).await?;
        }
        Ok(())
    }
    /// The client, if it is the tenant's (any branch: the caller checks the
    /// branch against its scope).
    async fn get(&mut self, tenant: TenantId, id: ClientId) -> Result<Option<Client>>;
    /// Saves changes if `client.version` is current, then bumps it and
    /// `updated_at` stays as the caller set it.
    async fn update(&mut self, client: &mut Client) -> Result<()>;
    /// Removes the client and its consent history; whether it existed.
    async fn delete(&mut self, tenant: TenantId, id: ClientId) -> Result<bool>;
    /// The clients inside `scope` matching `filter`, by `(created_at, id)`.
    async fn search(
        &mut self,
        scope: &Scope,
        filter: &ClientFilter,
        page: PageRequest,
    ) -> Result<Page<Client>>;
    /// Up to [`MAX_DUPLICATES`] ids of clients inside `scope` that match
    /// any part of `probe`, oldest first.
    async fn find_duplicates(
        &mut self,
        scope: &Scope,
        probe: &DuplicateProbe,
    ) -> Result<Vec<ClientId>>;
    /// Appends a consent answer to the client's history.
    async fn add_consent(&mut self, consent: &ConsentRecord) -> Result<()>;
    /// The client's consent history, oldest first.
    async fn consents(&mut self, tenant: TenantId, client: ClientId) -> Result<Vec<ConsentRecord>>;
    /// The newest answer of `client` on `channel`, if any.
    async fn current_consent(
        &mut self,
        tenant: TenantId,
        client: ClientId,
        channel: ConsentChannel,
    ) -> Result<Option<ConsentRecord>>;
}
