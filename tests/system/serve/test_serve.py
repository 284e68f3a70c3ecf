"""``nsscope serve`` on the real kernel: a container made by runc the way containerd makes
a Kubernetes container, limited to 20 % of a CPU and burning it; its series against the
cgroup files and /proc, every scrape through `promtool check metrics`, and a real
Prometheus (Debian's) scraping it every second, its HTTP API and its alerts."""
from __future__ import annotations

import os
import re
import subprocess
import threading
import time
import uuid

import pytest

from nsscope.host import cgroups

from support import REPO, need_root, need_tool, read_file, write_file
from support.lab import cpu_seconds
from support.metrics import (
    Prometheus,
    RuncPod,
    Serve,
    promtool_check_metrics,
    remove_tree,
    series,
    value,
)
from support.scenario import wait_for

ALERTS = REPO / "deploy/prometheus/alerts.yml"
THROTTLED = REPO / "deploy/prometheus/throttled-containers.promql"


@pytest.fixture
def pod(tmp_path):
    need_root()
    p = RuncPod(tmp_path)
    yield p
    p.close()


@pytest.fixture
def serve(pod, tmp_path):
    s = Serve("--state-prefix", str(pod.state), where=tmp_path)
    yield s
    s.stop()


def cpu_stat(pod: RuncPod) -> dict[str, int]:
    """The kernel's own counters, µs (v1 throttled_time and cpuacct.usage are ns)."""
    d = pod.cpu_dir()
    st = {k: int(v) for k, v in (ln.split() for ln in read_file(d + "/cpu.stat").splitlines())}
    if "usage_usec" not in st:  # v1: usage from cpuacct, mounted apart here
        acct = next(h for h in cgroups.hierarchies() if "cpuacct" in h.controllers)
        st["usage_usec"] = int(read_file(acct.mountpoint + pod.cgroup + "/cpuacct.usage")) // 1000
        st["throttled_usec"] = st["throttled_time"] // 1000
    return st


KUBE = {"container": "app", "pod": "web-0", "namespace": "nsscope-test"}


@pytest.mark.v2
def test_series_of_a_throttled_container_are_the_kernels(pod, serve):
    before, c0 = cpu_stat(pod), cpu_seconds(pod.pid)
    first = serve.scrape()
    mid0, c1 = cpu_stat(pod), cpu_seconds(pod.pid)
    time.sleep(3)
    mid1, c2 = cpu_stat(pod), cpu_seconds(pod.pid)
    second = serve.scrape()
    after, c3 = cpu_stat(pod), cpu_seconds(pod.pid)
    for text in (first, second):
        promtool_check_metrics(text)
    a, b = series(first), series(second)
    ours = dict(KUBE, id=pod.cgroup, name="app")
    # every counter lies between the kernel's readings around the scrape
    for name, key, scale in (("container_cpu_usage_seconds_total", "usage_usec", 1e6),
                             ("container_cpu_cfs_periods_total", "nr_periods", 1),
                             ("container_cpu_cfs_throttled_periods_total", "nr_throttled", 1),
                             ("container_cpu_cfs_throttled_seconds_total", "throttled_usec", 1e6)):
        extra = {"cpu": "total"} if "usage" in name else {}
        v0, v1 = value(a, name, **ours, **extra), value(b, name, **ours, **extra)
        assert before[key] / scale <= v0 <= mid0[key] / scale, name
        assert mid1[key] / scale <= v1 <= after[key] / scale, name
    assert value(b, "container_spec_cpu_quota", **ours) == pod.quota == 20000
    assert value(b, "container_spec_cpu_period", **ours) == pod.period == 100000
    # the CPU it used between the scrapes, as /proc/PID/stat counts it (in ticks of
    # 1/CLK_TCK s: one tick of slack each side), and over their interval (the scrape's
    # own time, container_last_seen) the rate its 20 % limit allows
    used = value(b, "container_cpu_usage_seconds_total", **ours, cpu="total") - \
        value(a, "container_cpu_usage_seconds_total", **ours, cpu="total")
    tick = 1 / os.sysconf("SC_CLK_TCK")
    assert (c2 - c1) - tick <= used <= (c3 - c0) + tick, (used, c0, c1, c2, c3)
    dt = value(b, "container_last_seen", **ours) - value(a, "container_last_seen", **ours)
    assert 0.1 < used / dt < 0.26, used / dt
    periods = value(b, "container_cpu_cfs_periods_total", **ours) - \
        value(a, "container_cpu_cfs_periods_total", **ours)
    throttled = value(b, "container_cpu_cfs_throttled_periods_total", **ours) - \
        value(a, "container_cpu_cfs_throttled_periods_total", **ours)
    # a busy loop held at 20 %: throttled in most periods (fewer when the machine's other
    # work leaves it less than its quota)
    assert periods > 20 and throttled / periods > 0.25
    assert value(b, "container_spec_memory_limit_bytes", **ours) == pod.memory
    usage = value(b, "container_memory_usage_bytes", **ours)
    assert 0 < value(b, "container_memory_working_set_bytes", **ours) <= usage <= pod.memory
    assert value(b, "container_processes", **ours) == 1
    assert abs(value(b, "container_last_seen", **ours) - time.time()) < 10
    info = value(b, "nsscope_container_info", **ours, runtime="kubernetes", container_id=pod.id,
                 pod_uid=pod.uid, qos="burstable", kind="container", pid=str(pod.pid))
    assert info == 1
    # runc's default spec: new mnt, uts, ipc, pid and net namespaces: none shared
    assert not [lab for lab, _ in b.get("nsscope_container_shares_host_namespace", [])
                if lab["id"] == pod.cgroup]
    pidns = os.readlink(f"/proc/{pod.pid}/ns/pid")
    ino = re.search(r"\[(\d+)\]", pidns).group(1)
    assert value(b, "nsscope_namespace_processes", type="pid", inode=ino, host="false") == 1
    assert value(b, "container_scrape_error") == 0


