#!/usr/bin/env python3
"""Qdrant-compatible HTTP test server for osv's Qdrant sync tests.

No real Qdrant can run where osv's tests run, so this stand-in speaks the REST
API of Qdrant 1.19 (as described by its OpenAPI document) for the parts a sync
client needs: collections (with their parameters) and aliases, payload
indexes, points (upsert, retrieve, delete, payload operations, scroll, count),
dense-vector search (universal query API and query batch, plus the legacy
POST .../points/search, which the 1.19 document no longer lists) with filters,
and the cluster information of a standalone node.

How faithful it is:
  * Envelopes, status codes and error texts follow Qdrant's source: success is
    {"result", "status": "ok", "time"}; errors are {"status": {"error"}, "time"}
    with "Not found: ..." (404), "Wrong input: ..." (400, 409 for an existing
    collection), "Format error in JSON body: ..." (400, serde wording, time
    0.0; serde's " at line L column C" suffix is only given for JSON syntax
    errors), "Validation error in JSON body: [...]" (422), plain-text 401
    bodies for a missing or wrong API key, and an empty 404 for an unknown
    route or method.
  * Unwaited updates (wait absent/false) answer "acknowledged" and are applied
    by a background applier after --apply-delay-ms, in order per collection;
    wait=true first applies everything queued before it. Errors found while
    applying an unwaited update (e.g. a missing point) are only logged.
  * Vectors are stored as float32 (Cosine ones normalised at upsert) and are
    printed, like scores, in float32's shortest decimal form. Scores are
    computed exactly (Qdrant uses SIMD float32 and may differ in the last
    digit); search is exhaustive, so results are exact, not approximate.
  * Alias changes run in order under one lock; as in Qdrant, an error stops
    at the failing action and keeps the ones before it (no rollback).
  * Not implemented (answered with a 400 saying so): named, sparse and multi
    vectors, prefetch and non-nearest query types, geo conditions, order_by,
    lookup_from, custom sharding. Not routed at all (empty 404): snapshots,
    shards, cluster operations, telemetry, facets, vector updates, batch updates.

Outside the Qdrant API, /__test/ (never API-key protected) injects faults,
simulates an outage, shows the request log and statistics, resets state and
dumps a collection's content; see README.md next to this file.
"""

import argparse
import copy
import hmac
import json
import math
import os
import re
import secrets
import signal
import threading
import time
import traceback
import uuid
from array import array
from collections import deque
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

QDRANT_VERSION = "1.19.0"
MAX_VECTOR_SIZE = 65536
MAX_JSON_BODY = 32 * 1024 * 1024  # Qdrant's default service.max_request_size_mb
DISTANCES = ("Cosine", "Euclid", "Dot", "Manhattan")
PAYLOAD_SCHEMA_TYPES = ("keyword", "integer", "float", "geo", "text", "bool", "datetime", "uuid")
JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
HANG_SECONDS = 60
REQUEST_LOG_LIMIT = 100_000
AUTH_WHITELIST_EXACT = ("/", "/healthz")  # as Qdrant: GET / needs no key either
AUTH_WHITELIST_PREFIX = ("/readyz", "/livez")


# --------------------------------------------------------------------------
# Errors, in Qdrant's words
# --------------------------------------------------------------------------

class ApiError(Exception):
    """An error answered with Qdrant's error envelope."""

    def __init__(self, status, message, timed=True):
        super().__init__(message)
        self.status = status
        self.message = message
        # Errors raised by Qdrant's JSON/query extractors report "time": 0.0.
        self.timed = timed


def format_error(detail):
    return ApiError(400, f"Format error in JSON body: {detail}", timed=False)


def untagged(enum):
    return format_error(f"data did not match any variant of untagged enum {enum}")


def missing_field(name):
    return format_error(f"missing field `{name}`")


def validation_error(field, detail):
    return ApiError(422, f"Validation error in JSON body: [{field}: {detail}]", timed=False)


def query_error(detail):
    return ApiError(400, f"Deserialize error in query parameters: {detail}", timed=False)


def bad_input(detail):
    return ApiError(400, f"Wrong input: {detail}")


def bad_request(detail):
    return ApiError(400, f"Bad request: {detail}")


def not_found(detail):
    return ApiError(404, f"Not found: {detail}")


def missing_collection(name):
    return not_found(f"Collection `{name}` doesn't exist!")


def unsupported(what):
    return bad_input(f"{what} is not supported by the Qdrant test server")


def json_kind(value):
    """serde_json's description of an unexpected value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f'string "{value}"'
    return "a sequence" if isinstance(value, list) else "a map"


def expect(value, kind, expected):
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise format_error(f"invalid type: {json_kind(value)}, expected {expected}")
    return value


def expect_object(body, what):
    return expect(body, dict, f"struct {what}")


def required(body, field):
    if field not in body:
        raise missing_field(field)
    return body[field]


def opt_uint(body, field, default, minimum=0, prefix=""):
    value = body.get(field)
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        raise format_error(f"invalid value: integer `{value}`, expected usize")
    expect(value, int, "usize")
    if value < minimum:
        raise validation_error(prefix + field, f"value {value} invalid, must be {minimum} or larger")
    return value


# --------------------------------------------------------------------------
# Collection configuration: field types as serde reads them, then the
# validator's ranges (422), as for CreateCollection and UpdateCollection
# --------------------------------------------------------------------------

UINT_BITS = {"u32": 32, "u64": 64, "usize": 64, "a nonzero u32": 32}


def _number_text(x):
    return str(int(x)) if float(x).is_integer() else str(x)


def check_field(value, kind):
    """Raise serde's format error if `value` (not null) is not of `kind`:
    an unsigned type ("u32", "u64", "usize", "a nonzero u32"), "bool", "f64",
    "threads" (usize or "auto") or None (anything)."""
    if kind is None:
        return
    if kind == "bool":
        expect(value, bool, "a boolean")
    elif kind == "f64":
        if not is_number(value):
            raise format_error(f"invalid type: {json_kind(value)}, expected f64")
    elif kind == "threads":  # MaxOptimizationThreads: "auto" or a usize, untagged
        if value != "auto" and not (isinstance(value, int) and not isinstance(value, bool)
                                    and 0 <= value < 1 << 64):
            raise untagged("MaxOptimizationThreads")
    else:
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0 or value >= 1 << UINT_BITS[kind] or (value == 0 and "nonzero" in kind):
                raise format_error(f"invalid value: {json_kind(value)}, expected {kind}")
        else:
            raise format_error(f"invalid type: {json_kind(value)}, expected {kind}")


# field -> (kind, minimum, maximum); ranges from the OpenAPI document
HNSW_CONFIG_DIFF = {
    "m": ("usize", None, None), "ef_construct": ("usize", 4, None),
    "full_scan_threshold": ("usize", 10, None), "max_indexing_threads": ("usize", None, None),
    "on_disk": ("bool", None, None), "memory": (None, None, None),
    "payload_m": ("usize", None, None), "inline_storage": ("bool", None, None),
}
OPTIMIZERS_CONFIG_DIFF = {
    "deleted_threshold": ("f64", 0, 1), "vacuum_min_vector_number": ("usize", 100, None),
    "default_segment_number": ("usize", None, None), "max_segment_size": ("usize", 1, None),
    "memmap_threshold": ("usize", None, None), "indexing_threshold": ("usize", None, None),
    "flush_interval_sec": ("u64", None, None), "max_optimization_threads": ("threads", None, None),
    "prevent_unoptimized": ("bool", None, None),
}
WAL_CONFIG_DIFF = {
    "wal_capacity_mb": ("usize", 1, None), "wal_segments_ahead": ("usize", None, None),
    "wal_retain_closed": ("usize", None, None),
}
CREATE_COLLECTION_PARAMS = {
    "shard_number": ("u32", 1, None), "replication_factor": ("u32", 1, None),
    "write_consistency_factor": ("u32", 1, None), "on_disk_payload": ("bool", None, None),
}
# CollectionParamsDiff: the factors are NonZeroU32, so 0 is a format error (400), not a 422
COLLECTION_PARAMS_DIFF = {
    "replication_factor": ("a nonzero u32", None, None),
    "write_consistency_factor": ("a nonzero u32", None, None),
    "read_fan_out_factor": ("u32", None, None), "read_fan_out_delay_ms": ("u64", None, None),
    "on_disk_payload": ("bool", None, None), "payload": (None, None, None),
}


def read_config(obj, fields, prefix, ranges):
    """The non-null known fields of `obj`, type-checked; range checks are
    appended to `ranges` as (path, value, minimum, maximum) for later."""
    found = {}
    for field, (kind, minimum, maximum) in fields.items():
        value = obj.get(field)
        if value is None:
            continue
        check_field(value, kind)
        if is_number(value) and (minimum is not None or maximum is not None):
            ranges.append((prefix + field, value, minimum, maximum))
        found[field] = value
    return found


def read_config_section(body, section, struct, fields, ranges):
    value = body.get(section)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise format_error(f"invalid type: {json_kind(value)}, expected struct {struct}")
    return read_config(value, fields, section + ".", ranges)


def check_ranges(ranges):
    """The validator's errors, after serde has read the whole body."""
    for path, value, minimum, maximum in ranges:
        low = minimum is not None and value < minimum
        high = maximum is not None and value > maximum
        if not (low or high):
            continue
        if maximum is None:
            bound = f"must be {_number_text(minimum)} or larger"
        elif minimum is None:
            bound = f"must be {_number_text(maximum)} or smaller"
        else:
            bound = f"must be from {_number_text(minimum)} to {_number_text(maximum)}"
        raise validation_error(path, f"value {_number_text(value)} invalid, {bound}")


