"""Subscribers: validation against the tagger's vocabulary, storage and config sync."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from digest.subscribers import (
    ConfigManagedError,
    InvalidSubscriberError,
    SubscriberExistsError,
    SubscriberSpec,
    UnknownNameError,
    UnknownSubscriberError,
    add_subscriber,
    get_subscriber,
    list_subscribers,
    parse_weekday,
    plan_sync,
    remove_subscriber,
    set_status,
    sync_config_subscribers,
    validate,
)
from ingest.tagging import TOPICS, region_names

NOW = datetime(2025, 1, 10, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "typed", "stored"),
    [
        ("regions", ["middle east", "MIDDLE-EAST", "gulf"], ("Middle East", "Gulf")),
        ("regions", ["south eastern asia"], ("South-eastern Asia",)),
        ("topics", ["Diplomacy", "conflict security"], ("diplomacy", "conflict-security")),
        ("countries", ["iq", "Iran", "XK"], ("IQ", "IR", "XK")),
        ("keywords", [" oil ", "", "Oil", "نفط"], ("oil", "نفط")),
        ("exclude_keywords", ["sport", "SPORT"], ("sport",)),
    ],
)
def test_names_are_stored_canonical_and_once(field: str, typed: list[str], stored: tuple) -> None:
    spec = validate(email="me@example.org", **{field: typed})
    assert getattr(spec, field) == stored


@pytest.mark.parametrize(
    ("field", "typed", "first_suggestion", "vocabulary"),
    [
        ("regions", ["Midle East"], "Middle East", region_names()),
        ("topics", ["sport"], "sports", TOPICS),
        ("timezone", "Asia/Bagdad", "Asia/Baghdad", None),
        ("timezone", "Europe/Pariss", "Europe/Paris", None),
    ],
)
def test_unknown_names_are_refused_with_the_valid_ones_close_first(
    field: str, typed: object, first_suggestion: str, vocabulary: object
) -> None:
    with pytest.raises(UnknownNameError) as caught:
        validate(email="me@example.org", **{field: typed})  # type: ignore[arg-type]
    err = caught.value
    assert err.valid[0] == first_suggestion
    assert f"did you mean {first_suggestion}" in str(err)
    if vocabulary is not None:
        assert sorted(err.valid) == sorted(vocabulary)  # the whole list, reordered
        assert all(name in str(err) for name in vocabulary)


def test_unknown_country_name_lists_codes_without_misleading_suggestions() -> None:
    with pytest.raises(UnknownNameError) as caught:
        validate(email="me@example.org", countries=["Irak"])
    assert "did you mean" not in str(caught.value)
    assert "IQ" in caught.value.valid


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("MON", 0), ("mon", 0), ("Monday", 0), ("sun", 6), (3, 3)],
)
def test_weekdays(value: object, expected: int | None) -> None:
    assert parse_weekday(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["MONTAG", "mo", "Monsday", 7])
def test_bad_weekdays_are_refused(value: object) -> None:
    with pytest.raises(UnknownNameError, match="MON, TUE, WED"):
        parse_weekday(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"email": "not-an-address"}, "not an email address"),
        ({"email": "me@example.org\r\nBcc: x@y"}, "not an email address"),
        ({"email": "me@example.org", "send_at": "7am"}, "HH:MM"),
        ({"email": "me@example.org", "send_at": "25:00"}, "HH:MM"),
    ],
)
def test_bad_addresses_and_times_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidSubscriberError, match=match):
        validate(**kwargs)


def test_prefs_carry_every_filter() -> None:
    spec = validate(
        email="قارئ@example.org",
        name="قارئ",
        timezone="Asia/Baghdad",
        send_at="06:30",
        weekly="FRI",
        regions=["Middle East"],
        keywords=["العراق"],
        exclude_keywords=["كرة القدم"],
    )
    assert spec.send_at == time(6, 30)
    assert spec.weekly == 4


def spec(email: str, **kw: object) -> SubscriberSpec:
    return validate(email=email, **kw)  # type: ignore[arg-type]


def test_storage_round_trip_and_changes(engine: Engine) -> None:
    wanted = spec(
        "Reader@Example.org",
        name="Reader",
        regions=["Middle East"],
        topics=["diplomacy"],
        countries=["IQ"],
        outlets=["Al Jazeera"],
        keywords=["Tehran", "طهران"],
        exclude_keywords=["football"],
        timezone="Asia/Baghdad",
        send_at="07:15",
        weekly="MON",
    )
    with Session(engine) as session, session.begin():
        added = add_subscriber(session, wanted, now=NOW)
    with Session(engine) as session:
        got = get_subscriber(session, "reader@example.org")  # any case finds it
    assert got.spec == wanted
    assert (got.id, got.status, got.source) == (added.id, "active", "cli")
    prefs = got.to_prefs(group_by="topic", send_empty=True)
    assert (prefs.regions, prefs.keywords, prefs.weekly) == (
        ("Middle East",),
        ("Tehran", "طهران"),
        0,
    )
    assert (prefs.group_by, prefs.send_empty) == ("topic", True)

    with (
        Session(engine) as session,
        session.begin(),
        pytest.raises(SubscriberExistsError, match="already subscribed"),
    ):
        add_subscriber(session, spec("READER@example.org"), now=NOW)
    with Session(engine) as session, session.begin():
        assert set_status(session, "reader@example.org", "paused", now=NOW).status == "paused"
    with Session(engine) as session:
        assert list_subscribers(session, statuses=["active"]) == []
        assert [s.email for s in list_subscribers(session)] == ["Reader@Example.org"]
    with Session(engine) as session, session.begin():
        remove_subscriber(session, "reader@example.org")
    with (
        Session(engine) as session,
        pytest.raises(UnknownSubscriberError, match="no subscriber"),
    ):
        get_subscriber(session, "reader@example.org")


@pytest.mark.parametrize(
    ("typed", "stored"),
    [(None, None), ("", None), ("region", "region"), ("Topic", "topic"), (" OUTLET ", "outlet")],
)
def test_group_by_is_checked_and_canonical(typed: str | None, stored: str | None) -> None:
    assert validate(email="a@example.org", group_by=typed).group_by == stored


def test_an_unknown_group_by_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError) as caught:
        validate(email="a@example.org", group_by="topics first")
    assert str(caught.value).startswith("unknown grouping 'topics first'")
    assert caught.value.valid[:1] == ("topic",)  # the close match first
    assert "Valid groupings: topic, region, outlet" in str(caught.value)


def test_a_stored_group_by_wins_over_the_configured_default(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        add_subscriber(session, spec("t@example.org", group_by="topic"), now=NOW)
        add_subscriber(session, spec("d@example.org"), now=NOW)
    with Session(engine) as session:
        mine, default = (
            get_subscriber(session, "t@example.org"),
            get_subscriber(session, "d@example.org"),
        )
    assert (mine.spec.group_by, default.spec.group_by) == ("topic", None)
    assert mine.to_prefs(group_by="outlet").group_by == "topic"
    assert default.to_prefs(group_by="outlet").group_by == "outlet"
    assert default.to_prefs().group_by is None  # compose picks region once articles are tagged
    # A config change to the grouping is a change the sync applies.
    plan = plan_sync([mine], [spec("t@example.org", group_by="region")])
    assert [s.group_by for s in plan.update] == ["region"]


def test_sync_adds_updates_marks_removed_and_never_resumes_a_paused_one(engine: Engine) -> None:
    a, b = spec("a@example.org", regions=["Middle East"]), spec("b@example.org")
    with Session(engine) as session, session.begin():
        add_subscriber(session, spec("cli@example.org"), now=NOW)
        plan = sync_config_subscribers(session, [a, b], now=NOW)
    assert [s.email for s in plan.add] == ["a@example.org", "b@example.org"]

    # b paused by its reader (or an unsubscribe); a edited in config.yaml; cli adopted.
    with Session(engine) as session, session.begin():
        set_status(session, "b@example.org", "paused", now=NOW)
        a2 = spec("a@example.org", regions=["Middle East", "Sahel"])
        adopted = spec("cli@example.org", topics=["health"])
        plan = sync_config_subscribers(session, [a2, b, adopted], now=NOW)
    assert [s.email for s in plan.update] == ["a@example.org", "cli@example.org"]
    with Session(engine) as session:
        by_email = {s.email: s for s in list_subscribers(session)}
    assert by_email["a@example.org"].spec.regions == ("Middle East", "Sahel")
    assert by_email["b@example.org"].status == "paused"
    assert by_email["cli@example.org"].source == "config"

    # a is removed from config.yaml: kept, marked removed; the CLI may delete it then.
    with Session(engine) as session, session.begin():
        plan = sync_config_subscribers(session, [b, adopted], now=NOW)
        assert plan.remove == ("a@example.org",)
        assert get_subscriber(session, "a@example.org").status == "removed"
        with pytest.raises(ConfigManagedError, match=r"config\.yaml"):
            remove_subscriber(session, "b@example.org")
    # Listed again: active again.
    with Session(engine) as session, session.begin():
        plan = sync_config_subscribers(session, [a2, b, adopted], now=NOW)
        assert plan.restore == ("a@example.org",)
        assert get_subscriber(session, "a@example.org").status == "active"


def test_plan_sync_is_a_no_op_when_nothing_changed() -> None:
    from digest.subscribers import SubscriberInfo

    a = spec("a@example.org")
    stored = [SubscriberInfo(1, a, "active", "config", 0, NOW, NOW)]
    plan = plan_sync(stored, [a])
    assert (plan.add, plan.update, plan.remove, plan.restore) == ((), (), (), ())
