"""Loading and validating config.yaml.

Usage::

    config = load_config(Path("config.yaml"))   # raises ConfigError with file and key path
    config.database                              # an absolute SQLAlchemy URL

``${VAR}`` anywhere in a string value is replaced from the environment, so secrets never
sit in the file; an unset variable is an error naming it. A relative SQLite path is taken
relative to the config file, not the working directory.
"""

from __future__ import annotations

import os
import re
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from newsdigest.errors import ConfigError

CONFIG_ENV = "NEWSDIGEST_CONFIG"
DEFAULT_CONFIG_NAME = "config.yaml"
DEFAULT_DATABASE = "sqlite:///newsdigest.db"
DEFAULT_USER_AGENT = "newsdigest/0.1 (+https://github.com/newsdigest/newsdigest)"

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _check_feed_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "file") or (
        parts.scheme != "file" and not parts.hostname
    ):
        raise ValueError(f"not an http(s) URL: {url!r}")
    return url


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)"
        ) from None
    return name


def _check_hhmm(value: str) -> str:
    try:
        time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a time of day as HH:MM: {value!r}") from None
    if not re.fullmatch(r"\d\d:\d\d", value):
        raise ValueError(f"not a time of day as HH:MM: {value!r}")
    return value


FeedURL = Annotated[str, AfterValidator(_check_feed_url)]
TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]
HHMM = Annotated[str, AfterValidator(_check_hhmm)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FetchSettings(_Strict):
    """How feeds are fetched."""

    timeout: float = Field(30.0, gt=0, description="total seconds allowed per request")
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(20.0, gt=0)
    concurrency: int = Field(100, ge=1, le=10_000)
    per_host: int = Field(2, ge=1, le=100)
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    max_redirects: int = Field(5, ge=0, le=20)
    user_agent: str = DEFAULT_USER_AGENT
    allow_private_networks: bool = False
    default_interval_minutes: int = Field(60, ge=1)
    min_interval_minutes: int = Field(10, ge=1)
    max_interval_minutes: int = Field(1440, ge=1)
    #: Consecutive errors back off exponentially up to this (the feed is never dropped).
    max_backoff_hours: float = Field(24, gt=0)
    #: A 429/503's Retry-After is honoured up to this many hours; a longer one is cut.
    max_retry_after_hours: float = Field(24, gt=0)
    #: Processes that parse feeds: None = one per core, 0 = parse in the fetching process.
    parse_workers: int | None = Field(None, ge=0, le=64)
    #: Minimum milliseconds between two requests to one registrable domain (0: none).
    min_delay_ms: int = Field(0, ge=0, le=60_000)

    @model_validator(mode="after")
    def _intervals_in_order(self) -> FetchSettings:
        if not (
            self.min_interval_minutes <= self.default_interval_minutes <= self.max_interval_minutes
        ):
            raise ValueError(
                "min_interval_minutes <= default_interval_minutes <= max_interval_minutes must hold"
            )
        return self


class OutletConfig(_Strict):
    name: str = Field(min_length=1)
    homepage: FeedURL | None = None
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$")
    language: str | None = None
    feeds: list[FeedURL] = Field(default_factory=list)
    #: Fetch every article's page for its full text (the feed carries teasers only).
    full_text: bool = False


def _check_weekday(value: str) -> str:
    day = value.strip()[:3].upper()
    names = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
    if day not in names or not value.strip().upper().startswith(day):
        raise ValueError(f"not a weekday: {value!r} (use one of {', '.join(names)})")
    return day


class SubscriberConfig(_Strict):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    name: str | None = None
    timezone: TimeZoneName = "UTC"
    send_at: HHMM = "07:00"
    regions: list[str] = Field(default_factory=list)
    countries: list[str] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)
    outlets: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    exclude_keywords: list[str] = Field(default_factory=list)
    #: None: daily; a weekday ("MON".."SUN", or its full English name): weekly that day.
    weekly: Annotated[str, AfterValidator(_check_weekday)] | None = None
    #: Section grouping; None: the digest settings' default.
    group_by: Literal["region", "topic", "outlet"] | None = None


