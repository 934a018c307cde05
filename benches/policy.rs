//! Policy decisions: `tms_core::policy::authorize` side by side with the same
//! policy written for cedar-policy (`policy.cedar`) and for casbin-rs
//! (`casbin_model.conf`, `casbin_policy.csv`).
//!
//! ```text
//! cargo bench -p tms-benches --bench policy            # measure
//! cargo bench -p tms-benches --bench policy -- --test  # agreement check only, fast
//! ```
//!
//! A fixed, seeded set of [`REQUESTS`] mixed requests (every role and the
//! system principal, every class and action, own and other tenants, branches
//! in and out of scope, drafts, super-admin subjects, own accounts) is built
//! once. Before anything is measured, all three engines must agree on every
//! request (Allow / Deny / ConfirmationRequired); the check runs in criterion's
//! `--test` mode too. Each benchmark then decides the whole set, as often as
//! criterion asks, and reports the elapsed time divided by the set's size:
//! criterion's `time` is per decision, its throughput decisions per second.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(missing_docs)]

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hint::black_box;
use std::str::FromStr;
use std::time::Instant;

use casbin::EnforceContext;
use casbin::prelude::{CoreApi, DefaultModel, Enforcer, StringAdapter};
use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityId, EntityTypeName,
    EntityUid, PolicySet, Request, RestrictedExpression, Schema, ValidationMode, Validator,
};
use criterion::{Bencher, Criterion, Throughput, criterion_group, criterion_main};
use tms_core::domain::{BranchScope, Principal, Role};
use tms_core::id::{BranchId, TenantId, UserId};
use tms_core::policy::{Action, Decision, Resource, ResourceKind, authorize};

/// How many requests the fixed set holds.
const REQUESTS: usize = 1024;
/// The generator's seed: the set is the same on every run.
const SEED: u64 = 0x7345_2026_0001;
const TENANTS: usize = 4;
const BRANCHES_PER_TENANT: usize = 4;

const CEDAR_POLICIES: &str = include_str!("policy.cedar");
const CEDAR_SCHEMA: &str = include_str!("policy.cedarschema");
const CASBIN_MODEL: &str = include_str!("casbin_model.conf");
const CASBIN_POLICY: &str = include_str!("casbin_policy.csv");

// ---------------------------------------------------------------------------
// The request set.
// ---------------------------------------------------------------------------

/// SplitMix64: small, seeded, good enough to mix requests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// A random UUID, as text (parsed by the typed ids' `FromStr`).
    fn uuid(&mut self) -> String {
        let (hi, lo) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xffff,
            hi & 0xffff,
            lo >> 48,
            lo & 0xffff_ffff_ffff
        )
    }

    fn id<T: FromStr<Err: fmt::Debug>>(&mut self) -> T {
        self.uuid().parse().unwrap()
    }
}

/// One request: an index into the principals, the action, the resource.
struct Req {
    who: usize,
    action: Action,
    resource: Resource,
}

struct World {
    principals: Vec<Principal>,
    requests: Vec<Req>,
}

