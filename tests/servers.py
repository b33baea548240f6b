"""Real servers for tests, on loopback only: nginx, HAProxy, and small HTTP backends reporting a commit."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def wait_for(what: str, predicate, timeout: float = 60.0, interval: float = 0.2):
    """``predicate()``'s first true value, polled every ``interval`` seconds; after ``timeout`` seconds, fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Backend:
    """An HTTP server answering /version with its tag and commit, and /healthz."""

    def __init__(self, tag: str, commit: str):
        self.tag, self.commit = tag, commit
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                body = json.dumps({"tag": backend.tag, "commit": backend.commit}).encode() if self.path == "/version" else b"ok\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def require(binary: str) -> str:
    path = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")
    if not path:
        pytest.fail(f"{binary} is not installed: `make test` installs it (scripts/services.sh)")
    return path


class NginxServer:
    def __init__(self, root: Path, upstream: str, first_backend: str):
        self.binary = require("nginx")
        self.root, self.port, self.upstream = root, free_port(), upstream
        self.include = root / "upstream.conf"
        self.config = root / "nginx.conf"
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.include.write_text(f"upstream {upstream} {{ server {first_backend}; }}\n")
        self.config.write_text(f"""
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {self.include};
    server {{
        listen 127.0.0.1:{self.port};
        location / {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
""")
        subprocess.run([self.binary, "-c", str(self.config)], check=True)
        wait_port(self.port)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        subprocess.run([self.binary, "-c", str(self.config), "-s", "quit"], check=False, capture_output=True)


class HAProxyServer:
    """``servers``: (name, address, ready) for each server of the backend; default one blue (ready) and one green."""

    def __init__(self, root: Path, backend: str, blue: str = "", green: str = "", servers: list[tuple[str, str, bool]] | None = None):
        servers = servers or [("blue", blue, True), ("green", green, False)]
        lines = "\n".join(f"    server {name} {address}" + ("" if ready else " disabled") for name, address, ready in servers)
        self.binary = require("haproxy")
        self.port, self.backend = free_port(), backend
        self.socket = root / "admin.sock"
        self.config = root / "haproxy.cfg"
        self.config.write_text(f"""
global
    stats socket {self.socket} mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:{self.port}
    default_backend {backend}
backend {backend}
{lines}
""")
        self.process = subprocess.Popen([self.binary, "-db", "-f", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_port(self.port)
        deadline = time.monotonic() + 10
        while not self.socket.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
