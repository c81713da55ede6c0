//! Tests of approver selectors: which directory entries each selector shape matches, the
//! JumpServer legacy strategies, and shape validation.

use super::{AttrRule, LegacyStrategy, MatchOp, RolePair, Selector};
use crate::identity::{
    DirectoryEntry, ROLE_ORG_ADMIN, ROLE_ORG_AUDITOR, ROLE_ORG_USER, ROLE_SYSTEM_ADMIN,
    ROLE_SYSTEM_AUDITOR, ROLE_SYSTEM_USER, SystemRole, User,
};
use crate::ids::{OrgId, RoleId, UserId};
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

const ORG: OrgId = OrgId(Uuid::from_u128(0xA0));
const OTHER_ORG: OrgId = OrgId(Uuid::from_u128(0xB0));
const CUSTOM_ROLE: RoleId = RoleId(Uuid::from_u128(0xC0));

/// `(username, name, email, system role, org roles in ORG, active)`.
type Person = (
    &'static str,
    &'static str,
    &'static str,
    SystemRole,
    &'static [RoleId],
    bool,
);

/// The directory every matching test runs over, in this order.
const PEOPLE: [Person; 7] = [
    (
        "admin",
        "Administrator",
        "admin@example.com",
        SystemRole::Admin,
        &[],
        true,
    ),
    (
        "olga",
        "Olga Orgadmin",
        "Olga@Example.COM",
        SystemRole::User,
        &[ROLE_ORG_ADMIN],
        true,
    ),
    (
        "oscar",
        "Oscar Both",
        "oscar@example.org",
        SystemRole::User,
        &[ROLE_ORG_ADMIN, ROLE_ORG_USER],
        true,
    ),
    (
        "bob",
        "Bob Builder",
        "bob@builders.example.com",
        SystemRole::User,
        &[ROLE_ORG_USER],
        true,
    ),
    (
        "audrey",
        "Audrey Auditor",
        "audrey@example.com",
        SystemRole::Auditor,
        &[ROLE_ORG_AUDITOR],
        true,
    ),
    (
        "carl",
        "Carl Custom",
        "carl@example.net",
        SystemRole::User,
        &[CUSTOM_ROLE],
        true,
    ),
    // An inactive system and org admin whose every attribute would otherwise match.
    (
        "ghost",
        "Ghost",
        "ghost@example.com",
        SystemRole::Admin,
        &[ROLE_ORG_ADMIN],
        false,
    ),
];

/// Every active user of the directory, in directory order.
const ACTIVE: [&str; 6] = ["admin", "olga", "oscar", "bob", "audrey", "carl"];

fn id(username: &str) -> UserId {
    let n = PEOPLE.iter().position(|p| p.0 == username).unwrap();
    UserId(Uuid::from_u128(0x100 + n as u128))
}

fn directory() -> Vec<DirectoryEntry> {
    let created = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    PEOPLE
        .iter()
        .map(
            |&(username, name, email, system_role, org_roles, is_active)| DirectoryEntry {
                user: User {
                    id: id(username),
                    username: username.into(),
                    name: name.into(),
                    email: email.into(),
                    system_role,
                    is_active,
                    created_at: created,
                    updated_at: created,
                },
                org_roles: org_roles.to_vec(),
            },
        )
        .collect()
}

/// Org roles held elsewhere: bob and ghost administer OTHER_ORG; ORG answers from the directory.
fn pair_roles(org: OrgId, user: UserId) -> Vec<RoleId> {
    if org == ORG {
        return directory()
            .into_iter()
            .find(|e| e.user.id == user)
            .map(|e| e.org_roles)
            .unwrap_or_default();
    }
    if org == OTHER_ORG && (user == id("bob") || user == id("ghost")) {
        return vec![ROLE_ORG_ADMIN];
    }
    Vec::new()
}

/// Checks that exactly the users in `want` (in directory order) match `selector`.
#[track_caller]
fn check_selector(selector: &Selector, want: &[&str]) {
    let mut got = Vec::new();
    for entry in directory() {
        if selector.matches(&entry, &pair_roles) {
            got.push(entry.user.username);
        }
    }
    assert_eq!(got, want, "{}", serde_json::to_string(selector).unwrap());
}