# --------------------------------------------------------------------------
# JSON, numbers, ids
# --------------------------------------------------------------------------

SERDE_WORDING = (
    ("Expecting value", "expected value"),
    ("Expecting property name enclosed in double quotes", "key must be a string"),
    ("Expecting ',' delimiter", "expected `,` or `}`"),
    ("Expecting ':' delimiter", "expected `:`"),
    ("Extra data", "trailing characters"),
    ("Unterminated string", "EOF while parsing a string"),
    ("Invalid control character", "control character (\\u0000-\\u001F) found while parsing a string"),
)


def _reject_constant(name):
    raise ValueError(name)


def parse_json(raw):
    if not raw.strip():
        raise format_error("EOF while parsing a value at line 1 column 0")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        wording = next((w for p, w in SERDE_WORDING if err.msg.startswith(p)), err.msg)
        raise format_error(f"{wording} at line {err.lineno} column {err.colno}") from None
    except ValueError:  # NaN/Infinity or invalid UTF-8: not JSON to serde either
        raise format_error("expected value") from None


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def to_f32(values):
    return array("f", values).tolist()


def f32_text(values):
    """Shortest decimals that round-trip as float32, as Qdrant prints f32."""
    out = []
    for x in values:
        for digits in (6, 7, 8, 9):
            short = float(f"{x:.{digits}g}")
            if array("f", (short,))[0] == x:
                break
        out.append(short)
    return out


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_point_id(value):
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 64:
        return value
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    shown = value if isinstance(value, str) else json.dumps(value)
    raise format_error(f"value {shown} is not a valid point ID, "
                       "valid values are either an unsigned integer or a UUID")


def parse_path_id(raw):
    if re.fullmatch(r"\d+", raw) and int(raw) < 1 << 64:
        return int(raw)
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise bad_input(f'Can not recognize "{raw}" as point id') from None


def id_order(pid):
    """Qdrant's id order: integers first, then UUIDs (canonical text sorts like bytes)."""
    return (0, pid) if isinstance(pid, int) else (1, pid)


