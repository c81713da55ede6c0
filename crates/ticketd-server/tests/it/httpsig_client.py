"""Signs requests to a ticketd server with python's `httpsig`, as JumpServer's documented clients do.

Usage: httpsig_client.py BASE_URL KEY_ID SECRET
Prints a JSON object mapping each case to the HTTP status the server answered.
"""
import json
import re
import sys
from datetime import datetime, timedelta, timezone

import requests
from httpsig.requests_auth import HTTPSignatureAuth

BASE, KEY_ID, SECRET = sys.argv[1:4]
GMT_FORM = "%a, %d %b %Y %H:%M:%S GMT"
ORG_ID = "00000000-0000-0000-0000-000000000002"


def date(offset_seconds=0):
    return (datetime.now(timezone.utc) + timedelta(seconds=offset_seconds)).strftime(GMT_FORM)


auth = HTTPSignatureAuth(
    key_id=KEY_ID, secret=SECRET, algorithm="hmac-sha256", headers=["(request-target)", "accept", "date"]
)
results = {}

# The seed scripts' shape: Content-Type, X-JMS-ORG and Date set by hand, Accept left to requests.
headers = {"Content-Type": "application/json", "X-JMS-ORG": ORG_ID, "Date": date()}
response = requests.get(f"{BASE}/api/v1/users/profile/", auth=auth, headers=headers)
results["seed_style_get"] = response.status_code
results["username"] = response.json().get("username")
response = requests.get(f"{BASE}/api/v1/users/profile/", params={"oid": "DEFAULT", "q": "a b/c"}, auth=auth, headers=headers)
results["get_with_query"] = response.status_code

session = requests.Session()


def prepared(method="GET", path="/api/v1/users/profile/", offset=0):
    request = requests.Request(method, BASE + path, headers={"Accept": "application/json", "Date": date(offset)}, auth=auth)
    return session.prepare_request(request)


results["baseline"] = session.send(prepared()).status_code
tampered = prepared(method="POST")
tampered.method = "GET"
results["changed_method"] = session.send(tampered).status_code
tampered = prepared(path="/api/v1/users/profile/?a=1")
tampered.url = BASE + "/api/v1/users/profile/?a=2"
results["changed_path"] = session.send(tampered).status_code
tampered = prepared()
tampered.headers["Date"] = date(3)
results["changed_date"] = session.send(tampered).status_code
tampered = prepared()
tampered.headers["Accept"] = "text/html"
results["changed_header"] = session.send(tampered).status_code
tampered = prepared()
tampered.headers["Authorization"] = re.sub(r'signature="[^"]*"', 'signature="bm90IGl0"', tampered.headers["Authorization"])
results["changed_signature"] = session.send(tampered).status_code
results["stale_date"] = session.send(prepared(offset=-20 * 60)).status_code
wrong = HTTPSignatureAuth(key_id=KEY_ID, secret="wrong-secret", algorithm="hmac-sha256", headers=["(request-target)", "accept", "date"])
results["wrong_secret"] = requests.get(f"{BASE}/api/v1/users/profile/", auth=wrong, headers={"Date": date()}).status_code
# Under another dialect's mount point the signed path is the whole one too (TopHC checked it
# without its prefix, so `httpsig` clients were refused there).
response = requests.get(f"{BASE}/v1/ticket/list", params={"page_size": "1"}, auth=auth, headers={"Date": date()})
results["tophc_list"] = [response.status_code, response.json().get("scode")]
print(json.dumps(results))
