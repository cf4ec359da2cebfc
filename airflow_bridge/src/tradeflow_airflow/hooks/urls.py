"""A connection's base URL, the same way for both hooks, from whatever form the host field takes.

``host`` may be a bare name (``airflow-api``), a name with a port (``airflow-api:8080``), a URL with or
without a port, with a path (a reverse proxy's prefix) or a trailing slash; the ``port`` field adds a port
when the host has none; the scheme (default ``http``) applies when the host has none. A port given twice and
differently, an unknown scheme or an empty host is a clear error naming the connection, before any request.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from tradeflow_airflow.errors import ConnectionConfigError

SCHEMES = ("http", "https")


def base_url(conn_id: str, host: str | None, port: int | None, scheme: str | None, example: str) -> str:
    """``scheme://host[:port][/path]`` without a trailing slash; ``example`` is shown when the host is empty."""
    text = (host or "").strip()
    if not text:
        raise ConnectionConfigError(f"connection {conn_id!r}: host is empty; expected {example}")
    if "://" not in text:
        text = f"{(scheme or 'http').strip().lower()}://{text}"
    parts = urlsplit(text)
    try:
        given_port = parts.port
    except ValueError:
        raise ConnectionConfigError(
            f"connection {conn_id!r}: host {host!r} has a bad port; expected {example}"
        ) from None
    if parts.scheme.lower() not in SCHEMES or not parts.hostname:
        raise ConnectionConfigError(
            f"connection {conn_id!r}: host {host!r} is not an http(s) URL or host name; expected {example}"
        )
    netloc = parts.netloc
    if port:
        if given_port is not None and given_port != int(port):
            raise ConnectionConfigError(
                f"connection {conn_id!r}: the host says port {given_port} and the port field says {port}; keep one"
            )
        if given_port is None:
            netloc = f"{netloc}:{int(port)}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))
