"""A portable type registry (scale-info, as in V14 metadata) built from readable type names.

`TypeRegistry.id("Vec<AccountId32>")` returns the id of that type, adding it (and what it
refers to) on first use. Generic forms are parsed (`Vec<T>`, `Compact<T>`, `Option<T>`,
`[T; N]`, `(A, B)`, `()`); named types (`AccountId32`, `DispatchError`, ...) are declared with
`declare(name, path, build)` where `build` returns the definition once the registry can resolve
the names it uses. Paths are those of the real runtime: scalecodec picks its decoder classes
(accounts, eras, calls, events, event records, multi-addresses) by path.
"""

from collections.abc import Callable
from typing import Any

Definition = dict[str, Any]
Field = tuple[str | None, str, str | None]  # (name, type, Rust type name)
Params = tuple[tuple[str, str | None], ...]

PRIMITIVES = frozenset(
    ("bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "i8", "i16", "i32", "i64", "i128")
)


def split_top(text: str, sep: str = ",") -> list[str]:
    """Split on `sep` outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "<([":
            depth += 1
        elif ch in ">)]":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    tail = text[start:].strip()
    if tail:
        parts.append(tail)
    return parts


class TypeRegistry:
    def __init__(self) -> None:
        self.types: list[dict[str, Any]] = []
        self._ids: dict[str, int] = {}
        self._named: dict[str, tuple[list[str], Callable[[], Definition], Params]] = {}

    def declare(
        self,
        name: str,
        path: list[str],
        build: Callable[[], Definition],
        params: Params = (),
    ) -> None:
        """A named type; `params` are its generic parameters: (name, type name or None)."""
        self._named[name] = (path, build, params)

    def id(self, name: str) -> int:
        name = " ".join(name.split())
        found = self._ids.get(name)
        if found is not None:
            return found
        if name in self._named:
            path, build, params = self._named[name]
            type_id = self._reserve(name)  # recursive types refer to themselves by id
            resolved = [{"name": p, "type": None if t is None else self.id(t)} for p, t in params]
            self._set(type_id, path, build(), resolved)
            return type_id
        return self._generic(name)

    # --- definitions ------------------------------------------------------------------------

    def composite(self, *fields: Field) -> Definition:
        return {"composite": {"fields": [self._field(f) for f in fields]}}

    def variant(self, *variants: tuple[int, str, list[Field]]) -> Definition:
        return {
            "variant": {
                "variants": [
                    {
                        "name": name,
                        "fields": [self._field(f) for f in fields],
                        "index": index,
                        "docs": [],
                    }
                    for index, name, fields in sorted(variants)
                ]
            }
        }

    def _field(self, field: Field) -> dict[str, Any]:
        name, type_name, rust_name = field
        return {"name": name, "type": self.id(type_name), "typeName": rust_name, "docs": []}

    # --- internals --------------------------------------------------------------------------

    def _reserve(self, name: str) -> int:
        type_id = len(self.types)
        self.types.append({})
        self._ids[name] = type_id
        return type_id

    def _set(
        self, type_id: int, path: list[str], definition: Definition, params: list[dict[str, Any]]
    ) -> None:
        self.types[type_id] = {
            "id": type_id,
            "type": {"path": path, "params": params, "def": definition, "docs": []},
        }

    def _anonymous(self, name: str, definition_of: Callable[..., Definition]) -> int:
        type_id = self._reserve(name)
        self._set(type_id, [], definition_of(), [])
        return type_id

    def _generic(self, name: str) -> int:
        if name in PRIMITIVES:
            return self._anonymous(name, lambda: {"primitive": name})
        if name == "()":
            return self._anonymous(name, lambda: {"tuple": []})
        if name.startswith("(") and name.endswith(")"):
            items = split_top(name[1:-1])
            return self._anonymous(name, lambda: {"tuple": [self.id(i) for i in items]})
        if name.startswith("[") and name.endswith("]"):
            inner, length = split_top(name[1:-1], ";")
            return self._anonymous(
                name, lambda: {"array": {"len": int(length), "type": self.id(inner)}}
            )
        for prefix, kind in (("Vec<", "sequence"), ("Compact<", "compact")):
            if name.startswith(prefix) and name.endswith(">"):
                inner = name[len(prefix) : -1]
                return self._anonymous(name, lambda k=kind, i=inner: {k: {"type": self.id(i)}})
        if name.startswith("Option<") and name.endswith(">"):
            inner = name[len("Option<") : -1]
            type_id = self._reserve(name)
            definition = self.variant((0, "None", []), (1, "Some", [(None, inner, None)]))
            self._set(type_id, ["Option"], definition, [{"name": "T", "type": self.id(inner)}])
            return type_id
        raise KeyError(f"unknown type {name!r}")

    def portable(self) -> list[dict[str, Any]]:
        return list(self.types)
