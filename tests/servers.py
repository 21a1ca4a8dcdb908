"""Start the portal for real: gunicorn for smoke tests, a thread for browser tests."""

from __future__ import annotations

import os
import re
import shlex
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


README = Path(__file__).resolve().parent.parent / "README.md"


def documented_gunicorn_command() -> list[str]:
    """Return the gunicorn command of the README's Production section, as argv."""
    production = README.read_text(encoding="utf-8").split("\n## Production", 1)[1]
    for line in production.splitlines():
        if line.startswith("gunicorn "):
            return shlex.split(line.split(" #", 1)[0])
    raise AssertionError("the README's Production section has no gunicorn command")


def _documented_argv(workers: int, port: int) -> list[str]:
    """The README's command with only the worker count and the port changed."""
    argv = documented_gunicorn_command()
    joined = " ".join(argv)
    if not re.search(r"--workers \d+", joined) or "--bind 127.0.0.1:" not in joined:
        raise AssertionError(f"unexpected documented gunicorn command: {joined}")
    argv[0] = str(Path(sys.executable).with_name("gunicorn"))
    for index, word in enumerate(argv[:-1]):
        if word == "--workers":
            argv[index + 1] = str(workers)
        elif word == "--bind":
            argv[index + 1] = f"127.0.0.1:{port}"
    return argv


@contextmanager
def gunicorn(env: dict[str, str], workers: int = 2) -> Iterator[str]:
    """Run gunicorn as the README documents, on a free loopback port; yield its base URL."""
    port = free_port()
    # A file, not a pipe: a chatty server would block once a pipe's buffer is full.
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(
        _documented_argv(workers, port),
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