@pytest.mark.v2
def test_a_limit_on_the_pod_throttles_the_container(pod, serve):
    """The pod's cgroup gets the limit, the container's none: the kernel counts the
    throttling in the pod's cpu.stat, nsscope_cgroup_throttled_by_ancestor carries it."""
    pod_dir = pod.cpu_dir().rsplit("/", 1)[0]
    if os.path.exists(pod_dir + "/cpu.max"):
        write_file(pod.cpu_dir() + "/cpu.max", "max 100000")
        write_file(pod_dir + "/cpu.max", "30000 100000")
    else:
        write_file(pod.cpu_dir() + "/cpu.cfs_quota_us", "-1")
        write_file(pod_dir + "/cpu.cfs_quota_us", "30000")
    pod_stat = pod_cpu_stat(pod)
    k0 = pod_stat()
    first = series(serve.scrape())
    k1 = pod_stat()
    time.sleep(2)
    k2 = pod_stat()
    second = series(serve.scrape())
    k3 = pod_stat()
    ours = dict(KUBE, id=pod.cgroup)
    ancestor = pod.cgroup.rsplit("/", 1)[0]
    assert not [lab for lab, _ in second.get("container_cpu_cfs_periods_total", [])
                if lab["id"] == pod.cgroup]  # cAdvisor's condition: no quota of its own
    # the pod cgroup's own counters, between the kernel's readings around each scrape
    for name, key in (("nsscope_cgroup_throttled_by_ancestor_total", "nr_throttled"),
                      ("nsscope_cgroup_ancestor_periods_total", "nr_periods")):
        v0 = value(first, name, **ours, ancestor=ancestor)
        v1 = value(second, name, **ours, ancestor=ancestor)
        assert k0[key] <= v0 <= k1[key] and k2[key] <= v1 <= k3[key], name
    thr = value(second, "nsscope_cgroup_throttled_by_ancestor_total", **ours, ancestor=ancestor) \
        - value(first, "nsscope_cgroup_throttled_by_ancestor_total", **ours, ancestor=ancestor)
    assert thr > 0  # a busy loop under a 30 % pod limit


def pod_cpu_stat(pod: RuncPod):
    d = pod.cpu_dir().rsplit("/", 1)[0]

    def read() -> dict[str, int]:
        lines = read_file(d + "/cpu.stat").splitlines()
        return {k: int(v) for k, v in (ln.split() for ln in lines)}
    return read


