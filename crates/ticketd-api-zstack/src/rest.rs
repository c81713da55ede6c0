//! The REST paths under `/zstack/v1`: `params`-wrapped creates, `PUT …/actions` dispatched by
//! their action key, query strings, the `OAuth` header, and ZStack's 404 and 405.

use crate::api::{Api, Input, execute, execute_job};
use crate::error::{
    ID_INVALID_SESSION, SYS_INVALID_ARGUMENT, SYS_NO_ROUTE, SYS_UNSUPPORTED, ZsError,
};
use crate::query::QuerySpec;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{
    FromRequest, FromRequestParts, OriginalUri, RawPathParams, RawQuery, Request, State,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde_json::{Map, Value};
use ticketd_http::AppState;
use ticketd_http::query::percent_decode;
use uuid::Uuid;

/// A request body parsed within the size and depth limits (an empty body is `null`).
#[derive(Debug)]
pub(crate) struct JsonBody(pub(crate) Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ZsError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ZsError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                let status = rejection.status();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ZsError::body_too_large()
                } else {
                    ZsError::rest(
                        StatusCode::BAD_REQUEST,
                        SYS_INVALID_ARGUMENT,
                        rejection.body_text(),
                    )
                }
            })?;
        let value = ticketd_http::json::parse_body(&bytes, state.settings.json_max_depth)?;
        Ok(Self(value))
    }
}

/// The one variable of a path such as `/tickets/{uuid}/actions`, percent-decoded.
#[derive(Debug)]
pub(crate) struct PathVar(pub(crate) String);

impl FromRequestParts<AppState> for PathVar {
    type Rejection = ZsError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ZsError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                ZsError::rest(
                    StatusCode::BAD_REQUEST,
                    SYS_INVALID_ARGUMENT,
                    rejection.body_text(),
                )
            })?;
        let value = params
            .iter()
            .next()
            .map(|(_, value)| percent_decode(value))
            .unwrap_or_default();
        Ok(Self(value))
    }
}

/// A request path as ZStack words it in errors: without the `/zstack` context path.
fn api_path(uri: &OriginalUri) -> &str {
    let path = uri.0.path();
    path.strip_prefix("/zstack").unwrap_or(path)
}

/// The client's job id (`X-Job-UUID`, 32 hexadecimal digits) when sent; another text is 400.
fn job_header(headers: &HeaderMap) -> Result<Option<Uuid>, ZsError> {
    let Some(value) = headers.get("x-job-uuid") else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    match Uuid::try_parse(text) {
        Ok(job) if text.len() == 32 => Ok(Some(job)),
        _ => Err(ZsError::rest(
            StatusCode::BAD_REQUEST,
            SYS_INVALID_ARGUMENT,
            format!("invalid header X-Job-UUID[{text}]: a job uuid is 32 hexadecimal digits"),
        )),
    }
}

/// The session of `Authorization: OAuth <session uuid>`, checked as `RestServer` does.
fn session_header(headers: &HeaderMap) -> Result<String, ZsError> {
    let value = ticketd_http::auth::authorization(headers).map_err(|several| {
        ZsError::rest(
            StatusCode::BAD_REQUEST,
            ID_INVALID_SESSION,
            several.to_string(),
        )
    })?;
    let Some(value) = value else {
        return Err(ZsError::rest(
            StatusCode::BAD_REQUEST,
            ID_INVALID_SESSION,
            "missing header 'Authorization'",
        ));
    };
    let wrong_type = || {
        ZsError::rest(
            StatusCode::BAD_REQUEST,
            ID_INVALID_SESSION,
            "Authorization type must be 'OAuth'",
        )
    };
    let text = value.to_str().map_err(|invalid| {
        tracing::debug!(%invalid, "authorization header is not text");
        wrong_type()
    })?;
    let text = text.trim();
    if !text.starts_with("OAuth") {
        return Err(wrong_type());
    }
    Ok(text.replacen("OAuth", "", 1).trim().to_owned())
}

