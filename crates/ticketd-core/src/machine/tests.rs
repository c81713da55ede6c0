//! Tests of the pure state machine: every action from every state by every kind of actor, the
//! level modes, self-approval, step building, and what each transition writes.

use super::{
    Action, Ctx, MAX_KIND_CHARS, MAX_TITLE_CHARS, OpenSpec, TicketEdit, apply, build_steps, open,
};
use crate::actor::Actor;
use crate::error::{ConflictKind, DomainError};
use crate::flow::{Level, LevelMode};
use crate::identity::{
    DirectoryEntry, Membership, ROLE_ORG_ADMIN, ROLE_ORG_AUDITOR, ROLE_ORG_USER, SystemRole, User,
};
use crate::ids::{FlowId, OrgId, RoleId, TicketId, UserId};
use crate::payload;
use crate::selector::Selector;
use crate::ticket::{
    Decision, HistoryAction, KIND_APPLY_ASSET, Step, StepState, StepStatus, Ticket, TicketState,
    TicketWrite, UnchangedRows,
};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::{Value, json};
use std::collections::HashSet;
use uuid::Uuid;

use crate::ticket::TicketState::{Approved, Closed, Draft, Pending, Rejected};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

const ORG: OrgId = OrgId(Uuid::from_u128(0xA0));
const OTHER_ORG: OrgId = OrgId(Uuid::from_u128(0xB0));
const FLOW: FlowId = FlowId(Uuid::from_u128(0xF0));
const TICKET: TicketId = TicketId(Uuid::from_u128(0x0196_0000_0000_7000_8000_1234_5678_9abc));

/// A fixed instant `minutes` after 2026-03-02 09:00 UTC; tests never read the clock.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + TimeDelta::minutes(minutes)
}

fn user(n: u128, username: &str, name: &str, system_role: SystemRole) -> User {
    User {
        id: UserId(Uuid::from_u128(n)),
        username: username.into(),
        name: name.into(),
        email: format!("{username}@example.com"),
        system_role,
        is_active: true,
        created_at: at(0),
        updated_at: at(0),
    }
}

fn actor_with(user: User, roles: &[(OrgId, RoleId)]) -> Actor {
    let memberships = roles
        .iter()
        .map(|&(org_id, role_id)| Membership {
            org_id,
            user_id: user.id,
            role_id,
        })
        .collect();
    Actor { user, memberships }
}

/// An ordinary member of [`ORG`].
fn member(n: u128, username: &str, name: &str) -> Actor {
    actor_with(
        user(n, username, name, SystemRole::User),
        &[(ORG, ROLE_ORG_USER)],
    )
}

/// Everybody the "who may do what" table distinguishes.
struct People {
    applicant: Actor,
    /// The assignee of level 1 of the standard two-level flow.
    first: Actor,
    /// The assignee of level 2 of the standard two-level flow.
    second: Actor,
    stranger: Actor,
    org_admin: Actor,
    /// An org admin of another organization (and an ordinary member of [`ORG`]).
    foreign_admin: Actor,
    sys_admin: Actor,
    auditor: Actor,
}

fn people() -> People {
    People {
        applicant: member(1, "alice", "Alice"),
        first: member(2, "bob", "Bob"),
        second: member(3, "carol", "Carol"),
        stranger: member(4, "dave", "Dave"),
        org_admin: actor_with(
            user(5, "erin", "Erin", SystemRole::User),
            &[(ORG, ROLE_ORG_ADMIN)],
        ),
        foreign_admin: actor_with(
            user(6, "frank", "Frank", SystemRole::User),
            &[(ORG, ROLE_ORG_USER), (OTHER_ORG, ROLE_ORG_ADMIN)],
        ),
        sys_admin: actor_with(user(7, "grace", "Grace", SystemRole::Admin), &[]),
        auditor: actor_with(user(8, "heidi", "Heidi", SystemRole::Auditor), &[]),
    }
}

/// `n` extra approvers named `approver1`, `approver2`, … (sorted by username as built steps are).
fn approvers(n: u128) -> Vec<Actor> {
    (1..=n)
        .map(|i| member(100 + i, &format!("approver{i}"), &format!("Approver {i}")))
        .collect()
}

fn entry(actor: &Actor) -> DirectoryEntry {
    DirectoryEntry {
        user: actor.user.clone(),
        org_roles: actor.org_roles(ORG),
    }
}

fn no_pairs(_: OrgId, _: UserId) -> Vec<RoleId> {
    Vec::new()
}

fn level(mode: LevelMode, who: &[&Actor]) -> Level {
    Level {
        selector: Selector::Ids {
            ids: who.iter().map(|a| a.id()).collect(),
        },
        mode,
        name: String::new(),
        attributes: Value::Null,
    }
}

/// Steps built the way the engine builds them, over a directory of `members`.
fn steps_for(levels: &[Level], members: &[&Actor], applicant: &Actor) -> Vec<Step> {
    let directory: Vec<DirectoryEntry> = members.iter().map(|a| entry(a)).collect();
    build_steps(
        ORG,
        levels,
        &directory,
        Some(applicant.id()),
        &no_pairs,
        at(0),
    )
}

/// The standard flow: level 1 decided by `first`, level 2 by `second`, both `any`.
fn two_level_steps(p: &People) -> Vec<Step> {
    steps_for(
        &[
            level(LevelMode::Any, &[&p.first]),
            level(LevelMode::Any, &[&p.second]),
        ],
        &[&p.applicant, &p.first, &p.second, &p.stranger],
        &p.applicant,
    )
}

fn spec(p: &People, steps: Option<Vec<Step>>) -> OpenSpec {
    OpenSpec {
        id: TICKET,
        org_id: ORG,
        kind: "general".into(),
        title: "Access to prod".into(),
        applicant_id: p.applicant.id(),
        applicant_display: p.applicant.display(),
        flow_id: Some(FLOW),
        steps,
        cc_users: Vec::new(),
        payload: json!({"note": "please"}),
        comment: "needed for the release".into(),
        scope: String::new(),
        serial_day: "20260302".into(),
    }
}

fn approve() -> Action {
    Action::Approve {
        reason: "ok".into(),
        payload: None,
        changes: None,
    }
}

fn reject() -> Action {
    Action::Reject {
        reason: "no".into(),
    }
}

/// The time and id source of one test: each call gets the next minute and fresh sequential ids.
struct Env {
    last_id: u128,
    minutes: i64,
}

impl Env {
    fn new() -> Self {
        Self {
            last_id: 0x1_0000,
            minutes: 0,
        }
    }

    /// The time the last call ran at.
    fn now(&self) -> DateTime<Utc> {
        at(self.minutes)
    }

    fn run<T>(&mut self, f: impl FnOnce(&mut Ctx<'_>) -> T) -> T {
        self.minutes += 1;
        let now = at(self.minutes);
        let counter = &mut self.last_id;
        let mut new_id = move || {
            *counter += 1;
            Uuid::from_u128(*counter)
        };
        f(&mut Ctx {
            now,
            new_id: &mut new_id,
        })
    }

    fn open(&mut self, spec: OpenSpec) -> Result<TicketWrite, DomainError> {
        self.run(|ctx| open(spec, ctx))
    }

    fn apply(
        &mut self,
        ticket: &Ticket,
        actor: &Actor,
        action: Action,
    ) -> Result<TicketWrite, DomainError> {
        self.run(|ctx| apply(ticket, actor, action, ctx))
    }

    /// Applies an action that must succeed and returns its write.
    #[track_caller]
    fn must_write(&mut self, ticket: &Ticket, actor: &Actor, action: Action) -> TicketWrite {
        let name = action.name();
        match self.apply(ticket, actor, action) {
            Ok(write) => write,
            Err(e) => panic!("{name} by {} failed: {e:?}", actor.user.username),
        }
    }

    /// Applies an action that must succeed and returns the new ticket.
    #[track_caller]
    fn must(&mut self, ticket: &Ticket, actor: &Actor, action: Action) -> Ticket {
        self.must_write(ticket, actor, action).ticket
    }

    /// Opens a ticket submitted at once with `steps`.
    #[track_caller]
    fn submitted(&mut self, p: &People, steps: Vec<Step>) -> Ticket {
        match self.open(spec(p, Some(steps))) {
            Ok(write) => write.ticket,
            Err(e) => panic!("open failed: {e:?}"),
        }
    }

    /// The standard ticket in `state`, reached through the machine itself.
    fn ticket_in(&mut self, p: &People, state: TicketState) -> Ticket {
        let draft = self.open(spec(p, None)).unwrap().ticket;
        if state == Draft {
            return draft;
        }
        let pending = self.must(
            &draft,
            &p.applicant,
            Action::Submit {
                steps: two_level_steps(p),
                reason: String::new(),
            },
        );
        match state {
            Draft | Pending => pending,
            Approved => {
                let halfway = self.must(&pending, &p.first, approve());
                self.must(&halfway, &p.second, approve())
            }
            Rejected => self.must(&pending, &p.first, reject()),
            Closed => self.must(
                &pending,
                &p.applicant,
                Action::Withdraw {
                    reason: "later".into(),
                },
            ),
        }
    }
}

fn step_at(ticket: &Ticket, level: u32) -> &Step {
    ticket.steps.iter().find(|s| s.level == level).unwrap()
}

fn decision_of(ticket: &Ticket, level: u32, actor: &Actor) -> Decision {
    step_at(ticket, level)
        .assignees
        .iter()
        .find(|a| a.user_id == actor.id())
        .unwrap()
        .decision
}

fn event_kinds(write: &TicketWrite) -> Vec<&str> {
    write.events.iter().map(|e| e.kind.as_str()).collect()
}

fn assignee_ids(step: &Step) -> Vec<UserId> {
    step.assignees.iter().map(|a| a.user_id).collect()
}

/// What every successful transition writes.
#[track_caller]
fn assert_transition(
    before: &Ticket,
    write: &TicketWrite,
    action: HistoryAction,
    actor: &Actor,
    now: DateTime<Utc>,
    context: &str,
) {
    let after = &write.ticket;
    assert_eq!(after.id, before.id, "{context}: id");
    assert_eq!(
        after.version,
        before.version + 1,
        "{context}: version is bumped by one"
    );
    assert_eq!(
        write.expected_version,
        Some(before.version),
        "{context}: expected version"
    );
    assert_eq!(
        write.serial_day, None,
        "{context}: an update takes no serial number"
    );
    assert_eq!(after.updated_at, now, "{context}: updated_at");
    assert_eq!(after.created_at, before.created_at, "{context}: created_at");
    assert_eq!(
        write.history.len(),
        1,
        "{context}: exactly one history entry"
    );
    let entry = &write.history[0];
    assert_eq!(entry.action, action, "{context}: history action");
    assert_eq!(entry.from_state, before.state, "{context}: history from");
    assert_eq!(entry.to_state, after.state, "{context}: history to");
    assert_eq!(entry.ticket_id, before.id, "{context}: history ticket");
    assert_eq!(entry.round, after.round, "{context}: history round");
    assert_eq!(entry.actor_id, Some(actor.id()), "{context}: history actor");
    assert_eq!(
        entry.actor_display,
        actor.display(),
        "{context}: history actor display"
    );
    assert_eq!(entry.created_at, now, "{context}: history time");
    assert!(
        !write.events.is_empty(),
        "{context}: at least one outbox event"
    );
    for event in &write.events {
        assert_eq!(event.ticket_id, before.id, "{context}: event ticket");
        assert_eq!(event.org_id, before.org_id, "{context}: event org");
        assert_eq!(event.created_at, now, "{context}: event time");
    }
    let ids: Vec<Uuid> = write
        .history
        .iter()
        .map(|h| h.id)
        .chain(write.comments.iter().map(|c| c.id))
        .chain(write.events.iter().map(|e| e.id))
        .collect();
    let unique: HashSet<&Uuid> = ids.iter().collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "{context}: every row gets a fresh id"
    );
}

