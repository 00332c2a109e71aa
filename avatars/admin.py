from django.contrib import admin
from django.utils.html import format_html

from .models import Avatar, Persona, Voice


@admin.register(Voice)
class VoiceAdmin(admin.ModelAdmin):
    list_display = ["name", "provider", "voice_id", "language", "style"]
    list_filter = ["provider", "language"]
    search_fields = ["name", "voice_id"]


@admin.register(Persona)
class PersonaAdmin(admin.ModelAdmin):
    list_display = ["name", "title"]
    search_fields = ["name", "title", "instructions"]
    readonly_fields = ["system_prompt_preview"]
    fieldsets = [
        (None, {"fields": ["name", "title"]}),
        ("Education", {"fields": ["education_degree", "education_year", "education_institution"]}),
        ("Technical", {"fields": ["languages", "web_stack", "projects"]}),
        ("Personality", {"fields": ["style", "interests", "goals", "traits"]}),
        ("Instructions", {"fields": ["instructions", "system_prompt_preview"]}),
    ]

    @admin.display(description="System prompt (as the LLM sees it)")
    def system_prompt_preview(self, persona: Persona) -> str:
        if not persona.pk:
            return "Save the persona to see its system prompt."
        return format_html('<pre style="white-space:pre-wrap">{}</pre>', persona.system_prompt())


@admin.register(Avatar)
class AvatarAdmin(admin.ModelAdmin):
    list_display = ["thumbnail", "name", "provider", "voice", "persona", "is_active"]
    list_display_links = ["thumbnail", "name"]
    list_filter = ["provider", "is_active"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["preview"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "description", "provider", "is_active"]}),
        (
            "Face",
            {
                "description": "Talks: a photo. Clips: a presenter. Agents: an agent id. "
                "HeyGen: a streaming avatar name.",
                "fields": [
                    "source_image", "source_url", "preview", "presenter_id", "driver_id",
                    "agent_id", "heygen_avatar_name", "driver_url",
                ],
            },
        ),
        ("Voice and persona", {"fields": ["voice", "persona"]}),
        (
            "Stream options",
            {
                "fields": [
                    "stream_warmup", "compatibility_mode", "output_resolution", "fluent",
                    "pad_audio", "stitch", "session_timeout",
                ]
            },
        ),
        ("Idle look", {"fields": ["idle_video", "poster"]}),
    ]

    @admin.display(description="")
    def thumbnail(self, avatar: Avatar) -> str:
        url = avatar.image_url()
        if not url:
            return "—"
        return format_html('<img src="{}" alt="" style="height:48px;border-radius:6px">', url)

    @admin.display(description="Preview")
    def preview(self, avatar: Avatar) -> str:
        url = avatar.image_url()
        if not url:
            return "No picture yet."
        return format_html('<img src="{}" alt="" style="max-height:240px;border-radius:8px">', url)


