"""The Helm chart in helm/agency: lint, render and validate it, offline.

helm-python-sdk bundles Helm's Go SDK as a shared library (no helm binary, no
cluster, no network) and kubernetes-validate ships the Kubernetes JSON schemas,
so every check here runs on a bare machine.
"""

from __future__ import annotations

import base64
import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "helm" / "agency"
RELEASE = "prod"
NAMESPACE = "agency"
FULLNAME = f"{RELEASE}-agency"
# The chart's floor (Chart.yaml kubeVersion) and the newest schemas kubernetes-validate ships.
KUBE_VERSIONS = ("1.25.0", "1.37.0")
LINT_KUBE_VERSION = "v1.30.0"

DATABASE_URL = "postgresql+asyncpg://agency_app:app-pw-5f1c@db.internal:5432/agency"
MIGRATION_URL = "postgresql+asyncpg://agency_owner:owner-pw-9a7e@db.internal:5432/agency"
REDIS_URL = "redis://:redis-pw-3b2d@redis.internal:6379/0"
SECRET_KEY = "signing-key-0d6c1f2e8b"
ENCRYPTION_KEYS = [
    "q0bT3v9yZl7l0n3H2ZQ2m3kGJ4pR5s6t7u8v9w0x1y4=",
    "aW4gdGhlIGJlZ2lubmluZyB3YXMgdGhlIHdvcmQuLi4=",
]
NETWORK_SECRET = "x-app-secret-71aa"
SMTP_PASSWORD = "smtp-pw-c0ffee"
S3_KEY_ID, S3_SECRET = "AKIAAGENCYMEDIA0", "s3-secret-e4d9b7"
METRICS_TOKEN = "scrape-token-19fe"
SECRET_STRINGS = [
    NETWORK_SECRET,
    SMTP_PASSWORD,
    S3_KEY_ID,
    S3_SECRET,
    METRICS_TOKEN,
    DATABASE_URL,
    MIGRATION_URL,
    REDIS_URL,
    SECRET_KEY,
    *ENCRYPTION_KEYS,
    "app-pw-5f1c",
    "owner-pw-9a7e",
    "redis-pw-3b2d",
]

# The least a user must give when the chart creates the Secret.
REQUIRED_SECRETS: dict[str, Any] = {
    "secrets": {
        "databaseUrl": DATABASE_URL,
        "databaseMigrationUrl": MIGRATION_URL,
        "redisUrl": REDIS_URL,
        "secretKey": SECRET_KEY,
        "encryptionKeys": ENCRYPTION_KEYS,
    },
    "config": {
        "corsOrigins": ["https://app.example.com", "https://admin.example.com"],
        "publicUrl": "https://api.example.com",
    },
    "media": {"s3": {"bucket": "agency-media"}},
}

EXISTING_SECRET = "agency-prod-secrets"
EXISTING_KEYS = {
    "databaseUrl": "DB_URL",
    "databaseMigrationUrl": "DB_OWNER_URL",
    "redisUrl": "REDIS",
    "secretKey": "SIGNING_KEY",
    "encryptionKeys": "FERNET_KEYS",
}
EXISTING_SECRET_VALUES: dict[str, Any] = {
    "secrets": {"existingSecret": EXISTING_SECRET, "keys": EXISTING_KEYS},
    "media": {"s3": {"bucket": "agency-media"}},
    "networks": {"linkedin": {"clientId": "li-app"}},
}
# Everything an operator configures: network apps, SMTP, S3 keys, metrics, traces, a shared
# volume instead of S3, network policies with peers, the ServiceMonitor.
OPERATED_VALUES: dict[str, Any] = {
    **REQUIRED_SECRETS,
    "secrets": {
        **REQUIRED_SECRETS["secrets"],
        "networks": {"x": NETWORK_SECRET},
        "smtpPassword": SMTP_PASSWORD,
        "metricsToken": METRICS_TOKEN,
    },
    "networks": {
        "x": {"clientId": "x-app", "redirectUri": "https://api.example.com/oauth/callback/x"},
        "linkedin": {"clientId": "li-app"},
    },
    "mail": {"smtpHost": "smtp.example.com", "smtpUsername": "agency", "sender": "A <a@b.fr>"},
    "media": {"storage": "volume", "volume": {"size": "200Gi", "storageClassName": "nfs"}},
    "observability": {
        "otlpEndpoint": "http://otel-collector.monitoring:4318",
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
    },
    "networkPolicy": {
        "apiFrom": [{"namespaceSelector": {"matchLabels": {"name": "ingress-nginx"}}}],
        "metricsFrom": [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}],
    },
}
S3_KEYS_VALUES: dict[str, Any] = {
    **REQUIRED_SECRETS,
    "secrets": {
        **REQUIRED_SECRETS["secrets"],
        "s3AccessKeyId": S3_KEY_ID,
        "s3SecretAccessKey": S3_SECRET,
    },
    "media": {"s3": {"bucket": "agency-media", "endpointUrl": "https://s3.fr-par.scw.cloud"}},
}

