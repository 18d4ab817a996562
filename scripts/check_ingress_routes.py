"""Every route of the contract reaches, through the Ingress objects, the binary that serves it,
in the plain manifests (k8s/) and in the Helm chart (default values and ci/everything-values).

    check_ingress_routes.py [RENDERED.yaml ...]

With no files it renders the chart (default and everything values) and `kubectl kustomize k8s/`
itself. A route is followed as ingress-nginx would: Ingress path (Kubernetes path types) ->
Service port -> the Deployment the Service selects -> its container's command.
"""

from __future__ import annotations

import re
import subprocess
import sys
import unittest
from pathlib import Path

import yaml

# No __pycache__ in the work tree for the import below.
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import deploy_checks  # noqa: E402  (beside this file)

ROOT = deploy_checks.ROOT
CONTRACT = ROOT.parent / "shared" / "CONTRACT.md"

# The public routes and the binary that serves each: CONTRACT.md's "HTTP" section plus the
# README's API tables (which add /me/device) and the devices of "Push delivery".
# test_table_covers_the_contract fails when the contract gains a route this table lacks.
ROUTES = [
    ("POST", "/register", "auth-api"),
    ("POST", "/login", "auth-api"),
    ("POST", "/token/refresh", "auth-api"),
    ("POST", "/logout", "auth-api"),
    ("GET", "/me", "auth-api"),
    ("PUT", "/me/device", "auth-api"),
    ("DELETE", "/me/device", "auth-api"),
    # Push devices (CONTRACT.md's "Push delivery"): browsers fetch the VAPID key to subscribe.
    ("POST", "/me/devices", "auth-api"),
    ("GET", "/me/devices", "auth-api"),
    ("DELETE", "/me/devices/{device_id}", "auth-api"),
    ("GET", "/push/vapid-public-key", "auth-api"),
    ("GET", "/.well-known/jwks.json", "auth-api"),
    ("GET", "/users/show", "user-search"),
    ("GET", "/users/username/{username}", "user-search"),
    ("GET", "/users/user_id/{user_id}", "user-search"),
    ("GET", "/users/search", "user-search"),
    ("GET", "/chat", "chat-gateway"),
    ("GET", "/chats", "chat-gateway"),
    ("GET", "/chats/{chat_id}/messages", "chat-gateway"),
    # Messages after they are sent: the gateway keeps blocks and mutes.
    ("PUT", "/me/blocks/{user_id}", "chat-gateway"),
    ("DELETE", "/me/blocks/{user_id}", "chat-gateway"),
    ("GET", "/me/blocks", "chat-gateway"),
    ("PUT", "/chats/{chat_id}/mute", "chat-gateway"),
    ("DELETE", "/chats/{chat_id}/mute", "chat-gateway"),
    # Socket.IO: the handshake and long-polling (GET and POST) and the WebSocket upgrade.
    ("GET", "/socket.io/", "chat-gateway"),
    ("POST", "/socket.io/", "chat-gateway"),
]
# Every service has these; they stay inside the cluster (metrics and docs are not public).
INTERNAL = ["/healthz", "/readyz", "/metrics", "/openapi.json", "/asyncapi.json", "/docs"]
SAMPLE = {
    "username": "alice",
    "user_id": "0b6f3a52-6b1e-4c39-9a57-6a0f1e1f0c11",
    "chat_id": "42",
    "device_id": "5d1c3e8a-2f4b-4a6e-9c0d-7b8a9e1f2a3b",
}


def concrete(template: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], template)


