"""Generate a large export as partitioned Parquet: one part file per block of accounts.

Each part is the sample generator's output for ``--accounts`` accounts with
its own seed; its ids get the part's prefix (``P0003-A000001``), so the parts
together are one consistent export of ``parts x accounts`` accounts. Reps and
market come from part 0 (the generator always has the same 20 reps).

``--single`` also writes each table as one Parquet file (for the pandas
engine, which reads one file per table).

Run: ``python -m benchmarks.make_partitioned /tmp/dask-big --parts 20``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from repkpi.datasets.generator import generate_sample

_SHARED = ("reps", "market")


def write_part(out: Path, index: int, accounts: int) -> dict[str, int]:
    """Write part ``index`` of every table; return its row counts."""
    tables = generate_sample(seed=index, accounts=accounts)
    rows = {}
    for name, frame in tables.items():
        if name in _SHARED:
            if index == 0:
                pq.write_table(pa.Table.from_pandas(frame, preserve_index=False),
                               out / f"{name}.parquet")
            continue
        frame = frame.copy()
        for column in frame.columns:
            if (column.endswith("_id") and column != "rep_id") or column == "renewal_of":
                frame[column] = f"P{index:04d}-" + frame[column]
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False),
                       folder / f"part-{index:04d}.parquet")
        rows[name] = len(frame)
    return rows


def write_single(out: Path, single: Path, parts: int) -> None:
    """Each partitioned table of the first ``parts`` parts as one Parquet file in ``single``."""
    single.mkdir(parents=True, exist_ok=True)
    for folder in sorted(p for p in out.iterdir() if p.is_dir()):
        files = sorted(folder.glob("part-*.parquet"))[:parts]
        pq.write_table(pa.concat_tables(pq.read_table(f) for f in files), single / f"{folder.name}.parquet")
    for name in _SHARED:
        target = single / f"{name}.parquet"
        if not target.exists():
            target.symlink_to((out / f"{name}.parquet").resolve())


def subset(out: Path, target: Path, parts: int) -> None:
    """A folder of links to the first ``parts`` parts of every table."""
    for entry in out.iterdir():
        if entry.is_dir():
            (target / entry.name).mkdir(parents=True, exist_ok=True)
            for file in sorted(entry.glob("part-*.parquet"))[:parts]:
                link = target / entry.name / file.name
                if not link.exists():
                    link.symlink_to(file.resolve())
        elif not (target / entry.name).exists():
            (target / entry.name).symlink_to(entry.resolve())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--parts", type=int, default=20)
    parser.add_argument("--accounts", type=int, default=100_000, help="accounts per part")
    parser.add_argument("--single", type=int, default=0,
                        help="also write the first N parts as one file per table")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for index in range(args.parts):
        if (args.out / "tickets" / f"part-{index:04d}.parquet").exists():
            continue
        started = time.perf_counter()
        rows = write_part(args.out, index, args.accounts)
        print(f"part {index}: {rows} in {time.perf_counter() - started:.1f} s", flush=True)
    if args.single:
        write_single(args.out, args.out.with_name(args.out.name + f"-single{args.single}"),
                     args.single)


if __name__ == "__main__":
    main()
