"""The server: --listen's grammar, content negotiation by prometheus-client's encoders,
gzip, /healthz, and nothing but GET and HEAD (over loopback, on a captured tree)."""
from __future__ import annotations

import gzip
import http.client
import threading

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse

from nsscope.errors import BadInput
from nsscope.host.collector import Roots
from nsscope.host.containers import StatePaths
from nsscope.serve import http as serve_http
from nsscope.serve.collector import SnapshotCollector
from nsscope.serve.scrape import Scraper

from support import FIXTURES

FULL = FIXTURES / "cgroup-v2-vm-full"


@pytest.mark.parametrize("text, want", [
    ("127.0.0.1:9848", ("127.0.0.1", 9848)), (":9848", ("", 9848)),
    ("[::1]:0", ("::1", 0)), ("localhost:65535", ("localhost", 65535)),
])
def test_listen_parses(text, want):
    assert serve_http.parse_listen(text) == want


@pytest.mark.parametrize("text", ["9848", "::1:9848", "host:http", "host:65536", "host:",
                                  "host:-1", "host:９"])
def test_listen_refuses_in_one_line(text):
    with pytest.raises(BadInput) as e:
        serve_http.parse_listen(text)
    assert "\n" not in str(e.value) and str(e.value).startswith("--listen")


@pytest.fixture
def server():
    roots = Roots(proc=str(FULL / "proc"), cgroup=str(FULL / "sys/fs/cgroup"),
                  state=StatePaths().under(str(FULL)))
    reg = CollectorRegistry()
    reg.register(SnapshotCollector(Scraper(roots)))
    srv = serve_http.bind("127.0.0.1", 0, reg)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()
    t.join()


def get(port: int, path: str, method: str = "GET", **headers: str):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, headers=headers)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r, body


def test_prometheus_text_by_default(server):
    r, body = get(server, "/metrics")
    assert r.status == 200
    assert r.getheader("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
    assert b"\ncontainer_cpu_usage_seconds_total{" in body and b"# EOF" not in body


def test_openmetrics_when_asked(server):
    # what Prometheus sends (scrape.go acceptHeader)
    accept = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
              "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
    r, body = get(server, "/metrics", Accept=accept)
    assert r.getheader("Content-Type").startswith("application/openmetrics-text; version=1.0.0")
    assert body.endswith(b"# EOF\n")
    fams = {f.name: f.type for f in om_parse(body.decode())}
    assert fams["container_cpu_cfs_throttled_periods"] == "counter"
    assert fams["nsscope_cgroup_throttled_by_ancestor"] == "counter"


def test_gzip_when_accepted(server):
    r, body = get(server, "/metrics", **{"Accept-Encoding": "gzip"})
    assert r.getheader("Content-Encoding") == "gzip"
    assert b"container_last_seen{" in gzip.decompress(body)


def test_healthz_head_and_not_found(server):
    r, body = get(server, "/healthz")
    assert (r.status, body) == (200, b"ok\n")
    r, body = get(server, "/metrics", method="HEAD")
    assert r.status == 200 and body == b"" and int(r.getheader("Content-Length")) > 1000
    r, _ = get(server, "/nope")
    assert r.status == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_read_only(server, method):
    r, _ = get(server, "/metrics", method=method)
    assert r.status == 405 and r.getheader("Allow") == "GET, HEAD"


@pytest.mark.parametrize("args, says", [
    (["--listen", "9848"], "nsscope: --listen: '9848' is not HOST:PORT"),
    (["--listen", "[::1]:http"], "nsscope: --listen: 'http' is not a port number"),
    (["--state-prefix", "host"], "nsscope: --state-prefix: 'host' is not an absolute path"),
])
def test_bad_arguments_are_one_line_and_exit_2(args, says, capsys):
    from nsscope import cli
    assert cli.main(["serve", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(says) and err.count("\n") == 1


def test_every_interface_is_ipv6_and_ipv4():
    """--listen :PORT binds "::" with IPV6_V6ONLY off: reachable on both loopbacks."""
    import socket
    srv = serve_http.bind("", 0, CollectorRegistry())
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    t.start()
    try:
        port = srv.server_address[1]
        assert srv.address_family == socket.AF_INET6
        for host in ("127.0.0.1", "::1"):
            c = http.client.HTTPConnection(host, port, timeout=10)
            c.request("GET", "/healthz")
            assert c.getresponse().status == 200
            c.close()
    finally:
        srv.shutdown()
        srv.server_close()
        t.join()