def parse_datetime(text):
    """RFC 3339 (and Qdrant's laxer forms); naive values are UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# --------------------------------------------------------------------------
# Payload paths and selectors
# --------------------------------------------------------------------------

def parse_json_path(key):
    """'a.b[].c' / 'a[0]' -> [("key","a"), ("key","b"), ("all",None), ...]."""
    if not isinstance(key, str) or not key:
        raise untagged("Condition")
    items = []
    for part in key.split("."):
        match = re.fullmatch(r"([^\[\]]+)((?:\[\d*\])*)", part)
        if not match:
            raise untagged("Condition")
        items.append(("key", match.group(1)))
        for index in re.findall(r"\[(\d*)\]", match.group(2)):
            items.append(("all", None) if index == "" else ("index", int(index)))
    return items


def path_values(payload, path):
    """Values at a JSON path; like Qdrant, only [] descends into arrays."""
    values = [payload]
    for kind, arg in path:
        found = []
        for value in values:
            if kind == "key" and isinstance(value, dict) and arg in value:
                found.append(value[arg])
            elif kind == "all" and isinstance(value, list):
                found.extend(value)
            elif kind == "index" and isinstance(value, list) and arg < len(value):
                found.append(value[arg])
        values = found
    return values


def set_at(payload, key, value, replace):
    """New payload with `value` merged into (or replacing) the object at dotted `key`."""
    result = copy.deepcopy(payload)
    target = result
    parts = key.split(".") if key else []
    for part in parts[:-1] if replace else parts:
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    if replace and parts:
        target[parts[-1]] = copy.deepcopy(value)
    elif replace:
        result = copy.deepcopy(value)
    else:
        target.update(copy.deepcopy(value))
    return result


def delete_at(payload, key):
    parts = key.split(".")
    target = payload
    for part in parts[:-1]:
        target = target.get(part)
        if not isinstance(target, dict):
            return
    target.pop(parts[-1], None)


def parse_with_payload(value, default):
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, list) and all(isinstance(k, str) for k in value):
        return ("include", value)
    if isinstance(value, dict) and len(value) == 1:
        (mode, keys), = value.items()
        if mode in ("include", "exclude") and isinstance(keys, list) \
                and all(isinstance(k, str) for k in keys):
            return (mode, keys)
    raise untagged("WithPayloadInterface")


def parse_with_vector(value, default):
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, list) and all(isinstance(k, str) for k in value):
        return "" in value  # the only vector is the default (unnamed) one
    raise untagged("WithVector")


def select_payload(payload, selector):
    if selector is True:
        return payload
    mode, keys = selector
    if mode == "exclude":
        result = copy.deepcopy(payload)
        for key in keys:
            delete_at(result, key)
        return result
    result = {}
    for key in keys:
        value, found = payload, True
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                found = False
                break
            value = value[part]
        if found:
            result = set_at(result, key, value, replace=True)
    return result


# --------------------------------------------------------------------------
# Filters: compiled into predicates pred(point_id, payload) -> bool
# --------------------------------------------------------------------------

def compile_filter(spec, as_condition=False):
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise untagged("Condition") if as_condition else \
            format_error(f"invalid type: {json_kind(spec)}, expected struct Filter")
    unknown = set(spec) - {"must", "should", "must_not", "min_should"}
    if unknown:
        if as_condition:
            raise untagged("Condition")
        raise format_error(f"unknown field `{sorted(unknown)[0]}`, expected one of "
                           "`should`, `min_should`, `must`, `must_not`")
    must = _condition_list(spec.get("must"))
    should = _condition_list(spec.get("should"))
    must_not = _condition_list(spec.get("must_not"))
    min_should = spec.get("min_should")
    if min_should is not None:
        if not isinstance(min_should, dict) or "conditions" not in min_should:
            raise untagged("Condition")
        min_conditions = _condition_list(min_should["conditions"])
        min_count = opt_uint(min_should, "min_count", None, 1, "min_should.")
        if min_count is None:
            raise missing_field("min_count")

    def predicate(pid, payload):
        if must and not all(c(pid, payload) for c in must):
            return False
        if should is not None and not any(c(pid, payload) for c in should):
            return False
        if must_not and any(c(pid, payload) for c in must_not):
            return False
        if min_should is not None:
            return sum(1 for c in min_conditions if c(pid, payload)) >= min_count
        return True

    return predicate


def _condition_list(value):
    if value is None:
        return None
    return [compile_condition(c) for c in (value if isinstance(value, list) else [value])]


def _key_of(field):
    if not isinstance(field, dict) or "key" not in field:
        raise untagged("Condition")
    return parse_json_path(field["key"])


def compile_condition(cond):
    if not isinstance(cond, dict):
        raise untagged("Condition")
    if "key" in cond:
        return compile_field_condition(cond)
    if "is_empty" in cond:
        path = _key_of(cond["is_empty"])
        return lambda pid, p: all(v is None or v == [] for v in path_values(p, path))
    if "is_null" in cond:
        path = _key_of(cond["is_null"])
        return lambda pid, p: any(v is None for v in path_values(p, path))
    if "has_id" in cond:
        if not isinstance(cond["has_id"], list):
            raise untagged("Condition")
        ids = {parse_point_id(i) for i in cond["has_id"]}
        return lambda pid, p: pid in ids
    if "has_vector" in cond:
        name = cond["has_vector"]
        if not isinstance(name, str):
            raise untagged("Condition")
        return lambda pid, p: name == ""
    if "nested" in cond:
        nested = cond["nested"]
        if not isinstance(nested, dict) or "filter" not in nested:
            raise untagged("Condition")
        path = _key_of(nested) + [("all", None)]
        inner = compile_filter(nested["filter"])
        return lambda pid, p: any(isinstance(e, dict) and inner(pid, e)
                                  for e in path_values(p, path))
    if "slice" in cond:
        raise unsupported("The slice condition")
    return compile_filter(cond, as_condition=True)


def compile_field_condition(cond):
    """Like Qdrant's FieldCondition::check: values_count, else is_empty, else
    is_null, else match/range on each value (array elements included)."""
    path = parse_json_path(cond["key"])
    for geo in ("geo_radius", "geo_bounding_box", "geo_polygon"):
        if cond.get(geo) is not None:
            raise unsupported("Geo filtering")
    count, is_empty, is_null = cond.get("values_count"), cond.get("is_empty"), cond.get("is_null")
    if count is not None:
        count_ok = compile_bounds(count, is_number)
        check, when_missing = (lambda v: count_ok(len(v) if isinstance(v, list) else 1)), count_ok(0)
    elif is_empty is not None:
        expect(is_empty, bool, "a boolean")
        check, when_missing = (lambda v: (v is None or v == []) == is_empty), is_empty
    elif is_null is not None:
        expect(is_null, bool, "a boolean")
        check = lambda v: (v is None or (isinstance(v, list) and None in v)) == is_null  # noqa: E731
        when_missing = not is_null
    else:
        matchers = [compile_match(cond["match"])] if cond.get("match") is not None else []
        if cond.get("range") is not None:
            matchers.append(compile_range(cond["range"]))
        if not matchers:
            raise ApiError(422, "Validation error in JSON body: "
                           "[filter: At least one field condition must be specified]", timed=False)
        check, when_missing = _flat(lambda v: any(m(v) for m in matchers)), False

    def predicate(pid, payload):
        values = path_values(payload, path)
        return any(check(v) for v in values) if values else when_missing

    return predicate


def _flat(check):
    """Qdrant semantics: an array value matches if any element matches."""
    return lambda v: any(check(e) for e in v) if isinstance(v, list) else check(v)


def compile_match(spec):
    if not isinstance(spec, dict):
        raise untagged("Condition")
    if "value" in spec:
        want = spec["value"]
        if isinstance(want, bool):
            return lambda v: isinstance(v, bool) and v == want
        if isinstance(want, str):
            return lambda v: isinstance(v, str) and v == want
        if isinstance(want, int):
            return lambda v: isinstance(v, int) and not isinstance(v, bool) and v == want
        raise untagged("Condition")
    for mode in ("text", "phrase", "text_any", "prefix"):
        if mode in spec:
            text = spec[mode]
            if not isinstance(text, str):
                raise untagged("Condition")
            if mode == "text_any":
                tokens = text.split()
                return lambda v: isinstance(v, str) and any(t in v for t in tokens)
            if mode == "prefix":
                return lambda v: isinstance(v, str) and v.startswith(text)
            return lambda v: isinstance(v, str) and text in v
    for mode in ("any", "except"):
        if mode in spec:
            values = spec[mode]
            if not isinstance(values, list):
                raise untagged("Condition")
            if all(isinstance(x, str) for x in values):
                kind = str
            elif all(isinstance(x, int) and not isinstance(x, bool) for x in values):
                kind = int
            else:
                raise untagged("Condition")
            wanted = set(values)

            def same_kind(v, kind=kind):
                return isinstance(v, kind) and not isinstance(v, bool)

            if mode == "any":
                return lambda v: same_kind(v) and v in wanted
            # except: a value of another type counts as "not excepted"; null never matches
            return lambda v: v is not None and not (same_kind(v) and v in wanted)
    raise untagged("Condition")


def compile_bounds(spec, accepts, convert=lambda x: x):
    if not isinstance(spec, dict):
        raise untagged("Condition")
    bounds = {op: spec[op] for op in ("gt", "gte", "lt", "lte") if spec.get(op) is not None}
    if not all(accepts(b) for b in bounds.values()):
        raise untagged("Condition")
    bounds = {op: convert(b) for op, b in bounds.items()}
    tests = {"gt": lambda x, b: x > b, "gte": lambda x, b: x >= b,
             "lt": lambda x, b: x < b, "lte": lambda x, b: x <= b}
    return lambda x: all(tests[op](x, b) for op, b in bounds.items())


def compile_range(spec):
    if isinstance(spec, dict) and any(isinstance(spec.get(op), str)
                                      for op in ("gt", "gte", "lt", "lte")):
        within = compile_bounds(spec, lambda b: isinstance(b, str) and parse_datetime(b),
                                parse_datetime)

        def check_datetime(v):
            moment = parse_datetime(v) if isinstance(v, str) else None
            return moment is not None and within(moment)

        return check_datetime
    within = compile_bounds(spec, is_number)
    return lambda v: is_number(v) and within(v)


# --------------------------------------------------------------------------
# State: collections, the update queue and its applier
# --------------------------------------------------------------------------

class Point:
    __slots__ = ("vector", "payload", "version")

    def __init__(self, vector, payload, version):
        self.vector, self.payload, self.version = vector, payload, version


class Collection:
    def __init__(self, name, size, distance, echo):
        self.name, self.size, self.distance = name, size, distance
        self.echo = echo            # creation parameters shown by GET
        self.points = {}            # point id -> Point; payload dicts are never mutated
        self.indexes = {}           # field name -> PayloadIndexInfo without "points"
        self.pending = deque()      # unwaited updates: (due, operation id, apply)
        self.last_op = -1

    def vector_from_json(self, raw):
        """A dense vector checked against the collection, as Qdrant stores it."""
        if isinstance(raw, dict):
            if list(raw) != [""]:
                raise bad_input(f"Not existing vector name error: {next(iter(raw), '')}")
            raw = raw[""]
        if not isinstance(raw, list) or not all(is_number(x) for x in raw):
            raise untagged("VectorStruct")
        if len(raw) != self.size:
            raise bad_input(f"Vector dimension error: expected dim: {self.size}, got {len(raw)}")
        vector = to_f32(raw)
        if self.distance == "Cosine":
            norm = math.sqrt(math.fsum(x * x for x in vector))
            if norm >= 1.1920929e-07:  # f32::EPSILON: Qdrant leaves tiny vectors as they are
                vector = to_f32([x / norm for x in vector])
        return vector

    def score(self, stored, query):
        if self.distance in ("Cosine", "Dot"):
            value = math.fsum(a * b for a, b in zip(stored, query))
        elif self.distance == "Euclid":
            value = math.sqrt(math.fsum((a - b) ** 2 for a, b in zip(stored, query)))
        else:
            value = math.fsum(abs(a - b) for a, b in zip(stored, query))
        return to_f32((value,))[0]

    def larger_is_better(self):
        return self.distance in ("Cosine", "Dot")

    def cluster_info(self, peer_id):
        """CollectionClusterInfo of a single-node (standalone) Qdrant: every
        shard local and Active, whatever the replication factor."""
        shards = self.echo.get("params", {}).get("shard_number", 1)
        counts = [0] * shards
        for pid in self.points:  # not Qdrant's hash ring: only the total is faithful
            counts[(pid if isinstance(pid, int) else uuid.UUID(pid).int) % shards] += 1
        return {"peer_id": peer_id, "shard_count": shards,
                "local_shards": [{"shard_id": i, "points_count": n, "state": "Active"}
                                 for i, n in enumerate(counts)],
                "remote_shards": [], "shard_transfers": []}

    def info(self):
        params = {"vectors": {"size": self.size, "distance": self.distance}, "shard_number": 1,
                  "replication_factor": 1, "write_consistency_factor": 1, "on_disk_payload": True}
        params.update(self.echo.get("params", {}))
        config = {
            "params": params,
            "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000,
                            "max_indexing_threads": 0, "on_disk": False},
            "optimizer_config": {"deleted_threshold": 0.2, "vacuum_min_vector_number": 1000,
                                 "default_segment_number": 0, "max_segment_size": None,
                                 "memmap_threshold": None, "indexing_threshold": 10000,
                                 "flush_interval_sec": 5, "max_optimization_threads": None,
                                 "prevent_unoptimized": None},
            "wal_config": {"wal_capacity_mb": 32, "wal_segments_ahead": 0, "wal_retain_closed": 1},
            "quantization_config": None,
        }
        for section, given in (("hnsw_config", "hnsw_config"),
                               ("optimizer_config", "optimizers_config"),
                               ("wal_config", "wal_config")):
            config[section].update(self.echo.get(given, {}))
        if config["optimizer_config"]["max_optimization_threads"] == "auto":
            config["optimizer_config"]["max_optimization_threads"] = None
        schema = {}
        for field, index in self.indexes.items():
            path = parse_json_path(field)
            indexed = sum(1 for p in self.points.values()
                          if any(v is not None and v != [] for v in path_values(p.payload, path)))
            schema[field] = {**index, "points": indexed}
        return {"status": "green", "optimizer_status": "ok", "indexed_vectors_count": 0,
                "points_count": len(self.points), "segments_count": 1, "config": config,
                "payload_schema": schema, "update_queue": {"length": len(self.pending)}}


class Store:
    """All collections behind one lock; a thread applies unwaited updates."""

    def __init__(self, apply_delay, log):
        self.cond = threading.Condition()
        self.collections = {}
        self.aliases = {}           # alias name -> collection name, in creation order
        self.sink_ops = {}          # operation ids answered by --sink upserts
        self.apply_delay = apply_delay
        self.log = log
        self.stopping = False
        threading.Thread(target=self._applier, name="applier", daemon=True).start()

    def resolve(self, name):
        """Qdrant's resolve_name: an alias first, else the name itself."""
        return self.aliases.get(name, name)

    def get(self, name):
        """The collection called or aliased `name` (caller holds self.cond)."""
        real = self.resolve(name)
        coll = self.collections.get(real)
        if coll is None:
            raise missing_collection(real)
        return coll

    def submit(self, name, coll, wait, apply):
        """Queue or run an update like Qdrant; returns its UpdateResult."""
        with self.cond:
            if self.collections.get(coll.name) is not coll:  # deleted meanwhile
                raise missing_collection(coll.name)
            coll.last_op += 1
            op_id = coll.last_op
            if wait:
                self._flush(coll)
                apply(op_id)
                return {"operation_id": op_id, "status": "completed"}
            coll.pending.append((time.monotonic() + self.apply_delay, op_id, apply))
            self.cond.notify()
            return {"operation_id": op_id, "status": "acknowledged"}

    def flush(self, coll):
        with self.cond:
            self._flush(coll)

    def _flush(self, coll):
        while coll.pending:
            self._apply_logged(coll, *coll.pending.popleft()[1:])

    def _apply_logged(self, coll, op_id, apply):
        try:
            apply(op_id)
        except ApiError as err:  # Qdrant too only logs failures of unwaited updates
            self.log(f"operation {op_id} on `{coll.name}` failed: {err.message}")
        except Exception:  # a bug here must not stop the applier
            self.log(f"operation {op_id} on `{coll.name}` crashed:\n{traceback.format_exc()}")

    def _applier(self):
        with self.cond:
            while not self.stopping:
                now = time.monotonic()
                next_due = None
                for coll in list(self.collections.values()):
                    while coll.pending and coll.pending[0][0] <= now:
                        self._apply_logged(coll, *coll.pending.popleft()[1:])
                    if coll.pending:
                        due = coll.pending[0][0]
                        next_due = due if next_due is None else min(next_due, due)
                self.cond.wait(None if next_due is None else max(0.0, next_due - now))

    def reset(self):
        with self.cond:
            self.collections.clear()
            self.aliases.clear()
            self.sink_ops.clear()

    def stop(self):
        with self.cond:
            self.stopping = True
            self.cond.notify()


