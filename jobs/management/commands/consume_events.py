"""`manage.py consume_events`: consume our RabbitMQ queue and run the handlers of each context's
events.py; with EVENTS_RELAY on (the default) also relay the outbox to RabbitMQ.

SIGTERM or Ctrl-C stops it gracefully: the message being handled finishes and is acknowledged,
the prefetched rest goes back to the queue. The Procfile runs it as `events:`.
"""

import signal
from dataclasses import replace

from django.core.management.base import BaseCommand

from jobs.events import registry
from jobs.events.config import config
from jobs.events.consumer import Consumer
from jobs.events.topology import CONNECTION_ERRORS, connect


class Command(BaseCommand):
    help = "Consumes domain events from RabbitMQ (and relays the outbox): docs/events.md."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-relay", action="store_true", help="Do not relay the outbox from this process."
        )
        parser.add_argument(
            "--check", action="store_true", help="Print the queue, its bindings and handlers, then exit."
        )
        parser.add_argument(
            "--ping",
            action="store_true",
            help="Exit 0 when RabbitMQ answers at AMQP_URL, 1 otherwise (make run uses it).",
        )

    def handle(self, *args, **options):
        cfg = config()
        if options["ping"]:
            try:
                connect(replace(cfg, connect_timeout=min(cfg.connect_timeout, 2.0))).release()
            except CONNECTION_ERRORS as exc:
                self.stderr.write(f"RabbitMQ does not answer at {cfg.amqp_url.rsplit('@', 1)[-1]}: {exc}")
                raise SystemExit(1) from None
            self.stdout.write(f"RabbitMQ answers at {cfg.amqp_url.rsplit('@', 1)[-1]}")
            return
        if options["check"]:
            self.stdout.write(
                f"exchange {cfg.exchange} (topic), queue {cfg.queue}, dead letters {cfg.dead_letter_queue}"
            )
            for event_type in registry.declared_types():
                names = ", ".join(h.name for h in registry.handlers_for(event_type))
                self.stdout.write(f"  {event_type}: {names}")
            return
        consumer = Consumer(cfg, relay=False if options["no_relay"] else None)
        signal.signal(signal.SIGTERM, consumer.stop)
        signal.signal(signal.SIGINT, consumer.stop)
        consumer.run()
