//! The API catalogue (message class, reply class, REST action name of every call) and the one
//! dispatcher that both the REST paths and the message API go through.

use crate::error::ZsError;
use crate::query::QuerySpec;
use crate::wire::{Params, parse_uuid};
use crate::{collections, session, tickets};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};
use ticketd_core::{Actor, Engine};
use ticketd_http::AppState;
use ticketd_http::auth::{AuthError, authenticate_token};
use uuid::Uuid;

/// Every call this dialect serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Api {
    /// `APILogInByAccountMsg`
    LogInByAccount,
    /// `APILoginIAM2VirtualIDMsg`
    LoginIam2VirtualId,
    /// `APILogOutMsg`
    LogOut,
    /// `APIValidateSessionMsg`
    ValidateSession,
    /// `APICreateTicketMsg`
    CreateTicket,
    /// `APIChangeTicketStatusMsg`
    ChangeTicketStatus,
    /// `APIUpdateTicketRequestMsg`
    UpdateTicketRequest,
    /// `APIDeleteTicketMsg`
    DeleteTicket,
    /// `APIArchiveTicketMsg`
    ArchiveTicket,
    /// `APIQueryTicketMsg`
    QueryTicket,
    /// `APIQueryTicketHistoryMsg`
    QueryTicketHistory,
    /// `APIQueryArchiveTicketMsg`
    QueryArchiveTicket,
    /// `APIQueryArchiveTicketHistoryMsg`
    QueryArchiveTicketHistory,
    /// `APIQueryTicketTypeMsg`
    QueryTicketType,
    /// `APICreateIAM2TickFlowCollectionMsg`
    CreateFlowCollection,
    /// `APIUpdateIAM2TicketFlowCollectionMsg`
    UpdateFlowCollection,
    /// `APIChangeTicketFlowCollectionStateMsg`
    ChangeFlowCollectionState,
    /// `APIDeleteTicketFlowCollectionMsg`
    DeleteFlowCollection,
    /// `APIQueryTicketFlowCollectionMsg`
    QueryFlowCollection,
    /// `APIAddTicketTypesToTicketFlowCollectionMsg`
    AddTicketTypes,
    /// `APIRemoveTicketTypesFromTicketFlowCollectionMsg`
    RemoveTicketTypes,
    /// `APIAddIAM2TicketFlowMsg`
    AddFlow,
    /// `APIUpdateIAM2TicketFlowMsg`
    UpdateFlow,
    /// `APIDeleteIAM2TicketFlowMsg`
    DeleteFlow,
    /// `APIQueryTicketFlowMsg`
    QueryFlow,
}

