//! The ticket state machine: pure functions from (ticket, actor, action, time) to one write.
//!
//! Every rule of who may do what, and from which state, lives here once; the engine loads the
//! ticket, calls [`apply`], and hands the resulting [`TicketWrite`] to the store, which applies
//! it atomically if the ticket's version is unchanged.

use crate::actor::Actor;
use crate::error::{ConflictKind, DomainError, FieldError};
use crate::flow::{Level, LevelMode};
use crate::identity::DirectoryEntry;
use crate::ids::{FlowId, OrgId, RoleId, TicketId, UserId};
use crate::payload::{self, ApplyAsset};
use crate::ticket::{
    Assignee, Comment, CommentKind, Decision, Event, HistoryAction, HistoryEntry, KIND_APPLY_ASSET,
    Step, StepState, StepStatus, Ticket, TicketState, TicketWrite, UnchangedRows,
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

/// The longest title accepted.
pub const MAX_TITLE_CHARS: usize = 256;

/// The longest ticket type accepted. The type is a column of the list indexes: at 4 bytes a
/// character this keeps an index entry under PostgreSQL's limit (2,704 bytes), which a TopHC
/// type of 10,000 characters passed.
pub const MAX_KIND_CHARS: usize = 128;

/// What the machine needs besides the ticket: the time, and a source of fresh ids.
pub struct Ctx<'a> {
    /// The current time.
    pub now: DateTime<Utc>,
    /// Returns a new unique id each call.
    pub new_id: &'a mut dyn FnMut() -> Uuid,
}

impl std::fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// Changes the applicant may make to a ticket that is not under review.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TicketEdit {
    /// New title.
    pub title: Option<String>,
    /// New content.
    pub payload: Option<Value>,
    /// New comment or reason.
    pub comment: Option<String>,
    /// New flow.
    pub flow_id: Option<FlowId>,
}

/// An action on an existing ticket.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Submit a draft; `steps` are built by [`build_steps`].
    Submit {
        /// The steps of round 1.
        steps: Vec<Step>,
        /// The applicant's comment, kept in the history.
        reason: String,
    },
    /// Submit a rejected or closed ticket again: a new round with rebuilt steps.
    Resubmit {
        /// The steps of the new round.
        steps: Vec<Step>,
        /// The applicant's comment, kept in the history.
        reason: String,
    },
    /// Approve the current step (optionally editing the content, as JumpServer approvers may).
    Approve {
        /// The approver's comment.
        reason: String,
        /// Replacement content, validated like the original.
        payload: Option<Value>,
        /// What the replacement changed, as the dialect shows it (JumpServer's table of
        /// changed fields), added to the approval's comment; `None` or empty for nothing.
        changes: Option<String>,
    },
    /// Reject the current step.
    Reject {
        /// Why.
        reason: String,
    },
    /// Close: by the applicant or an assignee of the current step.
    Close {
        /// Why.
        reason: String,
    },
    /// Withdraw: by the applicant only.
    Withdraw {
        /// Why.
        reason: String,
    },
    /// Close by a system administrator (JumpServer's super-ticket endpoint).
    SuperClose {
        /// Why.
        reason: String,
    },
    /// Reject a pending ticket one of whose remaining levels has no approver left (ZStack's
    /// auto-reject when an approver leaves the project); the engine decides that it is
    /// stranded and who records it, so no actor is checked here.
    RejectStranded {
        /// Why, as the flow's API words it.
        reason: String,
    },
    /// Archive a finished ticket.
    Archive,
    /// The applicant acknowledges the outcome of a decided ticket.
    Confirm,
    /// Mark a draft or finished ticket deleted.
    Delete,
    /// Change a draft or closed ticket's content.
    Edit(TicketEdit),
}

