"""File globs with ``**``: walked from each pattern's literal prefix, never from ``/``.

A pattern like ``/var/log/**/app-*.log`` is split into its literal prefix (``/var/log``) and
the rest; only the prefix's subtree is walked, to a bounded depth when the pattern has no
``**``, and symlinked directories are not followed (no loops). The caller re-scans at most
once per cooldown, which grows with the time a scan took, so a huge tree cannot spin a core.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

_MAGIC = re.compile(r"[*?\[]")


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a path glob: ``**`` spans directories, ``*`` and ``?`` stay within one."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z")


@dataclass(frozen=True)
class Glob:
    """One include pattern: where its walk starts, how deep it may go, what it matches."""

    pattern: str
    root: str
    depth: int | None  # None: unbounded (the pattern has **)
    regex: re.Pattern[str]

    @classmethod
    def parse(cls, pattern: str) -> Glob:
        pattern = os.path.expanduser(pattern)
        parts = pattern.split("/")
        literal = []
        for part in parts:
            if _MAGIC.search(part):
                break
            literal.append(part)
        rest = parts[len(literal) :]
        if not rest:  # no magic at all: the pattern names one file
            root = "/".join(literal[:-1]) or "/"
            return cls(pattern, root, 1, glob_regex(pattern))
        root = "/".join(literal) or "/"
        depth = None if any("**" in p for p in rest) else len(rest)
        return cls(pattern, root, depth, glob_regex(pattern))


class FileMatcher:
    """include/exclude globs and excluded extensions, as a file source's ``scan()``."""

    def __init__(
        self, include: Sequence[str], exclude: Sequence[str], extensions: Sequence[str]
    ) -> None:
        self.globs = [Glob.parse(p) for p in include]
        self.excludes = [glob_regex(os.path.expanduser(p)) for p in exclude]
        self.extensions = tuple("." + e for e in extensions if e)
        self.dirs_walked = 0

    def excluded(self, path: str) -> bool:
        if self.extensions and path.endswith(self.extensions):
            return True
        return any(r.match(path) for r in self.excludes)

    def scan(self) -> list[str]:
        """Every regular file matching an include and no exclude, sorted."""
        found: set[str] = set()
        for g in self.globs:
            for path in self._walk(g.root, g.depth):
                if g.regex.match(path) and not self.excluded(path):
                    found.add(path)
        return sorted(found)

    def _walk(self, root: str, depth: int | None) -> Iterator[str]:
        stack = [(root, 0)]
        while stack:
            folder, level = stack.pop()
            self.dirs_walked += 1
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if depth is None or level + 1 < depth:
                            stack.append((entry.path, level + 1))
                    elif entry.is_file():
                        yield entry.path
                except OSError:
                    continue