/// Checks a selector given in its stored (JumpServer v4) JSON form.
#[track_caller]
fn check(selector: Value, want: &[&str]) {
    let parsed: Selector = match serde_json::from_value(selector.clone()) {
        Ok(parsed) => parsed,
        Err(e) => panic!("{selector} does not parse: {e}"),
    };
    check_selector(&parsed, want);
}

/// An attrs selector with one rule.
fn attr(name: &str, op: &str, value: Value) -> Value {
    json!({"type": "attrs", "attrs": [{"name": name, "match": op, "value": value}]})
}

fn role(role: RoleId) -> String {
    role.to_string()
}

#[test]
fn all_matches_every_active_user() {
    check(json!({"type": "all"}), &ACTIVE);
}

#[test]
fn ids_match_the_listed_active_users_only() {
    let unknown = UserId(Uuid::from_u128(0xDEAD));
    check(
        json!({"type": "ids", "ids": [id("bob"), id("ghost"), unknown]}),
        &["bob"],
    );
    check(
        json!({"type": "ids", "ids": [id("carl"), id("admin")]}),
        &["admin", "carl"],
    );
    check(json!({"type": "ids", "ids": []}), &[]);
}

#[test]
fn system_roles_match_the_users_one_system_role() {
    let admin = role(ROLE_SYSTEM_ADMIN);
    let auditor = role(ROLE_SYSTEM_AUDITOR);
    let user = role(ROLE_SYSTEM_USER);
    check(attr("system_roles", "m2m", json!([admin])), &["admin"]);
    check(
        attr("system_roles", "m2m", json!([admin, auditor])),
        &["admin", "audrey"],
    );
    check(attr("system_roles", "in", json!([auditor])), &["audrey"]);
    check(
        attr("system_roles", "exact", json!(user)),
        &["olga", "oscar", "bob", "carl"],
    );
    check(
        attr("system_roles", "not", json!(user)),
        &["admin", "audrey"],
    );
    // One system role each: nobody holds two.
    check(
        attr("system_roles", "m2m_all", json!([admin, auditor])),
        &[],
    );
    check(attr("system_roles", "m2m_all", json!([admin])), &["admin"]);
}

#[test]
fn org_roles_match_the_roles_held_in_the_tickets_org() {
    let org_admin = role(ROLE_ORG_ADMIN);
    let org_user = role(ROLE_ORG_USER);
    check(
        attr("org_roles", "m2m", json!([org_admin])),
        &["olga", "oscar"],
    );
    check(
        attr("org_roles", "m2m", json!([org_admin, org_user])),
        &["olga", "oscar", "bob"],
    );
    check(
        attr("org_roles", "m2m_all", json!([org_admin, org_user])),
        &["oscar"],
    );
    check(
        attr("org_roles", "m2m", json!([role(CUSTOM_ROLE)])),
        &["carl"],
    );
    check(
        attr("org_roles", "exact", json!(org_admin)),
        &["olga", "oscar"],
    );
    // `not` excludes holders of the role, including users holding it among others.
    check(
        attr("org_roles", "not", json!(org_admin)),
        &["admin", "bob", "audrey", "carl"],
    );
    // A system admin holds no org role unless given one.
    check(
        attr("org_roles", "m2m", json!([role(ROLE_SYSTEM_ADMIN)])),
        &[],
    );
}

#[test]
fn any_roles_match_system_or_org_roles() {
    let selector = attr(
        "any_roles",
        "m2m",
        json!([role(ROLE_SYSTEM_ADMIN), role(ROLE_ORG_ADMIN)]),
    );
    check(selector, &["admin", "olga", "oscar"]);
    check(
        attr("any_roles", "m2m", json!([role(ROLE_SYSTEM_AUDITOR)])),
        &["audrey"],
    );
}

#[test]
fn username_operators_match_as_documented() {
    check(attr("username", "exact", json!("bob")), &["bob"]);
    check(attr("username", "exact", json!("Bob")), &[]);
    check(
        attr("username", "in", json!(["bob", "olga", "nobody"])),
        &["olga", "bob"],
    );
    check(attr("username", "in", json!("carl")), &["carl"]);
    check(
        attr("username", "not", json!("bob")),
        &["admin", "olga", "oscar", "audrey", "carl"],
    );
    check(
        attr("username", "contains", json!("O")),
        &["olga", "oscar", "bob"],
    );
    check(attr("username", "startswith", json!("OS")), &["oscar"]);
    check(attr("username", "endswith", json!("EY")), &["audrey"]);
    check(attr("username", "startswith", json!("ad")), &["admin"]);
    check(attr("username", "endswith", json!("x")), &[]);
}

