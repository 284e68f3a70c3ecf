"""Container names as every view prints them (nsscope.host.labels)."""
from __future__ import annotations

from nsscope.host import labels
from nsscope.host.model import Container


def _c(**kw) -> Container:
    base = dict(id="4f1c2a9e8b7d" + "0" * 52, short_id="4f1c2a9e8b7d", name="web",
                runtime="docker", pid=10, pids=(10,), state="running", cgroup="/docker/4f1c")
    base.update(kw)
    return Container(**base)


def test_names():
    assert labels.name(_c()) == "web"
    k8s = _c(name="app", pod="shop-1", k8s_namespace="prod", runtime="kubernetes")
    assert labels.name(k8s) == "prod/shop-1/app"
    assert labels.title(_c()) == "web (docker 4f1c2a9e8b7d)"
    runc = _c(id="walk-runc", short_id="walk-runc", name="walk-runc", runtime="runc")
    assert labels.title(runc) == "walk-runc (runc)"


def test_ref_is_fields_not_a_display_string():
    k8s = _c(name="app", pod="shop-1", k8s_namespace="prod", runtime="kubernetes")
    assert labels.ref(k8s) == {"name": "app", "id": k8s.id, "runtime": "kubernetes",
                               "pod": "shop-1", "namespace": "prod"}
    assert labels.ref(_c()) == {"name": "web", "id": _c().id, "runtime": "docker"}


def test_owner_walks_up_to_the_container_cgroup():
    web = _c()
    infra = _c(name="pause", infra=True, cgroup="/kubepods/pod1")
    app = _c(name="app", cgroup="/kubepods/pod1")
    sandbox = _c(name="unshare", sandbox=True, cgroup="/user.slice")
    index = labels.by_cgroup([infra, app, web, sandbox])
    assert index["/kubepods/pod1"] is app
    assert "/user.slice" not in index
    assert labels.owner("/docker/4f1c/init.scope", index) is web
    assert labels.owner("/docker/4f1c", index) is web
    assert labels.owner("/docker", index) is None
    assert labels.owner("/", index) is None