impl Action {
    /// Stable name, used in errors and history.
    pub fn name(&self) -> &'static str {
        self.history_action().as_str()
    }

    fn history_action(&self) -> HistoryAction {
        match self {
            Self::Submit { .. } => HistoryAction::Submit,
            Self::Resubmit { .. } => HistoryAction::Resubmit,
            Self::Approve { .. } => HistoryAction::Approve,
            Self::Reject { .. } | Self::RejectStranded { .. } => HistoryAction::Reject,
            Self::Close { .. } => HistoryAction::Close,
            Self::Withdraw { .. } => HistoryAction::Withdraw,
            Self::SuperClose { .. } => HistoryAction::SuperClose,
            Self::Archive => HistoryAction::Archive,
            Self::Confirm => HistoryAction::Confirm,
            Self::Delete => HistoryAction::Delete,
            Self::Edit(_) => HistoryAction::Edit,
        }
    }
}

/// What a new ticket starts from.
#[derive(Clone, Debug)]
pub struct OpenSpec {
    /// Its id (client-supplied or fresh).
    pub id: TicketId,
    /// Organization.
    pub org_id: OrgId,
    /// Type.
    pub kind: String,
    /// Title.
    pub title: String,
    /// The applicant.
    pub applicant_id: UserId,
    /// `"Name(username)"` of the applicant.
    pub applicant_display: String,
    /// The flow the steps come from, if any.
    pub flow_id: Option<FlowId>,
    /// `Some` submits at once; `None` saves a draft.
    pub steps: Option<Vec<Step>>,
    /// CC users.
    pub cc_users: Vec<UserId>,
    /// Content.
    pub payload: Value,
    /// Comment or reason.
    pub comment: String,
    /// Dialect partition key.
    pub scope: String,
    /// Day part of the serial number.
    pub serial_day: String,
}

/// Builds the steps of a round from flow levels and the users they may match.
///
/// `directory` holds inactive users too, whom no step assigns. The applicant is excluded from
/// a level unless the level's rule names nobody else, active or not; then they stay and the
/// step records `applicant_included`, so a self-approval is visible in the history.
pub fn build_steps(
    flow_org: OrgId,
    levels: &[Level],
    directory: &[DirectoryEntry],
    applicant: Option<UserId>,
    pair_roles: &dyn Fn(OrgId, UserId) -> Vec<RoleId>,
    now: DateTime<Utc>,
) -> Vec<Step> {
    levels
        .iter()
        .enumerate()
        .map(|(i, level)| {
            let mut matched: Vec<&DirectoryEntry> = directory
                .iter()
                .filter(|e| level.selector.names(e, pair_roles))
                .collect();
            matched.sort_by(|a, b| a.user.username.cmp(&b.user.username));
            matched.dedup_by_key(|e| e.user.id);
            // The applicant is left out unless the rule names nobody else, deactivated users
            // included, as JumpServer counts them: a colleague's deactivation must not make the
            // applicant the one approver of their own application (until 2026-12-07 it did).
            if matched.len() > 1 {
                matched.retain(|e| Some(e.user.id) != applicant);
            }
            matched.retain(|e| e.user.is_active);
            let applicant_included = matched.len() == 1 && Some(matched[0].user.id) == applicant;
            let count = u32::try_from(matched.len()).unwrap_or(u32::MAX);
            let mode = match level.mode {
                LevelMode::Threshold { n } => LevelMode::Threshold {
                    n: n.min(count.max(1)),
                },
                other => other,
            };
            Step {
                level: u32::try_from(i + 1).unwrap_or(u32::MAX),
                mode,
                name: level.name.clone(),
                attributes: level.attributes.clone(),
                state: StepState::Pending,
                status: StepStatus::Pending,
                assignees: matched
                    .into_iter()
                    .map(|e| Assignee {
                        user_id: e.user.id,
                        display: e.user.display(),
                        decision: Decision::Pending,
                        decided_at: None,
                        reason: String::new(),
                    })
                    .collect(),
                applicant_included,
                orgs: match level.selector.foreign_orgs() {
                    pairs if !pairs.is_empty() => pairs,
                    _ if flow_org == crate::identity::ROOT_ORG => Vec::new(),
                    _ => vec![flow_org],
                },
                updated_at: now,
            }
        })
        .collect()
}

fn validate_kind(kind: &str) -> Result<(), DomainError> {
    validate_text("type", kind, MAX_KIND_CHARS)
}

