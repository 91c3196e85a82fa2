"""A small client of the Nefele API, with the Python standard library only.

It speaks Connect's JSON over plain HTTP/1.1 (see docs/api.md): each call
is a POST of a JSON request to http://ADDR/nefele.v1.SERVICE/METHOD, and
the answer is the JSON response. Unary calls only: the streaming methods
(Logs, Events, the Watch and Observe calls, Exec) need Connect's
envelopes or HTTP/2, which this module does not do.

    import nefele
    res = nefele.call("KVService", "Put", {"key": "greeting", "value": nefele.b64("hi")})
    print(res["revision"])      # int64 fields arrive as strings: "42"

The address is NEFELE_ADDR, else 127.0.0.1:7070. When NEFELE_TOKEN is set
(Nefele sets it, and NEFELE_ADDR, in every process it runs), each call
carries it, and the agent takes the caller for that process: names, locks
and keys bound to the caller then live as long as the process does.
"""

import base64
import json
import os
import urllib.error
import urllib.request

DEFAULT_ADDR = "127.0.0.1:7070"

# The agent is reached directly, never through an http_proxy of the
# environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Error(Exception):
    """A failed call.

    code is the Connect code ("not_found", "failed_precondition", ...);
    reason the stable cause, such as "REASON_KEY_NOT_FOUND" (match on
    this, not on the message); subject the value the error is about, if
    any; status the HTTP status. Errors of the HTTP layer (an unknown
    method, an agent out of reach) have no reason: it is "".
    """

    def __init__(self, code, message, reason="", subject="", status=0):
        super().__init__(f"{message} ({reason or code})")
        self.code, self.message = code, message
        self.reason, self.subject, self.status = reason, subject, status


def call(service, method, body=None, addr=None, token=None, timeout=None):
    """Call METHOD of SERVICE with the request BODY (a dict, {} if None)
    and return the response as a dict. Fields left at their zero value
    (0, "", false, empty lists) are absent from it.

    addr and token default to NEFELE_ADDR and NEFELE_TOKEN; token="" sends
    none. timeout, in seconds, bounds the wait (None: no bound; Lock and
    Campaign wait for as long as it takes). Raises Error when the call fails.
    """
    addr = addr or os.environ.get("NEFELE_ADDR") or DEFAULT_ADDR
    if token is None:
        token = os.environ.get("NEFELE_TOKEN", "")
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(
        f"http://{addr}/nefele.v1.{service}/{method}",
        data=json.dumps(body or {}).encode(), headers=headers, method="POST")
    try:
        with _opener.open(req, timeout=timeout) as res:
            return json.load(res)
    except urllib.error.HTTPError as e:
        raise _error(e.code, e.read()) from None
    except urllib.error.URLError as e:
        raise Error("unavailable", f"cannot reach the agent at {addr}: {e.reason}") from None


def _error(status, raw):
    """Error of a failed call's HTTP status and body."""
    try:
        e = json.loads(raw)
        code, message = e["code"], e.get("message", "")
    except (ValueError, KeyError, TypeError):
        text = raw.decode(errors="replace").strip()
        return Error("unknown", f"HTTP {status}: {text}", status=status)
    # Every error of the agent carries one nefele.v1.ErrorDetail, also as
    # JSON in "debug".
    for d in e.get("details", []):
        if d.get("type") == "nefele.v1.ErrorDetail":
            debug = d.get("debug", {})
            return Error(code, message, debug.get("reason", ""), debug.get("subject", ""), status)
    return Error(code, message, status=status)


def b64(data):
    """The base64 text of data (bytes, or str as UTF-8), for bytes fields."""
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def unb64(text):
    """The bytes of a bytes field's base64 text ("" or None: b"")."""
    return base64.b64decode(text or "")
