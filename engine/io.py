"""Reading input tables (CSV, Parquet, Arrow IPC by extension) and writing results atomically.

Every read failure a user can cause becomes an InputError naming the file.
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from engine.errors import InputError

# Columns read as text whatever they look like: ids that are all digits stay ids.
# Read once at import: reading the umask means setting it, which is not safe under threads.
_UMASK = os.umask(0o022)
os.umask(_UMASK)

TEXT_COLUMNS = (
    "account_id",
    "name",
    "region",
    "segment",
    "current_rep",
    "barred_reps",
    "rep_id",
    "skills",
    "regions",
    "status",
)
FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
}


def table_format(path: str | Path) -> str:
    """Return 'csv', 'parquet' or 'arrow' from the file extension, or raise InputError."""
    ext = Path(path).suffix.lower()
    if ext not in FORMATS:
        raise InputError(
            str(path), None, f"unknown file type '{ext}' (use .csv, .parquet or .arrow)"
        )
    return FORMATS[ext]


def read_table(path: str | Path) -> pa.Table:
    """Read one input table; the format follows the extension.

    Raises
    ------
    InputError
        The file is missing, empty, not in its format, or not UTF-8 text.
    """
    path = Path(path)
    fmt = table_format(path)
    if not path.is_file():
        raise InputError(str(path), None, "file not found")
    if path.stat().st_size == 0:
        raise InputError(str(path), None, "file is empty")
    try:
        if fmt == "csv":
            table = _read_csv(path)
        elif fmt == "parquet":
            table = pq.read_table(path)
        else:
            table = _read_ipc(path)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OSError) as exc:
        raise InputError(
            str(path), None, f"could not be read as {fmt}: {_first_line(exc)}"
        ) from None
    except UnicodeDecodeError:
        raise InputError(str(path), None, "is not UTF-8 text") from None
    check_unique_columns(table, str(path))
    return table


def check_unique_columns(table: pa.Table, source: str) -> None:
    """Refuse a table with two columns of one name: which of them is meant is unknowable."""
    names = table.column_names
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        counts = ", ".join(f"'{n}' ({names.count(n)} times)" for n in repeated)
        raise InputError(
            source,
            None,
            f"the header repeats column name(s) {counts}: each column name must be unique",
        )


def _read_csv(path: Path) -> pa.Table:
    with open(path, "rb") as f:
        header = f.readline()
    try:
        names = next(csv.reader([header.decode("utf-8").lstrip("\ufeff")]), [])
    except UnicodeDecodeError:
        raise InputError(str(path), None, "the header is not UTF-8 text") from None
    column_types = {n.strip(): pa.string() for n in names if n.strip() in TEXT_COLUMNS}
    return pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(column_types=column_types, strings_can_be_null=False),
    )


def _read_ipc(path: Path) -> pa.Table:
    try:
        with ipc.open_file(path) as reader:
            return reader.read_all()
    except pa.ArrowInvalid:
        with ipc.open_stream(path) as reader:
            return reader.read_all()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def write_table_atomic(table: pa.Table, path: str | Path, compression: str = "zstd") -> Path:
    """Write an Arrow IPC file: a temporary file beside it, then a rename."""
    path = Path(path)
    options = ipc.IpcWriteOptions(compression=compression)

    def write(tmp: Path) -> None:
        with ipc.new_file(tmp, table.schema, options=options) as writer:
            writer.write_table(table)

    return write_atomic(path, write)


def write_atomic(path: str | Path, write) -> Path:
    """Call write(tmp_path) and rename the result onto `path`; nothing is left half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); results get the usual mode for new files.
    os.chmod(tmp, 0o666 & ~_UMASK)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write a text file atomically."""
    return write_atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def read_arrow(path: str | Path) -> pa.Table:
    """Read an Arrow IPC result file, with a clear error if it is missing or not Arrow."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), None, "file not found")
    try:
        return _read_ipc(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(str(path), None, f"is not an Arrow IPC file: {_first_line(exc)}") from None


def rows_where(mask: np.ndarray) -> list[int]:
    """1-based data-row numbers where mask is true (header excluded)."""
    return (np.flatnonzero(mask) + 1).tolist()