fn validate_title(title: &str) -> Result<(), DomainError> {
    validate_text("title", title, MAX_TITLE_CHARS)
}

/// A required text field: not blank, at most `max` characters.
fn validate_text(field: &str, text: &str, max: usize) -> Result<(), DomainError> {
    if text.trim().is_empty() {
        return Err(DomainError::invalid(
            field,
            "required",
            "this field may not be blank",
        ));
    }
    if text.chars().count() > max {
        return Err(DomainError::invalid(
            field,
            "too_long",
            format!("ensure this field has no more than {max} characters"),
        ));
    }
    Ok(())
}

/// Validates and normalises the content of a ticket of `kind`.
pub fn normalize_payload(
    kind: &str,
    ticket_id: TicketId,
    title: &str,
    payload: Value,
    now: DateTime<Utc>,
) -> Result<Value, DomainError> {
    if kind == payload::KIND_DATA_PERMISSION {
        payload::validate_table_permission(&payload, now).map_err(DomainError::Validation)?;
        return Ok(payload);
    }
    if kind != KIND_APPLY_ASSET {
        return Ok(payload);
    }
    let mut content = ApplyAsset::from_value(&payload).map_err(DomainError::Validation)?;
    content.validate().map_err(DomainError::Validation)?;
    if content.permission_name.is_empty() {
        content.permission_name = payload::permission_name(title, ticket_id.uuid(), 4);
    }
    Ok(content.to_value())
}

/// Creates a ticket: a draft when `spec.steps` is `None`, otherwise submitted at level 1.
pub fn open(spec: OpenSpec, ctx: &mut Ctx<'_>) -> Result<TicketWrite, DomainError> {
    validate_kind(&spec.kind)?;
    validate_title(&spec.title)?;
    let payload = normalize_payload(&spec.kind, spec.id, &spec.title, spec.payload, ctx.now)?;
    let submitted = spec.steps.is_some();
    let ticket = Ticket {
        id: spec.id,
        serial: String::new(),
        org_id: spec.org_id,
        kind: spec.kind,
        title: spec.title,
        applicant_id: Some(spec.applicant_id),
        applicant_display: spec.applicant_display.clone(),
        flow_id: spec.flow_id,
        state: if submitted {
            TicketState::Pending
        } else {
            TicketState::Draft
        },
        approval_step: 1,
        round: u32::from(submitted),
        steps: Arc::new(spec.steps.unwrap_or_default()),
        cc_users: spec.cc_users,
        payload: payload.into(),
        comment: spec.comment,
        scope: spec.scope,
        archived: false,
        confirmed: false,
        deleted: false,
        version: 1,
        created_at: ctx.now,
        updated_at: ctx.now,
        finished_at: None,
    };
    let mut write = Recorder::opening(ticket.clone());
    write.serial_day = Some(spec.serial_day);
    let action = if submitted {
        HistoryAction::Submit
    } else {
        HistoryAction::Save
    };
    let actor = (Some(spec.applicant_id), spec.applicant_display);
    write.history(
        ctx,
        action,
        &actor,
        TicketState::Draft,
        1,
        String::new(),
        false,
    );
    if submitted {
        write.state_comment(ctx, &actor, "opened", "submit");
        let recipients = write.step_assignees(1);
        write.event(
            ctx,
            "ticket.submitted",
            json!({"actor": actor.0, "level": 1, "notify": recipients}),
        );
    } else {
        write.event(ctx, "ticket.saved", json!({"actor": actor.0}));
    }
    Ok(write.finish())
}

