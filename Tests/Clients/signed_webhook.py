#!/usr/bin/env python3
"""Sends one signed webhook to hookstream, signed by code nobody on the team wrote: PyPI's `standardwebhooks`
for Standard Webhooks, Python's own `hmac` for GitHub, Stripe, Slack and generic HMAC, httpx to send it.

Prints one JSON object: {"status": ..., "body": ..., "headers": {...}}.
"""
import argparse
import base64
import hashlib
import hmac
import json
import sys
import time
import uuid
from datetime import datetime, timezone

import httpx
from standardwebhooks.webhooks import Webhook


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--scheme", required=True, choices=["github", "stripe", "slack", "standard-webhooks", "gitlab", "hmac-sha512-base64"])
    parser.add_argument("--secret", required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--timestamp", type=int, default=None, help="Unix seconds to sign (default: now)")
    parser.add_argument("--id", default="msg_1", help="delivery id (webhook-id, X-GitHub-Delivery)")
    parser.add_argument("--tamper", action="store_true", help="send a body other than the one signed")
    parser.add_argument("--omit", default=None, help="a header to leave out")
    parser.add_argument("--header", action="append", default=[], help="an extra header, Name: value")
    args = parser.parse_args()

    body = args.body.encode()
    timestamp = args.timestamp if args.timestamp is not None else int(time.time())
    headers = {"Content-Type": "application/json"}

    def signature(signed: bytes) -> str:
        """The signature (for GitLab, the token) as the scheme's header carries it, for `signed` as the body."""
        if args.scheme == "github":
            return hmac.new(args.secret.encode(), signed, hashlib.sha256).hexdigest()
        if args.scheme == "stripe":
            return hmac.new(args.secret.encode(), f"{timestamp}.".encode() + signed, hashlib.sha256).hexdigest()
        if args.scheme == "slack":
            return hmac.new(args.secret.encode(), f"v0:{timestamp}:".encode() + signed, hashlib.sha256).hexdigest()
        if args.scheme == "standard-webhooks":
            signed_at = datetime.fromtimestamp(timestamp, tz=timezone.utc).replace(tzinfo=None)
            return Webhook(args.secret).sign(msg_id=args.id, timestamp=signed_at, data=signed.decode()).split(",", 1)[1]
        if args.scheme == "gitlab":
            return args.secret
        return base64.b64encode(hmac.new(args.secret.encode(), signed, hashlib.sha512).digest()).decode()

    if args.scheme == "github":
        headers["X-Hub-Signature-256"] = "sha256=" + signature(body)
        headers["X-GitHub-Delivery"] = args.id
    elif args.scheme == "stripe":
        headers["Stripe-Signature"] = f"t={timestamp},v1={signature(body)}"
    elif args.scheme == "slack":
        headers["X-Slack-Signature"] = "v0=" + signature(body)
        headers["X-Slack-Request-Timestamp"] = str(timestamp)
    elif args.scheme == "standard-webhooks":
        headers["webhook-id"] = args.id
        headers["webhook-timestamp"] = str(timestamp)
        headers["webhook-signature"] = "v1," + signature(body)
    elif args.scheme == "gitlab":
        headers["X-Gitlab-Token"] = signature(body)
        # GitLab keeps Idempotency-Key across a delivery's retries and resends, and gives each a new Event-UUID.
        headers["Idempotency-Key"] = args.id
        headers["X-Gitlab-Event-UUID"] = str(uuid.uuid4())
    elif args.scheme == "hmac-sha512-base64":
        headers["X-Signature"] = signature(body)
    for extra in args.header:
        name, value = extra.split(": ", 1)
        headers[name] = value
    if args.omit:
        headers = {k: v for k, v in headers.items() if k.lower() != args.omit.lower()}
    sent = body + b" " if args.tamper else body
    response = httpx.post(args.url, content=sent, headers=headers, timeout=10)
    # What a careless server might echo: the signature (for GitLab, the token) that the body actually sent needed.
    expected = signature(sent)
    print(json.dumps({"status": response.status_code, "body": response.text, "headers": dict(response.headers), "expected": expected}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
