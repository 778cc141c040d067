"""The deployment files are valid: the Dockerfile passes hadolint, the Kubernetes manifests pass
schema validation (kubernetes-validate, strict), and the Deployment's GPU request matches its
--num-shard, its probes hit /health, and its grace period covers preStop plus the drain."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
yaml = pytest.importorskip("yaml")

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "kubernetes"


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint is not installed")
def test_dockerfile_passes_hadolint():
    r = subprocess.run(["hadolint", str(REPO / "deploy" / "Dockerfile")], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.skipif(shutil.which("kubernetes-validate") is None,
                    reason="kubernetes-validate is not installed")
def test_manifests_match_the_kubernetes_schemas(tmp_path):
    files = sorted(str(p) for p in K8S.glob("*.yaml"))
    assert len(files) == 3
    r = subprocess.run(["kubernetes-validate", "--strict", "-k", "1.30.0"] + files,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    # The validator does reject a broken manifest.
    broken = tmp_path / "broken.yaml"
    broken.write_text((K8S / "service.yaml").read_text().replace("targetPort:", "targetPorts:"))
    r = subprocess.run(["kubernetes-validate", "--strict", "-k", "1.30.0", str(broken)],
                       capture_output=True, text=True)
    assert r.returncode != 0


def test_deployment_is_consistent_with_the_launcher():
    deployment = yaml.safe_load((K8S / "deployment.yaml").read_text())
    spec = deployment["spec"]["template"]["spec"]
    container = spec["containers"][0]
    args = container["args"]
    num_shard = int(args[args.index("--num-shard") + 1])
    shutdown_timeout = int(args[args.index("--shutdown-timeout") + 1])
    assert int(container["resources"]["limits"]["nvidia.com/gpu"]) == num_shard
    assert int(container["resources"]["requests"]["nvidia.com/gpu"]) == num_shard
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/health"
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    pre_stop_s = int(pre_stop[-1])
    # preStop, router drain, shards stop: each stage of the launcher gets --shutdown-timeout.
    assert spec["terminationGracePeriodSeconds"] >= pre_stop_s + 2 * shutdown_timeout
    hpa = yaml.safe_load((K8S / "autoscaler.yaml").read_text())
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == "tgi_queue_size"
