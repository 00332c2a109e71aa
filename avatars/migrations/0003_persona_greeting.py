from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("avatars", "0002_liveavatar"),
    ]

    operations = [
        migrations.AddField(
            model_name="persona",
            name="greeting",
            field=models.CharField(
                blank=True,
                help_text="The welcome line the avatar says when asked to greet",
                max_length=500,
            ),
        ),
    ]
