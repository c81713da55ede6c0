//! The dialect's OpenAPI 3 document, built from the route catalogue below and served at
//! `/api/v1/docs/openapi.json`; a test checks every catalogued operation is routed.

use crate::choices::TICKET_TYPES;
use axum::Json;
use axum::Router;
use axum::routing::get;
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::sync::OnceLock;
use ticketd_http::AppState;

/// One documented operation.
#[derive(Debug, Clone)]
pub struct Operation {
    /// HTTP method, lowercase.
    pub method: &'static str,
    /// Path template with `{id}`-style parameters.
    pub path: Cow<'static, str>,
    /// Grouping tag.
    pub tag: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Request body schema, if any.
    pub body: Option<&'static str>,
    /// Success status.
    pub status: u16,
    /// Success response schema.
    pub response: &'static str,
}

const fn op(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    body: Option<&'static str>,
    status: u16,
    response: &'static str,
) -> Operation {
    Operation {
        method,
        path: Cow::Borrowed(path),
        tag,
        summary,
        body,
        status,
        response,
    }
}

const TYPED_PREFIXES: [&str; 4] = [
    "apply-asset-tickets",
    "apply-login-tickets",
    "apply-login-asset-tickets",
    "apply-command-tickets",
];

/// Every operation of the dialect except the typed ticket routes, which [`operations`] adds
/// once per ticket type.
const OPERATIONS: &[Operation] = &[
    op(
        "get",
        "/api/v1/users/profile/",
        "users",
        "The caller's profile",
        None,
        200,
        "User",
    ),
    op(
        "post",
        "/api/v1/authentication/auth/",
        "authentication",
        "Password login; returns a Bearer token",
        Some("Login"),
        200,
        "Token",
    ),
    op(
        "post",
        "/api/v1/authentication/tokens/",
        "authentication",
        "Password login (alias)",
        Some("Login"),
        200,
        "Token",
    ),
    op(
        "get",
        "/api/v1/tickets/tickets/",
        "tickets",
        "Tickets related to the caller",
        None,
        200,
        "TicketList",
    ),
    op(
        "get",
        "/api/v1/tickets/tickets/{id}/",
        "tickets",
        "One ticket",
        None,
        200,
        "Ticket",
    ),
    op(
        "put",
        "/api/v1/tickets/tickets/{id}/reject/",
        "tickets",
        "Reject the current step",
        None,
        200,
        "Ok",
    ),
    op(
        "put",
        "/api/v1/tickets/tickets/{id}/close/",
        "tickets",
        "Close (applicant or current assignee)",
        None,
        200,
        "Ok",
    ),
    op(
        "get",
        "/api/v1/tickets/comments/",
        "comments",
        "Comments of a ticket (?ticket_id=)",
        None,
        200,
        "CommentList",
    ),
    op(
        "post",
        "/api/v1/tickets/comments/",
        "comments",
        "Comment on a ticket (?ticket_id=)",
        Some("NewComment"),
        201,
        "Comment",
    ),
    op(
        "get",
        "/api/v1/tickets/comments/{id}/",
        "comments",
        "One comment (?ticket_id=)",
        None,
        200,
        "Comment",
    ),
    op(
        "get",
        "/api/v1/tickets/super-tickets/{id}/status/",
        "tickets",
        "State, status and processor",
        None,
        200,
        "TicketStatus",
    ),
    op(
        "delete",
        "/api/v1/tickets/super-tickets/{id}/status/",
        "tickets",
        "Close as system administrator",
        None,
        204,
        "Empty",
    ),
    op(
        "get",
        "/api/v1/tickets/apply-assets/",
        "catalog",
        "Assets of the current organization",
        None,
        200,
        "List",
    ),
    op(
        "get",
        "/api/v1/tickets/apply-assets/suggestions/",
        "catalog",
        "Up to 10 matching assets (?search=)",
        None,
        200,
        "List",
    ),
    op(
        "get",
        "/api/v1/tickets/apply-assets/{id}/",
        "catalog",
        "One asset",
        None,
        200,
        "Object",
    ),
    op(
        "get",
        "/api/v1/tickets/apply-nodes/",
        "catalog",
        "Nodes of the current organization",
        None,
        200,
        "List",
    ),
    op(
        "get",
        "/api/v1/tickets/apply-nodes/suggestions/",
        "catalog",
        "Up to 10 matching nodes (?search=)",
        None,
        200,
        "List",
    ),
    op(
        "get",
        "/api/v1/tickets/apply-nodes/{id}/",
        "catalog",
        "One node",
        None,
        200,
        "Object",
    ),
    op(
        "get",
        "/api/v1/audits/tickets/",
        "audits",
        "Every ticket of the current organization",
        None,
        200,
        "TicketList",
    ),
    op(
        "get",
        "/api/v1/audits/tickets/{id}/",
        "audits",
        "One ticket (auditors)",
        None,
        200,
        "Ticket",
    ),
    op(
        "get",
        "/api/v1/tickets/flows/",
        "flows",
        "Flows of the current organization and global ones",
        None,
        200,
        "List",
    ),
    op(
        "post",
        "/api/v1/tickets/flows/",
        "flows",
        "Create a flow",
        Some("NewFlow"),
        201,
        "Object",
    ),
    op(
        "put",
        "/api/v1/tickets/flows/",
        "flows",
        "Replace the flow of a type in the current organization, or a list of flows by id",
        Some("Flow"),
        200,
        "Object",
    ),
    op(
        "patch",
        "/api/v1/tickets/flows/",
        "flows",
        "Update the flow of a type in the current organization",
        Some("Flow"),
        200,
        "Object",
    ),
    op(
        "get",
        "/api/v1/tickets/flows/{id}/",
        "flows",
        "One flow",
        None,
        200,
        "Object",
    ),
    op(
        "put",
        "/api/v1/tickets/flows/{id}/",
        "flows",
        "Replace a flow",
        Some("Flow"),
        200,
        "Object",
    ),
    op(
        "patch",
        "/api/v1/tickets/flows/{id}/",
        "flows",
        "Update a flow",
        Some("Flow"),
        200,
        "Object",
    ),
    op(
        "get",
        "/api/v1/tickets/flows/options/",
        "flows",
        "Flows selectable when opening (?type=&org_id=)",
        None,
        200,
        "List",
    ),
    op(
        "get",
        "/api/v1/tickets/flows/cc-users/",
        "flows",
        "CC users of a flow (?type=&org_id=&flow_id=)",
        None,
        200,
        "List",
    ),
    op(
        "get",
        "/api/v1/perms/asset-permissions/",
        "perms",
        "Asset permissions (?user=&asset=&is_valid=)",
        None,
        200,
        "List",
    ),
    op(
        "get",
        "/api/v1/perms/asset-permissions/{id}/",
        "perms",
        "One asset permission",
        None,
        200,
        "Object",
    ),
    op(
        "get",
        "/api/v1/docs/openapi.json",
        "docs",
        "This document",
        None,
        200,
        "Object",
    ),
];

