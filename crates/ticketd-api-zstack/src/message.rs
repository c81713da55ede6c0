//! The message API, `POST /zstack/api/`: `{"<message class>": {…, "session": {"uuid"}}}` in,
//! `{"<reply class>": {"success": …, …}}` out, answered synchronously.

use crate::api::{Api, GENERIC_REPLY, Input, execute};
use crate::error::{SYS_INVALID_ARGUMENT, SYS_UNKNOWN_MESSAGE, ZsError};
use crate::rest::JsonBody;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use ticketd_http::AppState;

/// The reply object: the call's answer or its error, under the reply class.
fn reply(class: &str, result: Result<Map<String, Value>, ZsError>) -> Value {
    let mut body = Map::new();
    match result {
        Ok(answer) => {
            body.insert("success".into(), Value::Bool(true));
            body.extend(answer);
        }
        Err(error) => {
            body.insert("success".into(), Value::Bool(false));
            body.insert("error".into(), error.error_code());
        }
    }
    let mut wrapped = Map::new();
    wrapped.insert(class.to_owned(), Value::Object(body));
    Value::Object(wrapped)
}

/// The session a message carries: `session.uuid` (or a bare string under `session`).
fn session_of(message: &Map<String, Value>) -> Option<String> {
    match message.get("session") {
        Some(Value::Object(session)) => session
            .get("uuid")
            .and_then(Value::as_str)
            .map(str::to_owned),
        Some(Value::String(uuid)) => Some(uuid.clone()),
        _ => None,
    }
}

/// `POST /zstack/api/`.
pub(crate) async fn handle(
    State(state): State<AppState>,
    body: Result<JsonBody, ZsError>,
) -> Response {
    let body = match body {
        Ok(JsonBody(body)) => body,
        Err(error) => {
            let status = error.status;
            return (status, axum::Json(reply(GENERIC_REPLY, Err(error)))).into_response();
        }
    };
    let Some((class, message)) = body
        .as_object()
        .and_then(|map| map.iter().next())
        .map(|(class, message)| (class.clone(), message.clone()))
    else {
        let error = ZsError::rest(
            StatusCode::BAD_REQUEST,
            SYS_INVALID_ARGUMENT,
            "the body must be {\"<message class>\": {parameters}}",
        );
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(reply(GENERIC_REPLY, Err(error))),
        )
            .into_response();
    };
    let Some(api) = Api::from_message_class(&class) else {
        let error = ZsError::failed(
            SYS_UNKNOWN_MESSAGE,
            format!("no service can deal with message[{class}]"),
        );
        return axum::Json(reply(GENERIC_REPLY, Err(error))).into_response();
    };
    let mut message = match message {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => {
            let error = ZsError::argerr(format!(
                "the message[{class}] must be a JSON object, not {other}"
            ));
            return axum::Json(reply(api.reply_class(), Err(error))).into_response();
        }
    };
    let session = session_of(&message);
    message.remove("session");
    let result = if api.is_query() {
        match crate::query::QuerySpec::from_message(&message) {
            Ok(spec) => execute(&state, api, session.as_deref(), Input::Query(spec)).await,
            Err(error) => Err(error),
        }
    } else {
        execute(&state, api, session.as_deref(), Input::Params(message)).await
    };
    axum::Json(reply(api.reply_class(), result)).into_response()
}
