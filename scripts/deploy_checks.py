"""The checks scripts/check-deploy runs on the deploy files, one subcommand each; no cluster and
no helm binary needed (helm-python-sdk bundles Helm's Go SDK). Each subcommand prints what
is wrong and exits non-zero, or exits 0.

    deploy_checks.py render VALUES_FILE|- OUT     the chart's objects, as `helm template` would
    deploy_checks.py lint [VALUES_FILE]            helm lint, warnings count as failures
    deploy_checks.py validate FILE                 every object against Kubernetes' schemas
    deploy_checks.py policy FILE [--self-contained] [--pre-stop-optional]
                                                   hardening, probes, drain, references
    deploy_checks.py schema-rejects                values.schema.json and the chart refuse bad values
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "chat-suite"
RELEASE = "chat-suite"
NAMESPACE = "chat-suite"
# The newest Kubernetes the pinned kubernetes-validate knows, and the oldest the chart claims
# (Chart.yaml kubeVersion): an object valid for both is valid for the versions between.
KUBE_VERSIONS = ("1.37.0", "1.30.0")
# The serving binaries a Deployment may run. The first three are behind the ingress (a preStop
# sleep, Redis) and are always deployed; the notifier is behind nothing, needs no Redis, and
# the chart deploys it only when enabled.
ROUTED = {"auth-api", "user-search", "chat-gateway"}
BINARIES = ROUTED | {"notifier"}
# Read by every binary, but not through clap (tracing's filter).
UNDECLARED_VARIABLES = {"RUST_LOG"}
# The notifier's providers, each on when its key file is set, and what goes with it.
PUSH_PROVIDERS = {
    "FCM_SERVICE_ACCOUNT_FILE": (),
    "APNS_KEY_FILE": ("APNS_KEY_ID", "APNS_TEAM_ID", "APNS_TOPIC"),
    "VAPID_PRIVATE_KEY_FILE": ("VAPID_SUBJECT",),
}
# The binary's default when NOTIFICATIONS_TOPIC_PARTITIONS is not set.
DEFAULT_PARTITIONS = 3


def render_chart(values: dict | None) -> list[dict]:
    """The chart's objects for `values` (None: the defaults), hooks included, as a cluster
    would receive them on install."""
    import helm_python as helm

    with helm.Chart.load(CHART) as chart:
        rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    docs = []
    for path in sorted(rendered):
        if path.endswith(".yaml"):
            docs.extend(d for d in yaml.safe_load_all(rendered[path]) if d)
    return docs


def load_values(path: str) -> dict | None:
    if path == "-":
        return None
    return yaml.safe_load(Path(path).read_text())


def load_objects(path: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(Path(path).read_text()) if d]


def cmd_render(values_path: str, out: str) -> int:
    docs = render_chart(load_values(values_path))
    Path(out).write_text(yaml.safe_dump_all(docs, sort_keys=False))
    print(f"{len(docs)} objects")
    return 0


def cmd_lint(values_path: str | None = None) -> int:
    import helm_python as helm

    values = load_values(values_path) if values_path else None
    report = helm.lint(CHART, values, strict=True, kube_version=f"v{KUBE_VERSIONS[0]}")
    # Severity 1 is information ("icon is recommended"); 2 and up are warnings and errors.
    problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    for m in report.get("messages", []):
        print(f"severity {m.get('severity')}: {m.get('path')}: {m.get('error')}")
    for e in report.get("errors") or []:
        print(f"error: {e}")
    return 1 if problems or report.get("errors") else 0


def cmd_validate(path: str) -> int:
    from kubernetes_validate import utils

    failures = 0
    objects = load_objects(path)
    for obj in objects:
        name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        for version in KUBE_VERSIONS:
            try:
                utils.validate(obj, version, strict=True)
            except utils.ValidationError as e:
                where = ".".join(str(p) for p in e.path)
                print(f"{name} (Kubernetes {version}): {where}: {e.message}")
                failures += 1
            except utils.SchemaNotFoundError as e:
                # The CLI only warns here; an unknown kind or apiVersion is a mistake for us.
                print(f"{name} (Kubernetes {version}): {e.message}")
                failures += 1
    print(f"{len(objects)} objects, Kubernetes {' and '.join(KUBE_VERSIONS)}, strict")
    return 1 if failures or not objects else 0


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def config_maps(objects: list[dict]) -> dict[str, dict]:
    return {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}


def env_value(container: dict, name: str, maps: dict[str, dict]) -> str | None:
    """A variable's literal value, from `env` (a value or a ConfigMap key) or from an envFrom
    ConfigMap; None when it is unset or comes from a Secret."""
    entry = env_of(container).get(name)
    if entry is not None:
        ref = entry.get("valueFrom", {}).get("configMapKeyRef")
        if ref is not None:
            return maps.get(ref["name"], {}).get(ref["key"])
        return entry.get("value")
    # Later envFrom sources win over earlier ones, as in Kubernetes.
    for source in reversed(container.get("envFrom", [])):
        data = maps.get(source.get("configMapRef", {}).get("name"), {})
        if name in data:
            return data[name]
    return None


def env_names(container: dict, maps: dict[str, dict]) -> set[str]:
    """Every variable the container gets: its `env` and its envFrom ConfigMaps' keys."""
    names = set(env_of(container))
    for source in container.get("envFrom", []):
        names |= set(maps.get(source.get("configMapRef", {}).get("name"), {}))
    return names


