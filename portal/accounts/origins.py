"""Where the portal may be reached from (referential 12.4): remote access from outside the EU is
a transfer.

The operator declares the networks (CIDR) and, optionally, the countries from which people may
log in and read data. A country is known only through an offline database file the operator
provides (`ACCESS_COUNTRY_DB`, the CSV layout of the free "IP to country" lists: start address,
end address, two-letter code per line); without one, the network list alone applies. An entry
outside the EU and the EEA (a network declared with its country, or an allowed country) counts
only while the transfers register holds that country with its Chapter V mechanism (the
registers area installs that list with `use_transfer_mechanisms`; without it, no entry outside
the EU counts).

Every login step and every request of a logged-in person is checked against the address the
app already trusts: `request.remote_addr`, which ProxyFix sets from `X-Forwarded-For` only for
the `TRUSTED_PROXIES` hops declared. From elsewhere, `ACCESS_OUTSIDE_POLICY` decides: `refuse`
(a 403 page) or `alert` (let through, and an alert for the DPO and the auditors); either way
the trail records it. With neither networks nor countries declared, nothing is checked.
"""

from __future__ import annotations

import bisect
import csv
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, request
from flask import session as flask_session
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import clock
from portal.accounts import sessions
from portal.audit.checks import announce_alert
from portal.audit.models import AuditAlert
from portal.audit.rules import OUTSIDE_ORIGIN
from portal.audit.services import record
from portal.config import ConfigError, apply_area_defaults
from portal.db import app_of, get_session
from portal.errors import Forbidden

DEFAULTS: dict[str, Any] = {
    #: networks people may reach the portal from, comma-separated CIDR; a network outside the
    #: EU is written with its country (`203.0.113.0/24=US`); one without is declared inside
    #: the EU/EEA by the operator. Empty (and no countries): no check.
    "ACCESS_ALLOWED_NETWORKS": "",
    #: countries people may reach the portal from (two-letter codes, comma-separated), read
    #: from ACCESS_COUNTRY_DB; ignored without it
    "ACCESS_ALLOWED_COUNTRIES": "",
    #: the operator's offline address-to-country file (CSV: start, end, country)
    "ACCESS_COUNTRY_DB": "",
    #: `refuse` or `alert`: what happens to a login or a data access from elsewhere
    "ACCESS_OUTSIDE_POLICY": "refuse",
}
POLICIES = ("refuse", "alert")
#: the alert rule raised in `alert` mode (one alert per address, counted)
ALERT_RULE = OUTSIDE_ORIGIN
#: the login steps checked before anyone is logged in
LOGIN_ENDPOINTS = frozenset({"accounts.login", "accounts.second_factor", "accounts.recovery",
                             "accounts.enrol", "accounts.activate", "accounts.federation_start",
                             "accounts.federation_callback"})
#: the EU member states and the EEA (the notices' list, repeated: accounts may not import it)
EU_EEA = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
    "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
    "AX", "GF", "GP", "MQ", "RE", "YT", "MF", "IC", "EA",
    "IS", "LI", "NO",
})
_EXTENSION = "portal.accounts.origins"
_MECHANISMS = "portal.accounts.origins.mechanisms"
#: returns {country code: Chapter V mechanism} of the transfers register
MechanismSource = Callable[[Session], dict[str, str]]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class AccessOutsideAllowed(Forbidden):
    """A login or a data access from outside the declared networks and countries."""


@dataclass(frozen=True)
class Declared:
    """One allowed network of the settings, with its declared country (None: in the EU)."""

    network: Network
    country: str | None

    @property
    def outside_eu(self) -> bool:
        return self.country is not None and self.country not in EU_EEA


@dataclass
class CountryTable:
    """The operator's address-to-country file, as sorted ranges per address family."""

    path: str
    starts: dict[int, list[int]] = field(default_factory=lambda: {4: [], 6: []})
    ends: dict[int, list[int]] = field(default_factory=lambda: {4: [], 6: []})
    codes: dict[int, list[str]] = field(default_factory=lambda: {4: [], 6: []})

    def country_of(self, address: Address) -> str | None:
        family, number = address.version, int(address)
        index = bisect.bisect_right(self.starts[family], number) - 1
        if index >= 0 and number <= self.ends[family][index]:
            return self.codes[family][index]
        return None


@dataclass(frozen=True)
class Origins:
    """The declaration in force: allowed networks and countries, the country table, policy."""

    networks: tuple[Declared, ...]
    countries: frozenset[str]
    table: CountryTable | None
    policy: str

    @property
    def active(self) -> bool:
        return bool(self.networks) or (bool(self.countries) and self.table is not None)

    def entries_outside_eu(self) -> list[str]:
        """The country codes of the entries outside the EU, each needing its mechanism."""
        found = {d.country for d in self.networks if d.outside_eu and d.country}
        if self.table is not None:
            found |= {c for c in self.countries if c not in EU_EEA}
        return sorted(found)