/// The admin API a self-contained deployment needs (JumpServer's shapes).
const ADMIN_OPERATIONS: &[Operation] = &[
    op(
        "get",
        "/api/v1/users/users/",
        "users",
        "Users (of the current organization)",
        None,
        200,
        "List",
    ),
    op(
        "post",
        "/api/v1/users/users/",
        "users",
        "Create a user",
        Some("NewUser"),
        201,
        "User",
    ),
    op(
        "post",
        "/api/v1/users/users/invite/",
        "users",
        "Add existing users to the current organization",
        Some("Invite"),
        201,
        "Object",
    ),
    op(
        "get",
        "/api/v1/users/users/{id}/",
        "users",
        "One user",
        None,
        200,
        "User",
    ),
    op(
        "put",
        "/api/v1/users/users/{id}/",
        "users",
        "Replace a user",
        Some("NewUser"),
        200,
        "User",
    ),
    op(
        "patch",
        "/api/v1/users/users/{id}/",
        "users",
        "Update a user",
        Some("UserChanges"),
        200,
        "User",
    ),
    op(
        "delete",
        "/api/v1/users/users/{id}/",
        "users",
        "Delete a user",
        None,
        204,
        "Empty",
    ),
    op(
        "post",
        "/api/v1/users/users/{id}/remove/",
        "users",
        "Remove a user from the current organization",
        None,
        204,
        "Empty",
    ),
    op(
        "get",
        "/api/v1/orgs/orgs/",
        "orgs",
        "Organizations",
        None,
        200,
        "List",
    ),
    op(
        "post",
        "/api/v1/orgs/orgs/",
        "orgs",
        "Create an organization",
        Some("NewOrg"),
        201,
        "Object",
    ),
    op(
        "get",
        "/api/v1/orgs/orgs/{id}/",
        "orgs",
        "One organization",
        None,
        200,
        "Object",
    ),
    op(
        "put",
        "/api/v1/orgs/orgs/{id}/",
        "orgs",
        "Rename an organization",
        Some("NewOrg"),
        200,
        "Object",
    ),
    op(
        "patch",
        "/api/v1/orgs/orgs/{id}/",
        "orgs",
        "Rename an organization",
        Some("OrgChanges"),
        200,
        "Object",
    ),
    op(
        "delete",
        "/api/v1/orgs/orgs/{id}/",
        "orgs",
        "Delete an unused organization",
        None,
        204,
        "Empty",
    ),
    op(
        "get",
        "/api/v1/rbac/roles/",
        "rbac",
        "Built-in roles",
        None,
        200,
        "List",
    ),
    op(
        "get",
        "/api/v1/rbac/roles/{id}/",
        "rbac",
        "One role",
        None,
        200,
        "Object",
    ),
    op(
        "get",
        "/api/v1/rbac/org-role-bindings/",
        "rbac",
        "Organization memberships with their roles",
        None,
        200,
        "List",
    ),
    op(
        "post",
        "/api/v1/rbac/org-role-bindings/",
        "rbac",
        "Bind users to organization roles (one binding, or a list of them)",
        Some("NewBindings"),
        201,
        "Bindings",
    ),
    op(
        "get",
        "/api/v1/rbac/org-role-bindings/{id}/",
        "rbac",
        "One binding",
        None,
        200,
        "Object",
    ),
    op(
        "delete",
        "/api/v1/rbac/org-role-bindings/{id}/",
        "rbac",
        "Remove a binding",
        None,
        204,
        "Empty",
    ),
    op(
        "get",
        "/api/v1/assets/assets/",
        "assets",
        "Assets of the current organization",
        None,
        200,
        "List",
    ),
    op(
        "post",
        "/api/v1/assets/assets/",
        "assets",
        "Create an asset",
        Some("NewAsset"),
        201,
        "Object",
    ),
    op(
        "get",
        "/api/v1/assets/assets/{id}/",
        "assets",
        "One asset",
        None,
        200,
        "Object",
    ),
    op(
        "put",
        "/api/v1/assets/assets/{id}/",
        "assets",
        "Replace an asset",
        Some("NewAsset"),
        200,
        "Object",
    ),
    op(
        "patch",
        "/api/v1/assets/assets/{id}/",
        "assets",
        "Update an asset",
        Some("AssetChanges"),
        200,
        "Object",
    ),
    op(
        "delete",
        "/api/v1/assets/assets/{id}/",
        "assets",
        "Delete an asset",
        None,
        204,
        "Empty",
    ),
    op(
        "get",
        "/api/v1/assets/hosts/",
        "assets",
        "Hosts (assets) of the current organization",
        None,
        200,
        "List",
    ),
    op(
        "post",
        "/api/v1/assets/hosts/",
        "assets",
        "Create a host",
        Some("NewAsset"),
        201,
        "Object",
    ),
    op(
        "get",
        "/api/v1/assets/hosts/{id}/",
        "assets",
        "One host",
        None,
        200,
        "Object",
    ),
    op(
        "put",
        "/api/v1/assets/hosts/{id}/",
        "assets",
        "Replace a host",
        Some("NewAsset"),
        200,
        "Object",
    ),
    op(
        "patch",
        "/api/v1/assets/hosts/{id}/",
        "assets",
        "Update a host",
        Some("AssetChanges"),
        200,
        "Object",
    ),
    op(
        "delete",
        "/api/v1/assets/hosts/{id}/",
        "assets",
        "Delete a host",
        None,
        204,
        "Empty",
    ),
    op(
        "get",
        "/api/v1/assets/nodes/",
        "assets",
        "Nodes of the current organization",
        None,
        200,
        "List",
    ),
    op(
        "post",
        "/api/v1/assets/nodes/",
        "assets",
        "Create a node",
        Some("NewNode"),
        201,
        "Object",
    ),
    op(
        "get",
        "/api/v1/assets/nodes/{id}/",
        "assets",
        "One node",
        None,
        200,
        "Object",
    ),
    op(
        "put",
        "/api/v1/assets/nodes/{id}/",
        "assets",
        "Rename a node (its descendants' paths follow)",
        Some("NewChildNode"),
        200,
        "Object",
    ),
    op(
        "patch",
        "/api/v1/assets/nodes/{id}/",
        "assets",
        "Rename a node when value is given",
        Some("NodeChanges"),
        200,
        "Object",
    ),
    op(
        "delete",
        "/api/v1/assets/nodes/{id}/",
        "assets",
        "Delete a node",
        None,
        204,
        "Empty",
    ),
    op(
        "get",
        "/api/v1/assets/nodes/{id}/children/",
        "assets",
        "Children of a node",
        None,
        200,
        "List",
    ),
    op(
        "post",
        "/api/v1/assets/nodes/{id}/children/",
        "assets",
        "Create a child node",
        Some("NewChildNode"),
        201,
        "Object",
    ),
    op(
        "get",
        "/api/v1/authentication/access-keys/",
        "authentication",
        "The caller's access keys (no secrets)",
        None,
        200,
        "List",
    ),
    op(
        "post",
        "/api/v1/authentication/access-keys/",
        "authentication",
        "Create an access key; its secret is shown once",
        None,
        201,
        "Object",
    ),
    op(
        "get",
        "/api/v1/authentication/access-keys/{id}/",
        "authentication",
        "One access key (no secret)",
        None,
        200,
        "Object",
    ),
    op(
        "put",
        "/api/v1/authentication/access-keys/{id}/",
        "authentication",
        "Disable or enable an access key",
        Some("AccessKeyChanges"),
        200,
        "Object",
    ),
    op(
        "patch",
        "/api/v1/authentication/access-keys/{id}/",
        "authentication",
        "Disable or enable an access key",
        Some("AccessKeyChanges"),
        200,
        "Object",
    ),
    op(
        "delete",
        "/api/v1/authentication/access-keys/{id}/",
        "authentication",
        "Delete an access key",
        None,
        204,
        "Empty",
    ),
    op(
        "get",
        "/api/v1/perms/asset-permissions/{id}/users/all/",
        "perms",
        "Users of an asset permission",
        None,
        200,
        "List",
    ),
    op(
        "get",
        "/api/v1/perms/asset-permissions/{id}/assets/all/",
        "perms",
        "Assets of an asset permission",
        None,
        200,
        "List",
    ),
];