/// Applies `action` by `actor` to `ticket`, returning the write that records it.
pub fn apply(
    ticket: &Ticket,
    actor: &Actor,
    action: Action,
    ctx: &mut Ctx<'_>,
) -> Result<TicketWrite, DomainError> {
    let name = action.name();
    let history_action = action.history_action();
    let mut next = ticket.clone();
    next.version = ticket.version + 1;
    next.updated_at = ctx.now;
    let is_applicant = ticket.applicant_id == Some(actor.id());
    let who = (Some(actor.id()), actor.display());
    let from = ticket.state;

    match action {
        Action::Submit { steps, reason } | Action::Resubmit { steps, reason } => {
            let allowed: &[TicketState] = if history_action == HistoryAction::Submit {
                &[TicketState::Draft]
            } else {
                &[TicketState::Rejected, TicketState::Closed]
            };
            require_state(ticket, name, allowed)?;
            require(is_applicant, name)?;
            require_not_archived(ticket, name)?;
            if history_action == HistoryAction::Resubmit
                && crate::ticket::asked_by_the_system(&next.kind)
            {
                // Until 2026-12-08 TopHC's `overruled/submit` put a refused command before its
                // reviewers again.
                return Err(DomainError::invalid(
                    "type",
                    "invalid",
                    format!(
                        "a {} ticket is asked for by the system: it is not submitted again",
                        next.kind
                    ),
                ));
            }
            if next.kind == payload::KIND_DATA_PERMISSION {
                // As at the opening: an expired permission can never be approved, so a ticket
                // submitted with one would wait for ever.
                payload::validate_table_permission(&next.payload, ctx.now)
                    .map_err(DomainError::Validation)?;
            }
            next.state = TicketState::Pending;
            next.round = ticket.round + 1;
            next.approval_step = 1;
            next.steps = Arc::new(steps);
            next.confirmed = false;
            next.archived = false;
            let mut write = Recorder::update(ticket, next);
            write.history(ctx, history_action, &who, from, 1, reason, false);
            if history_action == HistoryAction::Resubmit
                && let Some(entry) = write.history.last_mut()
            {
                entry.ended_round_steps = Some(Arc::clone(&ticket.steps));
            }
            let verb = if history_action == HistoryAction::Submit {
                "opened"
            } else {
                "reopened"
            };
            write.state_comment(ctx, &who, verb, history_action.as_str());
            let notify = write.step_assignees(1);
            write.event(
                ctx,
                if history_action == HistoryAction::Submit {
                    "ticket.submitted"
                } else {
                    "ticket.resubmitted"
                },
                json!({"actor": who.0, "level": 1, "round": ticket.round + 1, "notify": notify}),
            );
            Ok(write.finish())
        }
        Action::Approve {
            reason,
            payload,
            changes,
        } => {
            let edit = Edit { payload, changes };
            decide(ticket, next, actor, true, reason, edit, ctx)
        }
        Action::Reject { reason } => {
            decide(ticket, next, actor, false, reason, Edit::default(), ctx)
        }
        Action::RejectStranded { reason } => {
            require_state(ticket, name, &[TicketState::Pending])?;
            let level = ticket.approval_step;
            end_current_step(
                &mut next,
                StepState::Rejected,
                TicketState::Rejected,
                ctx.now,
            );
            let mut write = Recorder::update(ticket, next);
            write.history(ctx, history_action, &who, from, level, reason, false);
            write.state_comment(ctx, &who, "rejected", name);
            let notify = write.applicant_and_cc();
            write.event(
                ctx,
                "ticket.rejected",
                json!({"actor": who.0, "level": level, "decision": name, "stranded": true, "notify": notify}),
            );
            Ok(write.finish())
        }
        Action::Close { reason } | Action::Withdraw { reason } | Action::SuperClose { reason } => {
            require_state(ticket, name, &[TicketState::Pending])?;
            let allowed = match history_action {
                HistoryAction::Close => {
                    is_applicant
                        || ticket.is_current_assignee(actor.id())
                            && ticket
                                .current_step()
                                .is_some_and(|step| still_eligible(step, actor))
                }
                HistoryAction::Withdraw => is_applicant,
                _ => actor.is_system_admin(),
            };
            require(allowed, name)?;
            let level = ticket.approval_step;
            end_current_step(&mut next, StepState::Closed, TicketState::Closed, ctx.now);
            let mut write = Recorder::update(ticket, next);
            write.history(ctx, history_action, &who, from, level, reason, false);
            write.state_comment(ctx, &who, "closed", history_action.as_str());
            let notify = write.applicant_and_cc();
            write.event(
                ctx,
                "ticket.closed",
                json!({"actor": who.0, "level": level, "how": name, "notify": notify}),
            );
            Ok(write.finish())
        }
        Action::Archive => {
            require_state(
                ticket,
                name,
                &[
                    TicketState::Approved,
                    TicketState::Rejected,
                    TicketState::Closed,
                ],
            )?;
            require(is_applicant || actor.may_manage_org(ticket.org_id), name)?;
            if ticket.archived {
                return Err(conflict(name, ticket, ConflictKind::NotAllowedInState));
            }
            next.archived = true;
            Ok(simple_write(
                ticket,
                next,
                history_action,
                &who,
                "ticket.archived",
                ctx,
            ))
        }
        Action::Confirm => {
            require_state(
                ticket,
                name,
                &[TicketState::Approved, TicketState::Rejected],
            )?;
            require(is_applicant, name)?;
            if ticket.confirmed {
                return Err(conflict(name, ticket, ConflictKind::NotAllowedInState));
            }
            next.confirmed = true;
            Ok(simple_write(
                ticket,
                next,
                history_action,
                &who,
                "ticket.confirmed",
                ctx,
            ))
        }
        Action::Delete => {
            require_state(
                ticket,
                name,
                &[
                    TicketState::Draft,
                    TicketState::Closed,
                    TicketState::Approved,
                    TicketState::Rejected,
                ],
            )?;
            // A draft is its applicant's own until submitted (core-model: "delete own draft");
            // organization administrators delete finished tickets only.
            let manager = actor.may_manage_org(ticket.org_id) && ticket.state != TicketState::Draft;
            require(is_applicant || manager, name)?;
            next.deleted = true;
            Ok(simple_write(
                ticket,
                next,
                history_action,
                &who,
                "ticket.deleted",
                ctx,
            ))
        }
        Action::Edit(edit) => {
            require_state(ticket, name, &[TicketState::Draft, TicketState::Closed])?;
            require(is_applicant, name)?;
            require_not_archived(ticket, name)?;
            if let Some(title) = edit.title {
                validate_title(&title)?;
                next.title = title;
            }
            if let Some(payload) = edit.payload {
                next.payload =
                    normalize_payload(&next.kind, next.id, &next.title, payload, ctx.now)?.into();
            }
            if let Some(comment) = edit.comment {
                next.comment = comment;
            }
            if let Some(flow_id) = edit.flow_id {
                next.flow_id = Some(flow_id);
            }
            Ok(simple_write(
                ticket,
                next,
                history_action,
                &who,
                "ticket.edited",
                ctx,
            ))
        }
    }
}

