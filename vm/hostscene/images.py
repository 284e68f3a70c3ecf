"""The scene's images, built on the host before the VM boots (cached in .vm/hostscene/).

- ``rootfs/``: Debian bookworm (debootstrap --variant=minbase) with nginx-light,
  postgresql-15, python3 and stress, a postgres data directory made by initdb,
  documentation and apt caches removed. The docker containers run on it.
- ``docker-layer.ext4``: that tree as an ext4 image (mke2fs -d, no root mount
  needed). The VM loop-mounts it read-only as the image layer under
  /var/lib/docker/overlay2/<layer>/diff, so no path of this checkout appears
  in the VM's mount table (a bind mount's source path would: mountinfo's
  4th field).
- ``pause.tar`` and ``api.tar``: OCI image archives (image-spec image-layout:
  oci-layout, index.json, blobs/sha256) for ``ctr images import``, so the
  pod's containers get real containerd snapshots, as under the CRI plugin.
  pause: the static pause binary (payload/pause.c). api: Python 3.11 with the
  standard library and the shared libraries it links (as "distroless" Python
  images are made), and payload/app.py as /app/app.py.

Needs root (debootstrap, chroot), network access to the Debian mirror, gcc.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PAYLOAD = os.path.join(HERE, "payload")
MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
PACKAGES = ("nginx-light", "python3", "stress")
#: uid/gid of postgres in the rootfs (checked after the install)
POSTGRES_PKG = "postgresql-15"
PG_BIN = "/usr/lib/postgresql/15/bin"
PGDATA = "/var/lib/postgresql/data"

PAUSE_IMAGE = "registry.k8s.io/pause:3.6"
API_IMAGE = "registry.example.com/shop/api:1.4.2"


def log(msg: str) -> None:
    print(f"hostscene: {msg}", file=sys.stderr, flush=True)


def run(*argv: str, **kw: object) -> None:
    subprocess.run(argv, check=True, **kw)  # type: ignore[call-overload]


# --- the Debian tree -------------------------------------------------------------------

def build_rootfs(rootfs: str) -> None:
    """debootstrap + postgresql + initdb, then trimmed. Marked done by rootfs/.nsscope-done."""
    done = os.path.join(rootfs, ".nsscope-done")
    if os.path.exists(done):
        return
    shutil.rmtree(rootfs, ignore_errors=True)
    log(f"debootstrap {SUITE} -> {rootfs} (a few minutes)")
    run("debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, rootfs,
        MIRROR, stdout=subprocess.DEVNULL)
    # postgresql-common would create and start a "main" cluster; the image's
    # own data directory is made below, as the official postgres image does
    os.makedirs(os.path.join(rootfs, "etc/postgresql-common"), exist_ok=True)
    with open(os.path.join(rootfs, "etc/postgresql-common/createcluster.conf"), "w") as f:
        f.write("create_main_cluster = false\n")
    # invoke-rc.d must not start anything in the chroot (policy-rc.d(8): 101 = forbidden)
    policy = os.path.join(rootfs, "usr/sbin/policy-rc.d")
    with open(policy, "w") as f:
        f.write("#!/bin/sh\nexit 101\n")
    os.chmod(policy, 0o755)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
           "LANG": "C.UTF-8"}
    log(f"installing {POSTGRES_PKG}")
    run("chroot", rootfs, "apt-get", "install", "-y", "-q", "--no-install-recommends",
        POSTGRES_PKG, env=env, stdout=subprocess.DEVNULL)
    uid, gid = passwd_ids(rootfs, "postgres")
    os.makedirs(os.path.join(rootfs, PGDATA.lstrip("/")), exist_ok=True)
    os.chown(os.path.join(rootfs, PGDATA.lstrip("/")), uid, gid)
    os.chmod(os.path.join(rootfs, PGDATA.lstrip("/")), 0o700)
    run("chroot", f"--userspec={uid}:{gid}", rootfs, "env", "-i",
        f"PATH={PG_BIN}:/usr/bin:/bin", "HOME=/var/lib/postgresql", "LANG=C.UTF-8",
        "initdb", "-D", PGDATA, "-E", "UTF8", "--locale=C.UTF-8", "-U", "postgres",
        "--auth-local=trust", "--auth-host=scram-sha-256", stdout=subprocess.DEVNULL)
    conf = os.path.join(rootfs, PGDATA.lstrip("/"), "postgresql.conf")
    with open(conf, "a") as f:
        # initdb probed /dev/shm in the chroot (a plain directory there) and fell
        # back to sysv; in a container /dev/shm is a tmpfs, as in the official image
        f.write("dynamic_shared_memory_type = posix\nlisten_addresses = '*'\n")
    # what a container needs writable or present at start
    for rel, owner in (("run/postgresql", (uid, gid)), ("var/lib/nginx", None)):
        path = os.path.join(rootfs, rel)
        os.makedirs(path, exist_ok=True)
        if owner:
            os.chown(path, *owner)
    os.remove(policy)
    for rel in ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
                "usr/share/info", "usr/share/locale"):
        path = os.path.join(rootfs, rel)
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, exist_ok=True)
    # the official python image's `python` (docker-library/python: a symlink in /usr/local/bin)
    os.symlink("/usr/bin/python3", os.path.join(rootfs, "usr/local/bin/python"))
    open(done, "w").close()


def passwd_ids(rootfs: str, user: str) -> tuple[int, int]:
    with open(os.path.join(rootfs, "etc/passwd")) as f:
        for line in f:
            fields = line.split(":")
            if fields[0] == user:
                return int(fields[2]), int(fields[3])
    raise SystemExit(f"hostscene: no user {user} in {rootfs}/etc/passwd")


def build_ext4(rootfs: str, image: str) -> None:
    done = os.path.join(rootfs, ".nsscope-done")
    if os.path.exists(image) and os.path.getmtime(image) >= os.path.getmtime(done):
        return
    size_mb = int(subprocess.run(["du", "-sm", rootfs], check=True, capture_output=True,
                                 text=True).stdout.split()[0])
    size_mb = size_mb * 5 // 4 + 64
    log(f"mke2fs -d {rootfs} -> {image} ({size_mb} MiB, sparse)")
    tmp = image + ".tmp"
    if os.path.exists(tmp):
        os.remove(tmp)
    run("mke2fs", "-q", "-t", "ext4", "-O", "^has_journal", "-L", "docker-layer",
        "-d", rootfs, tmp, f"{size_mb}M")
    os.replace(tmp, image)


# --- OCI image archives ------------------------------------------------------------------

def _blob(blobs: dict[str, bytes], data: bytes) -> dict[str, object]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"digest": digest, "size": len(data)}


def _layer(files: list[tuple[str, str]], extra: dict[str, bytes], mtime: int) -> bytes:
    """A layer tar: (path in image, path on disk) entries, then in-memory files."""
    buf = io.BytesIO()
    seen: set[str] = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add_dirs(name: str) -> None:
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d and d not in seen:
                    seen.add(d)
                    ti = tarfile.TarInfo(d)
                    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, mtime
                    tar.addfile(ti)
        for name, src in files:
            if name in seen:
                continue
            add_dirs(name)
            seen.add(name)
            ti = tar.gettarinfo(src, arcname=name)
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            if ti.isreg():
                with open(src, "rb") as f:
                    tar.addfile(ti, f)
            else:
                tar.addfile(ti)
        for name, data in extra.items():
            add_dirs(name)
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, mtime
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def write_oci_archive(path: str, name: str, layer: bytes, config: dict[str, object]) -> None:
    """An image-layout archive ``ctr images import`` reads: the image's name in the
    index's io.containerd.image.name annotation (containerd images/archive)."""
    blobs: dict[str, bytes] = {}
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    layer_desc = _blob(blobs, layer)
    cfg = {"created": created, "architecture": "amd64", "os": "linux", "config": config,
           "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
           "history": [{"created": created, "created_by": "vm/hostscene/images.py"}]}
    cfg_desc = _blob(blobs, json.dumps(cfg).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cfg_desc},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer_desc}]}
    man_desc = _blob(blobs, json.dumps(manifest).encode())
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", **man_desc,
        "platform": {"architecture": "amd64", "os": "linux"},
        "annotations": {"io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}}]}
    tmp = path + ".tmp"
    with tarfile.open(tmp, "w") as tar:
        def put(arc: str, data: bytes) -> None:
            ti = tarfile.TarInfo(arc)
            ti.size, ti.mode = len(data), 0o644
            tar.addfile(ti, io.BytesIO(data))
        put("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        put("index.json", json.dumps(index).encode())
        for digest, data in blobs.items():
            put(f"blobs/sha256/{digest.split(':')[1]}", data)
    os.replace(tmp, path)


def build_pause(out: str) -> None:
    tar = os.path.join(out, "pause.tar")
    src = os.path.join(PAYLOAD, "pause.c")
    if os.path.exists(tar) and os.path.getmtime(tar) >= os.path.getmtime(src):
        return
    binary = os.path.join(out, "pause")
    run("gcc", "-static", "-Os", "-Wall", "-Werror", "-o", binary, src)
    run("strip", binary)
    layer = _layer([("pause", binary)], {}, int(time.time()))
    # registry.k8s.io/pause runs as 65535 (kubernetes build/pause/Dockerfile: USER 65535:65535)
    write_oci_archive(tar, PAUSE_IMAGE, layer,
                      {"User": "65535:65535", "Entrypoint": ["/pause"], "WorkingDir": "/"})
    log(f"built {tar}")


def _needed_libs(rootfs: str, binaries: list[str]) -> set[str]:
    """Shared libraries of ``binaries`` (paths in the rootfs), by ldd in a chroot."""
    out: set[str] = set()
    for b in binaries:
        # ldd exits 1 for a file that is not dynamic: its output is still right
        res = subprocess.run(["chroot", rootfs, "ldd", b], check=False, capture_output=True,
                             text=True)
        for line in res.stdout.splitlines():
            parts = line.split()
            if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
                out.add(parts[2])
            elif parts and parts[0].startswith("/"):
                out.add(parts[0])  # the dynamic loader
    return out


def resolve_dirs(rootfs: str, rel: str, last: bool = False) -> str:
    """``rel`` with its symlinks resolved inside ``rootfs`` (absolute targets taken
    as rooted there): its directories only, or the final name too with ``last``."""
    parts = rel.split("/")
    out: list[str] = []
    for _ in range(40):
        if not parts:
            break
        name = parts.pop(0)
        path = os.path.join(rootfs, *out, name)
        if os.path.islink(path) and (parts or last):
            target = os.readlink(path)
            if target.startswith("/"):
                out = []
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        if name == "..":
            if out:
                out.pop()
        else:
            out.append(name)
    return "/".join(out)


def build_api(rootfs: str, out: str) -> None:
    tar = os.path.join(out, "api.tar")
    src = os.path.join(PAYLOAD, "app.py")
    done = os.path.join(rootfs, ".nsscope-done")
    if os.path.exists(tar) and os.path.getmtime(tar) >= max(os.path.getmtime(src),
                                                             os.path.getmtime(done)):
        return
    files: list[tuple[str, str]] = []

    def add(rel: str) -> None:
        path = os.path.join(rootfs, rel)
        files.append((rel, path))

    # merged /usr (bookworm): the top-level symlinks first
    for top in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(os.path.join(rootfs, top)):
            add(top)
    stdlib = "usr/lib/python3.11"
    skip = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data",
            "unittest", "distutils", "site-packages", "dist-packages"}
    binaries = ["/usr/bin/python3.11"]
    for dirpath, dirnames, filenames in os.walk(os.path.join(rootfs, stdlib)):
        dirnames[:] = sorted(d for d in dirnames if d not in skip)
        for name in sorted(filenames):
            rel = os.path.relpath(os.path.join(dirpath, name), rootfs)
            add(rel)
            if name.endswith(".so"):
                binaries.append("/" + rel)
    for rel in ("usr/bin/python3.11", "usr/bin/python3", "etc/ld.so.cache",
                "usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache"):
        if os.path.lexists(os.path.join(rootfs, rel)):
            add(rel)
    for lib in sorted(_needed_libs(rootfs, binaries)):
        # ldd names /lib/..., through the /lib -> usr/lib symlink: the layer
        # holds the file where it really is, and the symlink itself if the
        # name is one (libfoo.so.1 -> libfoo.so.1.2.3)
        rel = resolve_dirs(rootfs, lib.lstrip("/"))
        add(rel)
        if os.path.islink(os.path.join(rootfs, rel)):
            add(resolve_dirs(rootfs, rel, last=True))
    with open(src, "rb") as f:
        app = f.read()
    extra = {
        "usr/local/bin/.keep": b"",
        "app/app.py": app,
        "etc/passwd": b"root:x:0:0:root:/root:/sbin/nologin\n"
                      b"app:x:10001:10001:app:/app:/sbin/nologin\n"
                      b"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n",
        "etc/group": b"root:x:0:\napp:x:10001:\nnogroup:x:65534:\n",
        "tmp/.keep": b"",
    }
    layer = _layer(files, extra, int(time.time()))
    # /usr/local/bin/python, as in the official python images
    buf = io.BytesIO(layer)
    merged = io.BytesIO()
    with tarfile.open(fileobj=buf) as src_tar, tarfile.open(fileobj=merged, mode="w",
                                                            format=tarfile.PAX_FORMAT) as dst:
        for ti in src_tar.getmembers():
            if ti.name == "usr/local/bin/.keep":
                ln = tarfile.TarInfo("usr/local/bin/python")
                ln.type, ln.linkname, ln.mode = tarfile.SYMTYPE, "/usr/bin/python3.11", 0o777
                dst.addfile(ln)
                continue
            dst.addfile(ti, src_tar.extractfile(ti) if ti.isreg() else None)
    write_oci_archive(tar, API_IMAGE, merged.getvalue(), {
        "User": "10001:10001", "Cmd": ["python", "app.py"], "WorkingDir": "/app",
        "Env": ["PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG=C.UTF-8", "PYTHONUNBUFFERED=1"],
        "ExposedPorts": {"8080/tcp": {}}})
    log(f"built {tar} ({len(files)} files)")


def build(out: str) -> None:
    """Everything the scene needs, in ``out`` (kept between runs)."""
    os.makedirs(out, exist_ok=True)
    rootfs = os.path.join(out, "rootfs")
    build_rootfs(rootfs)
    build_ext4(rootfs, os.path.join(out, "docker-layer.ext4"))
    build_pause(out)
    build_api(rootfs, out)
