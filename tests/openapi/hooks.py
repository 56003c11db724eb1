"""Schemathesis hooks for tests/openapi.rs: sign the SMSC's callbacks.

Each call of a callback gets a real signature over the exact bytes requests
will send (json.dumps with its defaults), with the SMSC's secret from
BAWABA_SMSC_SECRET.
"""

import hashlib
import hmac
import json
import os
import time

import schemathesis
from schemathesis.core.parameters import ParameterLocation

SECRET = os.environ["BAWABA_SMSC_SECRET"].encode()


def body_bytes(body):
    """The bytes requests sends for a JSON body (none for no body)."""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    try:
        return json.dumps(body, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError):
        return b""


def signature(raw):
    t = str(int(time.time()))
    mac = hmac.new(SECRET, t.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


CALLBACKS = {"/v1/sms/delivery-reports", "/v1/sms/inbound"}
WINDOWED = {"/v1/audit/stats", "/v1/audit/signals"}


@schemathesis.hook
def before_call(context, case, kwargs):
    # The inspectors' reads refuse windows longer than 92 days (bounded
    # work), which a schema cannot say: a valid case keeps the default window.
    if case.operation.path in WINDOWED and not (
        case.meta is not None and case.meta.is_negative_at(ParameterLocation.QUERY)
    ):
        case.query = {k: v for k, v in (case.query or {}).items() if k != "from"}
    # Checks that probe authentication send their probes without this hook,
    # unsigned, so the gateway must answer them 401.
    if case.operation.path not in CALLBACKS:
        return
    # A case made to leave the header out (or wrong) stays so: the gateway must refuse it.
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
        return
    headers = dict(case.headers or {})
    headers["Bawaba-Signature"] = signature(body_bytes(case.body))
    case.headers = headers
