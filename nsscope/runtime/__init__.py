"""``nsscope run``: experimental containers built by hand from namespaces and cgroups.

The pieces, one noun each:

- ``spec``: what the user asked for (options parsed and checked, JSON on disk);
- ``rootfs``: the busybox cache, safe image extraction, overlay layers, secure paths;
- ``cgroup``: ``/nsscope/<id>`` in every hierarchy, limits (v1 and v2), kill, removal;
- ``state``: ``/run/nsscope/containers/<id>/state.json`` and the status derived from it;
- ``nsexec``: the fresh single-threaded helper that unshares and becomes PID 1;
- ``mounts``: what PID 1 mounts before ``pivot_root`` (/proc, /dev, /sys, masks, volumes);
- ``init``: the tiny PID 1 of ``--init``;
- ``net``: ``lo`` up, the ``nsscope0`` bridge and veth pairs;
- ``supervisor``: the parent side (spawn, sync, cgroup placement, wait, cleanup);
- ``container``: acting on an existing container (stop, kill, rm, logs, gc).

Process tree of a run::

    nsscope run (supervisor: the CLI, or a detached monitor with -d)
     └─ helper (fresh python, single-threaded: unshare user, then the rest)
         └─ PID 1 of the container (mounts, pivot_root, then exec CMD or --init)

Each link dies with its parent (PR_SET_PDEATHSIG), so a SIGKILLed supervisor
takes the container with it and ``nsscope gc`` only has files and cgroups to
remove. All mounts are made inside the container's mount namespace: the host's
mount table never changes.
"""
