"""``nsscope show``: each cgroup line carries only its own hierarchy's figures, and
counts read as words (issue 13, point 4; docs/json.md)."""

from __future__ import annotations

import json

import pytest

from nsscope.actions import throttle

from support import run_nsscope, write_file

#: what each v1 controller's files give (the oracle: which file holds what)
CPU_ONLY = {"nr_periods", "nr_throttled", "throttled_usec", "quota_usec", "period_usec",
            "limit_cpus", "weight", "shares"}
CPUACCT_ONLY = {"usage_usec", "user_usec", "system_usec"}


@pytest.mark.v2
def test_each_hierarchy_carries_its_own_figures_and_one_proc(lab):
    cg = lab.cgroup()
    pid = lab.spawn(["sleep", "1000"])
    cg.add(pid)
    hst = throttle.host()
    if hst.version == 2:
        write_file(cg.cpu_dir + "/cpu.max", "20000 100000")
    else:
        write_file(cg.cpu_dir + "/cpu.cfs_quota_us", "20000")
    data = json.loads(run_nsscope("show", f"pid:{pid}", "--json", check=True).stdout)
    lines = {c["hierarchy"]: c for c in data["cgroups"] if c["path"] == cg.path}
    if hst.version == 2:
        cpu = lines["unified"]["cpu"]
        assert cpu["limit_cpus"] == 0.2 and cpu["usage_usec"] is not None
    else:
        by_ctrl = {frozenset(k.split(",")): v for k, v in lines.items()}
        cpu_line = next(v for k, v in by_ctrl.items() if "cpu" in k)
        assert cpu_line["cpu"]["limit_cpus"] == 0.2
        for k, v in by_ctrl.items():
            keys = set(v.get("cpu") or {})
            if "cpu" not in k:
                assert not keys & CPU_ONLY, (k, keys)  # cpuacct: no limit, no throttling
            if "cpuacct" not in k:
                assert not keys & CPUACCT_ONLY, (k, keys)
            if "cpuacct" in k and "cpu" not in k:
                assert keys and keys <= CPUACCT_ONLY
    text = run_nsscope("show", f"pid:{pid}", check=True).stdout
    mine = [line for line in text.splitlines() if f": {cg.path} " in line]
    assert mine and all(" 1 proc" in line and "1 procs" not in line for line in mine)
    for line in mine:
        ctrl = line.split(":", 1)[0].strip()
        if ctrl == "cpuacct":
            assert "cpu limit" not in line and "throttled" not in line
        if ctrl == "cpu":
            assert "cpu limit 20%" in line and "usage" not in line
