"""D-ID agents and their knowledge, managed by staff in the admin and synced to D-ID by Celery.

Each row keeps the id D-ID gave it and how the last sync went. Rows are the source of truth;
D-ID holds a copy. Sync state changes are compare-and-set updates, so a task retried or run
twice never creates two copies at D-ID.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from avatars.models import Avatar
from streaming.providers.avatar.did_agents import DOCUMENT_DONE, DOCUMENT_FAILED, AgentSpec

from .validators import document_type_for, validate_knowledge_file


class SyncStatus(models.TextChoices):
    PENDING = "pending", "Waiting to sync"
    SYNCED = "synced", "Synced with D-ID"
    FAILED = "failed", "Sync failed"


class SyncedWithDID(models.Model):
    sync_status = models.CharField(
        max_length=10, choices=SyncStatus.choices, default=SyncStatus.PENDING, editable=False
    )
    sync_error = models.TextField(blank=True, editable=False)
    synced_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True

    def _set(self, **fields) -> None:
        type(self).objects.filter(pk=self.pk).update(**fields)
        for name, value in fields.items():
            setattr(self, name, value)

    def mark_pending(self) -> None:
        self._set(sync_status=SyncStatus.PENDING, sync_error="")

    def mark_synced(self) -> None:
        self._set(sync_status=SyncStatus.SYNCED, sync_error="", synced_at=timezone.now())

    def mark_failed(self, error: str) -> None:
        self._set(sync_status=SyncStatus.FAILED, sync_error=error[:2000])

    def claim_vendor_id(self, field: str, vendor_id: str) -> bool:
        """Record the id D-ID gave us, unless another run recorded one first (then the caller
        deletes its duplicate at D-ID)."""
        claimed = type(self).objects.filter(pk=self.pk, **{field: ""}).update(**{field: vendor_id})
        if claimed:
            setattr(self, field, vendor_id)
        return bool(claimed)


class KnowledgeBase(SyncedWithDID):
    """A D-ID knowledge base: the documents an agent answers from (D-ID chunks and indexes them)."""

    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    did_knowledge_id = models.CharField("D-ID knowledge id", max_length=100, blank=True,
                                        editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def request_sync(self) -> None:
        from .tasks import sync_knowledge_base  # tasks import this module

        self.mark_pending()
        pk = self.pk
        transaction.on_commit(lambda: sync_knowledge_base.delay(pk))


class KnowledgeDocument(models.Model):
    """One uploaded file (PDF, TXT, Markdown) or URL in a knowledge base."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to upload"
        PROCESSING = "processing", "D-ID is processing it"
        DONE = "done", "Ready"
        FAILED = "failed", "Failed"

    knowledge_base = models.ForeignKey(
        KnowledgeBase, on_delete=models.CASCADE, related_name="documents"
    )
    title = models.CharField(max_length=200)
    file = models.FileField(
        upload_to="knowledge/", blank=True, validators=[validate_knowledge_file],
        help_text="PDF, TXT or Markdown. D-ID fetches it from PUBLIC_BASE_URL, so that must be "
                  "reachable from D-ID.",
    )
    url = models.URLField(blank=True, help_text="Or the address of a PDF, TXT, Markdown or web page")
    did_document_id = models.CharField("D-ID document id", max_length=200, blank=True,
                                       editable=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING,
                              editable=False)
    vendor_status = models.CharField("D-ID status", max_length=40, blank=True, editable=False)
    vendor_error = models.TextField("D-ID error", blank=True, editable=False)
    checked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["knowledge_base", "title"]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        if bool(self.file) == bool(self.url):
            raise ValidationError("Give either a file or a URL (one of them, not both).")

    def document_type(self) -> str:
        """D-ID's `documentType`: by extension for files; a URL without one is a web page."""
        if self.file:
            return document_type_for(self.file.name) or "text"
        return document_type_for(self.url.split("?", 1)[0]) or "html"

    def source_url(self) -> str:
        """Where D-ID fetches the document from: the URL, or our media URL made absolute."""
        if self.file:
            return settings.PUBLIC_BASE_URL.rstrip("/") + self.file.url
        return self.url

    def _set(self, **fields) -> None:
        fields["checked_at"] = timezone.now()
        KnowledgeDocument.objects.filter(pk=self.pk).update(**fields)
        for name, value in fields.items():
            setattr(self, name, value)

    def record_vendor_status(self, vendor_status: str, error: str = "") -> str:
        """Store what D-ID says about the document; returns our status for it."""
        if vendor_status == DOCUMENT_DONE:
            status = self.Status.DONE
        elif vendor_status in DOCUMENT_FAILED:
            status = self.Status.FAILED
            error = error or f"D-ID could not process the document ({vendor_status})."
        else:
            status = self.Status.PROCESSING
        self._set(status=status, vendor_status=vendor_status[:40], vendor_error=error[:2000])
        return status

    def mark_failed(self, error: str) -> None:
        self._set(status=self.Status.FAILED, vendor_error=error[:2000])

    def request_sync(self) -> None:
        from .tasks import sync_document  # tasks import this module

        self._set(status=self.Status.PENDING, vendor_error="", vendor_status="")
        pk = self.pk
        transaction.on_commit(lambda: sync_document.delay(pk))


