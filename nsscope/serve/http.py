"""The read-only HTTP server: GET /metrics, GET /healthz, nothing that changes the host.

/metrics is encoded by prometheus-client's own exposition code, which picks the
format from the scraper's Accept header (``choose_encoder``: OpenMetrics 1.0 when
asked for ``application/openmetrics-text``, else the Prometheus text format 0.0.4)
and gzips when the scraper accepts it (Prometheus does), as its own ``MetricsHandler``
does.

The server runs in the main thread; each request in a thread of its own
(``ThreadingHTTPServer``), scrapes taken one at a time (scrape.Scraper). SIGTERM
or SIGINT stops accepting, lets the requests in flight finish (they are bounded
by a socket timeout) and returns 0: what a DaemonSet's pod is asked to do at a
rolling update. Between scrapes the process sleeps in select(): no timer, no
polling.
"""

from __future__ import annotations

import errno
import gzip
import signal
import socket
import sys
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted

from nsscope.errors import BadInput

DEFAULT_LISTEN = "127.0.0.1:9848"
#: a client that sends nothing for this long is dropped (it would hold a thread, and
#: shutdown waits for the requests in flight)
REQUEST_TIMEOUT = 10.0

INDEX = b"""<html><head><title>nsscope</title></head><body>
<h1>nsscope serve</h1><p><a href="/metrics">/metrics</a> <a href="/healthz">/healthz</a></p>
</body></html>
"""


def parse_listen(text: str) -> tuple[str, int]:
    """HOST:PORT -> (host, port). An empty host (``:9848``) is every interface; an IPv6
    address is written in brackets (``[::1]:9848``); port 0 takes any free port."""
    host, sep, port = text.rpartition(":")
    if not sep:
        raise BadInput(f"--listen: {text!r} is not HOST:PORT (e.g. 127.0.0.1:9848 or :9848)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise BadInput(f"--listen: write an IPv6 address in brackets: [{host}]:{port}")
    if not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise BadInput(f"--listen: {port!r} is not a port number (0-65535)")
    return host, int(port)


class Server(ThreadingHTTPServer):
    # requests in flight are waited for on close (server_close joins their threads)
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], registry: CollectorRegistry,
                 family: socket.AddressFamily) -> None:
        self.address_family = family
        self.registry = registry
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            # "::" serves IPv4 too (IPV6_V6ONLY off), whatever the host's sysctl says
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class Handler(BaseHTTPRequestHandler):
    server: Server
    timeout = REQUEST_TIMEOUT
    server_version = "nsscope"

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _refuse(self) -> None:
        # read-only: nothing over HTTP changes the host
        self._send(405, "text/plain; charset=utf-8", b"nsscope serve is read-only\n",
                   True, [("Allow", "GET, HEAD")])

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def _answer(self, body: bool) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
            output = encoder(self.server.registry)
            headers = []
            if gzip_accepted(self.headers.get("Accept-Encoding", "")):
                # the fastest level: a quarter of level 9's CPU for a third more bytes,
                # on loopback or a node's network (prometheus-client uses 9)
                output = gzip.compress(output, compresslevel=1)
                headers.append(("Content-Encoding", "gzip"))
            self._send(200, content_type, output, body, headers)
        elif path == "/healthz":
            self._send(200, "text/plain; charset=utf-8", b"ok\n", body)
        elif path == "/":
            self._send(200, "text/html; charset=utf-8", INDEX, body)
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found\n", body)

    def _send(self, code: int, content_type: str, data: bytes, body: bool,
              headers: list[tuple[str, str]] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers or ():
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # a scrape every 15 s is not news; errors are reported by the collector


def bind(host: str, port: int, registry: CollectorRegistry) -> Server:
    """The listening server (not yet serving). An empty host is every interface: IPv6 and
    IPv4 on "::" where the kernel has IPv6, else 0.0.0.0."""
    if host == "":
        try:
            return Server(("::", port), registry, socket.AF_INET6)
        except OSError as e:
            if e.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
                raise
            return Server(("0.0.0.0", port), registry, socket.AF_INET)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_NUMERICSERV)
    except socket.gaierror as e:
        raise BadInput(f"--listen: cannot resolve {host!r}: {e.strerror}") from None
    family, _, _, _, addr = infos[0]
    return Server((str(addr[0]), port), registry, family)


def url_of(server: Server) -> str:
    host, port = server.server_address[:2]
    if isinstance(host, bytes):
        host = host.decode()
    shown = f"[{host}]" if ":" in str(host) else str(host)
    return f"http://{shown}:{port}/metrics"


def serve(server: Server, *, ready: Callable[[str], None] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; then finish the requests in flight and return 0.

    The signal handler only notes the signal; the loop learns of it through a pipe the
    kernel writes the signal's number to (signal.set_wakeup_fd), watched beside the
    listening socket. An exception raised from the handler instead (as this did)
    could land anywhere in the main thread, inside the thread bookkeeping of
    ThreadingHTTPServer too (a Thread.is_alive() between acquiring and releasing its
    lock): server_close() then waited for ever on a finished request's thread, about
    one SIGTERM in five right after a request. Between requests the process still
    sleeps in select(): no timer, no polling."""
    import os
    import selectors

    stopping: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    old_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if ready is not None:
            ready(url_of(server))
        with selectors.DefaultSelector() as sel:
            sel.register(server, selectors.EVENT_READ)
            sel.register(r, selectors.EVENT_READ)
            while not stopping:
                for key, _ in sel.select():
                    if key.fileobj is server and not stopping:
                        # the socket is ready: accept at once, and hand the request to
                        # a thread of its own (ThreadingHTTPServer)
                        server.handle_request()
                server.service_actions()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        signal.set_wakeup_fd(old_fd)
        os.close(r)
        os.close(w)
        server.server_close()
    return 0


def announce(url: str) -> None:
    sys.stderr.write(f"nsscope serve: listening on {url}\n")
    sys.stderr.flush()
