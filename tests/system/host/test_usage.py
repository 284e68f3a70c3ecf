"""nsscope.host.usage: CPU %, RSS and I/O rates of real processes, each figure held to
the kernel's own files read around the same interval (proc(5): stat, statm, io)."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from nsscope.host.usage import UsageReader

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def _io(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/io") as f:
        return {k: int(v) for k, v in (line.split(": ") for line in f)}


def test_cpu_of_a_busy_loop_is_what_proc_stat_says():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        reader = UsageReader()
        t0, c0 = time.monotonic(), _cpu_s(busy.pid)
        first = reader.read([busy.pid])[busy.pid]
        assert first.cpu_pct is None  # one reading is no rate
        time.sleep(1.5)
        second = reader.read([busy.pid])[busy.pid]
        t1, c1 = time.monotonic(), _cpu_s(busy.pid)
        oracle = (c1 - c0) / (t1 - t0) * 100
        assert second.cpu_pct is not None
        # the same counters over intervals a few ms apart: within two ticks a second
        assert abs(second.cpu_pct - oracle) <= 2 * 100 / TICK / 1.5 + 3, (second, oracle)
        assert oracle > 20  # the loop did run
    finally:
        busy.kill()
        busy.wait()


def test_rss_and_writes_are_the_kernels_figures():
    code = ("import os,sys,time; b=bytearray(64<<20); b[::4096]=b'x'*(len(b)//4096); "
            "fd=os.open(sys.argv[1], os.O_WRONLY|os.O_CREAT); "
            "sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.readline(); "
            "os.write(fd, b'y'*(8<<20)); os.fsync(fd); "
            "sys.stdout.write('wrote\\n'); sys.stdout.flush(); sys.stdin.readline()")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
        p = subprocess.Popen([sys.executable, "-c", code, os.path.join(d, "f")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert p.stdout.readline() == "ready\n"
            reader = UsageReader()
            before = reader.read([p.pid])[p.pid]
            with open(f"/proc/{p.pid}/statm") as f:
                rss = int(f.read().split()[1]) * PAGE
            assert before.rss is not None and abs(before.rss - rss) <= 1 << 20
            assert before.rss >= 64 << 20
            w0 = _io(p.pid)["write_bytes"]
            t0 = time.monotonic()
            p.stdin.write("\n")
            p.stdin.flush()
            assert p.stdout.readline() == "wrote\n"
            after = reader.read([p.pid])[p.pid]
            dt = time.monotonic() - t0
            written = _io(p.pid)["write_bytes"] - w0
            assert written >= 8 << 20
            assert after.write_bps is not None
            # the reader's interval began a little before ours: the same bytes, a
            # rate within that slack
            assert after.write_bps * dt >= written * 0.5
            assert after.write_bps > 0 and after.read_bps is not None
        finally:
            p.kill()
            p.wait()


def test_a_process_gone_or_a_pid_reused_gets_no_stale_rate():
    import psutil

    from nsscope.host import usage

    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    reader = UsageReader()
    assert p.pid in reader.read([p.pid])
    p.kill()
    p.wait()
    assert reader.read([p.pid]) == {}  # gone: no row, nothing kept
    assert reader._seen == {}
    q = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        # what a reader would hold had q's pid belonged to an older process: that
        # process's readings, its start time one second before q's
        stale = usage._Seen(psutil.Process(q.pid), psutil.Process(q.pid).create_time() - 1)
        stale.at, stale.cpu, stale.read, stale.write = time.monotonic() - 1, 0.0, 0, 0
        reader._seen[q.pid] = stale
        u = reader.read([q.pid])[q.pid]
        assert u.cpu_pct is None and u.write_bps is None  # started over
        time.sleep(0.5)
        assert reader.read([q.pid])[q.pid].cpu_pct is not None
    finally:
        q.kill()
        q.wait()
