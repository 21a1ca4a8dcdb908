"""The fault suite's servers and clients: gunicorn instances whose workers can be killed, an
SMTP server that can be stopped, and a professional who fills forms through the pages.

Every loop here is bounded in count and in time.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from aiosmtpd.controller import Controller
from flask import Flask

from portal import clock
from tests.private_servers import PrivatePostgres, PrivateRedis, _wait_for_port
from tests.servers import _documented_argv, free_port, wait_until_up
from tests.smtp_servers import Inbox

TOKEN = re.compile(r'name="token" type="hidden" value="([^"]+)"')
VERSION = re.compile(r'name="version" type="hidden" value="([^"]*)"')
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Instance:
    """One app server: gunicorn as the README runs it (2 gthread workers) on a free port."""

    def __init__(self, env: dict[str, str], root: Path, workers: int = 2) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept open for the server
            mode="w+", prefix=f"gunicorn-{self.port}-", suffix=".log", dir=root, delete=False)
        argv = _documented_argv(workers, self.port)
        # The README's command, plus the suite's clock hook (one time for every worker).
        argv[1:1] = ["-c", str(Path(__file__).with_name("gunicorn_clock.py"))]
        self.process = subprocess.Popen(
            argv,
            env={**os.environ, "PORTAL_BABEL_DEFAULT_LOCALE": "en",
                 clock.TEST_START_VARIABLE: clock.now().isoformat(), **env},
            stdout=self.log, stderr=subprocess.STDOUT, text=True)

    def wait_until_up(self) -> None:
        try:
            wait_until_up(self.base + "/healthz", timeout=120)
        except TimeoutError:
            raise AssertionError(f"gunicorn did not start:\n{self.output()}") from None

    def workers(self) -> list[int]:
        """The pids of the master's worker processes now."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid and fields[0] != "Z":
                found.append(int(entry))
        return found

    def kill_a_worker(self, rng: random.Random) -> int:
        """SIGKILL one worker (the master starts another); return its pid."""
        workers = self.workers()
        assert workers, "no worker to kill"
        victim = rng.choice(workers)
        os.kill(victim, signal.SIGKILL)
        return victim

    def wait_for_workers(self, count: int = 2, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.workers()) >= count:
                return
            time.sleep(0.1)
        raise AssertionError(f"gunicorn on {self.port} has not {count} workers again")

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log.close()