/// The fixed, deterministic request set.
fn world() -> World {
    let mut rng = Rng(SEED);
    let tenants: Vec<TenantId> = (0..TENANTS).map(|_| rng.id::<TenantId>()).collect();
    let branches: Vec<Vec<BranchId>> = (0..TENANTS)
        .map(|_| {
            (0..BRANCHES_PER_TENANT)
                .map(|_| rng.id::<BranchId>())
                .collect()
        })
        .collect();

    // Per tenant: each role with several scopes, and one job.
    let mut principals = Vec::new();
    let mut tenant_of = Vec::new();
    for (t, &tenant) in tenants.iter().enumerate() {
        let b = &branches[t];
        for role in Role::ALL {
            let scopes = [
                BranchScope::only([b[0]]),
                BranchScope::only([b[0], b[1]]),
                BranchScope::All,
                BranchScope::only([]),
            ];
            for scope in scopes {
                let user = rng.id::<UserId>();
                principals.push(Principal::user(user, tenant, role, scope));
                tenant_of.push(t);
            }
        }
        principals.push(Principal::system(tenant, "outbox"));
        tenant_of.push(t);
    }

    let common = [Action::Read, Action::Create, Action::Update];
    let mut requests = Vec::with_capacity(REQUESTS);
    while requests.len() < REQUESTS {
        let who = rng.below(principals.len());
        let principal = &principals[who];
        // Mostly everyday actions, but every action often enough.
        let action = if rng.chance(40) {
            rng.pick(&common)
        } else {
            rng.pick(&Action::ALL)
        };
        // Restricted actions mostly on their own kind.
        let kind = match action.only_on() {
            Some(kind) if rng.chance(70) => kind,
            _ => rng.pick(ResourceKind::ALL),
        };
        let t = if rng.chance(85) {
            tenant_of[who]
        } else {
            (tenant_of[who] + 1 + rng.below(TENANTS - 1)) % TENANTS
        };
        let mut resource = Resource::new(kind, tenants[t]);
        if rng.chance(70) {
            resource = resource.in_branch(rng.pick(&branches[t]));
        }
        if rng.chance(25) {
            resource = resource.draft();
        }
        if kind == ResourceKind::User {
            match principal.user_id() {
                Some(me) if rng.chance(30) => {
                    resource = resource.with_id(me);
                    if let Some(role) = principal.role() {
                        resource = resource.with_subject_role(role);
                    }
                }
                _ => {
                    resource = resource.with_id(rng.id::<UserId>());
                    if rng.chance(70) {
                        resource = resource.with_subject_role(rng.pick(&Role::ALL));
                    }
                    if action == Action::ChangeAccess && rng.chance(50) {
                        resource = resource.granting_role(rng.pick(&Role::ALL));
                    }
                }
            }
        } else if rng.chance(80) {
            resource = resource.with_id(rng.id::<UserId>());
        }
        requests.push(Req {
            who,
            action,
            resource,
        });
    }
    World {
        principals,
        requests,
    }
}

/// A decision without its reasons: what the engines must agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Outcome {
    Allow,
    Deny,
    ConfirmationRequired,
}

impl From<Decision> for Outcome {
    fn from(d: Decision) -> Self {
        match d {
            Decision::Allow => Outcome::Allow,
            Decision::Deny(_) => Outcome::Deny,
            Decision::ConfirmationRequired(_) => Outcome::ConfirmationRequired,
        }
    }
}

fn class_name(kind: ResourceKind) -> String {
    format!("{:?}", kind.class())
}

fn kind_name(kind: ResourceKind) -> String {
    format!("{kind:?}")
}

// ---------------------------------------------------------------------------
// Cedar.
// ---------------------------------------------------------------------------

/// Everything Cedar needs, built once: the parsed and validated policy set,
/// one entity store holding every principal and resource of the set (and the
/// action entities from the schema), and for each request the two prepared
/// `Request`s (confirmed and not).
struct CedarSide {
    authorizer: Authorizer,
    policies: PolicySet,
    entities: Entities,
    /// (confirmed = true, confirmed = false) per request.
    requests: Vec<(Request, Request)>,
}

fn uid(ty: &str, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(EntityTypeName::from_str(ty).unwrap(), EntityId::new(id))
}

fn principal_uid(p: &Principal) -> EntityUid {
    match p {
        Principal::User(user) => uid("User", &user.user_id.to_string()),
        Principal::System { tenant_id, job } => uid("Job", &format!("{tenant_id}/{job}")),
    }
}

fn tenant_expr(t: TenantId) -> RestrictedExpression {
    RestrictedExpression::new_entity_uid(uid("Tenant", &t.to_string()))
}

fn branch_uid(b: BranchId) -> EntityUid {
    uid("Branch", &b.to_string())
}