@pytest.mark.v2
def test_sigterm_stops_it_cleanly(serve):
    assert serve.get("/healthz")[0] == 200
    assert serve.stop() == 0
    with pytest.raises(OSError):
        serve.get("/healthz")


@pytest.mark.v2
def test_a_scrape_racing_vanishing_containers_never_fails(tmp_path):
    """Containers (cgroups with a process, kubepods-shaped) made and removed every half
    second while the server is scraped ten times a second: every scrape whole and
    well-formed, some of them with those containers in it."""
    need_root()
    top = f"/nsscope-test-{uuid.uuid4().hex[:8]}"
    # every hierarchy with a controller, as runc makes a container's, but cpuset (a new
    # cpuset cgroup has no CPUs until cpuset.cpus is written: ENOSPC on joining it)
    hs = [h for h in cgroups.hierarchies()
          if h.version == 2 or (h.controllers and "cpuset" not in h.controllers)]
    stop = threading.Event()
    made = [0]

    def churn() -> None:
        while not stop.is_set():
            path = f"{top}/kubepods/besteffort/pod{uuid.uuid4()}/{uuid.uuid4().hex * 2}"
            dirs = [h.mountpoint + path for h in hs]
            p = subprocess.Popen(["sleep", "30"])
            try:
                for d in dirs:
                    os.makedirs(d, exist_ok=True)
                    write_file(d + "/cgroup.procs", str(p.pid))
                time.sleep(0.5)
            finally:
                p.kill()
                p.wait()
                remove_tree(top)
            made[0] += 1

    t = threading.Thread(target=churn)
    s = Serve(where=tmp_path)
    t.start()
    try:
        texts = []
        # 60 scrapes at least, and on until one met the churn's containers (the server
        # recognises containers at most every settle seconds: on a loaded machine the
        # first 60 may all fall between two recognitions), 60 s at most
        deadline = time.monotonic() + 60
        while len(texts) < 60 or (not any(top in t for t in texts)
                                  and time.monotonic() < deadline):
            texts.append(s.scrape())
            time.sleep(0.1)
    finally:
        stop.set()
        t.join()
        remove_tree(top)
        assert s.stop() == 0
    assert made[0] > 5
    seen = 0
    for text in texts:
        ss = series(text)
        assert value(ss, "container_scrape_error") == 0
        seen += any(lab["id"].startswith(top) for lab, _ in ss.get("container_last_seen", []))
    assert seen  # the scrapes did meet the short-lived containers
    for text in texts[::12]:
        promtool_check_metrics(text)


def _rules(for_: str) -> str:
    return ALERTS.read_text().replace("for: 15m", f"for: {for_}")


@pytest.mark.v2
@pytest.mark.slow
def test_prometheus_scrapes_it_and_cpu_throttling_high_fires(pod, serve, tmp_path):
    """A real Prometheus, 1 s scrapes: the rate, the quota and the throttled share as it
    computes them, the mixin's CPUThrottlingHigh firing (its `for` cut to 5 s); then
    the rule file as it ships (`for: 15m`) through `promtool test rules`, fed what this
    Prometheus recorded."""
    prom = Prometheus([serve.address], rules=_rules("5s"))
    try:
        sel = '{container="app",pod="web-0",namespace="nsscope-test",job="nsscope"}'
        scrapes = f"count_over_time(container_cpu_cfs_periods_total{sel}[1m]) >= 10"
        wait_for(lambda: len(prom.query(scrapes)), timeout=120, what="ten scrapes in Prometheus")
        k0 = cpu_stat(pod)
        time.sleep(5)
        k1 = cpu_stat(pod)
        ((_, rate),) = prom.query(f"rate(container_cpu_usage_seconds_total{sel}[10s])")
        assert 0.1 < rate < 0.26
        ((_, limit),) = prom.query(
            f"container_spec_cpu_quota{sel} / container_spec_cpu_period{sel}")
        assert limit == 0.2
        ((_, share),) = prom.query(
            f"increase(container_cpu_cfs_throttled_periods_total{sel}[10s])"
            f" / increase(container_cpu_cfs_periods_total{sel}[10s])")
        kernel = (k1["nr_throttled"] - k0["nr_throttled"]) / (k1["nr_periods"] - k0["nr_periods"])
        # (over nearly the same 10 s: the kernel's reading starts 5 s later)
        assert share > 0.25 and abs(share - kernel) < 0.15, (share, kernel)
        # the README's query for Grafana: this container, by its own quota
        query = THROTTLED.read_text()
        assert query in (REPO / "README.md").read_text()
        top = {lab.get("container"): v for lab, v in prom.query(query)}
        assert top["app"] > 0.25
        wait_for(lambda: _firing(prom), timeout=60, what="CPUThrottlingHigh to fire")
        (alert,) = _firing(prom)
        assert {k: alert["labels"][k] for k in KUBE} == KUBE
        assert alert["labels"]["severity"] == "info"
        # what Prometheus recorded over the last 10 s: the increase per second
        end = time.time()
        per_s = {}
        for name in ("container_cpu_cfs_periods_total",
                     "container_cpu_cfs_throttled_periods_total"):
            data = prom.api("query_range", query=f"{name}{sel}", start=str(end - 10),
                            end=str(end), step="1")
            (values,) = [r["values"] for r in data["result"]]
            per_s[name] = (float(values[-1][1]) - float(values[0][1])) / \
                (float(values[-1][0]) - float(values[0][0]))
    finally:
        prom.close()
    _promtool_test_rules(tmp_path, per_s)


