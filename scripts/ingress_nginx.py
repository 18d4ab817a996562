"""The chart's rendered objects as ingress-nginx would serve them, for scripts/e2e: an nginx.conf
made from the Ingress objects (their paths, path types and annotations), and a plan of the
Deployments (command, replicas, literal environment, preStop, grace period, rollout strategy)
that the end-to-end driver starts behind it.

    ingress_nginx.py RENDERED.yaml OUT_DIR

Writes OUT_DIR/nginx.conf and OUT_DIR/plan.json. What only exists at run time is included from
OUT_DIR/runtime/, which the driver writes before it starts nginx and again whenever it changes:
`listen.conf` (the ingress's address), `endpoints-<Service>.conf` (the ready pods, one `server`
line each, as the EndpointSlices would list them), `listen-<Service>.conf` (where the
cluster's Service answers inside the cluster, for JWKS_URL), and `listen-control.conf` and
`generation.conf` (a server of the driver's own that says which configuration the workers
accepting connections have: a reload is asynchronous).

The directives are ingress-nginx's defaults (controller v1.x, nginx.tmpl) for what the chart
uses; an `nginx.ingress.kubernetes.io/` annotation this does not translate stops it, so the
proxy under test never quietly differs from the one in the cluster. What ingress-nginx does in
Lua is done with plain nginx: endpoints come from included files (a reload instead of its
dynamic balancer; old workers keep their connections, WebSockets included, as on any
ingress-nginx reload), and cookie affinity is a consistent hash of the cookie's value.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

PREFIX = "nginx.ingress.kubernetes.io/"
TRANSLATED = {
    "proxy-read-timeout",
    "proxy-send-timeout",
    "affinity",
    "session-cookie-name",
    "session-cookie-path",
}
# ingress-nginx's defaults (ConfigMap keys in the comments).
DEFAULT_TIMEOUT = "60"  # proxy-read-timeout, proxy-send-timeout
CONNECT_TIMEOUT = "5"  # proxy-connect-timeout
DEFAULT_COOKIE = "INGRESSCOOKIE"  # session-cookie-name


def fail(message: str) -> None:
    sys.exit(f"scripts/ingress_nginx.py: {message}")


def objects(path: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(Path(path).read_text()) if d]


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def component_of(service: dict, deployments: list[dict]) -> str:
    """The binary behind a Service: the command of the Deployment its selector picks."""
    selector = service["spec"]["selector"]
    for d in deployments:
        labels = d["spec"]["template"]["metadata"]["labels"]
        if all(labels.get(k) == v for k, v in selector.items()):
            return d["spec"]["template"]["spec"]["containers"][0]["command"][0]
    fail(f"Service {service['metadata']['name']} selects no Deployment")
    raise AssertionError


def plan_of(docs: list[dict]) -> dict:
    deployments = by_kind(docs, "Deployment")
    maps = {m["metadata"]["name"]: m.get("data", {}) for m in by_kind(docs, "ConfigMap")}
    components = {}
    for d in deployments:
        pod = d["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        env: dict[str, str] = {}
        for source in c.get("envFrom", []):
            env.update(maps[source["configMapRef"]["name"]])
        secret_env = []
        for entry in c.get("env", []):
            if "value" in entry:
                env[entry["name"]] = entry["value"]
            else:
                secret_env.append(entry["name"])
        rolling = d["spec"].get("strategy", {}).get("rollingUpdate", {})
        pre_stop = c.get("lifecycle", {}).get("preStop", {})
        if pre_stop and "sleep" not in pre_stop:
            fail(f"Deployment {d['metadata']['name']}: a preStop other than the sleep action cannot run here")
        components[c["command"][0]] = {
            "command": c["command"],
            "replicas": d["spec"].get("replicas", 1),
            "env": env,
            "secretEnv": secret_env,
            "preStopSleepSeconds": pre_stop.get("sleep", {}).get("seconds", 0),
            "terminationGracePeriodSeconds": pod.get("terminationGracePeriodSeconds", 30),
            "maxSurge": rolling.get("maxSurge", "25%"),
            "maxUnavailable": rolling.get("maxUnavailable", "25%"),
        }
    services = {
        s["metadata"]["name"]: {"port": s["spec"]["ports"][0]["port"], "component": component_of(s, deployments)}
        for s in by_kind(docs, "Service")
    }
    (job,) = by_kind(docs, "Job")
    routes = []
    for ing in by_kind(docs, "Ingress"):
        notes = annotations(ing)
        if ing["spec"].get("tls"):
            fail(f"Ingress {ing['metadata']['name']}: TLS is not translated (the stage's nginx speaks HTTP)")
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                service = p["backend"]["service"]["name"]
                routes.append({
                    "ingress": ing["metadata"]["name"],
                    "host": rule.get("host", ""),
                    "path": p["path"],
                    "pathType": p["pathType"],
                    "service": service,
                    "component": services[service]["component"],
                    "readTimeoutSeconds": int(notes.get("proxy-read-timeout", DEFAULT_TIMEOUT)),
                    "sendTimeoutSeconds": int(notes.get("proxy-send-timeout", DEFAULT_TIMEOUT)),
                    "affinityCookie": cookie_of(notes),
                })
    return {
        "components": components,
        "services": services,
        "migration": {"command": job["spec"]["template"]["spec"]["containers"][0]["command"]},
        "routes": routes,
    }


def annotations(ingress: dict) -> dict[str, str]:
    """The ingress-nginx annotations of an Ingress, without their prefix; refuses any this
    does not translate."""
    notes = {}
    for key, value in (ingress["metadata"].get("annotations") or {}).items():
        if not key.startswith(PREFIX):
            continue
        name = key.removeprefix(PREFIX)
        if name not in TRANSLATED:
            fail(f"Ingress {ingress['metadata']['name']}: annotation {key} is not translated to nginx here")
        notes[name] = str(value)
    if notes.get("affinity", "cookie") != "cookie":
        fail(f"Ingress {ingress['metadata']['name']}: affinity {notes['affinity']!r} is not translated")
    return notes


def cookie_of(notes: dict[str, str]) -> dict | None:
    if "affinity" not in notes:
        return None
    return {"name": notes.get("session-cookie-name", DEFAULT_COOKIE), "path": notes.get("session-cookie-path", "/")}


def upstream_name(service: str, cookie: dict | None) -> str:
    return f"{service}-affinity" if cookie else service


def variable(cookie: dict) -> str:
    return "affinity_" + "".join(ch if ch.isalnum() else "_" for ch in cookie["name"])


def upstream(name: str, service: str, runtime: Path, balance: str) -> str:
    # ingress-nginx's upstream-keepalive-* defaults. max_fails=0: its Lua balancer keeps
    # sending to an endpoint until the endpoint list changes; nginx's own failure accounting
    # would hide exactly what a preStop is for.
    return f"""
    upstream {name} {{
        {balance}include {runtime / f"endpoints-{service}.conf"};
        keepalive 320;
        keepalive_time 1h;
        keepalive_timeout 60s;
        keepalive_requests 10000;
    }}
