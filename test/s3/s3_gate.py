#!/usr/bin/env python3
"""S3 test gate: an AWS Signature Version 4 checking reverse proxy for s3rver.

s3rver (npm) speaks enough of the S3 API for osv's object deletions but checks
only the access key id of a V4 signature. This gate sits in front of it and,
for every request, recomputes the signature with botocore (S3SigV4Auth on an
AWSRequest built from the request's method, path, query, signed headers and
body) the way MinIO does: the canonical URI is the request path decoded and
URI-encoded again (every byte except A-Z a-z 0-9 - . _ ~ and /), so a client
that signs a key it did not encode (say "a+b" sent as is) is refused, as MinIO
refuses it. Mismatches get S3's XML errors (403 SignatureDoesNotMatch with the
canonical request and string to sign, 403 InvalidAccessKeyId, 403
AccessDenied when unsigned, 400 AuthorizationHeaderMalformed for a wrong
region, ...); accepted requests are forwarded to s3rver without their
Authorization header, and its answer relayed.

Outside the S3 API, /__test/ (never signed, never logged, never faulted)
injects faults, simulates an outage, shows the request log and lists, seeds
and removes objects; see README.md next to this file.

Python 3 standard library plus botocore (Debian: python3-botocore).
"""

import argparse
import base64
import binascii
import hashlib
import hmac
import http.client
import json
import math
import os
import re
import signal
import threading
import time
import traceback
import uuid
from collections import deque
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, unquote_to_bytes, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

JSON_TYPE = "application/json"
XML_TYPE = "application/xml"
HANG_SECONDS = 60
REQUEST_LOG_LIMIT = 100_000
MAX_SKEW_SECONDS = 15 * 60
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
              "trailer", "upgrade", "expect", "content-length", "host"}
S3_NS = "{http://doc.s3.amazonaws.com/2006-03-01/}"


# --------------------------------------------------------------------------
# S3 errors
# --------------------------------------------------------------------------

