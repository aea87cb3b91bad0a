"""Mutation testing of lakehose's pure core: ``python scripts/mutate.py [MODULE ...]``.

Theory of operation. For each module in ``TARGETS`` the script parses the source, lists every
place where one small deliberate bug can go (a flipped comparison, ``and`` <-> ``or``, an
off-by-one constant, ``True`` <-> ``False``, a swapped arithmetic operator, a dropped ``not``,
a statement replaced by ``pass``), samples up to ``--sample`` of them with a fixed seed, and
for each one writes the mutant *in place* over the module, runs that module's tests, and puts
the original back. Mutating in place matters: tests that start ``lakehose serve`` import the
editable install, so a copy elsewhere would report false survivors. Byte-code caching is
sent to a throwaway directory so no stale ``.pyc`` can hide a mutant.

A mutant is *killed* when the tests fail or time out, *survives* when they pass. A survivor
listed in ``scripts/mutate-equivalents.toml`` with a reviewed reason (it changes nothing
observable) is left out of the score. The original file is restored after every mutant and
on any interruption; a ``.mutate-backup`` beside it guards against a hard kill.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "lakehose"
EQUIVALENTS = ROOT / "scripts" / "mutate-equivalents.toml"

# Module (relative to src/lakehose) -> the tests that state its behaviour.
TARGETS: dict[str, list[str]] = {
    "parsers/hec.py": ["tests/parsers/test_hec_decoder.py"],
    "parsers/timestamps.py": ["tests/parsers/test_timestamps.py"],
    "parsers/formats.py": ["tests/parsers/test_formats.py"],
    "query/values.py": ["tests/query/test_wildcard.py", "tests/query/test_values.py"],
    "query/timerange.py": ["tests/query/test_timerange.py"],
    "parsers/json_values.py": [
        "tests/parsers/test_json_values.py",
        "tests/parsers/test_hec_decoder.py",
    ],
    "query/parser.py": ["tests/query/test_parser.py"],
    "query/compose.py": ["tests/query/test_compose.py"],
    "query/filters.py": ["tests/query/test_filters.py", "tests/query/test_parser.py"],
    "query/fields.py": ["tests/query/test_fields.py", "tests/query/test_values.py"],
    "query/functions.py": [
        "tests/query/test_functions.py",
        "tests/query/test_parser.py",
        "tests/query/test_plan.py",
    ],
    "query/nodes.py": [
        "tests/query/test_nodes.py",
        "tests/query/test_parser.py",
        "tests/query/test_values.py",
    ],
    "query/plan.py": ["tests/query/test_plan.py", "tests/query/test_parser.py"],
    "query/prefilter.py": ["tests/query/test_prefilter.py", "tests/search/test_candidates.py"],
    "query/regex.py": ["tests/query/test_regex.py"],
    "query/stages.py": [
        "tests/query/test_stages.py",
        "tests/query/test_plan.py",
        "tests/search/test_aggregate_scan.py",
    ],
    "records.py": ["tests/test_records.py"],
    "auth/lockout.py": ["tests/auth/test_lockout.py"],
    "auth/scopes.py": ["tests/auth/test_scopes.py"],
    "auth/secrets.py": ["tests/auth/test_secrets.py"],
    "auth/passwords.py": ["tests/auth/test_passwords.py"],
    "collector/queue/memory.py": ["tests/collector/queue/test_memory_queue.py"],
    "collector/queue/segment.py": [
        "tests/collector/queue/test_segment.py",
        "tests/collector/queue/test_disk_queue.py",
    ],
    "collector/queue/disk.py": [
        "tests/collector/queue/test_disk_queue_edges.py",
        "tests/collector/queue/test_disk_queue.py",
        "tests/collector/queue/test_disk_full.py",
    ],
    "collector/queue/__init__.py": [
        "tests/collector/queue/test_queue_parts.py",
        "tests/collector/queue/test_memory_queue.py",
        "tests/collector/queue/test_disk_queue.py",
    ],
    "collector/queue/cursor.py": [
        "tests/collector/queue/test_queue_parts.py",
        "tests/collector/queue/test_disk_queue.py",
    ],
    "collector/queue/recovery.py": [
        "tests/collector/queue/test_recovery.py",
        "tests/collector/queue/test_disk_queue.py",
        "tests/collector/queue/test_disk_full.py",
    ],
    "collector/queue/signal.py": [
        "tests/collector/queue/test_queue_parts.py",
        "tests/collector/queue/test_memory_queue.py",
        "tests/collector/queue/test_disk_queue.py",
    ],
    "collector/sink/verdict.py": ["tests/collector/sink/test_verdict.py"],
    "collector/checkpoint.py": ["tests/collector/test_checkpoint.py"],
}

SWAP_COMPARE: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
SWAP_BINOP: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.FloorDiv: ast.Mult,
    ast.Div: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
}
SYMBOL = {
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
    ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Div: "/", ast.Mod: "%",
    ast.BitAnd: "&", ast.BitOr: "|", ast.LShift: "<<", ast.RShift: ">>",
    ast.And: "and", ast.Or: "or",
}  # fmt: skip


@dataclass(frozen=True)
class Mutant:
    """One deliberate bug: where it goes and what it does, with a key stable across edits."""

    module: str
    index: int  # position of the node in ast.walk order
    kind: str
    line: int
    scope: str  # the enclosing function or class, dotted
    change: str  # e.g. "< -> <="

    @property
    def key(self) -> str:
        return f"{self.module}:{self.scope}:{self.change}"


def _docstring_nodes(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.add(id(body[0]))
                found.add(id(value))
    return found


def _scopes(tree: ast.AST) -> dict[int, str]:
    """Map every node to the dotted name of the function or class that holds it."""
    names: dict[int, str] = {}

    def visit(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = scope
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                inner = f"{scope}.{child.name}" if scope else child.name
            names[id(child)] = inner or "<module>"
            visit(child, inner)

    visit(tree, "")
    return names


def _is_annotation_or_typing(node: ast.AST, parents: dict[int, ast.AST]) -> bool:
    """True inside annotations, ``__all__`` and ``TYPE_CHECKING`` guards: not behaviour."""
    current: ast.AST | None = node
    while current is not None:
        parent = parents.get(id(current))
        if isinstance(parent, ast.arg | ast.AnnAssign) and current is parent.annotation:
            return True
        if isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef) and current is parent.returns:
            return True
        if isinstance(parent, ast.If) and "TYPE_CHECKING" in ast.unparse(parent.test):
            return True
        current = parent
    return False


def _mutations(node: ast.AST) -> Iterator[tuple[str, str]]:
    """The (kind, change) pairs one node allows."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            swapped = SWAP_COMPARE.get(type(op))
            if swapped is not None:
                yield f"compare{i}", f"{SYMBOL[type(op)]} -> {SYMBOL[swapped]}"
    elif isinstance(node, ast.BoolOp):
        other = ast.Or if isinstance(node.op, ast.And) else ast.And
        yield "boolop", f"{SYMBOL[type(node.op)]} -> {SYMBOL[other]}"
    elif isinstance(node, ast.BinOp | ast.AugAssign):
        swapped_op = SWAP_BINOP.get(type(node.op))
        if swapped_op is not None:
            yield "binop", f"{SYMBOL[type(node.op)]} -> {SYMBOL[swapped_op]}"
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "not", "not x -> x"
    elif isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            yield "bool", f"{value} -> {not value}"
        elif isinstance(value, int):
            yield "int+", f"{value} -> {value + 1}"
            if value != 0:
                yield "int-", f"{value} -> {value - 1}"
    elif isinstance(
        node, ast.Assign | ast.AugAssign | ast.Expr | ast.Return | ast.Raise | ast.Continue
    ) or (isinstance(node, ast.Break)):
        yield "delete", f"{type(node).__name__.lower()} -> pass"