/// One catalogue row: the call, its message class, its reply (or event) class, and the body key
/// of its REST action or login (`None` for creates, deletes and queries).
type Entry = (Api, &'static str, &'static str, Option<&'static str>);

const CATALOGUE: [Entry; 25] = [
    (
        Api::LogInByAccount,
        "org.zstack.header.identity.APILogInByAccountMsg",
        "org.zstack.header.identity.APILogInReply",
        Some("logInByAccount"),
    ),
    (
        Api::LoginIam2VirtualId,
        "org.zstack.iam2.api.APILoginIAM2VirtualIDMsg",
        "org.zstack.iam2.api.APILoginIAM2VirtualIDReply",
        Some("loginIAM2VirtualID"),
    ),
    (
        Api::LogOut,
        "org.zstack.header.identity.APILogOutMsg",
        "org.zstack.header.identity.APILogOutReply",
        None,
    ),
    (
        Api::ValidateSession,
        "org.zstack.header.identity.APIValidateSessionMsg",
        "org.zstack.header.identity.APIValidateSessionReply",
        None,
    ),
    (
        Api::CreateTicket,
        "org.zstack.ticket.api.APICreateTicketMsg",
        "org.zstack.ticket.api.APICreateTicketEvent",
        None,
    ),
    (
        Api::ChangeTicketStatus,
        "org.zstack.ticket.api.APIChangeTicketStatusMsg",
        "org.zstack.ticket.api.APIChangeTicketStatusEvent",
        Some("changeTicketStatus"),
    ),
    (
        Api::UpdateTicketRequest,
        "org.zstack.ticket.api.APIUpdateTicketRequestMsg",
        "org.zstack.ticket.api.APIUpdateTicketRequestEvent",
        Some("updateTicketRequest"),
    ),
    (
        Api::DeleteTicket,
        "org.zstack.ticket.api.APIDeleteTicketMsg",
        "org.zstack.ticket.api.APIDeleteTicketEvent",
        None,
    ),
    (
        Api::ArchiveTicket,
        "org.zstack.ticket.api.APIArchiveTicketMsg",
        "org.zstack.ticket.api.APIArchiveTicketEvent",
        Some("archiveTicket"),
    ),
    (
        Api::QueryTicket,
        "org.zstack.ticket.api.APIQueryTicketMsg",
        "org.zstack.ticket.api.APIQueryTicketReply",
        None,
    ),
    (
        Api::QueryTicketHistory,
        "org.zstack.ticket.api.APIQueryTicketHistoryMsg",
        "org.zstack.ticket.api.APIQueryTicketHistoryReply",
        None,
    ),
    (
        Api::QueryArchiveTicket,
        "org.zstack.ticket.api.APIQueryArchiveTicketMsg",
        "org.zstack.ticket.api.APIQueryArchiveTicketReply",
        None,
    ),
    (
        Api::QueryArchiveTicketHistory,
        "org.zstack.ticket.api.APIQueryArchiveTicketHistoryMsg",
        "org.zstack.ticket.api.APIQueryArchiveTicketHistoryReply",
        None,
    ),
    (
        Api::QueryTicketType,
        "org.zstack.ticket.api.APIQueryTicketTypeMsg",
        "org.zstack.ticket.api.APIQueryTicketTypeReply",
        None,
    ),
    (
        Api::CreateFlowCollection,
        "org.zstack.ticket.iam2.api.APICreateIAM2TickFlowCollectionMsg",
        "org.zstack.ticket.iam2.api.APICreateIAM2TickFlowCollectionEvent",
        None,
    ),
    (
        Api::UpdateFlowCollection,
        "org.zstack.ticket.iam2.api.APIUpdateIAM2TicketFlowCollectionMsg",
        "org.zstack.ticket.iam2.api.APIUpdateIAM2TicketFlowCollectionEvent",
        Some("updateIAM2TicketFlowCollection"),
    ),
    (
        Api::ChangeFlowCollectionState,
        "org.zstack.ticket.api.APIChangeTicketFlowCollectionStateMsg",
        "org.zstack.ticket.api.APIChangeTicketFlowCollectionStateEvent",
        Some("changeTicketFlowCollectionState"),
    ),
    (
        Api::DeleteFlowCollection,
        "org.zstack.ticket.api.APIDeleteTicketFlowCollectionMsg",
        "org.zstack.ticket.api.APIDeleteTicketFlowCollectionEvent",
        None,
    ),
    (
        Api::QueryFlowCollection,
        "org.zstack.ticket.api.APIQueryTicketFlowCollectionMsg",
        "org.zstack.ticket.api.APIQueryTicketFlowCollectionReply",
        None,
    ),
    (
        Api::AddTicketTypes,
        "org.zstack.ticket.api.APIAddTicketTypesToTicketFlowCollectionMsg",
        "org.zstack.ticket.api.APIAddTicketTypesToTicketFlowCollectionEvent",
        None,
    ),
    (
        Api::RemoveTicketTypes,
        "org.zstack.ticket.api.APIRemoveTicketTypesFromTicketFlowCollectionMsg",
        "org.zstack.ticket.api.APIRemoveTicketTypesFromTicketFlowCollectionEvent",
        None,
    ),
    (
        Api::AddFlow,
        "org.zstack.ticket.iam2.api.APIAddIAM2TicketFlowMsg",
        "org.zstack.ticket.iam2.api.APIAddIAM2TicketFlowEvent",
        None,
    ),
    (
        Api::UpdateFlow,
        "org.zstack.ticket.iam2.api.APIUpdateIAM2TicketFlowMsg",
        "org.zstack.ticket.iam2.api.APIUpdateIAM2TicketFlowEvent",
        Some("updateIAM2TicketFlow"),
    ),
    (
        Api::DeleteFlow,
        "org.zstack.ticket.iam2.api.APIDeleteIAM2TicketFlowMsg",
        "org.zstack.ticket.iam2.api.APIDeleteIAM2TicketFlowEvent",
        None,
    ),
    (
        Api::QueryFlow,
        "org.zstack.ticket.api.APIQueryTicketFlowMsg",
        "org.zstack.ticket.api.APIQueryTicketFlowReply",
        None,
    ),
];

/// The reply class of a message class nothing serves.
pub(crate) const GENERIC_REPLY: &str = "org.zstack.header.message.APIReply";

impl Api {
    fn entry(self) -> Option<&'static Entry> {
        CATALOGUE.iter().find(|e| e.0 == self)
    }

    /// The fully qualified message class.
    pub(crate) fn message_class(self) -> &'static str {
        self.entry().map_or("", |e| e.1)
    }

    /// The fully qualified reply or event class.
    pub(crate) fn reply_class(self) -> &'static str {
        self.entry().map_or(GENERIC_REPLY, |e| e.2)
    }

    /// The body key of a REST action or login.
    pub(crate) fn action_name(self) -> Option<&'static str> {
        self.entry().and_then(|e| e.3)
    }

    /// Every message class the message API serves, in catalogue order.
    pub(crate) fn message_classes() -> impl Iterator<Item = &'static str> {
        CATALOGUE.iter().map(|e| e.1)
    }

    /// The call a message class names.
    pub(crate) fn from_message_class(class: &str) -> Option<Api> {
        CATALOGUE.iter().find(|e| e.1 == class).map(|e| e.0)
    }

    /// Query calls take a [`QuerySpec`] instead of parameters.
    pub(crate) fn is_query(self) -> bool {
        matches!(
            self,
            Api::QueryTicket
                | Api::QueryTicketHistory
                | Api::QueryArchiveTicket
                | Api::QueryArchiveTicketHistory
                | Api::QueryTicketType
                | Api::QueryFlowCollection
                | Api::QueryFlow
        )
    }

    /// Calls that run without a session (they create, end or check one).
    fn sessionless(self) -> bool {
        matches!(
            self,
            Api::LogInByAccount | Api::LoginIam2VirtualId | Api::LogOut | Api::ValidateSession
        )
    }
}