fn simple_write(
    before: &Ticket,
    next: Ticket,
    action: HistoryAction,
    who: &(Option<UserId>, String),
    event: &str,
    ctx: &mut Ctx<'_>,
) -> TicketWrite {
    let mut write = Recorder::update(before, next);
    write.history(ctx, action, who, before.state, 0, String::new(), false);
    write.event(ctx, event, json!({"actor": who.0}));
    write.finish()
}

/// An approver's edit of the content: the replacement, and what it changed as the dialect
/// shows it.
#[derive(Default)]
struct Edit {
    payload: Option<Value>,
    changes: Option<String>,
}

/// Whether `actor`, an assignee of `step`, may still act on it. Resolved as a member, an
/// assignee acts while still a member of an organization the step was resolved from (JumpServer
/// hides an organization's tickets from those who left it); a system administrator is a
/// candidate everywhere. Steps built before their organizations were kept are not checked.
pub fn still_eligible(step: &Step, actor: &Actor) -> bool {
    step.orgs.is_empty()
        || actor.is_system_admin()
        || step
            .orgs
            .iter()
            .any(|o| actor.memberships.iter().any(|m| m.org_id == *o))
}

fn decide(
    ticket: &Ticket,
    mut next: Ticket,
    actor: &Actor,
    approve: bool,
    reason: String,
    edit: Edit,
    ctx: &mut Ctx<'_>,
) -> Result<TicketWrite, DomainError> {
    let name = if approve { "approve" } else { "reject" };
    require_state(ticket, name, &[TicketState::Pending])?;
    let level = ticket.approval_step;
    let Some(step_idx) = next.steps.iter().position(|s| s.level == level) else {
        return Err(conflict(name, ticket, ConflictKind::StateChanged));
    };
    let Some(assignee_idx) = next.steps[step_idx]
        .assignees
        .iter()
        .position(|a| a.user_id == actor.id())
    else {
        return Err(if ticket.is_assignee(actor.id()) {
            conflict(name, ticket, ConflictKind::StateChanged)
        } else {
            DomainError::Forbidden {
                action: name.into(),
            }
        });
    };
    if next.steps[step_idx].assignees[assignee_idx].decision != Decision::Pending {
        return Err(conflict(name, ticket, ConflictKind::StateChanged));
    }
    if !still_eligible(&next.steps[step_idx], actor) {
        return Err(DomainError::Forbidden {
            action: format!("{name}: no longer a member of the ticket's organization"),
        });
    }
    if let Some(payload) = edit.payload {
        next.payload =
            normalize_payload(&next.kind, next.id, &next.title, payload, ctx.now)?.into();
    }
    let self_approved = ticket.applicant_id == Some(actor.id());
    let step = &mut Arc::make_mut(&mut next.steps)[step_idx];
    {
        let assignee = &mut step.assignees[assignee_idx];
        assignee.decision = if approve {
            Decision::Approved
        } else {
            Decision::Rejected
        };
        assignee.decided_at = Some(ctx.now);
        assignee.reason = reason.clone();
    }
    step.updated_at = ctx.now;
    let total = step.assignees.len();
    let approvals = step
        .assignees
        .iter()
        .filter(|a| a.decision == Decision::Approved)
        .count();
    let pending = step
        .assignees
        .iter()
        .filter(|a| a.decision == Decision::Pending)
        .count();
    let settled = match step.mode {
        LevelMode::Any => Some(approve),
        LevelMode::All if !approve => Some(false),
        LevelMode::All => (approvals == total).then_some(true),
        LevelMode::Threshold { n } => {
            let need = usize::try_from(n)
                .unwrap_or(usize::MAX)
                .clamp(1, total.max(1));
            if approvals >= need {
                Some(true)
            } else if approvals + pending < need {
                Some(false)
            } else {
                None
            }
        }
    };
    let mut grant = None;
    let event_kind;
    match settled {
        Some(true) => {
            step.state = StepState::Approved;
            step.status = StepStatus::Closed;
            if let Some(following) = Arc::make_mut(&mut next.steps)
                .iter_mut()
                .find(|s| s.level == level + 1)
            {
                following.status = StepStatus::Active;
                following.updated_at = ctx.now;
                next.approval_step = level + 1;
                event_kind = "ticket.level_approved";
            } else {
                next.state = TicketState::Approved;
                event_kind = "ticket.approved";
                if next.kind == KIND_APPLY_ASSET {
                    let content =
                        ApplyAsset::from_value(&next.payload).map_err(DomainError::Validation)?;
                    content.validate_final().map_err(DomainError::Validation)?;
                    let processors: Vec<String> = next
                        .steps
                        .iter()
                        .filter_map(|s| s.processor().map(|a| a.display.clone()))
                        .collect();
                    grant = Some(payload::asset_permission_grant(
                        &next,
                        &content,
                        &processors,
                        ctx.now,
                    ));
                }
                if next.kind == payload::KIND_DATA_PERMISSION {
                    // Again here: a ticket stored before the rule would be granted for ever.
                    payload::validate_table_permission(&next.payload, ctx.now)
                        .map_err(DomainError::Validation)?;
                    grant = Some(payload::table_permission_grant(&next, ctx.now));
                }
            }
        }
        Some(false) => {
            step.state = StepState::Rejected;
            step.status = StepStatus::Closed;
            next.state = TicketState::Rejected;
            event_kind = "ticket.rejected";
        }
        None => {
            event_kind = "ticket.decision";
        }
    }
    let who = (Some(actor.id()), actor.display());
    let history_action = if approve {
        HistoryAction::Approve
    } else {
        HistoryAction::Reject
    };
    let mut write = Recorder::update(ticket, next);
    write.history(
        ctx,
        history_action,
        &who,
        ticket.state,
        level,
        reason,
        self_approved,
    );
    let verb = if approve { "approved" } else { "rejected" };
    let changes = edit.changes.filter(|c| !c.is_empty());
    write.comment(ctx, &who, action_body(&who, verb, changes.as_deref()), name);
    let notify = if event_kind == "ticket.level_approved" {
        let mut users = write.step_assignees(level + 1);
        users.extend(write.applicant_and_cc());
        users
    } else {
        write.applicant_and_cc()
    };
    // The final approval carries the approved content, so the platform that executes it (ZStack
    // requests, TopHC provisioning) needs nothing but the outbox.
    let mut details = json!({"actor": who.0, "level": level, "decision": name, "self_approved": self_approved, "notify": notify});
    if event_kind == "ticket.approved" {
        details["content"] = Value::clone(&write.ticket.payload);
    }
    write.event(ctx, event_kind, details);
    if let Some(grant) = grant {
        write.event(
            ctx,
            "grant.created",
            json!({"grant_id": grant.id, "kind": grant.kind, "users": grant.users}),
        );
        write.write.grant = Some(grant);
    }
    Ok(write.finish())
}