@dataclass(frozen=True)
class Verdict:
    """Where an address stands against the declaration."""

    allowed: bool
    #: a short code: network, country, unknown_country, not_declared, no_mechanism
    reason: str
    country: str | None = None


def _split(text: str) -> list[str]:
    return [part.strip() for part in str(text or "").replace(";", ",").split(",")
            if part.strip()]


def parse_networks(text: str) -> tuple[Declared, ...]:
    """Parse `ACCESS_ALLOWED_NETWORKS`.

    :raises ConfigError: naming the entry that is not a network, or a bad country code.
    """
    found = []
    for entry in _split(text):
        cidr, _sep, country = entry.partition("=")
        try:
            network = ipaddress.ip_network(cidr.strip(), strict=False)
        except ValueError:
            raise ConfigError(f"PORTAL_ACCESS_ALLOWED_NETWORKS: {entry!r} is not a network "
                              "(CIDR such as 192.0.2.0/24, optionally =CC)") from None
        code = country.strip().upper() or None
        if code is not None and not (len(code) == 2 and code.isalpha()):
            raise ConfigError(f"PORTAL_ACCESS_ALLOWED_NETWORKS: {entry!r} names no two-letter "
                              "country code after '='")
        found.append(Declared(network, code))
    return tuple(found)


def parse_countries(text: str) -> frozenset[str]:
    """Parse `ACCESS_ALLOWED_COUNTRIES`.

    :raises ConfigError: naming the entry that is not a two-letter code.
    """
    found = set()
    for entry in _split(text):
        code = entry.upper()
        if not (len(code) == 2 and code.isalpha()):
            raise ConfigError(f"PORTAL_ACCESS_ALLOWED_COUNTRIES: {entry!r} is not a two-letter "
                              "country code")
        found.add(code)
    return frozenset(found)


def load_country_table(path: str) -> CountryTable:
    """Read the operator's file: one `start,end,CC` line per range (IPv4 or IPv6).

    :raises ConfigError: naming the file and the line that cannot be read, or ranges that
        overlap.
    """
    table = CountryTable(path)
    rows: dict[int, list[tuple[int, int, str]]] = {4: [], 6: []}
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            for number, row in enumerate(csv.reader(handle), start=1):
                if not row or row[0].startswith("#"):
                    continue
                try:
                    start, end = ipaddress.ip_address(row[0].strip()), ipaddress.ip_address(
                        row[1].strip())
                    code = row[2].strip().upper()
                except (IndexError, ValueError):
                    raise ConfigError(f"PORTAL_ACCESS_COUNTRY_DB: {path}, line {number}: "
                                      "expected start address, end address, country code"
                                      ) from None
                if (start.version != end.version or int(end) < int(start)
                        or not (len(code) == 2 and code.isalpha())):
                    raise ConfigError(f"PORTAL_ACCESS_COUNTRY_DB: {path}, line {number}: not a "
                                      "range of one address family with a two-letter code")
                rows[start.version].append((int(start), int(end), code))
    except OSError as exc:
        raise ConfigError(f"PORTAL_ACCESS_COUNTRY_DB: cannot read {path}: "
                          f"{exc.strerror}") from None
    for family, ranges in rows.items():
        ranges.sort()
        for (_s1, e1, _c1), (s2, _e2, _c2) in zip(ranges, ranges[1:], strict=False):
            if s2 <= e1:
                raise ConfigError(f"PORTAL_ACCESS_COUNTRY_DB: {path}: ranges overlap at "
                                  f"{ipaddress.ip_address(s2)}")
        table.starts[family] = [r[0] for r in ranges]
        table.ends[family] = [r[1] for r in ranges]
        table.codes[family] = [r[2] for r in ranges]
    return table


def load(config: dict[str, Any]) -> Origins:
    """Read the declaration from the configuration (at startup).

    :raises ConfigError: an entry, the country file or the policy cannot be used.
    """
    policy = str(config.get("ACCESS_OUTSIDE_POLICY") or "refuse").strip().lower()
    if policy not in POLICIES:
        raise ConfigError("PORTAL_ACCESS_OUTSIDE_POLICY must be refuse or alert, not "
                          f"{policy!r}")
    path = str(config.get("ACCESS_COUNTRY_DB") or "").strip()
    return Origins(parse_networks(str(config.get("ACCESS_ALLOWED_NETWORKS") or "")),
                   parse_countries(str(config.get("ACCESS_ALLOWED_COUNTRIES") or "")),
                   load_country_table(path) if path else None, policy)


