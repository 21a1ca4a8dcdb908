"""The role x scope x route matrix (SEC-HAB-1a): every route, for every kind of grant.

Expectations are data, derived from what each route declares (`declared_access`) and what each
grant allows (`grant_permissions`), so that the routes other areas add are covered without
editing this file. One app and one database serve the whole module; each persona logs in once.

- anyone: public routes answer (no 401/403; the login steps may send back to the login page);
- anonymous: the other routes send to the login page;
- a person without grant: public routes answer, the others are refused (403);
- a person with one grant: a route whose declared permissions the grant covers is let through
  (no 401/403, no detour to the login page), any other route is refused (403).
No route answers 500, whatever the persona.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.routing import AnyConverter, IntegerConverter, Rule

from portal import clock, create_app
from portal.access import services
from portal.access.models import Category, Scope
from portal.access.policy import HEALTH, RECORD_LEVEL, grant_permissions
from portal.db import new_session
from portal.permissions import HEALTHCARE_ROLES, Permission, Role, declared_access
from tests.access.helpers import CLI, FINESS_A, make_user
from tests.access.login import ensure_authorizer, log_in
from tests.conftest import app_database, make_test_config

#: routes whose answer a persona's request may change for the next ones: log in again after
PUBLIC_SESSION_ENDPOINTS_PREFIX = "accounts."
#: record routes get a second check later: which fields each scope sees in the HTML
RECORD_PERMISSIONS = RECORD_LEVEL


@dataclass(frozen=True)
class Persona:
    key: str
    role: Role | None
    scope: Scope | None
    category: Category | None


def _personas() -> list[Persona]:
    """Anonymous, no grant, every role with every scope on health data, every role on other data.

    On "other data" the scope changes nothing (no health permission, no record scope, no
    perimeter: see test_other_data_grants_are_the_same_whatever_the_scope), so one scope
    stands for the three. Roles without health permissions only get "other data" grants.
    """
    people = [Persona("anonymous", None, None, None), Persona("no-grant", None, None, None)]
    for role, scope in itertools.product(Role, Scope):
        if services.role_reaches_health(role):
            people.append(Persona(f"{role}-{scope}-health", role, scope, Category.HEALTH))
    for role in Role:
        people.append(Persona(f"{role}-identifying-other", role, Scope.IDENTIFYING,
                              Category.OTHER))
    return people


PERSONAS = _personas()


@dataclass(frozen=True)
class Route:
    endpoint: str
    method: str
    path: str
    declared: frozenset[Permission]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.endpoint})"


def _sample_value(rule: Rule, name: str) -> object:
    converter = rule._converters[name]
    if isinstance(converter, AnyConverter):
        return sorted(converter.items)[0]
    if isinstance(converter, IntegerConverter):
        return 987654  # no such row: the view answers 404 once let through
    return "zz-matrix"


def routes_of(app: Flask) -> list[Route]:
    """Every (rule, method) of the app with sample arguments and its declared permissions."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        declared = declared_access(app.view_functions[rule.endpoint])
        assert declared is not None, f"{rule.endpoint} declares nothing (see test_permissions)"
        # An argument given by the rule's defaults (a "new" page sharing its view) has no
        # converter and is not in the path.
        values = {name: _sample_value(rule, name) for name in rule.arguments
                  if name not in (rule.defaults or {})}
        path = rule.build(values, append_unknown=False)[1]  # type: ignore[index]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append(Route(rule.endpoint, method, path, declared))
    return sorted(found, key=lambda r: (r.path, r.method))


@pytest.fixture(scope="module")
def matrix_app(tmp_path_factory: pytest.TempPathFactory, key_file: Path,
               postgres_schema: str | None) -> Iterator[Flask]:
    tmp = tmp_path_factory.mktemp("matrix")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PORTAL_INSTANCE_PATH", str(tmp / "instance"))
        app = create_app(make_test_config(tmp, key_file))
    ensure_authorizer(app)
    # First-page gates (notices...) are tested by their areas; here only authorization counts.
    app.extensions["portal.accounts.gates"] = []
    with app_database(app):
        yield app