class DigestSettings(_Strict):
    """How digests are composed and archived (a subscriber's own group_by wins)."""

    #: Section grouping when a subscriber sets none; None: by region when articles are tagged.
    group_by: Literal["region", "topic", "outlet"] | None = None
    #: Write (and send) a digest even when nothing matched; off: skipped, the reason logged.
    send_empty: bool = False
    #: Show a story already sent to a subscriber again when another outlet has reported it
    #: since (marked "new reports"); off: a story is sent once.
    repeat_grown: bool = True
    #: How many recent digests the archive's Atom feeds list.
    feed_entries: int = Field(50, ge=1, le=1000)


class SmtpSettings(_Strict):
    host: str = "localhost"
    port: int = Field(25, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "none"
    username: str | None = None
    password: str | None = Field(None, repr=False)
    from_: str = Field("newsdigest@localhost", alias="from", pattern=r"^[^\r\n]+$")
    # Delivery (issue 7); digest/mailer.py and newsdigest/send_job.py read these.
    #: "smtp" sends through the server above; "outbox" writes .eml files instead.
    backend: Literal["smtp", "outbox"] = "smtp"
    #: The outbox folder; None: <output.directory>/outbox (relative: to output.directory).
    outbox: Path | None = None
    reply_to: str | None = Field(None, pattern=r"^[^\r\n]+$")
    #: At most this many messages a minute; None: as fast as the server accepts them.
    messages_per_minute: int | None = Field(None, ge=1)
    timeout: float = Field(30.0, gt=0, description="seconds per SMTP command")
    #: A PEM bundle of CAs to trust for the server's certificate (a private relay).
    ca_file: Path | None = None
    #: Tries of one digest (temporary failures: refused, timeout, 4xx) before it is failed.
    max_attempts: int = Field(5, ge=1, le=100)
    retry_base_seconds: float = Field(60.0, gt=0)
    retry_max_seconds: float = Field(3600.0, gt=0)
    #: A run waits for a retry due within this many seconds; later ones wait for the next run.
    retry_wait_seconds: float = Field(120.0, ge=0)
    #: Permanent refusals (5xx) in a row after which a subscriber is marked bouncing.
    bounce_limit: int = Field(3, ge=1)
    #: A claim not finished within this many seconds is taken over by another sender.
    lease_seconds: float = Field(600.0, ge=1)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RetentionSettings(_Strict):
    """How long articles are kept (`newsdigest prune`)."""

    #: Articles published and first seen more than this many days ago are removed.
    days: int = Field(90, ge=1)
    #: A pruned entry's (feed, key) is remembered this long, so a feed that still lists
    #: it does not bring it back; after that it could return as new.
    tombstone_days: int = Field(365, ge=1)


class FullTextSettings(_Strict):
    """Fetching article pages for their full text (`newsdigest fulltext`)."""

    #: Also fetch pages for entries whose feed text is only a short summary, from any
    #: outlet; off: only outlets marked `full_text: true`.
    short_summaries: bool = True
    #: Articles first seen longer ago than this are not fetched any more.
    max_age_hours: int = Field(72, ge=1)
    #: Pages fetched per batch (one transaction per batch).
    batch_size: int = Field(50, ge=1, le=1000)
    #: Tries of a page that failed for a temporary reason (timeout, 5xx, 429).
    max_attempts: int = Field(3, ge=1, le=20)
    #: Minutes before such a page is tried again.
    retry_after_minutes: int = Field(30, ge=1)


class OutputSettings(_Strict):
    directory: Path = Path("out")


class DaemonSettings(_Strict):
    """`newsdigest run`: its job intervals, leases, shutdown and observability."""

    #: Seconds between fetch ticks; each claims the due feeds (the schedule is in the
    #: feeds table, not here).
    fetch_tick_seconds: int = Field(60, ge=1)
    #: Seconds between digest ticks, which send the digests whose time has come.
    digest_tick_seconds: int = Field(60, ge=1)
    #: Seconds between full-text backlog runs.
    fulltext_tick_seconds: int = Field(300, ge=1)
    #: Local time (daemon's clock, UTC) of the daily prune, "HH:MM".
    prune_at: HHMM = "03:30"
    #: Feeds claimed per batch, and how long a claim lasts before another daemon may
    #: take the feed over (a daemon killed with -9 leaves leases that expire).
    claim_batch: int = Field(500, ge=1)
    lease_seconds: int = Field(300, ge=10)
    #: A digest whose send time passed while the daemon was down is sent at start-up when
    #: it is at most this late; later than that it is skipped and logged.
    catchup_grace_hours: float = Field(6, ge=0)
    #: On SIGTERM/SIGINT, in-flight work gets this long to finish.
    shutdown_timeout_seconds: float = Field(30, gt=0)
    #: "HOST:PORT" of /healthz, /readyz and /metrics; off when unset.
    http: str | None = Field(None, pattern=r"^[^\s:]+:\d+$")
    #: "text" or "json" (one JSON object a line, with feed/outlet/subscriber ids).
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class TaggingSettings(_Strict):
    """Extra topics, keywords and region names for the tagger."""

    #: Topic -> {word or phrase: weight}: new topics, or more keywords for default ones.
    topics: dict[str, dict[str, float]] = Field(default_factory=dict)
    #: Region name -> ISO alpha-2 codes, e.g. {"Horn of Africa": [DJ, ER, ET, SO]}.
    region_aliases: dict[str, list[Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]]] = Field(
        default_factory=dict
    )


