"""No module outside `app/orders/` reaches into the order service's internals: others know
it by its commands (`app.orders.commands`, `OrderService.submit`), its read model
(`app.orders.readmodel`), its errors and its read services; only `app/main.py` builds it."""

import ast
from pathlib import Path

from app.config import PROJECT_ROOT

APP = PROJECT_ROOT / "app"
INTERNAL = {"app.orders.sequencer", "app.orders.core", "app.orders.store"}
# Attributes that exist only on the sequencer or the core: reading them means reaching in.
INTERNAL_ATTRIBUTES = {"core", "client_ids", "_task", "_queue", "published", "book_seq"}


def _modules() -> list[Path]:
    return [p for p in APP.rglob("*.py") if "orders" not in p.relative_to(APP).parts[:1]]


def test_no_module_outside_orders_imports_its_internals() -> None:
    offenders = []
    for path in _modules():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            hits = INTERNAL & set(names)
            wiring = path.relative_to(APP).as_posix() in ("main.py", "bus/roles.py")
            if hits and not (wiring and hits == {"app.orders.sequencer"}):
                offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} {sorted(hits)}")
    assert offenders == []


def test_no_module_outside_orders_reads_the_sequencers_state() -> None:
    offenders = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in INTERNAL_ATTRIBUTES
                and not (isinstance(node.value, ast.Name) and node.value.id == "self")
            ):
                offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} .{node.attr}")
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "sequencer"
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "state"
            ):
                offenders.append(
                    f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} app.state.sequencer"
                )
    assert offenders == []