/// Every documented operation, typed ticket routes included.
pub fn operations() -> Vec<Operation> {
    let mut all: Vec<Operation> = OPERATIONS.to_vec();
    all.extend(ADMIN_OPERATIONS.iter().cloned());
    for prefix in TYPED_PREFIXES {
        let open_body = if prefix == "apply-asset-tickets" {
            "OpenApplyAsset"
        } else {
            "OpenSystemTicket"
        };
        let typed = [
            (
                "get",
                "",
                "Tickets of this type related to the caller",
                None,
                200,
                "TicketList",
            ),
            (
                "post",
                "open/",
                "Open a ticket of this type",
                Some(open_body),
                201,
                "Ticket",
            ),
            (
                "get",
                "{id}/",
                "One ticket of this type",
                None,
                200,
                "Ticket",
            ),
            (
                "put",
                "{id}/approve/",
                "Approve the current step",
                Some("Approve"),
                200,
                "Ok",
            ),
            (
                "patch",
                "{id}/approve/",
                "Approve the current step",
                Some("Approve"),
                200,
                "Ok",
            ),
            (
                "put",
                "{id}/reject/",
                "Reject the current step",
                None,
                200,
                "Ok",
            ),
            ("put", "{id}/close/", "Close", None, 200, "Ok"),
            (
                "put",
                "bulk/",
                "Approve or reject several (?action=approve|reject)",
                Some("Bulk"),
                200,
                "Ok",
            ),
        ];
        for (method, suffix, summary, body, status, response) in typed {
            let mut operation = op(method, "", "tickets", summary, body, status, response);
            operation.path = Cow::Owned(format!("/api/v1/tickets/{prefix}/{suffix}"));
            all.push(operation);
        }
    }
    all
}

