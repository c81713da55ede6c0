"""Drives a ticketd server with JumpServer's python SDK (PyPI `jumpserver-sdk-python`, `jms_client`).

Usage: jms_sdk_client.py BASE_URL KEY_ID SECRET ADMIN_PASSWORD
KEY_ID/SECRET are an access key of the admin user (the SDK signs with python `httpsig`);
ADMIN_PASSWORD checks the SDK's password login too. Prints one JSON object: for each step, what
the SDK returned (status, error and the fields the test looks at), so the Rust test can assert.
"""
import json
import sys

from jms_client.client import get_client
from jms_client.v1.models.request.assets import (
    CreateHostRequest,
    CreateNodeRequest,
    DeleteAssetRequest,
    DescribeAssetsForPermissionRequest,
    DeleteNodeRequest,
    DescribeAssetsRequest,
    DescribeHostsRequest,
    DescribeNodesRequest,
    DetailAssetRequest,
    DetailHostRequest,
    DetailNodeRequest,
    UpdateHostRequest,
)
from jms_client.v1.models.request.organizations import (
    CreateOrganizationRequest,
    DeleteOrganizationRequest,
    DescribeOrganizationsRequest,
    DetailOrganizationRequest,
    UpdateOrganizationRequest,
)
from jms_client.v1.models.request.permissions import (
    DescribePermissionsRequest,
    DetailPermissionRequest,
)
from jms_client.v1.models.request.users import (
    AppendUsersToRoleRequest,
    AuthStrategyParam,
    CreateUserRequest,
    DeleteUserRequest,
    DescribeUsersForPermissionRequest,
    DescribeUsersRequest,
    DescribeUsersWithRoleRequest,
    DetailUserRequest,
    UpdateUserRequest,
    UserProfileRequest,
)

BASE, KEY_ID, SECRET, ADMIN_PASSWORD = sys.argv[1:5]
ORG_ADMIN = "00000000-0000-0000-0000-000000000005"
results = {}


def record(step, response, pick=None):
    """Keeps the status, the error and (with `pick`) selected data of one SDK call."""
    data = response.get_data()
    entry = {"ok": response.is_success(), "error": response.get_err_msg() or None}
    if pick is not None and response.is_success():
        entry["data"] = pick(data)
    results[step] = entry
    return data


def need_id(data):
    """The id of a created object; without one the later steps cannot run, so report and stop."""
    if isinstance(data, dict) and data.get("id"):
        return data["id"]
    print(json.dumps(results))
    sys.exit(0)


client = get_client(web_url=BASE, access_key=KEY_ID, secret_key=SECRET)
results["api_version"] = client.api_version

# Users.
strategy = AuthStrategyParam()
strategy.set_password("Sdk-password-1")
user = record(
    "create_user",
    client.do(
        CreateUserRequest(
            name="SDK User", username="sdkuser", email="sdkuser@example.com", auth_strategy=strategy
        )
    ),
    lambda d: {k: d[k] for k in ("username", "name", "email", "system_roles", "org_roles", "is_active")},
)
user_id = need_id(user)
record(
    "list_users",
    client.do(DescribeUsersRequest(username="sdkuser")),
    lambda d: [u["username"] for u in d],
)
record("search_users", client.do(DescribeUsersRequest(search="sdk")), lambda d: len(d))
record("detail_user", client.do(DetailUserRequest(id_=user_id)), lambda d: d["email"])
record(
    "update_user",
    client.do(
        UpdateUserRequest(id_=user_id, name="SDK User 2", username="sdkuser", email="sdk2@example.com")
    ),
    lambda d: [d["name"], d["email"]],
)
record(
    "model_user",
    client.do(DetailUserRequest(id_=user_id), with_model=True),
    lambda d: d.display,
)
password_client = get_client(web_url=BASE, username="sdkuser", password="Sdk-password-1")
record("password_login_profile", password_client.do(UserProfileRequest()), lambda d: d["username"])
# A plain user has no `users.view_user`: their profile is theirs, the user list is not.
record("password_login_user_detail", password_client.do(DetailUserRequest(id_=user_id)))
record("missing_user", client.do(DetailUserRequest(id_="00000000-0000-0000-0000-0000000000aa")))