#[test]
fn name_and_email_operators_are_case_insensitive_except_exact() {
    check(attr("name", "exact", json!("Bob Builder")), &["bob"]);
    check(attr("name", "exact", json!("bob builder")), &[]);
    check(attr("name", "contains", json!("ADMIN")), &["admin", "olga"]);
    check(attr("name", "startswith", json!("bob b")), &["bob"]);
    check(attr("name", "endswith", json!("AUDITOR")), &["audrey"]);
    check(attr("email", "exact", json!("olga@example.com")), &[]);
    check(attr("email", "exact", json!("Olga@Example.COM")), &["olga"]);
    check(
        attr("email", "endswith", json!("@EXAMPLE.COM")),
        &["admin", "olga", "audrey"],
    );
    check(attr("email", "contains", json!("builders")), &["bob"]);
    check(
        attr(
            "email",
            "in",
            json!(["carl@example.net", "nobody@example.net"]),
        ),
        &["carl"],
    );
}

#[test]
fn the_id_attribute_matches_the_hyphenated_user_id() {
    check(
        attr("id", "exact", json!(id("oscar").to_string())),
        &["oscar"],
    );
    check(
        attr("id", "in", json!([id("oscar"), id("bob")])),
        &["oscar", "bob"],
    );
}

#[test]
fn every_rule_of_an_attrs_selector_must_match() {
    let selector = json!({"type": "attrs", "attrs": [
        {"name": "org_roles", "match": "m2m", "value": [role(ROLE_ORG_ADMIN)]},
        {"name": "username", "match": "startswith", "value": "os"},
    ]});
    check(selector, &["oscar"]);
    let contradiction = json!({"type": "attrs", "attrs": [
        {"name": "username", "value": "bob"},
        {"name": "username", "value": "carl"},
    ]});
    check(contradiction, &[]);
}

#[test]
fn the_match_operator_defaults_to_exact() {
    let selector: Selector = serde_json::from_value(
        json!({"type": "attrs", "attrs": [{"name": "username", "value": "bob"}]}),
    )
    .unwrap();
    let Selector::Attrs { attrs } = &selector else {
        panic!("{selector:?}")
    };
    assert_eq!(attrs[0].op, MatchOp::Exact);
    check_selector(&selector, &["bob"]);
}

#[test]
fn the_value_star_matches_any_active_user_whatever_the_operator() {
    check(attr("username", "exact", json!("*")), &ACTIVE);
    check(attr("username", "in", json!(["nobody", "*"])), &ACTIVE);
    check(attr("system_roles", "m2m", json!(["*"])), &ACTIVE);
    check(attr("org_roles", "m2m_all", json!(["*"])), &ACTIVE);
    check(attr("email", "contains", json!("*")), &ACTIVE);
    check(attr("name", "startswith", json!("*")), &ACTIVE);
}

#[test]
fn an_unknown_attribute_or_a_malformed_value_never_matches() {
    check(attr("groups", "exact", json!("*")), &[]);
    check(attr("groups", "m2m", json!(["devs"])), &[]);
    check(attr("username", "exact", json!(42)), &[]);
    check(attr("username", "exact", json!({"v": "bob"})), &[]);
}

#[test]
fn inactive_users_never_match() {
    let ghost_only = [
        json!({"type": "all"}),
        json!({"type": "ids", "ids": [id("ghost")]}),
        attr("username", "exact", json!("ghost")),
        attr("username", "exact", json!("*")),
        attr("org_roles", "m2m", json!([role(ROLE_ORG_ADMIN)])),
        json!({"type": "role_pairs", "pairs": [{"org_id": ORG, "role_id": ROLE_SYSTEM_ADMIN}]}),
        json!({"type": "role_pairs", "pairs": [{"org_id": OTHER_ORG, "role_id": ROLE_ORG_ADMIN}]}),
    ];
    let ghost = directory()
        .into_iter()
        .find(|e| e.user.username == "ghost")
        .unwrap();
    for selector in ghost_only {
        let parsed: Selector = serde_json::from_value(selector.clone()).unwrap();
        assert!(!parsed.matches(&ghost, &pair_roles), "{selector}");
        // The same user, active, does match: only the flag excludes them.
        let mut active = ghost.clone();
        active.user.is_active = true;
        assert!(parsed.matches(&active, &pair_roles), "{selector}");
    }
}