def list_mutants(module: str) -> list[Mutant]:
    source = (SRC / module).read_text()
    tree = ast.parse(source)
    docstrings = _docstring_nodes(tree)
    scopes = _scopes(tree)
    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: list[Mutant] = []
    seen: dict[str, int] = {}
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in docstrings or _is_annotation_or_typing(node, parents):
            continue
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            continue
        for kind, change in _mutations(node):
            scope = scopes.get(id(node), "<module>")
            base = f"{scope}:{change}"
            seen[base] = seen.get(base, 0) + 1
            found.append(
                Mutant(
                    module,
                    index,
                    kind,
                    getattr(node, "lineno", 0),
                    scope,
                    f"{change} #{seen[base]}",
                )  # fmt: skip
            )
    return found


def apply(source: str, mutant: Mutant) -> str:
    """The module's source with ``mutant`` applied (via the AST, unparsed)."""
    tree = ast.parse(source)
    node = list(ast.walk(tree))[mutant.index]
    kind = mutant.kind
    if kind.startswith("compare"):
        assert isinstance(node, ast.Compare)
        i = int(kind.removeprefix("compare"))
        node.ops[i] = SWAP_COMPARE[type(node.ops[i])]()
    elif kind == "boolop":
        assert isinstance(node, ast.BoolOp)
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif kind == "binop":
        assert isinstance(node, ast.BinOp | ast.AugAssign)
        node.op = SWAP_BINOP[type(node.op)]()
    elif kind == "not":
        assert isinstance(node, ast.UnaryOp)
        _replace(tree, node, node.operand)
    elif kind == "bool":
        assert isinstance(node, ast.Constant)
        node.value = not node.value
    elif kind in ("int+", "int-"):
        assert isinstance(node, ast.Constant) and isinstance(node.value, int)
        node.value = node.value + (1 if kind == "int+" else -1)
    elif kind == "delete":
        assert isinstance(node, ast.stmt)
        _replace(tree, node, ast.Pass())
    else:  # pragma: no cover - list_mutants makes no other kind
        raise ValueError(kind)
    return ast.unparse(ast.fix_missing_locations(tree))


