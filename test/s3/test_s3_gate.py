#!/usr/bin/env python3
"""Self-test of the S3 test gate (s3_gate.py in front of s3rver).

Starts s3rver and the gate with test/s3/start (stopped with test/s3/stop) and
checks that requests signed by independent signers - botocore's S3SigV4Auth
and curl's --aws-sigv4 (libcurl, as osv uses it) - are accepted for PUT, GET,
HEAD and DELETE of keys with spaces, unicode, '+', '=', '/' and more; that a
wrong secret, an unknown key, no signature, a tampered path, body or signed
header, a wrong region, an unsigned x-amz-* header and a skewed clock are
refused with S3's errors; that DeleteObject answers 204 and the object is
gone; and the /__test/ endpoints: faults, outage, request log, objects.

Run: python3 test/s3/test_s3_gate.py
"""

import base64
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from datetime import datetime, timedelta, timezone
from urllib.parse import quote
from xml.etree import ElementTree

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import s3_gate  # noqa: E402  (verify_sigv4 is tested directly too)

KEY, SECRET, REGION = "osvtestkey", "osvtestsecret", "us-east-1"
BUCKET = "osv-documents"
KEYS = [
    "plain.txt",
    "with space.pdf",
    "unicode/é✓ 日本語.txt",
    "a+b=c",
    "dir/sub/deeper/file.bin",
    "~tilde-_.x",
    "100% & (1)!*'@$,;:?#[]",
    "users/42/documents/7/Résumé final (v2)+=.docx",
]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def key_path(bucket, key):
    """A path-style path with the key URI-encoded as SigV4 requires."""
    return "/" + bucket + "/" + quote(key.encode(), safe="/~")


