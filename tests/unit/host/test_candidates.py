"""The quick index's own pieces: its copy of the runtimes' default state paths stays
StatePaths', and its small readers read what the runtimes write."""

from __future__ import annotations

from nsscope.host import candidates
from nsscope.host.containers.sandboxes import LAUNCHERS
from nsscope.host.containers.state_paths import StatePaths


def test_defaults_are_state_paths_own():
    sp = StatePaths()
    assert sp.docker == candidates.DOCKER and sp.docker_config == candidates.DOCKER_CONFIG
    assert sp.containers_storage == candidates.CONTAINERS_STORAGE
    assert sp.containerd == candidates.CONTAINERD
    assert (sp.runc, sp.crun, sp.lxc, sp.nsscope) == \
        (candidates.RUNC, candidates.CRUN, candidates.LXC, candidates.NSSCOPE)
    assert set(candidates.SANDBOX_NAMES) == {*LAUNCHERS, "sandbox"}


def test_field_reads_compact_and_indented_json():
    runc = '{"id":"web","init_process_pid":4242,"init_process_start":777,"created":"x"}'
    assert candidates._field(runc, "init_process_pid") == "4242"
    assert candidates._field(runc, "id") == "web"
    crun = '{\n    "pid": 24784,\n    "process-start-time": 1221416,\n    "rootfs": "/r"\n}'
    assert candidates._field(crun, "pid") == "24784"
    assert candidates._field(crun, "process-start-time") == "1221416"
    assert candidates._field('{"Running":true,"Pid":9}', "Running") == "true"
    assert candidates._field('{"a":"x\\\\"y"}', "a") is None  # escapes: not guessed at
    assert candidates._field("{}", "pid") is None


def test_docker_name_is_the_one_with_a_slash():
    cfg = ('{"State":{"Running":true,"Pid":12},"MountPoints":{"/d":{"Name":"vol"}},'
           '"Name":"/web","Driver":"vfs"}')
    assert candidates._docker_name(cfg) == "web"
    assert candidates._docker_name('{"Name":"vol"}') == ""


def test_what_may_be_a_namespace_inode():
    # inodes: 0xEFFFFFFB (the initial namespaces) up to 0xFFFFFFFF
    assert candidates._may_start_inode("4026531835")
    assert candidates._may_start_inode("4") and candidates._may_start_inode("42")
    assert candidates._may_start_inode("4294967295")
    assert not candidates._may_start_inode("43") and not candidates._may_start_inode("1234")
    assert not candidates._may_start_inode("4294967296")
    assert not candidates._may_start_inode("657707")


def test_hex_ids_in_cgroup_names():
    h = "ab" * 32
    for name in (h, f"docker-{h}.scope", f"libpod-{h}", f"crio-{h}.scope",
                 f"cri-containerd-{h}.scope"):
        assert candidates._hex64_in(name) == h
    assert candidates._hex64_in("libpod-conmon") is None
    assert candidates._hex64_in("nsscope-throttle-123") is None