def declared_variables(binary: str) -> set[str]:
    """The variables `binary --help` lists, read from the sources rather than from a built
    binary: every `env = "NAME"` of its crate and of shared/ (whose settings structs the
    binaries flatten). A superset, since a binary need not flatten every shared struct; the
    exact list is `docker run --rm IMAGE BINARY --help`."""
    names: set[str] = set()
    for folder in (ROOT / "services" / binary / "src", ROOT / "shared" / "src"):
        for source in folder.rglob("*.rs"):
            names |= set(re.findall(r'\benv\s*=\s*"([A-Z][A-Z0-9_]*)"', source.read_text()))
    return names


def file_source(pod: dict, container: dict, path: str, objects: list[dict]) -> tuple[str, str] | str:
    """Where a file the container reads comes from: (Secret name, key), or what is wrong."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        prefix = mount["mountPath"].rstrip("/") + "/"
        if not path.startswith(prefix):
            continue
        name = path[len(prefix):]
        volume = volumes.get(mount["name"], {})
        sources = [s["secret"] for s in volume.get("projected", {}).get("sources", []) if "secret" in s]
        if "secret" in volume:
            sources.append({**volume["secret"], "name": volume["secret"]["secretName"]})
        for secret in sources:
            if "items" in secret:
                for item in secret["items"]:
                    if item["path"] == name:
                        return secret["name"], item["key"]
                continue
            # The whole Secret: its keys are the file names; known when it is among the objects.
            obj = next((o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] == secret["name"]), None)
            if obj is None or name in {**obj.get("stringData", {}), **obj.get("data", {})}:
                return secret["name"], name
        if "emptyDir" in volume:
            return "emptyDir", name
        return f"volume {mount['name']} at {mount['mountPath']} does not hold {name}"
    return "no mounted volume holds it"


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def check_pod(kind_name: str, spec: dict, problems: list[str]) -> None:
    pod_sc = spec.get("securityContext", {})
    for c in spec["containers"]:
        where = f"{kind_name} container {c['name']}"
        sc = c.get("securityContext", {})
        merged = {**pod_sc, **sc}
        if merged.get("runAsNonRoot") is not True:
            problems.append(f"{where}: runAsNonRoot is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation is not false")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: readOnlyRootFilesystem is not true")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problems.append(f"{where}: capabilities do not drop ALL")
        if merged.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{where}: seccompProfile is not RuntimeDefault")
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in c.get("resources", {}).get(kind, {}):
                    problems.append(f"{where}: no {resource} in resources.{kind}")
        image = c.get("image", "")
        if image.endswith(":latest") or not any(sep in image.rsplit("/", 1)[-1] for sep in ":@"):
            problems.append(f"{where}: image {image!r} has no pinned tag")
    if spec.get("automountServiceAccountToken") is not False:
        problems.append(f"{kind_name}: the service account token is mounted")


def check_deployment(d: dict, objects: list[dict], pre_stop_optional: bool, problems: list[str]) -> None:
    name = f"Deployment/{d['metadata']['name']}"
    spec = d["spec"]
    pod = spec["template"]["spec"]
    maps = config_maps(objects)
    check_pod(name, pod, problems)
    if spec.get("strategy", {}).get("rollingUpdate", {}).get("maxUnavailable") != 0:
        problems.append(f"{name}: rollingUpdate.maxUnavailable is not 0")
    (c,) = pod["containers"]
    binary = c.get("command", [None])[0]
    if binary not in BINARIES or len(c["command"]) != 1:
        problems.append(f"{name}: command {c.get('command')} is not one serving binary")
    else:
        # What --help lists: a misspelt or retired variable is silently ignored by the binary.
        known = declared_variables(binary) | UNDECLARED_VARIABLES
        for var in sorted(set(env_of(c)) - known):
            problems.append(f"{name}: {var} is not a variable {binary} reads")
        # A key file named by a variable must be on a volume that holds it.
        for var in sorted(v for v in env_names(c, maps) & known if v.endswith("_FILE")):
            path = env_value(c, var, maps)
            if path is not None and isinstance(where := file_source(pod, c, path, objects), str):
                problems.append(f"{name}: {var} {path!r}: {where}")
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    listen = env_value(c, "LISTEN_ADDR", maps) or ""
    if not listen.startswith("0.0.0.0:") or ports.get("http") != int(listen.rsplit(":", 1)[-1]):
        problems.append(f"{name}: LISTEN_ADDR {listen!r} does not bind the http port {ports.get('http')}")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        got = c.get(probe, {}).get("httpGet", {})
        if got.get("path") != path or got.get("port") not in ("http", ports.get("http")):
            problems.append(f"{name}: {probe} is not GET {path} on the http port")
    # ingress-nginx sends to a deleted pod until its endpoint list catches up; a preStop sleep
    # keeps the pod serving meanwhile. Kubernetes' own sleep: the image has no shell to exec.
    pre_stop = c.get("lifecycle", {}).get("preStop")
    sleep = 0
    if pre_stop is None:
        # Only a pod a proxy sends to needs to serve on after its deletion.
        if not pre_stop_optional and binary in ROUTED:
            problems.append(f"{name}: no preStop sleep, so SIGTERM comes while the ingress still sends")
    elif list(pre_stop) != ["sleep"]:
        problems.append(f"{name}: preStop {sorted(pre_stop)} is not a sleep action (the image has no shell)")
    elif pre_stop["sleep"].get("seconds", 0) < 1:
        problems.append(f"{name}: preStop sleeps {pre_stop['sleep'].get('seconds')} s, not at least 1")
    else:
        sleep = pre_stop["sleep"]["seconds"]
    grace = env_value(c, "SHUTDOWN_GRACE_SECONDS", maps)
    if grace is None:
        problems.append(f"{name}: SHUTDOWN_GRACE_SECONDS is not set")
    elif pod.get("terminationGracePeriodSeconds", 30) <= sleep + int(grace):
        problems.append(
            f"{name}: terminationGracePeriodSeconds is not above the preStop sleep {sleep}"
            f" + SHUTDOWN_GRACE_SECONDS {grace}"
        )
    if binary == "chat-gateway" and pod.get("terminationGracePeriodSeconds", 30) < 40:
        problems.append(f"{name}: the gateway's terminationGracePeriodSeconds is below 40")
    # More than one replica of a routed service needs Redis: rate limits and rooms are shared
    # there. The notifier's replicas share the database alone.
    for var in ("DATABASE_URL", "REDIS_URL") if binary in ROUTED else ("DATABASE_URL",):
        if var not in env_of(c):
            problems.append(f"{name}: {var} is not set")
    env_entry = env_of(c).get("DATABASE_URL", {})
    if "value" in env_entry:
        problems.append(f"{name}: DATABASE_URL is a literal, not a Secret reference")
    if env_value(c, "TRUSTED_PROXY_HOPS", maps) in (None, "0"):
        problems.append(f"{name}: TRUSTED_PROXY_HOPS is not set for the ingress")
    data_dir = env_value(c, "DATA_DIR", maps)
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
    empty_dirs = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
    if mounts.get(data_dir) not in empty_dirs:
        problems.append(f"{name}: DATA_DIR {data_dir!r} is not an emptyDir mount")
    if binary in ("user-search", "chat-gateway"):
        check_jwks_url(name, env_value(c, "JWKS_URL", maps), objects, problems)
    if binary == "auth-api":
        key_file = env_value(c, "JWT_SIGNING_KEY_FILE", maps) or ""
        if not any(key_file.startswith(path + "/") for path in mounts):
            problems.append(f"{name}: JWT_SIGNING_KEY_FILE {key_file!r} is not on a mounted volume")
        if "JWT_SIGNING_KEY" in env_of(c):
            problems.append(f"{name}: the signing key is in the environment, not a file")
    if binary == "notifier":
        check_notifier(name, d, c, maps, problems)
    for source in c.get("envFrom", []):
        ref = source.get("configMapRef", {}).get("name")
        if ref is not None and ref not in maps:
            problems.append(f"{name}: envFrom ConfigMap {ref!r} is not among the objects")


def check_notifier(name: str, d: dict, c: dict, maps: dict[str, dict], problems: list[str]) -> None:
    """What makes the notifier exit at start-up, and replicas that could get no partition."""
    if not env_value(c, "KAFKA_BROKERS", maps):
        problems.append(f"{name}: KAFKA_BROKERS is not set; the notifier exits without it")
    providers = [var for var in PUSH_PROVIDERS if env_value(c, var, maps)]
    if not providers:
        problems.append(f"{name}: no push provider ({', '.join(PUSH_PROVIDERS)}); the notifier exits")
    for var in providers:
        for needed in PUSH_PROVIDERS[var]:
            if not env_value(c, needed, maps):
                problems.append(f"{name}: {var} without {needed}")
    partitions = topic_partitions(c, maps)
    replicas = d["spec"].get("replicas", 1)
    if replicas > partitions:
        problems.append(
            f"{name}: {replicas} replicas for {partitions} partitions; the consumer group leaves"
            f" {replicas - partitions} idle"
        )


def topic_partitions(container: dict, maps: dict[str, dict]) -> int:
    return int(env_value(container, "NOTIFICATIONS_TOPIC_PARTITIONS", maps) or DEFAULT_PARTITIONS)


def check_push_keys(objects: list[dict], problems: list[str]) -> None:
    """auth-api publishes the public half of the key the notifier signs with: one Secret key
    for both, and the same endpoint hosts, or browsers subscribe with a key nobody signs with."""
    maps = config_maps(objects)
    found: dict[str, list] = {}
    for d in (o for o in objects if o["kind"] == "Deployment"):
        pod = d["spec"]["template"]["spec"]
        for c in pod["containers"]:
            binary = (c.get("command") or [None])[0]
            if binary in ("auth-api", "notifier"):
                path = env_value(c, "VAPID_PRIVATE_KEY_FILE", maps)
                key = file_source(pod, c, path, objects) if path else None
                found.setdefault(binary, []).append((key, env_value(c, "WEBPUSH_ENDPOINT_HOSTS", maps)))

    def named(source: tuple[str, str] | str) -> str:
        return "/".join(source) if isinstance(source, tuple) else source

    for signer in found.get("notifier", []):
        if signer[0] is None:
            continue
        for publisher in found.get("auth-api", []):
            if publisher[0] is None:
                problems.append(f"the notifier pushes with the VAPID key {named(signer[0])}, which auth-api does not publish")
            elif publisher[0] != signer[0]:
                problems.append(f"auth-api's VAPID key ({named(publisher[0])}) is not the notifier's ({named(signer[0])})")
            if publisher[1] != signer[1]:
                problems.append(f"auth-api's WEBPUSH_ENDPOINT_HOSTS {publisher[1]!r} is not the notifier's {signer[1]!r}")


def check_jwks_url(name: str, url: str | None, objects: list[dict], problems: list[str]) -> None:
    """JWKS_URL must reach auth-api's Service inside the cluster."""
    prefix = "http://"
    if not url or not url.startswith(prefix) or not url.endswith("/.well-known/jwks.json"):
        problems.append(f"{name}: JWKS_URL {url!r} is not auth-api's JWKS")
        return
    host, _, port = url[len(prefix):].split("/", 1)[0].partition(":")
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    service = services.get(host)
    if service is None or int(port or 80) not in [p["port"] for p in service["spec"]["ports"]]:
        problems.append(f"{name}: JWKS_URL {url!r} names no Service port among the objects")
        return
    serving = [
        o for o in objects
        if o["kind"] == "Deployment"
        and matches(service["spec"]["selector"], o["spec"]["template"]["metadata"]["labels"])
    ]
    if [d["spec"]["template"]["spec"]["containers"][0]["command"][0] for d in serving] != ["auth-api"]:
        problems.append(f"{name}: JWKS_URL's Service {host} does not select auth-api")


