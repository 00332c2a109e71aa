from django.db import migrations, models


def confirm_past_closes(apps, schema_editor):
    # Streams closed before confirmations existed were closed by the code of their day: do not
    # let the reaper close them all again.
    Conversation = apps.get_model("conversations", "Conversation")
    Conversation.objects.filter(stream_closed_at__isnull=False).exclude(
        provider_stream_id=""
    ).update(stream_close_confirmed_id=models.F("provider_stream_id"))


class Migration(migrations.Migration):

    dependencies = [
        ("conversations", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="stream_close_confirmed_id",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="message",
            name="error",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.RunPython(confirm_past_closes, migrations.RunPython.noop),
    ]