INGRESS_HPA_VALUES: dict[str, Any] = {
    **REQUIRED_SECRETS,
    "api": {
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
            "hosts": [{"host": "api.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}],
            "tls": [{"secretName": "agency-tls", "hosts": ["api.example.com"]}],
        },
        "autoscaling": {
            "enabled": True,
            "minReplicas": 3,
            "maxReplicas": 12,
            "targetCPUUtilizationPercentage": 70,
            "targetMemoryUtilizationPercentage": 80,
        },
        "podDisruptionBudget": {"enabled": True, "minAvailable": 2},
    },
    "scheduler": {"replicaCount": 2},
}

SCENARIOS: dict[str, dict[str, Any]] = {
    "defaults": REQUIRED_SECRETS,
    "existing-secret": EXISTING_SECRET_VALUES,
    "ingress-hpa": INGRESS_HPA_VALUES,
    "operated": OPERATED_VALUES,
    "s3-keys": S3_KEYS_VALUES,
}
# Custom resources kubernetes-validate has no schema for; checked by their own tests.
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}

# Environment variables whose values are secrets: they must come from a Secret.
SECRET_ENV = {
    "AGENCY_DATABASE_URL": "databaseUrl",
    "AGENCY_DATABASE_MIGRATION_URL": "databaseMigrationUrl",
    "AGENCY_REDIS_URL": "redisUrl",
    "AGENCY_SECRET_KEY": "secretKey",
    "AGENCY_ENCRYPTION_KEYS": "encryptionKeys",
}
WORKLOAD_KINDS = {"Deployment", "Job", "Pod"}


# --- helpers ---------------------------------------------------------------


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


