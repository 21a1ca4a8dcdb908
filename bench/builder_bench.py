"""Benchmark of the form builder's save (not part of the test suite).

Measures, one client alone, the autosave of a draft holding a 300-field definition (the demo
protocol with a section of extra fields added to its follow-up form): a POST of the whole text
to ``/builder/drafts/<id>`` asking for JSON, which stores the text, re-runs the loader and every
compliance rule, and answers the findings. Each save changes the text (the version label), so
no parse is served from the loader's cache. Beside it, the bare Flask page of bench/common.py
and ``GET /account`` (the floor of any logged-in page), all through the same in-process WSGI
client, in alternating rounds.

Prints the median and p90 in milliseconds of each, and the save's ratio to the bare page.
Target (issue 20): the save with re-lint answers in under 300 ms on this machine.

Usage:

    .venv/bin/python bench/builder_bench.py [--saves 40] [--rounds 3] [--fields 300]
        [--database-url sqlite:///...]
"""

from __future__ import annotations

import argparse
import io
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, bare_app, fresh_schema, make_portal, seed  # noqa: E402


def big_definition(fields: int) -> str:
    """The demo definition grown to `fields` fields with whole numbers in the follow-up."""
    import yaml

    data = yaml.safe_load((ROOT / "forms" / "put-sp-demo.yaml").read_text(encoding="utf-8"))
    have = sum(len(s["fields"]) for f in data["forms"] for s in f["sections"])
    follow_up = next(f for f in data["forms"] if f["key"] == "follow_up")
    extra = [{
        "key": f"bench_{n}", "type": "integer", "min": 0, "max": 1000, "category": "health",
        "label": {"fr": f"Mesure {n}", "en": f"Measure {n}"}, "put_ref": "Annexe B",
    } for n in range(max(0, fields - have))]
    follow_up["sections"].append({"key": "bench_extra",
                                  "title": {"fr": "Mesures", "en": "Measures"},
                                  "fields": extra})
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)


def _manager(app: Any) -> Any:
    """A pharmacist in charge with an approved grant, and a logged-in session cookie."""
    from datetime import timedelta

    from sqlalchemy import select

    from portal import clock
    from portal.access import services as access
    from portal.access.models import Category, Scope
    from portal.accounts.models import User
    from portal.audit.services import cli_actor
    from portal.db import new_session
    from portal.permissions import Role

    cli = cli_actor("bench")
    with new_session(app) as db:
        user = User(login="bench.manager", login_normalised="bench.manager",
                    first_name="Banc", last_name="Gestion", email="manager@example.org")
        db.add(user)
        db.flush()
        approver = db.scalar(select(User).where(User.login == "bench.admin2"))
        now = clock.now()
        grant = access.request_grant(db, cli, access.GrantRequest(
            user, Role.PHARMACIST_IN_CHARGE, Scope.PSEUDONYMISED, Category.HEALTH, now,
            now + timedelta(days=300)))
        if access.needs_approval(Scope.PSEUDONYMISED, Category.HEALTH):
            access.approve_grant(db, approver, grant)
        db.commit()
        return db.get(User, user.id)


def _login(app: Any, client: Any, user: Any) -> None:
    import secrets

    from portal import clock
    from portal.accounts import sessions
    from portal.accounts.models import UserSession
    from portal.db import new_session

    raw = secrets.token_urlsafe(32)
    with new_session(app) as db:
        now = clock.now()
        db.add(UserSession(id_hash=sessions.hash_id(raw), user_id=user.id, created_at=now,
                           last_seen_at=now, mfa_at=now))
        db.commit()
    with client.session_transaction() as session:
        session[sessions.SESSION_KEY] = raw


def _timed(call: Any, n: int) -> list[float]:
    found = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        found.append((time.perf_counter() - start) * 1000)
    return found


def _line(label: str, times: list[float]) -> str:
    ordered = sorted(times)
    p90 = ordered[int(len(ordered) * 0.9) - 1]
    return f"  {label:<34} median {statistics.median(times):7.1f} ms   p90 {p90:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--saves", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fields", type=int, default=300)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    from portal.keys import new_keyring, write_key_file

    workdir = Path(tempfile.mkdtemp(prefix="builder-bench-"))
    key_file = workdir / "portal.keys"
    write_key_file(key_file, new_keyring())
    database_url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    fresh_schema(database_url)
    app = make_portal(workdir, key_file, database_url)
    seed(app, patients=1)
    manager = _manager(app)
    client = app.test_client()
    _login(app, client, manager)

    text = big_definition(args.fields)
    start = client.post("/builder/start", data={
        "origin": "file", "csrf_token": _csrf(client, "/builder/"),
        "upload": (io.BytesIO(text.encode()), "big.yaml")},
        content_type="multipart/form-data")
    assert start.status_code == 303, start.status_code
    draft_url = start.headers["Location"]
    page = client.get(draft_url).get_data(as_text=True)
    csrf = _csrf(client, draft_url)
    revision = int(re.search(r'id="revision" name="revision" type="hidden" value="(\d+)"',
                             page)[1])
    import yaml

    fields = sum(len(s["fields"]) for f in yaml.safe_load(text)["forms"] for s in f["sections"])
    print(f"Definition: {len(text.splitlines())} lines, {len(text) // 1024} KiB, "
          f"{fields} fields, draft {draft_url}")

    counter = [0]

    def save() -> None:
        counter[0] += 1
        body = text.replace("version: '1.0'", f"version: '1.0-{counter[0]}'", 1)
        if body == text:
            body = text + f"# save {counter[0]}\n"
        response = client.post(draft_url, data={
            "text": body, "revision": revision + counter[0] - 1, "csrf_token": csrf},
            headers={"Accept": "application/json"})
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        assert response.get_json()["findings"] == [], response.get_json()["findings"][:3]

    bare = bare_app().test_client()
    saves: list[float] = []
    bares: list[float] = []
    accounts: list[float] = []
    save()  # warm-up: templates compiled, connections open
    for round_number in range(1, args.rounds + 1):
        bares += _timed(lambda: bare.get("/"), args.saves)
        accounts += _timed(lambda: client.get("/account"), args.saves)
        saves += _timed(save, args.saves)
        print(f"round {round_number}: save median {statistics.median(saves):.1f} ms")
    print("One client alone, in-process WSGI (no network), loaded shared machine:")
    print(_line("bare Flask page GET /", bares))
    print(_line("GET /account (logged in)", accounts))
    print(_line(f"save + re-lint ({args.fields} fields)", saves))
    ratio = statistics.median(saves) / statistics.median(bares)
    print(f"  save / bare page: {ratio:.0f}x; target: save under 300 ms -> "
          f"{'met' if statistics.median(saves) < 300 else 'NOT met'}")


def _csrf(client: Any, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)[1]


if __name__ == "__main__":
    main()