def _firing(prom: Prometheus) -> list[dict]:
    data = prom.api("alerts")
    return [a for a in data["alerts"]  # type: ignore[index]
            if a["labels"]["alertname"] == "CPUThrottlingHigh" and a["state"] == "firing"]


def _promtool_test_rules(where, per_s: dict[str, float]) -> None:
    """The shipped rule (for: 15m) over 25 minutes of series at the recorded rates: it
    fires for the recorded container; at a tenth of the throttled rate it does not."""
    periods = per_s["container_cpu_cfs_periods_total"] * 60
    throttled = per_s["container_cpu_cfs_throttled_periods_total"] * 60
    assert periods > 0 and throttled / periods > 0.3  # above the rule's 25 %
    labels = 'job="nsscope", instance="node-1:9848", id="/kubepods/x", name="app", image="", ' \
             'container="app", pod="web-0", namespace="nsscope-test"'
    quiet = labels.replace('"app"', '"quiet"')

    def test(throttled_rate: float, expect: str) -> str:
        return f"""
  - interval: 1m
    input_series:
      - series: 'container_cpu_cfs_periods_total{{{labels}}}'
        values: '0+{periods:.0f}x25'
      - series: 'container_cpu_cfs_throttled_periods_total{{{labels}}}'
        values: '0+{throttled_rate:.0f}x25'
      - series: 'container_cpu_cfs_periods_total{{{quiet}}}'
        values: '0+{periods:.0f}x25'
      - series: 'container_cpu_cfs_throttled_periods_total{{{quiet}}}'
        values: '0+{throttled / 10:.0f}x25'
    alert_rule_test:
      - eval_time: 10m
        alertname: CPUThrottlingHigh
        exp_alerts: []
      - eval_time: 22m
        alertname: CPUThrottlingHigh
        exp_alerts:{expect}
"""
    firing = """
          - exp_labels: {severity: info, instance: "node-1:9848", container: app, pod: web-0,
                         namespace: nsscope-test}
            exp_annotations:
              description: 'DESC'
              runbook_url: https://runbooks.prometheus-operator.dev/runbooks/kubernetes/cputhrottlinghigh
              summary: Processes experience elevated CPU throttling."""
    # the description renders the share as humanizePercentage does (%.4g%%)
    share = throttled / periods
    desc = (f"{100 * share:.4g}% throttling of CPU in namespace nsscope-test for container app "
            f"in pod web-0.")
    tests = f"rule_files: [{ALERTS}]\nevaluation_interval: 1m\ntests:" + \
        test(throttled, firing.replace("DESC", desc))
    (where / "rules_test.yml").write_text(tests)
    out = subprocess.run([need_tool("promtool"), "test", "rules", str(where / "rules_test.yml")],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
