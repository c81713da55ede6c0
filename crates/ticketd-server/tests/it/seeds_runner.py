"""Runs every request example of the JumpServer seed documents against a ticketd server.

Usage: seeds_runner.py SEED_FILE BASE_URL KEY_ID KEY_SECRET FLOW_ID
The curl examples run as written, with the host replaced by BASE_URL (the seeds' Bearer token,
asset id and ticket id exist in the test deployment). The python examples run as written, with
their placeholders (API_URL, KEY_ID, KEY_SECRET, ORG_ID, TICKET_ID, ASSET_ID) replaced.
Prints a JSON list of {"source", "kind", "name", "status" | "output"} results.
"""
import json
import os
import re
import subprocess
import sys

SEED_FILE, BASE, KEY_ID, KEY_SECRET, FLOW_ID = sys.argv[1:6]
ORG_ID = "00000000-0000-0000-0000-000000000002"
ASSET_ID = "b4f205af-4353-49ef-befa-ff9095d52a27"
SEED_TICKET_ID = "41b36621-dd4d-492e-a72c-be20b2daeea8"


def blocks(text, language):
    return re.findall(r"```" + language + r"\n(.*?)```", text, flags=re.S)


def run_curl(command):
    # The documents break lines with "\ " (backslash, space); join them as a shell would read
    # the intended continuation.
    command = re.sub(r"\\\s*\n", " ", command).strip()
    command = command.replace("https://localhost", BASE)
    command = command.replace("curl ", "curl -s -o /dev/stderr -w '%{http_code}' ", 1)
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    return int(done.stdout.strip() or 0), done.stderr


def run_python(code, ticket_id):
    code = code.replace('"https://localhost"', json.dumps(BASE))
    code = code.replace('"your id"', json.dumps(KEY_ID)).replace('"your secret"', json.dumps(KEY_SECRET))
    code = code.replace('"your org id"', json.dumps(ORG_ID)).replace('"your asset id"', json.dumps(ASSET_ID))
    # The flow-update example reuses TICKET_ID for the flow's id (a slip in the document).
    target = FLOW_ID if "update_tickets_flows" in code else ticket_id
    code = code.replace('"your ticket id"', json.dumps(target))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


results = []
for name in [os.path.basename(SEED_FILE)]:
    text = open(SEED_FILE, encoding="utf-8").read()
    for index, block in enumerate(blocks(text, "sh")):
        status, body = run_curl(block)
        first_line = block.strip().splitlines()[0]
        results.append({"source": name, "kind": "curl", "name": f"{index}: {first_line}", "status": status, "body": body[:2000]})
    for index, block in enumerate(blocks(text, "python")):
        # Each python example that approves needs a fresh pending ticket: the open example in
        # the same document runs first and creates one; approve the newest pending ticket.
        listing = subprocess.run(
            ["curl", "-s", "-H", "Authorization: Bearer b96810faac725563304dada8c323c4fa061863d4",
             f"{BASE}/api/v1/tickets/apply-asset-tickets/?state=pending&limit=1"],
            capture_output=True, text=True, timeout=60,
        )
        try:
            ticket_id = json.loads(listing.stdout)["results"][0]["id"]
        except (ValueError, KeyError, IndexError):
            ticket_id = SEED_TICKET_ID
        code, output = run_python(block, ticket_id)
        function = re.search(r"^def (\w+)", block, flags=re.M)
        results.append({"source": name, "kind": "python", "name": function.group(1) if function else str(index), "exit": code, "output": output[:4000]})
print(json.dumps(results, ensure_ascii=False))
