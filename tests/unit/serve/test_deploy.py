"""deploy/: the DaemonSet, Service and Namespace against the Kubernetes OpenAPI schemas
(kubernetes-validate, strict: no unknown field), and what the DaemonSet promises: host
PID namespace, the host's paths read-only, no privilege, exactly the capabilities the
README names, arguments ``nsscope serve`` accepts, pointing at those mounts."""
from __future__ import annotations

import copy
import shlex

import pytest
import yaml
from kubernetes_validate import validate
from kubernetes_validate.utils import ValidationError

from nsscope.cli import build_parser

from support import REPO

DEPLOY = REPO / "deploy"
K8S = DEPLOY / "kubernetes"
VERSION = "1.37.0"


def objects(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def daemonset() -> dict:
    (ds,) = objects("daemonset.yaml")
    return ds


@pytest.mark.parametrize("name", ["daemonset.yaml", "service.yaml", "namespace.yaml"])
def test_kubernetes_objects_validate_strictly(name):
    for obj in objects(name):
        assert validate(obj, VERSION, strict=True) == "1.37"


def test_the_validator_can_fail():
    ds = daemonset()
    bad = copy.deepcopy(ds)
    bad["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privilegd"] = False
    with pytest.raises(ValidationError):
        validate(bad, VERSION, strict=True)
    bad = copy.deepcopy(ds)
    bad["spec"]["template"]["spec"]["hostPID"] = "yes"
    with pytest.raises(ValidationError):
        validate(bad, VERSION, strict=True)


def test_daemonset_is_what_the_readme_says():
    ds, (svc,) = daemonset(), objects("service.yaml")
    pod = ds["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    sc = c["securityContext"]
    assert pod["hostPID"] is True and not pod.get("hostNetwork") and not pod.get("hostIPC")
    assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"],
                                  "add": ["SYS_PTRACE", "DAC_READ_SEARCH", "SYS_ADMIN"]}
    host = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"]}
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert set(host.values()) == {"/proc", "/sys/fs/cgroup", "/run", "/var/lib", "/var/log"}
    assert mounts.keys() == host.keys() and all(m["readOnly"] for m in mounts.values())
    at = {host[n]: m["mountPath"] for n, m in mounts.items()}
    assert all(where == "/host" + path for path, where in at.items())
    # the arguments are serve's, and point at those mounts
    args = build_parser("serve").parse_args(c["args"])
    assert (args.command, args.listen) == ("serve", ":9848")
    assert (args.proc, args.cgroup_root, args.state_prefix) == \
        (at["/proc"], at["/sys/fs/cgroup"], "/host")
    port = c["ports"][0]["containerPort"]
    ann = ds["spec"]["template"]["metadata"]["annotations"]
    assert (ann["prometheus.io/scrape"], ann["prometheus.io/port"]) == ("true", str(port))
    probe = c["livenessProbe"]["httpGet"]
    assert probe["path"] == "/healthz" and probe["port"] == c["ports"][0]["name"]
    # the Service selects these pods, on that port
    assert svc["spec"]["selector"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()
    assert svc["spec"]["ports"][0]["targetPort"] == c["ports"][0]["name"]


def test_containerfile_runs_what_the_daemonset_runs():
    lines = (DEPLOY / "Containerfile").read_text().splitlines()
    entry = next(ln for ln in lines if ln.startswith("ENTRYPOINT"))
    cmd = next(ln for ln in lines if ln.startswith("CMD"))
    assert yaml.safe_load(entry.split(None, 1)[1]) == ["nsscope"]
    assert yaml.safe_load(cmd.split(None, 1)[1]) == daemonset()["spec"]["template"]["spec"][
        "containers"][0]["args"]
    assert shlex.split(next(ln for ln in lines if ln.startswith("EXPOSE")))[1] == "9848"