/// 200 with the answer (an empty body when there is nothing to say, as ZStack does), or the
/// error in ZStack's shape.
fn respond(result: Result<Map<String, Value>, ZsError>) -> Response {
    match result {
        Ok(answer) if answer.is_empty() => StatusCode::OK.into_response(),
        Ok(answer) => (StatusCode::OK, axum::Json(Value::Object(answer))).into_response(),
        Err(error) => error.into_response(),
    }
}

fn object_of(value: Value, what: &str) -> Result<Map<String, Value>, ZsError> {
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(ZsError::argerr(format!("{what} must be a JSON object"))),
    }
}

fn body_object(value: Value) -> Result<Map<String, Value>, ZsError> {
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(ZsError::rest(
            StatusCode::BAD_REQUEST,
            SYS_INVALID_ARGUMENT,
            "the body must be a JSON object",
        )),
    }
}

/// POST create: the parameters are the body's `params` (`systemTags`/`userTags` beside it are
/// accepted and not used).
async fn create(
    state: AppState,
    api: Api,
    headers: HeaderMap,
    path: Option<(&str, String)>,
    body: Value,
) -> Response {
    let run = async {
        let mut body = body_object(body)?;
        let session = session_header(&headers)?;
        let job = job_header(&headers)?;
        let mut params = object_of(body.remove("params").unwrap_or(Value::Null), "params")?;
        if let Some((name, value)) = path {
            params.insert(name.to_owned(), Value::String(value));
        }
        execute_job(&state, api, Some(&session), Input::Params(params), job).await
    };
    respond(run.await)
}

/// The action whose key the body carries: the camelCase name as ZStack's SDK sends it, or the
/// same name in another case (the api-explorer prints it all lowercase).
fn action_of(body: &Map<String, Value>, actions: &[Api]) -> Option<(Api, String)> {
    actions
        .iter()
        .find_map(|api| {
            let name = api.action_name()?;
            body.contains_key(name).then(|| (*api, name.to_owned()))
        })
        .or_else(|| {
            body.keys().find_map(|key| {
                actions.iter().find_map(|api| {
                    let name = api.action_name()?;
                    key.eq_ignore_ascii_case(name).then(|| (*api, key.clone()))
                })
            })
        })
}

/// PUT `…/{uuid}/actions`: dispatched on the action key of the body.
async fn action(
    state: AppState,
    actions: &'static [Api],
    uri: OriginalUri,
    headers: HeaderMap,
    uuid: String,
    body: Value,
) -> Response {
    let run = async {
        let mut body = body_object(body)?;
        let Some((api, key)) = action_of(&body, actions) else {
            return Err(ZsError::rest(
                StatusCode::BAD_REQUEST,
                SYS_INVALID_ARGUMENT,
                format!(
                    "the body doesn't contain action mapping to the URL[{}]",
                    api_path(&uri)
                ),
            ));
        };
        let session = session_header(&headers)?;
        let mut params = object_of(body.remove(&key).unwrap_or(Value::Null), &key)?;
        params.insert("uuid".into(), Value::String(uuid));
        execute(&state, api, Some(&session), Input::Params(params)).await
    };
    respond(run.await)
}

/// The query string as parameters: repeated keys become lists.
fn query_params(raw: Option<&str>) -> Map<String, Value> {
    let mut params = Map::new();
    for (key, value) in ticketd_http::query::pairs(raw) {
        let value = Value::String(value);
        match params.get_mut(&key) {
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                params.insert(key, value);
            }
        }
    }
    params
}

/// DELETE: the parameters come from the query string and the path.
async fn remove(
    state: AppState,
    api: Api,
    path_name: &str,
    headers: HeaderMap,
    uuid: String,
    query: Option<String>,
) -> Response {
    let run = async {
        let session = session_header(&headers)?;
        let mut params = query_params(query.as_deref());
        params.insert(path_name.to_owned(), Value::String(uuid));
        execute(&state, api, Some(&session), Input::Params(params)).await
    };
    respond(run.await)
}

/// GET: a query (`GET …/{uuid}` asks for that resource only).
async fn query(
    state: AppState,
    api: Api,
    headers: HeaderMap,
    uuid: Option<String>,
    raw: Option<String>,
) -> Response {
    let run = async {
        let session = session_header(&headers)?;
        let spec = match uuid {
            Some(uuid) => QuerySpec::by_uuid(&uuid),
            None => QuerySpec::from_query_string(raw.as_deref())?,
        };
        execute(&state, api, Some(&session), Input::Query(spec)).await
    };
    respond(run.await)
}

