"""The Celery application, configured from ``TALLYSCAN_*`` settings.

Reliability comes from these settings together with the store:

* ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged
  only after its document is stored; if the pool process dies, the message goes
  back to the queue. If the whole worker dies, Redis hands it out again after
  the visibility timeout, which is longer than the hard time limit so a
  document still running is never given to a second worker.
* ``worker_prefetch_multiplier=1``: a worker holds only the documents it runs.
* time limits per document from settings (soft: the task fails it cleanly as
  ``timeout``; hard: the pool kills the process and the task's failure handler
  records the timeout).
* no Celery result backend: results live in the store.
"""

from __future__ import annotations

from celery import Celery

from tallyscan.pipeline import MAX_TASKS_PER_CHILD
from tallyscan.settings import Settings

TASK_NAME = "tallyscan.process_document"


def configure(app: Celery, settings: Settings) -> None:
    app.conf.update(
        broker_url=settings.broker_url,
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout,
            # Look for messages of vanished workers every few seconds (kombu's
            # default is about every 100 s), so they are handed out again soon
            # after the visibility timeout.
            "unacked_restore_interval": max(1, min(10, settings.broker_visibility_timeout // 4)),
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a worker waits for the broker for ever
        broker_connection_timeout=10,
        result_backend=None,
        task_ignore_result=True,
        task_default_queue=settings.queue,
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_soft_time_limit=settings.soft_time_limit,
        task_time_limit=settings.hard_time_limit,
        task_publish_retry=True,
        task_publish_retry_policy={"max_retries": 3, "interval_start": 0.5, "interval_step": 1,
                                   "interval_max": 2},
        worker_prefetch_multiplier=1,
        worker_max_tasks_per_child=MAX_TASKS_PER_CHILD,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_send_task_events=False,
        worker_enable_remote_control=True,
    )


def make_app(settings: Settings | None = None) -> Celery:
    app = Celery("tallyscan", include=["tallyscan.worker.tasks"])
    configure(app, settings or Settings.from_env())
    return app


app = make_app()