/// Ends a pending ticket at its current level without a decision of an assignee's (a close, a
/// stranded ticket's rejection): the level's step takes `step_state` and is closed, the ticket
/// takes `state`.
fn end_current_step(
    next: &mut Ticket,
    step_state: StepState,
    state: TicketState,
    now: DateTime<Utc>,
) {
    let level = next.approval_step;
    if let Some(step) = Arc::make_mut(&mut next.steps)
        .iter_mut()
        .find(|s| s.level == level)
    {
        step.state = step_state;
        step.status = StepStatus::Closed;
        step.updated_at = now;
    }
    next.state = state;
}

fn require(allowed: bool, action: &str) -> Result<(), DomainError> {
    if allowed {
        Ok(())
    } else {
        Err(DomainError::Forbidden {
            action: action.into(),
        })
    }
}

/// An archived ticket is filed away as it ended: it is read, confirmed or deleted, never
/// changed or reopened (a ZStack ticket moved to the archive queries was still updated and
/// reopened by its id, and left the archive).
/// The refusal names the archive, not the state it ended in ("a ticket that is archived").
fn require_not_archived(ticket: &Ticket, action: &'static str) -> Result<(), DomainError> {
    if ticket.archived {
        Err(DomainError::InvalidTransition {
            action: static_action(action),
            state: "archived",
            conflict: ConflictKind::NotAllowedInState,
        })
    } else {
        Ok(())
    }
}