def init_app(app: Flask) -> None:
    """Read the declaration (refusing to start on a bad one) and check every request."""
    apply_area_defaults(app.config, DEFAULTS)
    app.extensions[_EXTENSION] = load(app.config)
    app.before_request(_check_request)


def origins_of(app: Flask) -> Origins:
    """The declaration in force."""
    found: Origins = app.extensions[_EXTENSION]
    return found


def use_transfer_mechanisms(app: Flask, source: MechanismSource) -> None:
    """Make `source` the transfers register an entry outside the EU is checked against."""
    app.extensions[_MECHANISMS] = source


def mechanisms(session: Session) -> dict[str, str]:
    """{country: mechanism} of the transfers register ({} when none is installed)."""
    source = app_of(session).extensions.get(_MECHANISMS)
    return dict(source(session)) if source is not None else {}


def missing_mechanisms(session: Session) -> list[str]:
    """The countries of declared entries outside the EU without their mechanism recorded."""
    known = mechanisms(session)
    return [c for c in origins_of(app_of(session)).entries_outside_eu() if not known.get(c)]


def verdict(session: Session, origins: Origins, address_text: str | None) -> Verdict:
    """Where `address_text` stands: inside a declared network, in an allowed country, or
    elsewhere (an entry outside the EU counts only with its mechanism recorded)."""
    try:
        address = ipaddress.ip_address(address_text or "")
    except ValueError:
        return Verdict(False, "not_declared")
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    declared = next((d for d in origins.networks if address in d.network), None)
    if declared is not None:
        if declared.outside_eu and not mechanisms(session).get(str(declared.country)):
            return Verdict(False, "no_mechanism", declared.country)
        return Verdict(True, "network", declared.country)
    if origins.table is None or not origins.countries:
        return Verdict(False, "not_declared")
    country = origins.table.country_of(address)
    if country is None:
        return Verdict(False, "unknown_country")
    if country not in origins.countries:
        return Verdict(False, "not_declared", country)
    if country not in EU_EEA and not mechanisms(session).get(country):
        return Verdict(False, "no_mechanism", country)
    return Verdict(True, "country", country)


REFUSED_MESSAGE = _l("The portal cannot be used from where you are connecting: this network "
                     "or country is not among those the laboratory declared (access from "
                     "outside the European Union is a transfer of the data). Ask the "
                     "portal's administrator if you need to work from here.")
_ALERTED_KEY = "_origin_alerted"


def _check_request() -> None:
    """Before each login step and each request of a session: refuse or alert an access from
    outside the declaration, with an audit entry."""
    origins = origins_of(current_app)
    if not origins.active:
        return
    if request.endpoint == "static":
        return
    if request.endpoint not in LOGIN_ENDPOINTS and sessions.SESSION_KEY not in flask_session:
        return
    session = get_session()
    found = verdict(session, origins, request.remote_addr)
    if found.allowed:
        return
    actor = sessions.load_state().user
    details = {"reason": found.reason, "country": found.country or "unknown",
               "policy": origins.policy, "endpoint": str(request.endpoint or "")[:64]}
    if origins.policy == "refuse":
        record(session, actor, "accounts:origin:refused", None, outcome="denied", **details)
        session.commit()
        raise AccessOutsideAllowed(str(REFUSED_MESSAGE))
    address = str(request.remote_addr or "")
    if flask_session.get(_ALERTED_KEY) == address:
        return  # this session's access from this address is on the trail already
    record(session, actor, "accounts:origin:alerted", None, outcome="failure", **details)
    _raise_alert(session, actor, address, details)
    flask_session[_ALERTED_KEY] = address
    session.commit()


def _raise_alert(session: Session, actor: Any, address: str, details: dict[str, Any]) -> None:
    """One alert per address, counted, for the DPO and the auditors."""
    subject = f"origin:{address}"[:96]
    existing = session.scalar(select(AuditAlert).where(
        AuditAlert.rule == ALERT_RULE, AuditAlert.subject == subject).limit(1))
    if existing is not None:
        existing.count = (existing.count or 0) + 1
        existing.updated_at = clock.now()
        return
    actor_id = getattr(actor, "id", None)
    alert = AuditAlert(rule=ALERT_RULE, subject=subject, actor_id=actor_id,
                       actor_label=getattr(actor, "login", None), count=1,
                       first_at=clock.now(), last_at=clock.now(), details=details)
    session.add(alert)
    session.flush()
    announce_alert(session, alert)