class S3Error(Exception):
    """An error answered as S3 does: <Error><Code/><Message/>...</Error>."""

    def __init__(self, status, code, message, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def error_xml(code, message, resource="", request_id="", extra=None):
    parts = [f"<Code>{escape(code)}</Code>", f"<Message>{escape(message)}</Message>"]
    for name, value in (extra or {}).items():
        parts.append(f"<{name}>{escape(str(value))}</{name}>")
    if resource:
        parts.append(f"<Resource>{escape(resource)}</Resource>")
    parts.append(f"<RequestId>{request_id}</RequestId><HostId>osv-s3-test-gate</HostId>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts)
            + "</Error>").encode()


def malformed(detail):
    return S3Error(400, "AuthorizationHeaderMalformed",
                   f"The authorization header is malformed; {detail}")


FAULT_ERRORS = {
    400: ("BadRequest", "Injected fault"),
    403: ("AccessDenied", "Access Denied"),
    404: ("NoSuchKey", "The specified key does not exist."),
    408: ("RequestTimeout", "Your socket connection to the server was not read from or "
                            "written to within the timeout period."),
    409: ("OperationAborted", "A conflicting conditional operation is currently in progress "
                              "against this resource. Please try again."),
    429: ("SlowDown", "Please reduce your request rate."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    501: ("NotImplemented", "A header you provided implies functionality that is not implemented."),
    503: ("SlowDown", "Please reduce your request rate."),
}


# --------------------------------------------------------------------------
# Paths and signature V4
# --------------------------------------------------------------------------

def sigv4_encode(raw):
    """SigV4's URI encoding (bytes or str): all but A-Za-z0-9-._~ as %XX, keeping '/'."""
    return quote(raw, safe="/~")


def decode_path(raw_path):
    """The request path as bytes, %XX decoded ('+' stays '+')."""
    return unquote_to_bytes(raw_path.encode("latin-1"))


def canonical_query(query):
    """Each name and value decoded and SigV4-encoded again, sorted."""
    if not query:
        return ""
    pairs = []
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        pairs.append((quote(unquote_to_bytes(name), safe="~"),
                      quote(unquote_to_bytes(value), safe="~")))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def split_bucket_key(path_bytes):
    """(bucket, key) of a path-style request path (decoded bytes); key may be ''."""
    text = path_bytes.decode("utf-8", "replace")
    bucket, _, key = text.lstrip("/").partition("/")
    return bucket, key


class GateSigner(S3SigV4Auth):
    """botocore's S3 signer, told which headers the client signed."""

    def __init__(self, credentials, region, signed_headers):
        super().__init__(credentials, "s3", region)
        self.signed = signed_headers

    def headers_to_sign(self, request):
        header_map = HTTPHeaders()
        for name in self.signed:
            for value in request.headers.get_all(name) or []:
                header_map[name] = value
        return header_map


def parse_authorization(value):
    """{Credential, SignedHeaders, Signature} of an AWS4-HMAC-SHA256 header."""
    fields = {}
    for part in value[len("AWS4-HMAC-SHA256"):].split(","):
        name, sep, content = part.strip().partition("=")
        if not sep:
            raise malformed(f"the component \"{part.strip()}\" is not name=value.")
        fields[name] = content
    for name in ("Credential", "SignedHeaders", "Signature"):
        if name not in fields:
            raise malformed(f"missing component \"{name}\".")
    return fields


def parse_amz_date(text):
    try:
        return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def parse_http_date(text):
    from email.utils import parsedate_to_datetime
    try:
        value = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)


def verify_sigv4(config, method, raw_path, query, headers, body, now=None):
    """Check a request's SigV4 header authentication. Returns a dict describing
    it (access_key, signed_headers, ...) or raises S3Error."""
    if re.search(r"(^|&)(X-Amz-Algorithm|Signature|X-Amz-Signature)=", query or ""):
        raise S3Error(403, "AccessDenied", "Query-string authentication (presigned URLs) is not "
                      "supported by the S3 test gate")
    auth = headers.get("Authorization")
    if auth is None:
        raise S3Error(403, "AccessDenied", "Access Denied")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        raise S3Error(400, "InvalidRequest", "The authorization mechanism you have provided is "
                      "not supported. Please use AWS4-HMAC-SHA256.")
    fields = parse_authorization(auth)
    scope = fields["Credential"].split("/")
    if len(scope) != 5:
        raise malformed('the Credential is mal-formed; expecting '
                        '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".')
    access_key, scope_date, region, service, terminator = scope
    if not hmac.compare_digest(access_key.encode(), config.access_key.encode()):
        raise S3Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not "
                      "exist in our records.", AWSAccessKeyId=access_key)
    if region != config.region:
        raise malformed(f"the region '{region}' is wrong; expecting '{config.region}'")
    if service != "s3":
        raise malformed(f'incorrect service "{service}". This endpoint belongs to "s3".')
    if terminator != "aws4_request":
        raise malformed(f'incorrect terminal "{terminator}". This endpoint uses "aws4_request".')

    amz_date = headers.get("x-amz-date")
    if amz_date is not None:
        when = parse_amz_date(amz_date)
        timestamp = amz_date
    else:
        when = parse_http_date(headers.get("Date")) if headers.get("Date") else None
        timestamp = when.strftime("%Y%m%dT%H%M%SZ") if when else None
    if when is None:
        raise S3Error(403, "AccessDenied",
                      "AWS authentication requires a valid Date or x-amz-date header")
    if scope_date != timestamp[:8]:
        raise malformed("Invalid credential date. Date is not the same as X-Amz-Date.")
    now = now or datetime.now(timezone.utc)
    if abs((now - when).total_seconds()) > MAX_SKEW_SECONDS:
        raise S3Error(403, "RequestTimeTooSkewed", "The difference between the request time "
                      "and the current time is too large.",
                      RequestTime=timestamp, ServerTime=now.strftime("%Y%m%dT%H%M%SZ"),
                      MaxAllowedSkewMilliseconds=MAX_SKEW_SECONDS * 1000)

    signed = [h for h in fields["SignedHeaders"].split(";") if h]
    if signed != sorted(set(signed)) or any(h != h.lower() for h in signed):
        raise malformed("SignedHeaders must be lower case, sorted and unique.")
    if "host" not in signed:
        raise S3Error(403, "AccessDenied", "Host header is not signed",
                      SignedHeaders=fields["SignedHeaders"])
    present = {name.lower() for name in headers.keys()}
    unsigned = sorted(h for h in present if h.startswith("x-amz-") and h not in signed)
    if unsigned:
        raise S3Error(403, "AccessDenied", "There were headers present in the request which "
                      "were not signed", HeadersNotSigned=", ".join(unsigned))
    missing = [h for h in signed if h not in present]
    if missing:
        raise S3Error(403, "SignatureDoesNotMatch", "The request signature we calculated does "
                      "not match the signature you provided. Check your key and signing method.",
                      MissingSignedHeaders=";".join(missing))

    content_sha = headers.get("x-amz-content-sha256")
    if content_sha is None:
        if not config.lax_content_sha256:
            raise S3Error(400, "InvalidRequest",
                          "Missing required header for this request: x-amz-content-sha256")
        content_sha = EMPTY_SHA256  # MinIO's default when the header is absent
    elif content_sha.startswith("STREAMING-"):
        raise S3Error(501, "NotImplemented", "Streaming (aws-chunked) uploads are not "
                      "supported by the S3 test gate")
    elif content_sha != UNSIGNED_PAYLOAD:
        if not re.fullmatch(r"[0-9a-f]{64}", content_sha):
            raise S3Error(400, "InvalidArgument", "x-amz-content-sha256 must be "
                          "UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or a valid "
                          "sha256 value.", ArgumentName="x-amz-content-sha256",
                          ArgumentValue=content_sha)
    if re.fullmatch(r"[0-9a-f]{64}", content_sha) and \
            hashlib.sha256(body or b"").hexdigest() != content_sha:
        raise S3Error(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' "
                      "header does not match what was computed.",
                      ClientComputedContentSHA256=content_sha,
                      S3ComputedContentSHA256=hashlib.sha256(body or b"").hexdigest())

    # Rebuild the request for botocore: the canonical path and query, the
    # signed headers as received, the payload hash used for the signature.
    path = sigv4_encode(decode_path(raw_path))
    url = f"http://{headers.get('Host', '')}{path}"
    cquery = canonical_query(query)
    if cquery:
        url += "?" + cquery
    request = AWSRequest(method=method, url=url, data=body or b"")
    for name in signed:
        for value in headers.get_all(name) or []:
            request.headers[name] = value
    del request.headers["X-Amz-Content-SHA256"]
    request.headers["X-Amz-Content-SHA256"] = content_sha
    request.context["timestamp"] = timestamp
    signer = GateSigner(Credentials(config.access_key, config.secret_key), config.region, signed)
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    expected = signer.signature(string_to_sign, request)
    if not hmac.compare_digest(expected.encode(), fields["Signature"].encode()):
        raise S3Error(403, "SignatureDoesNotMatch", "The request signature we calculated does "
                      "not match the signature you provided. Check your key and signing method.",
                      AWSAccessKeyId=access_key, StringToSign=string_to_sign,
                      SignatureProvided=fields["Signature"], CanonicalRequest=canonical)
    return {"access_key": access_key, "signed_headers": fields["SignedHeaders"],
            "content_sha256": headers.get("x-amz-content-sha256")}


