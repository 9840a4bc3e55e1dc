"""Atomic CSV / JSON writers (temporary file in the same folder, then ``os.replace``)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyflow.reports import atomic_write_text


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_csv(path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Write ``rows`` (missing keys as empty cells) with header ``columns``."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in columns})
    atomic_write_text(path, buf.getvalue())


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented strict JSON (non-finite floats become null)."""
    atomic_write_text(path, json.dumps(_json_safe(obj), indent=2, allow_nan=False) + "\n")