def contract_routes(text: str) -> set[tuple[str, str, str]]:
    """(method, path, service) from the contract's "## HTTP" section: a line starting with a
    service's name opens its list; its bullets hold `METHOD /path` spans."""
    section = text.split("\n## HTTP", 1)[1].split("\n## ", 1)[0]
    routes, service = set(), None
    for line in section.splitlines():
        head = line.split(" ", 1)[0]
        if head in deploy_checks.BINARIES:
            service = head
        elif not line.startswith(("-", " ")):
            service = None
        if service:
            for method, path in re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`?\s]*)", line):
                routes.add((method, path, service))
    return routes


def path_matches(path_type: str, rule: str, path: str) -> bool:
    if path_type == "Exact":
        return path == rule
    if path_type == "Prefix":
        # Whole path elements: /chat matches /chat and /chat/x, never /chats.
        base = rule.rstrip("/")
        return base == "" or path == base or path.startswith(base + "/")
    # ImplementationSpecific, which ingress-nginx (without use-regex) takes as a string prefix.
    return path.startswith(rule)


class Cluster:
    """One rendered set of objects, resolved the way the cluster would route a request."""

    def __init__(self, objects: list[dict]):
        self.objects = objects
        self.ingresses = [o for o in objects if o["kind"] == "Ingress"]

    def named(self, kind: str, name: str) -> dict | None:
        return next((o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name), None)

    def hosts(self) -> set[str | None]:
        return {r.get("host") for i in self.ingresses for r in i["spec"]["rules"]}

    def route(self, path: str) -> tuple[dict, dict] | None:
        """The winning (Ingress, path entry) for `path`: the longest match, Exact before Prefix."""
        candidates = [
            (len(p["path"]), p["pathType"] == "Exact", ingress, p)
            for ingress in self.ingresses
            for rule in ingress["spec"]["rules"]
            for p in rule.get("http", {}).get("paths", [])
            if path_matches(p["pathType"], p["path"], path)
        ]
        if not candidates:
            return None
        _, _, ingress, entry = max(candidates, key=lambda c: (c[0], c[1]))
        return ingress, entry

    def binary_behind(self, backend: dict) -> tuple[str, str]:
        """(binary, how) for an Ingress backend, or raises AssertionError saying where it breaks."""
        ref = backend["service"]
        service = self.named("Service", ref["name"])
        assert service is not None, f"no Service {ref['name']}"
        wanted = ref["port"]
        port = next(
            (p for p in service["spec"]["ports"] if p["port"] == wanted.get("number") or p.get("name") == wanted.get("name")),
            None,
        )
        assert port is not None, f"Service {ref['name']} has no port {wanted}"
        selector = service["spec"]["selector"]
        deployments = [
            o for o in self.objects
            if o["kind"] == "Deployment"
            and all(o["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in selector.items())
        ]
        assert len(deployments) == 1, f"Service {ref['name']} selects {len(deployments)} Deployments"
        (container,) = deployments[0]["spec"]["template"]["spec"]["containers"]
        target = port.get("targetPort", port["port"])
        container_ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        assert target in container_ports or target in container_ports.values(), (
            f"Service {ref['name']} targets port {target!r}, which {deployments[0]['metadata']['name']} does not expose"
        )
        return container["command"][0], f"Service {ref['name']}:{port['port']} -> {deployments[0]['metadata']['name']}"


def sources() -> dict[str, list[dict]]:
    if len(sys.argv) > 1:
        return {Path(f).name: deploy_checks.load_objects(f) for f in sys.argv[1:]}
    kustomized = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "k8s")], check=True, capture_output=True, text=True
    ).stdout
    return {
        "k8s/": [d for d in yaml.safe_load_all(kustomized) if d],
        "chart (default values)": deploy_checks.render_chart(None),
        "chart (ci/everything-values.yaml)": deploy_checks.render_chart(
            deploy_checks.load_values(str(deploy_checks.CHART / "ci" / "everything-values.yaml"))
        ),
    }


SOURCES: dict[str, list[dict]] = {}


class IngressRoutes(unittest.TestCase):
    def test_table_covers_the_contract(self):
        if not CONTRACT.exists():
            self.skipTest(f"{CONTRACT} not found")
        from_contract = contract_routes(CONTRACT.read_text())
        self.assertGreaterEqual(len(from_contract), 12, "the contract's route list did not parse")
        self.assertEqual(from_contract - set(ROUTES), set(), "contract routes missing from ROUTES")

    def test_every_route_reaches_its_binary(self):
        for source, objects in SOURCES.items():
            cluster = Cluster(objects)
            for method, template, binary in ROUTES:
                path = concrete(template)
                with self.subTest(source=source, route=f"{method} {path}"):
                    found = cluster.route(path)
                    self.assertIsNotNone(found, f"{source}: no Ingress path matches {path}")
                    _, entry = found
                    got, how = cluster.binary_behind(entry["backend"])
                    self.assertEqual(got, binary, f"{source}: {path} -> {entry['path']} ({entry['pathType']}) -> {how} runs {got}")

    def test_internal_routes_stay_inside(self):
        for source, objects in SOURCES.items():
            cluster = Cluster(objects)
            for path in INTERNAL:
                with self.subTest(source=source, path=path):
                    self.assertIsNone(cluster.route(path), f"{source}: {path} is exposed")

    def test_one_host_one_class(self):
        # ingress-nginx merges Ingress objects per host; split across hosts, /chat would leave
        # the API's server block.
        for source, objects in SOURCES.items():
            cluster = Cluster(objects)
            with self.subTest(source=source):
                self.assertGreaterEqual(len(cluster.ingresses), 2)
                self.assertEqual(len(cluster.hosts()), 1, f"{source}: hosts {cluster.hosts()}")
                for ingress in cluster.ingresses:
                    self.assertEqual(ingress["spec"].get("ingressClassName"), "nginx")

    def test_websocket_timeouts_only_on_the_chat_ingress(self):
        for source, objects in SOURCES.items():
            cluster = Cluster(objects)
            with self.subTest(source=source):
                chat_ingress, _ = cluster.route("/chat")
                api_ingress, _ = cluster.route("/login")
                self.assertNotEqual(chat_ingress["metadata"]["name"], api_ingress["metadata"]["name"])
                for direction in ("read", "send"):
                    key = f"nginx.ingress.kubernetes.io/proxy-{direction}-timeout"
                    chat = chat_ingress["metadata"].get("annotations", {}).get(key)
                    self.assertIsNotNone(chat, f"{source}: {key} missing on the /chat Ingress")
                    self.assertGreaterEqual(int(chat), 3600)
                    self.assertNotIn(key, api_ingress["metadata"].get("annotations", {}))

    def test_socketio_alone_is_sticky(self):
        # Long-polling needs every request of a session on one replica; nothing else does.
        affinity = "nginx.ingress.kubernetes.io/affinity"
        for source, objects in SOURCES.items():
            cluster = Cluster(objects)
            with self.subTest(source=source):
                socketio, _ = cluster.route("/socket.io/")
                annotations = socketio["metadata"].get("annotations", {})
                self.assertEqual(annotations.get(affinity), "cookie", f"{source}: /socket.io/ is not sticky")
                self.assertEqual(annotations.get("nginx.ingress.kubernetes.io/session-cookie-path"), "/socket.io")
                self.assertGreaterEqual(int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]), 3600)
                for path in ("/chat", "/login"):
                    other, _ = cluster.route(path)
                    self.assertNotIn(affinity, other["metadata"].get("annotations", {}), f"{source}: {path}")


if __name__ == "__main__":
    SOURCES.update(sources())
    unittest.main(argv=[sys.argv[0], "-v"])
