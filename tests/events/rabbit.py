"""Test helpers over the real RabbitMQ: unique names per test, publishing raw messages,
reading queues, and a TCP proxy that can be stopped to simulate an outage (the machine's
RabbitMQ is never stopped)."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime

import amqp
import kombu

from tests.support.cluster import ARTIFACTS, ROOT, database_url

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def reachable(url: str = AMQP_URL) -> str | None:
    """None when RabbitMQ answers, else why not."""
    try:
        with kombu.Connection(url, connect_timeout=2) as connection:
            connection.connect()
    except Exception as exc:  # noqa: BLE001 (any failure means: not reachable)
        return f"{type(exc).__name__}: {exc}"
    return None


def unique_names() -> dict:
    tag = uuid.uuid4().hex[:10]
    return {"EXCHANGE": f"test.{tag}.events", "QUEUE": f"test.{tag}.jobs"}


def delete_names(names: dict, url: str = AMQP_URL) -> None:
    with contextlib.suppress(Exception), kombu.Connection(url, connect_timeout=2) as connection:
        channel = connection.channel()
        for queue in (names["QUEUE"], names["QUEUE"] + ".dead"):
            with contextlib.suppress(Exception):
                channel.queue_delete(queue)
        with contextlib.suppress(Exception):
            channel.exchange_delete(names["EXCHANGE"])


def envelope(event_type: str, data: dict, *, id: str | None = None, source: str = "dhanman-sales") -> dict:
    return {
        "id": id or str(uuid.uuid4()),
        "type": event_type,
        "occurred_at": datetime.now(UTC).isoformat(),
        "data": data,
        "source": source,
    }


class Rabbit:
    """One connection for a test: send to the exchange, count and read queues."""

    def __init__(self, names: dict, url: str = AMQP_URL):
        self.names = names
        parsed = kombu.Connection(url)
        self.connection = amqp.Connection(
            f"{parsed.hostname}:{parsed.port or 5672}",
            userid=parsed.userid,
            password=parsed.password,
            virtual_host=parsed.virtual_host,
            confirm_publish=True,
        )
        self.connection.connect()
        self.channel = self.connection.channel()

    @property
    def queue(self) -> str:
        return self.names["QUEUE"]

    @property
    def dead(self) -> str:
        return self.names["QUEUE"] + ".dead"

    def declare(self, bindings=()):
        """What the consumer declares, so that messages sent before it starts are kept."""
        self.channel.exchange_declare(self.names["EXCHANGE"], "topic", durable=True, auto_delete=False)
        for queue in (self.queue, self.dead):
            self.channel.queue_declare(queue, durable=True, auto_delete=False)
        from jobs.events import registry

        for key in [*registry.declared_types(), *bindings]:
            self.channel.queue_bind(self.queue, self.names["EXCHANGE"], key)

    def send(self, body, routing_key: str | None = None, headers: dict | None = None):
        if isinstance(body, dict):
            routing_key = routing_key or body.get("type")
            body = json.dumps(body).encode()
        message = amqp.Message(
            body if isinstance(body, bytes) else body.encode(),
            content_type="application/json",
            delivery_mode=2,
            application_headers=headers or {},
        )
        self.channel.basic_publish(message, exchange=self.names["EXCHANGE"], routing_key=routing_key)

    def send_many(self, documents: list[dict]):
        """Many envelopes at once, confirmed by RabbitMQ in one round trip."""
        from jobs.events.config import config
        from jobs.events.publisher import ConfirmingPublisher, Outgoing

        publisher = ConfirmingPublisher(config())
        try:
            confirmed = publisher.publish_many(
                [
                    Outgoing(
                        body=json.dumps(d).encode(), exchange=self.names["EXCHANGE"], routing_key=d["type"]
                    )
                    for d in documents
                ]
            )
        finally:
            publisher.close()
        assert all(confirmed)

    def depth(self, queue: str) -> int:
        return self.channel.queue_declare(queue, passive=True).message_count

    def take_all(self, queue: str) -> list:
        taken = []
        while (message := self.channel.basic_get(queue, no_ack=True)) is not None:
            taken.append(message)
        return taken

    def bind_probe(self, routing_key: str = "#") -> str:
        """A queue of our own on the exchange, to see what reaches it."""
        name = f"{self.names['QUEUE']}.probe.{uuid.uuid4().hex[:6]}"
        self.channel.exchange_declare(self.names["EXCHANGE"], "topic", durable=True, auto_delete=False)
        self.channel.queue_declare(name, durable=False, auto_delete=False, exclusive=False)
        self.channel.queue_bind(name, self.names["EXCHANGE"], routing_key)
        return name

    def close(self):
        with contextlib.suppress(Exception):
            self.connection.close()


class TcpProxy:
    """127.0.0.1:<free port> → RabbitMQ. `stop()` closes the listener and every connection
    through it (an outage as the clients see it); `start()` serves the same port again."""

    def __init__(self, target=("127.0.0.1", 5672)):
        self.target = target
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._server = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def start(self):
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()
        return self

    def _accept(self, server):
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    s.close()

    def stop(self):
        if self._server is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would leave the
            # port listening until that accept returns.
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()


class ConsumerProcess:
    """A real `manage.py consume_events` against the test database."""

    def __init__(self, names: dict, env: dict | None = None, url: str = AMQP_URL):
        ARTIFACTS.mkdir(exist_ok=True)
        self.log_path = ARTIFACTS / f"consume-events-{os.getpid()}-{uuid.uuid4().hex[:6]}.log"
        full = os.environ.copy()
        full.update(
            {
                "DATABASE_URL": database_url(),
                "DHANMAN_TEST_APPS": "1",
                "CONN_MAX_AGE": "0",
                "PYTHONUNBUFFERED": "1",
                "DEBUG": "False",
                "SECRET_KEY": "test-events-only-" + "x" * 40,
                "AMQP_URL": url,
                "EVENTS_EXCHANGE": names["EXCHANGE"],
                "EVENTS_QUEUE": names["QUEUE"],
                "EVENTS_HEARTBEAT_INTERVAL": "0.5",
                "EVENTS_RECONNECT_MAX_DELAY": "1",
                "EVENTS_RELAY_POLL_INTERVAL": "0.1",
                "EVENTS_CONNECT_TIMEOUT": "2",
            }
        )
        full.update({k: str(v) for k, v in (env or {}).items()})
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed with the process)
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "consume_events"],
            cwd=ROOT,
            env=full,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self):
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait(10)

    def terminate(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05, message: str = "", log=None):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n--- consumer log ---\n{log()[-4000:]}" if log else ""
            raise AssertionError(f"Timed out after {timeout} s waiting for {message or predicate}{extra}")
        time.sleep(interval)


def dead_letter(reason: str = "a test dead letter") -> str:
    """Put a dead letter, as the consumer writes one, in the configured dead-letter queue."""
    from jobs.events.config import config
    from jobs.events.publisher import ConfirmingPublisher, Outgoing

    cfg = config()
    letter_id = uuid.uuid4().hex
    publisher = ConfirmingPublisher(cfg)
    try:
        publisher.channel.queue_declare(cfg.dead_letter_queue, durable=True, auto_delete=False)
        publisher.channel.queue_declare(cfg.queue, durable=True, auto_delete=False)
        body = json.dumps(envelope("tests.probe", {"key": letter_id})).encode()
        publisher.publish(
            Outgoing(
                body=body,
                exchange="",
                routing_key=cfg.dead_letter_queue,
                type="tests.probe",
                headers={
                    "x-dhanman-dead-letter-id": letter_id,
                    "x-dhanman-reason": reason,
                    "x-dhanman-deliveries": 5,
                },
            )
        )
    finally:
        publisher.close()
    return letter_id


def queued_replay_of(letter_id: str) -> bool:
    """Whether our queue holds the replay of that dead letter (looked at, left in place)."""
    from jobs.events.config import config

    cfg = config()
    with kombu.Connection(cfg.amqp_url, connect_timeout=2) as connection:
        channel = connection.channel()
        found = False
        while (message := channel.basic_get(cfg.queue, no_ack=False)) is not None:
            if (message.headers or {}).get("x-dhanman-replayed-from") == letter_id:
                found = True
        return found  # closing the channel returns every message unacknowledged
