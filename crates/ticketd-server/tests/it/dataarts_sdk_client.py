"""Calls a ticketd server with Huawei Cloud's official DataArts Studio SDK, signed with AK/SK.

Usage: dataarts_sdk_client.py BASE_URL AK SK PROJECT_ID WORKSPACE IDS_JSON
IDS_JSON: {"accept": id, "decline": id, "batch_approve": [ids], "batch_reject": [ids]}.
Prints one JSON object: for each call, its HTTP status and what the SDK parsed (or the error the
SDK raised, with its status, error_code and error_msg).
"""
import json
import sys

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions import exceptions
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkdataartsstudio.v1 import (
    AcceptSecurityApplicationRequest,
    BatchApproveRequestBody,
    BatchApproveSecurityApplicationsRequest,
    BatchRejectSecurityApplicationsRequest,
    DataArtsStudioClient,
    DeclineSecurityApplicationRequest,
    ListSecurityApprovalsRequest,
    ReasonDTO,
)

BASE, AK, SK, PROJECT_ID, WORKSPACE, IDS = sys.argv[1:7]
IDS = json.loads(IDS)

config = HttpConfig.get_default_config()
# The test server speaks plain HTTP on loopback; nothing to verify.
config.ignore_ssl_verification = True
config.timeout = (5, 30)
# An explicit http:// endpoint and a project id in the credentials: no region, no IAM lookup.
client = (
    DataArtsStudioClient.new_builder()
    .with_http_config(config)
    .with_credentials(BasicCredentials(AK, SK, PROJECT_ID))
    .with_endpoints([BASE])
    .build()
)


def call(name, fn):
    try:
        response = fn()
        body = response.to_dict()
        results[name] = {"ok": True, "status": response.status_code, "body": body}
    except exceptions.ServiceResponseException as error:
        results[name] = {
            "ok": False,
            "status": error.status_code,
            "error_code": error.error_code,
            "error_msg": error.error_msg,
        }


results = {}
# The seed's parameters: paging, status_list as integers, a time window, both orders.
call(
    "list_waiting",
    lambda: client.list_security_approvals(
        ListSecurityApprovalsRequest(
            workspace=WORKSPACE,
            limit=10,
            offset=0,
            status_list=[0],
            application_start_time=0,
            application_end_time=4102444800000,
            order_by="START_TIME",
            order_by_desc=True,
        )
    ),
)
call(
    "list_by_proposer",
    lambda: client.list_security_approvals(
        ListSecurityApprovalsRequest(
            workspace=WORKSPACE,
            proposer_name="alice",
            workspace_id=WORKSPACE,
            status_list=[0, 1, 2, 3],
            order_by="END_TIME",
            order_by_desc=False,
        )
    ),
)
call(
    "list_one",
    lambda: client.list_security_approvals(
        ListSecurityApprovalsRequest(workspace=WORKSPACE, approval_id=IDS["accept"])
    ),
)
call(
    "accept",
    lambda: client.accept_security_application(
        AcceptSecurityApplicationRequest(workspace=WORKSPACE, id=IDS["accept"], body=ReasonDTO(reason="Agree"))
    ),
)
call(
    "decline",
    lambda: client.decline_security_application(
        DeclineSecurityApplicationRequest(
            workspace=WORKSPACE, id=IDS["decline"], body=ReasonDTO(reason="Rejected")
        )
    ),
)
call(
    "batch_approve",
    lambda: client.batch_approve_security_applications(
        BatchApproveSecurityApplicationsRequest(
            workspace=WORKSPACE, body=BatchApproveRequestBody(reason="ok", ids=IDS["batch_approve"])
        )
    ),
)
call(
    "batch_reject",
    lambda: client.batch_reject_security_applications(
        BatchRejectSecurityApplicationsRequest(
            workspace=WORKSPACE, body=BatchApproveRequestBody(reason="no", ids=IDS["batch_reject"])
        )
    ),
)
call(
    "list_after",
    lambda: client.list_security_approvals(
        ListSecurityApprovalsRequest(workspace=WORKSPACE, limit=100, status_list=[1, 2])
    ),
)
# A wrong secret is refused by the server with the gateway's code.
wrong = (
    DataArtsStudioClient.new_builder()
    .with_http_config(config)
    .with_credentials(BasicCredentials(AK, "not-the-secret", PROJECT_ID))
    .with_endpoints([BASE])
    .build()
)
call(
    "wrong_secret",
    lambda: wrong.list_security_approvals(ListSecurityApprovalsRequest(workspace=WORKSPACE)),
)
print(json.dumps(results, default=str))
