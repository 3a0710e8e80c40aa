"""Alert delivery from the service: open alerts' new events pushed to the rules' webhook.

A background thread looks for open alerts whose current event (raised, escalated) has no successful
delivery, POSTs each with api.webhook.deliver (signed, retried with backoff, idempotency key),
and records the attempt on the stored alert. It runs after every batch (the worker notifies it) and
every `interval` seconds, so a push that failed because the receiver was down is retried later, and
an event already delivered is never sent again — also across restarts, as deliveries are stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from sqlalchemy.orm import Session, sessionmaker

from api.alerts_db import load_state, save_alert
from api.background import BackgroundLoop
from api.tables import AlertRow
from api.webhook import WebhookTarget, deliver, is_delivered
from nlp.alerts import Alert

log = logging.getLogger("kesheng.api")


def pending(alert: Alert) -> bool:
    """True when the alert is open and its current event has not been delivered."""
    return alert.status == "open" and not is_delivered(alert)


class AlertDelivery(BackgroundLoop):
    """Pushes pending alerts to `target` in a background thread (or once, with `deliver_pending`);
    `notify` after a batch raised alerts delivers them at once."""

    thread_name = "kesheng-webhooks"

    def __init__(
        self,
        factory: sessionmaker[Session],
        target: WebhookTarget,
        interval: float = 60.0,
        send: Callable[[Alert, WebhookTarget], Alert] = deliver,
    ) -> None:
        super().__init__(interval)
        self.factory, self.target, self.send = factory, target, send

    def run_once(self) -> bool:
        self.deliver_pending()
        return False  # pushes that failed wait for the next interval

    def deliver_pending(self) -> int:
        """Deliver every pending alert once; returns how many were delivered."""
        delivered = 0
        for alert in pending_alerts(self.factory):
            # The network call runs outside any transaction; only its record is written back.
            sent = self.send(alert, self.target)
            if save_deliveries(self.factory, sent):
                delivered += 1
            else:
                log.warning("webhook delivery of alert %s failed; retried later", alert.id)
        return delivered


def pending_alerts(factory: sessionmaker[Session]) -> list[Alert]:
    """The stored alerts whose current event is still to be delivered."""
    with factory() as session:
        return [a for a in load_state(session).alerts if pending(a)]


def save_deliveries(factory: sessionmaker[Session], sent: Alert) -> bool:
    """Write the delivery records of `sent` onto the alert as stored now (it may have been acknowledged
    while the POST was under way); True when its last delivery succeeded."""
    with factory() as session, session.begin():
        row = session.get(AlertRow, sent.id)
        if row is not None:
            current = Alert.from_dict(row.data)
            save_alert(session, replace(current, deliveries=sent.deliveries))
    return bool(sent.deliveries) and sent.deliveries[-1].status == "delivered"