def is_delete_objects(method, query):
    """Whether this is DeleteObjects: POST /bucket?delete."""
    return method == "POST" and any(p.partition("=")[0] == "delete"
                                    for p in (query or "").split("&"))


def check_content_md5(method, query, headers, body):
    """Content-MD5, when sent, must be the MD5 of the body; DeleteObjects
    requires it (AWS S3 accepts an x-amz-checksum-* header instead, which
    the gate does not verify, so it insists on Content-MD5)."""
    value = headers.get("Content-MD5")
    if value is None:
        if is_delete_objects(method, query):
            raise S3Error(400, "InvalidRequest",
                          "Missing required header for this request: Content-MD5")
        return
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise S3Error(400, "InvalidDigest", "The Content-MD5 you specified was invalid.",
                      Content_MD5=value)
    if digest != hashlib.md5(body or b"").digest():
        raise S3Error(400, "BadDigest", "The Content-MD5 you specified did not match what we "
                      "received.", ExpectedDigest=value,
                      CalculatedDigest=base64.b64encode(hashlib.md5(body or b"").digest()).decode())


def local_name(tag):
    return tag.rpartition("}")[2]


def xml_text(value):
    """XML-escaped text; tab and line breaks as references, which parsers keep."""
    return escape(value, {'"': "&quot;", "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"})


