"""``nsscope serve``'s families on captured trees: every value against the cgroup files
themselves, the labels against the fixture's definition, the names and types against
cAdvisor's (lib/metrics/prometheus.go)."""
from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from nsscope.host.collector import Roots
from nsscope.host.containers import StatePaths
from nsscope.host.model import Container, CpuStats, MemoryStats
from nsscope.serve import cadvisor, labels
from nsscope.serve.collector import SnapshotCollector
from nsscope.serve.families import Families, distinct
from nsscope.serve.scrape import Scraper

from support import FIXTURES

FULL = FIXTURES / "cgroup-v2-vm-full"

#: cAdvisor's family names and types (lib/metrics/prometheus.go), the issue's list
CADVISOR = {
    "container_cpu_usage_seconds": "counter", "container_cpu_user_seconds": "counter",
    "container_cpu_system_seconds": "counter", "container_cpu_cfs_periods": "counter",
    "container_cpu_cfs_throttled_periods": "counter",
    "container_cpu_cfs_throttled_seconds": "counter", "container_spec_cpu_quota": "gauge",
    "container_spec_cpu_period": "gauge", "container_spec_cpu_shares": "gauge",
    "container_memory_usage_bytes": "gauge", "container_memory_working_set_bytes": "gauge",
    "container_spec_memory_limit_bytes": "gauge", "container_processes": "gauge",
    "container_pressure_cpu_waiting_seconds": "counter",
    "container_pressure_cpu_stalled_seconds": "counter", "container_last_seen": "gauge",
}


def scrape_text(tree: Path) -> str:
    roots = Roots(proc=str(tree / "proc"), cgroup=str(tree / "sys/fs/cgroup"),
                  state=StatePaths().under(str(tree)))
    reg = CollectorRegistry()
    reg.register(SnapshotCollector(Scraper(roots)))
    return generate_latest(reg).decode()


def samples(text: str) -> dict[str, list]:
    """sample name -> [(labels, value)], from the exposition parsed back."""
    out: dict[str, list] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def one(ss: dict[str, list], name: str, **match: str) -> float:
    found = [v for lab, v in ss.get(name, []) if all(lab.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (name, match, found)
    return found[0]


def keyed(path: Path) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split() for line in path.read_text().splitlines())}


def psi_total(path: Path, kind: str) -> int:
    line = next(ln for ln in path.read_text().splitlines() if ln.startswith(kind))
    return int(line.rsplit("total=", 1)[1])


def test_families_are_cadvisors():
    text = scrape_text(FULL)
    types = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert {n: types.get(n) for n in CADVISOR} == CADVISOR
    ss = samples(text)
    for name in ss:
        if name.startswith("container_") and name != "container_scrape_error":
            for lab, _ in ss[name]:
                extra = {"cpu"} if name == "container_cpu_usage_seconds_total" else set()
                # the kubelet's labels; a blank one is no label to Prometheus: not sent
                assert {"id", "name"} | extra <= set(lab) <= set(labels.NAMES) | extra
                assert all(lab.values()), (name, lab)
    assert one(ss, "container_scrape_error") == 0


