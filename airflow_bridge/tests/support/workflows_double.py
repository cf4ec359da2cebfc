"""A stand-in for the server's ``GET /workflows`` route (the contract), used only until issue 10 lands it.

It checks ``x-api-key`` like the real server and serves a fixed list; ``stop()`` makes it unreachable, as
an outage does. Tests that use it are listed in docs/airflow.md ("Tests on a stand-in").
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WorkflowsDouble:
    """``GET /workflows`` on a free port."""

    def __init__(self, workflows: list[dict[str, Any]], api_key: str) -> None:
        self.workflows = workflows
        self.api_key = api_key
        self.requests = 0
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                double.requests += 1
                if self.headers.get("x-api-key") != double.api_key:
                    self._send(401, {"error": "missing or wrong x-api-key"})
                elif self.path == "/workflows":
                    self._send(200, double.workflows)
                else:
                    self._send(404, {"error": f"no route {self.path}"})

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
