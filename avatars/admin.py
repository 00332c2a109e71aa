from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from . import catalog
from .admin_forms import AvatarForm, VoiceForm
from .models import Avatar, Persona, Voice


class _Styles:
    # A stylesheet, not style="" attributes: the Content-Security-Policy allows no inline styles.
    css = {"all": ["avatars/admin.css"]}


@admin.register(Voice)
class VoiceAdmin(admin.ModelAdmin):
    form = VoiceForm
    list_display = ["name", "provider", "voice_id", "language", "style"]
    list_filter = ["provider", "language"]
    search_fields = ["name", "voice_id"]

    def get_urls(self):
        refresh = self.admin_site.admin_view(require_POST(self.refresh_catalog))
        return [
            path("refresh-catalog/", refresh, name="avatars_voice_refresh_catalog"),
            *super().get_urls(),
        ]

    def refresh_catalog(self, request):
        """Forget the cached provider lists (voices, presenters): the next form fetches them."""
        if not self.has_change_permission(request):
            messages.error(request, "You may not refresh the provider lists.")
        else:
            catalog.refresh()
            messages.success(request, "The provider lists will be fetched again.")
        return HttpResponseRedirect(reverse("admin:avatars_voice_changelist"))


@admin.register(Persona)
class PersonaAdmin(admin.ModelAdmin):
    Media = _Styles
    list_display = ["name", "title"]
    search_fields = ["name", "title", "instructions"]
    readonly_fields = ["system_prompt_preview"]
    fieldsets = [
        (None, {"fields": ["name", "title"]}),
        ("Education", {"fields": ["education_degree", "education_year", "education_institution"]}),
        ("Technical", {"fields": ["languages", "web_stack", "projects"]}),
        ("Personality", {"fields": ["style", "interests", "goals", "traits"]}),
        ("Instructions", {"fields": ["instructions", "greeting", "system_prompt_preview"]}),
    ]

    @admin.display(description="System prompt (as the LLM sees it)")
    def system_prompt_preview(self, persona: Persona) -> str:
        if not persona.pk:
            return "Save the persona to see its system prompt."
        return format_html('<pre class="lp-prompt">{}</pre>', persona.system_prompt())


@admin.register(Avatar)
class AvatarAdmin(admin.ModelAdmin):
    Media = _Styles
    form = AvatarForm
    list_display = ["thumbnail", "name", "provider", "language", "voice", "persona", "is_active"]
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
                "description": "Talks: a photo. Clips: a presenter. Agents: an agent managed "
                "here, or an agent id from D-ID Studio. HeyGen: a streaming avatar name. "
                "LiveAvatar: an avatar id.",
                "fields": [
                    "source_image", "source_url", "preview", "presenter_id", "driver_id",
                    "managed_agent", "agent_id", "reply_mode", "heygen_avatar_name",
                    "liveavatar_avatar_id", "driver_url",
                ],
            },
        ),
        ("Voice, language and persona", {"fields": ["voice", "language", "persona"]}),
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
        return format_html('<img src="{}" alt="" class="lp-thumb">', url)

    @admin.display(description="Preview")
    def preview(self, avatar: Avatar) -> str:
        url = avatar.image_url()
        if not url:
            return "No picture yet."
        return format_html('<img src="{}" alt="" class="lp-preview">', url)


