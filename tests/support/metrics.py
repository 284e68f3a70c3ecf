"""What the ``nsscope serve`` tests share: a Kubernetes-like container made by runc, the
server as a real process, a real Prometheus (Debian's) on loopback, the scrapes parsed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from nsscope.host import cgroups

from support import NSSCOPE, need_tool
from support.scenario import wait_for


def busybox_rootfs(where: Path) -> Path:
    """A busybox root filesystem (busybox-static), the RUNTIMES.md recipe."""
    busybox = need_tool("busybox")
    r = where / "rootfs"
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "root", "run"):
        (r / d).mkdir(parents=True)
    shutil.copy(busybox, r / "bin/busybox")
    listed = subprocess.run([str(r / "bin/busybox"), "--list"], capture_output=True, text=True,
                            check=True).stdout.split()
    for applet in listed:
        if applet != "busybox":
            os.symlink("busybox", r / "bin" / applet)
    return r


def remove_tree(top: str) -> None:
    """A test's top-level cgroup in every hierarchy, children first (rmdir; a cgroup a
    killed process just left may stay busy for a moment)."""
    for _ in range(100):
        left = []
        for h in cgroups.hierarchies():
            base = h.mountpoint + top
            for d, _, _ in sorted(os.walk(base), key=lambda w: -w[0].count("/")):
                try:
                    os.rmdir(d)
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(d)
        if not left:
            return
        time.sleep(0.05)


class RuncPod:
    """A container as the kubelet has containerd make it, with runc: id = 64 hex, cgroup
    <kubelet --cgroup-root>/kubepods/burstable/pod<uid>/<id> (cgroupfs driver; the
    cgroup root is a test's nsscope-test-… cgroup), a CPU limit, and the kubelet's pod
    log directories under ``state`` (/var/log/pods, /var/log/containers) that name it.
    Its process burns CPU (busybox sh in a loop)."""

    def __init__(self, where: Path, *, quota: int = 20000, period: int = 100000,
                 memory: int = 64 << 20, namespace: str = "nsscope-test", pod: str = "web-0",
                 container: str = "app", argv: tuple[str, ...] = ("sh", "-c",
                                                                  "while :; do :; done")) -> None:
        need_tool("runc")
        self.top = f"/nsscope-test-{uuid.uuid4().hex[:8]}"
        self.uid = str(uuid.uuid4())
        self.id = uuid.uuid4().hex + uuid.uuid4().hex
        self.namespace, self.pod, self.container = namespace, pod, container
        self.cgroup = f"{self.top}/kubepods/burstable/pod{self.uid}/{self.id}"
        self.quota, self.period, self.memory = quota, period, memory
        self.state = where / "state"
        logs = self.state / "var/log/pods" / f"{namespace}_{pod}_{self.uid}" / container
        logs.mkdir(parents=True)
        (logs / "0.log").write_text("")
        links = self.state / "var/log/containers"
        links.mkdir(parents=True)
        os.symlink(logs / "0.log", links / f"{pod}_{namespace}_{container}-{self.id}.log")
        bundle = where / "bundle"
        bundle.mkdir()
        subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True)
        spec = json.loads((bundle / "config.json").read_text())
        spec["root"] = {"path": str(busybox_rootfs(where)), "readonly": True}
        spec["process"].update(args=list(argv), terminal=False)
        spec["linux"]["cgroupsPath"] = self.cgroup
        # the largest weight: other load on the machine must not hold it below its limit
        spec["linux"]["resources"] = {"cpu": {"quota": quota, "period": period,
                                              "shares": 262144},
                                      "memory": {"limit": memory}}
        (bundle / "config.json").write_text(json.dumps(spec))
        try:
            with open(os.devnull, "rb") as null_in, open(os.devnull, "wb") as null_out:
                # the container inherits stdout and stderr: a pipe would never reach EOF
                subprocess.run(["runc", "run", "-d", "--bundle", str(bundle), self.id],
                               stdin=null_in, stdout=null_out, stderr=null_out, check=True,
                               timeout=60)
            out = subprocess.run(["runc", "state", self.id], capture_output=True, text=True,
                                 check=True)
            self.pid = json.loads(out.stdout)["pid"]
        except BaseException:
            self.close()
            raise

    def cpu_dir(self) -> str:
        h = cgroups.cpu_hierarchy(cgroups.hierarchies())
        assert h is not None
        return h.mountpoint + self.cgroup

    def close(self) -> None:
        subprocess.run(["runc", "delete", "-f", self.id], capture_output=True, check=False)
        remove_tree(self.top)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve:
    """``nsscope serve`` as a real process on a free loopback port."""

    def __init__(self, *args: str, where: Path, argv: list[str] | None = None) -> None:
        self.log = where / "serve.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv or [NSSCOPE, "serve", "--listen", "127.0.0.1:0",
                                                  *args],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        wait_for(lambda: "listening on " in self.log.read_text() or self.proc.poll() is not None,
                 timeout=60, what="nsscope serve to listen")
        text = self.log.read_text()
        assert "listening on " in text, text
        self.url = text.split("listening on ", 1)[1].split()[0]
        self.address = self.url.split("//", 1)[1].split("/", 1)[0]

    def get(self, path: str = "/metrics", accept: str | None = None) -> tuple[int, str, str]:
        req = urllib.request.Request(f"http://{self.address}{path}")
        if accept:
            req.add_header("Accept", accept)
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers["Content-Type"], r.read().decode()

    def scrape(self) -> str:
        status, _, text = self.get()
        assert status == 200
        return text

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


def series(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """sample name -> [(labels, value)]."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def value(ss: dict, name: str, /, **match: str) -> float:
    found = [v for lab, v in ss.get(name, []) if all(lab.get(k) == w for k, w in match.items())]
    assert len(found) == 1, (name, match, found)
    return found[0]


def promtool_check_metrics(text: str) -> None:
    """`promtool check metrics`: the exposition is well-formed and follows its naming rules."""
    out = subprocess.run([need_tool("promtool"), "check", "metrics"], input=text,
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0 and not out.stdout.strip() and not out.stderr.strip(), \
        out.stdout + out.stderr


class Prometheus:
    """Debian's Prometheus on a free loopback port, scraping ``targets`` every second, with
    ``rules`` (a rule file's text) evaluated every second; its data in a temporary
    directory, removed by ``close``."""

    def __init__(self, targets: list[str], rules: str | None = None, job: str = "nsscope") -> None:
        exe = need_tool("prometheus")
        self.dir = Path(tempfile.mkdtemp(prefix="nsscope-test-prometheus-"))
        self.port = free_port()
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s",
                             "scrape_timeout": "1s"},
                  "scrape_configs": [{"job_name": job,
                                      "static_configs": [{"targets": targets}]}]}
        if rules is not None:
            (self.dir / "rules.yml").write_text(rules)
            config["rule_files"] = [str(self.dir / "rules.yml")]
        # JSON is YAML
        (self.dir / "prometheus.yml").write_text(json.dumps(config))
        self.log = open(self.dir / "prometheus.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [exe, f"--config.file={self.dir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        try:
            wait_for(self._ready, timeout=120, what="prometheus to be ready")
        except BaseException:
            self.close()
            raise

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError((self.dir / "prometheus.log").read_text())
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def api(self, path: str, **params: str) -> object:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=30) as r:
            body = json.loads(r.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, q: str) -> list[tuple[dict[str, str], float]]:
        data = self.api("query", query=q)
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]  # type: ignore[index]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