def test_v2_values_are_the_cgroup_files():
    """Every measured container of the captured v2 VM: each series equals its file."""
    ss = samples(scrape_text(FULL))
    ids = {lab["id"] for lab, _ in ss["container_last_seen"]}
    assert len(ids) == 4  # the docker scope and three pods' cri-containerd scopes
    for cid in ids:
        d = FULL / "sys/fs/cgroup" / cid.lstrip("/")
        st = keyed(d / "cpu.stat")
        assert one(ss, "container_cpu_usage_seconds_total", id=cid, cpu="total") == \
            st["usage_usec"] / 1e6
        assert one(ss, "container_cpu_user_seconds_total", id=cid) == st["user_usec"] / 1e6
        assert one(ss, "container_cpu_system_seconds_total", id=cid) == st["system_usec"] / 1e6
        quota, period = (d / "cpu.max").read_text().split()
        assert one(ss, "container_spec_cpu_period", id=cid) == int(period)
        if quota == "max":  # cAdvisor's condition: CFS series only with a quota
            for name in ("container_spec_cpu_quota", "container_cpu_cfs_periods_total",
                         "container_cpu_cfs_throttled_periods_total",
                         "container_cpu_cfs_throttled_seconds_total"):
                assert not [lab for lab, _ in ss.get(name, []) if lab["id"] == cid]
        else:
            assert one(ss, "container_spec_cpu_quota", id=cid) == int(quota)
            assert one(ss, "container_cpu_cfs_periods_total", id=cid) == st["nr_periods"]
            assert one(ss, "container_cpu_cfs_throttled_periods_total", id=cid) == \
                st["nr_throttled"]
            assert one(ss, "container_cpu_cfs_throttled_seconds_total", id=cid) == \
                st["throttled_usec"] / 1e6
        w = int((d / "cpu.weight").read_text())
        assert one(ss, "container_spec_cpu_shares", id=cid) == 2 + (w - 1) * 262142 // 9999
        usage = int((d / "memory.current").read_text())
        inactive = keyed(d / "memory.stat")["inactive_file"]
        assert one(ss, "container_memory_usage_bytes", id=cid) == usage
        assert one(ss, "container_memory_working_set_bytes", id=cid) == max(0, usage - inactive)
        limit = (d / "memory.max").read_text().strip()
        assert one(ss, "container_spec_memory_limit_bytes", id=cid) == \
            (0 if limit == "max" else int(limit))
        assert one(ss, "container_pressure_cpu_waiting_seconds_total", id=cid) == \
            psi_total(d / "cpu.pressure", "some") / 1e6
        assert one(ss, "container_pressure_cpu_stalled_seconds_total", id=cid) == \
            psi_total(d / "cpu.pressure", "full") / 1e6
        procs = (d / "cgroup.procs").read_text().split()
        assert one(ss, "container_processes", id=cid) == len(procs)


def test_ancestor_throttling_is_the_limited_ancestors_counters():
    """The burstable pod's slice has cpu.max 50000 and its container none: cAdvisor's
    families say nothing of its throttling, nsscope's carry the slice's counters."""
    ss = samples(scrape_text(FULL))
    cid = next(lab["id"] for lab, _ in ss["container_last_seen"] if "burstable" in lab["id"])
    slice_ = cid.rsplit("/", 1)[0]
    st = keyed(FULL / "sys/fs/cgroup" / slice_.lstrip("/") / "cpu.stat")
    assert st["nr_throttled"] > 0
    assert not [lab for lab, _ in ss.get("container_cpu_cfs_periods_total", [])
                if lab["id"] == cid]
    assert one(ss, "nsscope_cgroup_throttled_by_ancestor_total", id=cid, ancestor=slice_) == \
        st["nr_throttled"]
    assert one(ss, "nsscope_cgroup_ancestor_periods_total", id=cid, ancestor=slice_) == \
        st["nr_periods"]
    # the docker scope's ancestors (system.slice) have no quota: no series
    docker = next(lab["id"] for lab, _ in ss["container_last_seen"] if "docker-" in lab["id"])
    assert not [lab for lab, _ in ss["nsscope_cgroup_throttled_by_ancestor_total"]
                if lab["id"] == docker]


def test_namespaces_and_shared_host_namespaces():
    ss = samples(scrape_text(FULL))
    # the README's sandbox: `unshare --pid --uts --fork` -> own pid and uts, the rest the host's
    shared = {lab["type"]: v for lab, v in ss["nsscope_container_shares_host_namespace"]
              if lab["name"] == "sandbox-1008"}
    # (of the isolating ones: the host's user, cgroup and time are every runtime's default)
    assert shared == {"ipc": 1, "mnt": 1, "net": 1}
    ns = {(lab["type"], lab["host"]): v for lab, v in ss["nsscope_namespace_processes"]}
    assert ns[("pid", "false")] == 1 and ns[("uts", "false")] == 2  # 1008; 1007 and 1008
    info = {lab["name"]: lab for lab, _ in ss["nsscope_container_info"]}
    assert info["sandbox-1008"]["kind"] == "sandbox"
    assert {lab["runtime"] for lab in info.values()} == {"docker", "containerd", "sandbox"}