def render(chart: helm.Chart, values: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Render like `helm template` and parse every non-empty manifest."""
    rendered = chart.render(values=values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if not path.endswith((".yaml", ".yml")):
            continue  # NOTES.txt
        for doc in yaml.safe_load_all(text):
            if doc:
                doc.setdefault("metadata", {})["x-template"] = path
                docs.append(doc)
    return docs


def strip_marker(doc: dict[str, Any]) -> dict[str, Any]:
    clean = json.loads(json.dumps(doc))
    clean["metadata"].pop("x-template", None)
    return clean


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def by_component(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {
        doc["metadata"]["labels"]["app.kubernetes.io/component"]: doc for doc in of_kind(docs, kind)
    }


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"] if doc["kind"] == "Pod" else doc["spec"]["template"]["spec"]
    return spec


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(doc)
    return [*spec.get("initContainers", []), *spec["containers"]]


def argv(container: dict[str, Any]) -> list[str]:
    return [*container.get("command", []), *container.get("args", [])]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def the_container(doc: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod_spec(doc)["containers"]
    return only


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def scenario(request: pytest.FixtureRequest, chart: helm.Chart) -> list[dict[str, Any]]:
    return render(chart, SCENARIOS[request.param])


# --- lint and schema -------------------------------------------------------


@pytest.mark.parametrize("name", [None, *sorted(SCENARIOS)])
def test_helm_lint_passes_strict(name: str | None) -> None:
    values = None if name is None else SCENARIOS[name]
    report = helm.lint(CHART_DIR, values, strict=True, kube_version=LINT_KUBE_VERSION)
    assert report["total_charts_linted"] == 1
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # warnings and errors
    assert problems == [], problems
    assert report["errors"] == []


def test_chart_metadata(chart: helm.Chart) -> None:
    assert chart.metadata["apiVersion"] == "v2"
    assert chart.name == "agency"
    assert chart.schema is not None, "values.schema.json is shipped"


def test_values_schema_accepts_defaults_and_catches_typos(chart: helm.Chart) -> None:
    for values in SCENARIOS.values():
        chart.validate_schema(values)
    with pytest.raises(helm.HelmValuesError, match="replicaCount"):
        chart.validate_schema({"api": {"replicaCount": "three"}})
    with pytest.raises(helm.HelmValuesError, match="replicas"):
        chart.validate_schema({"worker": {"replicas": 3}})


def test_default_values_alone_fail_naming_what_is_missing(chart: helm.Chart) -> None:
    """No secrets given and no existingSecret: the render stops and says what to set."""
    with pytest.raises(helm.HelmRenderError) as caught:
        render(chart, None)
    message = str(caught.value)
    for key in ("secrets.databaseUrl", "secrets.redisUrl", "secrets.secretKey"):
        assert key in message
    assert "secrets.encryptionKeys" in message
    assert "secrets.existingSecret" in message
    assert "media.s3.bucket" in message  # media need a store api and workers share


def test_notes_render(chart: helm.Chart) -> None:
    rendered = chart.render(values=INGRESS_HPA_VALUES, name=RELEASE, namespace=NAMESPACE)
    notes = rendered["agency/templates/NOTES.txt"]
    assert "https://api.example.com/" in notes
    assert f"job/{FULLNAME}-migrations" in notes


# --- every manifest is valid Kubernetes -------------------------------------


def test_manifests_validate_against_kubernetes_schemas(scenario: list[dict[str, Any]]) -> None:
    failures = []
    for doc in scenario:
        where = f"{doc['metadata']['x-template']} {doc['kind']}/{doc['metadata']['name']}"
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(strip_marker(doc), version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = ".".join(str(part) for part in exc.path)
                failures.append(f"{where} (k8s {version}): {path}: {exc.message}")
            except kubernetes_validate.SchemaNotFoundError as exc:
                failures.append(f"{where} (k8s {version}): {exc.message}")
    assert failures == []


def test_every_object_has_standard_labels(scenario: list[dict[str, Any]]) -> None:
    for doc in scenario:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "agency"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/version"]
        assert labels["helm.sh/chart"].startswith("agency-")


# --- what runs ---------------------------------------------------------------


def test_three_deployments_from_one_image(scenario: list[dict[str, Any]]) -> None:
    deployments = by_component(scenario, "Deployment")
    assert set(deployments) == {"api", "worker", "scheduler"}
    assert {d["metadata"]["name"] for d in deployments.values()} == {
        f"{FULLNAME}-api",
        f"{FULLNAME}-worker",
        f"{FULLNAME}-scheduler",
    }
    images = {
        c["image"] for doc in scenario if doc["kind"] in WORKLOAD_KINDS for c in containers(doc)
    }
    assert len(images) == 1, images
    assert argv(the_container(deployments["api"]))[:2] == ["agency", "serve"]
    assert argv(the_container(deployments["worker"])) == ["agency", "worker"]
    assert argv(the_container(deployments["scheduler"])) == ["agency", "scheduler"]
    api = argv(the_container(deployments["api"]))
    assert api[api.index("--host") + 1] == "0.0.0.0"
    assert api[api.index("--port") + 1] == "8000"


def test_commands_are_the_packages_console_script(scenario: list[dict[str, Any]]) -> None:
    """Every container runs the `agency` script that `pip install .` puts on PATH."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "agency" in scripts
    for doc in scenario:
        if doc["kind"] in {"Deployment", "Job"}:
            for container in containers(doc):
                assert argv(container)[0] == "agency"


def test_migration_job_is_a_pre_install_pre_upgrade_hook(scenario: list[dict[str, Any]]) -> None:
    (job,) = of_kind(scenario, "Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    int(annotations["helm.sh/hook-weight"])
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"].split(",")
    assert argv(the_container(job)) == ["agency", "db", "upgrade"]
    assert pod_spec(job)["restartPolicy"] == "Never"


def test_migration_job_can_run_on_a_first_install(scenario: list[dict[str, Any]]) -> None:
    """A pre-install hook runs before the release's own objects exist, so everything
    the Job needs that the chart renders must itself be an earlier hook."""
    (job,) = of_kind(scenario, "Job")
    job_weight = int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
    rendered = {(doc["kind"], doc["metadata"]["name"]): doc for doc in scenario}
    needed = {
        ("Secret", item["valueFrom"]["secretKeyRef"]["name"])
        for item in the_container(job)["env"]
        if "secretKeyRef" in item.get("valueFrom", {})
    }
    if "serviceAccountName" in pod_spec(job):
        needed.add(("ServiceAccount", pod_spec(job)["serviceAccountName"]))
    for key in needed:
        if key not in rendered:
            continue  # managed outside the chart, exists before the install
        annotations = rendered[key]["metadata"].get("annotations", {})
        assert "pre-install" in annotations.get("helm.sh/hook", ""), key
        assert int(annotations["helm.sh/hook-weight"]) < job_weight, key


def test_migration_job_alone_gets_the_owner_url(scenario: list[dict[str, Any]]) -> None:
    (job,) = of_kind(scenario, "Job")
    assert "AGENCY_DATABASE_MIGRATION_URL" in env_of(the_container(job))
    assert env_of(the_container(job))["AGENCY_DATABASE_APP_ROLE"]["value"] == "agency_app"
    for deployment in of_kind(scenario, "Deployment"):
        assert "AGENCY_DATABASE_MIGRATION_URL" not in env_of(the_container(deployment))


# --- secrets -------------------------------------------------------------------


def test_secret_values_never_in_plain_env(scenario: list[dict[str, Any]]) -> None:
    for doc in scenario:
        if doc["kind"] not in WORKLOAD_KINDS:
            continue
        for container in containers(doc):
            for item in container.get("env", []):
                if item["name"] in SECRET_ENV:
                    assert "value" not in item, item
                    assert "secretKeyRef" in item["valueFrom"], item
                value = str(item.get("value", ""))
                for secret in SECRET_STRINGS:
                    assert secret not in value, (doc["metadata"]["name"], item["name"])


def test_secret_values_only_in_secrets(scenario: list[dict[str, Any]]) -> None:
    for doc in scenario:
        if doc["kind"] == "Secret":
            continue
        text = json.dumps(doc)
        for secret in SECRET_STRINGS:
            assert secret not in text, (doc["kind"], doc["metadata"]["name"])
            encoded = base64.b64encode(secret.encode()).decode()
            assert encoded not in text, (doc["kind"], doc["metadata"]["name"])


def test_chart_created_secret_holds_the_values(chart: helm.Chart) -> None:
    docs = render(chart, REQUIRED_SECRETS)
    secrets = {doc["metadata"]["name"]: doc for doc in of_kind(docs, "Secret")}
    assert set(secrets) == {FULLNAME, f"{FULLNAME}-migrations"}
    app = {k: base64.b64decode(v).decode() for k, v in secrets[FULLNAME]["data"].items()}
    assert app == {
        "database-url": DATABASE_URL,
        "redis-url": REDIS_URL,
        "secret-key": SECRET_KEY,
        "encryption-keys": ",".join(ENCRYPTION_KEYS),
    }  # and nothing for what was not given (SMTP, S3 keys, networks, metrics token)
    hook = secrets[f"{FULLNAME}-migrations"]
    assert base64.b64decode(hook["data"]["database-migration-url"]).decode() == MIGRATION_URL
    assert "helm.sh/hook" not in secrets[FULLNAME]["metadata"].get("annotations", {})
    for deployment in of_kind(docs, "Deployment"):
        env = env_of(the_container(deployment))
        for name in ("AGENCY_DATABASE_URL", "AGENCY_REDIS_URL", "AGENCY_SECRET_KEY"):
            assert env[name]["valueFrom"]["secretKeyRef"]["name"] == FULLNAME
        assert env["AGENCY_CORS_ORIGINS"]["value"] == (
            "https://app.example.com,https://admin.example.com"
        )
        assert env["AGENCY_PUBLIC_URL"]["value"] == "https://api.example.com"
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert "checksum/secret" in annotations  # a changed Secret rolls the pods


def test_existing_secret_renders_no_secret_and_is_referenced(chart: helm.Chart) -> None:
    docs = render(chart, EXISTING_SECRET_VALUES)
    assert of_kind(docs, "Secret") == []
    workloads = [doc for doc in docs if doc["kind"] in {"Deployment", "Job"}]
    assert len(workloads) == 4
    for doc in workloads:
        env = env_of(the_container(doc))
        client_secret = env["AGENCY_NETWORKS__LINKEDIN__CLIENT_SECRET"]["valueFrom"]
        assert client_secret["secretKeyRef"] == {
            "name": EXISTING_SECRET,
            "key": "network-linkedin-client-secret",
            "optional": True,  # a key the Secret may not have
        }
        for name, value_key in SECRET_ENV.items():
            if name not in env:
                assert name == "AGENCY_DATABASE_MIGRATION_URL" and doc["kind"] == "Deployment"
                continue
            ref = env[name]["valueFrom"]["secretKeyRef"]
            assert ref == {
                "name": EXISTING_SECRET,
                "key": EXISTING_KEYS[value_key],
                **({"optional": True} if name == "AGENCY_DATABASE_MIGRATION_URL" else {}),
            }
        assert "checksum/secret" not in doc["spec"]["template"]["metadata"].get("annotations", {})


# --- probes, networking, scaling --------------------------------------------------


def test_probes_on_every_deployment(scenario: list[dict[str, Any]]) -> None:
    deployments = by_component(scenario, "Deployment")
    api = the_container(deployments["api"])
    ports = {port["name"]: port["containerPort"] for port in api["ports"]}
    assert ports == {"http": 8000}
    assert api["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    for name in ("worker", "scheduler"):
        container = the_container(deployments[name])
        for probe in ("livenessProbe", "readinessProbe"):
            assert container[probe]["exec"]["command"] == ["agency", "check"], (name, probe)
            assert container[probe]["timeoutSeconds"] >= 5


def test_api_service_selects_only_api_pods(scenario: list[dict[str, Any]]) -> None:
    service = by_component(scenario, "Service")["api"]
    selector = service["spec"]["selector"]
    for component, deployment in by_component(scenario, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        selected = all(labels.get(k) == v for k, v in selector.items())
        assert selected == (component == "api"), component
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert [port["targetPort"] for port in service["spec"]["ports"]] == ["http"]


def test_defaults_have_no_ingress_or_hpa(chart: helm.Chart) -> None:
    docs = render(chart, REQUIRED_SECRETS)
    assert of_kind(docs, "Ingress") == []
    assert of_kind(docs, "HorizontalPodAutoscaler") == []
    api = by_component(docs, "Deployment")["api"]
    assert api["spec"]["replicas"] == 2
    assert by_component(docs, "Deployment")["scheduler"]["spec"]["replicas"] == 1


def test_ingress_and_hpa(chart: helm.Chart) -> None:
    docs = render(chart, INGRESS_HPA_VALUES)
    service = by_component(docs, "Service")["api"]
    (ingress,) = of_kind(docs, "Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["api.example.com"], "secretName": "agency-tls"}]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "api.example.com"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": service["metadata"]["name"], "port": {"name": "http"}}

    (hpa,) = of_kind(docs, "HorizontalPodAutoscaler")
    api = by_component(docs, "Deployment")["api"]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": api["metadata"]["name"],
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} == {"cpu", "memory"}
    assert "replicas" not in api["spec"], "the HPA owns the api replica count"
    assert by_component(docs, "Deployment")["scheduler"]["spec"]["replicas"] == 2
    pdb = by_component(docs, "PodDisruptionBudget")["api"]
    assert pdb["spec"]["selector"]["matchLabels"] == api["spec"]["selector"]["matchLabels"]


# --- hardening -----------------------------------------------------------------------


def test_pods_run_non_root_read_only_without_capabilities(scenario: list[dict[str, Any]]) -> None:
    for doc in scenario:
        if doc["kind"] not in WORKLOAD_KINDS:
            continue
        spec = pod_spec(doc)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["automountServiceAccountToken"] is False
        for container in containers(doc):
            context = container["securityContext"]
            assert context["capabilities"]["drop"] == ["ALL"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            if doc["kind"] != "Pod":
                assert "/tmp" in mounts, "a writable /tmp next to the read-only root"
                assert container["resources"]["requests"] and container["resources"]["limits"]


def test_deployments_use_the_chart_service_account(scenario: list[dict[str, Any]]) -> None:
    (account,) = of_kind(scenario, "ServiceAccount")
    for deployment in of_kind(scenario, "Deployment"):
        assert pod_spec(deployment)["serviceAccountName"] == account["metadata"]["name"]


# --- less common settings ------------------------------------------------------------

CUSTOMISED_VALUES: dict[str, Any] = {
    "secrets": {
        "existingSecret": EXISTING_SECRET,
        "existingMigrationSecret": "agency-owner",
    },
    "media": {"s3": {"bucket": "agency-media"}},
    "serviceAccount": {"create": False, "name": "agency-shared"},
    "image": {"repository": "registry.example.com/agency", "digest": "sha256:" + "ab" * 32},
    "imagePullSecrets": [{"name": "regcred"}],
    "extraEnv": [{"name": "AGENCY_WORKER_THREADS", "value": "8"}],
    "tmpVolume": {"sizeLimit": None},
    "migrations": {"hookWeight": -3, "ttlSecondsAfterFinished": 600},
    "api": {
        "service": {"type": "NodePort", "nodePort": 30080},
        "podDisruptionBudget": {"enabled": True, "maxUnavailable": 1},
    },
    "worker": {
        "replicaCount": 4,
        "extraArgs": ["--verbose"],
        "nodeSelector": {"pool": "workers"},
        "tolerations": [{"key": "workers", "operator": "Exists", "effect": "NoSchedule"}],
    },
}


def test_customised_values_render_valid_manifests(chart: helm.Chart) -> None:
    chart.validate_schema(CUSTOMISED_VALUES)
    docs = render(chart, CUSTOMISED_VALUES)
    for doc in docs:
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(strip_marker(doc), version, strict=True)
    assert of_kind(docs, "ServiceAccount") == []
    assert of_kind(docs, "Secret") == []
    images = {c["image"] for doc in docs if doc["kind"] in WORKLOAD_KINDS for c in containers(doc)}
    assert images == {"registry.example.com/agency@sha256:" + "ab" * 32}

    (job,) = of_kind(docs, "Job")
    assert pod_spec(job)["serviceAccountName"] == "agency-shared"
    assert job["spec"]["ttlSecondsAfterFinished"] == 600
    owner = env_of(the_container(job))["AGENCY_DATABASE_MIGRATION_URL"]["valueFrom"]
    assert owner["secretKeyRef"] == {"name": "agency-owner", "key": "database-migration-url"}

    worker = by_component(docs, "Deployment")["worker"]
    assert worker["spec"]["replicas"] == 4
    assert argv(the_container(worker)) == ["agency", "worker", "--verbose"]
    assert pod_spec(worker)["nodeSelector"] == {"pool": "workers"}
    assert "nodeSelector" not in pod_spec(by_component(docs, "Deployment")["api"])
    for deployment in of_kind(docs, "Deployment"):
        spec = pod_spec(deployment)
        assert spec["serviceAccountName"] == "agency-shared"
        assert spec["imagePullSecrets"] == [{"name": "regcred"}]
        assert env_of(the_container(deployment))["AGENCY_WORKER_THREADS"]["value"] == "8"
    pdb = by_component(docs, "PodDisruptionBudget")["api"]
    assert pdb["spec"]["maxUnavailable"] == 1


def test_chart_user_matches_the_image_user(chart: helm.Chart) -> None:
    """The Dockerfile's numeric USER is the uid the chart runs pods as."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert users, "the image sets a non-root USER"
    uid, _, gid = users[-1].partition(":")
    context = chart.values["podSecurityContext"]
    assert (str(context["runAsUser"]), str(context["runAsGroup"])) == (uid, gid)
    assert int(uid) != 0
    assert 'CMD ["agency", "serve", "--host", "0.0.0.0", "--port", "8000"]' in dockerfile


# --- what an operator configures ---------------------------------------------


def test_media_go_to_s3_by_default_with_keys_from_the_secret(chart: helm.Chart) -> None:
    docs = render(chart, S3_KEYS_VALUES)
    assert of_kind(docs, "PersistentVolumeClaim") == []
    for deployment in of_kind(docs, "Deployment"):
        env = env_of(the_container(deployment))
        assert env["AGENCY_MEDIA__STORAGE"]["value"] == "s3"
        assert env["AGENCY_MEDIA__S3_BUCKET"]["value"] == "agency-media"
        assert env["AGENCY_MEDIA__S3_ENDPOINT_URL"]["value"] == "https://s3.fr-par.scw.cloud"
        for name, key in (
            ("AGENCY_MEDIA__S3_ACCESS_KEY_ID", "s3-access-key-id"),
            ("AGENCY_MEDIA__S3_SECRET_ACCESS_KEY", "s3-secret-access-key"),
        ):
            assert env[name]["valueFrom"]["secretKeyRef"] == {"name": FULLNAME, "key": key}
    [secret] = [d for d in of_kind(docs, "Secret") if d["metadata"]["name"] == FULLNAME]
    assert base64.b64decode(secret["data"]["s3-secret-access-key"]).decode() == S3_SECRET


def test_a_shared_volume_instead_of_s3_is_mounted_by_api_and_workers(chart: helm.Chart) -> None:
    docs = render(chart, OPERATED_VALUES)
    [claim] = of_kind(docs, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["storageClassName"] == "nfs"
    assert claim["spec"]["resources"]["requests"]["storage"] == "200Gi"
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    deployments = by_component(docs, "Deployment")
    for name, mounted in (("api", True), ("worker", True), ("scheduler", False)):
        container = the_container(deployments[name])
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod_spec(deployments[name])["volumes"]}
        assert ("media" in mounts) is mounted, name
        if mounted:
            assert mounts["media"] == "/var/lib/agency/media"
            claim_name = volumes["media"]["persistentVolumeClaim"]["claimName"]
            assert claim_name == claim["metadata"]["name"]
        env = env_of(container)
        assert env["AGENCY_MEDIA__STORAGE"]["value"] == "local"
        assert env["AGENCY_MEDIA__LOCAL_PATH"]["value"] == "/var/lib/agency/media"
    existing = {
        **OPERATED_VALUES,
        "media": {"storage": "volume", "volume": {"existingClaim": "nfs-media"}},
    }
    docs = render(chart, existing)
    assert of_kind(docs, "PersistentVolumeClaim") == []
    api = by_component(docs, "Deployment")["api"]
    volumes = {v["name"]: v for v in pod_spec(api)["volumes"]}
    assert volumes["media"]["persistentVolumeClaim"]["claimName"] == "nfs-media"


def test_network_apps_smtp_and_traces_are_values(chart: helm.Chart) -> None:
    docs = render(chart, OPERATED_VALUES)
    secrets = {d["metadata"]["name"]: d for d in of_kind(docs, "Secret")}
    data = secrets[FULLNAME]["data"]
    assert base64.b64decode(data["network-x-client-secret"]).decode() == NETWORK_SECRET
    assert base64.b64decode(data["smtp-password"]).decode() == SMTP_PASSWORD
    assert "network-linkedin-client-secret" not in data  # none given: none referenced
    for deployment in of_kind(docs, "Deployment"):
        name = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        env = env_of(the_container(deployment))
        assert env["AGENCY_NETWORKS__X__CLIENT_ID"]["value"] == "x-app"
        assert env["AGENCY_NETWORKS__X__REDIRECT_URI"]["value"].endswith("/oauth/callback/x")
        assert env["AGENCY_NETWORKS__X__CLIENT_SECRET"]["valueFrom"]["secretKeyRef"] == {
            "name": FULLNAME,
            "key": "network-x-client-secret",
        }
        assert env["AGENCY_NETWORKS__LINKEDIN__CLIENT_ID"]["value"] == "li-app"
        assert "AGENCY_NETWORKS__LINKEDIN__CLIENT_SECRET" not in env
        assert env["AGENCY_MAIL__SMTP_HOST"]["value"] == "smtp.example.com"
        assert env["AGENCY_MAIL__SMTP_PORT"]["value"] == "587"
        assert env["AGENCY_MAIL__SMTP_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == (
            "smtp-password"
        )
        assert env["AGENCY_LOGS__FORMAT"]["value"] == "json"
        assert (
            env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == "http://otel-collector.monitoring:4318"
        )
        assert env["OTEL_SERVICE_NAME"]["value"] == f"agency-{name}"


def test_pdbs_keep_workers_and_schedulers_drained_one_at_a_time(
    scenario: list[dict[str, Any]],
) -> None:
    budgets = by_component(scenario, "PodDisruptionBudget")
    for name in ("worker", "scheduler"):
        spec = budgets[name]["spec"]
        assert spec == {
            "maxUnavailable": 1,
            "selector": {"matchLabels": {**SELECTOR, "app.kubernetes.io/component": name}},
        }


SELECTOR = {"app.kubernetes.io/name": "agency", "app.kubernetes.io/instance": RELEASE}


def test_network_policies_open_only_what_each_pod_serves(chart: helm.Chart) -> None:
    policies = by_component(render(chart, OPERATED_VALUES), "NetworkPolicy")
    assert set(policies) == {"api", "worker", "scheduler", "migrations"}
    api = policies["api"]["spec"]
    assert api["policyTypes"] == ["Ingress"]
    [rule] = api["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert rule["from"] == OPERATED_VALUES["networkPolicy"]["apiFrom"]
    for name in ("worker", "scheduler"):
        [rule] = policies[name]["spec"]["ingress"]
        assert rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]
        assert rule["from"] == OPERATED_VALUES["networkPolicy"]["metricsFrom"]
    assert policies["migrations"]["spec"]["ingress"] == []
    # Each selects its own pods: the Deployments carry the labels the policies name.
    deployments = by_component(render(chart, OPERATED_VALUES), "Deployment")
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert policies[name]["spec"]["podSelector"]["matchLabels"].items() <= labels.items()


def test_service_monitor_scrapes_the_api_and_the_metrics_ports(chart: helm.Chart) -> None:
    docs = render(chart, OPERATED_VALUES)
    [monitor] = of_kind(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    selector = monitor["spec"]["selector"]["matchLabels"]
    scraped = [
        s for s in of_kind(docs, "Service") if selector.items() <= s["metadata"]["labels"].items()
    ]
    ports = {
        s["metadata"]["labels"]["app.kubernetes.io/component"]: {
            p["name"] for p in s["spec"]["ports"]
        }
        for s in scraped
    }
    assert ports == {"api": {"http"}, "worker": {"metrics"}, "scheduler": {"metrics"}}
    endpoints = {e["port"]: e for e in monitor["spec"]["endpoints"]}
    assert set(endpoints) == {"http", "metrics"}
    for endpoint in endpoints.values():
        assert endpoint["path"] == "/metrics"
        assert endpoint["authorization"]["credentials"] == {
            "name": FULLNAME,
            "key": "metrics-token",
        }
    deployments = by_component(docs, "Deployment")
    for name in ("worker", "scheduler"):
        container = the_container(deployments[name])
        assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"metrics": 9100}
        assert env_of(container)["AGENCY_METRICS__TOKEN"]["valueFrom"]["secretKeyRef"] == {
            "name": FULLNAME,
            "key": "metrics-token",
        }
    assert of_kind(render(chart, REQUIRED_SECRETS), "ServiceMonitor") == []  # off by default


def test_the_api_believes_forwarded_addresses_from_private_ranges_only(
    scenario: list[dict[str, Any]],
) -> None:
    deployments = by_component(scenario, "Deployment")
    api = env_of(the_container(deployments["api"]))
    assert api["FORWARDED_ALLOW_IPS"]["value"] == "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"
    for name in ("worker", "scheduler"):
        assert "FORWARDED_ALLOW_IPS" not in env_of(the_container(deployments[name]))
