"""What can be checked of the deployment files without running them: they parse, name only real
settings, and carry the fields Docker Compose and Kubernetes require."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from exchange.settings import ENV_PREFIX, Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KNOWN = {ENV_PREFIX + name.upper() for name in Settings.model_fields}


def _env_names(mapping: dict[str, Any]) -> set[str]:
    return {k for k in mapping if k.startswith(ENV_PREFIX)}


def test_compose_has_the_scale_out_services() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "rabbitmq", "migrate", "gateway-1", "gateway-2", "worker-validate", "proxy"} <= set(services)
    for name in ("migrate", "gateway-1", "gateway-2", "worker-validate", "worker-checkpoint"):
        service = services[name]
        environment = service["environment"]
        assert environment["EXCHANGE_DATABASE_URL"].startswith("postgresql://"), name
        assert environment["EXCHANGE_QUEUE_URL"].startswith("amqp://"), name
        assert _env_names(environment) <= KNOWN, f"{name} names an unknown setting"
        assert service["command"][0] in {"migrate", "gateway", "worker"}
    assert services["gateway-1"]["command"] == ["gateway"]
    assert services["worker-validate"]["command"] == ["worker", "validate"]
    assert set(compose["secrets"]) == {"signing_key", "log_key", "secrets_key"}
    assert "gateway-1:8080" in (DEPLOY / "nginx.conf").read_text()


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        docs += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


@pytest.mark.parametrize(("name", "doc"), _documents(), ids=lambda v: v if isinstance(v, str) else v.get("kind", "?"))
def test_kubernetes_manifest_has_required_fields(name: str, doc: dict[str, Any]) -> None:
    assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"], name
    if doc["kind"] == "ConfigMap":
        assert _env_names(doc["data"]) <= KNOWN
    if doc["kind"] == "Secret":
        assert _env_names(doc["stringData"]) <= KNOWN
    if doc["kind"] in ("Deployment", "Job"):
        template = doc["spec"]["template"]
        if doc["kind"] == "Deployment":
            assert doc["spec"]["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
        for container in template["spec"]["containers"]:
            assert container["name"] and container["image"]
            assert container["args"][0] in {"gateway", "worker", "migrate"}
            assert _env_names({e["name"]: 1 for e in container.get("env", [])}) <= KNOWN
            if doc["kind"] == "Deployment":
                assert "livenessProbe" in container and "readinessProbe" in container
    if doc["kind"] == "Service":
        assert doc["spec"]["selector"] and doc["spec"]["ports"]


def test_gateway_probes_use_the_health_endpoints() -> None:
    gateway = next(d for _, d in _documents() if d["kind"] == "Deployment" and "gateway" in d["metadata"]["name"])
    container = gateway["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_container_image_runs_the_command() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    assert 'ENTRYPOINT ["exchange"]' in text
    assert "USER exchange" in text


def test_the_federation_example_has_its_three_nodes() -> None:
    compose = yaml.safe_load((DEPLOY / "federation.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"central", "witness", "regional"}
    for name, service in services.items():
        assert _env_names(service["environment"]) <= KNOWN, f"{name} names an unknown setting"
    assert services["central"]["command"] == ["serve"]
    assert services["regional"]["command"] == ["mirror", "http://central:8080"]
    regional = services["regional"]["environment"]
    assert regional["EXCHANGE_RELAY_UPSTREAMS"].endswith("=http://central:8080")
    assert "CENTRAL_LOG_KEY" in services["witness"]["environment"]["EXCHANGE_WITNESS_LOGS"]
    assert "WITNESS_KEY" in regional["EXCHANGE_MIRROR_WITNESSES"]