@pytest.mark.parametrize("tree", ["k8s-systemd", "k8s-cgroupfs", "crio-systemd"])
def test_kubernetes_labels_as_the_kubelet_sets_them(tree):
    ss = samples(scrape_text(FIXTURES / tree))
    info = ss["nsscope_container_info"]
    apps = [lab for lab, _ in info if lab["infra"] == "false"]
    pauses = [lab for lab, _ in info if lab["infra"] == "true"]
    # fixtures/make_k8s_fixtures.py: nginx, coredns, shell and sidecar, one pause per pod
    assert sorted(lab["container"] for lab in apps) == ["coredns", "nginx", "shell", "sidecar"]
    assert {(lab["namespace"], lab["pod"]) for lab in apps} == {
        ("default", "web-7d4b9c6f5-x2x9q"), ("kube-system", "coredns-5d78c9869d-8kqzv"),
        ("default", "debug")}
    assert len(pauses) == 3 and not any("container" in lab for lab in pauses)
    got = {lab.get("container") for lab, _ in ss["container_last_seen"]}
    assert {"coredns", "nginx", "shell", "sidecar"} <= got


def test_untrusted_label_values_are_escaped():
    def made(cid: str) -> Container:
        return Container(id=cid, short_id=cid[:12], name='evil\x1b]0;pwned\x07"\n',
                         runtime="docker", pid=1, pids=(1,), state="running",
                         cgroup="/docker/a\x1b[2Jb", image="img\\xq")

    c, twin = made("x" * 64), made("y" * 64)
    lv = dict(zip(labels.NAMES, labels.values(c), strict=True))
    assert lv["name"] == 'evil\\x1b]0;pwned\\x07"\\x0a' and lv["id"] == "/docker/a\\x1b[2Jb"
    assert lv["image"] == "img\\x5cxq" and lv["container"] == ""
    # a second container with the same labels: its series would be duplicates (dropped)
    fams = Families()
    fams.declare("container_processes", "gauge", "x")
    for lv, _ in distinct([(labels.of(c), c), (labels.of(twin), twin)]):
        fams.add("container_processes", lv, 1)
    reg = CollectorRegistry()
    reg.register(type("C", (), {"collect": lambda self: iter(fams)})())
    text = generate_latest(reg).decode()
    assert "\x1b" not in text and "\x07" not in text
    (fam,) = text_string_to_metric_families(text)
    assert [(s.labels, s.value) for s in fam.samples] == [
        ({"id": "/docker/a\\x1b[2Jb", "name": 'evil\\x1b]0;pwned\\x07"\\x0a',
          "image": "img\\x5cxq"}, 1.0)]


def test_weight_to_shares_and_working_set():
    # cAdvisor convertCPUWeightToCPULimit: [1, 10000] -> [2, 262144]; the default 100 -> 2597
    assert [cadvisor.shares(CpuStats(weight=w)) for w in (1, 100, 10000)] == [2, 2597, 262144]
    assert cadvisor.shares(CpuStats(shares=512, weight=100)) == 512
    assert cadvisor.shares(CpuStats(weight=0)) is None
    m = MemoryStats(current=1000)
    assert cadvisor.working_set(m, {"total_inactive_file": 300, "inactive_file": 100}) == 700
    assert cadvisor.working_set(m, {"inactive_file": 1200}) == 0
    assert cadvisor.working_set(m, None) == 1000


def test_a_failing_snapshot_serves_the_last_one_with_scrape_error(capsys):
    roots = Roots(proc=str(FULL / "proc"), cgroup=str(FULL / "sys/fs/cgroup"),
                  state=StatePaths().under(str(FULL)))
    scraper = Scraper(roots)
    collector = SnapshotCollector(scraper)
    reg = CollectorRegistry()
    reg.register(collector)
    good = samples(generate_latest(reg).decode())

    def broken():
        raise OSError(5, "Input/output error")

    scraper.take = broken  # type: ignore[method-assign]
    for _ in range(2):
        again = samples(generate_latest(reg).decode())
        assert one(again, "container_scrape_error") == 1
        assert again["container_processes"] == good["container_processes"]
    assert capsys.readouterr().err.count("scrape error") == 1  # once, not every scrape
