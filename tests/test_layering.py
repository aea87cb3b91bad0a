"""The direction of imports (README, "Architecture"): no floor imports a higher one, the SDK
stays free of server code, and nothing but the entry point imports the CLI.

Every ``import`` counts, including those inside functions (lazy imports are still a
dependency). A new package must be given a floor here, so the test fails until it is.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "lakehose"

# Floors, lowest first. A module may import its own floor and the floors below it.
FLOORS: dict[str, int] = {
    "errors": 0,
    "models": 0,
    "records": 0,
    "config": 0,
    "logs": 0,
    "parsers": 1,
    "query": 1,
    "auth": 1,
    "storage": 2,
    "search": 3,
    "server": 4,
    "client": 4,
    "collector": 5,
    "testing": 5,
    "cli": 6,
    "__main__": 7,
}
# What the SDK (and the collector, built on it) may import besides itself and the root package.
CLIENT_MAY_IMPORT = {"errors", "models", "client"}
COLLECTOR_MAY_IMPORT = {r for r, f in FLOORS.items() if f <= 1} | {"client", "collector"}


def _room(module: str) -> str:
    """``lakehose.storage.sqlite.log`` -> ``storage``; the root package -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out[".".join(parts)] = path
    return out


@functools.cache
def _imports(module: str, path: Path) -> frozenset[str]:
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("lakehose"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            if base.startswith("lakehose"):
                found.add(base)
    return frozenset(found)


MODULES = _modules()


def test_every_room_has_a_floor() -> None:
    rooms = {_room(m) for m in MODULES} - {""}
    assert rooms <= set(FLOORS), f"give these packages a floor: {sorted(rooms - set(FLOORS))}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_higher_floor(module: str) -> None:
    room = _room(module)
    if not room:
        return  # the root package: public names only
    wrong = []
    for target in sorted(_imports(module, MODULES[module])):
        other = _room(target)
        if not other or other == room:
            continue
        if room == "client" and other not in CLIENT_MAY_IMPORT:
            wrong.append(f"{target} (the SDK imports no server, storage or CLI code)")
        elif room == "collector" and other not in COLLECTOR_MAY_IMPORT:
            wrong.append(f"{target} (the collector talks to lakehose only through the SDK)")
        elif other == "cli" and room != "__main__":
            wrong.append(f"{target} (nothing imports the CLI)")
        elif FLOORS.get(other, 99) > FLOORS[room]:
            wrong.append(f"{target} (floor {FLOORS.get(other)} above {room}'s {FLOORS[room]})")
    assert not wrong, f"{module} imports " + "; ".join(wrong)


def test_the_check_sees_lazy_and_relative_imports() -> None:
    """A check that finds nothing would pass for the wrong reason."""
    assert "lakehose.server.worker" in _imports(
        "lakehose.server.supervisor", MODULES["lakehose.server.supervisor"]
    )
    lazy = _imports("lakehose.storage.lake", MODULES["lakehose.storage.lake"])
    assert "lakehose.storage.sqlite.log" in lazy  # imported inside open_log()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_storage_names_a_backend(module: str) -> None:
    """Everything above storage holds an EventLog, LogReader or Catalog, never a backend's class:
    a second backend is then a new module under storage/, not a change elsewhere."""
    if _room(module) == "storage":
        return
    backends = [
        t for t in _imports(module, MODULES[module]) if t.startswith("lakehose.storage.sqlite")
    ]
    assert not backends, f"{module} imports {backends}; use storage/base.py or storage/lake.py"


def _sqlite_uses(source: str) -> list[str]:
    """Where a module imports ``sqlite3`` or reaches into another object's ``_conn``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        if any(n == "sqlite3" or n.startswith("sqlite3.") for n in names):
            found.append(f"line {node.lineno}: imports sqlite3")
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "_conn"
            and not (isinstance(node.value, ast.Name) and node.value.id == "self")
        ):
            found.append(f"line {node.lineno}: reaches into ._conn")
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_storage_touches_sqlite(module: str) -> None:
    """SQL is the SQLite backend's business: search, server, console and CLI ask the
    interfaces of storage/base.py and storage/catalog/base.py, which a second backend offers too."""
    if _room(module) == "storage":
        return
    uses = _sqlite_uses(MODULES[module].read_text(encoding="utf-8"))
    assert not uses, f"{module}: {'; '.join(uses)}; add a method to the storage interface"


def test_the_sqlite_check_sees_sqlite() -> None:
    """The check above would pass for the wrong reason if it never found anything."""
    partition = MODULES["lakehose.storage.sqlite.partition"].read_text(encoding="utf-8")
    assert any("imports sqlite3" in use for use in _sqlite_uses(partition))
    assert _sqlite_uses(
        "from sqlite3 import connect\nrows = reader._conn.execute('SELECT 1')\n"
    ) == [
        "line 1: imports sqlite3",
        "line 2: reaches into ._conn",
    ]
    assert _sqlite_uses("self._conn.execute('SELECT 1')") == []  # a backend's own connection
