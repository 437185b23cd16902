"""Subscribers: who gets a digest, validated against the tagger's vocabulary, and stored.

Two halves, as everywhere in the project:

- Pure: :func:`validate` turns what a user typed (CLI or config.yaml) into a
  :class:`SubscriberSpec` with canonical names, or raises :class:`UnknownNameError` listing
  the valid names, close matches first. :func:`plan_sync` decides what a config sync does.
- Storage: functions taking a caller-owned :class:`~sqlalchemy.orm.Session` (they never
  commit) and returning frozen :class:`SubscriberInfo` values, never ORM rows.

Statuses: ``active`` (gets digests), ``paused`` (by `subscribers pause` or an unsubscribe;
only `subscribers resume` undoes it), ``bouncing`` (set by delivery), and ``removed``: a
subscriber that config.yaml no longer lists. It is paused rather than deleted, so its
delivery history stays, and it becomes active again if config.yaml lists it again.

Usage::

    spec = validate(email="me@example.org", regions=["middle east"], timezone="Asia/Baghdad")
    with Session(engine) as session, session.begin():
        info = add_subscriber(session, spec, now=now)
    info.to_prefs()      # the SubscriberPrefs compose() takes
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.addresses import InvalidAddressError, wire_address
from digest.errors import DigestError, UnknownTimeZoneError
from digest.models import Subscriber
from digest.types import GROUP_BY_VALUES, GroupBy, SubscriberPrefs
from digest.window import load_zone

Status = Literal["active", "paused", "bouncing", "removed"]
STATUSES: tuple[Status, ...] = ("active", "paused", "bouncing", "removed")
Source = Literal["config", "cli"]

WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
#: How many time zones an error message lists before "and N more".
MAX_LISTED = 60
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_HHMM = re.compile(r"\d\d:\d\d")
# Kosovo: a user-assigned code the tagger (and most of the world's press) uses; not in ISO.
_EXTRA_COUNTRIES = ("XK",)


class SubscriberError(DigestError):
    """Root of the subscriber errors; the message says what to do."""


class UnknownNameError(SubscriberError, ValueError):
    """A region, topic, country, time zone or weekday that is not in the vocabulary.

    ``valid`` holds every valid name, close matches first.
    """

    def __init__(self, kind: str, name: str, valid: Sequence[str], close: int = 0) -> None:
        # Every region, topic and country code fits in a message; ~600 time zones do not.
        limit = MAX_LISTED if kind == "time zone" else len(valid)
        listed = ", ".join(valid[:limit])
        more = f" and {len(valid) - limit} more" if len(valid) > limit else ""
        hint = f"; did you mean {', '.join(valid[:close])}?" if close else "."
        plural = "countries" if kind == "country" else f"{kind}s"
        super().__init__(f"unknown {kind} {name!r}{hint} Valid {plural}: {listed}{more}")
        self.kind = kind
        self.name = name
        self.valid = tuple(valid)


class InvalidSubscriberError(SubscriberError, ValueError):
    """An email address or time of day that cannot be used."""


class SubscriberExistsError(SubscriberError):
    """`subscribers add` for an email that is already subscribed."""


class UnknownSubscriberError(SubscriberError, LookupError):
    """No subscriber with this email."""


class ConfigManagedError(SubscriberError):
    """A change the CLI refuses because config.yaml defines the subscriber."""


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The names a subscriber may follow: the tagger's regions and topics."""

    regions: tuple[str, ...]
    topics: tuple[str, ...]


@functools.cache
def tagger_vocabulary() -> Vocabulary:
    """The tagger's region names (UN M49 and aliases) and topics."""
    from ingest.tagging import TOPICS, region_names

    return Vocabulary(regions=tuple(region_names()), topics=tuple(TOPICS))


@functools.cache
def country_codes() -> tuple[str, ...]:
    """Every ISO 3166-1 alpha-2 code, plus the user-assigned ones the tagger emits."""
    import pycountry

    return tuple(sorted({c.alpha_2 for c in pycountry.countries} | set(_EXTRA_COUNTRIES)))


@dataclass(frozen=True, slots=True)
class SubscriberSpec:
    """What a subscriber asked for, validated: canonical names, no repeats."""

    email: str
    name: str = ""
    timezone: str = "UTC"
    send_at: time = time(7, 0)
    #: None: daily; 0..6 (Monday..Sunday): weekly on that day.
    weekly: int | None = None
    regions: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    outlets: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    exclude_keywords: tuple[str, ...] = ()
    #: Section grouping; None: the configured default (``digest.group_by``).
    group_by: GroupBy | None = None


