"""The debit handler alone, in this process, without MQTT: CPU and wall time per debit, one at
a time and in groups (Dispatcher.batch), time per SQL statement, and optionally a cProfile.

    .venv/bin/python bench/debit_profile.py [--db postgres|sqlite] [--count 300] [--group 25]
                                            [--profile]

What bench/debit.py measures end to end, taken apart: the server's own code on seeded
terminals with requests signed in advance (bench_stack.BenchFleet), the MQTT path left out.
"""

import argparse
import collections
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event  # noqa: E402

from bench.bench_stack import BenchFleet  # noqa: E402


def timed(label: str, groups: list[list[tuple]], dispatcher, profile: bool) -> None:
    handle = dispatcher.batch if len(groups[0]) > 1 else (lambda g: [dispatcher(*g[0])])
    prof = cProfile.Profile() if profile else None
    wall, cpu = time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    answered = sum(1 for group in groups for out in handle(group) if out)
    if prof:
        prof.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label}: {answered} debits, {1000 * cpu / answered:.3f} ms CPU and "
          f"{1000 * wall / answered:.3f} ms wall per debit" + (" (profiled)" if prof else ""))
    if prof:
        pstats.Stats(prof).sort_stats(os.environ.get("PROFILE_SORT", "cumulative")).print_stats(40)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--group", type=int, default=25)
    parser.add_argument("--profile", action="store_true", help="cProfile the one-at-a-time run")
    args = parser.parse_args()
    fleet = BenchFleet("mqtt://127.0.0.1:1", args.db, tempfile.mkdtemp(), args.group,
                       in_process=False)
    if not fleet.available:
        raise SystemExit(fleet.why)
    try:
        rounds = -(-args.count // args.group)  # each round: one request per terminal
        fleet.prepare(1 + 3 * rounds)
        dispatcher, engine = fleet.fleet.dispatcher, fleet.fleet.engine
        streams = [[(item[0], item[1]) for item in s] for s in fleet.streams_by_terminal]

        def rounds_from(first: int) -> list[list[tuple]]:
            return [[s[k] for s in streams[:args.group]] for k in range(first, first + rounds)]

        for item in rounds_from(0)[0]:  # warm up: connections, prepared statements, keys
            dispatcher(*item)
        alone = [item for group in rounds_from(1) for item in group]
        statements = collections.defaultdict(list)

        def before(conn, *_args):
            conn.info["t0"] = time.perf_counter()

        def after(conn, _cursor, statement, *_args):
            statements[" ".join(statement.split()[:4])[:60]].append(
                time.perf_counter() - conn.info["t0"])

        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        timed("one at a time", [[item] for item in alone], dispatcher, False)
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
        for name, times in statements.items():
            times.sort()
            print(f"  {len(times) / len(alone):.1f}/debit  p50 {1000 * times[len(times) // 2]:.3f}"
                  f" ms  {name}")
        timed(f"groups of {args.group}", rounds_from(1 + rounds), dispatcher, False)
        if args.profile:
            more = [[item] for group in rounds_from(1 + 2 * rounds) for item in group]
            timed("one at a time", more, dispatcher, True)
    finally:
        fleet.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
