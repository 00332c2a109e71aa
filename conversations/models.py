"""Every live session is a Conversation; every utterance and reply is a Message."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection, models
from django.urls import reverse
from django.utils import timezone


class ConversationQuerySet(models.QuerySet):
    def owned_by(self, user) -> ConversationQuerySet:
        return self.filter(user=user)

    def with_first_words(self) -> ConversationQuerySet:
        """Annotate `first_words` (what the user said first) in the same query, for lists."""
        first = Message.objects.filter(conversation=models.OuterRef("pk"), role=Message.Role.USER)
        return self.annotate(
            first_words=models.Subquery(first.order_by("created_at", "id").values("text")[:1])
        )

    def matching(self, query: str) -> ConversationQuerySet:
        """Conversations with a message matching `query`: PostgreSQL full-text search when we run
        on PostgreSQL (stemmed: "talking" finds "talk"), a case-insensitive substring on SQLite."""
        if connection.vendor == "postgresql":
            matching = Message.objects.annotate(
                search=SearchVector("text", config="english")
            ).filter(search=SearchQuery(query, config="english", search_type="websearch"))
        else:
            matching = Message.objects.filter(text__icontains=query)
        return self.filter(pk__in=matching.values("conversation_id"))

    def live(self) -> ConversationQuerySet:
        return self.filter(status__in=Conversation.OPEN_STATUSES)

    def idle_since(self, now=None) -> ConversationQuerySet:
        """Open conversations whose last activity is older than their own timeout.

        One cutoff per distinct timeout rather than `F("idle_timeout") * timedelta`: SQLite
        cannot multiply an integer by a duration ("Invalid arguments for operator *"), and
        timeouts take only a handful of values (1-300 s), so the OR stays short on both databases.
        """
        now = now or timezone.now()
        live = self.live()
        timeouts = set(live.order_by().values_list("idle_timeout", flat=True).distinct())
        if not timeouts:
            return live.none()
        overdue = models.Q()
        for seconds in timeouts:
            overdue |= models.Q(
                idle_timeout=seconds, last_activity__lt=now - timedelta(seconds=seconds)
            )
        return live.filter(overdue)

    def stream_close_unconfirmed(self, claimed_before) -> ConversationQuerySet:
        """Conversations whose stream close was claimed before `claimed_before` but never
        confirmed: the closer crashed (or gave up) between the claim and the provider's DELETE."""
        return (
            self.exclude(provider_stream_id="")
            .filter(stream_closed_at__lt=claimed_before)
            .exclude(stream_close_confirmed_id=models.F("provider_stream_id"))
        )


