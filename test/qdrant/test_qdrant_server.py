#!/usr/bin/env python3
"""Self-test of qdrant_server.py.

Starts the server in subprocesses on ephemeral ports and exercises every
endpoint, the error paths, every fault and the outage switch, API-key
handling, --sink mode, keep-alive and shutdown by signal.

Run: python3 test/qdrant/test_qdrant_server.py
"""

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "qdrant_server.py")
APPLY_DELAY_MS = 300  # long enough that a read right after an unwaited write misses it
UUID = "550e8400-e29b-41d4-a716-446655440000"


class Server:
    """qdrant_server.py in a subprocess, with small HTTP helpers."""

    def __init__(self, *args):
        self.dir = tempfile.TemporaryDirectory()
        port_file = os.path.join(self.dir.name, "port")
        self.log = os.path.join(self.dir.name, "log")
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, "--host", "127.0.0.1", "--port", "0",
             "--port-file", port_file, "--log", self.log, *args])
        deadline = time.monotonic() + 10
        while not os.path.exists(port_file):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        with open(port_file, encoding="ascii") as f:
            self.port = int(f.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.dir.cleanup()

    def connect(self, timeout=5):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def raw(self, method, path, body=None, headers=None, timeout=5):
        """(status, headers, body bytes); body may be a JSON-able object or bytes."""
        headers = dict(headers or {})
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        conn = self.connect(timeout)
        try:
            conn.request(method, path, body, headers)
            response = conn.getresponse()
            return response.status, response, response.read()
        finally:
            conn.close()

    def call(self, method, path, body=None, headers=None):
        """(status, parsed JSON body)."""
        status, _, data = self.raw(method, path, body, headers)
        return status, json.loads(data)

    def ok(self, method, path, body=None):
        status, reply = self.call(method, path, body)
        if status != 200 or reply.get("status") != "ok":
            raise AssertionError(f"{method} {path}: {status} {reply}")
        return reply["result"]


class QdrantApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--apply-delay-ms", str(APPLY_DELAY_MS))

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.s = self.server
        self.s.ok("POST", "/__test/reset")

    def create(self, name="c", size=4, distance="Dot"):
        self.assertIs(self.s.ok("PUT", f"/collections/{name}",
                                {"vectors": {"size": size, "distance": distance}}), True)

    def upsert(self, points, name="c"):
        return self.s.ok("PUT", f"/collections/{name}/points?wait=true", {"points": points})

    def assertError(self, reply, status, message):
        self.assertEqual(reply[0], status, reply)
        self.assertEqual(reply[1]["status"]["error"], message)
        self.assertIn("time", reply[1])

    def query(self, body, name="c"):
        return self.s.ok("POST", f"/collections/{name}/points/query", body)["points"]

    # ---- service --------------------------------------------------------

    def test_root_and_probes(self):
        status, reply = self.s.call("GET", "/")
        self.assertEqual(status, 200)
        self.assertEqual(reply["title"], "qdrant - vector search engine")
        self.assertTrue(reply["version"].startswith("1.19"))
        for path, text in (("/healthz", b"healthz check passed"), ("/livez", b"healthz check passed"),
                           ("/readyz", b"all shards are ready")):
            status, response, body = self.s.raw("GET", path)
            self.assertEqual((status, body), (200, text))
            self.assertTrue(response.getheader("Content-Type").startswith("text/plain"))

    def test_unknown_route_is_empty_404(self):
        for method, path in (("GET", "/nope"), ("POST", "/collections"), ("GET", "/collections/c/index")):
            status, response, body = self.s.raw(method, path)
            self.assertEqual((status, body), (404, b""), (method, path))

    # ---- collections ----------------------------------------------------

    def test_collection_lifecycle(self):
        self.create("c", 4, "Cosine")
        self.assertError(self.s.call("PUT", "/collections/c", {"vectors": {"size": 4, "distance": "Dot"}}),
                         409, "Wrong input: Collection `c` already exists!")
        info = self.s.ok("GET", "/collections/c")
        self.assertEqual(info["status"], "green")
        self.assertEqual(info["points_count"], 0)
        self.assertEqual(info["config"]["params"]["vectors"], {"size": 4, "distance": "Cosine"})
        self.assertEqual(info["payload_schema"], {})
        self.assertEqual(self.s.ok("GET", "/collections"), {"collections": [{"name": "c"}]})
        self.assertEqual(self.s.ok("GET", "/collections/c/exists"), {"exists": True})
        self.assertEqual(self.s.ok("GET", "/collections/x/exists"), {"exists": False})
        self.assertIs(self.s.ok("PATCH", "/collections/c", {"optimizers_config": {}}), True)
        self.assertIs(self.s.ok("DELETE", "/collections/c"), True)
        self.assertIs(self.s.ok("DELETE", "/collections/c"), False)
        missing = "Not found: Collection `c` doesn't exist!"
        self.assertError(self.s.call("GET", "/collections/c"), 404, missing)
        self.assertError(self.s.call("PATCH", "/collections/c", {}), 404, missing)
        self.assertError(self.s.call("POST", "/collections/c/points/scroll", {}), 404, missing)
        self.assertError(self.s.call("PUT", "/collections/c/points", {"points": []}), 404, missing)

    def test_create_collection_errors(self):
        self.assertError(self.s.call("PUT", "/collections/c", {"vectors": {"size": 0, "distance": "Dot"}}),
                         422, "Validation error in JSON body: "
                              "[vectors.size: value 0 invalid, must be from 1 to 65536]")
        self.assertError(self.s.call("PUT", "/collections/c", {"vectors": {"size": 4, "distance": "Bogus"}}),
                         400, "Format error in JSON body: "
                              "data did not match any variant of untagged enum VectorsConfig")
        status, reply = self.s.call("PUT", "/collections/c", b'{"vectors": ',
                                    {"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        self.assertTrue(reply["status"]["error"].startswith("Format error in JSON body: "), reply)
        self.assertEqual(reply["time"], 0.0)
        self.assertError(self.s.call("PUT", "/collections/c", b"", {"Content-Type": "application/json"}),
                         400, "Format error in JSON body: EOF while parsing a value at line 1 column 0")
        self.assertError(self.s.call("PUT", "/collections/c", b'{"vectors": {"size": 4, "distance": "Dot"}}'),
                         400, "Content type error")
        for distance in ("Cosine", "Dot", "Euclid", "Manhattan"):
            self.create(distance.lower(), 2, distance)

    # ---- collection parameters --------------------------------------------

    def test_collection_params_at_create(self):
        self.create("plain")
        params = self.s.ok("GET", "/collections/plain")["config"]["params"]
        self.assertEqual(params, {"vectors": {"size": 4, "distance": "Dot"}, "shard_number": 1,
                                  "replication_factor": 1, "write_consistency_factor": 1,
                                  "on_disk_payload": True})
        self.assertIs(self.s.ok("PUT", "/collections/c", {
            "vectors": {"size": 4, "distance": "Cosine"}, "shard_number": 3,
            "replication_factor": 2, "write_consistency_factor": 2, "on_disk_payload": False,
            "sharding_method": "auto", "hnsw_config": {"m": 32, "ef_construct": 200},
            "optimizers_config": {"indexing_threshold": 0, "max_optimization_threads": "auto"},
            "wal_config": {"wal_capacity_mb": 64}}), True)
        config = self.s.ok("GET", "/collections/c")["config"]
        self.assertEqual(config["params"], {"vectors": {"size": 4, "distance": "Cosine"},
                                            "shard_number": 3, "sharding_method": "auto",
                                            "replication_factor": 2, "write_consistency_factor": 2,
                                            "on_disk_payload": False})
        self.assertEqual((config["hnsw_config"]["m"], config["hnsw_config"]["ef_construct"],
                          config["hnsw_config"]["full_scan_threshold"]), (32, 200, 10000))
        self.assertEqual(config["optimizer_config"]["indexing_threshold"], 0)
        self.assertIsNone(config["optimizer_config"]["max_optimization_threads"])
        self.assertEqual(config["wal_config"]["wal_capacity_mb"], 64)
        # null means "the default", as in Qdrant
        self.assertIs(self.s.ok("PUT", "/collections/n", {"vectors": {"size": 4, "distance": "Dot"},
                                                          "shard_number": None}), True)
        self.assertEqual(self.s.ok("GET", "/collections/n")["config"]["params"]["shard_number"], 1)

    def test_collection_params_errors(self):
        def create(**extra):
            return self.s.call("PUT", "/collections/e",
                               {"vectors": {"size": 4, "distance": "Dot"}, **extra})

        for field in ("shard_number", "replication_factor", "write_consistency_factor"):
            self.assertError(create(**{field: 0}), 422, "Validation error in JSON body: "
                             f"[{field}: value 0 invalid, must be 1 or larger]")
            self.assertError(create(**{field: -1}), 400,
                             "Format error in JSON body: invalid value: integer `-1`, expected u32")
            self.assertError(create(**{field: "2"}), 400,
                             'Format error in JSON body: invalid type: string "2", expected u32')
        self.assertError(create(shard_number=1 << 32), 400, "Format error in JSON body: "
                         "invalid value: integer `4294967296`, expected u32")
        self.assertError(create(on_disk_payload="yes"), 400,
                         'Format error in JSON body: invalid type: string "yes", expected a boolean')
        self.assertError(create(hnsw_config={"ef_construct": 2}), 422, "Validation error in JSON "
                         "body: [hnsw_config.ef_construct: value 2 invalid, must be 4 or larger]")
        self.assertError(create(optimizers_config={"deleted_threshold": 1.5}), 422,
                         "Validation error in JSON body: [optimizers_config.deleted_threshold: "
                         "value 1.5 invalid, must be from 0 to 1]")
        self.assertError(create(wal_config={"wal_capacity_mb": 0}), 422, "Validation error in JSON "
                         "body: [wal_config.wal_capacity_mb: value 0 invalid, must be 1 or larger]")
        self.assertError(create(optimizers_config={"max_optimization_threads": "many"}), 400,
                         "Format error in JSON body: "
                         "data did not match any variant of untagged enum MaxOptimizationThreads")
        self.assertError(create(hnsw_config=1), 400, "Format error in JSON body: "
                         "invalid type: integer `1`, expected struct HnswConfigDiff")
        self.assertError(create(sharding_method="hash"), 400, "Format error in JSON body: "
                         "unknown variant `hash`, expected `auto` or `custom`")
        self.assertError(create(sharding_method="custom"), 400,
                         "Wrong input: Custom sharding is not supported by the Qdrant test server")
        # serde reads the whole body before the validator runs
        self.assertError(create(shard_number=0, on_disk_payload=1), 400, "Format error in JSON "
                         "body: invalid type: integer `1`, expected a boolean")
        self.assertFalse(self.s.ok("GET", "/collections/e/exists")["exists"])

    def test_update_collection_params(self):
        self.create("c", 4, "Dot")
        self.assertIs(self.s.ok("PATCH", "/collections/c", {"params": {
            "replication_factor": 3, "write_consistency_factor": 2, "read_fan_out_factor": 1,
            "on_disk_payload": False}}), True)
        self.assertIs(self.s.ok("PATCH", "/collections/c", {
            "params": {"replication_factor": None}, "hnsw_config": {"m": 8},
            "optimizers_config": {"indexing_threshold": 500}, "quantization_config": None}), True)
        config = self.s.ok("GET", "/collections/c")["config"]
        self.assertEqual(config["params"], {"vectors": {"size": 4, "distance": "Dot"},
                                            "shard_number": 1, "replication_factor": 3,
                                            "write_consistency_factor": 2, "read_fan_out_factor": 1,
                                            "on_disk_payload": False})
        self.assertEqual(config["hnsw_config"]["m"], 8)
        self.assertEqual(config["optimizer_config"]["indexing_threshold"], 500)
        for field in ("replication_factor", "write_consistency_factor"):
            # NonZeroU32 in CollectionParamsDiff: a format error, not a validation error
            self.assertError(self.s.call("PATCH", "/collections/c", {"params": {field: 0}}), 400,
                             "Format error in JSON body: "
                             "invalid value: integer `0`, expected a nonzero u32")
        self.assertError(self.s.call("PATCH", "/collections/c", {"params": {"read_fan_out_factor": -1}}),
                         400, "Format error in JSON body: invalid value: integer `-1`, expected u32")
        self.assertError(self.s.call("PATCH", "/collections/c", {"params": []}), 400,
                         "Format error in JSON body: "
                         "invalid type: a sequence, expected struct CollectionParamsDiff")
        self.assertError(self.s.call("PATCH", "/collections/c", {"hnsw_config": {"full_scan_threshold": 5}}),
                         422, "Validation error in JSON body: "
                              "[hnsw_config.full_scan_threshold: value 5 invalid, must be 10 or larger]")
        self.assertEqual(self.s.ok("GET", "/collections/c")["config"]["params"]["replication_factor"], 3)
        # the body is checked before the collection is looked up
        self.assertError(self.s.call("PATCH", "/collections/x", {"params": {"replication_factor": 0}}),
                         400, "Format error in JSON body: "
                              "invalid value: integer `0`, expected a nonzero u32")
        self.assertError(self.s.call("PATCH", "/collections/x", {"params": {"replication_factor": 2}}),
                         404, "Not found: Collection `x` doesn't exist!")

    # ---- aliases ----------------------------------------------------------

    def aliases(self, *actions):
        return self.s.call("POST", "/collections/aliases", {"actions": list(actions)})

    def test_aliases_list_rename_delete_and_switch(self):
        self.create("c1")
        self.create("c2")
        self.assertIs(self.s.ok("POST", "/collections/aliases", {"actions": [
            {"create_alias": {"collection_name": "c1", "alias_name": "a"}},
            {"create_alias": {"collection_name": "c1", "alias_name": "b"}},
            {"create_alias": {"collection_name": "c2", "alias_name": "z"}}]}), True)
        self.assertEqual(self.s.ok("GET", "/aliases"), {"aliases": [
            {"alias_name": "a", "collection_name": "c1"}, {"alias_name": "b", "collection_name": "c1"},
            {"alias_name": "z", "collection_name": "c2"}]})
        self.assertEqual(self.s.ok("GET", "/collections/c2/aliases"),
                         {"aliases": [{"alias_name": "z", "collection_name": "c2"}]})
        # like Qdrant: the name is taken as it is, a missing collection is no error
        self.assertEqual(self.s.ok("GET", "/collections/a/aliases"), {"aliases": []})
        self.assertEqual(self.s.ok("GET", "/collections/none/aliases"), {"aliases": []})
        # switch an alias to another collection in one request (the re-embedding pattern)
        self.assertIs(self.aliases({"delete_alias": {"alias_name": "a"}},
                                   {"create_alias": {"collection_name": "c2", "alias_name": "a"}})[1]
                      ["result"], True)
        self.assertEqual(self.s.ok("GET", "/collections/c2/aliases")["aliases"],
                         [{"alias_name": "z", "collection_name": "c2"},
                          {"alias_name": "a", "collection_name": "c2"}])
        # create_alias over an existing alias repoints it, without error
        self.assertEqual(self.aliases({"create_alias": {"collection_name": "c1", "alias_name": "z"}})[0], 200)
        self.assertEqual(self.s.ok("GET", "/collections/c1/aliases")["aliases"],
                         [{"alias_name": "b", "collection_name": "c1"},
                          {"alias_name": "z", "collection_name": "c1"}])
        self.assertEqual(self.aliases({"rename_alias": {"old_alias_name": "b", "new_alias_name": "bb"}})[0], 200)
        # deleting a missing alias is no error
        self.assertEqual(self.aliases({"delete_alias": {"alias_name": "z"}},
                                      {"delete_alias": {"alias_name": "never"}})[0], 200)
        self.assertEqual(self.s.ok("GET", "/aliases"), {"aliases": [
            {"alias_name": "bb", "collection_name": "c1"}, {"alias_name": "a", "collection_name": "c2"}]})
        self.assertIs(self.s.ok("POST", "/collections/aliases", {"actions": []}), True)

    def test_alias_errors(self):
        self.create("c")
        self.assertError(self.aliases({"create_alias": {"collection_name": "x", "alias_name": "a"}}),
                         404, "Not found: Collection `x` doesn't exist!")
        self.assertError(self.aliases({"create_alias": {"collection_name": "c", "alias_name": "c"}}),
                         409, "Wrong input: Collection `c` already exists!")
        self.assertError(self.aliases({"rename_alias": {"old_alias_name": "a", "new_alias_name": "b"}}),
                         404, "Not found: Alias a does not exists!")
        self.assertError(self.aliases({"create_alias": {"collection_name": "c", "alias_name": "a"}},
                                      {"create_alias": {"collection_name": "a", "alias_name": "b"}}),
                         404, "Not found: Collection `a` doesn't exist!")  # no alias of an alias
        # as in Qdrant, the actions before the failing one stay applied
        self.assertEqual(self.s.ok("GET", "/aliases"),
                         {"aliases": [{"alias_name": "a", "collection_name": "c"}]})
        self.assertError(self.s.call("PUT", "/collections/a", {"vectors": {"size": 4, "distance": "Dot"}}),
                         400, "Wrong input: Can't create collection with name a. "
                              "Alias with the same name already exists")
        self.assertError(self.s.call("POST", "/collections/aliases", {}), 400,
                         "Format error in JSON body: missing field `actions`")
        self.assertError(self.s.call("POST", "/collections/aliases", {"actions": {}}), 400,
                         "Format error in JSON body: invalid type: a map, expected a sequence")
        for bad in ({"create_alias": {"collection_name": "c"}}, {"drop_alias": {"alias_name": "a"}},
                    {"delete_alias": {"alias_name": 1}}, "a"):
            self.assertError(self.aliases({"delete_alias": {"alias_name": "a"}}, bad), 400,
                             "Format error in JSON body: "
                             "data did not match any variant of untagged enum AliasOperations")
        self.assertEqual(len(self.s.ok("GET", "/aliases")["aliases"]), 1)  # nothing was applied

    def test_alias_resolves_on_collection_endpoints(self):
        self.create("real")
        self.assertEqual(self.aliases({"create_alias": {"collection_name": "real", "alias_name": "al"}})[0], 200)
        self.assertEqual(self.upsert([{"id": 1, "vector": [1, 0, 0, 0], "payload": {"k": "a"}},
                                      {"id": 2, "vector": [0, 1, 0, 0], "payload": {"k": "b"}}], "al"),
                         {"operation_id": 0, "status": "completed"})
        self.assertEqual(self.s.ok("GET", "/collections/al")["points_count"], 2)
        self.assertEqual(self.s.ok("GET", "/collections/al/exists"), {"exists": True})
        self.assertEqual(self.s.ok("POST", "/collections/al/points", {"ids": [1]}),
                         [{"id": 1, "payload": {"k": "a"}}])
        self.assertEqual(self.s.ok("GET", "/collections/al/points/2")["id"], 2)
        self.assertEqual(self.s.ok("POST", "/collections/al/points/count", {}), {"count": 2})
        self.assertEqual([p["id"] for p in self.s.ok("POST", "/collections/al/points/scroll", {})["points"]],
                         [1, 2])
        self.assertEqual([p["id"] for p in self.query({"query": [0, 1, 0, 0], "limit": 1}, "al")], [2])
        self.s.ok("POST", "/collections/al/points/payload?wait=true", {"payload": {"x": 1}, "points": [1]})
        self.s.ok("PUT", "/collections/al/index?wait=true", {"field_name": "k", "field_schema": "keyword"})
        self.assertEqual(list(self.s.ok("GET", "/collections/real")["payload_schema"]), ["k"])
        self.s.ok("DELETE", "/collections/al/index/k?wait=true")
        self.s.ok("POST", "/collections/al/points/delete?wait=true", {"points": [2]})
        self.assertIs(self.s.ok("PATCH", "/collections/al", {"params": {"replication_factor": 2}}), True)
        self.assertEqual(self.s.ok("GET", "/collections/real")["config"]["params"]["replication_factor"], 2)
        self.assertEqual(self.s.ok("GET", "/collections/al/cluster")["shard_count"], 1)
        self.assertEqual(self.s.ok("GET", "/__test/dump/real"),
                         {"points": [{"id": 1, "vector": [1.0, 0.0, 0.0, 0.0], "payload": {"k": "a", "x": 1}}]})
        # the collections list shows collections only
        self.assertEqual(self.s.ok("GET", "/collections"), {"collections": [{"name": "real"}]})

    def test_delete_collection_and_aliases(self):
        self.create("c")
        self.create("d")
        self.aliases({"create_alias": {"collection_name": "c", "alias_name": "a"}},
                     {"create_alias": {"collection_name": "d", "alias_name": "keep"}})
        # DELETE takes the name literally: through an alias nothing is deleted
        self.assertIs(self.s.ok("DELETE", "/collections/a"), False)
        self.assertEqual(self.s.ok("GET", "/collections/a/exists"), {"exists": True})
        self.assertIs(self.s.ok("DELETE", "/collections/c"), True)
        self.assertEqual(self.s.ok("GET", "/aliases"),
                         {"aliases": [{"alias_name": "keep", "collection_name": "d"}]})
        self.assertEqual(self.s.ok("GET", "/collections/a/exists"), {"exists": False})
        self.assertError(self.s.call("POST", "/collections/a/points/count", {}), 404,
                         "Not found: Collection `a` doesn't exist!")
        # the name is free again for a collection
        self.create("a")
        self.assertIs(self.s.ok("POST", "/__test/reset"), True)
        self.assertEqual(self.s.ok("GET", "/aliases"), {"aliases": []})

    # ---- cluster ------------------------------------------------------------

    def test_cluster_status_and_collection_cluster_info(self):
        self.assertEqual(self.s.ok("GET", "/cluster"), {"status": "disabled"})
        self.assertIs(self.s.ok("PUT", "/collections/c", {"vectors": {"size": 2, "distance": "Dot"},
                                                          "shard_number": 3, "replication_factor": 2}), True)
        self.upsert([{"id": i, "vector": [1, 0]} for i in range(10)] + [{"id": UUID, "vector": [0, 1]}])
        info = self.s.ok("GET", "/collections/c/cluster")
        self.assertEqual(set(info), {"peer_id", "shard_count", "local_shards", "remote_shards",
                                     "shard_transfers"})
        self.assertIsInstance(info["peer_id"], int)
        self.assertTrue(0 <= info["peer_id"] < 1 << 64)
        self.assertEqual(info["shard_count"], 3)
        self.assertEqual([(s["shard_id"], s["state"]) for s in info["local_shards"]],
                         [(0, "Active"), (1, "Active"), (2, "Active")])
        self.assertEqual(sum(s["points_count"] for s in info["local_shards"]), 11)
        self.assertEqual((info["remote_shards"], info["shard_transfers"]), ([], []))
        self.create("d")
        other = self.s.ok("GET", "/collections/d/cluster")
        self.assertEqual(other["peer_id"], info["peer_id"])  # one node
        self.assertEqual(other["local_shards"], [{"shard_id": 0, "points_count": 0, "state": "Active"}])
        self.assertError(self.s.call("GET", "/collections/x/cluster"), 404,
                         "Not found: Collection `x` doesn't exist!")

    # ---- write ordering -----------------------------------------------------

    def test_write_ordering(self):
        self.create()
        point = {"points": [{"id": 1, "vector": [1, 0, 0, 0], "payload": {"a": 1}}]}
        self.s.ok("DELETE", "/__test/requests")
        for ordering in ("weak", "medium", "strong"):
            self.assertEqual(self.s.ok("PUT", f"/collections/c/points?wait=true&ordering={ordering}",
                                       point)["status"], "completed")
        # ordering does not change wait semantics
        self.assertEqual(self.s.ok("PUT", "/collections/c/points?ordering=strong", point)["status"],
                         "acknowledged")
        self.s.ok("PUT", "/collections/c/points?wait=true", point)
        bad = "Deserialize error in query parameters: " \
              "unknown variant `{}`, expected one of `weak`, `medium`, `strong`"
        for method, path, body in (("PUT", "/collections/c/points", point),
                                   ("POST", "/collections/c/points/delete", {"points": [1]}),
                                   ("POST", "/collections/c/points/payload", {"payload": {}, "points": [1]}),
                                   ("PUT", "/collections/c/points/payload", {"payload": {}, "points": [1]}),
                                   ("POST", "/collections/c/points/payload/delete", {"keys": ["a"], "points": [1]}),
                                   ("POST", "/collections/c/points/payload/clear", {"points": [1]}),
                                   ("PUT", "/collections/c/index", {"field_name": "a", "field_schema": "integer"}),
                                   ("DELETE", "/collections/c/index/a", None)):
            for value in ("Strong", "", "all"):
                self.assertError(self.s.call(method, f"{path}?wait=true&ordering={value}", body),
                                 400, bad.format(value))
        log = self.s.ok("GET", "/__test/requests")
        self.assertEqual([e["ordering"] for e in log[:5]], ["weak", "medium", "strong", "strong", None])
        self.assertEqual(log[5]["ordering"], "Strong")
        self.assertEqual(log[5]["status"], 400)
        self.assertEqual(self.s.ok("POST", "/collections/c/points", {"ids": [1]})[0]["payload"], {"a": 1})

    # ---- points ---------------------------------------------------------

    def test_upsert_retrieve_and_get(self):
        self.create()
        result = self.upsert([{"id": 1, "vector": [1, 2, 3, 4], "payload": {"a": 1}},
                              {"id": UUID.upper(), "vector": [0.5, 0, 0, 0]}])
        self.assertEqual(result, {"operation_id": 0, "status": "completed"})
        batch = {"batch": {"ids": [2, 3], "vectors": [[0, 0, 0, 1], [0, 0, 1, 0]],
                           "payloads": [{"b": True}, None]}}
        self.assertEqual(self.s.ok("PUT", "/collections/c/points?wait=true", batch)["operation_id"], 1)
        self.assertEqual(self.s.ok("GET", "/collections/c")["points_count"], 4)
        self.assertEqual(self.s.ok("GET", "/collections/c/points/1"),
                         {"id": 1, "payload": {"a": 1}, "vector": [1.0, 2.0, 3.0, 4.0]})
        self.assertEqual(self.s.ok("GET", f"/collections/c/points/{UUID}")["id"], UUID)
        records = self.s.ok("POST", "/collections/c/points", {"ids": [3, 99, 2, UUID]})
        self.assertEqual(records, [{"id": 3, "payload": {}}, {"id": 2, "payload": {"b": True}},
                                   {"id": UUID, "payload": {}}])
        records = self.s.ok("POST", "/collections/c/points",
                            {"ids": [1], "with_payload": False, "with_vector": True})
        self.assertEqual(records, [{"id": 1, "vector": [1.0, 2.0, 3.0, 4.0]}])
        self.assertError(self.s.call("GET", "/collections/c/points/9"), 404,
                         "Not found: Point with id 9 does not exists!")
        self.assertError(self.s.call("GET", "/collections/c/points/nope"), 400,
                         'Wrong input: Can not recognize "nope" as point id')
        self.assertError(self.s.call("POST", "/collections/c/points", {}), 400,
                         "Format error in JSON body: missing field `ids`")

    def test_upsert_errors(self):
        self.create()
        self.assertError(self.s.call("PUT", "/collections/c/points?wait=true",
                                     {"points": [{"id": 1, "vector": [1, 2, 3]}]}),
                         400, "Wrong input: Vector dimension error: expected dim: 4, got 3")
        for bad_id in ("not-a-uuid", -1):
            self.assertError(self.s.call("PUT", "/collections/c/points",
                                         {"points": [{"id": bad_id, "vector": [1, 2, 3, 4]}]}),
                             400, f"Format error in JSON body: value {bad_id} is not a valid point ID, "
                                  "valid values are either an unsigned integer or a UUID")
        self.assertError(self.s.call("PUT", "/collections/c/points", {"points": [{"id": 1}]}),
                         400, "Format error in JSON body: missing field `vector`")
        self.assertError(self.s.call("PUT", "/collections/c/points", {"ids": [1]}), 400,
                         "Format error in JSON body: "
                         "data did not match any variant of untagged enum PointInsertOperations")
        self.assertError(self.s.call("PUT", "/collections/c/points",
                                     {"batch": {"ids": [1, 2], "vectors": [[1, 2, 3, 4]]}}),
                         422, "Validation error in JSON body: "
                              "[batch: number of ids and vectors must be equal (2 != 1)]")
        self.assertError(self.s.call("PUT", "/collections/c/points?wait=maybe", {"points": []}),
                         400, "Deserialize error in query parameters: "
                              "provided string was not `true` or `false`")
        self.assertError(self.s.call("PUT", "/collections/c/points?ordering=fast", {"points": []}),
                         400, "Deserialize error in query parameters: unknown variant `fast`, "
                              "expected one of `weak`, `medium`, `strong`")
        self.assertEqual(self.s.ok("PUT", "/collections/c/points?wait=true&ordering=strong",
                                   {"points": []})["status"], "completed")

    def test_update_mode_and_update_filter(self):
        self.create()
        self.upsert([{"id": 1, "vector": [1, 0, 0, 0], "payload": {"v": 1}}])
        body = {"points": [{"id": 1, "vector": [0, 1, 0, 0], "payload": {"v": 2}},
                           {"id": 2, "vector": [0, 1, 0, 0], "payload": {"v": 2}}]}
        self.s.ok("PUT", "/collections/c/points?wait=true", {**body, "update_mode": "insert_only"})
        self.assertEqual(self.s.ok("GET", "/collections/c/points/1")["payload"], {"v": 1})
        self.s.ok("DELETE", "/collections/c")
        self.create()
        self.upsert([{"id": 1, "vector": [1, 0, 0, 0], "payload": {"v": 1}}])
        self.s.ok("PUT", "/collections/c/points?wait=true", {**body, "update_mode": "update_only"})
        self.assertEqual(self.s.ok("GET", "/collections/c/points/1")["payload"], {"v": 2})
        self.assertEqual(self.s.ok("GET", "/collections/c")["points_count"], 1)
        stale = {"points": [{"id": 1, "vector": [1, 0, 0, 0], "payload": {"v": 0}}],
                 "update_filter": {"must": [{"key": "v", "range": {"lt": 2}}]}}
        self.s.ok("PUT", "/collections/c/points?wait=true", stale)
        self.assertEqual(self.s.ok("GET", "/collections/c/points/1")["payload"], {"v": 2})

    def test_delete_points(self):
        self.create()
        self.upsert([{"id": i, "vector": [i, 0, 0, 0], "payload": {"k": i % 2}} for i in range(1, 7)])
        result = self.s.ok("POST", "/collections/c/points/delete?wait=true", {"points": [1, 2, 42]})
        self.assertEqual(result["status"], "completed")
        self.s.ok("POST", "/collections/c/points/delete?wait=true",
                  {"filter": {"must": [{"key": "k", "match": {"value": 1}}]}})
        self.assertEqual([p["id"] for p in self.s.ok("POST", "/collections/c/points/scroll", {})["points"]],
                         [4, 6])
        self.assertError(self.s.call("POST", "/collections/c/points/delete", {"ids": [4]}), 400,
                         "Format error in JSON body: "
                         "data did not match any variant of untagged enum PointsSelector")

    def test_payload_operations(self):
        self.create()
        self.upsert([{"id": 1, "vector": [1, 0, 0, 0], "payload": {"a": 1, "o": {"x": 1}}},
                     {"id": 2, "vector": [0, 1, 0, 0], "payload": {"a": 2}}])
        path = "/collections/c/points/payload"
        self.s.ok("POST", path + "?wait=true", {"payload": {"b": 2}, "points": [1]})
        self.s.ok("POST", path + "?wait=true", {"payload": {"y": 2}, "points": [1], "key": "o"})
        self.assertEqual(self.s.ok("GET", "/collections/c/points/1")["payload"],
                         {"a": 1, "o": {"x": 1, "y": 2}, "b": 2})
        self.s.ok("POST", path + "?wait=true",
                  {"payload": {"seen": True}, "filter": {"must": [{"key": "a", "match": {"value": 2}}]}})
        self.assertEqual(self.s.ok("GET", "/collections/c/points/2")["payload"], {"a": 2, "seen": True})
        self.s.ok("PUT", path + "?wait=true", {"payload": {"only": 1}, "points": [1]})
        self.assertEqual(self.s.ok("GET", "/collections/c/points/1")["payload"], {"only": 1})
        self.s.ok("POST", path + "/delete?wait=true", {"keys": ["seen"], "points": [2]})
        self.assertEqual(self.s.ok("GET", "/collections/c/points/2")["payload"], {"a": 2})
        self.s.ok("POST", path + "/clear?wait=true", {"points": [1, 2]})
        self.assertEqual(self.s.ok("GET", "/collections/c/points/2")["payload"], {})
        version = self.s.ok("GET", "/collections/c")
        self.assertEqual(version["points_count"], 2)
        self.assertError(self.s.call("POST", path + "?wait=true", {"payload": {"a": 1}, "points": [5]}),
                         404, "Not found: No point with id 5 found")
        self.assertError(self.s.call("POST", path, {"payload": {"a": 1}}), 400,
                         "Format error in JSON body: Either list of point ids or filter must be provided")
        self.assertError(self.s.call("POST", path + "/delete", {"points": [1]}), 400,
                         "Format error in JSON body: missing field `keys`")
        # an unwaited failing update is acknowledged, then only logged
        self.assertEqual(self.s.ok("POST", path, {"payload": {"a": 1}, "points": [5]})["status"],
                         "acknowledged")

    def test_payload_indexes(self):
        self.create()
        self.upsert([{"id": 1, "vector": [1, 0, 0, 0], "payload": {"k": "x", "n": 1}},
                     {"id": 2, "vector": [0, 1, 0, 0], "payload": {"k": "y"}}])
        result = self.s.ok("PUT", "/collections/c/index?wait=true",
                           {"field_name": "k", "field_schema": "keyword"})
        self.assertEqual(result["status"], "completed")
        self.s.ok("PUT", "/collections/c/index?wait=true",
                  {"field_name": "n", "field_schema": {"type": "integer", "range": True}})
        schema = self.s.ok("GET", "/collections/c")["payload_schema"]
        self.assertEqual(schema["k"], {"data_type": "keyword", "points": 2})
        self.assertEqual(schema["n"]["data_type"], "integer")
        self.assertEqual(schema["n"]["points"], 1)
        result = self.s.ok("DELETE", "/collections/c/index/k?wait=true")
        self.assertEqual(result["status"], "completed")
        self.assertEqual(list(self.s.ok("GET", "/collections/c")["payload_schema"]), ["n"])
        self.assertError(self.s.call("PUT", "/collections/c/index", {"field_name": "z"}), 400,
                         "Bad request: Can't auto-detect field type, "
                         "please specify `field_schema` in the request")
        self.assertError(self.s.call("PUT", "/collections/c/index",
                                     {"field_name": "z", "field_schema": "blob"}), 400,
                         "Format error in JSON body: "
                         "data did not match any variant of untagged enum PayloadFieldSchema")

    def test_scroll_and_count(self):
        self.create()
        self.upsert([{"id": i, "vector": [1, 0, 0, 0], "payload": {"n": i}} for i in (5, 3, 1, 4, 2)]
                    + [{"id": UUID, "vector": [1, 0, 0, 0], "payload": {"n": 0}}])
        page = self.s.ok("POST", "/collections/c/points/scroll", {"limit": 2})
        self.assertEqual([p["id"] for p in page["points"]], [1, 2])
        self.assertEqual(page["points"][0], {"id": 1, "payload": {"n": 1}})
        self.assertEqual(page["next_page_offset"], 3)
        page = self.s.ok("POST", "/collections/c/points/scroll",
                         {"limit": 10, "offset": 3, "with_payload": False, "with_vector": True})
        self.assertEqual([p["id"] for p in page["points"]], [3, 4, 5, UUID])
        self.assertEqual(page["points"][0], {"id": 3, "vector": [1.0, 0.0, 0.0, 0.0]})
        self.assertIsNone(page["next_page_offset"])
        page = self.s.ok("POST", "/collections/c/points/scroll",
                         {"filter": {"must": [{"key": "n", "range": {"gte": 2}}]}, "limit": 2,
                          "with_payload": ["n"]})
        self.assertEqual([p["id"] for p in page["points"]], [2, 3])
        self.assertEqual(page["next_page_offset"], 4)
        self.assertEqual(self.s.ok("POST", "/collections/c/points/count", {})["count"], 6)
        self.assertEqual(self.s.ok("POST", "/collections/c/points/count",
                                   {"filter": {"must_not": [{"has_id": [1, UUID]}]}, "exact": True}),
                         {"count": 4})
        self.assertError(self.s.call("POST", "/collections/c/points/scroll", {"limit": 0}), 422,
                         "Validation error in JSON body: [limit: value 0 invalid, must be 1 or larger]")

    def test_filters(self):
        self.create()
        payloads = {
            1: {"city": "Berlin", "tags": ["a", "b"], "n": 1, "flag": True,
                "when": "2024-03-01T12:00:00+02:00", "geo": {"country": "DE"},
                "items": [{"sku": "x", "qty": 1}, {"sku": "y", "qty": 5}], "text": "hello world"},
            2: {"city": ["London", "Berlin"], "n": 2.5, "flag": False, "when": "2024-03-01T11:00:00Z",
                "items": [{"sku": "x", "qty": 5}], "empty": [], "nothing": None},
            3: {"city": "Moscow", "n": 3, "tags": [], "when": "2024-02-01"},
            4: {},
        }
        self.upsert([{"id": i, "vector": [1, 0, 0, 0], "payload": p} for i, p in payloads.items()])

        def ids(flt):
            points = self.s.ok("POST", "/collections/c/points/scroll", {"filter": flt})["points"]
            return [p["id"] for p in points]

        m = lambda key, **match: {"key": key, "match": match}  # noqa: E731
        self.assertEqual(ids({"must": [m("city", value="Berlin")]}), [1, 2])
        self.assertEqual(ids({"must": m("city", value="Berlin")}), [1, 2])
        self.assertEqual(ids({"should": [m("city", value="Moscow"), m("tags", value="b")]}), [1, 3])
        self.assertEqual(ids({"must_not": [m("city", value="Berlin")]}), [3, 4])
        self.assertEqual(ids({"must": [m("n", value=1)]}), [1])
        self.assertEqual(ids({"must": [m("flag", value=False)]}), [2])
        self.assertEqual(ids({"must": [m("city", any=["Moscow", "London"])]}), [2, 3])
        self.assertEqual(ids({"must": [m("n", any=[1, 3])]}), [1, 3])
        self.assertEqual(ids({"must": [m("city", **{"except": ["Berlin"]})]}), [2, 3])
        self.assertEqual(ids({"must": [m("text", text="lo wo")]}), [1])
        self.assertEqual(ids({"must": [m("geo.country", value="DE")]}), [1])
        self.assertEqual(ids({"must": [m("items[].sku", value="y")]}), [1])
        self.assertEqual(ids({"must": [{"key": "n", "range": {"gt": 1, "lte": 3}}]}), [2, 3])
        self.assertEqual(ids({"must": [{"key": "when", "range": {"gte": "2024-03-01T10:30:00Z"}}]}), [2])
        self.assertEqual(ids({"must": [{"key": "when", "range": {"lt": "2024-03-01T10:30:00+00:00"}}]}),
                         [1, 3])
        self.assertEqual(ids({"must": [{"has_id": [2, 4, 9]}]}), [2, 4])
        self.assertEqual(ids({"must": [{"is_empty": {"key": "tags"}}]}), [2, 3, 4])
        self.assertEqual(ids({"must": [{"is_empty": {"key": "empty"}}, {"is_null": {"key": "nothing"}}]}), [2])
        self.assertEqual(ids({"must": [{"key": "tags", "values_count": {"gte": 2}}]}), [1])
        self.assertEqual(ids({"min_should": {"conditions": [m("city", value="Berlin"), m("n", value=1),
                                                            m("flag", value=True)], "min_count": 2}}), [1])
        self.assertEqual(ids({"must": [{"nested": {"key": "items", "filter": {
            "must": [m("sku", value="x"), {"key": "qty", "range": {"gte": 5}}]}}}]}), [2])
        self.assertEqual(ids({"must": [{"should": [m("n", value=3), {"has_id": [4]}]}]}), [3, 4])
        self.assertEqual(ids({"should": []}), [])
        self.assertError(self.s.call("POST", "/collections/c/points/scroll", {"filter": {"must": [{"foo": 1}]}}),
                         400, "Format error in JSON body: "
                              "data did not match any variant of untagged enum Condition")

    # ---- search ---------------------------------------------------------

    def test_cosine_is_normalised(self):
        self.create("cos", 2, "Cosine")
        self.upsert([{"id": 1, "vector": [3, 4]}, {"id": 2, "vector": [0, 2]}], "cos")
        self.assertEqual(self.s.ok("GET", "/collections/cos/points/1")["vector"], [0.6, 0.8])
        hits = self.query({"query": [0, 10]}, "cos")
        self.assertEqual([(h["id"], h["score"]) for h in hits], [(2, 1.0), (1, 0.8)])
        self.assertEqual(hits[0], {"id": 2, "version": 0, "score": 1.0})

    def test_scores_and_ordering_per_distance(self):
        vectors = {1: [1, 0], 2: [0, 2], 3: [2, 2], 4: [0, 2]}
        expected = {"Dot": [(3, 2.0), (1, 1.0), (2, 0.0), (4, 0.0)],
                    "Euclid": [(1, 0.0), (3, 2.236068), (2, 2.236068), (4, 2.236068)],
                    "Manhattan": [(1, 0.0), (2, 3.0), (3, 3.0), (4, 3.0)]}
        for distance, want in expected.items():
            name = distance.lower()
            self.create(name, 2, distance)
            self.upsert([{"id": i, "vector": v} for i, v in vectors.items()], name)
            hits = self.query({"query": [1, 0]}, name)
            got = [(h["id"], h["score"]) for h in hits]
            if distance == "Euclid":  # 3, 2 and 4 are all at sqrt(5): ties ordered by id
                want = [(1, 0.0), (2, 2.236068), (3, 2.236068), (4, 2.236068)]
            self.assertEqual(got, want, distance)
        self.assertEqual([h["id"] for h in self.query({"query": [1, 0], "score_threshold": 2.236068},
                                                      "euclid")], [1])
        self.assertEqual([h["id"] for h in self.query({"query": [1, 0], "score_threshold": 0.0}, "dot")],
                         [3, 1])

    def test_query_forms(self):
        self.create()
        self.upsert([{"id": i, "vector": [i, 0, 0, 0], "payload": {"i": i}} for i in range(1, 13)])
        hits = self.query({"query": [1, 0, 0, 0]})
        self.assertEqual([h["id"] for h in hits], list(range(12, 2, -1)))  # default limit 10
        hits = self.query({"query": {"nearest": [1, 0, 0, 0]}, "limit": 2, "offset": 1,
                           "with_payload": True, "with_vector": True,
                           "filter": {"must": [{"key": "i", "range": {"lt": 10}}]}})
        self.assertEqual(hits, [{"id": 8, "version": 0, "score": 8.0, "payload": {"i": 8},
                                 "vector": [8.0, 0.0, 0.0, 0.0]},
                                {"id": 7, "version": 0, "score": 7.0, "payload": {"i": 7},
                                 "vector": [7.0, 0.0, 0.0, 0.0]}])
        by_id = self.query({"query": 12, "limit": 3})
        self.assertEqual([h["id"] for h in by_id], [11, 10, 9])  # the point itself is excluded
        self.assertEqual([h["id"] for h in self.query({"query": {"nearest": 12}, "limit": 1})], [11])
        plain = self.query({"limit": 3})
        self.assertEqual(plain, [{"id": i, "version": 0, "score": 1.0} for i in (1, 2, 3)])
        batch = self.s.ok("POST", "/collections/c/points/query/batch",
                          {"searches": [{"query": [1, 0, 0, 0], "limit": 1}, {"query": 3, "limit": 1}]})
        self.assertEqual([[h["id"] for h in r["points"]] for r in batch], [[12], [12]])
        legacy = self.s.ok("POST", "/collections/c/points/search", {"vector": [1, 0, 0, 0], "top": 2})
        self.assertEqual(legacy, [{"id": 12, "version": 0, "score": 12.0},
                                  {"id": 11, "version": 0, "score": 11.0}])
        legacy = self.s.ok("POST", "/collections/c/points/search",
                           {"vector": [1, 0, 0, 0], "limit": 1, "with_payload": True})
        self.assertEqual(legacy[0]["payload"], {"i": 12})
        self.assertError(self.s.call("POST", "/collections/c/points/query", {"query": [1, 0]}),
                         400, "Wrong input: Vector dimension error: expected dim: 4, got 2")
        self.assertError(self.s.call("POST", "/collections/c/points/query", {"query": 99}),
                         404, "Not found: No point with id 99 found")
        self.assertError(self.s.call("POST", "/collections/c/points/query", {"query": "nope"}),
                         400, "Format error in JSON body: value nope is not a valid point ID, "
                              "valid values are either an unsigned integer or a UUID")
        self.assertError(self.s.call("POST", "/collections/c/points/query", {"query": [1, 0, 0, 0],
                                                                             "limit": 0}),
                         422, "Validation error in JSON body: [limit: value 0 invalid, must be 1 or larger]")
        self.assertError(self.s.call("POST", "/collections/c/points/search", {"vector": [1, 0, 0, 0]}),
                         400, "Format error in JSON body: missing field `limit`")
        status, reply = self.s.call("POST", "/collections/c/points/query",
                                    {"query": {"fusion": "rrf"}, "prefetch": []})
        self.assertEqual(status, 400)
        self.assertIn("not supported by the Qdrant test server", reply["status"]["error"])

    # ---- wait semantics -------------------------------------------------

    def test_unwaited_updates_apply_later_in_order(self):
        self.create()
        first = self.s.ok("PUT", "/collections/c/points", {"points": [{"id": 1, "vector": [1, 0, 0, 0]}]})
        self.assertEqual(first, {"operation_id": 0, "status": "acknowledged"})
        self.assertEqual(self.s.call("GET", "/collections/c/points/1")[0], 404)  # not applied yet
        self.assertEqual(self.s.ok("GET", "/collections/c")["update_queue"], {"length": 1})
        second = self.s.ok("POST", "/collections/c/points/delete?wait=false", {"points": [1]})
        self.assertEqual(second["operation_id"], 1)
        third = self.s.ok("PUT", "/collections/c/points?wait=true",
                          {"points": [{"id": 2, "vector": [0, 1, 0, 0]}]})
        self.assertEqual(third, {"operation_id": 2, "status": "completed"})  # queue applied first
        self.assertEqual(self.s.call("GET", "/collections/c/points/1")[0], 404)
        self.s.ok("PUT", "/collections/c/points", {"points": [{"id": 3, "vector": [0, 0, 1, 0],
                                                               "payload": {"p": 1}}]})
        dump = self.s.ok("GET", "/__test/dump/c")  # flushes the queue
        self.assertEqual(dump["points"], [{"id": 2, "vector": [0.0, 1.0, 0.0, 0.0], "payload": {}},
                                          {"id": 3, "vector": [0.0, 0.0, 1.0, 0.0], "payload": {"p": 1}}])
        self.s.ok("PUT", "/collections/c/points", {"points": [{"id": 4, "vector": [0, 0, 0, 1]}]})
        time.sleep(APPLY_DELAY_MS / 1000 + 0.3)
        self.assertEqual(self.s.ok("GET", "/collections/c/points/4")["id"], 4)
        self.assertEqual(self.s.ok("GET", "/collections/c/points/3"),
                         {"id": 3, "payload": {"p": 1}, "vector": [0.0, 0.0, 1.0, 0.0]})
        self.assertError(self.s.call("GET", "/__test/dump/x"), 404,
                         "Not found: Collection `x` doesn't exist!")

    # ---- HTTP -----------------------------------------------------------

    def test_keep_alive_and_connection_close(self):
        conn = self.s.connect()
        try:
            conn.request("GET", "/collections")
            response = conn.getresponse()
            response.read()
            sock = conn.sock
            self.assertIsNotNone(sock)
            for _ in range(3):
                conn.request("PUT", "/collections/k", json.dumps({"vectors": {"size": 2, "distance": "Dot"}}),
                             {"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                self.assertIs(conn.sock, sock)  # same connection reused
            conn.request("GET", "/collections", headers={"Connection": "close"})
            response = conn.getresponse()
            response.read()
            self.assertEqual(response.getheader("Connection"), "close")
            self.assertIsNone(conn.sock)
        finally:
            conn.close()

    def test_chunked_request_body(self):
        self.create()
        conn = self.s.connect()
        try:
            body = json.dumps({"points": [{"id": 1, "vector": [1, 2, 3, 4]}]}).encode()
            conn.request("PUT", "/collections/c/points?wait=true", iter([body[:10], body[10:]]),
                         {"Content-Type": "application/json"}, encode_chunked=True)
            response = conn.getresponse()
            self.assertEqual(response.status, 200, response.read())
        finally:
            conn.close()
        self.assertEqual(self.s.ok("GET", "/collections/c")["points_count"], 1)

    # ---- /__test/ ---------------------------------------------------------

    def add_faults(self, *rules):
        return self.s.ok("POST", "/__test/faults", {"faults": list(rules)})["faults"]

    def test_status_fault_with_retry_after_skip_and_count(self):
        self.create()
        self.add_faults({"method": "PUT", "path": r"/points$", "skip": 1, "count": 2,
                         "action": {"type": "status", "status": 429, "retry_after": 1.5}})
        body = {"points": []}
        self.assertEqual(self.s.call("PUT", "/collections/c/points", body)[0], 200)  # skipped
        for _ in range(2):
            status, response, data = self.s.raw("PUT", "/collections/c/points", body)
            self.assertEqual(status, 429)
            self.assertEqual(response.getheader("Retry-After"), "2")
            self.assertEqual(json.loads(data)["status"]["error"], "Rate limiting exceeded: injected fault")
        self.assertEqual(self.s.call("PUT", "/collections/c/points", body)[0], 200)  # exhausted
        self.assertEqual(self.s.ok("GET", "/__test/faults"), {"faults": []})
        listed = self.add_faults({"path": "^/collections$", "count": -1,
                                  "action": {"type": "status", "status": 503, "body": {"custom": 1}}})
        self.assertEqual(listed[0]["remaining"], -1)
        for _ in range(3):
            self.assertEqual(self.s.call("GET", "/collections"), (503, {"custom": 1}))
        self.assertEqual(self.s.call("GET", "/collections/c/exists")[0], 200)  # path not matched
        self.assertEqual(self.s.ok("GET", "/__test/faults")["faults"][0]["fired"], 3)
        self.assertIs(self.s.ok("DELETE", "/__test/faults"), True)
        self.assertEqual(self.s.call("GET", "/collections")[0], 200)

    def test_delay_drop_garbage_and_hang_faults(self):
        self.add_faults({"method": "GET", "path": "^/collections$", "action": {"type": "delay", "ms": 300}})
        started = time.monotonic()
        self.assertEqual(self.s.call("GET", "/collections")[0], 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.3)

        self.add_faults({"path": "^/collections$", "action": {"type": "drop"}})
        with self.assertRaises((http.client.HTTPException, ConnectionError)):
            self.s.raw("GET", "/collections")

        self.add_faults({"path": "^/collections$", "action": {"type": "garbage"}})
        status, _, data = self.s.raw("GET", "/collections")
        self.assertEqual(status, 200)
        with self.assertRaises(ValueError):
            json.loads(data)

        self.add_faults({"path": "^/collections$", "action": {"type": "hang"}})
        with self.assertRaises(TimeoutError):
            self.s.raw("GET", "/collections", timeout=0.5)
        self.assertEqual(self.s.call("GET", "/collections")[0], 200)
        entries = self.s.ok("GET", "/__test/requests")
        self.assertEqual([e["fault"] for e in entries], ["delay", "drop", "garbage", "hang", None])
        self.assertEqual(entries[1]["status"], None)

        status, reply = self.s.call("POST", "/__test/faults", {"faults": [{"action": {"type": "explode"}}]})
        self.assertEqual(status, 400)
        self.assertIn("invalid fault rule", reply["status"]["error"])

    def test_outage(self):
        self.assertIs(self.s.ok("POST", "/__test/outage", {"seconds": 30}), True)
        for method, path, body in (("GET", "/healthz", None), ("PUT", "/collections/c",
                                                                {"vectors": {"size": 2, "distance": "Dot"}})):
            with self.assertRaises((http.client.HTTPException, ConnectionError)):
                self.s.raw(method, path, body)
        self.assertEqual(self.s.ok("GET", "/__test/requests")[0]["fault"], "outage")
        self.assertIs(self.s.ok("DELETE", "/__test/outage"), True)
        self.assertEqual(self.s.raw("GET", "/healthz")[0], 200)
        self.s.ok("POST", "/__test/outage", {"seconds": 0.2})
        time.sleep(0.3)
        self.assertEqual(self.s.raw("GET", "/healthz")[0], 200)

    def test_request_log_stats_and_reset(self):
        self.create()
        self.s.ok("PUT", "/collections/c/points?wait=true", {"points": [{"id": 1, "vector": [1, 0, 0, 0]}]})
        self.s.ok("GET", "/collections/c/points/1")
        self.s.raw("GET", "/nowhere")
        log = self.s.ok("GET", "/__test/requests")
        self.assertEqual([(e["method"], e["path"], e["status"]) for e in log],
                         [("PUT", "/collections/c", 200), ("PUT", "/collections/c/points", 200),
                          ("GET", "/collections/c/points/1", 200), ("GET", "/nowhere", 404)])
        self.assertEqual(log[1]["query"], "wait=true")
        self.assertGreater(log[1]["body_size"], 0)
        self.assertEqual(self.s.ok("GET", "/__test/stats"),
                         {"PUT /collections/{collection_name}": 1,
                          "PUT /collections/{collection_name}/points": 1,
                          "GET /collections/{collection_name}/points/{id}": 1, "GET /nowhere": 1})
        self.assertIs(self.s.ok("DELETE", "/__test/requests"), True)
        self.assertEqual(self.s.ok("GET", "/__test/requests"), [])
        self.add_faults({"action": {"type": "drop"}, "count": -1})
        self.assertIs(self.s.ok("POST", "/__test/reset"), True)
        self.assertEqual(self.s.ok("GET", "/collections"), {"collections": []})
        self.assertEqual(self.s.ok("GET", "/__test/faults"), {"faults": []})


class ApiKeyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--api-key", "sekret")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_missing_and_wrong_key(self):
        for path in ("/collections", "/collections/c", "/aliases", "/cluster", "/nowhere"):
            status, response, body = self.server.raw("GET", path)
            self.assertEqual((status, body),
                             (401, b"Must provide an API key or an Authorization bearer token"))
        for headers in ({"api-key": "wrong"}, {"Authorization": "Bearer wrong"}):
            status, _, body = self.server.raw("GET", "/collections", headers=headers)
            self.assertEqual((status, body), (401, b"Invalid API key or JWT"))

    def test_valid_key_and_whitelist(self):
        for headers in ({"api-key": "sekret"}, {"Authorization": "Bearer sekret"}):
            for path in ("/collections", "/aliases", "/cluster"):
                self.assertEqual(self.server.raw("GET", path, headers=headers)[0], 200, path)
        for path in ("/", "/healthz", "/livez", "/readyz", "/__test/requests"):
            self.assertEqual(self.server.raw("GET", path)[0], 200, path)


class SinkTest(unittest.TestCase):
    def test_sink_discards_upserts(self):
        server = Server("--sink", "--api-key", "k")
        try:
            key = {"api-key": "k", "Content-Type": "application/json"}
            status, _, body = server.raw("PUT", "/collections/any/points", b"not even json", key)
            self.assertEqual(status, 200)
            self.assertEqual(json.loads(body)["result"], {"operation_id": 0, "status": "acknowledged"})
            status, _, body = server.raw("PUT", "/collections/any/points?wait=true", b"x" * 300_000, key)
            self.assertEqual(json.loads(body)["result"], {"operation_id": 1, "status": "completed"})
            self.assertEqual(server.raw("PUT", "/collections/any/points", b"{}")[0], 401)
            status, _, body = server.raw("GET", "/collections/any", headers=key)
            self.assertEqual(status, 404)  # nothing else is faked
            self.assertEqual(server.raw("GET", "/__test/requests")[0], 200)
        finally:
            server.stop()


class ShutdownTest(unittest.TestCase):
    def test_signals_stop_promptly(self):
        for signum in (signal.SIGTERM, signal.SIGINT):
            server = Server()
            try:
                conn = server.connect()
                conn.request("GET", "/healthz")  # an idle keep-alive connection stays open
                conn.getresponse().read()
                started = time.monotonic()
                server.proc.send_signal(signum)
                self.assertEqual(server.proc.wait(5), 0)
                self.assertLess(time.monotonic() - started, 2)
                conn.close()
            finally:
                server.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
