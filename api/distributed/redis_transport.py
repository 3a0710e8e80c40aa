"""The Redis transport of kesheng's workers: kombu's, with one fix for a broker that restarts.

kombu counts a message as held by the worker until its ack reaches Redis. An ack made while the broker
is down fails, and the message stays counted: with prefetch 1 the worker never asks for another and
hangs after the broker comes back (a known kombu behaviour). Here an ack or reject the broker did not
take still frees the worker's slot; the message stays unacknowledged in Redis and is delivered again
after the visibility timeout, where a chunk finds itself done and changes nothing.

Named by the Celery app's `broker_transport` (api.distributed.celery_app), loaded by kombu when a
connection is made: kombu is not imported with the service.
"""

from __future__ import annotations

from kombu.transport import redis, virtual


class QoS(redis.QoS):
    def ack(self, delivery_tag: str) -> None:
        try:
            super().ack(delivery_tag)
        except Exception:
            virtual.QoS.ack(self, delivery_tag)
            raise

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        try:
            super().reject(delivery_tag, requeue)
        except Exception:
            virtual.QoS.ack(self, delivery_tag)
            raise


class Channel(redis.Channel):
    QoS = QoS


class RedisTransport(redis.Transport):
    Channel = Channel
