"""systemd: whether it is PID 1 (sd_booted(3)), the unit a cgroup is, and
``systemctl set-property --runtime`` so it keeps a limit instead of rewriting it.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from nsscope.actions.throttle.limit import Limit

#: sd_booted(3): the system runs systemd as PID 1 when this directory exists
SYSTEMD_DIR = "/run/systemd/system"
#: systemd unit types whose cgroup is the unit's (systemd.resource-control(5))
_UNIT_SUFFIXES = (".service", ".scope", ".slice")
def systemd_booted(systemd_dir: str = SYSTEMD_DIR) -> bool:
    """sd_booted(3): systemd is PID 1 when /run/systemd/system/ exists (PID 1 itself is
    not looked at: it may be unreadable)."""
    return os.path.isdir(systemd_dir)


def unit_of(cgroup: str) -> str | None:
    name = cgroup.rsplit("/", 1)[-1]
    return name if name.endswith(_UNIT_SUFFIXES) else None


def systemctl_quota(unit: str, limit: Limit | None, files: dict[str, str] | None = None
                     ) -> str | None:
    """``systemctl set-property --runtime`` so systemd keeps the limit instead of
    rewriting the file on its next reload (systemd.resource-control(5) CPUQuota=,
    CPUQuotaPeriodSec=). Returns why it failed, None when it worked."""
    exe = shutil.which("systemctl")
    if exe is None:
        return "systemctl is not installed"
    if limit is None or limit.quota_usec is None:
        props = ["CPUQuota=", "CPUQuotaPeriodSec="]  # empty: back to the unit's default
    else:
        props = [f"CPUQuota={limit.percent:.2f}%",
                 f"CPUQuotaPeriodSec={limit.period_usec}us"]
    try:
        r = subprocess.run([exe, "set-property", "--runtime", unit, *props],
                           check=False, capture_output=True, text=True,
                           timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"systemctl: {e}"
    if r.returncode != 0:
        first = (r.stderr or r.stdout).strip().splitlines()
        return f"systemctl set-property failed: {first[0] if first else r.returncode}"
    return None

