"""Recordings (host/recording): what is written is what is read back, only changes are
stored, --keep prunes without losing a cgroup's figures, and a file of an unknown
schema is refused. On fixtures/scene-v2 (a host captured in the v2 VM with real
runtimes): fast, no root."""

from __future__ import annotations

import sqlite3

import pytest

from nsscope.errors import BadInput, NsscopeError
from nsscope.host.collector import Roots, collect
from nsscope.host.containers import StatePaths
from nsscope.host.history import snapshot_rates
from nsscope.host.model import CpuStats
from nsscope.host.recording import schema
from nsscope.host.recording.reader import Recording, parse_duration, parse_time
from nsscope.host.recording.writer import Writer

from support import FIXTURES, run_nsscope

SCENE = FIXTURES / "scene-v2"
ROOTS = Roots(proc=str(SCENE / "proc"), cgroup=str(SCENE / "sys/fs/cgroup"),
              state=StatePaths().under(str(SCENE)))


@pytest.fixture(scope="module")
def scene():
    return collect(ROOTS)


def _count(path, table: str) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        db.close()


def _busier(snap, by_usec: int, at: float):
    """The same host ``at`` seconds later, every cgroup's CPU counters ``by_usec`` on."""
    cgs = {}
    for path, cg in snap.cgroups.items():
        c = cg.cpu
        if c is not None and c.usage_usec is not None:
            c = c._replace(usage_usec=c.usage_usec + by_usec)
        cgs[path] = cg._replace(cpu=c)
    return snap._replace(cgroups=cgs, uptime=snap.uptime + at)


def test_a_snapshot_reads_back_as_it_was_written(scene, tmp_path):
    path = str(tmp_path / "r.db")
    w = Writer(path, interval=5)
    w.add(scene, at=1000.0)
    w.close()
    got = Recording(path).snapshot(0)
    assert dict(got.processes) == dict(scene.processes)
    assert dict(got.namespaces) == dict(scene.namespaces)
    # a cgroup's members are not stored: they are the processes whose /proc/PID/cgroup
    # names it, as the sampler (which the recorder uses) counts them; the collector
    # here read cgroup.procs, captured a moment apart from /proc
    assert {p: cg._replace(procs=()) for p, cg in got.cgroups.items()} == {
        p: cg._replace(procs=()) for p, cg in scene.cgroups.items()}
    for path, cg in got.cgroups.items():
        assert cg.procs == tuple(pid for pid, p in scene.processes.items()
                                 if path in p.cgroups.values())
    assert got.containers == scene.containers
    assert (got.cgroup_mode, got.hierarchies, dict(got.host_ns), got.uptime, got.cpu_pressure,
            got.hidden) == (scene.cgroup_mode, scene.hierarchies, dict(scene.host_ns),
                            scene.uptime, scene.cpu_pressure, scene.hidden)
    assert any(c.name for c in got.containers) and any(cg.cpu for cg in got.cgroups.values())


def test_only_changes_are_stored(scene, tmp_path):
    path = str(tmp_path / "r.db")
    w = Writer(path, interval=5)
    w.add(scene, at=1000.0)
    rows = {t: _count(path, t) for t in ("process", "namespace", "container", "cgroup",
                                         "cgroup_figures")}
    # the same host again, as the sampler hands it out (same records): nothing new
    w.add(scene._replace(uptime=scene.uptime + 5), at=1005.0)
    assert {t: _count(path, t) for t in rows} == rows
    # one process's cgroup moved: one new version of it, nothing else
    pid = next(p for p, q in scene.processes.items() if q.cgroups and not q.kernel_thread)
    p = scene.processes[pid]
    moved = {**scene.processes, pid: p._replace(cgroups={k: "/moved" for k in p.cgroups})}
    w.add(scene._replace(processes=moved, uptime=scene.uptime + 10), at=1010.0)
    assert _count(path, "process") == rows["process"] + 1
    # the counters moved: a row per cgroup whose figures changed, none for the others
    w.add(_busier(scene._replace(processes=moved), 500_000, 15), at=1015.0)
    busy = sum(1 for cg in scene.cgroups.values() if cg.cpu and cg.cpu.usage_usec is not None)
    assert _count(path, "cgroup_figures") == rows["cgroup_figures"] + busy
    w.close()
    r = Recording(path)
    assert r.snapshot(1).processes[pid] == p
    assert r.snapshot(2).processes[pid].cgroups == {k: "/moved" for k in p.cgroups}
    # a cgroup's figures are carried forward from its latest row
    assert dict(r.snapshot(2).cgroups) == dict(r.snapshot(0).cgroups) | {
        path: cg for path, cg in r.snapshot(2).cgroups.items()}