def _replace(tree: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, field, copy.copy(new))
                return
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is old:
                        value[i] = copy.copy(new)
                        return
    raise LookupError("node not found")


def _preload() -> None:
    """Import pytest, the test libraries and every third-party module lakehose uses, once.

    Each mutant then runs in a fork of this process that imports only lakehose and the
    tests afresh: a fork costs milliseconds where a new interpreter costs a second or more.
    """
    import hypothesis  # noqa: F401
    import pytest  # noqa: F401

    import lakehose.auth.lockout  # noqa: F401
    import lakehose.parsers.formats  # noqa: F401
    import lakehose.parsers.hec  # noqa: F401
    import lakehose.query  # noqa: F401
    import lakehose.records  # noqa: F401

    for name in [n for n in sys.modules if n.split(".")[0] in ("lakehose", "tests")]:
        del sys.modules[name]


class _TablesFirst:
    """Runs property tests after the table tests: with ``-x`` most mutants then die in the
    fast rows, and only survivors pay for the generated examples. Same tests, same verdict."""

    @staticmethod
    def pytest_collection_modifyitems(items: list[Any]) -> None:
        items.sort(
            key=lambda item: bool(getattr(getattr(item, "obj", None), "is_hypothesis_test", False))
        )


def run_tests(tests: list[str], timeout: float, cache: str) -> str:
    """``killed``, ``survived`` or ``timeout`` for the module's current source (in a fork)."""
    pid = os.fork()
    if pid == 0:  # the child: fresh lakehose imports, no byte-code cache, quiet pytest
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent's handler is for the parent
        try:
            sys.dont_write_bytecode = True
            sys.pycache_prefix = cache
            if not os.environ.get("MUTATE_DEBUG"):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
            import pytest

            # --assert=plain: rewriting asserts only improves failure messages, which nobody
            # reads here, and without a byte-code cache it cost half of each run's CPU time.
            args = ["-x", "-q", "-p", "no:cacheprovider", "-p", "no:anyio", "--assert=plain"]
            args += ["-o", "addopts=", *tests]
            args += ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
            code = pytest.main(args, plugins=[_TablesFirst()])
            os._exit(0 if code == 0 else 1)
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(2)
    deadline = time.monotonic() + timeout
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return "survived" if os.waitstatus_to_exitcode(status) == 0 else "killed"
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                return "timeout"
            time.sleep(0.02)
    except BaseException:  # Ctrl-C or TERM: no test run outlives the script
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise


def load_equivalents() -> dict[str, str]:
    if not EQUIVALENTS.exists():
        return {}
    data = tomllib.loads(EQUIVALENTS.read_text())
    return {entry["key"]: entry["reason"] for entry in data.get("equivalent", [])}


