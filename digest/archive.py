"""The archive: ``out/`` as a static site of past digests, with Atom feeds.

Layout (every path relative to the archive root, and never outside it)::

    index.html                        editions (newest first) and subscribers
    feed.atom                         the newest digests of everyone
    digests/<date>/index.html         one edition: every digest of that local date
    digests/<date>/<stem>.html        a digest page (written by `digest build`)
    digests/<date>/<stem>.json        its archive record (this module's sidecar)
    subscribers/<stem>.html           one subscriber's digests, newest first
    subscribers/<stem>.atom           ... as an Atom feed a reader can subscribe to

``<date>`` is the subscriber-local date of the digest's period end; ``<stem>`` is
:func:`digest_stem` of the email. The sidecar records are the archive's only state:
:func:`rebuild` reads them all and rewrites the index pages and feeds, so deleting a
digest's files removes it from the archive at the next build.

:func:`plan_site` is pure (records in, ``{relative path: text}`` out); :func:`rebuild` and
:func:`write_file` do the I/O and refuse any path that would resolve outside the root.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import jinja2

from digest.errors import DigestError
from digest.render import _safe_url
from digest.types import Digest

RECORD_SUFFIX = ".json"
RECORD_VERSION = 1
DEFAULT_FEED_ENTRIES = 50
SITE_TITLE = "newsdigest archive"
#: Headlines per section kept in a record (the Atom entry's content lists them).
HEADLINES_PER_SECTION = 10
_STEM_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_ID_NAMESPACE = uuid.UUID("6b1d7c5e-4f0a-5e0f-9a59-2f3c1f5b6a10")


class ArchiveError(DigestError):
    """A path that would leave the archive, or an archive record that cannot be read."""


def digest_stem(email: str) -> str:
    """A file name stem for a subscriber: readable, filesystem-safe and unique per email.

    The sanitized address alone could collide ("a+b@x" and "a_b@x"), so a short hash of
    the case-folded address follows it. Never contains a path separator or starts with ".".
    """
    readable = _STEM_UNSAFE.sub("_", email.strip().lower()).strip("._-")[:60] or "subscriber"
    digest = hashlib.sha256(email.strip().casefold().encode("utf-8")).hexdigest()[:8]
    return f"{readable}-{digest}"


def edition_path(day: date) -> str:
    """The folder of one edition, relative to the root: ``digests/2025-01-10``."""
    return f"digests/{day.isoformat()}"


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """One archived digest, as the index pages and feeds show it."""

    email: str
    name: str
    subject: str
    preheader: str
    stories: int
    period_start: datetime
    period_end: datetime
    generated_at: datetime
    #: The subscriber-local date of ``period_end``: the edition it belongs to.
    edition: date
    #: The digest page, relative to the root (POSIX separators).
    page: str
    #: (section title, ((headline, url), ...)), for the Atom entry's content.
    sections: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

    @property
    def stem(self) -> str:
        return digest_stem(self.email)

    @property
    def entry_id(self) -> str:
        """A stable Atom id: the same digest keeps it across rebuilds."""
        key = f"{self.email.casefold()}|{self.period_end.astimezone(UTC).isoformat()}"
        return uuid.uuid5(_ID_NAMESPACE, key).urn


def entry_for(digest: Digest, page: str, edition: date) -> ArchiveEntry:
    """The archive record of a rendered digest whose page is at ``page`` (root-relative)."""
    return ArchiveEntry(
        email=digest.subscriber.email,
        name=digest.subscriber.name,
        subject=digest.subject,
        preheader=digest.preheader,
        stories=digest.total_stories,
        period_start=digest.period_start,
        period_end=digest.period_end,
        generated_at=digest.generated_at,
        edition=edition,
        page=page,
        sections=tuple(
            (
                s.title,
                tuple((i.headline, i.url) for i in s.items[:HEADLINES_PER_SECTION]),
            )
            for s in digest.sections
        ),
    )


def entry_to_json(entry: ArchiveEntry) -> str:
    return json.dumps(
        {
            "version": RECORD_VERSION,
            "email": entry.email,
            "name": entry.name,
            "subject": entry.subject,
            "preheader": entry.preheader,
            "stories": entry.stories,
            "period_start": entry.period_start.isoformat(),
            "period_end": entry.period_end.isoformat(),
            "generated_at": entry.generated_at.isoformat(),
            "edition": entry.edition.isoformat(),
            "page": entry.page,
            "sections": [[t, [list(h) for h in hs]] for t, hs in entry.sections],
        },
        ensure_ascii=False,
        indent=1,
    )


def _aware(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return parsed.astimezone(UTC)


def check_relative(path: str) -> str:
    """``path`` when it is a plain relative POSIX path inside the root; ArchiveError if not."""
    pure = PurePosixPath(path)
    if (
        not path
        or "\\" in path
        or "\x00" in path
        or pure.is_absolute()
        or any(part in ("", ".", "..") for part in path.split("/"))
    ):
        raise ArchiveError(f"{path!r} is not a path inside the archive")
    return path


def entry_from_json(text: str, source: str = "record") -> ArchiveEntry:
    """Read a record; ArchiveError naming ``source`` when it is damaged or hostile."""
    try:
        data: dict[str, Any] = json.loads(text)
        if data.get("version") != RECORD_VERSION:
            raise ValueError(f"unknown record version {data.get('version')!r}")
        sections = tuple(
            (str(title), tuple((str(h), str(u)) for h, u in headlines))
            for title, headlines in data.get("sections", [])
        )
        return ArchiveEntry(
            email=str(data["email"]),
            name=str(data.get("name") or ""),
            subject=str(data["subject"]),
            preheader=str(data.get("preheader") or ""),
            stories=int(data["stories"]),
            period_start=_aware(data["period_start"]),
            period_end=_aware(data["period_end"]),
            generated_at=_aware(data["generated_at"]),
            edition=date.fromisoformat(data["edition"]),
            page=check_relative(str(data["page"])),
            sections=sections,
        )
    except (ValueError, KeyError, TypeError, ArchiveError) as exc:
        raise ArchiveError(f"{source}: not a readable archive record: {exc}") from None


# ---------------------------------------------------------------- the site (pure)


def _relative(target: str, from_dir: str) -> str:
    """``target`` (root-relative) as a link from a page in ``from_dir`` (root-relative)."""
    depth = len([p for p in from_dir.split("/") if p])
    return "../" * depth + target


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("digest", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "atom")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        safe_url=_safe_url,
        rfc3339=lambda d: d.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    )
    return env


_ENV: list[jinja2.Environment] = []


def _env() -> jinja2.Environment:
    # Built once per process: compiling the templates is the slow part.
    if not _ENV:
        _ENV.append(_environment())
    return _ENV[0]


def _newest_first(entries: Iterable[ArchiveEntry]) -> list[ArchiveEntry]:
    return sorted(entries, key=lambda e: (e.period_end, e.email.casefold()), reverse=True)


def plan_site(
    entries: Sequence[ArchiveEntry],
    *,
    feed_entries: int = DEFAULT_FEED_ENTRIES,
    title: str = SITE_TITLE,
    now: datetime,
) -> dict[str, str]:
    """Every index page and feed of the archive: root-relative path -> text.

    One record per (subscriber, period end): a rebuilt digest replaces the earlier record.
    """
    unique: dict[tuple[str, datetime], ArchiveEntry] = {}
    for e in entries:
        unique[(e.email.casefold(), e.period_end)] = e
    ordered = _newest_first(unique.values())
    editions: dict[date, list[ArchiveEntry]] = {}
    people: dict[str, list[ArchiveEntry]] = {}
    for e in ordered:
        editions.setdefault(e.edition, []).append(e)
        people.setdefault(e.stem, []).append(e)

    env = _env()
    files: dict[str, str] = {}
    updated = ordered[0].generated_at if ordered else now

    def listing(path: str, heading: str, items: list[ArchiveEntry], feed: str | None) -> None:
        folder = path.rpartition("/")[0]
        files[path] = env.get_template("archive_list.html").render(
            title=title,
            heading=heading,
            home=_relative("index.html", folder),
            feed=feed and _relative(feed, folder),
            rows=[(e, _relative(e.page, folder)) for e in items],
        )

    def feed(path: str, feed_title: str, items: list[ArchiveEntry], alternate: str) -> None:
        folder = path.rpartition("/")[0]
        shown = items[:feed_entries]
        files[path] = env.get_template("archive.atom").render(
            title=feed_title,
            feed_id=uuid.uuid5(_ID_NAMESPACE, f"feed|{path}").urn,
            self_href=path.rpartition("/")[2],  # the feed's own URL, relative to itself
            alternate=_relative(alternate, folder),
            updated=shown[0].generated_at if shown else updated,
            rows=[(e, _relative(e.page, folder)) for e in shown],
        )

    for day, items in editions.items():
        folder = edition_path(day)
        listing(f"{folder}/index.html", f"Edition of {day.isoformat()}", items, "feed.atom")
    for stem, items in people.items():
        who = items[0].name or items[0].email
        listing(f"subscribers/{stem}.html", f"Digests for {who}", items, f"subscribers/{stem}.atom")
        feed(f"subscribers/{stem}.atom", f"{title}: {who}", items, f"subscribers/{stem}.html")
    feed("feed.atom", title, ordered, "index.html")
    files["index.html"] = env.get_template("archive_index.html").render(
        title=title,
        editions=[(d, f"{edition_path(d)}/index.html", items) for d, items in editions.items()],
        people=[(f"subscribers/{stem}.html", items) for stem, items in sorted(people.items())],
        total=len(ordered),
        feed="feed.atom",
        updated=updated,
    )
    for path in files:
        check_relative(path)
    return files


# ---------------------------------------------------------------- I/O


def confined(root: Path, relative: str) -> Path:
    """``root / relative``, refused (ArchiveError) when it resolves outside ``root``.

    Resolving follows symbolic links, so a link inside the archive that points elsewhere
    is refused too.
    """
    check_relative(relative)
    base = root.resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base):
        raise ArchiveError(f"{relative!r} resolves outside the archive folder {base}")
    return target


def write_file(root: Path, relative: str, content: str | bytes) -> Path:
    """Write one file of the archive (atomically: a reader never sees half a page)."""
    target = confined(root, relative)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            tmp.write_text(content, encoding="utf-8")
        else:
            tmp.write_bytes(content)
        tmp.replace(target)
    except OSError as exc:
        # A full disk or a read-only folder: leave no half-written file, say which folder.
        tmp.unlink(missing_ok=True)
        raise ArchiveError(
            f"cannot write {target}: {exc.strerror or exc}; "
            "free some space or set output.directory to a writable folder"
        ) from exc
    return target


def read_entries(root: Path) -> tuple[list[ArchiveEntry], list[str]]:
    """Every record under ``root/digests``, and one problem line per unreadable record."""
    entries: list[ArchiveEntry] = []
    problems: list[str] = []
    base = root.resolve()
    for path in sorted((base / "digests").glob(f"*/*{RECORD_SUFFIX}")):
        try:
            entry = entry_from_json(path.read_text(encoding="utf-8"), str(path))
            confined(base, entry.page)
        except (ArchiveError, OSError, UnicodeDecodeError) as exc:
            problems.append(str(exc))
            continue
        entries.append(entry)
    return entries, problems


@dataclass(frozen=True, slots=True)
class SiteReport:
    """What :func:`rebuild` wrote."""

    root: Path
    digests: int
    files: tuple[str, ...]
    problems: tuple[str, ...]


def rebuild(
    root: Path,
    *,
    now: datetime,
    feed_entries: int = DEFAULT_FEED_ENTRIES,
    title: str = SITE_TITLE,
) -> SiteReport:
    """Rewrite the index pages and feeds from the records under ``root``."""
    entries, problems = read_entries(root)
    files = plan_site(entries, feed_entries=feed_entries, title=title, now=now)
    for relative, text in files.items():
        write_file(root, relative, text)
    return SiteReport(root.resolve(), len(entries), tuple(sorted(files)), tuple(problems))
