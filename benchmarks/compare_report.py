"""Compare two report folders: the same page, scorecard and workbook, cell by cell.

A change made for speed must leave the report as it was. This prints what
differs between two folders written by ``repkpi report`` (or
:func:`repkpi.report.write_report`) on the same data: the text of
``report.html`` (charts left out: their PNG bytes may be encoded
differently), every CSV file, and every cell of ``report.xlsx`` (value,
type, number format, quote prefix), its sheets, column widths and frozen
panes; and the charts' pixels. Exit status 1 when anything differs.

    python -m benchmarks.compare_report /tmp/report-before /tmp/report-after
"""

from __future__ import annotations

import argparse
import difflib
import io
import re
import sys
from pathlib import Path

import openpyxl
from PIL import Image

_IMAGE = re.compile(r'src="data:image/png;base64,[^"]*"')


def workbook_lines(path: Path) -> list[str]:
    """Every sheet, column width, frozen pane and non-empty cell of ``path``, one per line."""
    book = openpyxl.load_workbook(path)
    lines = []
    for sheet in book.worksheets:
        lines.append(f"# {sheet.title} {sheet.dimensions} frozen at {sheet.freeze_panes}")
        lines += [f"width {letter} {d.width}" for letter, d in sorted(sheet.column_dimensions.items())]
        lines += [f"{c.coordinate} {c.value!r} {c.data_type} {c.number_format} {c.quotePrefix}"
                  for row in sheet.iter_rows() for c in row
                  if c.value is not None or c.number_format != "General"]
    return lines


def page_lines(path: Path) -> list[str]:
    """``report.html`` as lines, each chart's image data left out."""
    return _IMAGE.sub('src="…"', path.read_text(encoding="utf-8")).splitlines()


def pixels(path: Path) -> bytes:
    """A PNG's pixels, as RGBA bytes."""
    return Image.open(io.BytesIO(path.read_bytes())).convert("RGBA").tobytes()


def differences(before: Path, after: Path) -> list[str]:
    """What differs between two report folders, as readable lines (none: the same report)."""
    out = []
    names = {p.name for p in before.iterdir()} ^ {p.name for p in after.iterdir()}
    out += [f"only in one folder: {name}" for name in sorted(names)]
    for path in sorted(before.iterdir()):
        other = after / path.name
        if not other.exists():
            continue
        if path.suffix == ".png":
            if pixels(path) != pixels(other):
                out.append(f"{path.name}: other pixels")
            continue
        if path.suffix == ".xlsx":
            a, b = workbook_lines(path), workbook_lines(other)
        elif path.suffix == ".html":
            a, b = page_lines(path), page_lines(other)
        else:
            a = path.read_text(encoding="utf-8").splitlines()
            b = other.read_text(encoding="utf-8").splitlines()
        out += list(difflib.unified_diff(a, b, path.name, other.name, lineterm="", n=0))[:40]
    return out


def main() -> None:
    """Print the differences; exit 1 when there are any."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args()
    found = differences(args.before, args.after)
    print("\n".join(found) if found else "the same report")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
