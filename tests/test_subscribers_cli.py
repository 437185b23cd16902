"""`newsdigest subscribers ...` as a user runs it, and config.yaml's subscribers synced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newsdigest.cli import main


def write_config(tmp_path: Path, database_url: str, subscribers: str = "") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"database: '{database_url}'\noutput:\n  directory: {tmp_path / 'out'}\n{subscribers}",
        encoding="utf-8",
    )
    return path


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def listed(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, dict]:
    capsys.readouterr()
    assert run(config, "subscribers", "list", "--json") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return {row["email"]: row for row in rows}


def test_add_list_pause_resume_remove(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, database_url)
    code = run(
        config, "subscribers", "add", "me@example.org", "--name", "نور",
        "--regions", "middle east,Gulf", "--regions", "Sahel", "--countries", "IQ",
        "--topics", "diplomacy", "--outlets", "Al Jazeera", "--keywords", "Tehran,طهران",
        "--exclude-keywords", "football", "--timezone", "Asia/Baghdad",
        "--send-at", "06:30", "--weekly", "MON",
    )  # fmt: skip
    assert code == 0
    assert "subscribed me@example.org" in capsys.readouterr().out
    row = listed(config, capsys)["me@example.org"]
    assert row["regions"] == ["Middle East", "Gulf", "Sahel"]
    assert row["keywords"] == ["Tehran", "طهران"]
    assert (row["name"], row["timezone"], row["send_at"], row["weekly"]) == (
        "نور",
        "Asia/Baghdad",
        "06:30",
        "MON",
    )
    assert (row["status"], row["source"]) == ("active", "cli")

    assert run(config, "subscribers", "pause", "ME@example.org") == 0
    assert listed(config, capsys)["me@example.org"]["status"] == "paused"
    assert run(config, "subscribers", "resume", "me@example.org") == 0
    assert listed(config, capsys)["me@example.org"]["status"] == "active"
    assert run(config, "subscribers", "add", "me@example.org") == 2
    assert "already subscribed" in capsys.readouterr().err
    assert run(config, "subscribers", "remove", "me@example.org") == 0
    assert listed(config, capsys) == {}
    assert run(config, "subscribers", "pause", "me@example.org") == 2
    assert "no subscriber 'me@example.org'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--regions", "Midle East"), ["did you mean Middle East?", "Valid regions:", "Sahel"]),
        (("--topics", "sport"), ["did you mean sports?", "Valid topics:", "diplomacy"]),
        (("--timezone", "Asia/Bagdad"), ["did you mean Asia/Baghdad", "Valid time zones:"]),
        (("--countries", "QQ"), ["unknown country 'QQ'", "IQ"]),
        (("--weekly", "Montag"), ["unknown weekday", "MON, TUE"]),
        (("--send-at", "7am"), ["HH:MM"]),
        (("--group-by", "colour"), ["unknown grouping 'colour'", "Valid groupings:", "topic"]),
    ],
)
def test_refusals_exit_2_with_the_valid_names(
    tmp_path: Path,
    sqlite_url: str,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    expected: list[str],
) -> None:
    config = write_config(tmp_path, sqlite_url)
    assert run(config, "subscribers", "add", "me@example.org", *args) == 2
    err = " ".join(capsys.readouterr().err.split())
    for text in expected:
        assert text in err
    assert "Traceback" not in err
    assert listed(config, capsys) == {}


def test_group_by_is_chosen_at_add_and_listed(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, database_url)
    assert run(config, "subscribers", "add", "t@example.org", "--group-by", "Topic") == 0
    assert "sections by topic" in capsys.readouterr().out
    assert run(config, "subscribers", "add", "d@example.org") == 0
    assert "default sections" in capsys.readouterr().out
    rows = listed(config, capsys)
    assert (rows["t@example.org"]["group_by"], rows["d@example.org"]["group_by"]) == (
        "topic",
        None,
    )
    assert run(config, "subscribers", "list") == 0
    table = capsys.readouterr().out
    # Rows in email order (a narrow terminal folds the emails): d's first, then t's.
    assert "sections" in table
    assert table.index("default") < table.index("by topic")


def test_config_subscribers_are_synced_and_a_dropped_one_is_marked_removed(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    two = (
        "subscribers:\n"
        "  - email: a@example.org\n    regions: [middle east]\n    weekly: friday\n"
        "  - email: b@example.org\n    topics: [health]\n    group_by: topic\n"
    )
    config = write_config(tmp_path, database_url, two)
    rows = listed(config, capsys)
    assert rows["a@example.org"]["regions"] == ["Middle East"]
    assert rows["a@example.org"]["weekly"] == "FRI"
    assert (rows["a@example.org"]["group_by"], rows["b@example.org"]["group_by"]) == (None, "topic")
    assert {r["source"] for r in rows.values()} == {"config"}
    assert run(config, "subscribers", "remove", "a@example.org") == 2
    assert "defined in config.yaml" in capsys.readouterr().err

    write_config(tmp_path, database_url, two.split("  - email: b")[0])
    rows = listed(config, capsys)
    assert rows["b@example.org"]["status"] == "removed"
    assert rows["a@example.org"]["status"] == "active"
    assert run(config, "subscribers", "remove", "b@example.org") == 0


def test_a_bad_name_in_config_is_a_config_error(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path, sqlite_url, "subscribers:\n  - email: a@example.org\n    topics: [sport]\n"
    )
    assert run(config, "subscribers", "list") == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "subscribers[0] (a@example.org): unknown topic 'sport'; did you mean sports?" in err