#[test]
fn role_pairs_match_a_role_held_in_the_named_org() {
    let pairs = |pairs: Value| json!({"type": "role_pairs", "pairs": pairs});
    check(
        pairs(json!([{"org_id": OTHER_ORG, "role_id": ROLE_ORG_ADMIN}])),
        &["bob"],
    );
    check(
        pairs(json!([{"org_id": ORG, "role_id": ROLE_ORG_ADMIN}])),
        &["olga", "oscar"],
    );
    check(
        pairs(json!([{"org_id": OTHER_ORG, "role_id": ROLE_ORG_USER}])),
        &[],
    );
    // The system-admin role means a system administrator, whatever the org.
    check(
        pairs(json!([{"org_id": OTHER_ORG, "role_id": ROLE_SYSTEM_ADMIN}])),
        &["admin"],
    );
    // Holding any one pair matches.
    check(
        pairs(json!([
            {"org_id": OTHER_ORG, "role_id": ROLE_ORG_ADMIN},
            {"org_id": ORG, "role_id": CUSTOM_ROLE},
            {"org_id": ORG, "role_id": ROLE_SYSTEM_ADMIN},
        ])),
        &["admin", "bob", "carl"],
    );
}

#[test]
fn only_role_pairs_need_foreign_orgs() {
    let selector = Selector::RolePairs {
        pairs: vec![
            RolePair {
                org_id: OTHER_ORG,
                role_id: ROLE_ORG_ADMIN,
            },
            RolePair {
                org_id: ORG,
                role_id: ROLE_ORG_USER,
            },
        ],
    };
    assert_eq!(selector.foreign_orgs(), [OTHER_ORG, ORG]);
    assert!(Selector::All.foreign_orgs().is_empty());
    assert!(
        Selector::Ids {
            ids: vec![id("bob")]
        }
        .foreign_orgs()
        .is_empty()
    );
    let attrs: Selector = serde_json::from_value(attr("username", "exact", json!("bob"))).unwrap();
    assert!(attrs.foreign_orgs().is_empty());
}

// ---------------------------------------------------------------------------------------------
// JumpServer's legacy strategies
// ---------------------------------------------------------------------------------------------

const STRATEGIES: [LegacyStrategy; 4] = [
    LegacyStrategy::SuperAdmin,
    LegacyStrategy::OrgAdmin,
    LegacyStrategy::SuperOrgAdmin,
    LegacyStrategy::CustomUser,
];

#[test]
fn legacy_strategies_translate_into_the_v4_selectors() {
    let cases = [
        (
            LegacyStrategy::SuperAdmin,
            json!({"type": "attrs", "attrs": [
                {"name": "system_roles", "match": "m2m", "value": ["00000000-0000-0000-0000-000000000001"]}
            ]}),
        ),
        (
            LegacyStrategy::OrgAdmin,
            json!({"type": "attrs", "attrs": [
                {"name": "org_roles", "match": "m2m", "value": ["00000000-0000-0000-0000-000000000005"]}
            ]}),
        ),
        (
            LegacyStrategy::SuperOrgAdmin,
            json!({"type": "attrs", "attrs": [
                {"name": "any_roles", "match": "m2m", "value": [
                    "00000000-0000-0000-0000-000000000001",
                    "00000000-0000-0000-0000-000000000005",
                ]}
            ]}),
        ),
        (
            LegacyStrategy::CustomUser,
            json!({"type": "ids", "ids": [id("bob"), id("carl")]}),
        ),
    ];
    for (strategy, want) in cases {
        let selector = strategy.to_selector(vec![id("bob"), id("carl")]);
        assert_eq!(
            serde_json::to_value(&selector).unwrap(),
            want,
            "{strategy:?}"
        );
    }
}

#[test]
fn legacy_strategies_select_the_users_they_name() {
    let users = || vec![id("bob"), id("ghost")];
    check_selector(&LegacyStrategy::SuperAdmin.to_selector(users()), &["admin"]);
    check_selector(
        &LegacyStrategy::OrgAdmin.to_selector(users()),
        &["olga", "oscar"],
    );
    check_selector(
        &LegacyStrategy::SuperOrgAdmin.to_selector(users()),
        &["admin", "olga", "oscar"],
    );
    check_selector(&LegacyStrategy::CustomUser.to_selector(users()), &["bob"]);
}