def mutate_module(
    module: str, sample: int, seed: int, equivalents: dict[str, str], only: set[str] | None = None
) -> float:
    tests = [t for t in TARGETS[module] if (ROOT / t).exists()]
    if not tests:  # pytest with no paths would run the whole suite once per mutant
        print(f"{module}: none of its tests exist: {', '.join(TARGETS[module])}", file=sys.stderr)
        return 0.0
    path = SRC / module
    original = path.read_text()
    backup = path.with_suffix(path.suffix + ".mutate-backup")
    mutants = list_mutants(module)
    chosen = sorted(random.Random(f"{seed}:{module}").sample(mutants, min(sample, len(mutants))),
                    key=lambda m: m.index)  # fmt: skip
    if only is not None:  # --keys: re-run earlier survivors of this same sample, nothing else
        chosen = [m for m in chosen if m.key in only]
    with tempfile.TemporaryDirectory() as cache:
        started = time.monotonic()
        if run_tests(tests, 600, cache) != "survived":
            print(f"{module}: its tests fail before any mutation; fix them first", file=sys.stderr)
            return 0.0
        timeout = max(10.0, 4 * (time.monotonic() - started))
        shutil.copyfile(path, backup)
        survivors: list[Mutant] = []
        killed = equivalent = 0
        try:
            for mutant in chosen:
                try:
                    mutated = apply(original, mutant)
                    compile(mutated, str(path), "exec")
                except (SyntaxError, ValueError, AssertionError):
                    killed += 1  # a mutant that cannot even compile is caught at once
                    continue
                path.write_text(mutated)
                outcome = run_tests(tests, timeout, cache)
                path.write_text(original)
                print("." if outcome != "survived" else "S", end="", file=sys.stderr, flush=True)
                if outcome != "survived":
                    killed += 1
                elif mutant.key in equivalents:
                    equivalent += 1
                else:
                    survivors.append(mutant)
        finally:
            path.write_text(original)
            backup.unlink(missing_ok=True)
    print(file=sys.stderr)
    counted = len(chosen) - equivalent
    score = 100.0 * killed / counted if counted else 100.0
    print(
        f"{module}: tried {len(chosen)} of {len(mutants)}, killed {killed}, "
        f"survived {len(survivors)}, equivalent {equivalent}, score {score:.1f} %"
    )
    for mutant in survivors:
        print(f"  survived {SRC.relative_to(ROOT) / module}:{mutant.line} {mutant.change}"
              f"  [key: {mutant.key}]")  # fmt: skip
    sys.stdout.flush()
    return score


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="modules under src/lakehose (default: all)")
    parser.add_argument("--sample", type=int, default=int(os.environ.get("MUTATE_SAMPLE", 150)))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("MUTATE_SEED", 7)))
    parser.add_argument("--min-score", type=float, default=95.0)
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument(
        "--keys",
        type=Path,
        help="a file holding '[key: ...]' survivor lines (an earlier run's output): "
        "run only those mutants of the sample, to check that new tests kill them",
    )
    args = parser.parse_args()
    modules = args.modules or list(TARGETS)
    unknown = [m for m in modules if m not in TARGETS]
    if unknown:
        parser.error(f"not a mutation target: {', '.join(unknown)} (see TARGETS)")
    for stale in SRC.rglob("*.mutate-backup"):  # a previous run was killed mid-mutant
        shutil.copyfile(stale, stale.with_suffix(""))
        stale.unlink()
        print(f"restored {stale.with_suffix('')} from a killed run", file=sys.stderr)
    if args.list:
        for module in modules:
            for mutant in list_mutants(module):
                print(f"{module}:{mutant.line} {mutant.change}  [key: {mutant.key}]")
        return 0
    equivalents = load_equivalents()
    # A TERM (from timeout, say) unwinds like Ctrl-C, so the module under test is put back.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    _preload()
    only = set(re.findall(r"\[key: (.*?)\]", args.keys.read_text())) if args.keys else None
    scores = {m: mutate_module(m, args.sample, args.seed, equivalents, only) for m in modules}
    low = {m: s for m, s in scores.items() if s < args.min_score}
    print(f"modules {len(scores)}, under {args.min_score:.0f} %: {len(low)}")
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
