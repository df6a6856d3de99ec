"""The book's one table formatter: every table a chapter displays goes through :func:`format_table`.

A reader sees no pandas row numbers, numbers with as many digits as they carry (``8,000`` not
``8000.0``, ``2 billion`` not ``2.000000e+09``, ``0.95`` not ``0.951234``), units in the header,
text that wraps instead of being cut, and only the columns the prose talks about. The result is an
HTML object (:class:`Table`) that Jupyter and MyST-NB render; when its container is narrower than
the table needs (a phone), each row turns into a card of ``label: value`` lines, so no column is
ever off-screen.

Example (in a notebook cell)::

    from clipbias.viz import format_table
    format_table(result.models, columns=["model", "size", "accuracy"],
                 units={"size": "images"}, percent=["accuracy"],
                 labels={"size": "training set"})
"""

from __future__ import annotations

import hashlib
import html
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["MISSING", "Table", "format_number", "format_table"]

#: What a missing value (``None``, ``NaN``, ``pd.NA``) shows as.
MISSING = "–"
_MINUS = "−"  # U+2212, the typographic minus
_COMPACT = ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"))
_CH_PER_EM = 1.9  # about how many characters of body text fit in 1em (used for the card breakpoint)
_TEXT_MIN_CH = 14  # a wrapping text column needs about this many characters of width
_CELL_PAD_CH = 3


@dataclass(frozen=True)
class Table:
    """A formatted table: ``cells`` (one string per cell, header = shown labels) and its ``html``.

    Jupyter, MyST-NB and ``myst_nb.glue`` display it through :meth:`_repr_html_`; ``repr`` gives
    the same cells as plain text.
    """

    cells: pd.DataFrame
    html: str

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        if self.cells.empty:
            return "(no rows)"
        return self.cells.to_string(index=False)


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _minus(text: str) -> str:
    return text.replace("-", _MINUS) if text.startswith("-") else text


def _compact(value: float, digits: int) -> str | None:
    """``2 billion``, ``12.8 million``: ``value`` in words when ``|value| >= 1e6``, else None."""
    for scale, word in _COMPACT:
        if abs(value) >= scale:
            return _minus(f"{value / scale:.{digits}g} {word}")
    return None


def format_number(value: float, *, decimals: int | None = None, digits: int = 3) -> str:
    """One number as the book shows it.

    Whole numbers get thousands separators (``8000.0 -> "8,000"``) and millions and more are
    written in words with ``digits`` significant digits (``2e9 -> "2 billion"``); otherwise the
    number has ``decimals`` places when given, else ``digits`` significant digits
    (``0.951234 -> "0.951"``). Negative numbers carry a typographic minus; missing values show
    as :data:`MISSING`.
    """
    if _is_missing(value):
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    value = float(value)
    if math.isinf(value):
        return _minus("-∞" if value < 0 else "∞")
    compact = _compact(value, digits)
    if compact is not None:
        return compact
    if value.is_integer() and (decimals is None or decimals == 0):
        return _minus(f"{int(value):,}")
    if decimals is not None:
        return _minus(f"{value:,.{decimals}f}")
    if abs(value) >= 10.0 ** (digits - 1):
        return _minus(f"{value:,.0f}")
    return _minus(f"{value:,.{digits}g}") if abs(value) >= 1e-4 else _scientific(value, digits)


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _scientific(value: float, digits: int) -> str:
    """``1.2×10⁻⁵``: a tiny number with ``digits`` significant digits."""
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    return _minus(f"{mantissa}×10{str(int(exponent)).translate(_SUPERSCRIPT)}")


def _column_decimals(values: pd.Series, digits: int) -> int | None:
    """Decimal places that give the column's largest number ``digits`` significant digits, or
    fewer when every value is exact with fewer.

    None when one number of places does not fit the column: its nonzero values span so many
    magnitudes that the smallest would print as zero (each value then gets ``digits``
    significant digits of its own).
    """
    finite = values[np.isfinite(values)]
    nonzero = finite[finite != 0].abs()
    if nonzero.empty:
        return 0
    places = min(max(0, digits - 1 - math.floor(math.log10(nonzero.max()))), 12)
    if nonzero.min() < 0.5 * 10.0 ** -places:
        return None
    # no trailing zeros that every value shares: 0.1 and 0.5 show as such, not 0.100 and 0.500
    tolerance = 1e-9 * float(nonzero.max())
    for fewer in range(places):
        if np.all(np.abs(finite - finite.round(fewer)) <= tolerance):
            return fewer
    return places


def _text(value: object) -> str:
    """Text for a non-numeric cell: mappings as ``key: value; ...``, sequences comma-joined."""
    if _is_missing(value):
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, numbers.Real):
        return format_number(value)
    return str(value)


