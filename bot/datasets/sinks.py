"""The file layouts rows are written to as they are made: JSONL lines and Parquet row groups.

A format declares its columns as ``(name, type)`` pairs with the type names of ``parquet_schema``,
so its Parquet file holds the same keys and values as its JSONL file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from bot.store.records import clean_text

PARQUET_ROW_GROUP = 2048
Columns = tuple[tuple[str, str], ...]  # (name, "str" | "int" | "float" | "bool" | "chat" | ...)


class Sink(Protocol):
    def write(self, row: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def cleaned(value: Any) -> Any:
    """``value`` with U+FFFD removed from every string in it (rows stored before Muse cleaned
    text at the storage boundary may still hold it; no export ever does)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {key: cleaned(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [cleaned(item) for item in value]
    return value


class JsonlSink:
    """One JSON object a line."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("w", encoding="utf-8")

    def write(self, row: dict[str, Any]) -> None:
        self._file.write(json.dumps(cleaned(row), ensure_ascii=False) + "\n")

    def close(self) -> None:
        self._file.close()


class ParquetSink:
    """Rows buffered into row groups of ``PARQUET_ROW_GROUP`` and written as they fill."""

    def __init__(self, path: Path, columns: Columns) -> None:
        import pyarrow.parquet as pq

        self._schema = parquet_schema(columns)
        self._writer = pq.ParquetWriter(path, self._schema, compression="zstd")
        self._rows: list[dict[str, Any]] = []

    def write(self, row: dict[str, Any]) -> None:
        self._rows.append(cleaned(row))
        if len(self._rows) >= PARQUET_ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self._schema))
            self._rows = []

    def close(self) -> None:
        self._flush()
        self._writer.close()


def parquet_schema(columns: Columns) -> Any:
    """The Arrow schema of a format's text rows (the same keys as its JSONL rows)."""
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    chat = pa.list_(message)
    types = {
        "str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
        "chat": chat, "strs": pa.list_(pa.string()),
        "edits": pa.list_(pa.struct([("user", pa.string()), ("text", pa.string()),
                                     ("created_at", pa.string())])),
        "picks": pa.list_(pa.struct([("user", pa.string()), ("source", pa.string()),
                                     ("output_id", pa.int64())])),
    }  # fmt: skip
    return pa.schema([(name, types[kind]) for name, kind in columns])