// ---------------------------------------------------------------------------------------------
// The "who may do what" table
// ---------------------------------------------------------------------------------------------

/// The kinds of actor the table distinguishes, in the order of the columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Applicant,
    /// An assignee of the ticket's current step (`approval_step`).
    CurrentAssignee,
    /// An assignee of another step of the same round.
    OtherStepAssignee,
    Stranger,
    OrgAdmin,
    ForeignOrgAdmin,
    SysAdmin,
    SysAuditor,
}

const EVERYONE: [Who; 8] = [
    Who::Applicant,
    Who::CurrentAssignee,
    Who::OtherStepAssignee,
    Who::Stranger,
    Who::OrgAdmin,
    Who::ForeignOrgAdmin,
    Who::SysAdmin,
    Who::SysAuditor,
];

impl Who {
    /// The actor of this kind for `ticket`. A draft has no steps yet, so its "assignees" are the
    /// users the flow would pick: strangers to the ticket for now.
    fn actor(self, p: &People, ticket: &Ticket) -> Actor {
        let second_is_current = ticket.approval_step == 2;
        match self {
            Who::Applicant => p.applicant.clone(),
            Who::CurrentAssignee if second_is_current => p.second.clone(),
            Who::CurrentAssignee => p.first.clone(),
            Who::OtherStepAssignee if second_is_current => p.first.clone(),
            Who::OtherStepAssignee => p.second.clone(),
            Who::Stranger => p.stranger.clone(),
            Who::OrgAdmin => p.org_admin.clone(),
            Who::ForeignOrgAdmin => p.foreign_admin.clone(),
            Who::SysAdmin => p.sys_admin.clone(),
            Who::SysAuditor => p.auditor.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    Submit,
    Resubmit,
    Approve,
    Reject,
    Close,
    Withdraw,
    SuperClose,
    Archive,
    Confirm,
    Delete,
    Edit,
}

const EVERY_ACT: [Act; 11] = [
    Act::Submit,
    Act::Resubmit,
    Act::Approve,
    Act::Reject,
    Act::Close,
    Act::Withdraw,
    Act::SuperClose,
    Act::Archive,
    Act::Confirm,
    Act::Delete,
    Act::Edit,
];

const EDITED_TITLE: &str = "Access to prod, read-only";

impl Act {
    fn action(self, p: &People) -> Action {
        let reason = || "because".to_owned();
        match self {
            Act::Submit => Action::Submit {
                steps: two_level_steps(p),
                reason: String::new(),
            },
            Act::Resubmit => Action::Resubmit {
                steps: two_level_steps(p),
                reason: String::new(),
            },
            Act::Approve => Action::Approve {
                reason: reason(),
                payload: None,
                changes: None,
            },
            Act::Reject => Action::Reject { reason: reason() },
            Act::Close => Action::Close { reason: reason() },
            Act::Withdraw => Action::Withdraw { reason: reason() },
            Act::SuperClose => Action::SuperClose { reason: reason() },
            Act::Archive => Action::Archive,
            Act::Confirm => Action::Confirm,
            Act::Delete => Action::Delete,
            Act::Edit => Action::Edit(TicketEdit {
                title: Some(EDITED_TITLE.into()),
                ..TicketEdit::default()
            }),
        }
    }

    fn history(self) -> HistoryAction {
        match self {
            Act::Submit => HistoryAction::Submit,
            Act::Resubmit => HistoryAction::Resubmit,
            Act::Approve => HistoryAction::Approve,
            Act::Reject => HistoryAction::Reject,
            Act::Close => HistoryAction::Close,
            Act::Withdraw => HistoryAction::Withdraw,
            Act::SuperClose => HistoryAction::SuperClose,
            Act::Archive => HistoryAction::Archive,
            Act::Confirm => HistoryAction::Confirm,
            Act::Delete => HistoryAction::Delete,
            Act::Edit => HistoryAction::Edit,
        }
    }
}

/// The outcome a cell of the table expects.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Want {
    /// Ok, and the ticket ends in this state.
    To(TicketState),
    /// Ok, and the ticket keeps its state (a mark or the content changes).
    Kept,
    /// `DomainError::Forbidden`.
    Forbidden,
    /// `InvalidTransition` with `ConflictKind::AlreadyProcessed`.
    AlreadyProcessed,
    /// `InvalidTransition` with `ConflictKind::StateChanged`.
    StateChanged,
    /// `InvalidTransition` with `ConflictKind::NotAllowedInState`.
    NotAllowed,
    /// `DomainError::NotFound` for the ticket.
    NotFound,
    /// Anything else (never expected; shows the error in a failed assertion).
    Unexpected(String),
}

const F: Want = Want::Forbidden;
const NA: Want = Want::NotAllowed;
const DONE: Want = Want::AlreadyProcessed;
const CHANGED: Want = Want::StateChanged;
const KEPT: Want = Want::Kept;
const TO_PENDING: Want = Want::To(Pending);
const TO_REJECTED: Want = Want::To(Rejected);
const TO_CLOSED: Want = Want::To(Closed);

/// Maps an error to the table's vocabulary, checking the fields each variant carries.
#[track_caller]
fn classify(error: &DomainError, act: Act, ticket: &Ticket, context: &str) -> Want {
    let name = act.history().as_str();
    match error {
        DomainError::Forbidden { action } => {
            assert_eq!(action, name, "{context}: forbidden action");
            Want::Forbidden
        }
        DomainError::InvalidTransition {
            action,
            state,
            conflict,
        } => {
            assert_eq!(*action, name, "{context}: conflicting action");
            assert_eq!(
                *state,
                ticket.state.as_str(),
                "{context}: conflicting state"
            );
            match conflict {
                ConflictKind::AlreadyProcessed => Want::AlreadyProcessed,
                ConflictKind::StateChanged => Want::StateChanged,
                ConflictKind::NotAllowedInState => Want::NotAllowed,
                ConflictKind::Busy => Want::Unexpected(format!("{error:?}")),
            }
        }
        DomainError::NotFound { kind, id } => {
            assert_eq!(*kind, "ticket", "{context}: not found kind");
            assert_eq!(*id, ticket.id.to_string(), "{context}: not found id");
            Want::NotFound
        }
        other => Want::Unexpected(format!("{other:?}")),
    }
}

/// Applies `act` by `who` to `before` and checks the exact outcome and, on success, the write.
#[track_caller]
fn check_on(env: &mut Env, p: &People, before: &Ticket, act: Act, who: Who, want: Want) {
    let actor = who.actor(p, before);
    let context = format!("{act:?} on a {} ticket by {who:?}", before.state.as_str());
    let want = if want == Want::Kept {
        Want::To(before.state)
    } else {
        want
    };
    let result = env.apply(before, &actor, act.action(p));
    let got = match &result {
        Ok(write) => Want::To(write.ticket.state),
        Err(error) => classify(error, act, before, &context),
    };
    assert_eq!(got, want, "{context}");
    let Ok(write) = result else { return };
    let now = env.now();
    assert_transition(before, &write, act.history(), &actor, now, &context);
    let after = &write.ticket;
    // The fixtures carry no marks, so exactly the mark of the action is set afterwards.
    assert_eq!(
        after.archived,
        act == Act::Archive,
        "{context}: archived mark"
    );
    assert_eq!(
        after.confirmed,
        act == Act::Confirm,
        "{context}: confirmed mark"
    );
    assert_eq!(after.deleted, act == Act::Delete, "{context}: deleted mark");
    // The end: the transition that finishes a ticket sets it, later marks keep it, and a new
    // round takes it away.
    assert_eq!(
        before.finished_at.is_some(),
        before.state.is_finished(),
        "{context}: the fixture's end"
    );
    let end = match (before.state.is_finished(), after.state.is_finished()) {
        (_, false) => None,
        (false, true) => Some(now),
        (true, true) => before.finished_at,
    };
    assert_eq!(after.finished_at, end, "{context}: end");
    match act {
        Act::Submit | Act::Resubmit => {
            assert_eq!(after.round, before.round + 1, "{context}: round");
            assert_eq!(after.approval_step, 1, "{context}: approval step");
            assert_eq!(*after.steps, two_level_steps(p), "{context}: steps");
        }
        Act::Approve | Act::Reject => {
            let level = before.approval_step;
            let mine = step_at(after, level)
                .assignees
                .iter()
                .find(|a| a.user_id == actor.id())
                .unwrap();
            let decision = if act == Act::Approve {
                Decision::Approved
            } else {
                Decision::Rejected
            };
            assert_eq!(mine.decision, decision, "{context}: decision");
            assert_eq!(mine.decided_at, Some(now), "{context}: decided_at");
            assert_eq!(mine.reason, "because", "{context}: reason");
        }
        Act::Close | Act::Withdraw | Act::SuperClose => {
            let step = step_at(after, before.approval_step);
            assert_eq!(step.state, StepState::Closed, "{context}: step state");
            assert_eq!(step.status, StepStatus::Closed, "{context}: step status");
        }
        Act::Archive | Act::Confirm | Act::Delete | Act::Edit => {
            // Nothing but the mark (or the title), the version and the time changes.
            let mut expected = before.clone();
            expected.version += 1;
            expected.updated_at = now;
            expected.archived = act == Act::Archive;
            expected.confirmed = act == Act::Confirm;
            expected.deleted = act == Act::Delete;
            if act == Act::Edit {
                expected.title = EDITED_TITLE.into();
            }
            assert_eq!(after, &expected, "{context}: ticket");
        }
    }
}

/// Checks one cell: `act` by `who` on the standard ticket in `state`.
#[track_caller]
fn check(act: Act, state: TicketState, who: Who, want: Want) {
    let p = people();
    let mut env = Env::new();
    let before = env.ticket_in(&p, state);
    assert_eq!(before.state, state, "fixture state");
    check_on(&mut env, &p, &before, act, who, want);
}

/// Checks one row of the table; `wants` follows the order of [`EVERYONE`]:
/// applicant, current assignee, other-step assignee, stranger, org admin, foreign org admin,
/// system admin, system auditor.
#[track_caller]
fn row(act: Act, state: TicketState, wants: [Want; 8]) {
    for (who, want) in EVERYONE.into_iter().zip(wants) {
        check(act, state, who, want);
    }
}

#[test]
#[rustfmt::skip] // One row per line keeps the table readable.
fn only_the_applicant_submits_and_only_a_draft() {
    row(Act::Submit, Draft, [TO_PENDING, F, F, F, F, F, F, F]);
    row(Act::Submit, Pending, [NA, NA, NA, NA, NA, NA, NA, NA]);
    row(Act::Submit, Approved, [NA, NA, NA, NA, NA, NA, NA, NA]);
    row(Act::Submit, Rejected, [NA, NA, NA, NA, NA, NA, NA, NA]);
    row(Act::Submit, Closed, [NA, NA, NA, NA, NA, NA, NA, NA]);
}

#[test]
#[rustfmt::skip] // One row per line keeps the table readable.
fn only_the_applicant_resubmits_and_only_a_rejected_or_closed_ticket() {
    row(Act::Resubmit, Draft, [NA, NA, NA, NA, NA, NA, NA, NA]);
    row(Act::Resubmit, Pending, [NA, NA, NA, NA, NA, NA, NA, NA]);
    row(Act::Resubmit, Approved, [NA, NA, NA, NA, NA, NA, NA, NA]);
    row(Act::Resubmit, Rejected, [TO_PENDING, F, F, F, F, F, F, F]);
    row(Act::Resubmit, Closed, [TO_PENDING, F, F, F, F, F, F, F]);
}

#[test]
#[rustfmt::skip] // One row per line keeps the table readable.
fn only_an_assignee_of_the_current_step_approves_with_no_admin_bypass() {
    row(Act::Approve, Draft, [NA, NA, NA, NA, NA, NA, NA, NA]);
    // Level 1 of 2 is approved: the ticket stays pending and moves to level 2.
    row(Act::Approve, Pending, [F, TO_PENDING, CHANGED, F, F, F, F, F]);
    row(Act::Approve, Approved, [DONE, DONE, DONE, DONE, DONE, DONE, DONE, DONE]);
    row(Act::Approve, Rejected, [DONE, DONE, DONE, DONE, DONE, DONE, DONE, DONE]);
    row(Act::Approve, Closed, [DONE, DONE, DONE, DONE, DONE, DONE, DONE, DONE]);
}

#[test]
#[rustfmt::skip] // One row per line keeps the table readable.
fn only_an_assignee_of_the_current_step_rejects_with_no_admin_bypass() {
    row(Act::Reject, Draft, [NA, NA, NA, NA, NA, NA, NA, NA]);
    row(Act::Reject, Pending, [F, TO_REJECTED, CHANGED, F, F, F, F, F]);
    row(Act::Reject, Approved, [DONE, DONE, DONE, DONE, DONE, DONE, DONE, DONE]);
    row(Act::Reject, Rejected, [DONE, DONE, DONE, DONE, DONE, DONE, DONE, DONE]);
    row(Act::Reject, Closed, [DONE, DONE, DONE, DONE, DONE, DONE, DONE, DONE]);
}

#[test]
#[rustfmt::skip] // One row per line keeps the table readable.
fn the_applicant_or_a_current_assignee_closes_a_pending_ticket() {
    row(Act::Close, Draft, [NA, NA, NA, NA, NA, NA, NA, NA]);
    row(Act::Close, Pending, [TO_CLOSED, TO_CLOSED, F, F, F, F, F, F]);
    row(Act::Close, Approved, [DONE, DONE, DONE, DONE, DONE, DONE, DONE, DONE]);
    row(Act::Close, Rejected, [DONE, DONE, DONE, DONE, DONE, DONE, DONE, DONE]);
    row(Act::Close, Closed, [DONE, DONE, DONE, DONE, DONE, DONE, DONE, DONE]);
}

#[test]
#[rustfmt::skip] // One row per line keeps the table readable.
fn only_the_applicant_withdraws_a_pending_ticket() {
    row(Act::Withdraw, Draft, [NA, NA, NA, NA, NA, NA, NA, NA]);
    row(Act::Withdraw, Pending, [TO_CLOSED, F, F, F, F, F, F, F]);
    row(Act::Withdraw, Approved, [DONE, DONE, DONE, DONE, DONE, DONE, DONE, DONE]);
    row(Act::Withdraw, Rejected, [DONE, DONE, DONE, DONE, DONE, DONE, DONE, DONE]);
    row(Act::Withdraw, Closed, [DONE, DONE, DONE, DONE, DONE, DONE, DONE, DONE]);
}

#[test]
#[rustfmt::skip] // One row per line keeps the table readable.
fn only_a_system_admin_super_closes_a_pending_ticket() {
    row(Act::SuperClose, Draft, [NA, NA, NA, NA, NA, NA, NA, NA]);
    row(Act::SuperClose, Pending, [F, F, F, F, F, F, TO_CLOSED, F]);
    row(Act::SuperClose, Approved, [DONE, DONE, DONE, DONE, DONE, DONE, DONE, DONE]);
    row(Act::SuperClose, Rejected, [DONE, DONE, DONE, DONE, DONE, DONE, DONE, DONE]);
    row(Act::SuperClose, Closed, [DONE, DONE, DONE, DONE, DONE, DONE, DONE, DONE]);
}

#[test]
#[rustfmt::skip] // One row per line keeps the table readable.
fn the_applicant_and_admins_of_the_org_archive_a_finished_ticket() {
    row(Act::Archive, Draft, [NA, NA, NA, NA, NA, NA, NA, NA]);
    row(Act::Archive, Pending, [NA, NA, NA, NA, NA, NA, NA, NA]);
    row(Act::Archive, Approved, [KEPT, F, F, F, KEPT, F, KEPT, F]);
    row(Act::Archive, Rejected, [KEPT, F, F, F, KEPT, F, KEPT, F]);
    row(Act::Archive, Closed, [KEPT, F, F, F, KEPT, F, KEPT, F]);
}

#[test]
#[rustfmt::skip] // One row per line keeps the table readable.
fn only_the_applicant_confirms_a_decided_ticket() {
    row(Act::Confirm, Draft, [NA, NA, NA, NA, NA, NA, NA, NA]);
    row(Act::Confirm, Pending, [NA, NA, NA, NA, NA, NA, NA, NA]);
    row(Act::Confirm, Approved, [KEPT, F, F, F, F, F, F, F]);
    row(Act::Confirm, Rejected, [KEPT, F, F, F, F, F, F, F]);
    row(Act::Confirm, Closed, [NA, NA, NA, NA, NA, NA, NA, NA]);
}

#[test]
#[rustfmt::skip] // One row per line keeps the table readable.
fn the_applicant_deletes_a_draft_and_admins_of_the_org_a_finished_ticket() {
    row(Act::Delete, Draft, [KEPT, F, F, F, F, F, F, F]);
    row(Act::Delete, Pending, [NA, NA, NA, NA, NA, NA, NA, NA]);
    row(Act::Delete, Approved, [KEPT, F, F, F, KEPT, F, KEPT, F]);
    row(Act::Delete, Rejected, [KEPT, F, F, F, KEPT, F, KEPT, F]);
    row(Act::Delete, Closed, [KEPT, F, F, F, KEPT, F, KEPT, F]);
}

#[test]
#[rustfmt::skip] // One row per line keeps the table readable.
fn only_the_applicant_edits_a_draft_or_closed_ticket() {
    row(Act::Edit, Draft, [KEPT, F, F, F, F, F, F, F]);
    row(Act::Edit, Pending, [NA, NA, NA, NA, NA, NA, NA, NA]);
    row(Act::Edit, Approved, [NA, NA, NA, NA, NA, NA, NA, NA]);
    row(Act::Edit, Rejected, [NA, NA, NA, NA, NA, NA, NA, NA]);
    row(Act::Edit, Closed, [KEPT, F, F, F, F, F, F, F]);
}

#[test]
fn an_org_auditor_reads_but_never_acts() {
    let p = people();
    let mut env = Env::new();
    let org_auditor = actor_with(
        user(9, "ivan", "Ivan", SystemRole::User),
        &[(ORG, ROLE_ORG_AUDITOR)],
    );
    for state in [Draft, Pending, Approved, Rejected, Closed] {
        let ticket = env.ticket_in(&p, state);
        for act in EVERY_ACT {
            let name = act.history().as_str();
            match env.apply(&ticket, &org_auditor, act.action(&p)) {
                Err(DomainError::Forbidden { .. } | DomainError::InvalidTransition { .. }) => {}
                other => panic!("{name} on a {state:?} ticket by an org auditor: {other:?}"),
            }
        }
    }
}

#[test]
fn every_action_on_a_deleted_ticket_is_not_found() {
    let p = people();
    let mut env = Env::new();
    for state in [Draft, Approved, Rejected, Closed] {
        let ticket = env.ticket_in(&p, state);
        let deleted = env.must(&ticket, &p.applicant, Action::Delete);
        for act in EVERY_ACT {
            for who in EVERYONE {
                check_on(&mut env, &p, &deleted, act, who, Want::NotFound);
            }
        }
    }
}

#[test]
fn every_action_on_a_pending_ticket_marked_deleted_is_not_found() {
    let p = people();
    let mut env = Env::new();
    let mut ticket = env.ticket_in(&p, Pending);
    ticket.deleted = true;
    for act in EVERY_ACT {
        for who in EVERYONE {
            check_on(&mut env, &p, &ticket, act, who, Want::NotFound);
        }
    }
}

#[test]
fn an_assignee_of_another_step_gets_state_changed() {
    // Level 2's assignee acts while level 1 is current, and level 1's after it moved on.
    check(Act::Approve, Pending, Who::OtherStepAssignee, CHANGED);
    check(Act::Reject, Pending, Who::OtherStepAssignee, CHANGED);
    let p = people();
    let mut env = Env::new();
    let pending = env.ticket_in(&p, Pending);
    let at_level_2 = env.must(&pending, &p.first, approve());
    assert_eq!(at_level_2.approval_step, 2);
    check_on(
        &mut env,
        &p,
        &at_level_2,
        Act::Approve,
        Who::OtherStepAssignee,
        CHANGED,
    );
    check_on(
        &mut env,
        &p,
        &at_level_2,
        Act::Reject,
        Who::OtherStepAssignee,
        CHANGED,
    );
    check_on(
        &mut env,
        &p,
        &at_level_2,
        Act::Approve,
        Who::CurrentAssignee,
        Want::To(Approved),
    );
    // Closing is for current assignees only; an earlier level's assignee may not.
    check_on(
        &mut env,
        &p,
        &at_level_2,
        Act::Close,
        Who::OtherStepAssignee,
        F,
    );
    check_on(
        &mut env,
        &p,
        &at_level_2,
        Act::Close,
        Who::CurrentAssignee,
        TO_CLOSED,
    );
}

#[test]
fn deciding_twice_gets_state_changed() {
    let p = people();
    let mut env = Env::new();
    let team = approvers(2);
    let steps = steps_for(
        &[level(LevelMode::All, &[&team[0], &team[1]])],
        &[&team[0], &team[1]],
        &p.applicant,
    );
    let ticket = env.submitted(&p, steps);
    let once = env.must(&ticket, &team[0], approve());
    assert_eq!(once.state, Pending);
    for action in [approve(), reject()] {
        let err = env.apply(&once, &team[0], action).unwrap_err();
        assert!(
            matches!(
                err,
                DomainError::InvalidTransition {
                    conflict: ConflictKind::StateChanged,
                    state: "pending",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

#[test]
fn a_second_archive_or_confirm_is_not_allowed_but_a_stranger_is_still_forbidden() {
    let p = people();
    let mut env = Env::new();
    let approved = env.ticket_in(&p, Approved);
    let archived = env.must(&approved, &p.applicant, Action::Archive);
    let confirmed = env.must(&approved, &p.applicant, Action::Confirm);
    for who in [Who::Applicant, Who::OrgAdmin, Who::SysAdmin] {
        check_on(&mut env, &p, &archived, Act::Archive, who, NA);
    }
    check_on(&mut env, &p, &archived, Act::Archive, Who::Stranger, F);
    check_on(&mut env, &p, &confirmed, Act::Confirm, Who::Applicant, NA);
    check_on(
        &mut env,
        &p,
        &confirmed,
        Act::Confirm,
        Who::CurrentAssignee,
        F,
    );
}

/// A confirmation the system asked for (a login, a command) is not submitted again by its
/// applicant once refused or withdrawn; another ticket of the same history is.
#[test]
fn a_refused_or_withdrawn_confirmation_is_not_resubmitted() {
    let p = people();
    let mut env = Env::new();
    for kind in [
        "login_confirm",
        "login_asset_confirm",
        "command_confirm",
        "general",
    ] {
        for state in [Rejected, Closed] {
            let mut ended = env.ticket_in(&p, state);
            ended.kind = kind.into();
            let outcome = env.apply(
                &ended,
                &p.applicant,
                Action::Resubmit {
                    steps: two_level_steps(&p),
                    reason: String::new(),
                },
            );
            if kind == "general" {
                assert_eq!(outcome.unwrap().ticket.state, Pending);
            } else {
                assert!(
                    matches!(&outcome, Err(DomainError::Validation(errors)) if errors[0].field == "type"),
                    "{kind} {state:?}: {outcome:?}"
                );
            }
        }
    }
}

#[test]
fn marks_accumulate_and_an_archived_ticket_is_neither_resubmitted_nor_edited() {
    let p = people();
    let mut env = Env::new();
    let rejected = env.ticket_in(&p, Rejected);
    let confirmed = env.must(&rejected, &p.applicant, Action::Confirm);
    let archived = env.must(&confirmed, &p.org_admin, Action::Archive);
    assert!(archived.confirmed && archived.archived && !archived.deleted);
    assert_eq!(archived.state, Rejected);
    let deleted = env.must(&archived, &p.applicant, Action::Delete);
    assert!(deleted.confirmed && deleted.archived && deleted.deleted);

    let resubmit = || Action::Resubmit {
        steps: two_level_steps(&p),
        reason: String::new(),
    };
    // Filed away as it ended: not reopened, nor changed (a closed ticket may be edited).
    let edit = || {
        Action::Edit(TicketEdit {
            title: Some("changed".into()),
            ..TicketEdit::default()
        })
    };
    let closed = env.ticket_in(&p, Closed);
    let edited = env.must(&closed, &p.applicant, edit());
    assert_eq!(edited.title, "changed");
    let closed_archived = env.must(&closed, &p.applicant, Action::Archive);
    for (ticket, action) in [
        (&archived, resubmit()),
        (&closed_archived, resubmit()),
        (&closed_archived, edit()),
    ] {
        let refused = env.apply(ticket, &p.applicant, action);
        assert!(
            matches!(
                refused,
                Err(DomainError::InvalidTransition {
                    conflict: ConflictKind::NotAllowedInState,
                    state: "archived",
                    ..
                })
            ),
            "{refused:?}"
        );
    }
    // Not archived, it is: resubmitting clears the confirmation.
    let resubmitted = env.must(&confirmed, &p.applicant, resubmit());
    assert_eq!(resubmitted.state, Pending);
    assert!(!resubmitted.confirmed && !resubmitted.archived);
}

#[test]
fn only_assignees_may_close_so_a_system_admin_uses_super_close() {
    // A system admin is neither the applicant nor an assignee: plain close is forbidden to them,
    // and super-close is forbidden to everyone else (even the applicant).
    check(Act::Close, Pending, Who::SysAdmin, F);
    check(Act::SuperClose, Pending, Who::SysAdmin, TO_CLOSED);
    check(Act::SuperClose, Pending, Who::Applicant, F);
    check(Act::SuperClose, Pending, Who::OrgAdmin, F);
}

#[test]
fn closing_at_level_two_closes_that_step_and_keeps_level_one_approved() {
    let p = people();
    let mut env = Env::new();
    let pending = env.ticket_in(&p, Pending);
    let at_level_2 = env.must(&pending, &p.first, approve());
    let write = env.must_write(
        &at_level_2,
        &p.second,
        Action::Close {
            reason: "dup".into(),
        },
    );
    let closed = &write.ticket;
    assert_eq!(closed.state, Closed);
    assert_eq!(closed.approval_step, 2);
    assert_eq!(step_at(closed, 1).state, StepState::Approved);
    assert_eq!(step_at(closed, 2).state, StepState::Closed);
    assert_eq!(step_at(closed, 2).status, StepStatus::Closed);
    assert_eq!(write.history[0].level, 2);
    assert_eq!(write.history[0].reason, "dup");
    assert_eq!(event_kinds(&write), ["ticket.closed"]);
}

// ---------------------------------------------------------------------------------------------
// Level modes
// ---------------------------------------------------------------------------------------------

/// A ticket with one level of `mode` decided by `team`.
fn one_level(env: &mut Env, p: &People, mode: LevelMode, team: &[Actor]) -> Ticket {
    let members: Vec<&Actor> = team.iter().collect();
    let steps = steps_for(&[level(mode, &members)], &members, &p.applicant);
    env.submitted(p, steps)
}

#[test]
fn in_any_mode_the_first_approval_decides_the_level() {
    let p = people();
    let mut env = Env::new();
    let team = approvers(3);
    let ticket = one_level(&mut env, &p, LevelMode::Any, &team);
    let write = env.must_write(&ticket, &team[1], approve());
    let approved = &write.ticket;
    assert_eq!(approved.state, Approved);
    assert_eq!(step_at(approved, 1).state, StepState::Approved);
    assert_eq!(step_at(approved, 1).status, StepStatus::Closed);
    assert_eq!(decision_of(approved, 1, &team[0]), Decision::Pending);
    assert_eq!(decision_of(approved, 1, &team[1]), Decision::Approved);
    assert_eq!(
        step_at(approved, 1).processor().unwrap().user_id,
        team[1].id()
    );
    assert_eq!(event_kinds(&write), ["ticket.approved"]);
    // The others can no longer act.
    let err = env.apply(approved, &team[2], reject()).unwrap_err();
    assert!(
        matches!(
            err,
            DomainError::InvalidTransition {
                conflict: ConflictKind::AlreadyProcessed,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn in_any_mode_the_first_rejection_decides_the_level() {
    let p = people();
    let mut env = Env::new();
    let team = approvers(3);
    let ticket = one_level(&mut env, &p, LevelMode::Any, &team);
    let write = env.must_write(&ticket, &team[2], reject());
    assert_eq!(write.ticket.state, Rejected);
    assert_eq!(step_at(&write.ticket, 1).state, StepState::Rejected);
    assert_eq!(step_at(&write.ticket, 1).status, StepStatus::Closed);
    assert_eq!(event_kinds(&write), ["ticket.rejected"]);
}

#[test]
fn in_all_mode_every_assignee_must_approve() {
    let p = people();
    let mut env = Env::new();
    let team = approvers(3);
    let ticket = one_level(&mut env, &p, LevelMode::All, &team);

    let write = env.must_write(&ticket, &team[0], approve());
    let one = write.ticket.clone();
    assert_eq!(one.state, Pending);
    assert_eq!(one.approval_step, 1);
    assert_eq!(step_at(&one, 1).state, StepState::Pending);
    assert_eq!(step_at(&one, 1).status, StepStatus::Pending);
    assert_eq!(decision_of(&one, 1, &team[0]), Decision::Approved);
    assert_eq!(event_kinds(&write), ["ticket.decision"]);
    assert_eq!(write.history[0].from_state, Pending);
    assert_eq!(write.history[0].to_state, Pending);

    let two = env.must(&one, &team[2], approve());
    assert_eq!(two.state, Pending);
    assert_eq!(step_at(&two, 1).state, StepState::Pending);

    let write = env.must_write(&two, &team[1], approve());
    assert_eq!(write.ticket.state, Approved);
    assert_eq!(step_at(&write.ticket, 1).state, StepState::Approved);
    assert_eq!(step_at(&write.ticket, 1).status, StepStatus::Closed);
    assert_eq!(event_kinds(&write), ["ticket.approved"]);
    // The processor is the one whose approval settled the level.
    assert_eq!(
        step_at(&write.ticket, 1).processor().unwrap().user_id,
        team[1].id()
    );
}

#[test]
fn in_all_mode_any_rejection_rejects_even_after_approvals() {
    let p = people();
    let mut env = Env::new();
    let team = approvers(3);
    let ticket = one_level(&mut env, &p, LevelMode::All, &team);
    let one = env.must(&ticket, &team[0], approve());
    let two = env.must(&one, &team[1], approve());
    let rejected = env.must(&two, &team[2], reject());
    assert_eq!(rejected.state, Rejected);
    assert_eq!(step_at(&rejected, 1).state, StepState::Rejected);
    assert_eq!(step_at(&rejected, 1).status, StepStatus::Closed);

    let first_rejects = env.must(&ticket, &team[1], reject());
    assert_eq!(first_rejects.state, Rejected);
}

#[test]
fn in_threshold_mode_n_approvals_close_the_level() {
    let p = people();
    let mut env = Env::new();
    let team = approvers(3);
    let ticket = one_level(&mut env, &p, LevelMode::Threshold { n: 2 }, &team);
    assert_eq!(step_at(&ticket, 1).mode, LevelMode::Threshold { n: 2 });
    let one = env.must(&ticket, &team[0], approve());
    assert_eq!(one.state, Pending);
    assert_eq!(step_at(&one, 1).state, StepState::Pending);
    let two = env.must(&one, &team[2], approve());
    assert_eq!(two.state, Approved);
    assert_eq!(step_at(&two, 1).state, StepState::Approved);
    assert_eq!(decision_of(&two, 1, &team[1]), Decision::Pending);
}

#[test]
fn in_threshold_mode_a_rejection_waits_while_n_is_still_reachable() {
    let p = people();
    let mut env = Env::new();
    let team = approvers(3);
    let ticket = one_level(&mut env, &p, LevelMode::Threshold { n: 2 }, &team);
    // One rejection: two approvals are still possible.
    let write = env.must_write(&ticket, &team[0], reject());
    assert_eq!(write.ticket.state, Pending);
    assert_eq!(event_kinds(&write), ["ticket.decision"]);
    // One approval, one rejection, one pending: still reachable; the last approval settles it.
    let mixed = env.must(&write.ticket, &team[1], approve());
    assert_eq!(mixed.state, Pending);
    let approved = env.must(&mixed, &team[2], approve());
    assert_eq!(approved.state, Approved);
    // …and the last rejection makes two approvals impossible.
    let rejected = env.must(&mixed, &team[2], reject());
    assert_eq!(rejected.state, Rejected);
    assert_eq!(step_at(&rejected, 1).state, StepState::Rejected);
}

#[test]
fn in_threshold_mode_the_level_is_rejected_once_n_can_no_longer_be_reached() {
    let p = people();
    let mut env = Env::new();
    let team = approvers(3);
    let ticket = one_level(&mut env, &p, LevelMode::Threshold { n: 2 }, &team);
    let one = env.must(&ticket, &team[0], reject());
    assert_eq!(one.state, Pending);
    let two = env.must(&one, &team[1], reject());
    assert_eq!(two.state, Rejected);
    assert_eq!(decision_of(&two, 1, &team[2]), Decision::Pending);

    // With n equal to the number of assignees, one rejection is already too many.
    let strict = one_level(&mut env, &p, LevelMode::Threshold { n: 3 }, &team);
    assert_eq!(env.must(&strict, &team[1], reject()).state, Rejected);
    // With n = 1 the first approval settles it, like `any`.
    let lenient = one_level(&mut env, &p, LevelMode::Threshold { n: 1 }, &team);
    assert_eq!(env.must(&lenient, &team[1], approve()).state, Approved);
}

#[test]
fn a_two_level_flow_of_all_then_any_advances_level_by_level() {
    let p = people();
    let mut env = Env::new();
    let team = approvers(4);
    let steps = steps_for(
        &[
            level(LevelMode::All, &[&team[0], &team[1]]),
            level(LevelMode::Any, &[&team[2], &team[3]]),
        ],
        &[&p.applicant, &team[0], &team[1], &team[2], &team[3]],
        &p.applicant,
    );
    let ticket = env.submitted(&p, steps);
    assert_eq!(
        (ticket.state, ticket.approval_step, ticket.round),
        (Pending, 1, 1)
    );
    for n in [1, 2] {
        assert_eq!(step_at(&ticket, n).state, StepState::Pending);
        assert_eq!(step_at(&ticket, n).status, StepStatus::Pending);
    }
    assert_eq!(
        assignee_ids(step_at(&ticket, 1)),
        [team[0].id(), team[1].id()]
    );
    assert_eq!(
        assignee_ids(step_at(&ticket, 2)),
        [team[2].id(), team[3].id()]
    );

    // Level 2's assignees cannot act yet.
    let err = env.apply(&ticket, &team[2], approve()).unwrap_err();
    assert!(
        matches!(
            err,
            DomainError::InvalidTransition {
                conflict: ConflictKind::StateChanged,
                ..
            }
        ),
        "{err:?}"
    );

    // Level 1 is `all`: one approval is not enough.
    let half = env.must(&ticket, &team[1], approve());
    assert_eq!((half.state, half.approval_step), (Pending, 1));
    assert_eq!(step_at(&half, 1).state, StepState::Pending);
    assert_eq!(step_at(&half, 2).status, StepStatus::Pending);

    let write = env.must_write(&half, &team[0], approve());
    let level_2 = write.ticket.clone();
    assert_eq!((level_2.state, level_2.approval_step), (Pending, 2));
    assert_eq!(step_at(&level_2, 1).state, StepState::Approved);
    assert_eq!(step_at(&level_2, 1).status, StepStatus::Closed);
    assert_eq!(step_at(&level_2, 2).state, StepState::Pending);
    assert_eq!(step_at(&level_2, 2).status, StepStatus::Active);
    assert_eq!(step_at(&level_2, 2).updated_at, env.now());
    assert_eq!(event_kinds(&write), ["ticket.level_approved"]);
    let notify = &write.events[0].payload["notify"];
    for next in [&team[2], &team[3], &p.applicant] {
        assert!(
            notify.as_array().unwrap().contains(&json!(next.id())),
            "{notify}"
        );
    }
    assert_eq!(write.history[0].level, 1);

    // Level 1's assignees moved out of the current step.
    let err = env.apply(&level_2, &team[0], approve()).unwrap_err();
    assert!(
        matches!(
            err,
            DomainError::InvalidTransition {
                conflict: ConflictKind::StateChanged,
                ..
            }
        ),
        "{err:?}"
    );

    // Level 2 is `any`: one approval finishes the ticket.
    let write = env.must_write(&level_2, &team[3], approve());
    let done = &write.ticket;
    assert_eq!((done.state, done.approval_step), (Approved, 2));
    assert_eq!(step_at(done, 2).state, StepState::Approved);
    assert_eq!(step_at(done, 2).status, StepStatus::Closed);
    assert_eq!(write.history[0].level, 2);
    assert_eq!(write.history[0].to_state, Approved);
    assert_eq!(event_kinds(&write), ["ticket.approved"]);
    assert!(write.grant.is_none(), "only apply_asset tickets grant");

    let err = env.apply(done, &team[2], approve()).unwrap_err();
    assert!(
        matches!(
            err,
            DomainError::InvalidTransition {
                conflict: ConflictKind::AlreadyProcessed,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_rejection_at_level_two_rejects_the_ticket_and_leaves_later_levels_pending() {
    let p = people();
    let mut env = Env::new();
    let team = approvers(3);
    let steps = steps_for(
        &[
            level(LevelMode::Any, &[&team[0]]),
            level(LevelMode::Any, &[&team[1]]),
            level(LevelMode::Any, &[&team[2]]),
        ],
        &[&team[0], &team[1], &team[2]],
        &p.applicant,
    );
    let ticket = env.submitted(&p, steps);
    let level_2 = env.must(&ticket, &team[0], approve());
    let rejected = env.must(&level_2, &team[1], reject());
    assert_eq!((rejected.state, rejected.approval_step), (Rejected, 2));
    assert_eq!(step_at(&rejected, 2).state, StepState::Rejected);
    assert_eq!(step_at(&rejected, 3).state, StepState::Pending);
    assert_eq!(step_at(&rejected, 3).status, StepStatus::Pending);
}

// ---------------------------------------------------------------------------------------------
// Step building and self-approval
// ---------------------------------------------------------------------------------------------

#[test]
fn build_steps_excludes_the_applicant_when_others_match() {
    let p = people();
    let steps = steps_for(
        &[Level {
            selector: Selector::All,
            mode: LevelMode::Any,
            name: String::new(),
            attributes: Value::Null,
        }],
        &[&p.applicant, &p.first, &p.second],
        &p.applicant,
    );
    assert_eq!(steps.len(), 1);
    assert_eq!(assignee_ids(&steps[0]), [p.first.id(), p.second.id()]);
    assert!(!steps[0].applicant_included);
}

#[test]
fn build_steps_keeps_the_applicant_when_they_are_the_only_match() {
    let p = people();
    let steps = steps_for(
        &[level(LevelMode::Any, &[&p.applicant])],
        &[&p.applicant, &p.first],
        &p.applicant,
    );
    assert_eq!(assignee_ids(&steps[0]), [p.applicant.id()]);
    assert!(steps[0].applicant_included);

    // A deactivated user the rule names still counts, as JumpServer counts them: the
    // applicant is left out, and the level, assigned to nobody active, can only be closed.
    // Before, a colleague's deactivation made the applicant their own approver.
    let mut away = member(41, "aaron", "Aaron");
    away.user.is_active = false;
    for selector_names_away in [
        level(LevelMode::Any, &[&p.applicant, &away]),
        Level {
            selector: Selector::All,
            mode: LevelMode::Any,
            name: String::new(),
            attributes: Value::Null,
        },
    ] {
        let steps = steps_for(&[selector_names_away], &[&p.applicant, &away], &p.applicant);
        assert!(assignee_ids(&steps[0]).is_empty());
        assert!(!steps[0].applicant_included);
    }

    let others_only = steps_for(
        &[level(LevelMode::Any, &[&p.first])],
        &[&p.applicant, &p.first],
        &p.applicant,
    );
    assert!(!others_only.first().unwrap().applicant_included);

    let directory = [entry(&p.applicant), entry(&p.first)];
    let without_applicant = build_steps(
        ORG,
        &[level(LevelMode::Any, &[&p.applicant, &p.first])],
        &directory,
        None,
        &no_pairs,
        at(0),
    );
    assert_eq!(
        assignee_ids(&without_applicant[0]),
        [p.applicant.id(), p.first.id()]
    );
    assert!(!without_applicant[0].applicant_included);
}

#[test]
fn build_steps_sorts_deduplicates_and_skips_inactive_users() {
    let p = people();
    let mut inactive = member(40, "aaron", "Aaron");
    inactive.user.is_active = false;
    let levels = [
        Level {
            selector: Selector::All,
            mode: LevelMode::All,
            name: "Managers".into(),
            attributes: json!({"approverTitle": "boss"}),
        },
        level(LevelMode::Threshold { n: 1 }, &[&p.second]),
    ];
    let directory = [
        entry(&p.second),
        entry(&inactive),
        entry(&p.first),
        entry(&p.second),
        entry(&p.stranger),
    ];
    let steps = build_steps(
        ORG,
        &levels,
        &directory,
        Some(p.applicant.id()),
        &no_pairs,
        at(7),
    );
    assert_eq!(steps.len(), 2);
    let first = &steps[0];
    assert_eq!(first.level, 1);
    assert_eq!(first.mode, LevelMode::All);
    assert_eq!(first.name, "Managers");
    assert_eq!(first.attributes, json!({"approverTitle": "boss"}));
    assert_eq!(
        (first.state, first.status),
        (StepState::Pending, StepStatus::Pending)
    );
    assert_eq!(first.updated_at, at(7));
    assert_eq!(
        assignee_ids(first),
        [p.first.id(), p.second.id(), p.stranger.id()]
    );
    let bob = &first.assignees[0];
    assert_eq!(bob.display, "Bob(bob)");
    assert_eq!(
        (bob.decision, bob.decided_at, bob.reason.as_str()),
        (Decision::Pending, None, "")
    );
    assert_eq!(steps[1].level, 2);
    assert_eq!(assignee_ids(&steps[1]), [p.second.id()]);
}

#[test]
fn an_approval_by_the_applicant_records_self_approved() {
    let p = people();
    let mut env = Env::new();
    let steps = steps_for(
        &[level(LevelMode::Any, &[&p.applicant])],
        &[&p.applicant],
        &p.applicant,
    );
    assert!(steps[0].applicant_included);
    let ticket = env.submitted(&p, steps);
    let write = env.must_write(&ticket, &p.applicant, approve());
    assert_eq!(write.ticket.state, Approved);
    assert!(write.history[0].self_approved);
    assert_eq!(write.events[0].payload["self_approved"], json!(true));
    assert_transition(
        &ticket,
        &write,
        HistoryAction::Approve,
        &p.applicant,
        env.now(),
        "self",
    );
}

#[test]
fn an_assignee_who_left_the_organization_no_longer_decides() {
    let p = people();
    let mut env = Env::new();
    let ticket = env.ticket_in(&p, Pending);
    assert_eq!(step_at(&ticket, 1).orgs, vec![ORG]);
    let mut gone = p.first.clone();
    gone.memberships.clear();
    let close = Action::Close {
        reason: String::new(),
    };
    for action in [approve(), reject(), close] {
        assert!(matches!(
            env.apply(&ticket, &gone, action),
            Err(DomainError::Forbidden { .. })
        ));
    }
    // Still a member of another organization changes nothing; a steps list of old (no
    // organizations kept) is not checked.
    let mut elsewhere = p.first.clone();
    elsewhere.memberships.retain(|m| m.org_id != ORG);
    elsewhere.memberships.push(p.foreign_admin.memberships[1]);
    assert!(matches!(
        env.apply(&ticket, &elsewhere, approve()),
        Err(DomainError::Forbidden { .. })
    ));
    let mut old = ticket.clone();
    for step in std::sync::Arc::make_mut(&mut old.steps) {
        step.orgs.clear();
    }
    assert!(env.apply(&old, &gone, approve()).is_ok());
}

#[test]
fn an_approval_by_someone_else_is_not_self_approved() {
    let p = people();
    let mut env = Env::new();
    let ticket = env.ticket_in(&p, Pending);
    let write = env.must_write(&ticket, &p.first, approve());
    assert!(!write.history[0].self_approved);
    assert_eq!(write.events[0].payload["self_approved"], json!(false));
}

#[test]
fn build_steps_caps_a_threshold_at_the_number_of_assignees() {
    let p = people();
    let team = approvers(3);
    let members = [&team[0], &team[1], &team[2]];
    let cases = [
        // (n asked, directory, expected n)
        (5, &members[..], 3),
        (3, &members[..], 3),
        (2, &members[..], 2),
        (4, &members[..1], 1),
        (4, &[][..], 1),
    ];
    for (asked, directory, want) in cases {
        let steps = steps_for(
            &[level(LevelMode::Threshold { n: asked }, &members)],
            directory,
            &p.applicant,
        );
        assert_eq!(
            steps[0].mode,
            LevelMode::Threshold { n: want },
            "n = {asked}"
        );
    }
    // The applicant is excluded before the cap is computed.
    let steps = steps_for(
        &[level(
            LevelMode::Threshold { n: 3 },
            &[&p.applicant, &team[0], &team[1]],
        )],
        &[&p.applicant, &team[0], &team[1]],
        &p.applicant,
    );
    assert_eq!(assignee_ids(&steps[0]), [team[0].id(), team[1].id()]);
    assert_eq!(steps[0].mode, LevelMode::Threshold { n: 2 });
    // Other modes are copied unchanged.
    let steps = steps_for(&[level(LevelMode::All, &members)], &members, &p.applicant);
    assert_eq!(steps[0].mode, LevelMode::All);
}

#[test]
fn a_capped_threshold_needs_every_assignee() {
    let p = people();
    let mut env = Env::new();
    let team = approvers(2);
    let ticket = one_level(&mut env, &p, LevelMode::Threshold { n: 9 }, &team);
    assert_eq!(step_at(&ticket, 1).mode, LevelMode::Threshold { n: 2 });
    let one = env.must(&ticket, &team[0], approve());
    assert_eq!(one.state, Pending);
    assert_eq!(env.must(&one, &team[1], approve()).state, Approved);
}

// ---------------------------------------------------------------------------------------------
// What transitions write
// ---------------------------------------------------------------------------------------------

#[test]
fn opening_a_draft_writes_an_insert_with_a_save_entry() {
    let p = people();
    let mut env = Env::new();
    let write = env.open(spec(&p, None)).unwrap();
    let ticket = &write.ticket;
    assert_eq!(ticket.id, TICKET);
    assert_eq!(
        (
            ticket.state,
            ticket.round,
            ticket.approval_step,
            ticket.version
        ),
        (Draft, 0, 1, 1)
    );
    assert!(ticket.steps.is_empty());
    assert_eq!(ticket.applicant_id, Some(p.applicant.id()));
    assert_eq!(
        (ticket.created_at, ticket.updated_at),
        (env.now(), env.now())
    );
    assert_eq!(write.expected_version, None);
    assert_eq!(write.serial_day.as_deref(), Some("20260302"));
    assert_eq!(write.history.len(), 1);
    let entry = &write.history[0];
    assert_eq!(
        (entry.action, entry.from_state, entry.to_state),
        (HistoryAction::Save, Draft, Draft)
    );
    assert_eq!(entry.actor_id, Some(p.applicant.id()));
    assert_eq!(event_kinds(&write), ["ticket.saved"]);
    assert!(write.grant.is_none());
}

#[test]
fn opening_with_steps_submits_at_level_one_of_round_one() {
    let p = people();
    let mut env = Env::new();
    let write = env.open(spec(&p, Some(two_level_steps(&p)))).unwrap();
    let ticket = &write.ticket;
    assert_eq!(
        (
            ticket.state,
            ticket.round,
            ticket.approval_step,
            ticket.version
        ),
        (Pending, 1, 1, 1)
    );
    assert_eq!(*ticket.steps, two_level_steps(&p));
    assert_eq!(write.expected_version, None);
    let entry = &write.history[0];
    assert_eq!(
        (
            entry.action,
            entry.from_state,
            entry.to_state,
            entry.level,
            entry.round
        ),
        (HistoryAction::Submit, Draft, Pending, 1, 1)
    );
    assert_eq!(event_kinds(&write), ["ticket.submitted"]);
    assert_eq!(write.events[0].payload["notify"], json!([p.first.id()]));
    assert_eq!(write.comments.len(), 1);
}

#[test]
fn ids_come_from_the_context_in_order() {
    let p = people();
    let mut env = Env::new();
    let write = env.open(spec(&p, Some(two_level_steps(&p)))).unwrap();
    let mut ids: Vec<Uuid> = write.history.iter().map(|h| h.id).collect();
    ids.extend(write.comments.iter().map(|c| c.id));
    ids.extend(write.events.iter().map(|e| e.id));
    assert_eq!(ids, [0x1_0001, 0x1_0002, 0x1_0003].map(Uuid::from_u128));
}

#[test]
fn opening_or_editing_with_a_bad_title_is_a_validation_error() {
    let p = people();
    let mut env = Env::new();
    for title in [String::new(), "   ".into(), "x".repeat(MAX_TITLE_CHARS + 1)] {
        let mut bad = spec(&p, None);
        bad.title = title.clone();
        let err = env.open(bad).unwrap_err();
        assert!(
            matches!(&err, DomainError::Validation(fields) if fields[0].field == "title"),
            "{title:?}: {err:?}"
        );
        let draft = env.ticket_in(&p, Draft);
        let edit = Action::Edit(TicketEdit {
            title: Some(title.clone()),
            ..TicketEdit::default()
        });
        let err = env.apply(&draft, &p.applicant, edit).unwrap_err();
        assert!(
            matches!(&err, DomainError::Validation(fields) if fields[0].field == "title"),
            "{title:?}: {err:?}"
        );
    }
    let mut longest = spec(&p, None);
    longest.title = "é".repeat(MAX_TITLE_CHARS);
    assert!(
        env.open(longest).is_ok(),
        "the limit counts characters, not bytes"
    );
}

#[test]
fn opening_with_a_blank_or_overlong_type_is_a_validation_error() {
    let p = people();
    let mut env = Env::new();
    for kind in [String::new(), " ".into(), "t".repeat(MAX_KIND_CHARS + 1)] {
        let mut bad = spec(&p, None);
        bad.kind = kind.clone();
        let err = env.open(bad).unwrap_err();
        assert!(
            matches!(&err, DomainError::Validation(fields) if fields[0].field == "type"),
            "{kind:?}: {err:?}"
        );
    }
    let mut longest = spec(&p, None);
    longest.kind = "类".repeat(MAX_KIND_CHARS);
    assert!(env.open(longest).is_ok());
}

#[test]
fn editing_changes_only_what_is_given() {
    let p = people();
    let mut env = Env::new();
    let closed = env.ticket_in(&p, Closed);
    let other_flow = FlowId(Uuid::from_u128(0xF1));
    let edit = TicketEdit {
        title: None,
        payload: Some(json!({"note": "again"})),
        comment: Some("second try".into()),
        flow_id: Some(other_flow),
    };
    let write = env.must_write(&closed, &p.applicant, Action::Edit(edit));
    assert_transition(
        &closed,
        &write,
        HistoryAction::Edit,
        &p.applicant,
        env.now(),
        "edit",
    );
    let edited = &write.ticket;
    assert_eq!(edited.title, closed.title);
    assert_eq!(*edited.payload, json!({"note": "again"}));
    assert_eq!(edited.comment, "second try");
    assert_eq!(edited.flow_id, Some(other_flow));
    assert_eq!(edited.state, Closed);
    assert_eq!(event_kinds(&write), ["ticket.edited"]);
}

#[test]
fn resubmit_starts_the_next_round_at_level_one_with_the_new_steps() {
    let p = people();
    let mut env = Env::new();
    let pending = env.ticket_in(&p, Pending);
    let level_2 = env.must(&pending, &p.first, approve());
    let rejected = env.must(&level_2, &p.second, reject());
    assert_eq!(
        (rejected.state, rejected.approval_step, rejected.round),
        (Rejected, 2, 1)
    );

    let team = approvers(2);
    let new_steps = steps_for(
        &[level(LevelMode::All, &[&team[0], &team[1]])],
        &[&team[0], &team[1]],
        &p.applicant,
    );
    let write = env.must_write(
        &rejected,
        &p.applicant,
        Action::Resubmit {
            steps: new_steps.clone(),
            reason: String::new(),
        },
    );
    assert_transition(
        &rejected,
        &write,
        HistoryAction::Resubmit,
        &p.applicant,
        env.now(),
        "resubmit",
    );
    let again = &write.ticket;
    assert_eq!(
        (again.state, again.approval_step, again.round),
        (Pending, 1, 2)
    );
    assert_eq!(*again.steps, new_steps);
    let entry = &write.history[0];
    assert_eq!(
        (entry.round, entry.level, entry.from_state),
        (2, 1, Rejected)
    );
    assert_eq!(event_kinds(&write), ["ticket.resubmitted"]);
    assert_eq!(write.events[0].payload["round"], json!(2));

    // The old approvers are no longer assignees; the new ones decide.
    let err = env.apply(again, &p.first, approve()).unwrap_err();
    assert!(matches!(err, DomainError::Forbidden { .. }), "{err:?}");
    let half = env.must(again, &team[0], approve());
    assert_eq!(env.must(&half, &team[1], approve()).state, Approved);

    // A third round after closing counts on.
    let closed = env.must(
        again,
        &p.applicant,
        Action::Close {
            reason: String::new(),
        },
    );
    let third = env.must(
        &closed,
        &p.applicant,
        Action::Resubmit {
            steps: two_level_steps(&p),
            reason: String::new(),
        },
    );
    assert_eq!((third.round, third.approval_step), (3, 1));
}

// ---------------------------------------------------------------------------------------------
// apply_asset tickets and grants
// ---------------------------------------------------------------------------------------------

const ASSET: Uuid = Uuid::from_u128(0xA55E7);
const NODE: Uuid = Uuid::from_u128(0x40DE);

fn window() -> (DateTime<Utc>, DateTime<Utc>) {
    (
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 4, 2, 0, 0, 0).unwrap(),
    )
}

fn asset_payload(accounts: &[&str], assets: &[Uuid], nodes: &[Uuid]) -> Value {
    let (start, end) = window();
    json!({
        "assets": assets,
        "nodes": nodes,
        "accounts": accounts,
        "actions": 3,
        "date_start": start,
        "date_expired": end,
    })
}

fn apply_asset_ticket(env: &mut Env, p: &People, payload: Value) -> Ticket {
    let mut spec = spec(p, Some(two_level_steps(p)));
    spec.kind = KIND_APPLY_ASSET.into();
    spec.payload = payload;
    env.open(spec).unwrap().ticket
}

#[test]
fn the_final_approval_of_an_apply_asset_ticket_grants_the_applicant_for_the_window() {
    let p = people();
    let mut env = Env::new();
    let ticket = apply_asset_ticket(&mut env, &p, asset_payload(&["root"], &[ASSET], &[NODE]));
    let permission_name = ticket.payload["permission_name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        permission_name.starts_with("Created by ticket (Access to prod-"),
        "{permission_name}"
    );

    // Level 1 of 2 grants nothing yet.
    let level_1 = env.must_write(&ticket, &p.first, approve());
    assert!(level_1.grant.is_none());

    let write = env.must_write(&level_1.ticket, &p.second, approve());
    assert_eq!(write.ticket.state, Approved);
    let grant = write.grant.as_ref().unwrap();
    let (start, end) = window();
    assert_eq!(grant.id, TICKET.uuid());
    assert_eq!(grant.ticket_id, TICKET);
    assert_eq!(grant.org_id, ORG);
    assert_eq!(grant.kind, "asset_permission");
    assert_eq!(grant.users, [p.applicant.id()]);
    assert_eq!(
        (grant.valid_from, grant.valid_until),
        (Some(start), Some(end))
    );
    assert_eq!(grant.payload["assets"], json!([ASSET]));
    assert_eq!(grant.payload["nodes"], json!([NODE]));
    assert_eq!(grant.payload["accounts"], json!(["root"]));
    assert_eq!(grant.payload["actions"], json!(3));
    assert_eq!(grant.name, permission_name);
    assert_eq!(grant.name_candidates[0], permission_name);
    assert_eq!(
        grant.created_by,
        format!("ApplyAssetTicket:{}", TICKET.uuid())
    );
    assert!(
        grant.comment.contains("Bob(bob),Carol(carol)"),
        "{}",
        grant.comment
    );
    assert_eq!(grant.created_at, env.now());
    assert!(grant.is_valid_at(start) && !grant.is_valid_at(end));
    assert_eq!(event_kinds(&write), ["ticket.approved", "grant.created"]);
    assert_eq!(write.events[1].payload["grant_id"], json!(TICKET.uuid()));
}

#[test]
fn an_approver_may_replace_the_content_and_the_grant_follows_it() {
    let p = people();
    let mut env = Env::new();
    let steps = steps_for(
        &[level(LevelMode::Any, &[&p.first])],
        &[&p.first],
        &p.applicant,
    );
    let mut spec = spec(&p, Some(steps));
    spec.kind = KIND_APPLY_ASSET.into();
    spec.payload = asset_payload(&["root"], &[ASSET], &[]);
    let ticket = env.open(spec).unwrap().ticket;
    let replacement = asset_payload(&["readonly"], &[], &[NODE]);
    let write = env.must_write(
        &ticket,
        &p.first,
        Action::Approve {
            reason: "narrowed".into(),
            payload: Some(replacement),
            changes: None,
        },
    );
    assert_eq!(write.ticket.payload["accounts"], json!(["readonly"]));
    let grant = write.grant.unwrap();
    assert_eq!(grant.payload["accounts"], json!(["readonly"]));
    assert_eq!(grant.payload["assets"], json!([]));
    assert_eq!(grant.payload["nodes"], json!([NODE]));
}

#[test]
fn a_final_approval_without_accounts_or_without_assets_and_nodes_is_a_validation_error() {
    let p = people();
    let mut env = Env::new();
    let cases: [(Value, &[&str]); 3] = [
        (asset_payload(&[], &[ASSET], &[]), &["accounts"]),
        (asset_payload(&["root"], &[], &[]), &["nodes", "assets"]),
        (
            asset_payload(&[], &[], &[]),
            &["accounts", "nodes", "assets"],
        ),
    ];
    for (payload, fields) in cases {
        let ticket = apply_asset_ticket(&mut env, &p, payload.clone());
        // Only the final approval checks: level 1 passes.
        let level_2 = env.must(&ticket, &p.first, approve());
        let err = env.apply(&level_2, &p.second, approve()).unwrap_err();
        match err {
            DomainError::Validation(errors) => {
                let got: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(got, fields, "{payload}");
            }
            other => panic!("{payload}: expected a validation error, got {other:?}"),
        }
        // A rejection needs nothing to grant.
        assert_eq!(env.must(&level_2, &p.second, reject()).state, Rejected);
    }
}

#[test]
fn a_table_permission_expires_only_at_a_moment_from_1970_to_the_year_9999() {
    let p = people();
    let mut env = Env::new();
    let with_expiry = |expiry: Value| {
        let mut spec = spec(&p, Some(two_level_steps(&p)));
        spec.kind = payload::KIND_DATA_PERMISSION.into();
        spec.payload = json!({"datasource_type": "DLI", "expire_time": expiry});
        spec
    };
    // Beyond chrono's range the grant had no expiry at all: a time-bounded permission forever.
    for expiry in [
        json!(i64::MAX),
        json!(253_402_300_800_000_i64),
        json!(0),
        json!(-1),
        json!("2100"),
    ] {
        let err = env.open(with_expiry(expiry.clone())).unwrap_err();
        let DomainError::Validation(fields) = &err else {
            panic!("{expiry}: {err:?}");
        };
        assert_eq!(fields[0].field, "expire_time", "{expiry}");
    }
    let last_millis_of_9999 = 253_402_300_799_999_i64;
    let ticket = env
        .open(with_expiry(json!(last_millis_of_9999)))
        .unwrap()
        .ticket;
    let level_1 = env.must(&ticket, &p.first, approve());
    let grant = env
        .must_write(&level_1, &p.second, approve())
        .grant
        .unwrap();
    assert_eq!(
        grant.valid_until.map(|t| t.timestamp_millis()),
        Some(last_millis_of_9999)
    );
    // No expiry given: a grant without end, as DataArts keeps it.
    assert!(env.open(with_expiry(Value::Null)).is_ok());
    // An expiry already past (the machine's clock is the test's now) is refused at the opening.
    let err = env.open(with_expiry(json!(1))).unwrap_err();
    assert!(
        matches!(&err, DomainError::Validation(f) if f[0].code == "expired"),
        "{err:?}"
    );
    // A ticket stored before the rule is refused its final approval, not granted for ever.
    let mut stored_before = env
        .open(with_expiry(json!(last_millis_of_9999)))
        .unwrap()
        .ticket;
    stored_before.payload = json!({"expire_time": i64::MAX}).into();
    let level_1 = env.must(&stored_before, &p.first, approve());
    let err = env.apply(&level_1, &p.second, approve()).unwrap_err();
    assert!(matches!(err, DomainError::Validation(_)), "{err:?}");
}

#[test]
fn a_table_permission_is_granted_to_the_applicant_and_the_proposing_users_not_groups() {
    let p = people();
    let mut env = Env::new();
    let mut spec = spec(&p, Some(two_level_steps(&p)));
    spec.kind = payload::KIND_DATA_PERMISSION.into();
    spec.payload = json!({"proposers": [
        {"id": p.stranger.id().to_string(), "name": "group", "type": "USER_GROUP"},
        {"id": p.first.id().to_string(), "name": "first", "type": "USER"},
        {"id": "not-a-user-id", "name": "x", "type": "USER"},
    ]});
    let ticket = env.open(spec).unwrap().ticket;
    let level_1 = env.must(&ticket, &p.first, approve());
    let grant = env
        .must_write(&level_1, &p.second, approve())
        .grant
        .unwrap();
    assert_eq!(grant.users, [p.applicant.id(), p.first.id()]);
    assert_eq!(grant.valid_until, None);
}

#[test]
fn an_invalid_apply_asset_content_is_refused_at_open_edit_and_approval() {
    let p = people();
    let mut env = Env::new();
    let (start, end) = window();
    let backwards =
        json!({"assets": [ASSET], "accounts": ["root"], "date_start": end, "date_expired": start});
    let mut bad = spec(&p, None);
    bad.kind = KIND_APPLY_ASSET.into();
    bad.payload = backwards.clone();
    assert!(matches!(
        env.open(bad).unwrap_err(),
        DomainError::Validation(_)
    ));
    // Years outside 1 to 9999: PostgreSQL cannot hold a grant expiring before 4713 BC.
    for (from, until) in [
        ("-5000-01-01T00:00:00Z", "-4000-01-01T00:00:00Z"),
        ("2026-01-01T00:00:00Z", "+10000-01-01T00:00:00Z"),
    ] {
        let mut outside = spec(&p, None);
        outside.kind = KIND_APPLY_ASSET.into();
        outside.payload = json!({"assets": [ASSET], "accounts": ["root"],
                                 "date_start": from, "date_expired": until});
        let err = env.open(outside).unwrap_err();
        let DomainError::Validation(fields) = &err else {
            panic!("{err:?}");
        };
        assert!(
            fields
                .iter()
                .any(|f| f.message.contains("between the years 1 and 9999")),
            "{fields:?}"
        );
    }

    let ticket = apply_asset_ticket(&mut env, &p, asset_payload(&["root"], &[ASSET], &[]));
    let err = env
        .apply(
            &ticket,
            &p.first,
            Action::Approve {
                reason: String::new(),
                payload: Some(backwards),
                changes: None,
            },
        )
        .unwrap_err();
    assert!(matches!(err, DomainError::Validation(_)), "{err:?}");
    let err = env
        .apply(
            &ticket,
            &p.first,
            Action::Approve {
                reason: String::new(),
                payload: Some(json!("x")),
                changes: None,
            },
        )
        .unwrap_err();
    assert!(matches!(err, DomainError::Validation(_)), "{err:?}");
}

#[test]
fn an_update_marks_the_index_rows_it_leaves_as_they_are() {
    let p = people();
    let mut env = Env::new();
    let rows = |assignees, viewers| UnchangedRows { assignees, viewers };

    let opening = env.open(spec(&p, Some(two_level_steps(&p)))).unwrap();
    assert_eq!(opening.unchanged, rows(false, false));
    assert!(opening.writes_assignees() && opening.writes_viewers());
    let pending = opening.ticket;

    // A level's approval moves the current step (assignee rows) but no viewer row.
    let halfway = env.must_write(&pending, &p.first, approve());
    assert_eq!(halfway.unchanged, rows(false, true));
    assert!(halfway.viewer_rows().is_empty());
    assert_eq!(halfway.assignee_rows(), halfway.ticket.assignee_index());

    // The final approval changes the state every index row copies.
    let approved = env.must_write(&halfway.ticket, &p.second, approve());
    assert_eq!(approved.unchanged, rows(false, false));
    assert_eq!(approved.viewer_rows(), approved.ticket.participants());

    // Confirming touches no index row; archiving changes a listing column of all of them.
    let confirmed = env.must_write(&approved.ticket, &p.applicant, Action::Confirm);
    assert_eq!(confirmed.unchanged, rows(true, true));
    assert!(confirmed.assignee_rows().is_empty() && confirmed.viewer_rows().is_empty());
    let archived = env.must_write(&confirmed.ticket, &p.applicant, Action::Archive);
    assert_eq!(archived.unchanged, rows(false, false));

    // In a countersigned level one approval changes that assignee's "awaiting" row only.
    let team = approvers(2);
    let countersigned = one_level(&mut env, &p, LevelMode::All, &team);
    let first = env.must_write(&countersigned, &team[0], approve());
    assert_eq!(first.unchanged, rows(false, true));
}

#[test]
fn a_stranded_ticket_is_rejected_at_its_current_level_and_only_while_pending() {
    let p = people();
    let mut env = Env::new();
    let stranded = || Action::RejectStranded {
        reason: "approver left".into(),
    };
    let pending = env.ticket_in(&p, Pending);
    let halfway = env.must(&pending, &p.first, approve());
    // Recorded as whoever's change stranded it (here an administrator, no assignee).
    let write = env.must_write(&halfway, &p.sys_admin, stranded());
    let rejected = &write.ticket;
    assert_eq!(rejected.state, Rejected);
    assert_eq!(rejected.finished_at, Some(env.now()));
    assert_eq!(rejected.approval_step, 2);
    assert_eq!(step_at(rejected, 2).state, StepState::Rejected);
    assert_eq!(step_at(rejected, 2).status, StepStatus::Closed);
    assert_eq!(step_at(rejected, 1).state, StepState::Approved);
    // Nobody's own decision changes: nobody decided.
    assert_eq!(decision_of(rejected, 2, &p.second), Decision::Pending);
    let entry = write.history.last().unwrap();
    assert_eq!(
        (entry.action, entry.level, entry.reason.as_str()),
        (HistoryAction::Reject, 2, "approver left")
    );
    assert_eq!(event_kinds(&write), vec!["ticket.rejected"]);
    for state in [Draft, Approved, Rejected, Closed] {
        let ticket = env.ticket_in(&p, state);
        assert!(
            env.apply(&ticket, &p.sys_admin, stranded()).is_err(),
            "{state:?}"
        );
    }
}