"""


def location(match: str, route: dict) -> str:
    cookie = route["affinityCookie"]
    affinity = ""
    if cookie:
        affinity = f"            add_header Set-Cookie ${variable(cookie)}_set;\n"
    return f"""
        location {match} {{
            proxy_set_header Host $http_host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Request-ID $req_id;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Scheme $scheme;
            proxy_set_header X-Scheme $scheme;
            proxy_set_header X-Original-Forwarded-For $http_x_forwarded_for;
            proxy_set_header Proxy "";
            proxy_connect_timeout {CONNECT_TIMEOUT}s;
            proxy_send_timeout {route["sendTimeoutSeconds"]}s;
            proxy_read_timeout {route["readTimeoutSeconds"]}s;
            proxy_buffering off;
            proxy_buffer_size 4k;
            proxy_buffers 4 4k;
            proxy_request_buffering on;
            proxy_http_version 1.1;
            proxy_cookie_domain off;
            proxy_cookie_path off;
            proxy_next_upstream error timeout;
            proxy_next_upstream_timeout 0;
            proxy_next_upstream_tries 3;
            proxy_redirect off;
            # Not ingress-nginx's: which pods served the request (two when the proxy re-sent
            # it), for the stage's figures.
            add_header X-E2E-Upstream $upstream_addr always;
{affinity}            proxy_pass http://{upstream_name(route["service"], cookie)};
        }}
