"""``nsscope run``: experimental containers built by hand from namespaces and cgroups.

The pieces, one noun each:

- ``spec``: what the user asked for (options parsed and checked, JSON on disk);
- ``rootfs``: the busybox cache, safe image extraction, overlay layers, secure paths;
- ``cgroup``: ``/nsscope/<id>`` in the hierarchies it needs, limits and device rules
  (v1 and v2), kill, removal;
- ``state``: ``/run/nsscope/containers/<id>/state.json`` and the status derived from it;
- ``nsexec``: PID 1 (and the helper of a user namespace): forks of the
  single-threaded supervisor that unshare, mount, drop privileges and exec;
- ``mounts``: what PID 1 mounts before ``pivot_root`` (/proc, /dev, /sys, masks, volumes);
- ``init``: the tiny PID 1 of ``--init``;
- ``net``: ``lo`` up, the ``nsscope0`` bridge and veth pairs;
- ``supervisor``: the parent side (prepare, fork, answer, wait, cleanup);
- ``container``: acting on an existing container (stop, kill, rm, logs, gc);
- ``records``: typed records without importing ``typing`` (start-up time).

Process tree of a run::

    nsscope run (supervisor: the CLI, or a monitor it forks with -d)
     └─ PID 1 of the container (mounts, pivot_root, then exec CMD or --init)

and with ``--userns``::

    nsscope run
     └─ helper (unshares the user namespace, then pid/time for its child)
         └─ PID 1 of the container

Each link dies with its parent (PR_SET_PDEATHSIG), so a SIGKILLed supervisor
takes the container with it and ``nsscope gc`` only has files and cgroups to
remove. All mounts are made inside the container's mount namespace: the host's
mount table never changes. Nothing on the way of a run imports argparse, re,
typing, json, dataclasses or the collector's model: a run is timed against
runc (bench/bench_run.py; tests/test_run.py holds the imports to it).
"""
