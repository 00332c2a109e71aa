# LiveAvatar (HeyGen's successor): an avatar provider, its avatar id, and its voices.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("avatars", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="avatar",
            name="liveavatar_avatar_id",
            field=models.CharField(
                blank=True, help_text="LiveAvatar avatar id (a UUID)", max_length=200
            ),
        ),
        migrations.AlterField(
            model_name="avatar",
            name="provider",
            field=models.CharField(
                choices=[
                    ("did_talks", "D-ID Talks stream (photo)"),
                    ("did_clips", "D-ID Clips stream (presenter)"),
                    ("did_agents", "D-ID Agents stream"),
                    ("heygen", "HeyGen Streaming Avatar"),
                    ("liveavatar", "LiveAvatar (HeyGen's successor)"),
                ],
                default="did_talks",
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="voice",
            name="provider",
            field=models.CharField(
                choices=[
                    ("microsoft", "Microsoft (D-ID)"),
                    ("elevenlabs", "ElevenLabs (D-ID)"),
                    ("heygen", "HeyGen"),
                    ("liveavatar", "LiveAvatar (FULL mode)"),
                    ("local", "Local engine (Piper)"),
                ],
                default="local",
                max_length=20,
            ),
        ),
    ]
