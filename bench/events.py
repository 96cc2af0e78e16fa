"""`python -m bench.events [--messages N] [--outbox N]`: the domain events' two rates on this
machine, against the real RabbitMQ (AMQP_URL) and PostgreSQL (DATABASE_URL):

- events consumed → jobs created per second: N `sales.invoice_created` messages (each one
  schedules a reminder and enqueues a notification: two Job rows, one ProcessedEvent row, one
  transaction) through one in-process consumer;
- outbox events published per second: N rows written by `publish()`, sent by the relay with
  publisher confirms (batches of EVENTS_RELAY_BATCH, distinct aggregates).

It runs on a database of its own (the test database's name, created and dropped here) and on
exchange and queue names of its own; the result is printed and appended to bench/EVENTS.md.
"""

import argparse
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.events")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--outbox", type=int, default=5000)
    parser.add_argument(
        "--no-record", action="store_true", help="print only; do not append to bench/EVENTS.md"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dhanman.settings")
    # As in production: DEBUG would keep every query in memory and wrap every cursor.
    os.environ.setdefault("DEBUG", "False")
    os.environ.setdefault("SECRET_KEY", "bench-events-only-" + "x" * 40)
    tag = uuid.uuid4().hex[:8]
    os.environ["EVENTS_EXCHANGE"] = f"bench.{tag}.events"
    os.environ["EVENTS_QUEUE"] = f"bench.{tag}.jobs"
    import django

    django.setup()
    from django.db import connection

    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        rows = run(args)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        cleanup()
    report(rows, record=not args.no_record)
    return 0


def run(args) -> list[tuple[str, int, float, str]]:
    import json

    import amqp
    import kombu

    from jobs.events import publish
    from jobs.events.config import config
    from jobs.events.consumer import Consumer
    from jobs.events.publisher import ConfirmingPublisher
    from jobs.events.relay import relay_once
    from jobs.events.topology import connect, declare
    from jobs.models import EventOutbox, Job

    cfg = config()
    rows = []
    # 1. Consumed → jobs created.
    with connect(cfg) as connection:
        declare(connection.channel(), cfg)
    parsed = kombu.Connection(cfg.amqp_url)
    sender = amqp.Connection(
        f"{parsed.hostname}:{parsed.port or 5672}",
        userid=parsed.userid,
        password=parsed.password,
        virtual_host=parsed.virtual_host,
    )
    sender.connect()
    channel = sender.channel()
    due = (datetime.now(UTC) + timedelta(days=20)).isoformat()
    for n in range(args.messages):
        body = json.dumps(
            {
                "id": str(uuid.uuid4()),
                "type": "sales.invoice_created",
                "source": "bench",
                "occurred_at": datetime.now(UTC).isoformat(),
                "data": {"invoice_id": n + 1, "due_at": due},
            }
        )
        channel.basic_publish(
            amqp.Message(body, content_type="application/json", delivery_mode=2),
            exchange=cfg.exchange,
            routing_key="sales.invoice_created",
        )
    sender.close()
    consumer = Consumer(cfg, relay=False)
    started = time.perf_counter()
    consumer.run(idle_exit=1.0)
    elapsed = time.perf_counter() - started - 1.0  # the idle second at the end is not work
    jobs = Job.objects.count()
    assert consumer.counts["consumed"] == args.messages, consumer.counts
    rows.append(
        (
            "events consumed (one transaction each)",
            args.messages,
            elapsed,
            f"{args.messages / elapsed:,.0f} events/s",
        )
    )
    rows.append(("→ jobs created by their handlers", jobs, elapsed, f"{jobs / elapsed:,.0f} jobs/s"))
    # 2. Outbox → RabbitMQ.
    for n in range(args.outbox):
        publish("bench.outbox_probe", {"n": n}, aggregate=f"bench:{n}")
    publisher = ConfirmingPublisher(cfg)
    started = time.perf_counter()
    sent = 0
    while sent < args.outbox:
        sent += relay_once(publisher, cfg)
    elapsed = time.perf_counter() - started
    publisher.close()
    assert not EventOutbox.objects.filter(sent_at__isnull=True).exists()
    rows.append(
        (
            f"outbox events published (confirmed, batches of {cfg.relay_batch})",
            sent,
            elapsed,
            f"{sent / elapsed:,.0f} events/s",
        )
    )
    return rows


def cleanup():
    from jobs.events.config import config

    cfg = config()
    import contextlib

    with contextlib.suppress(Exception), __import__("kombu").Connection(cfg.amqp_url) as connection:
        channel = connection.channel()
        for queue in (cfg.queue, cfg.dead_letter_queue):
            channel.queue_delete(queue)
        channel.exchange_delete(cfg.exchange)


def report(rows, record: bool):
    import platform

    import django

    lines = [
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"Django {django.get_version()}, load average {os.getloadavg()[0]:.1f} at the end",
        "",
        "| measure | count | seconds | rate |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {count:,} | {seconds:.2f} | {rate} |" for name, count, seconds, rate in rows],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if record:
        path = ROOT / "bench" / "EVENTS.md"
        if not path.exists():
            path.write_text(
                "# Domain events: measured rates (`python -m bench.events`)\n\n"
                "Real RabbitMQ and PostgreSQL on this machine; one consumer process, one relay.\n\n"
            )
        with path.open("a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