def _numeric(series: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)) or (
        series.dtype == object
        and series.map(lambda v: _is_missing(v) or (isinstance(v, numbers.Real)
                                                    and not isinstance(v, bool | np.bool_))).all()
        and series.map(lambda v: not _is_missing(v)).any()
    )


def _format_column(series: pd.Series, *, decimals: int | None, digits: int) -> list[str]:
    values = pd.to_numeric(series, errors="coerce").astype(float)
    whole = values.dropna()
    if decimals is None and not whole.empty and not (whole[np.isfinite(whole)] % 1).any():
        decimals = 0
    if decimals is None:
        decimals = _column_decimals(values, digits)
    return [format_number(v, decimals=decimals, digits=digits) for v in values]


def _flatten(table: pd.DataFrame) -> pd.DataFrame:
    """No index: a named (or multi-level) index becomes columns, an unnamed one is dropped;
    multi-level column labels are joined with `` · ``."""
    table = table.copy()
    if isinstance(table.columns, pd.MultiIndex):
        table.columns = [" · ".join(str(part) for part in label if str(part))
                         for label in table.columns]
    else:
        table.columns = [str(c) for c in table.columns]
    named = any(name is not None for name in table.index.names)
    return table.reset_index() if named else table.reset_index(drop=True)


def _check_names(names: object, what: str, available: Sequence[str]) -> None:
    missing = [n for n in names if n not in available]
    if missing:
        raise ValueError(f"{what} names column(s) {missing} that the table lacks; it has "
                         f"{list(available)}")


def _header(label: str, unit: str | None) -> str:
    """Header cell HTML: the label (breakable after ``_``, so code-like names can wrap) and the
    unit below it."""
    text = html.escape(label).replace("_", "_<wbr>")
    if unit:
        text += f'<br><span class="cb-unit">({html.escape(unit)})</span>'
    return text


def _min_width_ch(label: str, unit: str | None, cells: list[str], numeric: bool) -> int:
    words = [len(w) for w in label.replace("_", "_ ").split()] + ([len(unit) + 2] if unit else [])
    if numeric:
        body = max((len(c) for c in cells), default=1)
    else:
        longest_word = max((len(w) for c in cells for w in c.split()), default=1)
        body = min(max(longest_word, max((len(c) for c in cells), default=1)), _TEXT_MIN_CH)
    return max([body, *words]) + _CELL_PAD_CH


_CSS = """
<style>
.cb-table{container-type:inline-size;max-width:100%;overflow-x:auto;margin:0.5em 0 1em}
.cb-table table{border-collapse:collapse;font-size:0.9em;width:auto;max-width:100%;margin:0}
.cb-table caption{caption-side:top;text-align:left;font-size:0.95em;padding:0 0 0.4em}
.cb-table th,.cb-table td{padding:0.25em 0.6em;border:none;border-bottom:1px solid #ddd;
  vertical-align:top;text-align:left;white-space:normal;overflow-wrap:break-word;
  max-width:28em}
.cb-table thead th{border-bottom:2px solid #888;font-weight:600;vertical-align:bottom}
.cb-table .cb-num{text-align:right;font-variant-numeric:tabular-nums}
.cb-table td.cb-num{white-space:nowrap}
.cb-table .cb-unit{font-weight:normal;font-size:0.85em;color:#555}
.cb-table .cb-note{font-size:0.85em;color:#555;margin:0.3em 0 0}
.cb-table tbody tr:nth-child(even){background:rgba(127,127,127,0.06)}
</style>
""".strip()


def _card_css(table_id: str, breakpoint_em: float) -> str:
    """Below ``breakpoint_em`` of container width the table's rows turn into labelled cards."""
    t = f"#{table_id}"
    return (f"<style>@container (max-width: {breakpoint_em:.0f}em){{"
            f"{t} table,{t} tbody,{t} tr,{t} td{{display:block;width:100%;max-width:none;"
            f"box-sizing:border-box}}"
            f"{t} thead{{position:absolute;width:1px;height:1px;overflow:hidden;"
            f"clip:rect(0 0 0 0)}}"
            f"{t} tr{{border-bottom:2px solid #888;padding:0.3em 0}}"
            f"{t} td{{border:none;padding:0.1em 0.2em;text-align:left;white-space:normal}}"
            f"{t} td::before{{content:attr(data-label) \": \";font-weight:600}}"
            f"}}</style>")


