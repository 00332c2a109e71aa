from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("conversations", "0002_stream_close_confirmation_and_reply_errors"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="speculative_final_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