# Organizations.
org = record(
    "create_org",
    client.do(CreateOrganizationRequest(name="SDK Org")),
    lambda d: {k: d[k] for k in ("name", "is_default", "is_root")},
)
org_id = need_id(org)
record("list_orgs", client.do(DescribeOrganizationsRequest()), lambda d: sorted(o["name"] for o in d))
record("filter_orgs", client.do(DescribeOrganizationsRequest(name="SDK Org")), lambda d: len(d))
record("detail_org", client.do(DetailOrganizationRequest(id_=org_id)), lambda d: d["name"])
record("rename_org", client.do(UpdateOrganizationRequest(id_=org_id, name="SDK Org 2")), lambda d: d["name"])
record(
    "bind_org_admin",
    client.do(AppendUsersToRoleRequest(users=[user_id], role_id=ORG_ADMIN, scope="org")),
    lambda d: [[b["user"]["id"], b["role"]["id"]] for b in d],
)
record(
    "list_org_admins",
    client.do(DescribeUsersWithRoleRequest(role_id=ORG_ADMIN, scope="org")),
    lambda d: sorted(b["user"]["username"] for b in d),
)

# Nodes and assets, in the Default organization (the SDK's default X-JMS-ORG).
node = record(
    "create_node",
    client.do(CreateNodeRequest(value="SDK Node")),
    lambda d: {k: d[k] for k in ("value", "full_value")},
)
node_id = need_id(node)
record(
    "create_node_by_path",
    client.do(CreateNodeRequest(full_value="/SDK Node/Child")),
    lambda d: d["full_value"],
)
record("list_nodes", client.do(DescribeNodesRequest(search="SDK")), lambda d: sorted(n["full_value"] for n in d))
record("detail_node", client.do(DetailNodeRequest(id_=node_id)), lambda d: d["value"])
host = record(
    "create_host",
    client.do(
        CreateHostRequest(name="sdk-host", address="10.1.2.3", platform="Linux", nodes=[node_id], comment="via sdk")
    ),
    lambda d: {k: d[k] for k in ("name", "address", "platform", "comment", "is_active")},
)
host_id = need_id(host)
record("list_assets", client.do(DescribeAssetsRequest(search="sdk-")), lambda d: [a["name"] for a in d])
record("list_hosts_by_node", client.do(DescribeHostsRequest(node_id=node_id)), lambda d: [a["name"] for a in d])
record("detail_asset", client.do(DetailAssetRequest(id_=host_id)), lambda d: d["address"])
record(
    "update_host",
    client.do(UpdateHostRequest(id_=host_id, name="sdk-host-2", address="10.1.2.4", platform=1, nodes=[node_id])),
    lambda d: [d["name"], d["address"], d["platform"]["name"]],
)
record("detail_host", client.do(DetailHostRequest(id_=host_id), with_model=True), lambda d: d.display)

# Asset permissions (created by the test from an approved ticket before this script runs).
perms = record(
    "list_permissions",
    client.do(DescribePermissionsRequest(is_valid=True)),
    lambda d: [p["name"] for p in d],
)
if perms:
    perm_id = perms[0]["id"]
    record(
        "detail_permission",
        client.do(DetailPermissionRequest(id_=perm_id), with_model=True),
        lambda d: {"users": [u["name"] for u in d.users], "actions": [a["value"] for a in d.actions], "is_valid": d.is_valid},
    )
    record(
        "permission_users",
        client.do(DescribeUsersForPermissionRequest(id_=perm_id)),
        lambda d: [u["user_display"] for u in d],
    )
    record(
        "permission_assets",
        client.do(DescribeAssetsForPermissionRequest(id_=perm_id)),
        lambda d: [a["asset_display"] for a in d],
    )
    record(
        "permissions_of_user",
        client.do(DescribePermissionsRequest(user_id=perms[0]["users"][0]["id"])),
        lambda d: len(d),
    )

# Clean-up through the SDK.
record("delete_asset", client.do(DeleteAssetRequest(id_=host_id)))
record("deleted_asset", client.do(DetailAssetRequest(id_=host_id)))
record("delete_user", client.do(DeleteUserRequest(id_=user_id)))
record("deleted_user", client.do(DetailUserRequest(id_=user_id)))
record("delete_org", client.do(DeleteOrganizationRequest(id_=org_id)))
child = client.do(DescribeNodesRequest(value="Child")).get_data()
if child:
    record("delete_child_node", client.do(DeleteNodeRequest(id_=child[0]["id"])))

print(json.dumps(results))
