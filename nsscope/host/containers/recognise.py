"""``find``: every container and sandbox on the host, recognised from a snapshot in
four passes (cgroup patterns; shim/conmon parents; nspawn; runc/crun state), then
the processes that joined them.
"""

from __future__ import annotations

from nsscope.host.containers.cgroup_names import CgroupMatch, is_hex, match_cgroup, pod_of_cgroup
from nsscope.host.containers.containerd import shim_of
from nsscope.host.containers.containers_storage import conmon_of
from nsscope.host.containers.figures import cpu_limit, is_frozen
from nsscope.host.containers.files import basename, environ, option, readlink
from nsscope.host.containers.grouping import (
    descendants,
    identifying_cgroup,
    isolated,
    main_pid,
    non_host,
    nspawn_name,
)
from nsscope.host.containers.info import Info
from nsscope.host.containers.oci import oci_states
from nsscope.host.containers.runtimes import describe
from nsscope.host.containers.sandboxes import find_sandboxes
from nsscope.host.containers.state_paths import Context, StatePaths, discover
from nsscope.host.model import NS_TYPES, Container, Snapshot
from nsscope.kernel.abi import PROC


def find(snap: Snapshot, proc: str = PROC,
         paths: StatePaths = StatePaths()) -> tuple[Container, ...]:
    """Every container and sandbox on the host, as ``Container`` records."""
    ctx = discover(snap, proc, paths)
    procs = snap.processes
    found: list[tuple[Info, str | None, set[int]]] = []  # (info, cgroup, pids)
    claimed: set[int] = set()

    # 1. cgroup path patterns (docker, containerd, CRI-O, podman, LXC, machined, kubepods)
    groups: dict[tuple[str, str], set[int]] = {}
    matches: dict[tuple[str, str], CgroupMatch] = {}
    # thousands of processes share a few dozen cgroup paths: each is matched once
    seen: dict[str, CgroupMatch | None] = {}
    for p in procs.values():
        if p.kernel_thread:
            continue
        best: CgroupMatch | None = None
        for path in p.cgroups.values():
            m = seen[path] if path in seen else seen.setdefault(path, match_cgroup(path))
            if m is not None and (best is None or len(m.path) > len(best.path)):
                best = m
        if best is not None:
            k = (best.runtime, best.path)
            groups.setdefault(k, set()).add(p.pid)
            matches[k] = best
    for k, pids in groups.items():
        m = matches[k]
        main = main_pid(snap, pids)
        info = describe(ctx, m, main) if main is not None else Info(m.runtime, m.key)
        if m.runtime == "machined" and main is not None and \
                environ(proc, main).get("container") == "systemd-nspawn":
            info.runtime = "systemd-nspawn"
        found.append((info, m.path, pids))
        claimed |= pids

    # 1b. a shim's or conmon's child in a cgroup no pattern names (docker run
    # --cgroup-parent, podman --cgroup-parent with a custom layout): the shim's
    # containerd namespace or conmon says which runtime
    for p in procs.values():
        if p.pid in claimed or p.kernel_thread:
            continue
        shim, conmon = shim_of(ctx, p.pid), conmon_of(ctx, p.pid)
        if shim is None and conmon is None:
            continue
        path = p.cgroup_for("cpu") or "/"
        last = path.rsplit("/", 1)[-1]
        if shim is not None:
            runtime = {"moby": "docker", "k8s.io": "containerd"}.get(shim[0], "containerd")
            key = last if is_hex(last, 64) else shim[1]
        else:
            runtime, key = "podman", conmon[0] or last  # type: ignore[index]
        if path == "/":
            pids = descendants(ctx, p.pid) - claimed
        else:
            pids = {q.pid for q in procs.values() if q.pid not in claimed and (
                q.cgroup_for("cpu") == path or (q.cgroup_for("cpu") or "").startswith(path + "/"))}
        m = CgroupMatch(runtime, key, path)
        found.append((describe(ctx, m, p.pid), path, pids))
        claimed |= pids

    # 2. systemd-nspawn without machined (--register=no --keep-unit): its payload
    # has container=systemd-nspawn in its environment (nspawn.c; systemd's
    # CONTAINER_INTERFACE: "container=" names the manager) and a pid namespace
    by_pidns: dict[int, set[int]] = {}
    for p in procs.values():
        if p.pid in claimed or not isolated(snap, p) or "pid" not in non_host(snap, p):
            continue
        by_pidns.setdefault(p.ns["pid"], set()).add(p.pid)
    for pidns, pids in sorted(by_pidns.items()):
        main = main_pid(snap, pids)
        if main is None:
            continue
        manager = environ(proc, main).get("container")
        if manager != "systemd-nspawn":
            continue
        mp = procs[main]
        name = nspawn_name(snap, mp) or str(pidns)
        info = Info(runtime="systemd-nspawn", id=name, name=name)
        sup = procs.get(mp.ppid)
        if sup is not None:
            info.rootfs = option(sup.cmdline, "-D", "--directory")
        found.append((info, identifying_cgroup(mp, prefer_named=True), pids))
        claimed |= pids

    # 3. plain runc / crun from their state dirs; fills in rootfs for the above
    for info, start in oci_states(ctx):
        init = procs.get(info.pid or 0)
        if init is None or (start is not None and init.starttime != start):
            continue  # stopped, or the pid now names another process
        if init.pid in claimed:
            for known, _, members in found:
                if init.pid in members and known.rootfs is None:
                    known.rootfs = info.rootfs
            continue
        members = descendants(ctx, init.pid)
        if "pid" in non_host(snap, init):
            members |= {q.pid for q in procs.values() if q.ns.get("pid") == init.ns["pid"]}
        members -= claimed
        found.append((info, identifying_cgroup(init), members))
        claimed |= members

    # 4. processes in a container's (non-host) pid or mount namespace outside its
    # cgroup: joined with nsenter/setns, or the runtime's own helper that set the
    # namespaces up (nsscope run's nsexec): they belong to it
    joinable: list[tuple[dict[str, int], set[int]]] = []
    for info, _, members in found:
        main = main_pid(snap, members, info.pid)
        if main is not None:
            nh = non_host(snap, procs[main])
            want: dict[str, int] = {t: nh[t] for t in ("pid", "mnt") if t in nh}
            if want:
                joinable.append((want, members))
    for p in procs.values():
        if p.pid in claimed or not isolated(snap, p):
            continue
        for want, members in joinable:
            if any(p.ns.get(t) == ino for t, ino in want.items()):
                members.add(p.pid)
                claimed.add(p.pid)
                break

    out = [container_record(ctx, info, cg, pids) for info, cg, pids in found if pids]
    out.extend(find_sandboxes(ctx, claimed))
    out.sort(key=lambda c: (c.sandbox, c.runtime, c.k8s_namespace or "", c.pod or "", c.name))
    return tuple(out)


