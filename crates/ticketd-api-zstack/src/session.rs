//! Sessions: account and IAM2 virtual-ID login (SHA-512 hex passwords), logout, validation.

use crate::api::{Api, authenticate, one};
use crate::error::{ID_AUTHENTICATION, ZsError};
use crate::wire::{Params, date, hex, parse_uuid};
use serde_json::{Map, Value, json};
use ticketd_core::DomainError;
use ticketd_core::credentials::PasswordForm;
use ticketd_core::identity::TokenKind;
use ticketd_http::auth::{AuthError, admit_login};
use ticketd_http::{AppState, now};

/// `logInByAccount` (`accountName`) and `loginIAM2VirtualID` (`name`): both name a ticketd user
/// and present the SHA-512 hex of the password. The session handed out is a fresh 32-hex id.
pub(crate) async fn log_in(
    state: &AppState,
    params: &Params<'_>,
    name_field: &str,
) -> Result<Map<String, Value>, ZsError> {
    let name = params.req_str(name_field, 255)?;
    let password = params.req_str("password", 1024)?;
    if let Err(AuthError::Throttled(throttled)) = admit_login(state, &name) {
        return Err(ZsError::throttled(throttled.retry_after_secs));
    }
    let now = now();
    let engine = &state.engine;
    let (actor, engine_token, expires) = match engine
        .login(name.trim(), PasswordForm::Sha512Hex, &password, now)
        .await
    {
        Ok(login) => login,
        Err(DomainError::Unauthenticated) => {
            return Err(ZsError::failed(
                ID_AUTHENTICATION,
                "wrong account name or password",
            ));
        }
        Err(other) => return Err(other.into()),
    };
    // ZStack sessions are 32-hex uuids, so the engine's own token text is swapped for one.
    let session = engine.random_hex(16);
    let installed = engine
        .install_token(actor.id(), &session, TokenKind::Session, Some(expires), now)
        .await;
    if let Err(error) = engine.logout(&engine_token).await {
        // Never handed out, it expires with the session; nothing is lost by keeping it.
        tracing::warn!(%error, "could not drop the login token replaced by a ZStack session");
    }
    installed?;
    let user = hex(actor.id().uuid());
    Ok(one(
        match json!({
            "uuid": session,
            "accountUuid": user,
            "userUuid": user,
            "expiredDate": date(expires, state.settings.time_zone),
            "createDate": date(now, state.settings.time_zone),
        }) {
            Value::Object(map) => map,
            _ => Map::new(),
        },
    ))
}

fn session_param(params: &Params<'_>) -> Result<String, ZsError> {
    params.req_str("sessionUuid", 255)
}

/// `APILogOutMsg`: ends the session (unknown sessions are already ended).
pub(crate) async fn log_out(
    state: &AppState,
    params: &Params<'_>,
) -> Result<Map<String, Value>, ZsError> {
    let raw = session_param(params)?;
    let raw = raw.trim();
    state.engine.logout(raw).await?;
    if let Some(id) = parse_uuid(raw) {
        let simple = hex(id);
        if simple != raw {
            state.engine.logout(&simple).await?;
        }
    }
    Ok(Map::new())
}

/// `APIValidateSessionMsg`: whether the session is still valid.
pub(crate) async fn validate(
    state: &AppState,
    params: &Params<'_>,
) -> Result<Map<String, Value>, ZsError> {
    let raw = session_param(params)?;
    let valid = match authenticate(state, Some(&raw), Api::ValidateSession).await {
        Ok(_) => true,
        Err(error) if error.code == crate::error::ID_INVALID_SESSION => false,
        Err(other) => return Err(other),
    };
    let mut answer = Map::new();
    answer.insert("validSession".into(), Value::Bool(valid));
    Ok(answer)
}
