"""`manage.py consume_events`: consume our RabbitMQ queue and run the handlers of each context's
events.py; with EVENTS_RELAY on (the default) also relay the outbox to RabbitMQ.

SIGTERM or Ctrl-C stops it gracefully: the message being handled finishes and is acknowledged,
the prefetched rest goes back to the queue. The Procfile runs it as `events:`.
"""

import signal

from django.core.management.base import BaseCommand

from jobs.events import registry
from jobs.events.config import config
from jobs.events.consumer import Consumer


class Command(BaseCommand):
    help = "Consumes domain events from RabbitMQ (and relays the outbox): docs/events.md."

    def add_arguments(self, parser):
        parser.add_argument("--no-relay", action="store_true", help="Do not relay the outbox from this process.")
        parser.add_argument("--check", action="store_true", help="Print the queue, its bindings and handlers, then exit.")

    def handle(self, *args, **options):
        cfg = config()
        if options["check"]:
            self.stdout.write(f"exchange {cfg.exchange} (topic), queue {cfg.queue}, dead letters {cfg.dead_letter_queue}")
            for event_type in registry.declared_types():
                names = ", ".join(h.name for h in registry.handlers_for(event_type))
                self.stdout.write(f"  {event_type}: {names}")
            return
        consumer = Consumer(cfg, relay=False if options["no_relay"] else None)
        signal.signal(signal.SIGTERM, consumer.stop)
        signal.signal(signal.SIGINT, consumer.stop)
        consumer.run()