def format_table(
    table: pd.DataFrame | Mapping[str, object],
    *,
    columns: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
    percent: Sequence[str] = (),
    decimals: Mapping[str, int] | None = None,
    digits: int = 3,
    caption: str = "",
    max_rows: int | None = None,
) -> Table:
    """Format ``table`` for display in the book; returns a :class:`Table` (HTML).

    - ``table``: a DataFrame (shape ``(rows, columns)``), or a mapping shown as two columns
      ``name`` and ``value``. A named index (for example from ``pivot_table``) becomes columns,
      an unnamed one is dropped; multi-level column labels are joined with ``" · "``.
    - ``columns``: the columns to show, in this order (default: all).
    - ``labels``: header text per column (default: the column name).
    - ``units``: unit per column, shown under its header in parentheses.
    - ``percent``: columns of fractions shown as percentages (``x -> 100 x``, unit ``%``).
    - ``decimals``: fixed decimal places per numeric column. Other numeric columns get one number
      of places per column, enough for ``digits`` significant digits of its largest value
      (``places = max(0, digits - 1 - floor(log10 max|x|))``, fewer when all values are exact
      with fewer: ``0.1, 0.5`` not ``0.100, 0.500``); whole-number columns show as
      integers with thousands separators; values of a million or more are written in words.
    - ``max_rows``: show only the first ``max_rows`` rows, with a note of how many there are.

    Booleans show as yes/no, missing values as :data:`MISSING`, mappings and lists as text.
    """
    if isinstance(table, Mapping):
        table = pd.DataFrame({"name": [str(k) for k in table], "value": list(table.values()),
                              }).astype({"value": object})
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"format_table takes a pandas DataFrame or a mapping (got "
                         f"{type(table).__name__}); turn a Series into one with .reset_index()")
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 15:
        raise ValueError(f"digits must be an integer in [1, 15], got {digits!r}")
    if max_rows is not None and (isinstance(max_rows, bool) or not isinstance(max_rows, int)
                                 or max_rows < 1):
        raise ValueError(f"max_rows must be None or an integer >= 1, got {max_rows!r}")
    flat = _flatten(table)
    if flat.columns.duplicated().any():
        raise ValueError(f"the table has duplicate column names "
                         f"{sorted(set(flat.columns[flat.columns.duplicated()]))}; rename them")
    labels, units, decimals = dict(labels or {}), dict(units or {}), dict(decimals or {})
    shown = list(flat.columns) if columns is None else [str(c) for c in columns]
    if isinstance(columns, str):
        raise ValueError("columns must be a list of column names, not one string")
    _check_names(shown, "columns", list(flat.columns))
    if len(set(shown)) != len(shown):
        raise ValueError(f"columns lists a column twice: {shown}")
    for what, names in (("labels", labels), ("units", units), ("percent", percent),
                        ("decimals", decimals)):
        _check_names(names, what, shown)
    for name, places in decimals.items():
        if isinstance(places, bool) or not isinstance(places, int) or not 0 <= places <= 12:
            raise ValueError(f"decimals[{name!r}] must be an integer in [0, 12], got {places!r}")
    n_rows = len(flat)
    body = flat[shown].head(max_rows) if max_rows is not None else flat[shown]

    cells: dict[str, list[str]] = {}
    numeric: dict[str, bool] = {}
    for name in shown:
        series = body[name]
        if name in percent:
            if not _numeric(series):
                raise ValueError(f"percent column {name!r} must hold numbers (fractions)")
            series = pd.to_numeric(series, errors="coerce") * 100.0
            units[name] = "%"
        numeric[name] = _numeric(series)
        if numeric[name]:
            cells[name] = _format_column(series, decimals=decimals.get(name), digits=digits)
        else:
            cells[name] = [_text(v) for v in series]

    heads = [labels.get(name, name) for name in shown]
    shown_cells = pd.DataFrame({head: cells[name] for head, name in zip(heads, shown, strict=True)},
                               columns=heads)
    width_ch = sum(_min_width_ch(labels.get(n, n), units.get(n), cells[n], numeric[n])
                   for n in shown)
    digest = hashlib.sha1(repr((shown, heads, cells, caption)).encode()).hexdigest()[:10]
    table_id = f"cb-table-{digest}"

    parts = [_CSS, _card_css(table_id, width_ch / _CH_PER_EM),
             f'<div class="cb-table" id="{table_id}"><table>']
    if caption:
        parts.append(f"<caption>{html.escape(caption)}</caption>")
    parts.append("<thead><tr>")
    for name in shown:
        cls = ' class="cb-num"' if numeric[name] else ""
        parts.append(f'<th scope="col"{cls}>{_header(labels.get(name, name), units.get(name))}</th>')
    parts.append("</tr></thead><tbody>")
    for i in range(len(body)):
        parts.append("<tr>")
        for name in shown:
            label = labels.get(name, name) + (f" ({units[name]})" if units.get(name) else "")
            cls = ' class="cb-num"' if numeric[name] else ""
            parts.append(f'<td{cls} data-label="{html.escape(label, quote=True)}">'
                         f"{html.escape(cells[name][i])}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table>")
    if not len(body):
        parts.append('<p class="cb-note">(no rows)</p>')
    elif len(body) < n_rows:
        parts.append(f'<p class="cb-note">First {len(body):,} of {n_rows:,} rows.</p>')
    parts.append("</div>")
    return Table(cells=shown_cells, html="".join(parts))