def delete_objects_body(keys, quiet):
    objects = "".join(f"<Object><Key>{xml_text(k)}</Key></Object>" for k in keys)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Delete xmlns="http://s3.amazonaws.com/doc/'
            f'2006-03-01/"><Quiet>{quiet}</Quiet>{objects}</Delete>').encode()


def key_error_xml(errors):
    return "".join(f"<Error><Key>{xml_text(k)}</Key><Code>{xml_text(c)}</Code>"
                   f"<Message>{xml_text(m)}</Message></Error>" for k, c, m in errors).encode()


# --------------------------------------------------------------------------
# Fault injection
# --------------------------------------------------------------------------

class BadRequest(Exception):
    pass


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []

    @staticmethod
    def parse(spec):
        def invalid(why):
            return BadRequest(f"invalid fault rule {json.dumps(spec)}: {why}")

        if not isinstance(spec, dict):
            raise invalid("not an object")
        method = spec.get("method", "*")
        pattern = spec.get("path", "")
        count, skip = spec.get("count", 1), spec.get("skip", 0)
        action = spec.get("action")
        if not isinstance(method, str) or not isinstance(pattern, str):
            raise invalid("method and path must be strings")
        try:
            regex = re.compile(pattern)
        except re.error as err:
            raise invalid(f"bad path regex: {err}") from None
        if not isinstance(count, int) or isinstance(count, bool) or not (count == -1 or count >= 1):
            raise invalid("count must be -1 or a positive integer")
        if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
            raise invalid("skip must be a non-negative integer")
        kind = action.get("type") if isinstance(action, dict) else None
        if kind not in ("status", "delay", "drop", "garbage", "hang", "key_error"):
            raise invalid("action.type must be status, delay, drop, garbage, hang or key_error")
        if kind == "key_error":
            for name in ("code", "message"):
                if name in action and not isinstance(action[name], str):
                    raise invalid(f"action.{name} must be a string")
        if kind == "status":
            status = action.get("status")
            if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
                raise invalid("action.status must be an HTTP status code")
            if not is_number(action.get("retry_after", 0)) or action.get("retry_after", 0) < 0:
                raise invalid("action.retry_after must be a non-negative number")
            for name in ("code", "message", "body"):
                if name in action and not isinstance(action[name], str):
                    raise invalid(f"action.{name} must be a string")
        if kind == "delay" and (not is_number(action.get("ms")) or action["ms"] < 0):
            raise invalid("action.ms must be a non-negative number")
        return {"method": method.upper(), "path": pattern, "regex": regex,
                "remaining": count, "skip": skip, "action": action, "fired": 0}

    def add(self, specs):
        rules = [self.parse(s) for s in specs]
        with self.lock:
            self.rules.extend(rules)

    def take(self, method, path, key_errors=False):
        """The action of the first rule that fires for this request, if any;
        with key_errors, of the first key_error rule for a key of a
        DeleteObjects request (path /bucket/key), which the others ignore."""
        with self.lock:
            for rule in self.rules:
                if rule["method"] not in ("*", method) or not rule["regex"].search(path):
                    continue
                if (rule["action"]["type"] == "key_error") != key_errors:
                    continue
                if rule["skip"]:
                    rule["skip"] -= 1
                    continue
                rule["fired"] += 1
                if rule["remaining"] > 0:
                    rule["remaining"] -= 1
                    if rule["remaining"] == 0:
                        self.rules.remove(rule)
                return rule["action"]
        return None

    def listing(self):
        with self.lock:
            return [{k: v for k, v in rule.items() if k != "regex"} for rule in self.rules]

    def clear(self):
        with self.lock:
            self.rules.clear()


# --------------------------------------------------------------------------
# The gate
# --------------------------------------------------------------------------