/// PUT login: the body is wrapped in the login's name; no session needed.
async fn login(state: AppState, api: Api, uri: OriginalUri, body: Value) -> Response {
    let run = async {
        let mut body = body_object(body)?;
        let Some((_, key)) = action_of(&body, &[api]) else {
            return Err(ZsError::rest(
                StatusCode::BAD_REQUEST,
                SYS_INVALID_ARGUMENT,
                format!(
                    "the body doesn't contain action mapping to the URL[{}]",
                    api_path(&uri)
                ),
            ));
        };
        let params = object_of(body.remove(&key).unwrap_or(Value::Null), &key)?;
        execute(&state, api, None, Input::Params(params)).await
    };
    respond(run.await)
}

fn session_params(uuid: String) -> Input {
    let mut params = Map::new();
    params.insert("sessionUuid".into(), Value::String(uuid));
    Input::Params(params)
}

/// Every REST operation: method, path under `/zstack`, the call it runs, and the parameter its
/// path variable fills. It is the catalogue `crate::rest_operations` publishes; a test checks that
/// every `.route(` of this crate is in it, and the authorization matrix calls each one.
pub(crate) const OPERATIONS: &[(&str, &str, Api, Option<&str>)] = &[
    ("PUT", "/v1/accounts/login", Api::LogInByAccount, None),
    (
        "PUT",
        "/v1/iam2/virtual-ids/login",
        Api::LoginIam2VirtualId,
        None,
    ),
    (
        "DELETE",
        "/v1/accounts/sessions/{uuid}",
        Api::LogOut,
        Some("sessionUuid"),
    ),
    (
        "GET",
        "/v1/accounts/sessions/{uuid}/valid",
        Api::ValidateSession,
        Some("sessionUuid"),
    ),
    ("POST", "/v1/tickets", Api::CreateTicket, None),
    ("GET", "/v1/tickets", Api::QueryTicket, None),
    ("GET", "/v1/tickets/{uuid}", Api::QueryTicket, Some("uuid")),
    (
        "DELETE",
        "/v1/tickets/{uuid}",
        Api::DeleteTicket,
        Some("uuid"),
    ),
    (
        "PUT",
        "/v1/tickets/{uuid}/actions",
        Api::ChangeTicketStatus,
        Some("uuid"),
    ),
    (
        "PUT",
        "/v1/tickets/{uuid}/actions",
        Api::UpdateTicketRequest,
        Some("uuid"),
    ),
    (
        "PUT",
        "/v1/tickets/{uuid}/actions",
        Api::ArchiveTicket,
        Some("uuid"),
    ),
    (
        "GET",
        "/v1/tickets/histories",
        Api::QueryTicketHistory,
        None,
    ),
    (
        "GET",
        "/v1/tickets/histories/{uuid}",
        Api::QueryTicketHistory,
        Some("uuid"),
    ),
    ("GET", "/v1/tickets/archives", Api::QueryArchiveTicket, None),
    (
        "GET",
        "/v1/tickets/archives/{uuid}",
        Api::QueryArchiveTicket,
        Some("uuid"),
    ),
    (
        "GET",
        "/v1/tickets/histories/archives",
        Api::QueryArchiveTicketHistory,
        None,
    ),
    (
        "GET",
        "/v1/tickets/histories/archives/{uuid}",
        Api::QueryArchiveTicketHistory,
        Some("uuid"),
    ),
    ("GET", "/v1/ticket-types", Api::QueryTicketType, None),
    (
        "GET",
        "/v1/ticket-types/{uuid}",
        Api::QueryTicketType,
        Some("uuid"),
    ),
    (
        "POST",
        "/v1/tickets/flow-collections",
        Api::CreateFlowCollection,
        None,
    ),
    (
        "GET",
        "/v1/tickets/flow-collections",
        Api::QueryFlowCollection,
        None,
    ),
    (
        "GET",
        "/v1/tickets/flow-collections/{uuid}",
        Api::QueryFlowCollection,
        Some("uuid"),
    ),
    (
        "DELETE",
        "/v1/tickets/flow-collections/{uuid}",
        Api::DeleteFlowCollection,
        Some("uuid"),
    ),
    (
        "PUT",
        "/v1/tickets/flow-collections/{uuid}/actions",
        Api::UpdateFlowCollection,
        Some("uuid"),
    ),
    (
        "PUT",
        "/v1/tickets/flow-collections/{uuid}/actions",
        Api::ChangeFlowCollectionState,
        Some("uuid"),
    ),
    (
        "POST",
        "/v1/tickets/flow-collections/{uuid}/ticket-types",
        Api::AddTicketTypes,
        Some("ticketFlowCollectionUuid"),
    ),
    (
        "DELETE",
        "/v1/tickets/flow-collections/{uuid}/ticket-types",
        Api::RemoveTicketTypes,
        Some("ticketFlowCollectionUuid"),
    ),
    ("POST", "/v1/tickets/flow", Api::AddFlow, None),
    ("GET", "/v1/tickets/flow", Api::QueryFlow, None),
    (
        "GET",
        "/v1/tickets/flow/{uuid}",
        Api::QueryFlow,
        Some("uuid"),
    ),
    (
        "DELETE",
        "/v1/tickets/flow/{uuid}",
        Api::DeleteFlow,
        Some("uuid"),
    ),
    (
        "PUT",
        "/v1/tickets/flow/{uuid}/actions",
        Api::UpdateFlow,
        Some("uuid"),
    ),
];

