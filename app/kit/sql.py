"""Several modules' writes as ONE statement (one round trip): each module builds a `Part`,
data-modifying CTEs over its own `$1..$n` and the values it selects to check afterwards;
`combine` renumbers the parameters and joins them. The parts see the same snapshot and
cannot read each other's rows, but foreign keys and other constraints are checked at the
end of the statement, across all of them."""

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_PARAM = re.compile(r"\$(\d+)")


@dataclass(frozen=True, slots=True)
class Part:
    ctes: str  # "a AS (...), b AS (...)", parameters $1..$len(args)
    args: Sequence[Any]
    select: str  # what the final SELECT returns for this part ("... AS name, ...")


def combine(parts: Sequence[Part]) -> tuple[str, list[Any]]:
    """The statement and its arguments. CTE and column names must differ between parts."""
    ctes: list[str] = []
    selects: list[str] = []
    args: list[Any] = []
    for part in parts:
        ctes.append(renumbered(part.ctes, len(args)))
        selects.append(part.select)
        args.extend(part.args)
    return "WITH " + ",\n".join(ctes) + "\nSELECT " + ", ".join(selects), args


@functools.lru_cache(maxsize=256)  # the parts' SQL is constant: a few combinations
def renumbered(sql: str, offset: int) -> str:
    """`sql` with its parameters $n as $(n + offset): to follow another's parameters."""
    return _PARAM.sub(lambda m: f"${int(m.group(1)) + offset}", sql)
