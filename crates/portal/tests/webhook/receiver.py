"""A webhook receiver for the tests. Every delivery is verified with the Standard Webhooks
reference library (the `standardwebhooks` package from PyPI), with each secret in a file the
test writes, and answered as the plan says.

    receiver.py LOG SECRETS PLAN

LOG gets one JSON line per request: its webhook-id, which secrets verified it, the answer
given, and the body. SECRETS is a JSON list of `whsec_…` secrets, read at each request. PLAN
is a comma list of answers (`500`, `200`, `timeout`), one per request; the last repeats. The
first line on stdout is the port listened on (127.0.0.1).
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError

LOG, SECRETS, PLAN = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
lock = threading.Lock()
served = [0]


def verified_with(body, headers):
    with open(SECRETS) as f:
        secrets = json.load(f)
    results = []
    for secret in secrets:
        try:
            Webhook(secret).verify(body, headers)
            results.append(True)
        except WebhookVerificationError:
            results.append(False)
    return results


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        with lock:
            answer = PLAN[min(served[0], len(PLAN) - 1)]
            served[0] += 1
        headers = {k: v for k, v in self.headers.items()}
        line = {
            "webhook_id": headers.get("webhook-id"),
            "verified": verified_with(body, headers),
            "answered": answer,
            "body": json.loads(body or b"null"),
        }
        with lock, open(LOG, "a") as f:
            f.write(json.dumps(line) + "\n")
        if answer == "timeout":
            time.sleep(12)
            answer = "200"
        self.send_response(int(answer))
        self.send_header("content-type", "text/plain")
        self.end_headers()
        self.wfile.write(f"answered {answer}".encode())

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[4]) if len(sys.argv) > 4 else 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