class Gate:
    def __init__(self, args):
        self.access_key = args.access_key
        self.secret_key = args.secret_key
        self.region = args.region
        self.lax_content_sha256 = args.lax_content_sha256
        self.upstream = ("127.0.0.1", args.upstream_port)
        self.upstream_local = threading.local()
        self.log_file = open(args.log, "a", buffering=1, encoding="utf-8") if args.log else None
        self.log_lock = threading.Lock()
        self.faults = Faults()
        self.outage_until = 0.0
        self.stopped = threading.Event()
        self.meta_lock = threading.Lock()
        self.requests = deque(maxlen=REQUEST_LOG_LIMIT)
        self.stats = {}
        self.upstream_connections = 0

    def log(self, message):
        if self.log_file:
            with self.log_lock:
                self.log_file.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}\n")

    def record(self, entry):
        key = f"{entry['method']} /{entry['bucket']}" + ("/{key}" if entry["key"] else "")
        with self.meta_lock:
            self.requests.append(entry)
            self.stats[key] = self.stats.get(key, 0) + 1
        self.log("{method} {path}{q} -> {outcome}{err} ({ms:.1f} ms)".format(
            method=entry["method"], path=entry["path"], ms=entry["duration_ms"],
            q="?" + entry["query"] if entry["query"] else "",
            outcome=entry["status"] if entry["status"] is not None else entry["fault"],
            err=f" {entry['error']}" if entry["error"] else ""))

    def clear_log(self):
        with self.meta_lock:
            self.requests.clear()
            self.stats.clear()
            self.upstream_connections = 0

    def close(self):
        self.stopped.set()
        if self.log_file:
            self.log_file.close()

    def forward(self, method, path, query, headers, body, timeout=30):
        """(status, [(name, value)], body) of s3rver's answer; path already encoded.
        Each thread of the gate (one per client connection) keeps its upstream
        connection alive; a kept connection that s3rver closed meanwhile
        (ConnectionError before any answer) is replaced once."""
        target = path + ("?" + query if query else "")
        for attempt in (1, 2):
            conn = getattr(self.upstream_local, "conn", None)
            reused = conn is not None
            if conn is None:
                conn = http.client.HTTPConnection(*self.upstream, timeout=timeout)
                self.upstream_local.conn = conn
                with self.meta_lock:
                    self.upstream_connections += 1
            conn.timeout = timeout
            try:
                conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
                conn.putheader("Host", f"{self.upstream[0]}:{self.upstream[1]}")
                for name, value in headers:
                    if name.lower() not in HOP_BY_HOP and name.lower() != "authorization":
                        conn.putheader(name, value)
                conn.putheader("Content-Length", str(len(body or b"")))
                conn.endheaders(body or b"")
                response = conn.getresponse()
                data = response.read()
            except ConnectionError:
                conn.close()
                self.upstream_local.conn = None
                if reused and attempt == 1:
                    continue
                raise
            except BaseException:
                conn.close()
                self.upstream_local.conn = None
                raise
            if response.will_close:
                conn.close()
                self.upstream_local.conn = None
            kept = [(n, v) for n, v in response.getheaders()
                    if n.lower() not in HOP_BY_HOP and n.lower() not in ("date", "server")
                    or (method == "HEAD" and n.lower() == "content-length")]
            return response.status, kept, data

    # ---- /__test/ helpers ------------------------------------------------

    def list_objects(self, bucket, prefix=""):
        objects, token = [], None
        while True:
            query = "list-type=2&max-keys=1000&prefix=" + quote(prefix, safe="~")
            if token:
                query += "&continuation-token=" + quote(token, safe="~")
            status, _, data = self.forward("GET", "/" + sigv4_encode(bucket), query, [], b"")
            if status != 200:
                raise S3Error(status, "UpstreamError", data.decode("utf-8", "replace"))
            root = ElementTree.fromstring(data)
            for item in root.iter(S3_NS + "Contents"):
                objects.append({"key": item.findtext(S3_NS + "Key"),
                                "size": int(item.findtext(S3_NS + "Size") or 0),
                                "etag": (item.findtext(S3_NS + "ETag") or "").strip('"'),
                                "last_modified": item.findtext(S3_NS + "LastModified")})
            token = root.findtext(S3_NS + "NextContinuationToken")
            if root.findtext(S3_NS + "IsTruncated") != "true" or not token:
                return sorted(objects, key=lambda o: o["key"].encode())

    def list_buckets(self):
        status, _, data = self.forward("GET", "/", "", [], b"")
        if status != 200:
            raise S3Error(status, "UpstreamError", data.decode("utf-8", "replace"))
        root = ElementTree.fromstring(data)
        return sorted(b.findtext(S3_NS + "Name") for b in root.iter(S3_NS + "Bucket"))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, gate):
        super().__init__(address, Handler)
        self.gate = gate