def check_references(objects: list[dict], self_contained: bool, problems: list[str]) -> None:
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    for o in objects:
        name = f"{o['kind']}/{o['metadata']['name']}"
        if o["kind"] == "HorizontalPodAutoscaler":
            target = deployments.get(o["spec"]["scaleTargetRef"]["name"])
            if target is None:
                problems.append(f"{name}: scales no Deployment among the objects")
            elif (c := target["spec"]["template"]["spec"]["containers"][0])["command"][0] == "notifier":
                partitions = topic_partitions(c, config_maps(objects))
                if o["spec"]["maxReplicas"] > partitions:
                    problems.append(
                        f"{name}: maxReplicas {o['spec']['maxReplicas']} for the notifier, above the topic's"
                        f" {partitions} partitions: the replicas past them idle"
                    )
            if o["spec"]["minReplicas"] < 2:
                problems.append(f"{name}: minReplicas below 2 leaves a single pod during rollouts")
        if o["kind"] in ("PodDisruptionBudget", "Service"):
            selector = o["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            hits = [d for d in deployments.values() if matches(selector, d["spec"]["template"]["metadata"]["labels"])]
            if len(hits) != 1:
                problems.append(f"{name}: selects {len(hits)} Deployments, not one")
    # One Deployment per routed service, the notifier's if it is deployed, a budget for each.
    running = [d["spec"]["template"]["spec"]["containers"][0]["command"][0] for d in deployments.values()]
    for binary in sorted(BINARIES):
        count = running.count(binary)
        if count > 1 or (count == 0 and binary in ROUTED):
            problems.append(f"{count} Deployments run {binary}, expected one")
    budgets = sum(1 for o in objects if o["kind"] == "PodDisruptionBudget")
    if budgets != len(deployments):
        problems.append(f"{budgets} PodDisruptionBudget objects for {len(deployments)} Deployments, expected one each")
    secrets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Secret"}
    for s in secrets.values():
        for key, value in {**s.get("stringData", {}), **s.get("data", {})}.items():
            if "PRIVATE KEY" in str(value):
                problems.append(f"Secret/{s['metadata']['name']}: {key} holds a real private key")
    if self_contained:
        maps = config_maps(objects)
        for o in objects:
            if o["kind"] not in ("Deployment", "Job"):
                continue
            pod = o["spec"]["template"]["spec"]
            # An optional reference (the read replica's URL, auth-api's VAPID key) may name a
            # key the Secret lacks.
            refs = [
                e["valueFrom"]["secretKeyRef"]
                for c in pod["containers"] for e in c.get("env", [])
                if "secretKeyRef" in e.get("valueFrom", {}) and not e["valueFrom"]["secretKeyRef"].get("optional")
            ]
            secret_volumes = [
                {**v["secret"], "name": v["secret"]["secretName"]} for v in pod.get("volumes", []) if "secret" in v
            ] + [
                s["secret"] for v in pod.get("volumes", []) for s in v.get("projected", {}).get("sources", [])
                if "secret" in s
            ]
            for volume in secret_volumes:
                if volume.get("optional"):
                    continue
                if volume["name"] not in secrets and "items" not in volume:
                    problems.append(f"{o['kind']}/{o['metadata']['name']}: Secret {volume['name']} is not among the objects")
                refs += [{"name": volume["name"], "key": i["key"]} for i in volume.get("items", [])]
            for ref in refs:
                secret = secrets.get(ref["name"])
                keys = {**secret.get("stringData", {}), **secret.get("data", {})} if secret else {}
                if ref["key"] not in keys:
                    problems.append(f"{o['kind']}/{o['metadata']['name']}: Secret {ref['name']} key {ref['key']} is not among the objects")
            for c in pod["containers"]:
                for e in c.get("env", []):
                    ref = e.get("valueFrom", {}).get("configMapKeyRef")
                    if ref and not ref.get("optional") and ref["key"] not in maps.get(ref["name"], {}):
                        problems.append(f"{o['kind']}/{o['metadata']['name']}: ConfigMap {ref['name']} key {ref['key']} is not among the objects")


def check_job(j: dict, problems: list[str]) -> None:
    name = f"Job/{j['metadata']['name']}"
    pod = j["spec"]["template"]["spec"]
    check_pod(name, pod, problems)
    if [c.get("command") for c in pod["containers"]] != [["auth-api", "migrate"]]:
        problems.append(f"{name}: is not one `auth-api migrate` container")
    if pod.get("restartPolicy") not in ("Never", "OnFailure"):
        problems.append(f"{name}: restartPolicy {pod.get('restartPolicy')!r}")


def cmd_policy(path: str, *flags: str) -> int:
    objects = load_objects(path)
    problems: list[str] = []
    jobs = [o for o in objects if o["kind"] == "Job"]
    if len(jobs) != 1:
        problems.append(f"{len(jobs)} Jobs, expected the one migration")
    for o in objects:
        if o["kind"] == "Deployment":
            check_deployment(o, objects, "--pre-stop-optional" in flags, problems)
        elif o["kind"] == "Job":
            check_job(o, problems)
    check_references(objects, "--self-contained" in flags, problems)
    check_push_keys(objects, problems)
    for p in problems:
        print(p)
    print(f"{len(objects)} objects, {len(problems)} problems")
    return 1 if problems else 0


BROKERS = {"brokers": "kafka:9092"}
WEB_PUSH = {"existingSecret": "push", "subject": "mailto:push-admin@example.com"}


def cmd_schema_rejects() -> int:
    """Each of these must stop `helm install` before anything reaches the cluster."""
    import helm_python as helm

    everything = load_values(str(CHART / "ci" / "everything-values.yaml"))
    bad = {
        "pullPolicy not an enum value": {"image": {"pullPolicy": "Sometimes"}},
        "replicas as a string": {"authApi": {"replicaCount": "two"}},
        "negative replicas": {"userSearch": {"replicaCount": -1}},
        "a SQLite database": {"database": {"url": "sqlite://chat.db"}},
        "a non-Redis URL": {"redis": {"url": "http://redis:6379"}},
        "Redis TLS files beside a plain URL": {"redis": {"tls": {"existingSecret": "redis-tls"}}},
        "a Redis client certificate without its key": {
            "redis": {"url": "rediss://redis:6380", "tls": {"existingSecret": "redis-tls", "certKey": "tls.crt"}}
        },
        "a public key as signing key": {"jwt": {"signingKey": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}},
        "a misspelt top-level key": {"autoscalling": {"enabled": True}},
        "a misspelt service key": {"chatGateway": {"replicas": 3}},
        "a missing required key": {"ingress": {"className": None}},
        "ping interval out of range": {"chatGateway": {"websocket": {"pingIntervalSeconds": 0}}},
        "autoscaling below one replica": {"chatGateway": {"autoscaling": {"minReplicas": 0}}},
        "a WebSocket timeout under a minute": {"ingress": {"websocketTimeoutSeconds": 30}},
        "termination grace not above the drain": {"chatGateway": {"terminationGracePeriodSeconds": 25}},
        "preStop sleep + drain reaching the grace": {"authApi": {"preStopSleepSeconds": 10}},
        "a negative preStop sleep": {"userSearch": {"preStopSleepSeconds": -1}},
        "idle timeout not above the ping interval": {"chatGateway": {"websocket": {"idleTimeoutSeconds": 20}}},
        "TLS without a host": {"ingress": {"tls": {"enabled": True}}},
        "a CORS origin with a path": {"cors": {"allowedOrigins": ["https://app.example.com/"]}},
        "a wildcard CORS origin": {"cors": {"allowedOrigins": ["*"]}},
        "CORS origins as one string": {"cors": {"allowedOrigins": "https://app.example.com"}},
        "autoscaling min above max": {"authApi": {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 3}}},
        "the notifier without Kafka": {"notifier": {"enabled": True, "webPush": WEB_PUSH}},
        "the notifier without a provider": {"kafka": BROKERS, "notifier": {"enabled": True}},
        "Web Push without a subject": {
            "kafka": BROKERS, "notifier": {"enabled": True, "webPush": {"existingSecret": "push"}}
        },
        "APNs without its ids": {"kafka": BROKERS, "notifier": {"enabled": True, "apns": {"existingSecret": "push"}}},
        "an APNs key id not 10 characters": {"notifier": {"apns": {"keyId": "ABC123"}}},
        "an APNs team id with a dash": {"notifier": {"apns": {"teamId": "ABCDE-1234"}}},
        "a push preview not an enum value": {"notifier": {"preview": "short"}},
        "a VAPID subject that is no contact": {"notifier": {"webPush": {"subject": "push-admin@example.com"}}},
        "a VAPID subject over http": {"notifier": {"webPush": {"subject": "http://example.com"}}},
        "a push TTL under a minute": {"notifier": {"ttlSeconds": 30}},
        "an autoscaler for the notifier": {"notifier": {"autoscaling": {"enabled": True}}},
        "notifier grace not above its drain": {
            "kafka": BROKERS,
            "notifier": {"enabled": True, "webPush": WEB_PUSH, "terminationGracePeriodSeconds": 20},
        },
    }
    failures = 0
    with helm.Chart.load(CHART) as chart:
        for what, values in bad.items():
            try:
                chart.render(values, name=RELEASE, namespace=NAMESPACE)
            except (helm.HelmValuesError, helm.HelmRenderError) as e:
                print(f"refused, as it should: {what}: {str(e).splitlines()[-1].strip()}")
            else:
                print(f"ACCEPTED: {what}: {values}")
                failures += 1
        # And the other way round: valid values pass, or the refusals above prove nothing.
        try:
            chart.render(copy.deepcopy(everything), name=RELEASE, namespace=NAMESPACE)
        except helm.HelmError as e:
            print(f"REFUSED the valid ci/everything-values.yaml: {e}")
            failures += 1
    return 1 if failures else 0


def main(argv: list[str]) -> int:
    commands = {
        "render": cmd_render,
        "lint": cmd_lint,
        "validate": cmd_validate,
        "policy": cmd_policy,
        "schema-rejects": cmd_schema_rejects,
    }
    if len(argv) < 2 or argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    return commands[argv[1]](*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
