//! `GET /api/v1/openapi.json`: the document generated from the code.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use utoipa::OpenApi;

use crate::AppState;
use crate::error::{Problem, ProblemField};
use crate::routes::health::{self, Health};

/// The document's base: info, the problem schema, the operations endpoints.
#[derive(OpenApi)]
#[openapi(
    info(title = "TMS API", description = "The HTTP API of TMS, a travel-agency platform. Errors are RFC 9457 application/problem+json bodies (schema `Problem`)."),
    paths(health::healthz, health::readyz, health::metrics, openapi_json),
    components(schemas(Problem, ProblemField, Health)),
    tags((name = "operations", description = "Health, readiness, metrics, this document"))
)]
pub struct ApiDoc;

/// Routes of this module, under `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi_json))
}

/// The OpenAPI 3.1 document of this server.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json"))
)]
pub async fn openapi_json(State(state): State<AppState>) -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(state.openapi.as_ref().clone())
}

/// The whole document: this base merged with every resource's part.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = crate::routes::RESOURCES.iter().map(|r| (r.openapi)()).fold(
        ApiDoc::openapi(),
        |mut doc, part| {
            doc.merge(part);
            doc
        },
    );
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    // --- hardening (issue 11) ---
    common_responses(&mut doc);
    doc
}

// --- hardening (issue 11) ---
/// Operations under `/api/v1` that take no session (sign-in, reset and
/// invitation links, unsubscribe links, the WhatsApp webhook, this
/// document).
const PUBLIC_PATHS: &[&str] = &[
    "/api/v1/openapi.json",
    "/api/v1/auth/login",
    "/api/v1/auth/password-reset",
    "/api/v1/auth/password-reset/confirm",
    "/api/v1/auth/invitation/accept",
    "/api/v1/unsubscribe/{token}",
    "/api/v1/webhooks/whatsapp/{tenant_id}",
];

/// Adds to every operation the problem answers that the shared layers give
/// whatever the handler (see [`crate::error`]), where the operation's own
/// annotation does not list them already: schemathesis (issue 11) checks
/// that every status the server answers is documented, and a client
/// should see them too. By what the operation takes:
///
/// - a session (all but [`PUBLIC_PATHS`]): 401 without a valid one, 403
///   for a restricted session (`password-change-required`), a policy
///   refusal or a cookie write without its CSRF token;
/// - a body: 400 (not JSON, wrong shape), 413 (over the body limit), 415
///   (not the documented media type), 422 (breaks a rule);
/// - parameters: 400 (unparsable), 422 (out of range), and 404 for a path
///   naming something absent or out of scope;
/// - a `Tms-Confirm` (documents 428): 422 for a token that is not valid;
/// - a write with a session: 409, since any write may meet a state that
///   refuses it (a stale version, a duplicate, a closed branch);
/// - anything under `/api/v1`: 503 (store unavailable, request timed out;
///   `Retry-After`).
fn common_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

    let problem = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    crate::error::PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        if !path.starts_with("/api/v1/") || path == "/api/v1/openapi.json" {
            continue;
        }
        let public = PUBLIC_PATHS.contains(&path.as_str());
        for (write, operation) in [
            (false, &mut item.get),
            (true, &mut item.put),
            (true, &mut item.post),
            (true, &mut item.delete),
            (true, &mut item.patch),
        ] {
            let Some(operation) = operation else {
                continue;
            };
            let parameters = operation.parameters.iter().flatten();
            let (mut any_parameter, mut in_path) = (false, false);
            for parameter in parameters {
                any_parameter = true;
                if let RefOr::T(p) = parameter {
                    in_path |= p.parameter_in == ParameterIn::Path;
                }
            }
            let body = operation.request_body.is_some();
            let responses = &mut operation.responses.responses;
            let confirmed = responses.contains_key("428");
            let mut add = |status: &str, description: &str| {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| problem(description));
            };
            if !public {
                add("401", "No session, or an expired or revoked one");
                add(
                    "403",
                    "Not allowed: the policy refuses, the session is restricted (`password-change-required`), or a cookie write lacks its CSRF token",
                );
            }
            if body {
                add("400", "The body is not JSON of the documented shape");
                add("413", "The body is larger than the server's limit");
                add("415", "The body is not of the documented media type");
            }
            if body || any_parameter || confirmed {
                add(
                    "422",
                    "The input breaks a rule (`invalid`, with `errors`), or a `Tms-Confirm` that is not valid",
                );
            }
            if any_parameter {
                add("400", "A parameter cannot be read");
            }
            if in_path {
                add("404", "Nothing by that id in the caller's scope");
            }
            if write && !public {
                add(
                    "409",
                    "Conflicts with the current state: a stale version, a duplicate, a closed branch, or a move the state machine refuses",
                );
            }
            add(
                "503",
                "The store is unavailable or the request timed out; Retry-After",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Merging keeps one schema per name: two resources defining different
    /// types under one name (say two `TicketList`s) would silently document
    /// one route with the other's body.
    #[test]
    fn no_two_resources_define_a_schema_of_the_same_name_differently() {
        let mut seen: std::collections::BTreeMap<String, (usize, String)> = Default::default();
        let mut clashes = Vec::new();
        let parts = std::iter::once(ApiDoc::openapi())
            .chain(crate::routes::RESOURCES.iter().map(|r| (r.openapi)()));
        for (i, part) in parts.enumerate() {
            let Some(components) = part.components else {
                continue;
            };
            for (name, schema) in components.schemas {
                let json = serde_json::to_string(&schema).expect("a schema serialises");
                match seen.get(&name) {
                    Some((j, other)) if *other != json => {
                        clashes.push(format!("{name} (parts {j} and {i})"));
                    }
                    Some(_) => {}
                    None => {
                        seen.insert(name, (i, json));
                    }
                }
            }
        }
        assert!(clashes.is_empty(), "schemas defined twice: {clashes:?}");
    }

    fn statuses(doc: &utoipa::openapi::OpenApi, path: &str, method: &str) -> Vec<String> {
        let item = doc.paths.paths.get(path).expect("the path is documented");
        let operation = match method {
            "get" => item.get.as_ref(),
            "post" => item.post.as_ref(),
            "delete" => item.delete.as_ref(),
            _ => None,
        }
        .expect("the method is documented");
        operation.responses.responses.keys().cloned().collect()
    }

    #[test]
    fn every_operation_documents_the_answers_of_the_shared_layers() {
        let doc = document();
        // A session, a body, a path parameter: all shared answers.
        let create = statuses(&doc, "/api/v1/bookings", "post");
        for status in ["400", "401", "403", "413", "415", "422", "503"] {
            assert!(
                create.contains(&status.to_owned()),
                "{status} in {create:?}"
            );
        }
        let delete = statuses(&doc, "/api/v1/bookings/{id}", "delete");
        for status in ["401", "404", "422", "428", "503"] {
            assert!(
                delete.contains(&status.to_owned()),
                "{status} in {delete:?}"
            );
        }
        // A public operation is never documented as wanting a session.
        let reset = statuses(&doc, "/api/v1/auth/password-reset", "post");
        assert!(!reset.contains(&"401".to_owned()), "{reset:?}");
        // Outside /api/v1 nothing is added: probes answer what they say.
        assert_eq!(statuses(&doc, "/healthz", "get"), ["200"]);
    }
}
