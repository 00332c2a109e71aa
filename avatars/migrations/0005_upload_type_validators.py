import avatars.validators
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("avatars", "0004_avatar_managed_agent_reply_mode"),
    ]

    operations = [
        migrations.AlterField(
            model_name="avatar",
            name="source_image",
            field=models.ImageField(blank=True, upload_to="avatars/", validators=[avatars.validators.validate_photo]),
        ),
        migrations.AlterField(
            model_name="avatar",
            name="idle_video",
            field=models.FileField(blank=True, upload_to="avatars/idle/", validators=[avatars.validators.validate_video]),
        ),
        migrations.AlterField(
            model_name="avatar",
            name="poster",
            field=models.ImageField(blank=True, upload_to="avatars/posters/", validators=[avatars.validators.validate_photo]),
        ),
    ]