"""


def locations(route: dict) -> list[str]:
    path, kind = route["path"], route["pathType"]
    if kind == "Exact":
        return [location(f"= {path}", route)]
    if kind == "Prefix" and path != "/":
        # ingress-nginx matches a Prefix path element by element: /chat is not /chats.
        return [location(f"= {path}", route), location(f"{path.rstrip('/')}/", route)]
    return [location(path, route)]


def nginx_conf(plan: dict, out: Path) -> str:
    runtime = out / "runtime"
    routes = plan["routes"]
    hosts = {r["host"] for r in routes}
    if len(hosts) != 1:
        fail(f"the Ingress objects name several hosts ({sorted(hosts)}); one server is translated")
    (host,) = hosts
    maps = []
    upstreams = []
    for service in sorted(plan["services"]):
        upstreams.append(upstream(service, service, runtime, ""))
    for cookie in {json.dumps(r["affinityCookie"], sort_keys=True) for r in routes if r["affinityCookie"]}:
        cookie = json.loads(cookie)
        var = variable(cookie)
        maps.append(f"""
    # Cookie affinity: the client's cookie, or a new one for its first request, picks the pod.
    map $http_cookie ${var} {{
        "~(?:^|;\\s*){cookie["name"]}=(?<value>[^;]+)" $value;
        default $request_id;
    }}
    map $http_cookie ${var}_set {{
        "~(?:^|;\\s*){cookie["name"]}=" "";
        default "{cookie["name"]}=${var}; Path={cookie["path"]}; HttpOnly";
    }}
""")
        for service in sorted({r["service"] for r in routes if r["affinityCookie"] == cookie}):
            upstreams.append(upstream(upstream_name(service, cookie), service, runtime, f"hash ${var} consistent;\n        "))
    blocks = [block for r in sorted(routes, key=lambda r: r["path"]) for block in locations(r)]
    services = [
        f"""
    # The Service {name}, as kube-proxy spreads connections over its ready pods.
    server {{
        include {runtime / f"listen-{name}.conf"};
        location / {{
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://{name};
        }}
    }}
"""
        for name in sorted(plan["services"])
    ]
    return f"""# Generated by scripts/ingress_nginx.py from the chart's rendered Ingress objects.
worker_processes auto;
worker_shutdown_timeout 240s;
pid {out / "nginx.pid"};
error_log {out / "error.log"} notice;

events {{
    worker_connections 16384;
    multi_accept on;
}}

http {{
    log_format upstreams '$remote_addr "$request" $status upstream=$upstream_addr upstream_status=$upstream_status';
    access_log {out / "access.log"} upstreams;
    client_body_temp_path {out / "tmp" / "body"};
    proxy_temp_path {out / "tmp" / "proxy"};
    fastcgi_temp_path {out / "tmp" / "fastcgi"};
    uwsgi_temp_path {out / "tmp" / "uwsgi"};
    scgi_temp_path {out / "tmp" / "scgi"};
    server_tokens off;
    keepalive_timeout 75s;
    keepalive_requests 1000;
    client_max_body_size 1m;
    client_body_buffer_size 8k;

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        '' '';
    }}
    map $http_x_request_id $req_id {{
        default $http_x_request_id;
        '' $request_id;
    }}
{"".join(maps)}{"".join(upstreams)}
    server {{
        include {runtime / "listen.conf"};
        server_name {host or "_"};
{"".join(blocks)}
        # ingress-nginx's default backend: what no Ingress routes.
        location / {{
            default_type text/plain;
            return 404 "default backend - 404\\n";
        }}
    }}
{"".join(services)}
    # Not ingress-nginx's: the generation of the configuration that accepts connections now.
    server {{
        include {runtime / "listen-control.conf"};
        location = /generation {{
            default_type text/plain;
            include {runtime / "generation.conf"};
        }}
    }}
}}
"""


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[2]).resolve()
    plan = plan_of(objects(argv[1]))
    for sub in ("runtime", "tmp"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    (out / "nginx.conf").write_text(nginx_conf(plan, out))
    (out / "plan.json").write_text(json.dumps(plan, indent=2) + "\n")
    print(f"{len(plan['routes'])} routes, {len(plan['components'])} components")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