const TICKET_ACTIONS: &[Api] = &[
    Api::ChangeTicketStatus,
    Api::UpdateTicketRequest,
    Api::ArchiveTicket,
];
const COLLECTION_ACTIONS: &[Api] = &[Api::UpdateFlowCollection, Api::ChangeFlowCollectionState];
const FLOW_ACTIONS: &[Api] = &[Api::UpdateFlow];

/// A GET route for a query (`by_uuid`: the `…/{uuid}` form).
fn query_route(api: Api, by_uuid: bool) -> axum::routing::MethodRouter<AppState> {
    if by_uuid {
        get(
            move |State(state): State<AppState>, PathVar(uuid): PathVar, headers: HeaderMap| async move {
                query(state, api, headers, Some(uuid), None).await
            },
        )
    } else {
        get(
            move |State(state): State<AppState>, RawQuery(raw): RawQuery, headers: HeaderMap| async move {
                query(state, api, headers, None, raw).await
            },
        )
    }
}

fn create_route(api: Api) -> axum::routing::MethodRouter<AppState> {
    post(
        move |State(state): State<AppState>, headers: HeaderMap, JsonBody(body): JsonBody| async move {
            create(state, api, headers, None, body).await
        },
    )
}

fn action_route(actions: &'static [Api]) -> axum::routing::MethodRouter<AppState> {
    put(
        move |State(state): State<AppState>,
              uri: OriginalUri,
              PathVar(uuid): PathVar,
              headers: HeaderMap,
              JsonBody(body): JsonBody| async move {
            action(state, actions, uri, headers, uuid, body).await
        },
    )
}

fn delete_route(api: Api, path_name: &'static str) -> axum::routing::MethodRouter<AppState> {
    delete(
        move |State(state): State<AppState>,
              PathVar(uuid): PathVar,
              RawQuery(raw): RawQuery,
              headers: HeaderMap| async move {
            remove(state, api, path_name, headers, uuid, raw).await
        },
    )
}

fn login_route(api: Api) -> axum::routing::MethodRouter<AppState> {
    put(
        move |State(state): State<AppState>, uri: OriginalUri, JsonBody(body): JsonBody| async move {
            login(state, api, uri, body).await
        },
    )
}

