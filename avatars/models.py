"""What a user can talk to: an Avatar (face + provider + stream options), its Voice and Persona."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from .languages import DEFAULT_LANGUAGE, validate_language_tag
from .languages import normalize as normalize_language
from .validators import validate_photo, validate_video
from .voices import voice_problem


class Voice(models.Model):
    class Provider(models.TextChoices):
        MICROSOFT = "microsoft", "Microsoft (D-ID)"
        ELEVENLABS = "elevenlabs", "ElevenLabs (D-ID)"
        HEYGEN = "heygen", "HeyGen"
        LIVEAVATAR = "liveavatar", "LiveAvatar (FULL mode)"
        LOCAL = "local", "Local engine (Piper)"

    name = models.CharField(max_length=100)
    provider = models.CharField(max_length=20, choices=Provider.choices, default=Provider.LOCAL)
    voice_id = models.CharField(max_length=200, help_text="e.g. en-US-JennyNeural, or a Piper voice")
    language = models.CharField(max_length=20, default="en-US")
    style = models.CharField(max_length=50, blank=True, help_text="e.g. Cheerful (Microsoft voices)")
    config = models.JSONField(default=dict, blank=True, help_text="Extra provider voice_config")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "voice_id"], name="unique_voice_per_provider")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_provider_display()})"

    def as_did_provider(self) -> dict:
        """The `script.provider` object of a D-ID talk."""
        provider = {"type": self.provider, "voice_id": self.voice_id}
        voice_config = dict(self.config)
        if self.style:
            voice_config.setdefault("style", self.style)
        if voice_config:
            provider["voice_config"] = voice_config
        return provider


class Persona(models.Model):
    """Who the avatar is; the fields of the persona server API plus free instructions."""

    name = models.CharField(max_length=100)
    title = models.CharField(max_length=200, blank=True)
    education_degree = models.CharField(max_length=200, blank=True)
    education_year = models.CharField(max_length=50, blank=True)
    education_institution = models.CharField(max_length=200, blank=True)
    languages = models.JSONField(default=list, blank=True, help_text="Programming languages")
    web_stack = models.JSONField(default=list, blank=True)
    projects = models.JSONField(default=list, blank=True)
    style = models.CharField(max_length=300, blank=True, help_text="Communication style")
    interests = models.JSONField(default=list, blank=True)
    goals = models.JSONField(default=list, blank=True)
    traits = models.JSONField(default=list, blank=True)
    instructions = models.TextField(
        blank=True, help_text="Free instructions appended to the system prompt"
    )
    greeting = models.CharField(
        max_length=500, blank=True, help_text="The welcome line the avatar says when asked to greet"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}, {self.title}" if self.title else self.name

    def system_prompt(self) -> str:
        """The LLM system prompt. Kept short: small local models slow down on long prompts."""
        intro = f"You are {self.name}"
        if self.title:
            intro += f", {self.title}"
        lines = [intro + "."]
        education = ", ".join(
            part
            for part in (self.education_degree, self.education_year, self.education_institution)
            if part
        )
        if education:
            lines.append(f"Education: {education}.")
        for label, values in (
            ("Programming languages", self.languages),
            ("Web stack", self.web_stack),
            ("Projects", self.projects),
            ("Interests", self.interests),
            ("Goals", self.goals),
            ("Traits", self.traits),
        ):
            if values:
                lines.append(f"{label}: {', '.join(str(v) for v in values)}.")
        if self.style:
            lines.append(f"Communication style: {self.style}.")
        lines.append(
            "You are speaking out loud in a live video call: answer in one to three short, "
            "natural spoken sentences, with no lists, markdown or emoji."
        )
        if self.instructions:
            lines.append(self.instructions.strip())
        return "\n".join(lines)

    def as_persona_api(self) -> dict:
        """The persona in the shape of the persona server's GET /persona."""
        return {
            "name": self.name,
            "title": self.title,
            "education": {
                "degree": self.education_degree,
                "year": self.education_year,
                "institution": self.education_institution,
            },
            "technical": {
                "languages": self.languages,
                "webStack": self.web_stack,
                "projects": self.projects,
            },
            "personality": {"style": self.style, "interests": self.interests, "goals": self.goals},
            "traits": self.traits,
        }

    # The persona server's nested names, mapped to our fields.
    API_FIELDS = {
        ("name",): "name",
        ("title",): "title",
        ("education", "degree"): "education_degree",
        ("education", "year"): "education_year",
        ("education", "institution"): "education_institution",
        ("technical", "languages"): "languages",
        ("technical", "webStack"): "web_stack",
        ("technical", "projects"): "projects",
        ("personality", "style"): "style",
        ("personality", "interests"): "interests",
        ("personality", "goals"): "goals",
        ("traits",): "traits",
        ("instructions",): "instructions",
        ("greeting",): "greeting",
    }

    def apply_persona_api(self, data: dict) -> list[str]:
        """Copy what `data` (the persona server's nested shape, possibly partial) holds onto our
        fields; returns the names of the fields it changed. The caller validates and saves."""
        changed = []
        for path, field_name in self.API_FIELDS.items():
            value = data
            for key in path:
                if not isinstance(value, dict) or key not in value:
                    break
                value = value[key]
            else:
                setattr(self, field_name, value)
                changed.append(field_name)
        return changed


