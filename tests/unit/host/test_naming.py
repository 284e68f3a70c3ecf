"""Naming a container (issue 13, point 2): an exact name, then an exact id, then a
prefix of exactly one id and of no name; two fits are a refusal that lists them all."""

from __future__ import annotations

import pytest

from nsscope.errors import BadInput, NsscopeError
from nsscope.host.naming import AUTO, ID, NAME, Fit, choose
from nsscope.host.model import Container


def c(cid: str, name: str, runtime: str = "docker", sandbox: bool = False) -> Container:
    short = cid[:12] if len(cid) == 64 else cid
    return Container(id=cid, short_id=short, name=name, runtime=runtime, pid=1, pids=(1,),
                     state="running", cgroup="/", sandbox=sandbox)


#: the issue's host: a runc container whose id starts with "walk", four docker ones
#: named walk-*, an all-digit docker id prefix, a sandbox (its id an inode)
WALK = [c("walk-runc", "walk-runc", "runc"),
        *(c(f"{i:x}" * 64, f"walk-{n}") for i, n in zip(range(10, 14), "abcd", strict=True)),
        c("657707" + "e" * 58, "db"), c("4026532548", "unshare-42", "unshare", sandbox=True)]


def test_a_prefix_of_one_id_is_refused_while_it_starts_names():
    # `throttle walk 20%` throttled walk-runc: its id starts with walk, and so do the
    # names of four others. Now a refusal that lists every candidate
    with pytest.raises(BadInput) as e:
        choose(WALK, "walk")
    msg = str(e.value)
    assert "start of the id of runc walk-runc" in msg
    for n in "abcd":
        assert f"walk-{n} (docker {n * 12})" in msg
    assert "name:NAME" in msg and "id:ID" in msg


def test_exact_name_then_exact_id_then_a_clean_prefix():
    assert choose(WALK, "walk-runc").runtime == "runc"
    assert choose(WALK, "walk-b").name == "walk-b"
    assert choose(WALK, "b" * 64).name == "walk-b"
    assert choose(WALK, "657707").name == "db"  # one id, no name starts with it
    assert choose(WALK, "bbbb").name == "walk-b"
    # an exact name wins over another container's id prefix
    cs = [c("web" + "0" * 61, "x"), c("f" * 64, "web")]
    assert choose(cs, "web").id == "f" * 64


def test_two_containers_of_one_name_are_refused():
    cs = [c("a" * 64, "web"), c("b" * 64, "web", "podman")]
    with pytest.raises(BadInput, match=r"'web' names 2 containers: web \(docker aaaaaaaaaaaa\), "
                                       r"web \(podman bbbbbbbbbbbb\); give the id"):
        choose(cs, "web")
    assert choose(cs, "b", ID).runtime == "podman"


def test_explicit_forms_never_guess():
    # id: ignores names: a prefix of one id is enough
    assert choose(WALK, "walk", ID).runtime == "runc"
    with pytest.raises(BadInput, match="start of the ids of 2 containers"):
        choose([c("ab" * 32, "x"), c("ac" * 32, "y")], "a", ID)
    # name: only whole names
    assert choose(WALK, "walk-a", NAME).id == "a" * 64
    with pytest.raises(NsscopeError, match="no container is named 'walk'"):
        choose(WALK, "walk", NAME)
    with pytest.raises(NsscopeError, match="no container is named 'bbbb'"):
        choose(WALK, "bbbb", NAME)


def test_a_sandbox_id_is_matched_whole():
    assert choose(WALK, "4026532548").name == "unshare-42"
    assert not Fit(WALK, "40265")  # a number is not the start of an inode
    assert choose(WALK, "4026532548", ID).runtime == "unshare"


def test_fit_tells_how():
    fit = Fit(WALK, "657707")
    assert fit.id_prefix and not fit.names
    assert "the start of the id of db (docker 657707eeeeee)" in fit.how("657707")
    assert not Fit(WALK, "zz")
    with pytest.raises(NsscopeError, match="no such container: zz"):
        choose(WALK, "zz", AUTO)