fn schemas() -> Value {
    let object = json!({"type": "object", "additionalProperties": true});
    let uuid = json!({"type": "string", "format": "uuid"});
    let datetime = json!({"type": "string", "description": "%Y/%m/%d %H:%M:%S %z, ISO 8601, or %Y-%m-%d %H:%M:%S"});
    let choice =
        json!({"type": "object", "properties": {"value": {}, "label": {"type": "string"}}});
    // A flow's `type`: one of the ticket types, or a choice object carrying one.
    let ticket_type: Value = json!({"type": "string", "enum": TICKET_TYPES.iter().map(|(value, _, _)| *value).collect::<Vec<_>>()});
    // Text the server trims and refuses when blank.
    let text = |max: Option<u32>| match max {
        Some(max) => json!({"type": "string", "pattern": "\\S", "maxLength": max}),
        None => json!({"type": "string", "pattern": "\\S"}),
    };
    let username = json!({"type": "string", "pattern": "^[^\\s\\u0000-\\u001f\\u007f-\\u009f]+$", "maxLength": 128});
    let node_name = json!({"type": "string", "pattern": "^[^/]*\\S[^/]*$", "maxLength": 128});
    let user_fields = json!({"username": username, "name": text(None), "email": {"type": "string", "format": "email"},
        "password": {"type": "string"}, "is_active": {"type": "boolean"},
        "system_roles": {"type": "array", "items": uuid}, "org_roles": {"type": "array", "items": uuid}});
    let org_fields = json!({"name": text(Some(128)), "comment": {"type": "string"}});
    let access_key_fields = json!({"type": "object", "properties": {"is_active": {"type": "boolean"},
        "ip_group": {"type": "array", "items": {"type": "string", "enum": ["*"]}, "minItems": 1}}});
    let asset_fields = json!({"name": text(Some(128)), "address": text(Some(767)), "platform": {"type": "string", "pattern": "\\S",
        "description": "a platform's name (Linux, Windows, …), or its number"},
        "nodes": {"type": "array", "items": uuid}, "is_active": {"type": "boolean"}, "comment": {"type": "string"}});
    let mut schemas = json!({
        "Object": object,
        "Empty": {"type": "object"},
        "NewUser": {"type": "object", "required": ["username", "name", "email"], "properties": user_fields},
        "UserChanges": {"type": "object", "properties": user_fields},
        "NewOrg": {"type": "object", "required": ["name"], "properties": org_fields},
        "OrgChanges": {"type": "object", "properties": org_fields},
        "NewAsset": {"type": "object", "required": ["name", "address"], "properties": asset_fields},
        "AssetChanges": {"type": "object", "properties": asset_fields},
        "NewNode": {"type": "object", "properties": {"value": node_name, "full_value": text(None),
            "parent_id": uuid}, "anyOf": [{"required": ["value"]}, {"required": ["full_value"]}]},
        "NewChildNode": {"type": "object", "required": ["value"], "properties": {"value": node_name}},
        "Ok": {"type": "string", "enum": ["ok"]},
        "List": {"oneOf": [{"type": "array", "items": object}, {"$ref": "#/components/schemas/Page"}]},
        "Page": {"type": "object", "properties": {
            "count": {"type": "integer"}, "next": {"type": "string", "nullable": true},
            "previous": {"type": "string", "nullable": true}, "results": {"type": "array", "items": object}}},
        "Error": {"type": "object", "properties": {"detail": {"type": "string"}, "code": {"type": "string"}}},
        "FieldErrors": {"type": "object", "additionalProperties": {"type": "array", "items": {}}},
        "User": {"type": "object", "properties": {"id": uuid, "username": {"type": "string"}, "name": {"type": "string"},
            "email": {"type": "string"}, "system_roles": {"type": "array", "items": object}}},
        "Login": {"type": "object", "required": ["username", "password"], "properties": {
            "username": {"type": "string"}, "password": {"type": "string"}}},
        "Token": {"type": "object", "properties": {"token": {"type": "string"}, "keyword": {"type": "string"},
            "date_expired": {"type": "string"}, "user": {"$ref": "#/components/schemas/User"}}},
        "Ticket": {"type": "object", "properties": {
            "id": uuid, "title": {"type": "string"}, "org_id": uuid, "serial_num": {"type": "string"},
            "type": choice, "state": choice, "status": choice, "approval_step": choice,
            "applicant": {}, "process_map": {"type": "array", "items": object}, "rel_snapshot": object,
            "org_name": {"type": "string"}, "date_created": {"type": "string"}, "date_updated": {"type": "string"},
            "comment": {"type": "string"}}},
        "TicketList": {"oneOf": [{"type": "array", "items": {"$ref": "#/components/schemas/Ticket"}}, {"$ref": "#/components/schemas/Page"}]},
        "TicketStatus": {"type": "object", "properties": {"id": uuid, "status": choice, "state": choice, "processor": {"type": "string"}}},
        "OpenApplyAsset": {"type": "object", "required": ["title", "org_id", "apply_date_start", "apply_date_expired"], "properties": {
            "title": {"type": "string", "maxLength": 256}, "org_id": {"type": "string"}, "flow_id": uuid,
            "apply_assets": {"type": "array", "items": uuid}, "apply_nodes": {"type": "array", "items": uuid},
            "apply_accounts": {"type": "array", "items": {"type": "string"}},
            "apply_actions": {"oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "integer", "minimum": 0, "maximum": 127}]},
            "apply_date_start": datetime, "apply_date_expired": datetime, "comment": {"type": "string"}, "id": uuid, "applicant": uuid}},
        "OpenSystemTicket": {"type": "object", "required": ["title"], "properties": {
            "title": {"type": "string"}, "org_id": {"type": "string"}, "applicant": uuid, "flow_id": uuid,
            "assignees": {"type": "array", "items": uuid}, "comment": {"type": "string"}}},
        "Approve": {"type": "object", "properties": {
            "org_id": {"type": "string"}, "apply_assets": {"type": "array", "items": uuid}, "apply_nodes": {"type": "array", "items": uuid},
            "apply_accounts": {"type": "array", "items": {"type": "string"}}, "apply_actions": {"type": "array", "items": {"type": "string"}},
            "apply_date_start": datetime, "apply_date_expired": datetime}},
        "Bulk": {"type": "object", "required": ["tickets"], "properties": {"tickets": {"type": "array", "items": uuid}}},
        "NewComment": {"type": "object", "required": ["body"], "properties": {"body": {"type": "string"}}},
        "Comment": {"type": "object", "properties": {"id": uuid, "body": {"type": "string"}, "user_display": {"type": "string"},
            "ticket": uuid, "user": uuid, "date_created": {"type": "string"}, "date_updated": {"type": "string"}}},
        "CommentList": {"oneOf": [{"type": "array", "items": {"$ref": "#/components/schemas/Comment"}}, {"$ref": "#/components/schemas/Page"}]},
        "Flow": {"type": "object", "properties": {"name": {"type": "string"}, "type": {"oneOf": [
                ticket_type.clone(), {"type": "object", "required": ["value"], "properties": {"value": ticket_type}}]},
            "approval_level": {"type": "integer", "minimum": 1, "maximum": 5}, "rules": {"type": "array", "items": object},
            "cc_users": {"type": "array", "items": uuid}}},
    });
    // Beside the rest: one more entry in the macro above passes its recursion limit.
    schemas["AccessKeyChanges"] = access_key_fields;
    schemas["NodeChanges"] = json!({"type": "object", "properties": {"value": node_name}});
    let mut new_flow = schemas["Flow"].clone();
    new_flow["required"] = json!(["name", "rules"]);
    new_flow["properties"]["name"] = json!({"type": "string", "pattern": "\\S"});
    schemas["NewFlow"] = new_flow;
    let binding = json!({"type": "object", "required": ["user", "role"], "properties": {
        "user": uuid, "role": uuid, "org": uuid, "org_id": uuid}});
    schemas["NewBindings"] = json!({"oneOf": [binding, {"type": "array", "items": binding}]});
    schemas["Bindings"] = json!({"oneOf": [object, {"type": "array", "items": object}]});
    schemas["Invite"] = json!({"type": "object", "required": ["users", "org_roles"], "properties": {
        "users": {"type": "array", "items": uuid}, "org_roles": {"type": "array", "items": uuid}}});
    schemas
}

/// The query parameters `operation` reads: every list's page (`limit`, `offset`), the ticket
/// lists' filters, and the ticket a comment route is about. A filter value that names nothing
/// (an unknown state, a malformed id) matches no ticket rather than failing, as in JumpServer,
/// so the schemas name no value a request may not send.
fn query_parameters(operation: &Operation) -> Vec<Value> {
    let parameter = |name: &str, required: bool, description: &str, schema: Value| json!({"name": name, "in": "query", "required": required, "description": description, "schema": schema});
    let mut parameters = Vec::new();
    if operation.path.starts_with("/api/v1/tickets/comments/") {
        parameters.push(parameter(
            "ticket_id",
            true,
            "the ticket the comments belong to",
            json!({"type": "string", "format": "uuid"}),
        ));
    }
    if operation.path.ends_with("/bulk/") {
        parameters.push(parameter(
            "action",
            true,
            "what to do with every listed ticket",
            json!({"type": "string", "enum": ["approve", "reject"]}),
        ));
    }
    if operation.method != "get" || !operation.response.ends_with("List") {
        return parameters;
    }
    parameters.push(parameter(
        "limit",
        false,
        "page size, at most the configured max_page_size; absent or not positive: a plain array",
        json!({"type": "integer"}),
    ));
    parameters.push(parameter(
        "offset",
        false,
        "rows to skip (with limit); negative or not a number: 0",
        json!({"type": "integer"}),
    ));
    if operation.response != "TicketList" {
        return parameters;
    }
    let uuid = json!({"type": "string", "format": "uuid"});
    let text = json!({"type": "string"});
    for (name, description, schema) in [
        (
            "state",
            "pending, approved, rejected or closed (all: any)",
            text.clone(),
        ),
        (
            "status",
            "open (pending) or closed (finished)",
            text.clone(),
        ),
        ("type", "the ticket type, e.g. apply_asset", text.clone()),
        (
            "search",
            "words each found in the title, type or status (open, closed); `,` joins searches that must all \
             match, `|` alternatives",
            text.clone(),
        ),
        (
            "assignees__id",
            "tickets awaiting this user's decision",
            uuid.clone(),
        ),
        ("applicant", "tickets this user applied for", uuid.clone()),
        ("org_id", "tickets of this organization", uuid.clone()),
        ("id", "this ticket only", uuid),
        (
            "serial_num",
            "the ticket with this serial number",
            text.clone(),
        ),
        ("title", "the ticket title, exactly", text.clone()),
        (
            "days",
            "tickets created in the last this many days",
            json!({"type": "number"}),
        ),
        (
            "days__lt",
            "tickets created more than this many days ago",
            json!({"type": "number"}),
        ),
        ("order", "sort key, e.g. -date_created", text.clone()),
    ] {
        parameters.push(parameter(name, false, description, schema));
    }
    for (field, _, what) in crate::tickets::filters::TEXT_LOOKUP_FIELDS {
        for (lookup, asks) in crate::tickets::filters::TEXT_LOOKUPS {
            parameters.push(parameter(
                &format!("{field}__{lookup}"),
                false,
                &asks.replace("{}", what),
                text.clone(),
            ));
        }
    }
    parameters
}

/// The OpenAPI 3.0 document.
pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for operation in operations() {
        // A 204 answer has no body, so it documents no media type.
        let success = if operation.status == 204 {
            json!({"description": "success, no content"})
        } else {
            json!({
                "description": "success",
                "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", operation.response)}}}
            })
        };
        let mut entry = json!({
            "tags": [operation.tag],
            "summary": operation.summary,
            "security": [{"token": []}, {"signature": []}],
            "responses": {
                operation.status.to_string(): success,
                // A body of field errors may also read as an error with a `detail`: not `oneOf`. A
                // list body (bulk flow updates) is answered one object of field errors per item.
                "400": {"description": "invalid input", "content": {"application/json": {"schema": {"anyOf": [
                    {"$ref": "#/components/schemas/FieldErrors"}, {"$ref": "#/components/schemas/Error"},
                    {"type": "array", "items": {"$ref": "#/components/schemas/FieldErrors"}}]}}}},
                "401": {"description": "not authenticated", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "403": {"description": "not allowed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "404": {"description": "not found", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "409": {"description": "the ticket's state changed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        });
        let mut parameters = query_parameters(&operation);
        if operation.path.contains("{id}") {
            parameters.insert(
                0,
                json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}),
            );
        }
        if !parameters.is_empty() {
            entry["parameters"] = Value::Array(parameters);
        }
        // What any route may answer besides its own: too many requests (the rate limits), the
        // server too busy or slow (the request timeout, the store's connections), headers over
        // the limit, and (with a body) a body over the limit.
        let error = json!({"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
        for (status, description) in [
            ("429", "too many requests (Retry-After)"),
            ("503", "busy or timed out (Retry-After)"),
        ] {
            let mut answer = error.clone();
            answer["description"] = json!(description);
            entry["responses"][status] = answer;
        }
        // Answered by the HTTP server before any route, without a body.
        entry["responses"]["431"] = json!({"description": "request headers too large"});
        if let Some(body) = operation.body {
            entry["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}}});
        }
        // Any body sent is limited, also where the operation reads none.
        if matches!(operation.method, "post" | "put" | "patch") {
            let mut answer = error.clone();
            answer["description"] = json!("request body too large");
            entry["responses"]["413"] = answer;
        }
        if operation.path.ends_with("/auth/") || operation.path.ends_with("/tokens/") {
            entry["security"] = json!([]);
        }
        let path = paths
            .entry(operation.path.to_string())
            .or_insert_with(|| json!({}));
        path[operation.method] = entry;
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "ticketd — JumpServer dialect", "version": env!("CARGO_PKG_VERSION"),
                 "description": "JumpServer's ticket, flow, asset-permission and admin API, served by ticketd."},
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "`Token <t>` or `Bearer <t>`"},
                "signature": {"type": "apiKey", "in": "header", "name": "Authorization",
                              "description": "HTTP Signature (hmac-sha256) over `(request-target) date`, as python httpsig signs"}
            }
        }
    })
}

async fn serve_document(_caller: crate::extract::Caller) -> Json<Value> {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    Json(DOCUMENT.get_or_init(document).clone())
}

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/v1/docs/openapi.json", get(serve_document))
}
