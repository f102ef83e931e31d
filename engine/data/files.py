"""Reading and writing bars as CSV or Parquet files.

Columns are matched case-insensitively. The time is the first of `timestamp`, `datetime`,
`date`, `time` present (`date` and `time` together are joined), or a first unnamed column
as pandas writes an index. Naive times are wall-clock times in `tz` (default: settings
`data.timezone`); times with an offset and epoch numbers are converted; everything is
stored as UTC. `open, high, low, close` and `volume` are required: a missing volume is an
error rather than zeros, because zero volume would quietly break VWAP and volume filters.
A `symbol` column selects rows (`symbol=` given) or names the series (one symbol only).
Without either, the file's stem is the symbol. Extra columns are ignored.

Every load is validated (bad rows dropped and reported, see `engine.data.validation`).
"""
from __future__ import annotations

from gzip import open as gzip_open
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from engine.data.bar import BarSeries
from engine.data.timestamps import check_timezone, exchange_timezone, parse_timestamps
from engine.data.validation import ValidationReport, validate_bars

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
TIME_COLUMNS = ("timestamp", "datetime", "date", "time")
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")


def file_format(path: str | Path) -> str:
    """'csv' or 'parquet' from the file name; a clear error for anything else."""
    name = Path(path).name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    allowed = ", ".join(CSV_SUFFIXES + PARQUET_SUFFIXES)
    raise ValueError(f"{path}: unknown bar file type; expected a name ending in {allowed}")


def load_bars(path: str | Path, *, symbol: str | None = None, tz: str | None = None) -> tuple[BarSeries, ValidationReport]:
    """Read bars from a CSV or Parquet file, validate them, return (clean series, report)."""
    path = Path(path)
    kind = file_format(path)
    tz = check_timezone(tz or exchange_timezone())
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    frame = _read(path, kind)
    if frame.empty:
        raise ValueError(f"{path}: holds no rows")
    columns = _column_map(frame, path)
    frame, symbol = _select_symbol(frame, columns, symbol, path)
    ts = _timestamps(frame, columns, tz, path)
    values = [_numbers(frame[columns[name]], f"{path}: column '{columns[name]}'") for name in PRICE_COLUMNS]
    phase = _phase(frame[columns["phase"]], path) if "phase" in columns else None
    series = BarSeries(symbol, ts, *values, phase=phase)
    return validate_bars(series, symbol=symbol, tz=tz)


def save_bars(series: BarSeries, path: str | Path) -> Path:
    """Write bars (with `symbol`, and `phase` when present) to CSV or Parquet by extension.

    Timestamps are written in UTC (ISO 8601, nanoseconds only when needed), floats in their
    shortest round-trip form, so `load_bars` gives back identical arrays. The write is atomic.
    """
    path = Path(path)
    kind = file_format(path)
    frame = series.to_frame().reset_index()
    frame.insert(1, "symbol", series.symbol)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if kind == "csv":
        _write_csv(frame, series.ts, tmp, gzip=path.name.lower().endswith(".gz"))
    else:
        frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


def _write_csv(frame: pd.DataFrame, ts: np.ndarray, path: Path, *, gzip: bool) -> None:
    """Arrow's writer: ten times faster than pandas and it prints floats in round-trip form."""
    # ISO times in UTC, to the second unless finer is needed.
    unit = "ns" if np.any(ts % 1_000_000_000) else "s"
    frame = frame.assign(timestamp=np.datetime_as_string(ts.view("datetime64[ns]"), unit=unit, timezone="UTC"))
    with gzip_open(path, "wb", compresslevel=5) if gzip else open(path, "wb") as out:
        out.write((",".join(frame.columns) + "\n").encode())   # arrow would quote the names
        # No quotes: a symbol that needs them (a comma in it) fails loudly instead.
        pa_csv.write_csv(
            pa.Table.from_pandas(frame, preserve_index=False), out,
            write_options=pa_csv.WriteOptions(include_header=False, quoting_style="none"),
        )


def _read(path: Path, kind: str) -> pd.DataFrame:
    try:
        if kind == "csv":
            return pd.read_csv(path)
        frame = pd.read_parquet(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"{path}: cannot read as {kind}: {exc}") from exc
    if isinstance(frame.index, pd.DatetimeIndex) or frame.index.name is not None:
        frame = frame.reset_index()   # a time index written by pandas becomes a column
    return frame


def _column_map(frame: pd.DataFrame, path: Path) -> dict[str, str]:
    """Canonical lower-case name -> the file's own column name."""
    columns: dict[str, str] = {}
    for position, original in enumerate(frame.columns):
        key = str(original).strip().lower()
        if key == "" or key.startswith("unnamed:") or key == "index":
            if position > 0:
                continue   # stray unnamed columns carry nothing we read
            key = ""       # an index written by pandas: the time, if nothing else is
        if key in columns:
            raise ValueError(f"{path}: columns '{columns[key]}' and '{original}' both mean '{key}'")
        columns[key] = str(original)
    missing = [name for name in PRICE_COLUMNS if name not in columns]
    if missing:
        raise ValueError(
            f"{path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)}; "
            f"found {', '.join(repr(str(c)) for c in frame.columns)}"
        )
    return columns


def _timestamps(frame: pd.DataFrame, columns: dict[str, str], tz: str, path: Path) -> np.ndarray:
    if "date" in columns and "time" in columns and "timestamp" not in columns and "datetime" not in columns:
        joined = frame[columns["date"]].astype(str).str.strip() + " " + frame[columns["time"]].astype(str).str.strip()
        return parse_timestamps(joined, tz, f"{path}: columns '{columns['date']}' + '{columns['time']}'")
    for name in (*TIME_COLUMNS, ""):
        if name in columns:
            label = columns[name] or "(unnamed first column)"
            return parse_timestamps(frame[columns[name]], tz, f"{path}: column '{label}'")
    raise ValueError(
        f"{path}: no time column; expected one named {', '.join(TIME_COLUMNS)} or an unnamed first column"
    )


def _numbers(values: pd.Series, where: str) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce")
    unreadable = (numbers.isna() & values.notna()).to_numpy()
    if unreadable.any():
        row = int(np.argmax(unreadable))
        raise ValueError(f"{where}: {values.iloc[row]!r} at data row {row + 1} is not a number")
    return numbers.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)


def _phase(values: pd.Series, path: Path) -> np.ndarray:
    codes = _numbers(values, f"{path}: column 'phase'")
    bad = ~np.isin(codes, (0, 1, 2, 3))
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(f"{path}: column 'phase' holds {float(codes[row])} at data row {row + 1}; expected a regime code 0-3")
    return codes.astype(np.int8)


def _select_symbol(
    frame: pd.DataFrame, columns: dict[str, str], symbol: str | None, path: Path
) -> tuple[pd.DataFrame, str]:
    if "symbol" not in columns:
        return frame, symbol or path.name.split(".")[0]
    names = frame[columns["symbol"]].astype(str).str.strip()
    available = sorted(names.unique())
    if symbol is None:
        if len(available) > 1:
            raise ValueError(f"{path}: holds several symbols ({', '.join(available)}); say which one with symbol=")
        return frame, available[0]
    chosen = names.str.upper() == symbol.strip().upper()
    if not chosen.any():
        raise ValueError(f"{path}: no rows for symbol {symbol!r}; the file holds {', '.join(available)}")
    return frame.loc[chosen.to_numpy()].reset_index(drop=True), symbol.strip()
