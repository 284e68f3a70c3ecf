"""deploy/prometheus through Debian's promtool: the rule file, and the scrape config (its
Kubernetes discovery swapped for file discovery: Debian builds Prometheus without the
Kubernetes service discovery, so its promtool cannot parse kubernetes_sd_configs)."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from support import REPO, need_tool

PROM = REPO / "deploy/prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([need_tool("promtool"), *args], capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.v2
def test_rules_check():
    out = promtool("check", "rules", str(PROM / "alerts.yml"))
    assert out.returncode == 0 and "SUCCESS: 2 rules found" in out.stdout, out.stdout + out.stderr


@pytest.mark.v2
def test_scrape_config_checks(tmp_path):
    text = (PROM / "prometheus.yml").read_text()
    sd = ("    kubernetes_sd_configs:\n      - role: pod\n        namespaces:\n"
          "          names: [monitoring]\n")
    assert sd in text
    (tmp_path / "prometheus.yml").write_text(
        text.replace(sd, "    file_sd_configs:\n      - files: [targets.json]\n"))
    shutil.copy(PROM / "alerts.yml", tmp_path / "alerts.yml")
    (tmp_path / "targets.json").write_text("[]")
    out = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 1 rule files found" in out.stdout
    # the check can fail: a broken relabel regex is refused
    (tmp_path / "prometheus.yml").write_text(
        (tmp_path / "prometheus.yml").read_text().replace("regex: (.+)", "regex: (.+"))
    assert promtool("check", "config", str(tmp_path / "prometheus.yml")).returncode != 0


@pytest.mark.v2
def test_ancestor_alert_and_the_grafana_query_under_promtool(tmp_path):
    """Series as serve exports a container held back by its pod's limit (no quota of its
    own: no cAdvisor CFS series) and one throttled by its own: CPUThrottledByAncestor
    fires for the first only, and the README's query ranks both."""
    pod = ('job="nsscope", instance="n1:9848", id="/kubepods/burstable/podu/c1", name="a", '
           'container="a", pod="p", namespace="ns", ancestor="/kubepods/burstable/podu"')
    own = ('job="nsscope", instance="n1:9848", id="/kubepods/burstable/podv/c2", name="b", '
           'container="b", pod="q", namespace="ns"')
    query = (PROM / "throttled-containers.promql").read_text()
    desc = ("90% of CFS periods throttled by /kubepods/burstable/podu, above container a in "
            "pod p (namespace ns).")
    indented = "\n".join("          " + line for line in query.splitlines())
    (tmp_path / "test.yml").write_text(f"""
rule_files: [{PROM / 'alerts.yml'}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'nsscope_cgroup_ancestor_periods_total{{{pod}}}'
        values: '0+600x25'
      - series: 'nsscope_cgroup_throttled_by_ancestor_total{{{pod}}}'
        values: '0+540x25'
      - series: 'container_cpu_cfs_periods_total{{{own}}}'
        values: '0+600x25'
      - series: 'container_cpu_cfs_throttled_periods_total{{{own}}}'
        values: '0+300x25'
    alert_rule_test:
      - eval_time: 22m
        alertname: CPUThrottledByAncestor
        exp_alerts:
          - exp_labels: {{severity: info, instance: "n1:9848", container: a, pod: p,
                         namespace: ns, ancestor: /kubepods/burstable/podu}}
            exp_annotations:
              description: '{desc}'
              summary: A limit on an ancestor cgroup (pod, slice) holds the container back.
    promql_expr_test:
      - eval_time: 22m
        expr: |
{indented}
        exp_samples:
          - labels: '{{namespace="ns", pod="p", container="a", id="/kubepods/burstable/podu/c1"}}'
            value: 0.9
          - labels: '{{namespace="ns", pod="q", container="b", id="/kubepods/burstable/podv/c2"}}'
            value: 0.5
""")
    out = promtool("test", "rules", str(tmp_path / "test.yml"))
    assert out.returncode == 0, out.stdout + out.stderr
