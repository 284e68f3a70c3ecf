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
