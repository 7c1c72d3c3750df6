"""The README documents every setting and command that exists."""

from __future__ import annotations

from pathlib import Path

from incidentd.schemas.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_settings_table() -> None:
    missing = [
        f"INCIDENTD_{name.upper()}"
        for name in Settings.model_fields
        if f"`INCIDENTD_{name.upper()}`" not in README
    ]
    assert not missing, f"README lacks: {missing}"


def test_readme_opens_with_the_two_commands() -> None:
    head = README[:600]
    assert "make demo" in head and "make test" in head
