"""Every error code belongs to exactly one class (a code is never chosen at a raise site);
the Kraken surface's words for each: tests/kraken/test_units.py."""

from collections import defaultdict

import app.cli
import app.main
from app.kit.errors import AppError


def _classes() -> list[type[AppError]]:
    out, todo = [], [AppError]
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo.extend(cls.__subclasses__())
    return out


def test_one_class_per_code() -> None:
    assert app.cli is not None
    by_code: dict[str, set[str]] = defaultdict(set)
    for cls in _classes():
        by_code[cls.code].add(f"{cls.__module__}.{cls.__qualname__}")
    shared = {code: names for code, names in by_code.items() if len(names) > 1}
    assert shared == {}