/// How a call's parameters arrive.
#[derive(Debug)]
pub(crate) enum Input {
    /// The parameter object (REST: the wrapped body plus path and query variables).
    Params(Map<String, Value>),
    /// A query.
    Query(QuerySpec),
}

/// What an authenticated call works with.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    /// Shared state.
    pub(crate) state: &'a AppState,
    /// The caller.
    pub(crate) actor: Actor,
    /// The time of the request.
    pub(crate) now: DateTime<Utc>,
    /// The request's `X-Job-UUID`, where its API reads it (CreateTicket).
    pub(crate) job: Option<Uuid>,
}

impl Ctx<'_> {
    /// The engine.
    pub(crate) fn engine(&self) -> &Engine {
        &self.state.engine
    }

    /// The zone dates are rendered in.
    pub(crate) fn zone(&self) -> Tz {
        self.state.settings.time_zone
    }

    /// The largest page a query answers.
    pub(crate) fn max_page(&self) -> u32 {
        self.state.settings.max_page_size
    }
}

/// The caller a session belongs to. Sessions are 32-hex; the hyphenated form of one is
/// accepted too, and so is any other ticketd token (an API token works as a session).
pub(crate) async fn authenticate(
    state: &AppState,
    session: Option<&str>,
    api: Api,
) -> Result<Actor, ZsError> {
    let Some(raw) = session.map(str::trim).filter(|s| !s.is_empty()) else {
        return Err(ZsError::session(format!(
            "session of message[{}] is null",
            api.message_class()
        )));
    };
    let mut candidates = vec![raw.to_owned()];
    if let Some(id) = parse_uuid(raw) {
        let simple = crate::wire::hex(id);
        if simple != raw {
            candidates.push(simple);
        }
    }
    for candidate in candidates {
        match authenticate_token(state, &candidate).await {
            Ok(actor) => return Ok(actor),
            Err(AuthError::Internal(error)) => return Err(error.into()),
            Err(AuthError::Throttled(throttled)) => {
                return Err(ZsError::throttled(throttled.retry_after_secs));
            }
            Err(_) => {}
        }
    }
    Err(ZsError::session(
        "the session is invalid or has expired, please log in again",
    ))
}

