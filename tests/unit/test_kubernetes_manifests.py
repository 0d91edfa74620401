"""deploy/kubernetes/distributed/: every manifest parses, and the names, ports and labels that
tie them together agree (a Service selects a pod template, a port names a container port,
the workers join the master's Service on its port, secrets, config maps and claims exist),
and the master uses the receiver Deployment: through its Service, with the secret path,
shared state in Valkey and its shards in the master's run directory on one shared volume."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes" / "distributed"


def documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        loaded = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
        assert loaded, f"{path.name}: no document"
        for doc in loaded:
            assert {"apiVersion", "kind", "metadata"} <= doc.keys(), path.name
        docs.extend(loaded)
    return docs


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in documents() if doc["kind"] == kind}


def pod_templates() -> dict[str, dict[str, Any]]:
    return {
        name: doc["spec"]["template"]
        for kind in ("Job", "Deployment")
        for name, doc in by_kind(kind).items()
    }


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_every_manifest_parses_with_the_kinds_a_distributed_run_needs() -> None:
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in documents()}
    assert {
        ("Job", "dumgum-loadtest-master"),
        ("Service", "dumgum-loadtest-master"),
        ("Deployment", "dumgum-loadtest-worker"),
        ("Service", "dumgum-loadtest-receiver"),
        ("Deployment", "dumgum-loadtest-receiver"),
        ("ConfigMap", "dumgum-loadtest-run"),
        ("Deployment", "dumgum-loadtest-valkey"),
        ("Service", "dumgum-loadtest-valkey"),
        ("Secret", "dumgum-loadtest-token"),
        ("PersistentVolumeClaim", "dumgum-loadtest-runs"),
    } <= kinds


def test_every_service_selects_a_pod_template_that_names_its_target_ports() -> None:
    templates = pod_templates()
    for name, service in by_kind("Service").items():
        selector = service["spec"]["selector"]
        matching = [
            t for t in templates.values() if selector.items() <= t["metadata"]["labels"].items()
        ]
        assert len(matching) == 1, f"Service {name}: selects {len(matching)} pod templates"
        container_ports = {
            p["name"]: p["containerPort"]
            for c in matching[0]["spec"]["containers"]
            for p in c.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in container_ports, f"Service {name}: {port}"
            assert container_ports[port["targetPort"]] == port["port"], f"Service {name}"


def test_deployments_select_their_own_pods() -> None:
    for name, deployment in by_kind("Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items(), name


def test_the_workers_join_the_master_s_service_on_the_port_it_listens_on() -> None:
    master = by_kind("Job")["dumgum-loadtest-master"]["spec"]["template"]["spec"]
    master_args = master["containers"][0]["args"]
    assert master_args[0] == "run"
    assert option(master_args, "--master-bind-host") == "0.0.0.0"
    port = int(option(master_args, "--master-port"))
    service_ports = {
        p["port"] for p in by_kind("Service")["dumgum-loadtest-master"]["spec"]["ports"]
    }
    assert port in service_ports
    worker_deployment = by_kind("Deployment")["dumgum-loadtest-worker"]
    worker_args = worker_deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert worker_args[0] == "worker"
    assert option(worker_args, "--master-host") == "dumgum-loadtest-master"
    assert int(option(worker_args, "--master-port")) == port
    # The master waits for as many workers as the Deployment runs.
    assert int(option(master_args, "--expect-workers")) == worker_deployment["spec"]["replicas"]


def test_secrets_config_maps_and_claims_the_pods_use_exist() -> None:
    secrets = by_kind("Secret")
    config_maps = by_kind("ConfigMap")
    claims = by_kind("PersistentVolumeClaim")
    for name, template in pod_templates().items():
        for container in template["spec"]["containers"]:
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]]["stringData"], (name, ref)
                ref = variable.get("valueFrom", {}).get("configMapKeyRef")
                if ref:
                    assert ref["key"] in config_maps[ref["name"]]["data"], (name, ref)
        for volume in template["spec"].get("volumes", []):
            claim = volume.get("persistentVolumeClaim")
            if claim:
                assert claim["claimName"] in claims, name
    worker = pod_templates()["dumgum-loadtest-worker"]["spec"]["containers"][0]
    # A worker takes its token from its own environment, never from the master.
    assert "DUMGUM_LOADTEST_TOKEN" in {v["name"] for v in worker["env"]}


def container_of(name: str) -> dict[str, Any]:
    containers: list[dict[str, Any]] = pod_templates()[name]["spec"]["containers"]
    assert len(containers) == 1, name
    return containers[0]


def env_sources(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v.get("valueFrom", {}) for v in container.get("env", [])}


def runs_mount(name: str) -> str:
    """Where pod template ``name`` mounts the runs claim."""
    template = pod_templates()[name]["spec"]
    volume = next(
        v["name"]
        for v in template["volumes"]
        if v.get("persistentVolumeClaim", {}).get("claimName") == "dumgum-loadtest-runs"
    )
    mount: str = next(
        m["mountPath"] for m in container_of(name)["volumeMounts"] if m["name"] == volume
    )
    return mount


def test_the_receiver_is_its_own_deployment_sharing_state_in_valkey() -> None:
    deployment = by_kind("Deployment")["dumgum-loadtest-receiver"]
    assert deployment["spec"]["replicas"] == 2
    receiver = container_of("dumgum-loadtest-receiver")
    args = receiver["args"]
    assert args[0] == "receiver"
    assert option(args, "--host") == "0.0.0.0"
    port = int(option(args, "--port"))
    assert {"name": "receiver", "containerPort": port} in receiver["ports"]
    # Several pods: the state lives in the Valkey Service, on its port.
    state = urlsplit(option(args, "--state"))
    assert state.scheme == "redis"
    valkey = by_kind("Service")[str(state.hostname)]
    assert state.port in {p["port"] for p in valkey["spec"]["ports"]}
    # Ready once it answers /health, on its own port.
    probe = receiver["readinessProbe"]["httpGet"]
    assert probe["path"] == "/health"
    assert probe["port"] in ("receiver", port)
    # The secret path by environment, from the same Secret as the master's.
    master_sources = env_sources(container_of("dumgum-loadtest-master"))
    receiver_sources = env_sources(receiver)
    secret = "DUMGUM_RECEIVER_SECRET_PATH"
    assert receiver_sources[secret] == master_sources[secret]
    assert "--secret-path" not in args


def test_the_master_uses_the_receiver_service_and_reads_its_shards_on_the_shared_volume() -> None:
    master = container_of("dumgum-loadtest-master")
    receiver = container_of("dumgum-loadtest-receiver")
    master_args = master["args"]
    # The master starts no receiver: none of the options that configure one.
    for started in ("--receiver-host", "--receiver-port", "--receiver-state"):
        assert started not in master_args, started
    url = urlsplit(option(master_args, "--receiver-url"))
    service = by_kind("Service")[str(url.hostname)]
    assert service["spec"]["selector"].items() <= (
        pod_templates()["dumgum-loadtest-receiver"]["metadata"]["labels"].items()
    )
    assert url.port in {p["port"] for p in service["spec"]["ports"]}
    # The receivers write into the master's run directory: --out RUN_DIR/raw, where RUN_DIR
    # names the same path (from the same config map) on the same claim, mounted alike.
    run_dir = option(master_args, "--out")
    assert option(receiver["args"], "--out") == f"{run_dir}/raw"
    assert runs_mount("dumgum-loadtest-master") == runs_mount("dumgum-loadtest-receiver")
    assert run_dir.startswith(runs_mount("dumgum-loadtest-master") + "/")
    for variable in re.findall(r"\$\((\w+)\)", run_dir):
        source = env_sources(master)[variable]
        assert "configMapKeyRef" in source, variable
        assert env_sources(receiver)[variable] == source, variable
    # Pods on several nodes write to the claim at once.
    claim = by_kind("PersistentVolumeClaim")["dumgum-loadtest-runs"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_nothing_refers_outside_the_repository() -> None:
    # A parent-directory path would point at files a user of the manifests does not have.
    for path in MANIFESTS.iterdir():
        assert "../" not in path.read_text(), path.name