impl CedarSide {
    fn new(world: &World) -> Self {
        let policies = PolicySet::from_str(CEDAR_POLICIES).unwrap();
        let (schema, warnings) = Schema::from_cedarschema_str(CEDAR_SCHEMA).unwrap();
        let warnings: Vec<String> = warnings.map(|w| w.to_string()).collect();
        assert!(warnings.is_empty(), "schema warnings: {warnings:?}");
        let validation = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        assert!(
            validation.validation_passed(),
            "policy.cedar does not validate: {validation}"
        );
        let mut entities = Vec::new();
        for p in &world.principals {
            let mut attrs = HashMap::new();
            attrs.insert("tenant".to_string(), tenant_expr(p.tenant_id()));
            if let Principal::User(user) = p {
                attrs.insert(
                    "role".into(),
                    RestrictedExpression::new_string(user.role.as_str().into()),
                );
                let (all, set): (bool, Vec<BranchId>) = match &user.scope {
                    BranchScope::All => (true, Vec::new()),
                    BranchScope::Only(set) => (false, set.iter().collect()),
                };
                attrs.insert("all_branches".into(), RestrictedExpression::new_bool(all));
                attrs.insert(
                    "branches".into(),
                    RestrictedExpression::new_set(
                        set.into_iter()
                            .map(|b| RestrictedExpression::new_entity_uid(branch_uid(b))),
                    ),
                );
            }
            entities.push(Entity::new(principal_uid(p), attrs, HashSet::new()).unwrap());
        }
        let mut requests = Vec::with_capacity(world.requests.len());
        for (i, req) in world.requests.iter().enumerate() {
            let r = &req.resource;
            let resource = uid("Record", &i.to_string());
            let mut attrs = HashMap::new();
            attrs.insert(
                "kind".to_string(),
                RestrictedExpression::new_string(kind_name(r.kind)),
            );
            // The class is record data here (from `ResourceKind::class`);
            // casbin maps kinds to classes in its own policy (`g2` lines).
            attrs.insert(
                "class".into(),
                RestrictedExpression::new_string(class_name(r.kind)),
            );
            attrs.insert("tenant".into(), tenant_expr(r.tenant_id));
            attrs.insert("draft".into(), RestrictedExpression::new_bool(r.is_draft));
            if let Some(b) = r.branch_id {
                attrs.insert(
                    "branch".into(),
                    RestrictedExpression::new_entity_uid(branch_uid(b)),
                );
            }
            if let Some(role) = r.subject_role {
                attrs.insert(
                    "subject_role".into(),
                    RestrictedExpression::new_string(role.as_str().into()),
                );
            }
            if let Some(role) = r.granted_role {
                attrs.insert(
                    "granted_role".into(),
                    RestrictedExpression::new_string(role.as_str().into()),
                );
            }
            if r.kind == ResourceKind::User
                && let Some(id) = r.id
            {
                attrs.insert(
                    "subject".into(),
                    RestrictedExpression::new_entity_uid(uid("User", &id.to_string())),
                );
            }
            entities.push(Entity::new(resource.clone(), attrs, HashSet::new()).unwrap());

            let principal = principal_uid(&world.principals[req.who]);
            let action = uid("Action", &format!("{:?}", req.action));
            let make = |confirmed: bool| {
                let context = Context::from_pairs([(
                    "confirmed".to_string(),
                    RestrictedExpression::new_bool(confirmed),
                )])
                .unwrap();
                Request::new(
                    principal.clone(),
                    action.clone(),
                    resource.clone(),
                    context,
                    None,
                )
                .unwrap()
            };
            requests.push((make(true), make(false)));
        }
        CedarSide {
            authorizer: Authorizer::new(),
            policies,
            // With the schema: attributes are checked, and the action
            // entities and their groups are added from it.
            entities: Entities::from_entities(entities, Some(&schema)).unwrap(),
            requests,
        }
    }

    /// Inside the measured loop: one `is_authorized` (confirmed = true); a
    /// second one (confirmed = false) only when the first allows.
    fn decide(&self, i: usize) -> Outcome {
        let (confirmed, unconfirmed) = &self.requests[i];
        let first = self
            .authorizer
            .is_authorized(confirmed, &self.policies, &self.entities);
        if first.decision() == CedarDecision::Deny {
            return Outcome::Deny;
        }
        let second = self
            .authorizer
            .is_authorized(unconfirmed, &self.policies, &self.entities);
        match second.decision() {
            CedarDecision::Allow => Outcome::Allow,
            CedarDecision::Deny => Outcome::ConfirmationRequired,
        }
    }