fn params_of(api: Api, input: Input) -> Result<Map<String, Value>, ZsError> {
    match input {
        Input::Params(map) => Ok(map),
        Input::Query(_) => Err(ZsError::argerr(format!(
            "message[{}] takes parameters, not a query",
            api.message_class()
        ))),
    }
}

/// Runs one call; the answer is the fields of the REST answer (`inventory`, `inventories`,
/// `total`, …), empty for calls that answer nothing.
pub(crate) async fn execute(
    state: &AppState,
    api: Api,
    session: Option<&str>,
    input: Input,
) -> Result<Map<String, Value>, ZsError> {
    execute_job(state, api, session, input, None).await
}

/// [`execute`] for a request that names its job (`X-Job-UUID`).
pub(crate) async fn execute_job(
    state: &AppState,
    api: Api,
    session: Option<&str>,
    input: Input,
    job: Option<Uuid>,
) -> Result<Map<String, Value>, ZsError> {
    if api.sessionless() {
        let map = params_of(api, input)?;
        let params = Params::new(&map, api);
        return match api {
            Api::LogInByAccount => session::log_in(state, &params, "accountName").await,
            Api::LoginIam2VirtualId => session::log_in(state, &params, "name").await,
            Api::LogOut => session::log_out(state, &params).await,
            _ => session::validate(state, &params).await,
        };
    }
    let actor = authenticate(state, session, api).await?;
    let ctx = Ctx {
        state,
        actor,
        now: ticketd_http::now(),
        job,
    };
    if api.is_query() {
        let spec = match input {
            Input::Query(spec) => spec,
            Input::Params(map) => QuerySpec::from_message(&map)?,
        };
        return match api {
            Api::QueryTicket => tickets::query(&ctx, &spec, false).await,
            Api::QueryArchiveTicket => tickets::query(&ctx, &spec, true).await,
            Api::QueryTicketHistory => tickets::query_history(&ctx, &spec, false).await,
            Api::QueryArchiveTicketHistory => tickets::query_history(&ctx, &spec, true).await,
            Api::QueryTicketType => tickets::query_types(&ctx, &spec),
            Api::QueryFlowCollection => collections::query(&ctx, &spec).await,
            _ => collections::query_flows(&ctx, &spec).await,
        };
    }
    let map = params_of(api, input)?;
    let params = Params::new(&map, api);
    match api {
        Api::CreateTicket => tickets::create(&ctx, &params).await,
        Api::ChangeTicketStatus => tickets::change_status(&ctx, &params).await,
        Api::UpdateTicketRequest => tickets::update_request(&ctx, &params).await,
        Api::DeleteTicket => tickets::delete(&ctx, &params).await,
        Api::ArchiveTicket => tickets::archive(&ctx, &params).await,
        Api::CreateFlowCollection => collections::create(&ctx, &params).await,
        Api::UpdateFlowCollection => collections::update(&ctx, &params).await,
        Api::ChangeFlowCollectionState => collections::change_state(&ctx, &params).await,
        Api::DeleteFlowCollection => collections::delete(&ctx, &params).await,
        Api::AddTicketTypes => collections::add_types(&ctx, &params).await,
        Api::RemoveTicketTypes => collections::remove_types(&ctx, &params).await,
        Api::AddFlow => collections::add_flow(&ctx, &params).await,
        Api::UpdateFlow => collections::update_flow(&ctx, &params).await,
        Api::DeleteFlow => collections::delete_flow(&ctx, &params).await,
        other => Err(ZsError::failed(
            crate::error::SYS_UNKNOWN_MESSAGE,
            format!(
                "no service can deal with message[{}]",
                other.message_class()
            ),
        )),
    }
}

/// `{"inventory": …}` for one rendered inventory.
pub(crate) fn one(inventory: Map<String, Value>) -> Map<String, Value> {
    let mut answer = Map::new();
    answer.insert("inventory".into(), Value::Object(inventory));
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_has_one_message_class_and_a_reply_class() {
        let mut classes: Vec<&str> = CATALOGUE.iter().map(|e| e.1).collect();
        classes.sort_unstable();
        classes.dedup();
        assert_eq!(classes.len(), CATALOGUE.len());
        for (api, class, reply, _) in CATALOGUE {
            assert_eq!(Api::from_message_class(class), Some(api));
            assert!(
                class.ends_with("Msg") && (reply.ends_with("Reply") || reply.ends_with("Event"))
            );
        }
    }
}