class Agent(SyncedWithDID):
    """A D-ID agent: a face, a voice, the LLM's instructions, a greeting, and its knowledge."""

    class PresenterType(models.TextChoices):
        TALK = "talk", "Photo (Talks presenter)"
        CLIP = "clip", "Premium presenter (Clips)"

    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    presenter_type = models.CharField(max_length=4, choices=PresenterType.choices,
                                      default=PresenterType.TALK)
    source_image = models.ImageField(upload_to="agents/", blank=True)
    source_url = models.URLField(blank=True, help_text="A photo URL, used when no image is uploaded")
    presenter_id = models.CharField(max_length=200, blank=True, help_text="For a premium presenter")
    voice = models.ForeignKey(
        "avatars.Voice", null=True, blank=True, on_delete=models.SET_NULL,
        limit_choices_to={"provider__in": ["microsoft", "elevenlabs"]},
        help_text="A D-ID voice (Microsoft or ElevenLabs); empty for D-ID's default",
    )
    instructions = models.TextField(help_text="How the agent's LLM behaves (its system prompt)")
    llm_model = models.CharField("LLM model", max_length=100, default="gpt-4o-mini")
    greeting = models.CharField(max_length=500, blank=True)
    starter_messages = models.JSONField(default=list, blank=True,
                                        help_text='Suggested questions, e.g. ["What do you do?"]')
    knowledge_base = models.ForeignKey(
        KnowledgeBase, null=True, blank=True, on_delete=models.SET_NULL, related_name="agents"
    )
    did_agent_id = models.CharField("D-ID agent id", max_length=100, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.presenter_type == self.PresenterType.TALK:
            if not self.source_image and not self.source_url:
                errors["source_image"] = "A photo agent needs a photo (upload or URL)."
        elif not self.presenter_id:
            errors["presenter_id"] = "A premium-presenter agent needs a presenter id."
        messages = self.starter_messages
        if not isinstance(messages, list) or not all(
            isinstance(m, str) and m.strip() for m in messages
        ):
            errors["starter_messages"] = 'Starter messages are a list of texts: ["…", "…"].'
        if errors:
            raise ValidationError(errors)

    def photo_url(self) -> str:
        if self.source_image:
            return settings.PUBLIC_BASE_URL.rstrip("/") + self.source_image.url
        return self.source_url

    def spec(self) -> AgentSpec:
        """What D-ID is told about this agent (the knowledge base must be synced first)."""
        voice = None
        if self.voice is not None:
            voice = {"type": self.voice.provider, "voice_id": self.voice.voice_id}
        knowledge = self.knowledge_base.did_knowledge_id if self.knowledge_base else ""
        return AgentSpec(
            name=self.name,
            description=self.description,
            presenter_type=self.presenter_type,
            source_url=self.photo_url() if self.presenter_type == self.PresenterType.TALK else "",
            presenter_id=self.presenter_id,
            voice=voice,
            instructions=self.instructions,
            llm_model=self.llm_model,
            greeting=self.greeting,
            starter_messages=tuple(m.strip() for m in self.starter_messages or ()),
            knowledge_id=knowledge,
        )

    def point_avatars_at_did(self) -> int:
        """Copy D-ID's agent id onto the avatars that show this agent: the stream code reads
        `Avatar.agent_id` (one written copy, refreshed by every sync, so no lazy query is
        needed in the consumer's event loop)."""
        return Avatar.objects.filter(managed_agent=self).exclude(
            agent_id=self.did_agent_id
        ).update(agent_id=self.did_agent_id)

    def request_sync(self) -> None:
        from .tasks import sync_agent  # tasks import this module

        self.mark_pending()
        pk = self.pk
        transaction.on_commit(lambda: sync_agent.delay(pk))


class AgentChat(models.Model):
    """The D-ID chat of one conversation: created once, kept across stream reconnects so the
    agent remembers what was said (as D-ID's SDK `reconnect()` keeps the chat id)."""

    conversation = models.OneToOneField(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="agent_chat"
    )
    did_agent_id = models.CharField(max_length=100)
    chat_id = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.chat_id