/// Every REST route, relative to `/zstack`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/accounts/login", login_route(Api::LogInByAccount))
        .route(
            "/v1/iam2/virtual-ids/login",
            login_route(Api::LoginIam2VirtualId),
        )
        .route(
            "/v1/accounts/sessions/{uuid}",
            delete(
                |State(state): State<AppState>, PathVar(uuid): PathVar| async move {
                    respond(execute(&state, Api::LogOut, None, session_params(uuid)).await)
                },
            ),
        )
        .route(
            "/v1/accounts/sessions/{uuid}/valid",
            get(
                |State(state): State<AppState>, PathVar(uuid): PathVar| async move {
                    let answer = execute(&state, Api::ValidateSession, None, session_params(uuid))
                        .await
                        .map(|mut answer| {
                            // The REST answer names the flag `valid`.
                            let valid = answer.remove("validSession").unwrap_or(Value::Bool(false));
                            answer.insert("valid".into(), valid);
                            answer
                        });
                    respond(answer)
                },
            ),
        )
        .route(
            "/v1/tickets",
            create_route(Api::CreateTicket).merge(query_route(Api::QueryTicket, false)),
        )
        .route(
            "/v1/tickets/{uuid}",
            query_route(Api::QueryTicket, true).merge(delete_route(Api::DeleteTicket, "uuid")),
        )
        .route("/v1/tickets/{uuid}/actions", action_route(TICKET_ACTIONS))
        .route(
            "/v1/tickets/histories",
            query_route(Api::QueryTicketHistory, false),
        )
        .route(
            "/v1/tickets/histories/{uuid}",
            query_route(Api::QueryTicketHistory, true),
        )
        .route(
            "/v1/tickets/archives",
            query_route(Api::QueryArchiveTicket, false),
        )
        .route(
            "/v1/tickets/archives/{uuid}",
            query_route(Api::QueryArchiveTicket, true),
        )
        .route(
            "/v1/tickets/histories/archives",
            query_route(Api::QueryArchiveTicketHistory, false),
        )
        .route(
            "/v1/tickets/histories/archives/{uuid}",
            query_route(Api::QueryArchiveTicketHistory, true),
        )
        .route("/v1/ticket-types", query_route(Api::QueryTicketType, false))
        .route(
            "/v1/ticket-types/{uuid}",
            query_route(Api::QueryTicketType, true),
        )
        .route(
            "/v1/tickets/flow-collections",
            create_route(Api::CreateFlowCollection)
                .merge(query_route(Api::QueryFlowCollection, false)),
        )
        .route(
            "/v1/tickets/flow-collections/{uuid}",
            query_route(Api::QueryFlowCollection, true)
                .merge(delete_route(Api::DeleteFlowCollection, "uuid")),
        )
        .route(
            "/v1/tickets/flow-collections/{uuid}/actions",
            action_route(COLLECTION_ACTIONS),
        )
        .route(
            "/v1/tickets/flow-collections/{uuid}/ticket-types",
            post(
                |State(state): State<AppState>,
                 PathVar(uuid): PathVar,
                 headers: HeaderMap,
                 JsonBody(body): JsonBody| async move {
                    create(
                        state,
                        Api::AddTicketTypes,
                        headers,
                        Some(("ticketFlowCollectionUuid", uuid)),
                        body,
                    )
                    .await
                },
            )
            .merge(delete_route(
                Api::RemoveTicketTypes,
                "ticketFlowCollectionUuid",
            )),
        )
        .route(
            "/v1/tickets/flow",
            create_route(Api::AddFlow).merge(query_route(Api::QueryFlow, false)),
        )
        .route(
            "/v1/tickets/flow/{uuid}",
            query_route(Api::QueryFlow, true).merge(delete_route(Api::DeleteFlow, "uuid")),
        )
        .route(
            "/v1/tickets/flow/{uuid}/actions",
            action_route(FLOW_ACTIONS),
        )
}

/// ZStack's 404 for a path no API is mapped to.
pub(crate) async fn no_route(uri: OriginalUri) -> ZsError {
    ZsError::rest(
        StatusCode::NOT_FOUND,
        SYS_NO_ROUTE,
        format!("no api mapping to {}", api_path(&uri)),
    )
}

/// ZStack's 405 for a method the path does not serve.
pub(crate) async fn method_not_allowed(method: Method, uri: OriginalUri) -> ZsError {
    ZsError::rest(
        StatusCode::METHOD_NOT_ALLOWED,
        SYS_UNSUPPORTED,
        format!(
            "The method[{method}] is not allowed for the path[{}]",
            api_path(&uri)
        ),
    )
}
