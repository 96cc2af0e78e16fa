"""`python -m bench [--quick] [--only drain,latency] [--output FILE] [--json FILE] [--keep-db]
[--memory-jobs N] [--drain-jobs N]`

Runs every scenario for both systems in one process, prints the table, and writes it (with the
machine, the versions and the method) to bench/RESULTS.md — or, with --quick, to
var/bench-quick.md, so that the test suite's quick run never overwrites the recorded results.
"""

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

from bench import environment

SCENARIOS = (
    "enqueue",
    "drain",
    "latency",
    "delayed",
    "memory",
    "servers",
    "priority",
    "console",
    "predictions",
    "output",
    "flow",
    "expiry",
)
ROOT = Path(__file__).resolve().parent.parent


def parse(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[1])
    parser.add_argument("--quick", action="store_true", help="toy sizes, one repetition (< 2 minutes)")
    parser.add_argument("--only", default="", help=f"comma-separated scenarios (of {', '.join(SCENARIOS)})")
    parser.add_argument(
        "--output",
        type=Path,
        help="markdown report (default: bench/RESULTS.md for a full run of everything; "
        "var/bench-quick.md or var/bench-partial.md otherwise)",
    )
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--keep-db", action="store_true", help="leave the bench database in place at the end")
    parser.add_argument(
        "--memory-jobs", type=int, help="jobs of the memory scenario (issue 8 asks for 50,000)"
    )
    parser.add_argument("--drain-jobs", type=int, help="jobs of each drain run")
    parser.add_argument(
        "--servers-backlog", type=int, help="backlog of the many-servers scenario (issue 18: 20,000)"
    )
    parser.add_argument(
        "--refresh-findings",
        action="store_true",
        help="only re-copy bench/findings.md into the report (bench/RESULTS.md or --output); no run",
    )
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()] or list(SCENARIOS)
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    args.scenarios = [s for s in SCENARIOS if s in chosen]
    if args.output is None:
        # Only a full run of everything at the recorded sizes replaces bench/RESULTS.md.
        complete = (
            not args.quick
            and args.scenarios == list(SCENARIOS)
            and not (args.memory_jobs or args.drain_jobs or args.servers_backlog)
        )
        args.output = ROOT / (
            "bench/RESULTS.md" if complete else "var/bench-quick.md" if args.quick else "var/bench-partial.md"
        )
    return args


def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.refresh_findings:
        from bench.results import refresh_findings

        refresh_findings(args.output)
        print(f"Findings re-copied into {args.output}")
        return 0
    try:
        url = environment.prepare()
    except Exception as exc:  # no PostgreSQL configured: say so plainly
        print(f"bench: {exc}", file=sys.stderr)
        return 2

    import importlib

    from django.core.management import call_command

    from bench import database, marks, results
    from bench.context import FULL, QUICK, Bench
    from bench.report import text_table
    from bench.systems import SYSTEMS

    database.recreate(url)
    call_command("migrate", verbosity=0)
    SYSTEMS[2].install_schema()
    marks.clear()
    sizes = QUICK if args.quick else FULL
    overrides = {
        "memory_jobs": args.memory_jobs,
        "drain_jobs": args.drain_jobs,
        "servers_backlog": args.servers_backlog,
    }
    sizes = dataclasses.replace(sizes, **{k: v for k, v in overrides.items() if v})
    bench = Bench(sizes, url, quick=args.quick)
    machine = results.machine_facts(bench.conn)
    began = time.time()
    try:
        for name in args.scenarios:
            bench.log(f"scenario {name}")
            module = importlib.import_module(f"bench.scenarios.{name}")
            bench.rows.extend(module.run(bench, SYSTEMS))
    finally:
        from django.db import connection

        connection.close()
        for system in SYSTEMS:
            getattr(system, "close", lambda: None)()
        bench.conn.close()
        if not args.keep_db:
            database.drop(url)
        if environment.owns_marks_dir():
            shutil.rmtree(marks.marks_dir(), ignore_errors=True)
    duration = time.time() - began
    machine["load_after"] = results.load_average()
    table = text_table(bench.rows)
    print(table)
    report = results.markdown(bench, machine, duration, args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    print(f"\nWritten to {args.output} ({duration:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(results.as_json(bench, machine, duration), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