    /// Policy evaluation errors (e.g. a missing attribute) would silently
    /// skip a policy: the agreement check insists there are none.
    fn errors(&self, i: usize) -> Vec<String> {
        let (confirmed, unconfirmed) = &self.requests[i];
        [confirmed, unconfirmed]
            .into_iter()
            .flat_map(|r| {
                let response = self
                    .authorizer
                    .is_authorized(r, &self.policies, &self.entities);
                response
                    .diagnostics()
                    .errors()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------
// casbin.
// ---------------------------------------------------------------------------

/// A request as casbin sees it, prepared once: the strings of both sections,
/// and what the Rust code around the enforcer needs.
struct CasbinReq {
    sub: String,
    dom: String,
    obj: String,
    act: &'static str,
    /// The action for the critical section: `Delete.draft` and
    /// `ResetTwoFactor.own` are the non-critical variants.
    act2: String,
    /// The resource's branch, if any.
    branch: Option<BranchId>,
    /// Index into `CasbinSide::scopes`.
    who: usize,
    is_job: bool,
}

/// The casbin enforcer (model and policy parsed, role links built) and the
/// prepared requests.
struct CasbinSide {
    enforcer: Enforcer,
    /// Per principal: `None` sees every branch (Tenant Super Admin, jobs).
    scopes: Vec<Option<BranchScope>>,
    requests: Vec<CasbinReq>,
}

fn casbin_sub(p: &Principal) -> String {
    match p {
        Principal::User(user) => user.user_id.to_string(),
        Principal::System { tenant_id, .. } => format!("job:{tenant_id}"),
    }
}

impl CasbinSide {
    fn new(world: &World) -> Self {
        let mut policy = String::from(CASBIN_POLICY);
        let mut scopes = Vec::new();
        for p in &world.principals {
            let role = p.role().map_or("system", Role::as_str);
            policy.push_str(&format!(
                "\ng, {}, {role}, {}",
                casbin_sub(p),
                p.tenant_id()
            ));
            scopes.push(match p {
                Principal::User(user) if user.role != Role::TenantSuperAdmin => {
                    Some(user.scope.clone())
                }
                _ => None,
            });
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let enforcer = runtime.block_on(async {
            let model = DefaultModel::from_str(CASBIN_MODEL).await.unwrap();
            Enforcer::new(model, StringAdapter::new(policy))
                .await
                .unwrap()
        });
        let requests = world
            .requests
            .iter()
            .map(|req| {
                let principal = &world.principals[req.who];
                let r = &req.resource;
                // A user record whose role is unknown, or is or becomes a
                // super admin, is the object admins' deny lines name.
                let obj = if r.kind == ResourceKind::User
                    && (r
                        .subject_role
                        .is_none_or(|role| role == Role::TenantSuperAdmin)
                        || r.granted_role == Some(Role::TenantSuperAdmin))
                {
                    "User.super_admin".to_string()
                } else {
                    kind_name(r.kind)
                };
                let act = action_name(req.action);
                let own = principal
                    .user_id()
                    .is_some_and(|me| r.id == Some(me.as_uuid()));
                let act2 = match req.action {
                    Action::Delete if r.is_draft => "Delete.draft".to_string(),
                    Action::ResetTwoFactor if own => "ResetTwoFactor.own".to_string(),
                    _ => act.to_string(),
                };
                CasbinReq {
                    sub: casbin_sub(principal),
                    dom: r.tenant_id.to_string(),
                    obj,
                    act,
                    act2,
                    branch: r.branch_id,
                    who: req.who,
                    is_job: principal.user_id().is_none(),
                }
            })
            .collect();
        CasbinSide {
            enforcer,
            scopes,
            requests,
        }
    }

    /// Inside the measured loop: the branch-scope check in Rust; `enforce`
    /// on section 1 (which turns the four strings into rhai values and runs
    /// the matcher over the policy lines); if permitted, `enforce_with_context`
    /// on section 2 for criticality; then "jobs never do critical actions".
    fn decide(&self, i: usize) -> Outcome {
        let r = &self.requests[i];
        if let (Some(branch), Some(scope)) = (r.branch, &self.scopes[r.who])
            && !scope.contains(branch)
        {
            return Outcome::Deny;
        }
        let permitted = self
            .enforcer
            .enforce((r.sub.as_str(), r.dom.as_str(), r.obj.as_str(), r.act))
            .unwrap();
        if !permitted {
            return Outcome::Deny;
        }
        let critical = self
            .enforcer
            .enforce_with_context(EnforceContext::new("2"), (r.obj.as_str(), r.act2.as_str()))
            .unwrap();
        match (critical, r.is_job) {
            (false, _) => Outcome::Allow,
            (true, false) => Outcome::ConfirmationRequired,
            (true, true) => Outcome::Deny,
        }
    }
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Read => "Read",
        Action::Create => "Create",
        Action::Update => "Update",
        Action::Delete => "Delete",
        Action::Export => "Export",
        Action::Approve => "Approve",
        Action::Cancel => "Cancel",
        Action::ChangeAccess => "ChangeAccess",
        Action::ResetTwoFactor => "ResetTwoFactor",
        Action::Disconnect => "Disconnect",
        Action::RotateKeys => "RotateKeys",
        Action::Send => "Send",
        Action::Erase => "Erase",
        Action::Void => "Void",
    }
}

// ---------------------------------------------------------------------------
// Agreement, then measurement.
// ---------------------------------------------------------------------------

struct Mix(HashMap<Outcome, usize>);

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |o| self.0.get(&o).copied().unwrap_or(0);
        write!(
            f,
            "{} allow, {} deny, {} confirmation required",
            n(Outcome::Allow),
            n(Outcome::Deny),
            n(Outcome::ConfirmationRequired)
        )
    }
}

/// All three engines must give the same outcome on every request.
fn check_agreement(world: &World, cedar: &CedarSide, casbin: &CasbinSide) -> Mix {
    let mut disagreements = Vec::new();
    let mut mix = HashMap::new();
    for (i, req) in world.requests.iter().enumerate() {
        let principal = &world.principals[req.who];
        let decision = authorize(principal, req.action, &req.resource);
        let tms = Outcome::from(decision);
        *mix.entry(tms).or_insert(0) += 1;
        let (c, k) = (cedar.decide(i), casbin.decide(i));
        let errors = cedar.errors(i);
        if tms != c || tms != k || !errors.is_empty() {
            disagreements.push(format!(
                "#{i}: {principal:?} {:?} {:?} -> tms {decision:?}, cedar {c:?}, casbin {k:?}{}",
                req.action,
                req.resource,
                if errors.is_empty() {
                    String::new()
                } else {
                    format!(", cedar errors {errors:?}")
                }
            ));
        }
    }
    if !disagreements.is_empty() {
        panic!(
            "the engines disagree on {} of {} requests; first ones:\n{}",
            disagreements.len(),
            world.requests.len(),
            disagreements
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    Mix(mix)
}

fn policy_decisions(c: &mut Criterion) {
    let world = world();
    let cedar = CedarSide::new(&world);
    let casbin = CasbinSide::new(&world);
    let mix = check_agreement(&world, &cedar, &casbin);
    for o in [Outcome::Allow, Outcome::Deny, Outcome::ConfirmationRequired] {
        assert!(
            mix.0.get(&o).copied().unwrap_or(0) >= 25,
            "too few {o:?}: {mix}"
        );
    }
    println!(
        "policy: tms, cedar and casbin agree on all {} requests ({mix})",
        world.requests.len()
    );

    // Each sample runs the whole set; the time is divided by its size, so
    // criterion's `time` is per decision and its throughput decisions/s.
    let n = u32::try_from(world.requests.len()).unwrap();
    let mut group = c.benchmark_group("policy_decisions");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);

    // Inside the loop: `authorize` on prebuilt `Principal` and `Resource`.
    group.bench_function("tms", |b| {
        per_decision(b, n, || {
            for req in &world.requests {
                black_box(authorize(
                    black_box(&world.principals[req.who]),
                    black_box(req.action),
                    black_box(&req.resource),
                ));
            }
        })
    });
    // Inside the loop: see `CedarSide::decide`.
    group.bench_function("cedar", |b| {
        per_decision(b, n, || {
            for i in 0..cedar.requests.len() {
                black_box(cedar.decide(black_box(i)));
            }
        })
    });
    // Inside the loop: see `CasbinSide::decide`.
    group.bench_function("casbin", |b| {
        per_decision(b, n, || {
            for i in 0..casbin.requests.len() {
                black_box(casbin.decide(black_box(i)));
            }
        })
    });
    group.finish();
}

/// Runs `decide_all` (which decides all `n` requests) as often as criterion
/// asks and reports the time per decision.
fn per_decision(b: &mut Bencher<'_>, n: u32, mut decide_all: impl FnMut()) {
    b.iter_custom(|iters| {
        let start = Instant::now();
        for _ in 0..iters {
            decide_all();
        }
        start.elapsed() / n
    });
}

criterion_group!(benches, policy_decisions);
criterion_main!(benches);