# --------------------------------------------------------------------------
# Fault injection
# --------------------------------------------------------------------------

FAULT_MESSAGES = {
    408: "Timeout: injected fault",
    429: "Rate limiting exceeded: injected fault",
    500: "Service internal error: injected fault",
    503: "Shard temporarily unavailable: injected fault",
}


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []

    @staticmethod
    def parse(spec):
        def invalid(why):
            return bad_request(f"invalid fault rule {json.dumps(spec)}: {why}")

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
        if kind not in ("status", "delay", "drop", "garbage", "hang"):
            raise invalid("action.type must be status, delay, drop, garbage or hang")
        if kind == "status":
            status = action.get("status")
            if not isinstance(status, int) or not 200 <= status <= 599:
                raise invalid("action.status must be an HTTP status code")
            if not is_number(action.get("retry_after", 0)) or action.get("retry_after", 0) < 0:
                raise invalid("action.retry_after must be a non-negative number")
        if kind == "delay" and (not is_number(action.get("ms")) or action["ms"] < 0):
            raise invalid("action.ms must be a non-negative number")
        return {"method": method.upper(), "path": pattern, "regex": regex,
                "remaining": count, "skip": skip, "action": action, "fired": 0}

    def add(self, specs):
        rules = [self.parse(s) for s in specs]
        with self.lock:
            self.rules.extend(rules)

    def take(self, method, path):
        """The action of the first rule that fires for this request, if any."""
        with self.lock:
            for rule in self.rules:
                if rule["method"] not in ("*", method) or not rule["regex"].search(path):
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
# Routing
# --------------------------------------------------------------------------

ROUTES = [
    # method, path template, handler, takes a JSON body
    ("GET", "/", "root", False),
    ("GET", "/healthz", "healthz", False),
    ("GET", "/livez", "healthz", False),
    ("GET", "/readyz", "readyz", False),
    ("GET", "/collections", "list_collections", False),
    ("POST", "/collections/aliases", "update_aliases", True),
    ("GET", "/aliases", "list_aliases", False),
    ("GET", "/cluster", "cluster_status", False),
    ("GET", "/collections/{collection_name}", "get_collection", False),
    ("PUT", "/collections/{collection_name}", "create_collection", True),
    ("PATCH", "/collections/{collection_name}", "update_collection", True),
    ("DELETE", "/collections/{collection_name}", "delete_collection", False),
    ("GET", "/collections/{collection_name}/exists", "collection_exists", False),
    ("GET", "/collections/{collection_name}/aliases", "collection_aliases", False),
    ("GET", "/collections/{collection_name}/cluster", "collection_cluster_info", False),
    ("PUT", "/collections/{collection_name}/index", "create_index", True),
    ("DELETE", "/collections/{collection_name}/index/{field_name}", "delete_index", False),
    ("PUT", "/collections/{collection_name}/points", "upsert", True),
    ("POST", "/collections/{collection_name}/points", "retrieve", True),
    ("GET", "/collections/{collection_name}/points/{id}", "get_point", False),
    ("POST", "/collections/{collection_name}/points/delete", "delete_points", True),
    ("POST", "/collections/{collection_name}/points/payload", "set_payload", True),
    ("PUT", "/collections/{collection_name}/points/payload", "overwrite_payload", True),
    ("POST", "/collections/{collection_name}/points/payload/delete", "delete_payload", True),
    ("POST", "/collections/{collection_name}/points/payload/clear", "clear_payload", True),
    ("POST", "/collections/{collection_name}/points/scroll", "scroll", True),
    ("POST", "/collections/{collection_name}/points/count", "count", True),
    ("POST", "/collections/{collection_name}/points/query", "query", True),
    ("POST", "/collections/{collection_name}/points/query/batch", "query_batch", True),
    ("POST", "/collections/{collection_name}/points/search", "search", True),
    ("GET", "/__test/faults", "test_list_faults", False),
    ("POST", "/__test/faults", "test_add_faults", True),
    ("DELETE", "/__test/faults", "test_clear_faults", False),
    ("POST", "/__test/outage", "test_start_outage", True),
    ("DELETE", "/__test/outage", "test_end_outage", False),
    ("GET", "/__test/requests", "test_requests", False),
    ("DELETE", "/__test/requests", "test_clear_requests", False),
    ("GET", "/__test/stats", "test_stats", False),
    ("POST", "/__test/reset", "test_reset", False),
    ("GET", "/__test/dump/{collection_name}", "test_dump", False),
]
COMPILED_ROUTES = [
    (method, re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$"),
     template, handler, takes_json)
    for method, template, handler, takes_json in ROUTES
]
SINK_ROUTE = "upsert"


