"""Start the portal for real: gunicorn for smoke tests, a thread for browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from flask import Flask
from werkzeug.serving import make_server

from portal import clock


def free_port() -> int:
    """Return a free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, timeout: float = 60.0) -> None:
    """Poll `url` until it answers, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except (requests.ConnectionError, requests.Timeout):
            # Workers may still be booting (a busy machine): the socket accepts, nobody answers.
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@contextmanager
def gunicorn(env: dict[str, str], workers: int = 2) -> Iterator[str]:
    """Run `gunicorn "portal:create_app()"` on a free loopback port; yield its base URL."""
    port = free_port()
    gunicorn_bin = Path(sys.executable).with_name("gunicorn")
    # A file, not a pipe: a chatty server would block once a pipe's buffer is full.
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(
        [str(gunicorn_bin), "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
         "portal:create_app()"],
        # The tests read English message ids (the portal's own default is French).
        # The server's clock runs from the test's, so both agree on the date (portal.clock).
        env={**os.environ, "PORTAL_BABEL_DEFAULT_LOCALE": "en",
             clock.TEST_START_VARIABLE: clock.now().isoformat(), **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_up(base + "/healthz")
        except TimeoutError:
            process.kill()
            process.wait()
            log.seek(0)
            raise AssertionError(f"gunicorn did not start:\n{log.read()}") from None
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@contextmanager
def threaded(app: Flask) -> Iterator[str]:
    """Serve `app` from a thread on a free loopback port; yield its base URL."""
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