class Config(_Strict):
    """The whole configuration; every path in it is absolute once loaded."""

    database: str = Field(DEFAULT_DATABASE, repr=False)  # the URL may hold a password
    fetch: FetchSettings = FetchSettings()
    outlets: list[OutletConfig] = Field(default_factory=list)
    subscribers: list[SubscriberConfig] = Field(default_factory=list)
    smtp: SmtpSettings = SmtpSettings()
    output: OutputSettings = OutputSettings()
    tagging: TaggingSettings = TaggingSettings()
    daemon: DaemonSettings = DaemonSettings()
    digest: DigestSettings = DigestSettings()
    retention: RetentionSettings = RetentionSettings()
    fulltext: FullTextSettings = FullTextSettings()
    #: Signs unsubscribe links; None: $NEWSDIGEST_SECRET (sending refuses to start without).
    secret: str | None = Field(None, repr=False)
    #: Base URL of `newsdigest serve` for links; None: http://127.0.0.1:8080, with a warning.
    public_url: str | None = Field(None, pattern=r"^https?://[^\s/]+(/\S*)?$")

    @field_validator("database")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError(f"not a SQLAlchemy URL: {value!r} (e.g. sqlite:///newsdigest.db)")
        return value


def expand_env(value: Any, path: str = "", env: dict[str, str] | None = None) -> Any:
    """Replace ``${VAR}`` in every string of a parsed YAML tree."""
    env = os.environ if env is None else env  # type: ignore[assignment]
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:  # type: ignore[operator]
                raise ConfigError(f"{path or 'value'}: environment variable {name} is not set")
            return env[name]  # type: ignore[index]

        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: expand_env(v, f"{path}.{k}" if path else str(k), env) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, f"{path}[{i}]", env) for i, v in enumerate(value)]
    return value


def resolve_database_url(url: str, base_dir: Path) -> str:
    """Make a relative SQLite path absolute, relative to the config file's folder."""
    prefix = next((p for p in ("sqlite:///", "sqlite+pysqlite:///") if url.startswith(p)), None)
    if prefix is None:
        return url
    rest = url[len(prefix) :]
    if not rest or rest.startswith("/") or rest.startswith(":memory:"):
        return url
    return prefix + str((base_dir / rest).resolve())


def _key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_config(data: Any, source: str, base_dir: Path) -> Config:
    """Validate a parsed YAML tree; ``source`` names the file in error messages."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: the top level must be a mapping of keys, not {type(data).__name__}"
        )
    try:
        data = expand_env(data)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            problems.append(f"{source}: {_key_path(err['loc'])}: {msg}")
        raise ConfigError("\n".join(problems)) from None
    output_dir = config.output.directory
    if not output_dir.is_absolute():
        output_dir = (base_dir / output_dir).resolve()
    return config.model_copy(
        update={
            "database": resolve_database_url(config.database, base_dir),
            "output": OutputSettings(directory=output_dir),
        }
    )


def find_config_path(explicit: Path | None) -> Path | None:
    """--config wins, then NEWSDIGEST_CONFIG, then ./config.yaml when it exists."""
    if explicit is not None:
        return explicit
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    default = Path(DEFAULT_CONFIG_NAME)
    return default if default.exists() else None


def load_config(path: Path | None) -> Config:
    """Load and validate a config file; with no file, the defaults in the working directory."""
    if path is None:
        return parse_config({}, "(defaults)", Path.cwd())
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}:{where}: not valid YAML: {problem}") from None
    return parse_config(data, str(path), path.resolve().parent)