def find_route(method, path):
    for route_method, regex, template, handler, takes_json in COMPILED_ROUTES:
        match = regex.match(path)
        if match and route_method == method:
            params = {k: unquote(v) for k, v in match.groupdict().items()}
            return template, handler, takes_json, params
    return None


def normalize_path(path):
    """actix's NormalizePath::trim(): merge slashes, drop the trailing one."""
    path = re.sub(r"/+", "/", path)
    return path.rstrip("/") or "/"


class Request:
    def __init__(self, params, query, body, started):
        self.params, self.query, self.body, self.started = params, query, body, started

    @property
    def name(self):
        return self.params["collection_name"]

    def wait(self):
        """The `wait` query flag. `ordering` is validated and otherwise ignored
        (one replica: every ordering is the same); the request log shows it."""
        ordering = self.query.get("ordering")
        if ordering is not None and ordering not in ("weak", "medium", "strong"):
            raise query_error(f"unknown variant `{ordering}`, expected one of "
                              "`weak`, `medium`, `strong`")
        value = self.query.get("wait")
        if value is None:
            return False
        if value not in ("true", "false"):
            raise query_error("provided string was not `true` or `false`")
        return value == "true"


# --------------------------------------------------------------------------
# The application: Qdrant endpoints and /__test/ endpoints
# --------------------------------------------------------------------------

