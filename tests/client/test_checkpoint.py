"""The checkpoint file: round trips, atomic replacement, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehose.client import FileCheckpoint, MemoryCheckpoint
from lakehose.client.streams.checkpoint import Checkpoint, as_checkpoint
from lakehose.errors import ConfigError


def test_a_missing_file_holds_no_offsets(tmp_path: Path) -> None:
    assert FileCheckpoint(tmp_path / "none.json").load() == {}


def test_offsets_round_trip_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    checkpoint = FileCheckpoint(path)
    checkpoint.save({1: 7, 0: 41})
    checkpoint.save({0: 42, 1: 7})
    assert FileCheckpoint(path).load() == {0: 42, 1: 7}
    assert [p.name for p in tmp_path.iterdir()] == ["cp.json"]
    assert '"offsets"' in path.read_text()


@pytest.mark.parametrize(
    "text", ["{", '{"offsets": {"0": -1}}', '{"offsets": {"x": 1}}', "[]", '{"offsets": 3}']
)
def test_a_file_that_is_not_a_checkpoint_is_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "cp.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match="not a lakehose checkpoint"):
        FileCheckpoint(path).load()


def test_an_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be written"):
        FileCheckpoint(tmp_path / "missing-dir" / "cp.json").save({0: 1})


def test_paths_objects_and_none_become_checkpoints(tmp_path: Path) -> None:
    assert isinstance(as_checkpoint(str(tmp_path / "a.json")), FileCheckpoint)
    assert isinstance(as_checkpoint(tmp_path / "a.json"), FileCheckpoint)
    assert isinstance(as_checkpoint(None), MemoryCheckpoint)
    memory = MemoryCheckpoint({0: 1})
    assert as_checkpoint(memory) is memory
    assert isinstance(memory, Checkpoint)
    with pytest.raises(ConfigError):
        as_checkpoint(42)  # type: ignore[arg-type]