class Conversation(models.Model):
    class Status(models.TextChoices):
        CONNECTING = "connecting", "Connecting"
        LIVE = "live", "Live"
        ENDED = "ended", "Ended"
        FAILED = "failed", "Failed"

    class EndReason(models.TextChoices):
        USER = "user", "Ended by the user"
        DISCONNECT = "disconnect", "Page closed"
        TIMEOUT = "timeout", "Idle timeout"
        PROVIDER_ERROR = "provider_error", "Avatar service failed"
        STT_ERROR = "stt_error", "Speech recognition failed"
        SERVER_ERROR = "server_error", "Server error"

    OPEN_STATUSES = (Status.CONNECTING, Status.LIVE)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    avatar = models.ForeignKey(
        "avatars.Avatar", on_delete=models.PROTECT, related_name="conversations"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CONNECTING)
    # Provider handles: server side only, never rendered to the user.
    provider = models.CharField(max_length=20, blank=True)
    provider_stream_id = models.CharField(max_length=200, blank=True)
    provider_session_id = models.TextField(blank=True)
    provider_state = models.JSONField(default=dict, blank=True)
    # The close is claimed (stream_closed_at set, compare-and-set) before the provider is called,
    # and confirmed (the stream's id copied here) after: a claim left unconfirmed is re-closed.
    stream_closed_at = models.DateTimeField(null=True, blank=True)
    stream_close_confirmed_id = models.CharField(max_length=200, blank=True)
    idle_timeout = models.PositiveIntegerField(default=300)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_activity = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True)
    error_detail = models.CharField(max_length=300, blank=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["status", "last_activity"])]

    def __str__(self) -> str:
        return f"{self.avatar} with {self.user} at {self.started_at:%Y-%m-%d %H:%M}"

    def get_absolute_url(self) -> str:
        return reverse("conversations:detail", args=[self.pk])

    @property
    def websocket_path(self) -> str:
        """Where a client attaches to this conversation (streaming/routing.py serves it)."""
        return f"/ws/sessions/{self.pk}/"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    def end(self, reason: str, *, failed: bool = False, detail: str = "") -> bool:
        """Mark the conversation ended once; returns False when it had already ended."""
        now = timezone.now()
        updated = Conversation.objects.filter(pk=self.pk, status__in=self.OPEN_STATUSES).update(
            status=self.Status.FAILED if failed else self.Status.ENDED,
            end_reason=reason,
            ended_at=now,
            error_detail=detail[:300],
        )
        if updated:
            self.refresh_from_db()
        return bool(updated)

    def claim_stream_close(self) -> bool:
        """Take the one right to close the provider stream (a DB compare-and-set, so that
        the consumer, the reaper and a retried task never close the same stream twice)."""
        if not self.provider_stream_id:
            return False
        return bool(
            Conversation.objects.filter(pk=self.pk, stream_closed_at__isnull=True).update(
                stream_closed_at=timezone.now()
            )
        )

    def confirm_stream_closed(self, stream_id: str) -> None:
        """Record that the provider has closed (or no longer knows) stream `stream_id`."""
        Conversation.objects.filter(pk=self.pk).update(stream_close_confirmed_id=stream_id)
        self.stream_close_confirmed_id = stream_id


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Avatar"

    class Source(models.TextChoices):
        VOICE = "voice", "Voice"
        TEXT = "text", "Typed"
        LLM = "llm", "LLM"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=10, choices=Role.choices)
    text = models.TextField()
    source = models.CharField(max_length=10, choices=Source.choices)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    interrupted = models.BooleanField(default=False)
    # Set when a reply could not complete (worker lost, broker down, provider failed): the
    # page was told, and a retried task must not speak it again.
    error = models.CharField(max_length=40, blank=True)
    reply_to = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reply"
    )
    # Turn timings (wall clock). The user message holds the speech/transcript marks, the
    # assistant message the reply marks; `timings()` joins them.
    speech_end_at = models.DateTimeField(null=True, blank=True)
    # A speculative final that already had the saved words (spoken turns; often none).
    speculative_final_at = models.DateTimeField(null=True, blank=True)
    transcript_final_at = models.DateTimeField(null=True, blank=True)
    task_started_at = models.DateTimeField(null=True, blank=True)
    first_token_at = models.DateTimeField(null=True, blank=True)
    first_sentence_sent_at = models.DateTimeField(null=True, blank=True)
    avatar_started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.text[:60]}"

    def timings(self) -> dict[str, int | None]:
        """Milliseconds of each hop of the turn that this assistant message answers."""
        question = self.reply_to
        origin = None
        if question is not None:
            origin = question.speech_end_at or question.transcript_final_at or question.created_at

        def since(mark):
            if origin is None or mark is None:
                return None
            return round((mark - origin).total_seconds() * 1000)

        return {
            "speculative_final_ms": since(question.speculative_final_at) if question else None,
            "transcript_final_ms": since(question.transcript_final_at) if question else None,
            "task_started_ms": since(self.task_started_at),
            "first_token_ms": since(self.first_token_at),
            "first_sentence_sent_ms": since(self.first_sentence_sent_at),
            "avatar_started_ms": since(self.avatar_started_at),
            "completed_ms": since(self.completed_at),
        }