class App:
    def __init__(self, api_key, sink, apply_delay, log_path):
        self.api_key = api_key
        self.sink = sink
        self.log_file = open(log_path, "a", buffering=1, encoding="utf-8") if log_path else None
        self.log_lock = threading.Lock()
        self.store = Store(apply_delay, self.log)
        self.faults = Faults()
        self.outage_until = 0.0
        self.stopped = threading.Event()
        self.meta_lock = threading.Lock()
        self.requests = deque(maxlen=REQUEST_LOG_LIMIT)
        self.stats = {}
        self.peer_id = secrets.randbits(64)  # a standalone Qdrant's peer id is random too

    def log(self, message):
        if self.log_file:
            with self.log_lock:
                self.log_file.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}\n")

    def record(self, entry, key):
        with self.meta_lock:
            self.requests.append(entry)
            self.stats[key] = self.stats.get(key, 0) + 1
        self.log("{method} {path}{q} -> {outcome} ({ms:.1f} ms)".format(
            method=entry["method"], path=entry["path"], ms=entry["duration_ms"],
            q="?" + entry["query"] if entry["query"] else "",
            outcome=entry["status"] if entry["status"] is not None else entry["fault"]))

    def clear_log(self):
        with self.meta_lock:
            self.requests.clear()
            self.stats.clear()

    def close(self):
        self.stopped.set()
        self.store.stop()
        if self.log_file:
            self.log_file.close()

    def authorize(self, path, headers):
        """None if allowed, else Qdrant's 401 text."""
        if not self.api_key or path in AUTH_WHITELIST_EXACT \
                or path.startswith(AUTH_WHITELIST_PREFIX):
            return None
        key = headers.get("api-key")
        if key is None:
            bearer = headers.get("Authorization", "")
            key = bearer[len("Bearer "):] if bearer.startswith("Bearer ") else None
        if key is None:
            return "Must provide an API key or an Authorization bearer token"
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            return "Invalid API key or JWT"
        return None

    # ---- replies -------------------------------------------------------

    @staticmethod
    def ok(req, result):
        return 200, dumps({"result": result, "status": "ok",
                           "time": time.monotonic() - req.started}), JSON_TYPE, ()

    @staticmethod
    def error(err, started):
        elapsed = time.monotonic() - started if err.timed else 0.0
        return err.status, dumps({"status": {"error": err.message}, "time": elapsed}), JSON_TYPE, ()

    def collection(self, name):
        with self.store.cond:
            return self.store.get(name)

    # ---- service --------------------------------------------------------

    def root(self, req):
        info = {"title": "qdrant - vector search engine", "version": QDRANT_VERSION, "commit": None}
        return 200, dumps(info), JSON_TYPE, ()

    def healthz(self, req):
        return 200, b"healthz check passed", TEXT_TYPE, ()

    def readyz(self, req):
        return 200, b"all shards are ready", TEXT_TYPE, ()

    # ---- collections ----------------------------------------------------

    def list_collections(self, req):
        with self.store.cond:
            names = list(self.store.collections)
        return self.ok(req, {"collections": [{"name": n} for n in names]})

    def get_collection(self, req):
        with self.store.cond:
            return self.ok(req, self.store.get(req.name).info())

    def collection_exists(self, req):
        with self.store.cond:
            return self.ok(req, {"exists": self.store.resolve(req.name) in self.store.collections})

    def create_collection(self, req):
        body = expect_object(req.body, "CreateCollection")
        vectors = body.get("vectors")
        if not isinstance(vectors, dict) or not vectors:
            if vectors is None or vectors == {}:
                raise unsupported("A collection without a dense vector")
            raise untagged("VectorsConfig")
        if "size" not in vectors and "distance" not in vectors:
            raise unsupported("Named vectors")
        size, distance = vectors.get("size"), vectors.get("distance")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 \
                or distance not in DISTANCES:
            raise untagged("VectorsConfig")
        ranges = []
        params = read_config(body, CREATE_COLLECTION_PARAMS, "", ranges)
        method = body.get("sharding_method")
        if method is not None and method not in ("auto", "custom"):
            raise format_error(f"unknown variant `{method}`, expected `auto` or `custom`"
                               if isinstance(method, str) else
                               f"invalid type: {json_kind(method)}, expected enum ShardingMethod")
        echoed = {"params": params}
        for section, struct, fields in (("hnsw_config", "HnswConfigDiff", HNSW_CONFIG_DIFF),
                                        ("optimizers_config", "OptimizersConfigDiff",
                                         OPTIMIZERS_CONFIG_DIFF),
                                        ("wal_config", "WalConfigDiff", WAL_CONFIG_DIFF)):
            found = read_config_section(body, section, struct, fields, ranges)
            if found is not None:
                echoed[section] = found
        if not 1 <= size <= MAX_VECTOR_SIZE:
            raise validation_error("vectors.size",
                                   f"value {size} invalid, must be from 1 to {MAX_VECTOR_SIZE}")
        check_ranges(ranges)
        if body.get("sparse_vectors"):
            raise unsupported("Sparse vectors")
        if method == "custom":
            raise unsupported("Custom sharding")
        if method is not None:
            params["sharding_method"] = method
        with self.store.cond:
            if req.name in self.store.collections:
                raise ApiError(409, f"Wrong input: Collection `{req.name}` already exists!")
            if req.name in self.store.aliases:
                raise bad_input(f"Can't create collection with name {req.name}. "
                                "Alias with the same name already exists")
            self.store.collections[req.name] = Collection(req.name, size, distance, echoed)
        return self.ok(req, True)

    def update_collection(self, req):
        """Applies params (replication_factor, write_consistency_factor,
        read_fan_out_factor, read_fan_out_delay_ms, on_disk_payload),
        hnsw_config and optimizers_config; other sections are accepted unused."""
        body = expect_object(req.body, "UpdateCollection")
        ranges, diffs = [], {}
        for section, struct, fields in (("params", "CollectionParamsDiff", COLLECTION_PARAMS_DIFF),
                                        ("hnsw_config", "HnswConfigDiff", HNSW_CONFIG_DIFF),
                                        ("optimizers_config", "OptimizersConfigDiff",
                                         OPTIMIZERS_CONFIG_DIFF)):
            found = read_config_section(body, section, struct, fields, ranges)
            if found:
                diffs[section] = found
        check_ranges(ranges)
        diffs.get("params", {}).pop("payload", None)  # PayloadStorageParams: not shown by GET
        with self.store.cond:
            coll = self.store.get(req.name)
            for section, found in diffs.items():
                coll.echo.setdefault(section, {}).update(found)
        return self.ok(req, True)

    def delete_collection(self, req):
        """Deletes by the name itself (an alias is not resolved, as in Qdrant),
        and the aliases of that collection with it."""
        with self.store.cond:
            aliases = self.store.aliases
            for alias in [a for a, target in aliases.items() if target == req.name]:
                del aliases[alias]
            existed = self.store.collections.pop(req.name, None) is not None
        return self.ok(req, existed)

    # ---- aliases ----------------------------------------------------------

    @staticmethod
    def _alias_action(action):
        """One AliasOperations (untagged: the first variant that fits)."""
        if isinstance(action, dict):
            for variant, fields in (("create_alias", ("collection_name", "alias_name")),
                                    ("delete_alias", ("alias_name",)),
                                    ("rename_alias", ("old_alias_name", "new_alias_name"))):
                inner = action.get(variant)
                if isinstance(inner, dict) and all(isinstance(inner.get(f), str) for f in fields):
                    return (variant,) + tuple(inner[f] for f in fields)
        raise untagged("AliasOperations")

    def update_aliases(self, req):
        """Actions are applied in order with every collection locked, so no
        request sees a half-switched state; as in Qdrant (update_aliases in
        lib/storage/src/content_manager/toc/collection_meta_ops.rs), an error
        stops at the failing action and the actions before it stay applied."""
        body = expect_object(req.body, "ChangeAliasesOperation")
        actions = [self._alias_action(a)
                   for a in expect(required(body, "actions"), list, "a sequence")]
        with self.store.cond:
            collections, aliases = self.store.collections, self.store.aliases
            for kind, *names in actions:
                if kind == "create_alias":
                    collection, alias = names
                    if collection not in collections:  # an alias of an alias is refused
                        raise missing_collection(collection)
                    if alias in collections:
                        raise ApiError(409, f"Wrong input: Collection `{alias}` already exists!")
                    aliases.pop(alias, None)  # an existing alias is silently repointed
                    aliases[alias] = collection
                elif kind == "delete_alias":
                    aliases.pop(names[0], None)  # a missing alias is no error
                else:
                    old, new = names
                    if old not in aliases:
                        raise not_found(f"Alias {old} does not exists!")
                    aliases[new] = aliases.pop(old)
        return self.ok(req, True)

    def list_aliases(self, req):
        with self.store.cond:
            aliases = [{"alias_name": alias, "collection_name": name}
                       for name in self.store.collections
                       for alias, target in self.store.aliases.items() if target == name]
        return self.ok(req, {"aliases": aliases})

    def collection_aliases(self, req):
        """The aliases of the collection called exactly so; like Qdrant, no
        alias resolution and no error for a missing collection."""
        with self.store.cond:
            aliases = [{"alias_name": alias, "collection_name": req.name}
                       for alias, target in self.store.aliases.items() if target == req.name]
        return self.ok(req, {"aliases": aliases})

    # ---- cluster ------------------------------------------------------------

    def cluster_status(self, req):
        return self.ok(req, {"status": "disabled"})  # a standalone Qdrant: no consensus

    def collection_cluster_info(self, req):
        with self.store.cond:
            return self.ok(req, self.store.get(req.name).cluster_info(self.peer_id))

    # ---- payload indexes ------------------------------------------------

    def create_index(self, req):
        body = expect_object(req.body, "CreateFieldIndex")
        field = expect(required(body, "field_name"), str, "a string")
        try:
            parse_json_path(field)
        except ApiError:
            raise format_error(f"Invalid JSON path `{field}`") from None
        schema = body.get("field_schema")
        if schema is None:
            index = None
        elif isinstance(schema, str) and schema in PAYLOAD_SCHEMA_TYPES:
            index = {"data_type": schema}
        elif isinstance(schema, dict) and schema.get("type") in PAYLOAD_SCHEMA_TYPES:
            index = {"data_type": schema["type"], "params": schema}
        else:
            raise untagged("PayloadFieldSchema")
        wait = req.wait()
        coll = self.collection(req.name)
        if index is None:
            raise bad_request("Can't auto-detect field type, "
                              "please specify `field_schema` in the request")

        def apply(op_id):
            coll.indexes[field] = index

        return self.ok(req, self.store.submit(req.name, coll, wait, apply))

    def delete_index(self, req):
        field = req.params["field_name"]
        wait = req.wait()
        coll = self.collection(req.name)
        return self.ok(req, self.store.submit(req.name, coll, wait,
                                              lambda op_id: coll.indexes.pop(field, None)))

    # ---- point updates ---------------------------------------------------

    def upsert(self, req):
        if req.body is None:  # --sink: the body was discarded unread
            wait = req.wait()
            with self.store.cond:
                op_id = self.store.sink_ops.get(req.name, -1) + 1
                self.store.sink_ops[req.name] = op_id
            return self.ok(req, {"operation_id": op_id,
                                 "status": "completed" if wait else "acknowledged"})
        body = req.body
        if not isinstance(body, dict):
            raise untagged("PointInsertOperations")
        if "batch" in body:
            batch = expect_object(body["batch"], "Batch")
            ids = expect(required(batch, "ids"), list, "a sequence")
            vectors = expect(required(batch, "vectors"), list, "a sequence")
            payloads = batch.get("payloads")
            if len(ids) != len(vectors):
                raise validation_error("batch", f"number of ids and vectors must be equal "
                                                f"({len(ids)} != {len(vectors)})")
            if payloads is not None:
                expect(payloads, list, "a sequence")
                if len(payloads) != len(ids):
                    raise validation_error("batch", f"number of ids and payloads must be equal "
                                                    f"({len(ids)} != {len(payloads)})")
            items = list(zip(ids, vectors, payloads or [None] * len(ids)))
        elif "points" in body:
            items = []
            for point in expect(body["points"], list, "a sequence"):
                expect_object(point, "PointStruct")
                items.append((required(point, "id"), required(point, "vector"), point.get("payload")))
        else:
            raise untagged("PointInsertOperations")
        mode = body.get("update_mode") or "upsert"
        if mode not in ("upsert", "insert_only", "update_only"):
            raise format_error(f"unknown variant `{mode}`, expected one of "
                               "`upsert`, `insert_only`, `update_only`")
        update_filter = compile_filter(body.get("update_filter"))
        for _, _, payload in items:
            if payload is not None:
                expect(payload, dict, "a map")
        ids = [parse_point_id(raw_id) for raw_id, _, _ in items]
        wait = req.wait()
        coll = self.collection(req.name)  # the body's shape is checked first, as in Qdrant
        points = [(pid, coll.vector_from_json(raw_vector), payload or {})
                  for pid, (_, raw_vector, payload) in zip(ids, items)]

        def apply(op_id):
            for pid, vector, payload in points:
                old = coll.points.get(pid)
                if mode == ("update_only" if old is None else "insert_only"):
                    continue
                if old is not None and update_filter and not update_filter(pid, old.payload):
                    continue
                coll.points[pid] = Point(vector, payload, op_id)

        return self.ok(req, self.store.submit(req.name, coll, wait, apply))

    @staticmethod
    def _selector(body, enum):
        """PointsSelector: ("ids", [...]) or ("filter", predicate)."""
        if not isinstance(body, dict):
            raise untagged(enum)
        if body.get("points") is not None:
            return "ids", [parse_point_id(i) for i in expect(body["points"], list, "a sequence")]
        if body.get("filter") is not None:
            return "filter", compile_filter(body["filter"])
        if enum == "PointsSelector":
            raise untagged(enum)
        raise format_error("Either list of point ids or filter must be provided")

    @staticmethod
    def _targets(coll, selector, must_exist):
        kind, value = selector
        if kind == "filter":
            return [pid for pid, p in coll.points.items() if value(pid, p.payload)]
        if must_exist:
            for pid in value:
                if pid not in coll.points:
                    raise not_found(f"No point with id {pid} found")
        return value

    def _payload_update(self, req, selector, change):
        """Apply change(old_payload) -> new_payload to the selected points."""
        wait = req.wait()
        coll = self.collection(req.name)

        def apply(op_id):
            for pid in self._targets(coll, selector, must_exist=True):
                point = coll.points[pid]
                point.payload, point.version = change(point.payload), op_id

        return self.ok(req, self.store.submit(req.name, coll, wait, apply))

    def delete_points(self, req):
        selector = self._selector(req.body, "PointsSelector")
        wait = req.wait()
        coll = self.collection(req.name)

        def apply(op_id):
            for pid in list(self._targets(coll, selector, must_exist=False)):
                coll.points.pop(pid, None)

        return self.ok(req, self.store.submit(req.name, coll, wait, apply))

    def _set_payload(self, req, replace):
        body = expect_object(req.body, "SetPayload")
        payload = expect(required(body, "payload"), dict, "a map")
        key = body.get("key")
        if key is not None:
            expect(key, str, "a string")
        selector = self._selector(body, "SetPayload")
        if key is None and replace:
            return self._payload_update(req, selector, lambda old: copy.deepcopy(payload))
        return self._payload_update(req, selector,
                                    lambda old: set_at(old, key or "", payload, replace))

    def set_payload(self, req):
        return self._set_payload(req, replace=False)

    def overwrite_payload(self, req):
        return self._set_payload(req, replace=True)

    def delete_payload(self, req):
        body = expect_object(req.body, "DeletePayload")
        keys = expect(required(body, "keys"), list, "a sequence")
        for key in keys:
            expect(key, str, "a string")
        selector = self._selector(body, "DeletePayload")

        def change(old):
            new = copy.deepcopy(old)
            for key in keys:
                delete_at(new, key)
            return new

        return self._payload_update(req, selector, change)

    def clear_payload(self, req):
        return self._payload_update(req, self._selector(req.body, "PointsSelector"),
                                    lambda old: {})

    # ---- point reads -----------------------------------------------------

    @staticmethod
    def _record(pid, point, with_payload, with_vector):
        record = {"id": pid}
        if with_payload:
            record["payload"] = select_payload(point.payload, with_payload)
        if with_vector:
            record["vector"] = f32_text(point.vector)
        return record

    def retrieve(self, req):
        body = expect_object(req.body, "PointRequest")
        ids = [parse_point_id(i) for i in expect(required(body, "ids"), list, "a sequence")]
        with_payload = parse_with_payload(body.get("with_payload"), True)
        with_vector = parse_with_vector(body.get("with_vector"), False)
        with self.store.cond:
            coll = self.store.get(req.name)
            records = [self._record(pid, coll.points[pid], with_payload, with_vector)
                       for pid in dict.fromkeys(ids) if pid in coll.points]
        return self.ok(req, records)

    def get_point(self, req):
        pid = parse_path_id(req.params["id"])
        with self.store.cond:
            point = self.store.get(req.name).points.get(pid)
            if point is None:
                raise not_found(f"Point with id {pid} does not exists!")
            return self.ok(req, self._record(pid, point, True, True))

    def scroll(self, req):
        body = expect_object(req.body, "ScrollRequest")
        offset = body.get("offset")
        offset = None if offset is None else parse_point_id(offset)
        limit = opt_uint(body, "limit", 10, 1)
        predicate = compile_filter(body.get("filter"))
        with_payload = parse_with_payload(body.get("with_payload"), True)
        with_vector = parse_with_vector(body.get("with_vector"), False)
        if body.get("order_by") is not None:
            raise unsupported("order_by")
        with self.store.cond:
            coll = self.store.get(req.name)
            page, next_offset = [], None
            for pid in sorted(coll.points, key=id_order):
                if offset is not None and id_order(pid) < id_order(offset):
                    continue
                point = coll.points[pid]
                if predicate and not predicate(pid, point.payload):
                    continue
                if len(page) == limit:
                    next_offset = pid
                    break
                page.append(self._record(pid, point, with_payload, with_vector))
        return self.ok(req, {"points": page, "next_page_offset": next_offset})

    def count(self, req):
        body = expect_object(req.body, "CountRequest")
        predicate = compile_filter(body.get("filter"))
        if body.get("exact") is not None:
            expect(body["exact"], bool, "a boolean")
        with self.store.cond:
            coll = self.store.get(req.name)
            total = sum(1 for pid, p in coll.points.items()
                        if predicate is None or predicate(pid, p.payload))
        return self.ok(req, {"count": total})

    # ---- search ------------------------------------------------------------

    def _parse_search(self, coll, body, prefix, legacy):
        """Validate a QueryRequest (or a legacy SearchRequest) into a plan."""
        expect_object(body, "SearchRequest" if legacy else "QueryRequest")
        for field in ("prefetch", "lookup_from"):
            if body.get(field) is not None:
                raise unsupported(field)
        using = body.get("using")
        if using not in (None, ""):
            raise bad_input(f"Not existing vector name error: {using}")
        if legacy:
            query = required(body, "vector")
            if isinstance(query, dict) and "name" in query and "vector" in query:
                if query["name"] != "":
                    raise bad_input(f"Not existing vector name error: {query['name']}")
                query = query["vector"]
            if "limit" not in body and "top" not in body:
                raise missing_field("limit")
            limit = opt_uint(body, "limit" if "limit" in body else "top", 10, 1, prefix)
        else:
            query = body.get("query")
            if isinstance(query, dict):
                if "nearest" not in query:
                    raise unsupported(f"Query type `{next(iter(query), '')}`")
                if query.get("mmr") is not None:
                    raise unsupported("MMR")
                query = query["nearest"]
            limit = opt_uint(body, "limit", 10, 1, prefix)
        if query is None and not legacy:
            kind, value = "none", None
        elif isinstance(query, list):
            kind, value = "vector", coll.vector_from_json(query)
        elif not legacy and (isinstance(query, str) or
                             (isinstance(query, int) and not isinstance(query, bool))):
            kind, value = "id", parse_point_id(query)
        elif isinstance(query, dict):
            raise unsupported("Sparse vectors and inference objects")
        else:
            raise untagged("VectorStruct" if legacy else "QueryInterface")
        threshold = body.get("score_threshold")
        if threshold is not None:
            if not is_number(threshold):
                raise format_error(f"invalid type: {json_kind(threshold)}, expected f32")
            threshold = to_f32((threshold,))[0]
            if kind == "none":
                raise bad_request("A query is needed to use the score_threshold. "
                                  "Can't have score_threshold without defining a query.")
        return {"kind": kind, "value": value, "limit": limit,
                "offset": opt_uint(body, "offset", 0),
                "filter": compile_filter(body.get("filter")), "threshold": threshold,
                "with_payload": parse_with_payload(body.get("with_payload"), False),
                "with_vector": parse_with_vector(body.get("with_vector"), False)}

    def _run_search(self, coll, plan):
        """Scored points for a plan (caller holds the store lock)."""
        predicate, exclude = plan["filter"], None
        if plan["kind"] == "id":  # query by id: that point's vector, the point itself excluded
            exclude = plan["value"]
            if exclude not in coll.points:
                raise not_found(f"No point with id {exclude} found")
            plan = {**plan, "kind": "vector", "value": coll.points[exclude].vector}
        hits = []
        for pid, point in coll.points.items():
            if pid == exclude or (predicate and not predicate(pid, point.payload)):
                continue
            if plan["kind"] == "none":
                hits.append((1.0, pid, point))
                continue
            score = coll.score(point.vector, plan["value"])
            threshold = plan["threshold"]
            if threshold is not None and not (score > threshold if coll.larger_is_better()
                                              else score < threshold):
                continue
            hits.append((score, pid, point))
        if plan["kind"] == "none":
            hits.sort(key=lambda h: id_order(h[1]))
        else:
            sign = -1 if coll.larger_is_better() else 1
            hits.sort(key=lambda h: (sign * h[0], id_order(h[1])))
        found = []
        for score, pid, point in hits[plan["offset"]:plan["offset"] + plan["limit"]]:
            hit = {"id": pid, "version": 0 if plan["kind"] == "none" else point.version,
                   "score": f32_text((score,))[0]}
            hit.update(self._record(pid, point, plan["with_payload"], plan["with_vector"]))
            found.append(hit)
        return found

    def _searches(self, req, bodies, legacy=False):
        coll = self.collection(req.name)
        plans = [self._parse_search(coll, body, prefix, legacy) for prefix, body in bodies]
        with self.store.cond:
            coll = self.store.get(req.name)
            return [self._run_search(coll, plan) for plan in plans]

    def query(self, req):
        return self.ok(req, {"points": self._searches(req, [("", req.body)])[0]})

    def query_batch(self, req):
        body = expect_object(req.body, "QueryRequestBatch")
        searches = expect(required(body, "searches"), list, "a sequence")
        results = self._searches(req, [(f"searches[{i}].", s) for i, s in enumerate(searches)])
        return self.ok(req, [{"points": points} for points in results])

    def search(self, req):
        return self.ok(req, self._searches(req, [("", req.body)], legacy=True)[0])

    # ---- /__test/ ------------------------------------------------------------

    def test_list_faults(self, req):
        return self.ok(req, {"faults": self.faults.listing()})

    def test_add_faults(self, req):
        body = expect_object(req.body, "Faults")
        self.faults.add(expect(required(body, "faults"), list, "a sequence"))
        return self.ok(req, {"faults": self.faults.listing()})

    def test_clear_faults(self, req):
        self.faults.clear()
        return self.ok(req, True)

    def test_start_outage(self, req):
        seconds = required(expect_object(req.body, "Outage"), "seconds")
        if not is_number(seconds) or seconds < 0:
            raise bad_request("seconds must be a non-negative number")
        self.outage_until = time.monotonic() + seconds
        return self.ok(req, True)

    def test_end_outage(self, req):
        self.outage_until = 0.0
        return self.ok(req, True)

    def test_requests(self, req):
        with self.meta_lock:
            return self.ok(req, list(self.requests))

    def test_clear_requests(self, req):
        self.clear_log()
        return self.ok(req, True)

    def test_stats(self, req):
        with self.meta_lock:
            return self.ok(req, dict(self.stats))

    def test_reset(self, req):
        self.store.reset()
        self.faults.clear()
        self.outage_until = 0.0
        self.clear_log()
        return self.ok(req, True)

    def test_dump(self, req):
        with self.store.cond:
            coll = self.store.get(req.name)
            self.store.flush(coll)
            points = [{"id": pid, "vector": f32_text(coll.points[pid].vector),
                       "payload": coll.points[pid].payload}
                      for pid in sorted(coll.points, key=id_order)]
        return self.ok(req, {"points": points})


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