def shorten_id(cid: str) -> str:
    """docker's 12-hex short form for hex ids; names stay whole."""
    return cid[:12] if is_hex(cid, at_least=32) else cid


def container_record(ctx: Context, info: Info, cg: str | None, pids: set[int]) -> Container:
    snap, proc = ctx.snap, ctx.proc
    main = main_pid(snap, pids, info.pid)
    mp = snap.processes.get(main) if main is not None else None
    rootfs = info.rootfs
    if rootfs is None and mp is not None:
        root = readlink(f"{proc}/{main}/root")
        rootfs = root if root and root != "/" else None
    infra = info.infra
    # the pod sandbox's process: k8s's /pause, podman's "catatonit -P"
    # (podman libpod/runtime_pod_linux.go infra command)
    if mp is not None and not infra and (
            (info.pod_uid and mp.comm == "pause")
            or (mp.cmdline and basename(mp.cmdline[0]) == "catatonit" and "-P" in mp.cmdline)):
        infra = True
    _, qos = pod_of_cgroup(cg or "")
    name = info.name
    if infra and info.pod and (name is None or name.startswith("k8s_POD_")):
        # a pod's sandbox is "POD" in the kubelet's own naming (dockershim's
        # k8s_POD_<pod>_…, CRI-O's storage names): "<pod>/POD" resolves it
        name = "POD"
    return Container(
        id=info.id, short_id=shorten_id(info.id), name=name or shorten_id(info.id),
        runtime=info.runtime,
        pid=main, pids=tuple(sorted(pids)),
        state="paused" if mp is not None and is_frozen(snap, mp, ctx.frozen) else "running",
        cgroup=cg, cpu_limit=cpu_limit(snap, mp, ctx.limits) if mp is not None else None,
        shares_host=tuple(t for t in NS_TYPES if mp is not None and t in mp.ns
                          and snap.host_ns.get(t) == mp.ns[t]),
        image=info.image, rootfs=rootfs, pod=info.pod, k8s_namespace=info.k8s_namespace,
        pod_uid=info.pod_uid, qos=qos, infra=infra, created=info.created)


