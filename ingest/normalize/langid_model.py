"""py3langid's model, loaded in milliseconds from a decompressed copy in the cache directory.

py3langid ships its model as an LZMA-compressed NumPy archive; decompressing it costs
about 0.6 s of CPU in every process that detects a language, which was a fifth of a
`newsdigest fetch` round in which 100 of 1,000 feeds changed. The first load writes the
arrays, uncompressed, to ``<cache>/py3langid-<version>-<size>-<mtime>.npz`` (68 MB); later
loads read that file (about 0.05 s). The name changes with the installed model, so an
upgrade never reads a stale copy. The copy is a plain NumPy archive read with
``allow_pickle=False``: nothing in it is executed. When the cache directory cannot be
written, or a copy cannot be read, the model is loaded from py3langid's own file as
before: the cache only ever saves time.

The cache directory is ``$NEWSDIGEST_CACHE_DIR``, else ``$XDG_CACHE_HOME/newsdigest``, else
``~/.cache/newsdigest``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from array import array
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
from py3langid.modelio import load_model

log = logging.getLogger(__name__)

#: Bumped when the layout of the cached archive changes.
_LAYOUT = 1
_TYPECODES = {2: "H", 4: "I", 8: "L"}


def cache_dir() -> Path:
    """Where newsdigest keeps files it can always rebuild (see the module docstring)."""
    explicit = os.environ.get("NEWSDIGEST_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "newsdigest"


def load_identifier(*, norm_probs: bool = True) -> LanguageIdentifier:
    """py3langid's default identifier, from the cached copy when there is a good one."""
    source = MODEL_DIR / MODEL_FILE
    copy = _copy_path(source)
    parts = _read_copy(copy) if copy is not None and copy.exists() else None
    if parts is None:
        parts = load_model(source)
        if copy is not None:
            _write_copy(copy, parts)
    ptc, pc, classes, nextmove, row, output = parts
    return LanguageIdentifier(
        np.asarray(ptc), np.asarray(pc), classes, nextmove, output, norm_probs, tk_row=row
    )


def _copy_path(source: Path) -> Path | None:
    try:
        stat = source.stat()
        version = metadata.version("py3langid")
    except (OSError, metadata.PackageNotFoundError):
        return None
    name = f"py3langid-{version}-{stat.st_size}-{stat.st_mtime_ns}-v{_LAYOUT}.npz"
    return cache_dir() / name


def _read_copy(path: Path) -> tuple[Any, ...] | None:
    try:
        # Opened here: np.load leaves a file it opened itself open when it is no archive.
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as data:
            nextmove = data["nextmove"]
            row = data["row"]
            return (
                data["ptc"],
                data["pc"],
                data["classes"].tolist(),
                _as_array(nextmove),
                _as_array(row),
                data["output"].tolist(),
            )
    except Exception as exc:  # a truncated or foreign file: load the original instead
        log.warning("ignoring the cached language model %s: %s", path, exc)
        return None


def _write_copy(path: Path, parts: tuple[Any, ...]) -> None:
    ptc, pc, classes, nextmove, row, output = parts
    arrays = {
        "ptc": np.asarray(ptc),
        "pc": np.asarray(pc),
        "classes": np.array(classes),
        "nextmove": _as_numpy(nextmove),
        "row": _as_numpy(row),
        "output": np.asarray(output, dtype=np.int64),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: a process that reads it meanwhile (another parse
        # worker, a second daemon) sees the whole file or none.
        fd, tmp = tempfile.mkstemp(prefix=".py3langid-", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.info("cannot keep a decompressed language model in %s: %s", path.parent, exc)


def _as_array(values: np.ndarray[Any, Any]) -> array[int]:
    out = array(_TYPECODES[values.dtype.itemsize])
    out.frombytes(memoryview(values).cast("B"))
    return out


def _as_numpy(values: array[int]) -> np.ndarray[Any, Any]:
    dtype = {"H": np.uint16, "I": np.uint32, "L": np.uint64}[values.typecode]
    return np.frombuffer(values, dtype=dtype)