def test_rates_between_samples_are_the_live_ones(scene, tmp_path):
    path = str(tmp_path / "r.db")
    w = Writer(path, interval=5)
    later = _busier(scene, 2_500_000, 5)  # 2.5 s of CPU in 5 s: 50 %
    w.add(scene, at=1000.0)
    w.add(later, at=1005.0)
    w.close()
    r = Recording(path)
    assert r.rates(1) == snapshot_rates(scene, later)
    busy = [p for p, cg in scene.cgroups.items() if cg.cpu and cg.cpu.usage_usec is not None]
    assert busy and all(r.rates(1)[p].usage_pct == pytest.approx(50.0) for p in busy)
    assert r.rates(0) == {}


def test_keep_prunes_old_samples_and_keeps_every_cgroups_figures(scene, tmp_path):
    path = str(tmp_path / "r.db")
    w = Writer(path, interval=5)
    for i in range(6):
        w.add(scene._replace(uptime=scene.uptime + 5 * i), at=1000.0 + 5 * i)
    before = Recording(path).snapshot(5)
    assert w.prune(1012.0) == 3
    w.close()
    r = Recording(path)
    assert [s.at for s in r.samples] == [1015.0, 1020.0, 1025.0]
    # the figures were written once, at the first sample: moved to the first kept
    assert dict(r.snapshot(2).cgroups) == dict(before.cgroups)
    assert dict(r.snapshot(0).processes) == dict(scene.processes)


def test_a_recording_is_continued_where_it_stopped(scene, tmp_path):
    path = str(tmp_path / "r.db")
    w = Writer(path, interval=5)
    w.add(scene, at=1000.0)
    w.close()
    w = Writer(path, interval=5)
    w.add(scene._replace(uptime=scene.uptime + 5), at=1005.0)
    w.close()
    r = Recording(path)
    assert len(r.samples) == 2
    assert dict(r.snapshot(0).processes) == dict(r.snapshot(1).processes) == dict(
        scene.processes)


def test_a_file_of_a_future_schema_is_refused_in_one_line(scene, tmp_path):
    path = str(tmp_path / "r.db")
    w = Writer(path, interval=5)
    w.add(scene, at=1000.0)
    w.close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {schema.VERSION + 1}")
    db.close()
    with pytest.raises(NsscopeError, match="newer than this nsscope reads"):
        Recording(path)
    with pytest.raises(NsscopeError, match="newer than this nsscope reads"):
        Writer(path, interval=5)
    for argv in (("top", "--from", path), ("ls", "--from", path), ("ps", "--from", path),
                 ("record", path, "--for", "1")):
        out = run_nsscope(*argv)
        assert out.returncode != 0 and out.stdout == ""
        assert out.stderr.count("\n") == 1 and "schema version 2" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr


def test_other_files_are_refused_in_one_line(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)")
    for path in (junk, other, tmp_path / "missing.db"):
        out = run_nsscope("ls", "--from", str(path))
        assert out.returncode != 0 and out.stderr.count("\n") == 1, out.stderr
        assert "Traceback" not in out.stderr
    out = run_nsscope("record", str(other), "--for", "1")
    assert out.returncode != 0 and "not an nsscope recording" in out.stderr


def test_at_picks_the_sample_whose_interval_holds_the_time(scene, tmp_path):
    path = str(tmp_path / "r.db")
    w = Writer(path, interval=5)
    for i in range(4):
        w.add(scene._replace(uptime=scene.uptime + 5 * i), at=1_000_000.0 + 5 * i)
    w.close()
    r = Recording(path)
    assert r.index_at(None) == r.index_at("end") == 3 and r.index_at("start") == 0
    # a time between two samples: the later one (its rates cover that time)
    assert r.index_at("-3s", now=1_000_010.0) == 2
    assert r.index_at("-0s", now=1_000_010.0) == 2
    with pytest.raises(BadInput, match="the recording runs from"):
        r.index_at("-1h", now=1_000_010.0)