#[test]
fn legacy_strategies_round_trip_through_selectors_and_names() {
    for strategy in STRATEGIES {
        for users in [Vec::new(), vec![id("bob")]] {
            let selector = strategy.to_selector(users);
            assert_eq!(
                LegacyStrategy::from_selector(&selector),
                Some(strategy),
                "{selector:?}"
            );
        }
        assert_eq!(LegacyStrategy::parse(strategy.as_str()), Some(strategy));
    }
    let names: Vec<&str> = STRATEGIES.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        names,
        ["super_admin", "org_admin", "super_org_admin", "custom_user"]
    );
    assert_eq!(LegacyStrategy::parse("SUPER_ADMIN"), None);
    assert_eq!(LegacyStrategy::parse("admin"), None);
}

#[test]
fn the_seeded_jumpserver_flow_reads_back_as_super_admin() {
    let stored = json!({"type": "attrs", "attrs": [
        {"name": "system_roles", "match": "m2m", "value": ["00000000-0000-0000-0000-000000000001"]}
    ]});
    let selector: Selector = serde_json::from_value(stored).unwrap();
    assert_eq!(
        LegacyStrategy::from_selector(&selector),
        Some(LegacyStrategy::SuperAdmin)
    );
}

#[test]
fn other_selectors_have_no_legacy_strategy() {
    let others = [
        json!({"type": "all"}),
        attr("username", "exact", json!("bob")),
        attr("system_roles", "m2m", json!([role(ROLE_SYSTEM_AUDITOR)])),
        // The same roles as super_org_admin, but as two rules (which would mean both at once).
        json!({"type": "attrs", "attrs": [
            {"name": "system_roles", "match": "m2m", "value": [role(ROLE_SYSTEM_ADMIN)]},
            {"name": "org_roles", "match": "m2m", "value": [role(ROLE_ORG_ADMIN)]},
        ]}),
        json!({"type": "role_pairs", "pairs": [{"org_id": ORG, "role_id": ROLE_ORG_ADMIN}]}),
    ];
    for selector in others {
        let parsed: Selector = serde_json::from_value(selector.clone()).unwrap();
        assert_eq!(LegacyStrategy::from_selector(&parsed), None, "{selector}");
    }
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

/// Checks the `(field, code)` pairs `validate` reports for a selector given as JSON.
#[track_caller]
fn check_valid(selector: Value, want: &[(&str, &str)]) {
    let parsed: Selector = match serde_json::from_value(selector.clone()) {
        Ok(parsed) => parsed,
        Err(e) => panic!("{selector} does not parse: {e}"),
    };
    let errors = parsed.validate("levels[0].selector");
    let got: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
    assert_eq!(got, want, "{selector}");
}

#[test]
fn well_formed_selectors_are_valid() {
    check_valid(json!({"type": "all"}), &[]);
    check_valid(json!({"type": "ids", "ids": [id("bob")]}), &[]);
    check_valid(
        json!({"type": "role_pairs", "pairs": [{"org_id": ORG, "role_id": ROLE_ORG_ADMIN}]}),
        &[],
    );
    for name in [
        "system_roles",
        "org_roles",
        "any_roles",
        "username",
        "name",
        "email",
        "id",
    ] {
        check_valid(attr(name, "exact", json!("x")), &[]);
    }
    for op in [
        "exact",
        "not",
        "in",
        "contains",
        "startswith",
        "endswith",
        "m2m",
        "m2m_all",
    ] {
        check_valid(attr("username", op, json!("x")), &[]);
    }
    for op in ["in", "m2m", "m2m_all"] {
        check_valid(attr("username", op, json!(["x", "y"])), &[]);
    }
    for strategy in [
        LegacyStrategy::SuperAdmin,
        LegacyStrategy::OrgAdmin,
        LegacyStrategy::SuperOrgAdmin,
    ] {
        let errors = strategy.to_selector(Vec::new()).validate("users");
        assert!(errors.is_empty(), "{strategy:?}: {errors:?}");
    }
}

#[test]
fn empty_ids_attrs_and_pairs_are_required() {
    check_valid(
        json!({"type": "ids", "ids": []}),
        &[("levels[0].selector", "required")],
    );
    check_valid(
        json!({"type": "attrs", "attrs": []}),
        &[("levels[0].selector", "required")],
    );
    check_valid(
        json!({"type": "role_pairs", "pairs": []}),
        &[("levels[0].selector", "required")],
    );
    let custom = LegacyStrategy::CustomUser.to_selector(Vec::new());
    let errors = custom.validate("users");
    assert_eq!(errors.len(), 1);
    assert_eq!(
        (errors[0].field.as_str(), errors[0].code),
        ("users", "required")
    );
}

#[test]
fn unknown_attribute_names_are_invalid() {
    check_valid(
        attr("groups", "exact", json!("devs")),
        &[("levels[0].selector.attrs[0].name", "invalid")],
    );
    check_valid(
        attr("Username", "exact", json!("bob")),
        &[("levels[0].selector.attrs[0].name", "invalid")],
    );
    check_valid(
        attr("", "exact", json!("bob")),
        &[("levels[0].selector.attrs[0].name", "invalid")],
    );
}

#[test]
fn values_of_the_wrong_shape_are_invalid() {
    let value_error = [("levels[0].selector.attrs[0].value", "invalid")];
    check_valid(attr("username", "exact", json!(42)), &value_error);
    check_valid(attr("username", "exact", json!(null)), &value_error);
    check_valid(attr("username", "exact", json!(true)), &value_error);
    check_valid(attr("username", "exact", json!({"v": "bob"})), &value_error);
    // Lists only for in, m2m and m2m_all.
    for op in ["exact", "not", "contains", "startswith", "endswith"] {
        check_valid(attr("username", op, json!(["bob"])), &value_error);
    }
    // Lists of strings only.
    check_valid(attr("org_roles", "m2m", json!(["a", 1])), &value_error);
    check_valid(attr("org_roles", "m2m_all", json!([["a"]])), &value_error);
    check_valid(attr("username", "in", json!([null])), &value_error);
}

#[test]
fn validation_reports_every_bad_rule_at_its_index() {
    let selector = json!({"type": "attrs", "attrs": [
        {"name": "username", "match": "exact", "value": "bob"},
        {"name": "groups", "match": "contains", "value": ["x"]},
        {"name": "email", "match": "m2m", "value": 7},
    ]});
    check_valid(
        selector,
        &[
            ("levels[0].selector.attrs[1].name", "invalid"),
            ("levels[0].selector.attrs[1].value", "invalid"),
            ("levels[0].selector.attrs[2].value", "invalid"),
        ],
    );
}

#[test]
fn a_rule_built_in_code_validates_like_one_read_from_json() {
    let selector = Selector::Attrs {
        attrs: vec![AttrRule {
            name: "email".into(),
            op: MatchOp::Endswith,
            value: json!("@x.org"),
        }],
    };
    assert!(selector.validate("f").is_empty());
    let round_trip: Selector =
        serde_json::from_value(serde_json::to_value(&selector).unwrap()).unwrap();
    assert_eq!(round_trip, selector);
}

#[test]
fn empty_operand_lists_are_refused_and_never_match_everyone() {
    let rule = |op: MatchOp| Selector::Attrs {
        attrs: vec![AttrRule {
            name: "org_roles".into(),
            op,
            value: serde_json::json!([]),
        }],
    };
    for op in [MatchOp::In, MatchOp::M2m, MatchOp::M2mAll] {
        assert!(
            !rule(op).validate("users").is_empty(),
            "{op:?} with [] must be invalid"
        );
    }
    let entry = DirectoryEntry {
        user: sample_user_for_empty_list(),
        org_roles: Vec::new(),
    };
    assert!(!rule(MatchOp::M2mAll).matches(&entry, &|_, _| Vec::new()));
}

fn sample_user_for_empty_list() -> crate::identity::User {
    let t = chrono::DateTime::<chrono::Utc>::from_timestamp(0, 0).unwrap();
    crate::identity::User {
        id: crate::ids::UserId(uuid::Uuid::from_u128(42)),
        username: "eve".into(),
        name: "Eve".into(),
        email: String::new(),
        system_role: crate::identity::SystemRole::User,
        is_active: true,
        created_at: t,
        updated_at: t,
    }
}
