"""README's configuration table against the settings class: every setting is documented
under its real environment name with its real default, and no row names a setting that
does not exist."""

import re
from pathlib import Path
from typing import Any

from pydantic import AliasChoices

from app.config import PROJECT_ROOT, Settings

README = PROJECT_ROOT / "README.md"
PROSE_DEFAULTS = ("unset", "generated", "derived")  # how a default of None is worded


def env_names(name: str) -> list[str]:
    """The environment variables that set field `name` (pydantic-settings' rules)."""
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(c) for c in alias.choices]
    if isinstance(alias, str):
        return [alias]
    prefix = Settings.model_config.get("env_prefix", "")
    return [f"{prefix}{name}".upper()]


def table_rows() -> list[tuple[list[str], str]]:
    """(variable names, default cell) per row of the table under `## Configuration`."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        names = re.findall(r"`([A-Z0-9_]+)`", cells[0])
        assert " / ".join(f"`{n}`" for n in names) == cells[0], f"one name per `...`: {line}"
        rows.append((names, cells[1]))
    return rows


def rendered(value: Any) -> str:
    """How a default is written in the table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        return str(value.relative_to(PROJECT_ROOT))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | dict):
        return str(value)
    return str(value)


def _matches(cell_value: str, default: Any) -> bool:
    if isinstance(default, float):
        try:
            return float(cell_value) == default
        except ValueError:
            return False
    return cell_value == rendered(default)


def test_every_setting_is_in_the_table_with_its_default() -> None:
    rows = table_rows()
    documented = {name: (names, cell) for names, cell in rows for name in names}
    by_env = {env: field for field in Settings.model_fields for env in env_names(field)}

    stale = sorted(set(documented) - set(by_env))
    assert not stale, f"rows for settings that do not exist: {stale}"

    missing = [f for f in Settings.model_fields if not set(env_names(f)) & set(documented)]
    assert not missing, f"settings missing from the README's table: {missing}"

    wrong = []
    for names, cell in rows:
        defaults = [Settings.model_fields[by_env[n]].default for n in names]
        if all(d is None for d in defaults):
            if not cell.startswith(PROSE_DEFAULTS):
                wrong.append(f"{names}: {cell!r} (default unset)")
            continue
        values = re.findall(r"`([^`]*)`", cell)
        if len(values) != len(names) or not all(map(_matches, values, defaults)):
            wrong.append(f"{names}: {cell!r}, but the defaults are {list(map(rendered, defaults))}")
    assert not wrong, "\n".join(wrong)


def test_the_check_fails_on_a_wrong_default(monkeypatch: Any) -> None:
    """The table check can fail: a changed default shows as a wrong row."""
    field = Settings.model_fields["db_pool_size"]
    monkeypatch.setattr(field, "default", 10)
    try:
        test_every_setting_is_in_the_table_with_its_default()
    except AssertionError as exc:
        assert "EXCHANGE_DB_POOL_SIZE" in str(exc)
    else:
        raise AssertionError("a wrong default went unnoticed")
