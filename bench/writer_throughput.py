"""Request-log writer throughput with rollups on and off: rows per second of `write_request_logs`.

    .venv/bin/python -m bench.writer_throughput [--rows 200000] [--batch 500] [--repeat 3]
        [--database-url postgres://postgres@127.0.0.1:5432/pg_bench_logs]

This is the request-log process's own work per batch (logrows.py): encode, claim the batch id, COPY or
INSERT the raw rows, upsert the hourly and daily rollups, commit. Runs alternate off/on so that load
from elsewhere on the machine falls on both alike; rows are spread over one hour, as a live writer sees
them. Prints a markdown table (rows/s per run, the median). The writer's RSS over 10 M rows:
bench/log_volume.py.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import time

from bench import logdb


def run(rows: int, batch: int, rollups: bool, maker: logdb.RowMaker) -> float:
    # Imported here: the bench sets Django up at run time, before the project's modules load.
    from gateways.common.logrows import write_request_logs

    start_at = datetime.datetime.now(datetime.UTC).replace(minute=0, second=0, microsecond=0)
    batches = [
        [maker.row(start_at + datetime.timedelta(seconds=(i + j) * 3600 / rows)) for j in range(batch)]
        for i in range(0, rows, batch)
    ]
    began = time.perf_counter()
    for rows_of_batch in batches:
        write_request_logs(rows_of_batch, rollups=rollups)
    return rows / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000, help="rows per run")
    parser.add_argument(
        "--batch", type=int, default=500, help="rows per batch (PROMPTGATE_WRITER_BATCH_SIZE)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each mode")
    parser.add_argument("--database-url", help="scratch database (default: a SQLite file in bench/var/)")
    args = parser.parse_args()
    vendor = logdb.setup(args.database_url)
    maker = logdb.RowMaker()
    run(min(args.rows, 5000), args.batch, True, maker)  # warm-up: connections, statement caches
    results: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.repeat):
        for rollups in (False, True):
            results[rollups].append(run(args.rows, args.batch, rollups, maker))
    print(
        f"## Request-log writer throughput ({vendor}, {args.rows:,} rows per run, batches of {args.batch})\n"
    )
    print("| rollups | rows/s per run | median rows/s |")
    print("|---|---|---|")
    for rollups in (False, True):
        runs = ", ".join(f"{r:,.0f}" for r in results[rollups])
        print(f"| {'on' if rollups else 'off'} | {runs} | {statistics.median(results[rollups]):,.0f} |")
    off, on = statistics.median(results[False]), statistics.median(results[True])
    print(f"\nRollups cost {100 * (1 - on / off):.1f}% of the writer's throughput (median against median).")


if __name__ == "__main__":
    main()