@pytest.fixture(scope="module")
def people(matrix_app: Flask) -> Iterator[tuple[Session, dict[str, object]]]:
    """One person per persona, with exactly that grant, all created through the services."""
    session = new_session(matrix_app)
    now = clock.now()
    checker = make_user(session, "matrix.checker")
    services.request_grant(session, CLI, services.GrantRequest(
        checker, Role.ADMINISTRATOR, Scope.AGGREGATED, Category.OTHER, now,
        now + timedelta(days=30),
    ))
    place = services.create_establishment(session, CLI, FINESS_A, "Hôpital de la matrice")
    users: dict[str, object] = {}
    for persona in PERSONAS:
        if persona.key == "anonymous":
            continue
        user = make_user(session, f"m.{persona.key}")
        users[persona.key] = user
        if persona.role is None:
            continue
        extra: dict[str, object] = {}
        if persona.role in HEALTHCARE_ROLES:
            services.add_member(session, CLI, user, place)
            extra["establishments"] = [place]
        if persona.role in (Role.AUDITOR, Role.ARCHIVIST):
            extra.update(motivation="internal_procedures", motivation_reference="MATRIX-1")
        made = services.request_grant(session, CLI, services.GrantRequest(
            user, persona.role, persona.scope, persona.category, now, now + timedelta(days=20),
            **extra,
        ))
        if services.needs_approval(made.scope, made.category):
            services.approve_grant(session, checker, made)
    session.commit()
    yield session, users
    session.close()


def _expected_to_pass(persona: Persona, route: Route, held: frozenset[Permission]) -> bool:
    if not route.declared:
        return True  # public
    return persona.role is not None and route.declared <= held


def _redirects_to_login(response) -> bool:  # noqa: ANN001
    return response.status_code in (302, 303) and "/login" in response.headers.get("Location", "")


@pytest.mark.parametrize("persona", PERSONAS, ids=[p.key for p in PERSONAS])
def test_every_route_for_every_grant(matrix_app: Flask, people, persona: Persona) -> None:
    session, users = people
    client = matrix_app.test_client()
    user = users.get(persona.key)
    held: frozenset[Permission] = frozenset()
    if persona.role is not None:
        grants = services.grants_of(session, user)  # type: ignore[arg-type]
        held = grant_permissions(grants[0])
    if user is not None:
        log_in(client, session, user)  # type: ignore[arg-type]

    wrong = []
    for route in routes_of(matrix_app):
        response = client.open(route.path, method=route.method)
        # A streamed download holds its request context until it is closed.
        response.close()
        status = response.status_code
        if not route.declared:
            # Public pages answer everyone (the login steps may send back to the first one).
            ok = status not in (401, 403)
        elif persona.key == "anonymous":
            ok = _redirects_to_login(response) or status == 401
        elif _expected_to_pass(persona, route, held):
            ok = status not in (401, 403) and not _redirects_to_login(response)
        else:
            ok = status == 403
        if status >= 500:
            ok = False
        if not ok:
            wrong.append(f"{route}: {status} {response.headers.get('Location', '')}")
        if user is not None and (route.endpoint.startswith(PUBLIC_SESSION_ENDPOINTS_PREFIX)
                                 and not route.declared):
            log_in(client, session, user)  # type: ignore[arg-type]  # login/logout pages
    assert not wrong, f"{persona.key} (holds {sorted(held)}):\n" + "\n".join(wrong)


def test_the_matrix_sees_every_area(matrix_app: Flask) -> None:
    """The matrix walks the routes of the app itself, including the access pages."""
    endpoints = {route.endpoint for route in routes_of(matrix_app)}
    assert {"access.people", "access.review", "access.review_csv", "access.new_grant",
            "access.establishments"} <= endpoints
    assert len(PERSONAS) == 2 + 10 * 3 + 12


def test_aggregated_and_other_data_grants_reach_no_record_route(matrix_app: Flask) -> None:
    """Record routes (when they exist) are closed to aggregated-only and other-data grants."""
    record_routes = [r for r in routes_of(matrix_app) if r.declared & RECORD_PERMISSIONS]
    for role in Role:
        for scope, category in ((Scope.AGGREGATED, Category.HEALTH),
                                (Scope.IDENTIFYING, Category.OTHER)):
            from portal.access.models import AccessGrant

            held = grant_permissions(AccessGrant(role=role.value, scope=scope.value,
                                                 category=category.value))
            assert not held & RECORD_PERMISSIONS
            assert all(not r.declared <= held for r in record_routes)


def test_other_data_grants_are_the_same_whatever_the_scope(matrix_app: Flask) -> None:
    """Why the matrix tries one scope only for "other data" grants."""
    from portal.access.models import AccessGrant

    for role in Role:
        held = {frozenset(grant_permissions(AccessGrant(role=role.value, scope=scope.value,
                                                        category=Category.OTHER.value)))
                for scope in Scope}
        assert len(held) == 1
        assert not next(iter(held)) & HEALTH