class Smtp:
    """aiosmtpd on a fixed free port, in clear text (smtp+insecure://, refused in production):
    `stop()` and `start()` it again on the same port; `inbox` keeps what arrived."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"smtp+insecure://127.0.0.1:{self.port}"
        self.inbox = Inbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        _wait_for_port(self.port, up=True, timeout=10)

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
            _wait_for_port(self.port, up=False, timeout=10)


@dataclass
class World:
    app: Flask
    postgres: PrivatePostgres
    redis: PrivateRedis
    smtp: Smtp
    instances: list[Instance]
    env: dict[str, str]
    site_id: int
    root: Path
    launched: float  # time.monotonic() when the servers' clocks started at START_UTC

    def server_time(self) -> Any:
        """What the workers' clocks say now (within a second: their master's start)."""
        from datetime import timedelta

        from tests.clock_starts import START_UTC

        return START_UTC + timedelta(seconds=time.monotonic() - self.launched)

    @property
    def bases(self) -> list[str]:
        return [instance.base for instance in self.instances]


@dataclass
class Attempt:
    at: float  # time.monotonic()
    status: int | str  # an HTTP status, or "connection" when the answer never came
    maybe_saved: bool = False  # a 503 saying the form may have been stored


@dataclass
class Sent:
    """One form a professional sent, with every attempt at it (same token each time)."""

    token: str
    kind: str  # "new" or "rectify"
    attempts: list[Attempt] = field(default_factory=list)
    location: str | None = None
    abandoned: bool = False

    @property
    def acknowledged(self) -> bool:
        return bool(self.attempts) and self.attempts[-1].status == 303


class Professional:
    """A prescriber filling adverse-event forms for their patient and rectifying them, through
    the pages of both instances in turn; every send is retried with the same token.

    `abandon_when_not_saved`: on a 503 page saying nothing was saved, give the form up instead
    of sending it again (the suite then checks that it was indeed not stored).
    """

    #: a send is tried at most this many times, and given up after this many seconds
    MAX_ATTEMPTS = 60
    MAX_SECONDS = 60.0
    #: pause after a failed attempt (a person's browser would honour Retry-After)
    PAUSE = 0.25

    def __init__(self, bases: list[str], cookie: tuple[str, str], patient_handle: str,
                 answers: dict[str, str], seed: int, *, abandon_when_not_saved: bool = False
                 ) -> None:
        self.bases = bases
        self.web = requests.Session()
        self.web.cookies.set(*cookie, domain="127.0.0.1", path="/")
        self.patient = patient_handle
        self.answers = answers
        self.rng = random.Random(seed)
        self.turn = seed
        self.sent: list[Sent] = []
        self.errors: list[str] = []
        self.abandon = abandon_when_not_saved
        self.severity = 0

    def _base(self) -> str:
        self.turn += 1
        return self.bases[self.turn % len(self.bases)]

    def _get(self, path: str) -> str | None:
        deadline = time.monotonic() + self.MAX_SECONDS
        for _attempt in range(self.MAX_ATTEMPTS):
            try:
                page = self.web.get(self._base() + path, timeout=30, allow_redirects=False)
            except requests.RequestException:
                page = None
            if page is not None and page.status_code == 200:
                return page.text
            if page is not None and page.status_code not in (502, 503):
                self.errors.append(f"GET {path}: {page.status_code}")
                return None
            if time.monotonic() > deadline:
                break
            time.sleep(self.PAUSE)
        self.errors.append(f"GET {path}: gave up")
        return None

    def _send(self, path: str, data: dict[str, Any], kind: str) -> Sent:
        sent = Sent(data["token"], kind)
        self.sent.append(sent)
        deadline = time.monotonic() + self.MAX_SECONDS
        for _attempt in range(self.MAX_ATTEMPTS):
            try:
                answer = self.web.post(self._base() + path, data=data, timeout=30,
                                       allow_redirects=False)
            except requests.RequestException:
                sent.attempts.append(Attempt(time.monotonic(), "connection"))
            else:
                maybe = "may or may not have been saved" in answer.text
                sent.attempts.append(Attempt(time.monotonic(), answer.status_code, maybe))
                if answer.status_code == 303:
                    sent.location = answer.headers["Location"]
                    return sent
                if answer.status_code != 503:
                    self.errors.append(f"POST {path}: {answer.status_code}")
                    return sent
                if self.abandon and not maybe:
                    sent.abandoned = True
                    return sent
            if time.monotonic() > deadline:
                break
            time.sleep(self.PAUSE)
        self.errors.append(f"POST {path}: gave up after {len(sent.attempts)} attempts")
        return sent

    def one_round(self) -> None:
        """A new adverse event, then its rectification."""
        path = f"/patients/{self.patient}/forms/adverse_event"
        page = self._get(path)
        if page is None:
            return
        token, csrf = TOKEN.search(page), CSRF.search(page)
        assert token and csrf, page[:300]
        sent = self._send(path, dict(self.answers, token=token.group(1), version="",
                                     action="submit", csrf_token=csrf.group(1)), "new")
        if not sent.acknowledged or sent.location is None:
            return
        handle = sent.location.rstrip("/").rsplit("/", 1)[-1]
        edit = f"/submissions/{handle}/edit"
        page = self._get(edit)
        if page is None:
            return
        token, version, csrf = TOKEN.search(page), VERSION.search(page), CSRF.search(page)
        assert token and version and csrf, page[:300]
        self.severity += 1
        changed = dict(self.answers, f_severity=("G1", "G3")[self.severity % 2])
        self._send(edit, dict(changed, token=token.group(1), version=version.group(1),
                              action="submit", reason="transcription_error",
                              csrf_token=csrf.group(1)), "rectify")

    def run_for(self, seconds: float, max_rounds: int = 1000) -> None:
        end = time.monotonic() + seconds
        try:
            for _round in range(max_rounds):
                if time.monotonic() >= end:
                    return
                self.one_round()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(repr(exc))


def run_together(professionals: list[Professional], seconds: float,
                 during: Any = None) -> None:
    """Run every professional for `seconds` in threads; `during()` runs meanwhile in this
    thread (the fault), then the threads are waited for (bounded)."""
    threads = [threading.Thread(target=p.run_for, args=(seconds,), daemon=True)
               for p in professionals]
    for thread in threads:
        thread.start()
    if during is not None:
        during()
    for thread in threads:
        thread.join(timeout=seconds + Professional.MAX_SECONDS * 2 + 60)
        assert not thread.is_alive(), "a professional is still running"
