"""Scale-out on Celery over Redis: the batch work, retraining and webhook pushes of the service run as
tasks in `kesheng worker` processes instead of in the API process (KESHENG_BROKER_URL switches it on).

- `celery_app`: the Celery application (queues, delivery guarantees) behind a small typed face, `Broker`.
- `chunks`: a batch's chunks in the database — planned once, each committed once, the last one seen.
- `tasks`: what each task does (the same steps as the in-process worker, api.worker) and `kesheng worker`.
- `dispatcher`: the API side: queued batches and training jobs handed to the broker, lost work sent again.

Delivery is at least once (acks_late: a task is acknowledged when it has finished, and a lost worker's
task is given to another); results are exactly once, because every write is keyed and conditional:
a chunk's items and its "done" mark commit together under the batch's row lock, so a redelivered chunk
changes nothing, and the chunk whose commit leaves no chunk pending is the one that sends completion.
"""
