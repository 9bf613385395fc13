"""Counters and gauges with a Prometheus text exposition, and a tiny HTTP server for /health and /metrics.

Stdlib only (http.server in a daemon thread): the bridge needs a handful of numbers, not a client library.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Metrics:
    """Thread-safe enough for counters: only the writer thread increments, the HTTP thread reads."""

    def __init__(self, prefix: str, help_texts: dict[str, str]) -> None:
        self.prefix = prefix
        self.help = help_texts
        self.values: dict[str, float] = dict.fromkeys(help_texts, 0.0)
        self.labelled: dict[str, dict[str, float]] = {}

    def inc(self, name: str, amount: float = 1.0) -> None:
        self.values[name] = self.values.get(name, 0.0) + amount

    def set(self, name: str, value: float) -> None:
        self.values[name] = value

    def inc_labelled(self, name: str, label: str, amount: float = 1.0) -> None:
        series = self.labelled.setdefault(name, {})
        series[label] = series.get(label, 0.0) + amount

    def render(self, gauges: dict[str, float] | None = None) -> str:
        lines = []
        merged = dict(self.values)
        merged.update(gauges or {})
        for name, value in sorted(merged.items()):
            full = f"{self.prefix}_{name}"
            kind = "counter" if name.endswith("_total") else "gauge"
            lines.append(f"# HELP {full} {self.help.get(name, name)}")
            lines.append(f"# TYPE {full} {kind}")
            lines.append(f"{full} {value:g}")
        for name, series in sorted(self.labelled.items()):
            full = f"{self.prefix}_{name}"
            lines.append(f"# TYPE {full} counter")
            for label, value in sorted(series.items()):
                lines.append(f'{full}{{reason="{label}"}} {value:g}')
        return "\n".join(lines) + "\n"


def serve_http(
    host: str, port: int, health: Callable[[], tuple[bool, dict]], metrics: Callable[[], str]
) -> ThreadingHTTPServer:
    """Start /health (200 or 503 with a JSON body) and /metrics (text/plain; version=0.0.4) in a thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/health"):
                ok, body = health()
                self._reply(200 if ok else 503, "application/json", json.dumps(body, default=str))
            elif self.path.startswith("/metrics"):
                self._reply(200, "text/plain; version=0.0.4", metrics())
            else:
                self._reply(404, "text/plain", "not found\n")

        def _reply(self, status: int, content_type: str, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