@dataclass(frozen=True, slots=True)
class SubscriberInfo:
    """A stored subscriber."""

    id: int
    spec: SubscriberSpec
    status: Status
    source: Source
    bounce_count: int
    created_at: datetime
    updated_at: datetime

    @property
    def email(self) -> str:
        return self.spec.email

    @property
    def active(self) -> bool:
        return self.status == "active"

    def to_prefs(
        self,
        *,
        group_by: GroupBy | None = None,
        send_empty: bool = False,
        repeat_grown: bool = True,
    ) -> SubscriberPrefs:
        """The preferences compose() takes.

        ``group_by`` is the default for a subscriber who chose no grouping of their own;
        ``send_empty`` and ``repeat_grown`` come from config.
        """
        s = self.spec
        return SubscriberPrefs(
            email=s.email,
            name=s.name,
            timezone=s.timezone,
            send_at=s.send_at,
            weekly=s.weekly,
            regions=s.regions,
            countries=s.countries,
            topics=s.topics,
            outlets=s.outlets,
            keywords=s.keywords,
            exclude_keywords=s.exclude_keywords,
            group_by=s.group_by or group_by,
            send_empty=send_empty,
            repeat_grown=repeat_grown,
        )


# ---------------------------------------------------------------- validation (pure)


def _fold(name: str) -> str:
    # "South-eastern Asia", "south eastern asia" and "SOUTHEASTERN ASIA" are one name.
    return re.sub(r"[\W_]+", "", name.casefold())


def _close_first(name: str, valid: Sequence[str]) -> tuple[list[str], int]:
    """``valid`` reordered with the names close to ``name`` first, and how many are close."""
    by_fold = {_fold(v): v for v in valid}
    close = [by_fold[k] for k in difflib.get_close_matches(_fold(name), list(by_fold), 3, 0.6)]
    # Then those sharing its first letters ("Asia/..." for "Asia/Bagdad"), then the rest.
    prefix = _fold(name)[:4]
    near = [v for v in valid if v not in close and prefix and _fold(v).startswith(prefix)]
    rest = [v for v in valid if v not in close and v not in near]
    return close + near + rest, len(close)


def canonical(kind: str, name: str, valid: Sequence[str]) -> str:
    """``name`` as spelled in ``valid`` (case, spaces and hyphens aside), or UnknownNameError."""
    folded = _fold(name)
    for v in valid:
        if _fold(v) == folded and folded:
            return v
    ordered, close = _close_first(name, valid)
    raise UnknownNameError(kind, name, ordered, close)


