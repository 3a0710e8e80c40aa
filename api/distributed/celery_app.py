"""The Celery application of a scaled-out deployment, behind `Broker`, a small typed face of it.

Celery has no type hints; everything the rest of kesheng does with it goes through `Broker` (send a task
by name, count a queue's waiting messages, run a worker), so the untyped surface stays in this module.

Delivery settings (the reasons are in api.distributed):
- acks_late and reject_on_worker_lost: a task is acknowledged when it returns; a worker process that
  dies mid-task has its message given back at once, a whole worker that is lost (SIGKILL, a machine
  gone) after broker_visibility_timeout (Redis holds unacknowledged messages that long);
- prefetch 1: a worker reserves one message at a time, so a lost worker strands one chunk, not many;
- JSON messages only, no result backend: task outcomes live in the database.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from api.settings import Settings

BATCHES, TRAINING, WEBHOOKS = "batches", "training", "webhooks"
QUEUES = (BATCHES, TRAINING, WEBHOOKS)

PLAN = "kesheng.batch.plan"
CHUNK = "kesheng.batch.chunk"
FINISH = "kesheng.batch.finish"
TRAIN = "kesheng.training.run"
DELIVER = "kesheng.webhook.deliver"
ROUTES = {PLAN: BATCHES, CHUNK: BATCHES, FINISH: BATCHES, TRAIN: TRAINING, DELIVER: WEBHOOKS}


def node_name() -> str:
    """This worker's Celery node name: unique per process, so several workers can share a machine."""
    return f"kesheng-{os.getpid()}@{socket.gethostname()}"


class Broker:
    """The Celery app of `settings.broker_url`, configured for at-least-once delivery."""

    def __init__(self, settings: Settings) -> None:
        from celery import Celery

        app = Celery("kesheng", broker=settings.broker_url, set_as_current=False)
        app.conf.update(
            broker_transport="api.distributed.redis_transport:RedisTransport",
            task_acks_late=True,
            task_reject_on_worker_lost=True,
            worker_prefetch_multiplier=1,
            task_ignore_result=True,
            task_store_errors_even_if_ignored=False,
            task_serializer="json",
            accept_content=["json"],
            task_default_queue=BATCHES,
            task_routes={name: {"queue": queue} for name, queue in ROUTES.items()},
            broker_transport_options={
                "visibility_timeout": settings.broker_visibility_timeout,
                # Look for lost workers' messages every tenth of the timeout (at most every 10 s), and
                # really scan each time: kombu scans on every tenth look by default.
                "unacked_restore_interval": max(1, min(10, int(settings.broker_visibility_timeout / 10))),
                "unacked_restore_throttle": 1,
                # A broker gone without closing the connection must not hang a send for ever.
                "socket_timeout": 30,
                "socket_keepalive": True,
            },
            # A broker that restarts must not end the workers nor fail the API's sends for good.
            broker_connection_retry_on_startup=True,
            broker_connection_max_retries=None,
            task_publish_retry=True,
            task_publish_retry_policy={
                "max_retries": 5,
                "interval_start": 0.2,
                "interval_step": 0.5,
                "interval_max": 2,
            },
            # A running chunk whose ack is lost with the connection is redelivered and finds itself done.
            worker_cancel_long_running_tasks_on_connection_loss=False,
            worker_enable_remote_control=False,
            worker_send_task_events=False,
            worker_hijack_root_logger=False,
            # A pool process loads the model (seconds) before it says it is up.
            worker_proc_alive_timeout=300,
        )
        self.app: Any = app
        self.settings = settings

    def send(self, name: str, *args: int | str) -> None:
        """Queue task `name` with `args` on its queue (ROUTES).

        Celery publishes a direct queue's messages to the default exchange, routing key = queue name, so
        sending needs none of the bindings that Redis keeps as keys of their own (and a broker that lost
        its data loses): what a restarted, emptied broker receives still reaches the queue."""
        self.app.send_task(name, args=list(args), queue=ROUTES[name])

    def waiting(self, queue: str) -> int:
        """Messages waiting in `queue` (not counting those a worker holds)."""
        with self.app.connection_for_write() as connection:
            declared = connection.default_channel.queue_declare(queue=queue, durable=True, auto_delete=False)
            return int(declared.message_count)

    def close(self) -> None:
        """Release the connections to the broker."""
        self.app.close()

    def run_worker(self, queues: tuple[str, ...], concurrency: int) -> int:
        """Run a worker on `queues` with `concurrency` processes until it is stopped; its exit code."""
        worker = self.app.Worker(
            queues=list(queues),
            concurrency=concurrency,
            pool="prefork",
            hostname=node_name(),
            without_gossip=True,
            without_mingle=True,
            without_heartbeat=True,
            optimization="fair",
            loglevel="INFO",
        )
        worker.start()
        return int(worker.exitcode or 0)