fn require_state(
    ticket: &Ticket,
    action: &'static str,
    allowed: &[TicketState],
) -> Result<(), DomainError> {
    if ticket.deleted {
        return Err(DomainError::ticket_not_found(ticket.id));
    }
    if allowed.contains(&ticket.state) {
        return Ok(());
    }
    let deciding = matches!(
        action,
        "approve" | "reject" | "close" | "withdraw" | "super_close"
    );
    let kind = if deciding && ticket.state.is_finished() {
        ConflictKind::AlreadyProcessed
    } else {
        ConflictKind::NotAllowedInState
    };
    Err(conflict(action, ticket, kind))
}

fn conflict(action: &str, ticket: &Ticket, kind: ConflictKind) -> DomainError {
    DomainError::InvalidTransition {
        action: static_action(action),
        state: ticket.state.as_str(),
        conflict: kind,
    }
}

fn static_action(action: &str) -> &'static str {
    HistoryAction::parse(action).map_or("act on", HistoryAction::as_str)
}

/// Collects the rows of one transition.
struct Recorder {
    write: TicketWrite,
}

impl std::ops::Deref for Recorder {
    type Target = TicketWrite;
    fn deref(&self) -> &TicketWrite {
        &self.write
    }
}

impl std::ops::DerefMut for Recorder {
    fn deref_mut(&mut self) -> &mut TicketWrite {
        &mut self.write
    }
}

