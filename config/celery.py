"""The Celery app: Redis broker, tasks autodiscovered from the Django apps, the reaper on beat."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("livepersona")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def schedule_reaper(sender: Celery, **kwargs) -> None:
    from django.conf import settings

    sender.add_periodic_task(
        settings.REAPER_INTERVAL, sender.signature("streaming.tasks.reap_idle_sessions"),
        name="reap idle sessions",
    )