def parse_weekday(value: str | int | None) -> int | None:
    """None, 0..6, or a weekday name ("MON", "monday", "Mon") -> None or 0..6."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        if 0 <= value <= 6:
            return value
        raise UnknownNameError("weekday", str(value), WEEKDAYS)
    text = value.strip().upper()
    day = text[:3]
    if day in WEEKDAYS and len(text) >= 3:
        full = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
        index = WEEKDAYS.index(day)
        if text in (day, full[index]):
            return index
    raise UnknownNameError("weekday", value, WEEKDAYS)


def parse_send_at(value: str | time) -> time:
    """ "07:00" -> time(7, 0); anything but HH:MM is refused."""
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    text = value.strip()
    try:
        if not _HHMM.fullmatch(text):
            raise ValueError
        return time.fromisoformat(text)
    except ValueError:
        raise InvalidSubscriberError(
            f"send time {value!r} is not a time of day as HH:MM (e.g. 07:00)"
        ) from None


def check_timezone(name: str) -> str:
    """An IANA time zone name, or UnknownNameError with close names first."""
    try:
        load_zone(name.strip())
    except UnknownTimeZoneError:
        valid = sorted(zoneinfo.available_timezones())
        ordered, close = _close_first(name, valid)
        raise UnknownNameError("time zone", name, ordered, close) from None
    return name.strip()


def check_email(email: str) -> str:
    # NFC: "jörg" typed with a combining diaeresis is the same subscriber as "jörg".
    text = unicodedata.normalize("NFC", email.strip())
    if not _EMAIL.fullmatch(text) or len(text) > 320:
        raise InvalidSubscriberError(f"not an email address: {email!r} (e.g. me@example.org)")
    try:  # a non-ASCII local part is fine (sent with SMTPUTF8); a broken IDN domain is not
        wire_address(text)
    except InvalidAddressError as exc:
        raise InvalidSubscriberError(str(exc)) from None
    return text


def _clean(values: Iterable[str]) -> tuple[str, ...]:
    """Stripped, non-empty, without case-insensitive repeats; order kept."""
    seen: set[str] = set()
    out = []
    for v in values:
        text = " ".join(v.split())
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            out.append(text)
    return tuple(out)


def _country(value: str, codes: Sequence[str]) -> str:
    """An ISO code, or a country name pycountry knows ("Iraq" -> "IQ")."""
    if len(value) != 2:
        import pycountry

        try:
            return str(pycountry.countries.lookup(value).alpha_2)
        except LookupError:
            # Close two-letter codes would mislead for a name ("Irak" is not "IR").
            raise UnknownNameError("country", value, codes) from None
    return canonical("country", value, codes)


def validate(
    *,
    email: str,
    name: str | None = None,
    timezone: str = "UTC",
    send_at: str | time = "07:00",
    weekly: str | int | None = None,
    regions: Iterable[str] = (),
    countries: Iterable[str] = (),
    topics: Iterable[str] = (),
    outlets: Iterable[str] = (),
    keywords: Iterable[str] = (),
    exclude_keywords: Iterable[str] = (),
    group_by: str | None = None,
    vocabulary: Vocabulary | None = None,
) -> SubscriberSpec:
    """A :class:`SubscriberSpec` with canonical names; unknown names are refused.

    Regions and topics are checked against the tagger's vocabulary (or ``vocabulary``),
    countries against ISO 3166-1 alpha-2, the time zone against the tz database, the
    grouping against ``region``, ``topic`` and ``outlet``.
    """
    vocab = vocabulary or tagger_vocabulary()
    codes = country_codes()
    return SubscriberSpec(
        email=check_email(email),
        name=" ".join((name or "").split()),
        timezone=check_timezone(timezone),
        send_at=parse_send_at(send_at),
        weekly=parse_weekday(weekly),
        regions=_clean(canonical("region", r, vocab.regions) for r in _clean(regions)),
        countries=_clean(_country(c, codes) for c in _clean(countries)),
        topics=_clean(canonical("topic", t, vocab.topics) for t in _clean(topics)),
        outlets=_clean(outlets),
        keywords=_clean(keywords),
        exclude_keywords=_clean(exclude_keywords),
        group_by=check_group_by(group_by),
    )


def check_group_by(value: str | None) -> GroupBy | None:
    """None (the default grouping) or one of region, topic, outlet (any case)."""
    if value is None or not value.strip():
        return None
    return canonical("grouping", value.strip(), GROUP_BY_VALUES)  # type: ignore[return-value]


# ---------------------------------------------------------------- config sync (pure)


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """What a config sync does, by email."""

    add: tuple[SubscriberSpec, ...] = ()
    #: Stored subscribers whose settings config.yaml changed (or that it now manages).
    update: tuple[SubscriberSpec, ...] = ()
    #: Config subscribers that config.yaml no longer lists: their status becomes "removed".
    remove: tuple[str, ...] = ()
    #: "removed" subscribers that config.yaml lists again: active again.
    restore: tuple[str, ...] = ()


def plan_sync(stored: Sequence[SubscriberInfo], wanted: Sequence[SubscriberSpec]) -> SyncPlan:
    """Reconcile the table with config.yaml's subscribers.

    Config wins for the settings of the subscribers it lists (a CLI subscriber it lists
    becomes a config one). It never touches a status a person set: a paused or bouncing
    subscriber stays so. One it no longer lists is marked "removed", not deleted.
    """
    by_email = {s.email.casefold(): s for s in stored}
    listed = {w.email.casefold() for w in wanted}
    add, update, restore = [], [], []
    for spec in wanted:
        known = by_email.get(spec.email.casefold())
        if known is None:
            add.append(spec)
            continue
        if known.spec != spec or known.source != "config":
            update.append(spec)
        if known.status == "removed":
            restore.append(known.email)
    remove = tuple(
        s.email
        for s in stored
        if s.source == "config" and s.status != "removed" and s.email.casefold() not in listed
    )
    return SyncPlan(tuple(add), tuple(update), remove, tuple(restore))


# ---------------------------------------------------------------- storage


def _info(row: Subscriber) -> SubscriberInfo:
    return SubscriberInfo(
        id=row.id,
        spec=SubscriberSpec(
            email=row.email,
            name=row.name or "",
            timezone=row.timezone,
            send_at=time.fromisoformat(row.send_at),
            weekly=row.weekly,
            regions=tuple(row.regions or ()),
            countries=tuple(row.countries or ()),
            topics=tuple(row.topics or ()),
            outlets=tuple(row.outlets or ()),
            keywords=tuple(row.keywords or ()),
            exclude_keywords=tuple(row.exclude_keywords or ()),
            # A value the code no longer knows falls back to the default grouping.
            group_by=row.group_by if row.group_by in GROUP_BY_VALUES else None,  # type: ignore[arg-type]
        ),
        status=row.status,  # type: ignore[arg-type]
        source=row.source,  # type: ignore[arg-type]
        bounce_count=row.bounce_count or 0,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _apply(row: Subscriber, spec: SubscriberSpec) -> None:
    row.email = spec.email
    row.name = spec.name
    row.timezone = spec.timezone
    row.send_at = spec.send_at.strftime("%H:%M")
    row.weekly = spec.weekly
    row.regions = list(spec.regions)
    row.countries = list(spec.countries)
    row.topics = list(spec.topics)
    row.outlets = list(spec.outlets)
    row.keywords = list(spec.keywords)
    row.exclude_keywords = list(spec.exclude_keywords)
    row.group_by = spec.group_by


def _row(session: Session, email: str) -> Subscriber | None:
    # Case-insensitive: "Me@Example.org" and "me@example.org" are one subscriber.
    query = select(Subscriber).where(func.lower(Subscriber.email) == email.strip().lower())
    return session.scalars(query).first()


def _require(session: Session, email: str) -> Subscriber:
    row = _row(session, email)
    if row is None:
        emails = list(session.scalars(select(Subscriber.email).order_by(Subscriber.email)))
        close = difflib.get_close_matches(email, emails, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownSubscriberError(
            f"no subscriber {email!r}{hint} (`newsdigest subscribers list` shows them)"
        )
    return row


def add_subscriber(
    session: Session, spec: SubscriberSpec, *, now: datetime, source: Source = "cli"
) -> SubscriberInfo:
    """Store a new, active subscriber; SubscriberExistsError when the email is taken."""
    existing = _row(session, spec.email)
    if existing is not None:
        raise SubscriberExistsError(
            f"{existing.email} is already subscribed (status {existing.status}); "
            "`subscribers remove` it first to change its filters"
            + (
                " (it is defined in config.yaml: edit it there)"
                if existing.source == "config"
                else ""
            )
        )
    row = Subscriber(status="active", source=source, bounce_count=0, created_at=now, updated_at=now)
    _apply(row, spec)
    session.add(row)
    session.flush()
    return _info(row)


def get_subscriber(session: Session, email: str) -> SubscriberInfo:
    """One subscriber by email (case-insensitive); UnknownSubscriberError, with close ones."""
    return _info(_require(session, email))


def list_subscribers(
    session: Session, *, statuses: Iterable[Status] | None = None
) -> list[SubscriberInfo]:
    """Subscribers by email, optionally only those with one of ``statuses``."""
    query = select(Subscriber).order_by(func.lower(Subscriber.email))
    if statuses is not None:
        query = query.where(Subscriber.status.in_(list(statuses)))
    return [_info(row) for row in session.scalars(query)]


def remove_subscriber(session: Session, email: str) -> SubscriberInfo:
    """Delete a subscriber (its delivery ledger rows go with it).

    A subscriber config.yaml still lists is refused: the next start would add it again.
    """
    row = _require(session, email)
    if row.source == "config" and row.status != "removed":
        raise ConfigManagedError(
            f"{row.email} is defined in config.yaml: remove it there (or `subscribers pause` it)"
        )
    info = _info(row)
    session.delete(row)
    session.flush()
    return info


def set_status(session: Session, email: str, status: Status, *, now: datetime) -> SubscriberInfo:
    """Pause, resume (``active``) or otherwise set a subscriber's status."""
    if status not in STATUSES:
        raise InvalidSubscriberError(f"status must be one of {', '.join(STATUSES)}")
    row = _require(session, email)
    if row.status != status:
        row.status = status
        row.updated_at = now
        session.flush()
    return _info(row)


def sync_config_subscribers(
    session: Session, wanted: Sequence[SubscriberSpec], *, now: datetime
) -> SyncPlan:
    """Bring the table in line with config.yaml (see :func:`plan_sync`); return what changed."""
    plan = plan_sync(list_subscribers(session), wanted)
    for spec in plan.add:
        add_subscriber(session, spec, now=now, source="config")
    for spec in plan.update:
        row = _require(session, spec.email)
        _apply(row, spec)
        row.source = "config"
        row.updated_at = now
    for email in plan.remove:
        row = _require(session, email)
        row.status = "removed"
        row.updated_at = now
    for email in plan.restore:
        row = _require(session, email)
        row.status = "active"
        row.updated_at = now
    session.flush()
    return plan
