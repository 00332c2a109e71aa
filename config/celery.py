"""The Celery app: Redis broker, tasks autodiscovered from the Django apps; the reaper and the
stream keep-alive on beat."""

import os

from celery import Celery
from django.conf import settings

from .kombu_redis import guard_collected_transport

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

guard_collected_transport()  # else a Redis restart can stop the worker (see the module)
app = Celery("livepersona")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def schedule_reaper(sender: Celery, **kwargs) -> None:
    sender.add_periodic_task(
        settings.REAPER_INTERVAL, sender.signature("streaming.tasks.reap_idle_sessions"),
        name="reap idle sessions",
    )
    sender.add_periodic_task(
        settings.KEEP_ALIVE_INTERVAL, sender.signature("streaming.tasks.keep_streams_alive"),
        name="keep live provider streams alive",
    )