class Fixture:
    """s3rver and the gate, started by test/s3/start in a temporary directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="osv-s3-test.")
        out = subprocess.run([os.path.join(HERE, "start"), self.dir, "--access-key", KEY,
                              "--secret-key", SECRET, "--region", REGION],
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"test/s3/start failed: {out.stderr}")
        self.port = int(out.stdout.split()[-1])
        with open(os.path.join(self.dir, "s3rver.port"), encoding="ascii") as f:
            self.s3rver_port = int(f.read())

    def stop(self):
        subprocess.run([os.path.join(HERE, "stop"), self.dir], timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def raw(port, method, path, body=b"", headers=None, timeout=10):
    """(status, headers dict (lower-case names), body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        headers = dict(headers or {})
        headers.setdefault("Host", f"127.0.0.1:{port}")
        for name, value in headers.items():
            conn.putheader(name, value)
        if body or method in ("PUT", "POST"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


class UnsignedPayloadConfig:
    """A botocore client config that turns payload signing off."""
    s3 = {"payload_signing_enabled": False}


def botocore_headers(port, method, path, body=b"", key=KEY, secret=SECRET, region=REGION,
                     extra=None, unsigned_payload=False):
    """Headers botocore's S3SigV4Auth signs for this request."""
    request = AWSRequest(method=method, url=f"http://127.0.0.1:{port}{path}", data=body,
                         headers=dict(extra or {}))
    if unsigned_payload:
        request.context["client_config"] = UnsignedPayloadConfig()
    S3SigV4Auth(Credentials(key, secret), "s3", region).add_auth(request)
    return dict(request.headers.items())


def signed(port, method, path, body=b"", **kwargs):
    """A request signed by botocore, sent as signed."""
    return raw(port, method, path, body, botocore_headers(port, method, path, body, **kwargs))


def curl(port, method, path, body=None, user=f"{KEY}:{SECRET}", region=REGION,
         content_sha=True, extra=()):
    """(status, body) of curl --aws-sigv4 (libcurl signs, as in osv)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        cmd = ["curl", "-s", "-g", "-o", out, "-w", "%{http_code}", "-X", method,
               "--aws-sigv4", f"aws:amz:{region}:s3", "--user", user]
        if body is not None:
            src = os.path.join(tmp, "body")
            with open(src, "wb") as f:
                f.write(body)
            cmd += ["--data-binary", "@" + src]
        if content_sha:
            cmd += ["-H", f"x-amz-content-sha256: {sha256(body or b'')}"]
        cmd += list(extra) + [f"http://127.0.0.1:{port}{path}"]
        status = subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout
        if not os.path.exists(out):  # no answer
            return int(status), b""
        with open(out, "rb") as f:
            return int(status), f.read()


def start_gate(test, *args):
    """s3_gate.py in a subprocess: (process, port)."""
    tmp = tempfile.mkdtemp(prefix="osv-s3-gate.")
    test.addCleanup(shutil.rmtree, tmp, True)
    port_file = os.path.join(tmp, "port")
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "s3_gate.py"), "--port", "0",
                             "--port-file", port_file, *args])
    test.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
    deadline = time.monotonic() + 10
    while not os.path.exists(port_file):
        test.assertIsNone(proc.poll(), "gate exited")
        test.assertLess(time.monotonic(), deadline, "gate did not start")
        time.sleep(0.02)
    with open(port_file, encoding="ascii") as f:
        return proc, int(f.read())


def md5_b64(data):
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def delete_body(keys, quiet="false"):
    return s3_gate.delete_objects_body(keys, quiet)


def delete_result(body):
    """({deleted keys}, {error key: code}) of a DeleteResult."""
    root = ElementTree.fromstring(body)
    self_ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
    assert root.tag in ("DeleteResult", self_ns + "DeleteResult"), body
    deleted, errors = set(), {}
    for element in root:
        name = s3_gate.local_name(element.tag)
        key = next((c.text or "" for c in element if s3_gate.local_name(c.tag) == "Key"), None)
        if name == "Deleted":
            deleted.add(key)
        elif name == "Error":
            errors[key] = next(c.text for c in element if s3_gate.local_name(c.tag) == "Code")
    return deleted, errors


def error_code(body):
    match = re.search(rb"<Code>([^<]*)</Code>", body)
    return match.group(1).decode() if match else None


class GateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fx = Fixture()
        cls.port = cls.fx.port

    @classmethod
    def tearDownClass(cls):
        cls.fx.stop()

    def setUp(self):
        self.api("DELETE", f"/__test/objects/{BUCKET}")
        self.api("POST", "/__test/reset")

    def api(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        status, _, reply = raw(self.port, method, path, data,
                               {"Content-Type": "application/json"} if body is not None else {})
        self.assertEqual(status, 200, reply)
        return json.loads(reply)["result"]

    def objects(self, bucket=BUCKET):
        return [o["key"] for o in self.api("GET", f"/__test/objects/{bucket}")["objects"]]

    # ---- accepted requests ---------------------------------------------

    def test_botocore_put_get_head_delete(self):
        for key in KEYS:
            with self.subTest(key=key):
                path = key_path(BUCKET, key)
                body = f"content of {key}".encode()
                status, headers, reply = signed(self.port, "PUT", path, body)
                self.assertEqual(status, 200, reply)
                self.assertEqual(headers["etag"], '"%s"' % hashlib.md5(body).hexdigest())
                self.assertIn(key, self.objects())
                status, _, reply = signed(self.port, "GET", path)
                self.assertEqual((status, reply), (200, body))
                status, headers, reply = signed(self.port, "HEAD", path)
                self.assertEqual((status, headers["content-length"], reply),
                                 (200, str(len(body)), b""))
                status, _, reply = signed(self.port, "DELETE", path)
                self.assertEqual((status, reply), (204, b""))
                status, _, reply = signed(self.port, "GET", path)
                self.assertEqual((status, error_code(reply)), (404, "NoSuchKey"))
                self.assertNotIn(key, self.objects())

    def test_curl_put_get_delete(self):
        for key in KEYS:
            with self.subTest(key=key):
                path = key_path(BUCKET, key)
                body = f"curl {key}".encode()
                self.assertEqual(curl(self.port, "PUT", path, body), (200, b""))
                self.assertIn(key, self.objects())
                self.assertEqual(curl(self.port, "GET", path), (200, body))
                self.assertEqual(curl(self.port, "DELETE", path), (204, b""))
                status, reply = curl(self.port, "GET", path)
                self.assertEqual((status, error_code(reply)), (404, "NoSuchKey"))
                self.assertNotIn(key, self.objects())

    def test_unsigned_payload(self):
        path = key_path(BUCKET, "unsigned payload")
        status, _, reply = signed(self.port, "PUT", path, b"abc", unsigned_payload=True)
        self.assertEqual(status, 200, reply)
        log = self.api("GET", "/__test/requests")
        self.assertEqual(log[-1]["headers"]["x-amz-content-sha256"], "UNSIGNED-PAYLOAD")
        status, _ = curl(self.port, "PUT", path, b"def", content_sha=False,
                         extra=["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"])
        self.assertEqual(status, 200)
        self.assertEqual(curl(self.port, "GET", path), (200, b"def"))

    def test_delete_object_answers(self):
        # DeleteObject of a missing key is a success (204), as in S3
        self.assertEqual(curl(self.port, "DELETE", key_path(BUCKET, "never there")), (204, b""))
        status, reply = curl(self.port, "DELETE", key_path("no-such-bucket", "k"))
        self.assertEqual((status, error_code(reply)), (404, "NoSuchBucket"))
        # the ledger bucket exists too
        self.assertEqual(curl(self.port, "PUT", key_path("osv-ledger", "r/1"), b"x")[0], 200)
        self.assertEqual(self.objects("osv-ledger"), ["r/1"])
        self.assertEqual(curl(self.port, "DELETE", key_path("osv-ledger", "r/1"))[0], 204)

    def test_keep_alive(self):
        # requests on one client connection go over one upstream connection
        self.api("DELETE", "/__test/requests")  # the count of upstream connections too
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            for key in ("ka1", "ka2", "ka3"):
                path = key_path(BUCKET, key)
                conn.request("PUT", path, b"v", botocore_headers(self.port, "PUT", path, b"v"))
                response = conn.getresponse()
                response.read()
                self.assertEqual(response.status, 200)
        finally:
            conn.close()
        self.assertEqual(self.api("GET", "/__test/upstream"), {"connections": 1})
        self.assertTrue({"ka1", "ka2", "ka3"} <= set(self.objects()))

    def delete_objects(self, keys, via="curl", body=None, md5=True, port=None):
        """(status, body) of DeleteObjects (POST /bucket?delete) signed by curl or botocore."""
        body = delete_body(keys) if body is None else body
        headers = {"Content-Type": "application/xml"}
        if md5:
            headers["Content-MD5"] = md5_b64(body)
        port = port or self.port
        if via == "curl":
            extra = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
            return curl(port, "POST", f"/{BUCKET}?delete=", body, extra=extra)
        status, _, reply = raw(port, "POST", f"/{BUCKET}?delete",
                               body, botocore_headers(port, "POST", f"/{BUCKET}?delete", body,
                                                      extra=headers))
        return status, reply

    def test_delete_objects(self):
        # keys needing XML escaping, unicode, a tab, white space around, digits
        # (s3rver_run.js keeps them as sent); one key never there
        keys = KEYS + ["<angle> & \"quotes\" 'too'", "tab\there", " padded ", "007", "1e3"]
        for via in ("curl", "botocore"):
            with self.subTest(via=via):
                for key in keys:
                    self.api("PUT", f"/__test/objects/{BUCKET}/" + quote(key.encode(), safe="/"), "x")
                self.api("PUT", f"/__test/objects/{BUCKET}/keep", "x")
                self.assertEqual(len(self.objects()), len(keys) + 1)
                status, reply = self.delete_objects(keys + ["never there"], via=via)
                self.assertEqual(status, 200, reply)
                self.assertEqual(delete_result(reply), (set(keys + ["never there"]), {}))
                self.assertEqual(self.objects(), ["keep"])
                log = self.api("GET", "/__test/requests")[-1]
                self.assertEqual((log["method"], log["query"], log["error"], log["delete_keys"]),
                                 ("POST", "delete=" if via == "curl" else "delete", None,
                                  keys + ["never there"]))
                self.api("DELETE", f"/__test/objects/{BUCKET}")

    def test_delete_objects_body_checked(self):
        self.api("PUT", f"/__test/objects/{BUCKET}/a", "x")
        good = delete_body(["a"])
        # the body does not match the signed x-amz-content-sha256
        headers = botocore_headers(self.port, "POST", f"/{BUCKET}?delete", good,
                                   extra={"Content-MD5": md5_b64(good)})
        evil = delete_body(["b"])
        self.assert_refused(raw(self.port, "POST", f"/{BUCKET}?delete", evil,
                                dict(headers, **{"Content-MD5": md5_b64(evil)})),
                            400, "XAmzContentSHA256Mismatch")
        # curl signs its x-amz-content-sha256 header: a wrong one is refused too
        status, reply = curl(self.port, "POST", f"/{BUCKET}?delete=", evil, content_sha=False,
                             extra=["-H", f"x-amz-content-sha256: {sha256(good)}",
                                    "-H", f"Content-MD5: {md5_b64(evil)}"])
        self.assertEqual((status, error_code(reply)), (400, "XAmzContentSHA256Mismatch"))
        # Content-MD5: required, valid, matching
        self.assert_refused(self.delete_objects(["a"], md5=False), 400, "InvalidRequest")
        status, reply = curl(self.port, "POST", f"/{BUCKET}?delete=", good,
                             extra=["-H", f"Content-MD5: {md5_b64(evil)}"])
        self.assertEqual((status, error_code(reply)), (400, "BadDigest"))
        status, reply = curl(self.port, "POST", f"/{BUCKET}?delete=", good,
                             extra=["-H", "Content-MD5: not base64!"])
        self.assertEqual((status, error_code(reply)), (400, "InvalidDigest"))
        self.assertEqual(self.objects(), ["a"])
        self.assertEqual(self.delete_objects(["a"])[0], 200)
        self.assertEqual(self.objects(), [])

    def test_fault_key_error(self):
        for key in ("k1", "k 2", "k&3"):
            self.api("PUT", f"/__test/objects/{BUCKET}/" + quote(key), "x")
        self.api("POST", "/__test/faults", {"faults": [
            {"path": "^/osv-documents/k 2$", "action": {"type": "key_error"}},
            {"path": "^/osv-documents/k&3$", "count": -1,
             "action": {"type": "key_error", "code": "InternalError", "message": "We & you"}}]})
        # a DeleteObject of the key is no DeleteObjects key: the rule does not fire
        status, reply = self.delete_objects(["k1", "k 2", "k&3"])
        self.assertEqual(status, 200, reply)
        self.assertEqual(delete_result(reply), ({"k1"}, {"k 2": "AccessDenied", "k&3": "InternalError"}))
        self.assertIn(b"<Message>We &amp; you</Message>", reply)
        self.assertEqual(self.objects(), ["k 2", "k&3"])  # kept: s3rver never saw them
        self.assertEqual(self.api("GET", "/__test/requests")[-1]["key_errors"], ["k 2", "k&3"])
        # every key faulted: nothing goes to s3rver, the answer has the errors
        status, reply = self.delete_objects(["k&3"])
        self.assertEqual((status, delete_result(reply)), (200, (set(), {"k&3": "InternalError"})))
        self.assertEqual(self.objects(), ["k 2", "k&3"])
        self.api("DELETE", "/__test/faults")
        self.assertEqual(delete_result(self.delete_objects(["k 2", "k&3"])[1]), ({"k 2", "k&3"}, {}))
        self.assertEqual(self.objects(), [])
        # a key_error rule never fires for other requests
        self.api("POST", "/__test/faults", {"faults": [{"action": {"type": "key_error"}}]})
        self.assertEqual(curl(self.port, "DELETE", key_path(BUCKET, "k1"))[0], 204)
        status, _, body = raw(self.port, "POST", "/__test/faults", json.dumps(
            {"faults": [{"action": {"type": "key_error", "code": 7}}]}).encode())
        self.assertEqual(status, 400, body)

    # ---- refused requests ----------------------------------------------

    def assert_refused(self, result, status, code):
        got_status, got_body = (result[0], result[-1])
        self.assertEqual((got_status, error_code(got_body)), (status, code), got_body)

    def test_wrong_secret(self):
        path = key_path(BUCKET, "secret test")
        self.assert_refused(signed(self.port, "PUT", path, b"x", secret="wrong"),
                            403, "SignatureDoesNotMatch")
        self.assert_refused(curl(self.port, "PUT", path, b"x", user=f"{KEY}:wrong"),
                            403, "SignatureDoesNotMatch")
        self.assert_refused(curl(self.port, "DELETE", path, user=f"{KEY}:wrong"),
                            403, "SignatureDoesNotMatch")
        self.assertNotIn("secret test", self.objects())

    def test_unknown_key_and_no_auth(self):
        path = key_path(BUCKET, "k")
        self.assert_refused(signed(self.port, "PUT", path, b"x", key="nobody"),
                            403, "InvalidAccessKeyId")
        self.assert_refused(curl(self.port, "DELETE", path, user="nobody:x"),
                            403, "InvalidAccessKeyId")
        self.assert_refused(raw(self.port, "DELETE", path), 403, "AccessDenied")
        self.assert_refused(raw(self.port, "GET", path, headers={"Authorization": "AWS a:b"}),
                            400, "InvalidRequest")
        self.assert_refused(raw(self.port, "GET", path + "?X-Amz-Algorithm=AWS4-HMAC-SHA256"),
                            403, "AccessDenied")

    def test_wrong_region(self):
        path = key_path(BUCKET, "k")
        status, _, body = signed(self.port, "PUT", path, b"x", region="us-west-2")
        self.assertEqual((status, error_code(body)), (400, "AuthorizationHeaderMalformed"))
        self.assertIn(b"the region 'us-west-2' is wrong; expecting 'us-east-1'", body)
        self.assert_refused(curl(self.port, "DELETE", path, region="eu-west-1"),
                            400, "AuthorizationHeaderMalformed")

    def test_tampered_path(self):
        signed_path = key_path(BUCKET, "a b")
        headers = botocore_headers(self.port, "PUT", signed_path, b"x")
        self.assert_refused(raw(self.port, "PUT", key_path(BUCKET, "a c"), b"x", headers),
                            403, "SignatureDoesNotMatch")
        # a key not URI-encoded as SigV4 requires ('+' and '=' left as they are)
        # is signed by curl as sent; the gate, like MinIO, encodes the decoded path
        status, body = curl(self.port, "PUT", "/" + BUCKET + "/a+b=c", b"x")
        self.assertEqual((status, error_code(body)), (403, "SignatureDoesNotMatch"))
        self.assertIn(b"/osv-documents/a%2Bb%3Dc\n", body)  # the canonical request
        self.assertEqual(self.objects(), [])

    def test_tampered_body_and_headers(self):
        path = key_path(BUCKET, "body")
        headers = botocore_headers(self.port, "PUT", path, b"good")
        self.assert_refused(raw(self.port, "PUT", path, b"evil", headers),
                            400, "XAmzContentSHA256Mismatch")
        forged = dict(headers, **{"X-Amz-Content-SHA256": sha256(b"evil")})
        self.assert_refused(raw(self.port, "PUT", path, b"evil", forged),
                            403, "SignatureDoesNotMatch")
        later = (datetime.now(timezone.utc) + timedelta(seconds=5)).strftime("%Y%m%dT%H%M%SZ")
        self.assert_refused(raw(self.port, "PUT", path, b"good", dict(headers, **{"X-Amz-Date": later})),
                            403, "SignatureDoesNotMatch")
        self.assert_refused(raw(self.port, "PUT", path, b"good",
                                dict(headers, **{"x-amz-meta-owner": "mallory"})),
                            403, "AccessDenied")
        self.assert_refused(raw(self.port, "PUT", path + "?acl", b"good", headers),
                            403, "SignatureDoesNotMatch")
        self.assertEqual(self.objects(), [])
        # a signed x-amz-meta header is fine
        status, _, _ = signed(self.port, "PUT", path, b"good", extra={"x-amz-meta-owner": "ada"})
        self.assertEqual(status, 200)

    def test_content_sha256_required(self):
        # AWS S3 requires x-amz-content-sha256; curl 7.88 adds it only when told to
        status, body = curl(self.port, "DELETE", key_path(BUCKET, "k"), content_sha=False)
        self.assertEqual((status, error_code(body)), (400, "InvalidRequest"))
        self.assertIn(b"x-amz-content-sha256", body)

    # ---- /__test/ ------------------------------------------------------

    def test_request_log_and_stats(self):
        path = key_path(BUCKET, "log me+")
        curl(self.port, "PUT", path, b"12345")
        curl(self.port, "DELETE", path, user=f"{KEY}:wrong")
        curl(self.port, "DELETE", path)
        log = self.api("GET", "/__test/requests")
        self.assertEqual([(e["method"], e["key"], e["status"], e["error"]) for e in log],
                         [("PUT", "log me+", 200, None),
                          ("DELETE", "log me+", 403, "SignatureDoesNotMatch"),
                          ("DELETE", "log me+", 204, None)])
        self.assertEqual(log[0]["path"], "/osv-documents/log%20me%2B")
        self.assertEqual((log[0]["bucket"], log[0]["body_size"], log[0]["access_key"]),
                         (BUCKET, 5, KEY))
        self.assertEqual(log[0]["signed_headers"], "host;x-amz-content-sha256;x-amz-date")
        self.assertEqual(log[0]["headers"]["x-amz-content-sha256"], sha256(b"12345"))
        self.assertEqual(self.api("GET", "/__test/stats"),
                         {"PUT /osv-documents/{key}": 1, "DELETE /osv-documents/{key}": 2})
        self.api("DELETE", "/__test/requests")
        self.assertEqual(self.api("GET", "/__test/requests"), [])

    def test_objects_endpoints(self):
        status, _, _ = raw(self.port, "PUT", "/__test/objects/osv-documents/seed%2Fa%20b%2B",
                           b"seeded")
        self.assertEqual(status, 200)
        self.assertEqual(curl(self.port, "GET", key_path(BUCKET, "seed/a b+")), (200, b"seeded"))
        listing = self.api("GET", "/__test/objects/osv-documents?prefix=seed")["objects"]
        self.assertEqual([(o["key"], o["size"]) for o in listing], [("seed/a b+", 6)])
        status, _, body = raw(self.port, "GET", "/__test/objects/osv-documents/seed/a%20b%2B")
        self.assertEqual((status, body), (200, b"seeded"))
        self.assertIn("osv-documents", self.api("GET", "/__test/buckets"))
        self.api("PUT", "/__test/objects/osv-documents/other")
        self.assertEqual(self.api("DELETE", "/__test/objects/osv-documents"), {"deleted": 2})
        self.assertEqual(self.objects(), [])
        self.assertEqual(raw(self.port, "GET", "/__test/nothing")[0], 404)
        # /__test/ requests are never logged
        self.assertEqual([e["path"] for e in self.api("GET", "/__test/requests")],
                         ["/osv-documents/seed/a%20b%2B"])

    def test_fault_status_retry_after_count_skip(self):
        path = key_path(BUCKET, "f 1")
        rules = self.api("POST", "/__test/faults", {"faults": [
            {"method": "DELETE", "path": "^/osv-documents/f 1$", "count": 2, "skip": 1,
             "action": {"type": "status", "status": 503, "retry_after": 1.5}}]})["faults"]
        self.assertEqual(rules[0]["remaining"], 2)
        self.assertEqual(curl(self.port, "DELETE", path)[0], 204)  # skipped
        status, headers, body = signed(self.port, "DELETE", path)
        self.assertEqual((status, headers["retry-after"], error_code(body)), (503, "2", "SlowDown"))
        self.assertEqual(curl(self.port, "DELETE", path)[0], 503)
        self.assertEqual(curl(self.port, "DELETE", path)[0], 204)  # count used up
        self.assertEqual(self.api("GET", "/__test/faults")["faults"], [])
        self.api("POST", "/__test/faults", {"faults": [
            {"path": "f 2", "count": -1, "action": {"type": "status", "status": 500}},
            {"method": "PUT", "action": {"type": "status", "status": 403, "code": "AllAccessDisabled",
                                         "message": "All access to this object has been disabled"}}]})
        self.assert_refused(curl(self.port, "DELETE", key_path(BUCKET, "f 2")), 500, "InternalError")
        self.assert_refused(curl(self.port, "DELETE", key_path(BUCKET, "f 2")), 500, "InternalError")
        self.assert_refused(curl(self.port, "PUT", key_path(BUCKET, "x"), b"x"),
                            403, "AllAccessDisabled")
        log = self.api("GET", "/__test/requests")
        self.assertEqual([e["fault"] for e in log][-3:], ["status"] * 3)
        self.assertEqual(self.api("GET", "/__test/faults")["faults"][0]["fired"], 2)
        self.api("DELETE", "/__test/faults")
        self.assertEqual(curl(self.port, "DELETE", key_path(BUCKET, "f 2"))[0], 204)
        status, _, body = raw(self.port, "POST", "/__test/faults",
                              json.dumps({"faults": [{"action": {"type": "boom"}}]}).encode())
        self.assertEqual(status, 400, body)

    def test_fault_delay_drop_hang_garbage(self):
        path = key_path(BUCKET, "slow")
        self.api("POST", "/__test/faults", {"faults": [
            {"action": {"type": "delay", "ms": 300}},
            {"action": {"type": "drop"}},
            {"action": {"type": "hang"}},
            {"action": {"type": "garbage"}}]})
        started = time.monotonic()
        self.assertEqual(curl(self.port, "DELETE", path)[0], 204)
        self.assertGreaterEqual(time.monotonic() - started, 0.3)
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError)):
            signed(self.port, "DELETE", path)
        with self.assertRaises(TimeoutError):
            raw(self.port, "DELETE", path, headers=botocore_headers(self.port, "DELETE", path),
                    timeout=0.5)
        status, _, body = signed(self.port, "DELETE", path)
        self.assertEqual((status, body), (200, b"this is not XML <"))
        self.assertEqual([e["fault"] for e in self.api("GET", "/__test/requests")],
                         ["delay", "drop", "hang", "garbage"])

    def test_outage(self):
        self.api("POST", "/__test/outage", {"seconds": 30})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError)):
            signed(self.port, "DELETE", key_path(BUCKET, "k"))
        self.assertEqual(curl(self.port, "DELETE", key_path(BUCKET, "k"))[0], 0)
        self.api("DELETE", "/__test/outage")
        self.assertEqual(curl(self.port, "DELETE", key_path(BUCKET, "k"))[0], 204)


    def test_lax_content_sha256(self):
        proc, port = start_gate(self, "--upstream-port", str(self.fx.s3rver_port), "--access-key", KEY,
                                     "--secret-key", SECRET, "--lax-content-sha256")
        self.assertEqual(curl(port, "DELETE", key_path(BUCKET, "lax"), content_sha=False),
                         (204, b""))
        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.wait(10), 0)


class GateProcessTest(unittest.TestCase):
    """A gate on its own: options, an unreachable s3rver, shutdown by signal."""

    def test_unreachable_upstream_and_sigterm(self):
        proc, port = start_gate(self, "--upstream-port", "1", "--access-key", "k",
                                     "--secret-key", "s", "--region", "eu-central-1")
        status, body = curl(port, "DELETE", "/b/k", user="k:s", region="eu-central-1")
        self.assertEqual((status, error_code(body)), (502, "InternalError"))
        self.assertEqual(curl(port, "DELETE", "/b/k", user="k:s")[0], 400)  # us-east-1: wrong
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0)


class VerifyTest(unittest.TestCase):
    """verify_sigv4 on its own: clock skew and malformed headers."""

    class Config:
        access_key, secret_key, region, lax_content_sha256 = KEY, SECRET, REGION, False

    def headers(self, path="/b/k"):
        message = http.client.HTTPMessage()
        for name, value in botocore_headers(9, "DELETE", path).items():
            message[name] = value
        message["Host"] = "127.0.0.1:9"
        return message

    def test_skew(self):
        headers = self.headers()
        info = s3_gate.verify_sigv4(self.Config, "DELETE", "/b/k", "", headers, b"")
        self.assertEqual(info["access_key"], KEY)
        later = datetime.now(timezone.utc) + timedelta(minutes=20)
        with self.assertRaises(s3_gate.S3Error) as caught:
            s3_gate.verify_sigv4(self.Config, "DELETE", "/b/k", "", headers, b"", now=later)
        self.assertEqual((caught.exception.status, caught.exception.code),
                         (403, "RequestTimeTooSkewed"))

    def test_malformed(self):
        headers = self.headers()
        auth = headers["Authorization"]
        for bad, code in ((auth.replace("Credential=", "Cred="), "AuthorizationHeaderMalformed"),
                          (auth.replace("/s3/", "/ec2/"), "AuthorizationHeaderMalformed"),
                          (auth.replace("SignedHeaders=host;", "SignedHeaders="), "AccessDenied")):
            del headers["Authorization"]
            headers["Authorization"] = bad
            with self.assertRaises(s3_gate.S3Error) as caught:
                s3_gate.verify_sigv4(self.Config, "DELETE", "/b/k", "", headers, b"")
            self.assertEqual(caught.exception.code, code, bad)


if __name__ == "__main__":
    unittest.main(verbosity=2)