def json_reply(result, status=200):
    return status, json.dumps({"result": result, "status": "ok"}, ensure_ascii=False).encode(), \
        JSON_TYPE, ()


def json_error(status, message):
    return status, json.dumps({"status": {"error": message}}).encode(), JSON_TYPE, ()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def version_string(self):
        return "osv-s3-test-gate"

    def log_request(self, code="-", size="-"):
        pass  # Gate.record logs every request

    def log_message(self, fmt, *args):
        self.server.gate.log(fmt % args)

    def do_GET(self):
        self.replied = False
        try:
            self.handle_request()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as err:  # a bug here: show it to the client and in the log
            self.server.gate.log(f"internal error:\n{traceback.format_exc()}")
            self.close_connection = True
            if not self.replied:
                self.send(500, error_xml("InternalError", f"S3 test gate: {err!r}"), XML_TYPE)

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length)

    def send(self, status, body=b"", content_type=None, headers=()):
        self.replied = True
        self.send_response(status)
        names = {n.lower() for n, _ in headers}
        if content_type and "content-type" not in names:
            self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        if "content-length" not in names:  # a HEAD answer keeps the object's length
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def handle_request(self):
        gate = self.server.gate
        started = time.monotonic()
        url = urlsplit(self.path)
        raw_path = url.path or "/"
        if raw_path == "/__test" or raw_path.startswith("/__test/"):
            try:
                body = self.read_body()
                reply = self.test_endpoint(gate, raw_path, url.query, body)
            except BadRequest as err:
                reply = json_error(400, str(err))
            except S3Error as err:
                reply = json_error(err.status if err.status >= 400 else 502, err.message)
            self.send(*reply)
            return
        request_id = uuid.uuid4().hex[:16].upper()
        bucket, key = split_bucket_key(decode_path(raw_path))
        entry = {"method": self.command, "path": raw_path, "query": url.query,
                 "bucket": bucket, "key": key, "status": None, "error": None,
                 "access_key": None, "signed_headers": None,
                 "headers": {n.lower(): v for n, v in self.headers.items()},
                 "body_size": 0, "time": time.time(), "duration_ms": 0.0, "fault": None}
        reply, fault = self.produce(gate, raw_path, url.query, entry, request_id)
        entry.update(status=reply[0] if reply else None, fault=fault,
                     duration_ms=(time.monotonic() - started) * 1000)
        gate.record(entry)  # before answering: a client never gets ahead of the log
        if reply:
            self.send(*reply)
            return
        if fault == "hang":
            gate.stopped.wait(HANG_SECONDS)
        self.close_connection = True  # outage, drop or hang: no answer at all

    def produce(self, gate, raw_path, query, entry, request_id):
        """(reply or None for no answer, name of the fault applied or None)."""
        if time.monotonic() < gate.outage_until:
            return None, "outage"
        try:
            body = self.read_body()
        except ValueError:
            self.close_connection = True
            return (400, error_xml("IncompleteBody", "The request body could not be read",
                                   request_id=request_id), XML_TYPE, ()), None
        entry["body_size"] = len(body)
        decoded = "/" + entry["bucket"] + ("/" + entry["key"] if entry["key"] else "")
        action = gate.faults.take(self.command, decoded)
        fault = action["type"] if action else None
        resource = decoded
        if fault in ("drop", "hang"):
            return None, fault
        if fault == "garbage":
            return (200, b"this is not XML <", XML_TYPE, ()), fault
        if fault == "status":
            status = action["status"]
            code, message = FAULT_ERRORS.get(status, ("InjectedFault", f"Injected fault (HTTP {status})"))
            code, message = action.get("code", code), action.get("message", message)
            entry["error"] = code
            headers = [("x-amz-request-id", request_id)]
            if action.get("retry_after") is not None:
                headers.append(("Retry-After", str(math.ceil(action["retry_after"]))))
            payload = action["body"].encode() if "body" in action else \
                b"" if status < 300 else error_xml(code, message, resource, request_id)
            return (status, payload, XML_TYPE, tuple(headers)), fault
        if fault == "delay":
            gate.stopped.wait(action["ms"] / 1000)
        try:
            info = verify_sigv4(gate, self.command, raw_path, query, self.headers, body)
            check_content_md5(self.command, query, self.headers, body)
        except S3Error as err:
            entry["error"] = err.code
            return (err.status, error_xml(err.code, err.message, resource, request_id, err.extra),
                    XML_TYPE, (("x-amz-request-id", request_id),)), fault
        entry["access_key"], entry["signed_headers"] = info["access_key"], info["signed_headers"]
        path = sigv4_encode(decode_path(raw_path))
        forward_headers, key_errors = list(self.headers.items()), []
        if is_delete_objects(self.command, query):
            body, key_errors, entry["delete_keys"] = self.take_key_errors(gate, entry["bucket"], body)
            if key_errors:
                entry["key_errors"] = [k for k, _, _ in key_errors]
                forward_headers = [(n, v) for n, v in forward_headers if n.lower() != "content-md5"]
                forward_headers.append(("Content-MD5",
                                        base64.b64encode(hashlib.md5(body or b"").digest()).decode()))
        try:
            if body is None:  # every key got an injected error: nothing to forward
                status, headers, data = 200, [("Content-Type", XML_TYPE)], \
                    b'<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns=' \
                    b'"http://s3.amazonaws.com/doc/2006-03-01/"></DeleteResult>'
            else:
                status, headers, data = gate.forward(self.command, path, query,
                                                     forward_headers, body)
        except OSError as err:
            entry["error"] = "UpstreamUnreachable"
            return (502, error_xml("InternalError", f"s3rver did not answer: {err}", resource,
                                   request_id), XML_TYPE, ()), fault
        headers.append(("x-amz-request-id", request_id))
        if key_errors and status == 200 and b"</DeleteResult>" in data:
            at = data.rindex(b"</DeleteResult>")
            data = data[:at] + key_error_xml(key_errors) + data[at:]
        if status >= 300 and data.startswith(b"<?xml"):
            match = re.search(rb"<Code>([^<]*)</Code>", data)
            entry["error"] = match.group(1).decode() if match else None
        return (status, data, None, tuple(headers)), fault

    @staticmethod
    def take_key_errors(gate, bucket, body):
        """(body to forward or None when no key is left, [(key, code, message)], [key]):
        the keys of a DeleteObjects body that a key_error rule (path matched
        against /bucket/key) fires for are taken out and answered with that
        error; s3rver never sees them, so their objects stay."""
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError:
            return body, [], None  # s3rver answers MalformedXML
        keys, quiet = [], "false"
        for element in root:
            if local_name(element.tag) == "Quiet":
                quiet = (element.text or "false").strip()
            elif local_name(element.tag) == "Object":
                for child in element:
                    if local_name(child.tag) == "Key":
                        keys.append(child.text or "")
        errors, kept = [], []
        for key in keys:
            action = gate.faults.take("POST", f"/{bucket}/{key}", key_errors=True)
            if action is None:
                kept.append(key)
            else:
                errors.append((key, action.get("code", "AccessDenied"),
                               action.get("message", "Access Denied")))
        if not errors:
            return body, [], keys
        return (delete_objects_body(kept, quiet) if kept else None), errors, keys

    # ---- /__test/ --------------------------------------------------------

    def test_endpoint(self, gate, raw_path, query, body):
        method = self.command
        parts = raw_path.split("/")[2:]  # after "", "__test"
        route = parts[0] if parts else ""
        params = dict(p.partition("=")[::2] for p in query.split("&") if p) if query else {}
        params = {unquote(k): unquote(v) for k, v in params.items()}

        def parse_json():
            try:
                return json.loads(body or b"null")
            except ValueError as err:
                raise BadRequest(f"bad JSON: {err}") from None

        if route == "faults" and len(parts) == 1:
            if method == "GET":
                return json_reply({"faults": gate.faults.listing()})
            if method == "POST":
                spec = parse_json()
                if not isinstance(spec, dict) or not isinstance(spec.get("faults"), list):
                    raise BadRequest('expected {"faults": [rule, ...]}')
                gate.faults.add(spec["faults"])
                return json_reply({"faults": gate.faults.listing()})
            if method == "DELETE":
                gate.faults.clear()
                return json_reply(True)
        if route == "outage" and len(parts) == 1:
            if method == "POST":
                spec = parse_json()
                seconds = spec.get("seconds") if isinstance(spec, dict) else None
                if not is_number(seconds) or seconds < 0:
                    raise BadRequest("seconds must be a non-negative number")
                gate.outage_until = time.monotonic() + seconds
                return json_reply(True)
            if method == "DELETE":
                gate.outage_until = 0.0
                return json_reply(True)
        if route == "requests" and len(parts) == 1:
            if method == "GET":
                with gate.meta_lock:
                    return json_reply(list(gate.requests))
            if method == "DELETE":
                gate.clear_log()
                return json_reply(True)
        if route == "stats" and len(parts) == 1 and method == "GET":
            with gate.meta_lock:
                return json_reply(dict(gate.stats))
        if route == "upstream" and len(parts) == 1 and method == "GET":
            with gate.meta_lock:
                return json_reply({"connections": gate.upstream_connections})
        if route == "reset" and len(parts) == 1 and method == "POST":
            gate.faults.clear()
            gate.outage_until = 0.0
            gate.clear_log()
            return json_reply(True)
        if route == "buckets" and len(parts) == 1 and method == "GET":
            return json_reply(gate.list_buckets())
        if route == "buckets" and len(parts) == 2 and parts[1] and method in ("PUT", "DELETE"):
            status, _, data = gate.forward(method, "/" + parts[1], "", [], b"")
            if status >= 300:
                return json_error(status, data.decode("utf-8", "replace"))
            return json_reply(True)
        if route == "objects" and len(parts) >= 2 and parts[1]:
            bucket = unquote(parts[1])
            key_raw = "/".join(parts[2:])
            key = decode_path(key_raw).decode("utf-8", "replace") if len(parts) > 2 else None
            target = "/" + sigv4_encode(bucket.encode()) + \
                ("/" + sigv4_encode(decode_path(key_raw)) if key is not None else "")
            if key is None and method == "GET":
                return json_reply({"objects": gate.list_objects(bucket, params.get("prefix", ""))})
            if key is None and method == "DELETE":
                objects = gate.list_objects(bucket)
                for obj in objects:
                    gate.forward("DELETE", "/" + sigv4_encode(bucket.encode()) + "/"
                                 + sigv4_encode(obj["key"].encode()), "", [], b"")
                return json_reply({"deleted": len(objects)})
            if key is not None and method in ("GET", "PUT", "DELETE"):
                headers = [("Content-Type", self.headers.get("Content-Type",
                                                             "application/octet-stream"))] \
                    if method == "PUT" else []
                status, headers, data = gate.forward(method, target, "", headers,
                                                     body if method == "PUT" else b"")
                if status >= 300:
                    return status, data, XML_TYPE, ()
                if method == "GET":
                    return 200, data, None, tuple(h for h in headers
                                                  if h[0].lower() in ("content-type", "etag"))
                return json_reply(True)
        return json_error(404, f"no such test endpoint: {method} {raw_path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description="SigV4-checking S3 gate in front of s3rver")
    parser.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1"],
                        help="address to bind (loopback only)")
    parser.add_argument("--port", type=int, default=9000, help="port; 0 picks a free one")
    parser.add_argument("--port-file", help="write the chosen port here once listening")
    parser.add_argument("--upstream-port", type=int, required=True,
                        help="port of s3rver on 127.0.0.1")
    parser.add_argument("--access-key", default="osvtestkey", help="the one valid access key id")
    parser.add_argument("--secret-key", default="osvtestsecret", help="its secret access key")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--lax-content-sha256", action="store_true",
                        help="accept a missing x-amz-content-sha256 (MinIO: hash of an empty "
                             "payload) instead of refusing it as AWS S3 does")
    parser.add_argument("--log", help="append a line per request (and events) to this file")
    args = parser.parse_args(argv)

    gate = Gate(args)
    server = Server((args.host, args.port), gate)
    port = server.server_address[1]
    if args.port_file:
        temporary = f"{args.port_file}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="ascii") as out:
            out.write(f"{port}\n")
        os.replace(temporary, args.port_file)
    gate.log(f"listening on {args.host}:{port}, s3rver on port {args.upstream_port}, "
             f"region {args.region}")

    def stop(signum, frame):
        gate.stopped.set()  # wakes hanging and delayed requests
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        gate.log("stopped")
        gate.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
