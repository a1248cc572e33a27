"""`python -m app staking check|distribute` against the test database."""

import pytest

from app.cli import main
from app.config import get_settings


def test_staking_cli(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("EXCHANGE_LOG_JSON", "false")
    get_settings.cache_clear()
    assert main(["staking", "check"]) == 0
    assert "staking check: OK" in capsys.readouterr().out
    assert main(["staking", "distribute", "--block", "1"]) == 0
    assert "0 distribution(s) at block 1" in capsys.readouterr().out
    get_settings.cache_clear()
