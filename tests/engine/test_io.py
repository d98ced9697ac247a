"""Atomic writes: all or nothing, and the usual file mode."""

from __future__ import annotations

import os
import stat

import pytest

from engine.io import write_atomic, write_text_atomic


def test_atomic_write_gets_the_mode_of_a_new_file(tmp_path):
    umask = os.umask(0o027)
    os.umask(umask)
    path = write_text_atomic(tmp_path / "result.txt", "x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_failed_write_leaves_nothing(tmp_path):
    def fail(tmp):
        tmp.write_text("half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_atomic(tmp_path / "result.txt", fail)
    assert list(tmp_path.iterdir()) == []
