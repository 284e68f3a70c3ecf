"""The scene's "shop api": a small JSON service, what `python app.py` runs in its pod.

It answers GET /healthz and GET /orders on :8080 and, every second, rebuilds
an in-memory summary of recent orders (a little CPU, as a real service's
periodic work). Standard library only.
"""

import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ORDERS: list[dict] = []
SUMMARY: dict = {}


def refresh() -> None:
    rng = random.Random(7)
    while True:
        started = time.monotonic()
        ORDERS.append({"id": len(ORDERS) + 1, "total": round(rng.uniform(5, 500), 2)})
        del ORDERS[:-5000]
        # the periodic work: ~40 ms of CPU a second
        totals = sorted(o["total"] for o in ORDERS)
        while time.monotonic() - started < 0.04:
            totals = sorted(totals, reverse=not totals or totals[0] < totals[-1])
        SUMMARY.update(count=len(ORDERS), median=totals[len(totals) // 2])
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = {"/healthz": {"ok": True}, "/orders": SUMMARY}.get(self.path)
        data = json.dumps(body).encode()
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args: object) -> None:
        print(f"{self.address_string()} {fmt % args}", flush=True)


if __name__ == "__main__":
    threading.Thread(target=refresh, daemon=True).start()
    print("shop api listening on :8080", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