def test_time_and_duration_forms():
    assert parse_duration("90") == 90 and parse_duration("1h30m") == 5400
    assert parse_duration("2d") == 172800 and parse_duration("0.5s") == 0.5
    assert parse_time("-2h", now=10_000.0) == 2800.0
    t = parse_time("2026-12-03 03:00:00", now=0.0)
    assert parse_time("2026-12-03T03:00:00", now=0.0) == t == parse_time("2026-12-03 03:00",
                                                                          now=0.0)
    for bad in ("soon", "1x", "", "-"):
        with pytest.raises(BadInput):
            parse_time(bad, now=0.0) if bad != "1x" else parse_duration(bad)


def test_figures_round_trip_every_field():
    from nsscope.host.model import Cgroup, MemoryStats, PidsStats, Pressure
    from nsscope.host.recording.reader import decode
    from nsscope.host.recording.writer import figures
    cg = Cgroup("/a", ("",), (), CpuStats(1, 2, 3, 4, 5, 6, 20000, 100000, 100, None,
                                          Pressure(1.25, 0.5, 0.07, 123456, 0.01, 99)),
                MemoryStats(4096, None), PidsStats(3, 100))
    assert decode(figures(cg)) == (cg.cpu, cg.memory, cg.pids)
    bare = Cgroup("/b", ("cpu",), ())
    assert decode(figures(bare)) == (None, None, None)


@pytest.mark.parametrize("argv, said", [
    (("record", "{f}", "--interval", "0"), "--interval must be at least 0.1 s"),
    (("record", "{f}", "--for", "soon"), "not a duration"),
    (("record", "{f}", "--keep", "1s", "--interval", "5"), "--keep must be longer"),
    (("top", "--from", "{f}", "--at", "yesterday-ish"), "not a time"),
    (("ls", "--at", "-2h"), "--at needs --from FILE"),
    (("--at", "end"), "--at needs --from FILE"),
    (("top", "--from", "{f}", "--watch"), "not with --from"),
])
def test_bad_input_is_one_line(scene, tmp_path, argv, said):
    path = str(tmp_path / "r.db")
    w = Writer(path, interval=5)
    w.add(scene, at=1000.0)
    w.close()
    out = run_nsscope(*(a.format(f=path) for a in argv))
    assert out.returncode != 0 and out.stderr.count("\n") == 1, out.stderr
    assert said in out.stderr and "Traceback" not in out.stderr


def test_a_second_recorder_on_one_file_is_refused(tmp_path):
    path = str(tmp_path / "r.db")
    first = Writer(path, interval=5)
    try:
        with pytest.raises(NsscopeError, match="another nsscope record is writing"):
            Writer(path, interval=5)
    finally:
        first.close()


def test_a_decaying_psi_average_alone_makes_no_row(scene, tmp_path):
    path = str(tmp_path / "r.db")
    w = Writer(path, interval=5)
    w.add(scene, at=1000.0)
    rows = _count(path, "cgroup_figures")
    cgs = {}
    for p, cg in scene.cgroups.items():
        c = cg.cpu
        if c is not None and c.pressure is not None:
            halved = round(c.pressure.some_avg10 / 2, 2)
            c = c._replace(pressure=c.pressure._replace(some_avg10=halved))
        cgs[p] = cg._replace(cpu=c)
    assert any(cg.cpu and cg.cpu.pressure for cg in cgs.values())
    w.add(scene._replace(cgroups=cgs, uptime=scene.uptime + 5), at=1005.0)
    assert _count(path, "cgroup_figures") == rows
    # a stall (the total moved) does, with the averages of that moment
    stalled = {p: cg._replace(cpu=cg.cpu._replace(pressure=cg.cpu.pressure._replace(
        some_total=cg.cpu.pressure.some_total + 1000))) if cg.cpu and cg.cpu.pressure else cg
        for p, cg in cgs.items()}
    w.add(scene._replace(cgroups=stalled, uptime=scene.uptime + 10), at=1010.0)
    w.close()
    assert _count(path, "cgroup_figures") > rows
    assert dict(Recording(path).snapshot(2).cgroups) == {
        p: cg._replace(procs=Recording(path).snapshot(2).cgroups[p].procs)
        for p, cg in stalled.items()}