class BadFraming(Exception):
    """The request body could not be read (bad Content-Length or chunking)."""


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 is too small for a burst of clients

    def __init__(self, address, app):
        super().__init__(address, Handler)
        self.app = app


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def version_string(self):
        return "qdrant-test-server"

    def log_request(self, code="-", size="-"):
        pass  # App.record logs every request

    def log_message(self, fmt, *args):
        self.server.app.log(fmt % args)

    def do_GET(self):
        self.replied = False
        try:
            self.handle_request()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as err:  # a bug here: show it to the client and in the log
            self.server.app.log(f"internal error:\n{traceback.format_exc()}")
            self.close_connection = True
            if not self.replied:
                self.send(500, dumps({"status": {"error": f"Service internal error: {err!r}"},
                                      "time": 0.0}), JSON_TYPE)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def read_body(self, discard):
        """(bytes or None if discarded, size); handles Content-Length and chunked."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(discard)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise BadFraming() from None
        if length < 0:
            raise BadFraming()
        if not discard:
            return self.rfile.read(length), length
        remaining = length
        while remaining:
            got = len(self.rfile.read(min(remaining, 1 << 16)))
            if not got:
                break
            remaining -= got
        return None, length

    def _read_chunked(self, discard):
        parts, total = [], 0
        while True:
            try:
                size = int(self.rfile.readline(1024).split(b";")[0].strip(), 16)
            except ValueError:
                raise BadFraming() from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return (None if discard else b"".join(parts)), total
            data = self.rfile.read(size)
            self.rfile.readline(1024)
            total += len(data)
            if not discard:
                parts.append(data)

    def send(self, status, body=b"", content_type=None, headers=()):
        self.replied = True
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def handle_request(self):
        app = self.server.app
        started = time.monotonic()
        url = urlsplit(self.path)
        path = normalize_path(url.path)
        is_test = path == "/__test" or path.startswith("/__test/")
        entry = {"method": self.command, "path": path, "query": url.query,
                 "ordering": dict(parse_qsl(url.query, keep_blank_values=True)).get("ordering"),
                 "status": None, "body_size": 0, "time": time.time(), "duration_ms": 0.0,
                 "fault": None}
        route = find_route(self.command, path)
        reply, fault = self.produce(app, route, path, url.query, started, is_test, entry)
        if not is_test:  # logged before answering: a client never gets ahead of the log
            entry.update(status=reply[0] if reply else None, fault=fault,
                         duration_ms=(time.monotonic() - started) * 1000)
            app.record(entry, f"{self.command} {route[0] if route else path}")
        if reply:
            self.send(*reply)
            return
        if fault == "hang":
            app.stopped.wait(HANG_SECONDS)
        self.close_connection = True  # outage, drop or hang: no answer at all

    def produce(self, app, route, path, query, started, is_test, entry):
        """(reply or None for no answer, name of the fault applied or None)."""
        if not is_test and time.monotonic() < app.outage_until:
            return None, "outage"
        discard = app.sink and route is not None and route[1] == SINK_ROUTE
        try:
            body, entry["body_size"] = self.read_body(discard)
        except BadFraming:
            self.close_connection = True
            return (400, b"", None, ()), None
        if len(body or b"") > MAX_JSON_BODY and route and route[2]:
            return App.error(ApiError(400, f"JSON payload ({entry['body_size']} bytes) is larger "
                                           f"than allowed (limit: {MAX_JSON_BODY} bytes).",
                                      timed=False), started), None
        action = None if is_test else app.faults.take(self.command, path)
        fault = action["type"] if action else None
        if fault in ("drop", "hang"):
            return None, fault
        if fault == "garbage":
            return (200, b"this is not JSON {", JSON_TYPE, ()), fault
        if fault == "status":
            status = action["status"]
            if "body" in action:
                payload = dumps(action["body"])
            else:
                message = FAULT_MESSAGES.get(status, f"Injected fault (HTTP {status})")
                payload = dumps({"status": {"error": message}, "time": 0.0})
            headers = ()
            if action.get("retry_after") is not None:
                headers = (("Retry-After", str(math.ceil(action["retry_after"]))),)
            return (status, payload, JSON_TYPE, headers), fault
        if fault == "delay":
            app.stopped.wait(action["ms"] / 1000)
        return self.dispatch(app, route, path, query, body, started, is_test), fault

    def dispatch(self, app, route, path, query, body, started, is_test):
        if not is_test:
            denial = app.authorize(path, self.headers)
            if denial:
                return 401, denial.encode(), None, ()
        if route is None:
            return 404, b"", None, ()
        _, handler, takes_json, params = route
        try:
            parsed = None
            if takes_json and body is not None:
                mime = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
                if not is_test and not (mime.split("/")[-1] == "json" or mime.endswith("+json")):
                    raise ApiError(400, "Content type error", timed=False)
                parsed = parse_json(body)
            request = Request(params, dict(parse_qsl(query, keep_blank_values=True)),
                              parsed, started)
            return getattr(app, handler)(request)
        except ApiError as err:
            return App.error(err, started)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Qdrant-compatible HTTP test server")
    parser.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1"],
                        help="address to bind (loopback only)")
    parser.add_argument("--port", type=int, default=6333, help="port; 0 picks a free one")
    parser.add_argument("--api-key", help="require this key (api-key or Authorization: Bearer)")
    parser.add_argument("--port-file", help="write the chosen port here once listening")
    parser.add_argument("--log", help="append a line per request (and events) to this file")
    parser.add_argument("--sink", action="store_true",
                        help="benchmark mode: upserts are read, discarded and acknowledged")
    parser.add_argument("--apply-delay-ms", type=float, default=50.0,
                        help="how long an unwaited update stays pending (default 50)")
    args = parser.parse_args(argv)

    app = App(args.api_key, args.sink, args.apply_delay_ms / 1000, args.log)
    server = Server((args.host, args.port), app)
    port = server.server_address[1]
    if args.port_file:
        temporary = f"{args.port_file}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="ascii") as out:
            out.write(f"{port}\n")
        os.replace(temporary, args.port_file)
    app.log(f"listening on {args.host}:{port}" + (" (sink mode)" if args.sink else ""))

    def stop(signum, frame):
        app.stopped.set()  # wakes hanging and delayed requests
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        app.log("stopped")
        app.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