class Avatar(models.Model):
    class Provider(models.TextChoices):
        DID_TALKS = "did_talks", "D-ID Talks stream (photo)"
        DID_CLIPS = "did_clips", "D-ID Clips stream (presenter)"
        DID_AGENTS = "did_agents", "D-ID Agents stream"
        HEYGEN = "heygen", "HeyGen Streaming Avatar"
        LIVEAVATAR = "liveavatar", "LiveAvatar (HeyGen's successor)"

    class ReplyMode(models.TextChoices):
        AGENT = "agent", "The agent's own LLM and knowledge (D-ID Agents)"
        PERSONA = "persona", "Our LLM with the persona"

    class Codec(models.TextChoices):
        AUTO = "auto", "Auto"
        ON = "on", "On (VP8)"
        OFF = "off", "Off (H264)"

    name = models.CharField(max_length=100)
    slug = models.SlugField(unique=True)
    description = models.CharField(max_length=300, blank=True)
    provider = models.CharField(max_length=20, choices=Provider.choices, default=Provider.DID_TALKS)
    source_image = models.ImageField(upload_to="avatars/", blank=True, validators=[validate_photo])
    source_url = models.URLField(blank=True, help_text="Used when no image is uploaded")
    presenter_id = models.CharField(max_length=200, blank=True, help_text="D-ID Clips presenter")
    driver_id = models.CharField(max_length=200, blank=True, help_text="D-ID Clips driver")
    agent_id = models.CharField(
        max_length=200, blank=True,
        help_text="D-ID agent id (one made in D-ID Studio), or filled in from the agent below",
    )
    managed_agent = models.ForeignKey(
        "agents.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="avatars",
        help_text="An agent managed here; its D-ID id is filled in once it is synced",
    )
    reply_mode = models.CharField(
        max_length=10, choices=ReplyMode.choices, default=ReplyMode.AGENT,
        help_text="D-ID Agents avatars only: who writes the answers",
    )
    heygen_avatar_name = models.CharField(max_length=200, blank=True)
    liveavatar_avatar_id = models.CharField(
        max_length=200, blank=True, help_text="LiveAvatar avatar id (a UUID)"
    )
    driver_url = models.CharField(max_length=300, blank=True, help_text="e.g. bank://lively")
    voice = models.ForeignKey(Voice, null=True, blank=True, on_delete=models.SET_NULL)
    language = models.CharField(
        max_length=35,
        default=DEFAULT_LANGUAGE,
        validators=[validate_language_tag],
        help_text="BCP-47 tag (e.g. en-US, ja-JP): speech recognition, voices and answers",
    )
    persona = models.ForeignKey(Persona, null=True, blank=True, on_delete=models.SET_NULL)
    # D-ID stream options (see the /talks/streams reference)
    stream_warmup = models.BooleanField(default=True)
    compatibility_mode = models.CharField(max_length=4, choices=Codec.choices, default=Codec.ON)
    output_resolution = models.PositiveIntegerField(
        null=True, blank=True, help_text="Max width/height of the video, up to 1080"
    )
    fluent = models.BooleanField(default=False)
    pad_audio = models.FloatField(default=0.0)
    stitch = models.BooleanField(default=True)
    session_timeout = models.PositiveIntegerField(
        default=300, help_text="Seconds without a message before the stream ends (≤ 300)"
    )
    idle_video = models.FileField(upload_to="avatars/idle/", blank=True, validators=[validate_video])
    poster = models.ImageField(upload_to="avatars/posters/", blank=True, validators=[validate_photo])
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("frontend:talk", args=[self.slug])

    def clean(self) -> None:
        errors: dict[str, str] = {}
        required = {
            self.Provider.DID_CLIPS: ("presenter_id", "a D-ID presenter id"),
            self.Provider.DID_AGENTS: ("agent_id", "a D-ID agent id"),
            self.Provider.HEYGEN: ("heygen_avatar_name", "a HeyGen avatar name"),
            self.Provider.LIVEAVATAR: ("liveavatar_avatar_id", "a LiveAvatar avatar id"),
        }
        if self.managed_agent is not None and self.managed_agent.did_agent_id:
            self.agent_id = self.managed_agent.did_agent_id
        if self.provider == self.Provider.DID_AGENTS and self.managed_agent is not None:
            pass  # the agent's D-ID id arrives with its first sync
        elif self.provider == self.Provider.DID_TALKS:
            if not self.source_image and not self.source_url:
                errors["source_image"] = "A D-ID Talks avatar needs a photo (upload or source URL)."
        elif self.provider in required:
            field, what = required[self.provider]
            if not getattr(self, field):
                errors[field] = f"A {self.get_provider_display()} avatar needs {what}."
        if self.output_resolution is not None and not 0 < self.output_resolution <= 1080:
            errors["output_resolution"] = "Output resolution must be between 1 and 1080."
        if not 0 < self.session_timeout <= 300:
            errors["session_timeout"] = "Session timeout must be between 1 and 300 seconds."
        if self.pad_audio < 0 or self.pad_audio > 60:
            errors["pad_audio"] = "Pad audio must be between 0 and 60 seconds."
        try:
            self.language = normalize_language(self.language)
        except ValidationError as exc:
            errors["language"] = exc.messages[0]
        if self.voice_id is not None and "language" not in errors:
            problem = voice_problem(self.voice, self)
            if problem:
                errors["voice"] = problem
        if errors:
            raise ValidationError(errors)

    @property
    def answers_through_agent(self) -> bool:
        """Whether the D-ID agent's own LLM and knowledge answer (not our LLM and persona)."""
        return self.provider == self.Provider.DID_AGENTS and self.reply_mode == self.ReplyMode.AGENT

    @property
    def transport(self) -> str:
        """How the browser gets the video: a LiveKit room (HeyGen, LiveAvatar) or WebRTC."""
        livekit = (self.Provider.HEYGEN, self.Provider.LIVEAVATAR)
        return "livekit" if self.provider in livekit else "webrtc"

    def starter_messages(self) -> list[str]:
        """The suggested first questions the live page offers: a managed D-ID agent's starter
        messages (an agent made in D-ID Studio keeps its own there)."""
        if self.provider != self.Provider.DID_AGENTS or self.managed_agent is None:
            return []
        return [m.strip() for m in self.managed_agent.starter_messages or [] if str(m).strip()]

    def image_url(self) -> str:
        """A URL for the picture in the browser (upload, source URL or poster)."""
        if self.source_image:
            return self.source_image.url
        if self.poster:
            return self.poster.url
        return self.source_url

    def uploaded_idle_video_url(self) -> str:
        """The idle loop uploaded for this avatar, else "" (avatars/idle_video.py picks the one
        the live page plays)."""
        return self.idle_video.url if self.idle_video else ""

    def public_source_url(self) -> str:
        """The photo URL the avatar provider fetches: absolute, reachable from the provider."""
        if self.source_image:
            return settings.PUBLIC_BASE_URL.rstrip("/") + self.source_image.url
        return self.source_url