impl Recorder {
    fn opening(ticket: Ticket) -> Self {
        Self {
            write: TicketWrite::new(ticket, None),
        }
    }

    fn update(before: &Ticket, mut next: Ticket) -> Self {
        // The end is the first finishing transition's; a ticket submitted again has none.
        next.finished_at = match (before.state.is_finished(), next.state.is_finished()) {
            (_, false) => None,
            (false, true) => Some(next.updated_at),
            (true, true) => before.finished_at,
        };
        let unchanged = UnchangedRows::between(before, &next);
        Self {
            write: TicketWrite {
                unchanged,
                ..TicketWrite::new(next, Some(before.version))
            },
        }
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one history row has this many columns"
    )]
    fn history(
        &mut self,
        ctx: &mut Ctx<'_>,
        action: HistoryAction,
        who: &(Option<UserId>, String),
        from: TicketState,
        level: u32,
        reason: String,
        self_approved: bool,
    ) {
        let ticket = &self.write.ticket;
        self.write.history.push(HistoryEntry {
            id: (ctx.new_id)(),
            ticket_id: ticket.id,
            round: ticket.round,
            level,
            action,
            actor_id: who.0,
            actor_display: who.1.clone(),
            from_state: from,
            to_state: ticket.state,
            reason,
            self_approved,
            created_at: ctx.now,
            ended_round_steps: None,
        });
    }

    fn state_comment(
        &mut self,
        ctx: &mut Ctx<'_>,
        who: &(Option<UserId>, String),
        verb: &str,
        state: &str,
    ) {
        self.comment(ctx, who, action_body(who, verb, None), state);
    }

    /// The state comment of an action, with `body`.
    fn comment(
        &mut self,
        ctx: &mut Ctx<'_>,
        who: &(Option<UserId>, String),
        body: String,
        state: &str,
    ) {
        let ticket_id = self.write.ticket.id;
        self.write.comments.push(Comment {
            id: (ctx.new_id)(),
            ticket_id,
            user_id: who.0,
            user_display: who.1.clone(),
            body,
            kind: CommentKind::State,
            state: Some(state.to_owned()),
            created_at: ctx.now,
        });
    }

    fn event(&mut self, ctx: &mut Ctx<'_>, kind: &str, payload: Value) {
        let ticket = &self.write.ticket;
        self.write.events.push(Event {
            id: (ctx.new_id)(),
            kind: kind.to_owned(),
            ticket_id: ticket.id,
            org_id: ticket.org_id,
            payload,
            created_at: ctx.now,
        });
    }

    fn step_assignees(&self, level: u32) -> Vec<UserId> {
        self.write
            .ticket
            .steps
            .iter()
            .filter(|s| s.level == level)
            .flat_map(|s| s.assignees.iter().map(|a| a.user_id))
            .chain(self.write.ticket.cc_users.iter().copied())
            .collect()
    }

    fn applicant_and_cc(&self) -> Vec<UserId> {
        let ticket = &self.write.ticket;
        ticket
            .applicant_id
            .into_iter()
            .chain(ticket.cc_users.iter().copied())
            .collect()
    }

    fn finish(self) -> TicketWrite {
        self.write
    }
}

/// Field errors of a final apply_asset approval, exposed for dialects that pre-check.
pub fn final_approval_errors(ticket: &Ticket) -> Vec<FieldError> {
    if ticket.kind != KIND_APPLY_ASSET {
        return Vec::new();
    }
    match ApplyAsset::from_value(&ticket.payload) {
        Ok(content) => content.validate_final().err().unwrap_or_default(),
        Err(errors) => errors,
    }
}

/// A state comment's text, as JumpServer writes it ("Bob(bob) approved the ticket"), followed
/// by `changes` after a blank line.
fn action_body(who: &(Option<UserId>, String), verb: &str, changes: Option<&str>) -> String {
    match changes {
        Some(changes) => format!("{} {verb} the ticket\n\n{changes}", who.1),
        None => format!("{} {verb} the ticket", who.1),
    }
}

#[cfg(test)]
mod tests;
