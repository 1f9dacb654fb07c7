#!/usr/bin/env python3
"""A webhook receiver for the demo: checks each delivery's Vaultwatch-Signature
(HMAC-SHA256 over "<t>.<body>", docs/webhooks.md) and appends one JSON line per delivery
to LOG: {"type", "id", "signature_ok", "data"}.

    demo-webhook-receiver.py PORT SECRET LOG
"""
import hashlib
import hmac
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

PORT, SECRET, LOG = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]


def signature_ok(header, body):
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t = parts.get("t", "")
    if not t.isdigit() or abs(time.time() - int(t)) > 300:
        return False
    want = hmac.new(SECRET, t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(want, v) for k, v in
               (p.split("=", 1) for p in header.split(",") if "=" in p) if k == "v1")


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ok = signature_ok(self.headers.get("Vaultwatch-Signature", ""), body)
        event = json.loads(body) if ok else {}
        with open(LOG, "a") as f:
            f.write(json.dumps({"type": self.headers.get("Vaultwatch-Event"), "id": self.headers.get("Vaultwatch-Delivery"),
                                "signature_ok": ok, "data": event.get("data", {})}) + "\n")
        self.send_response(204 if ok else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
