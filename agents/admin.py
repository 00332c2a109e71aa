"""Staff manage agents and knowledge here; every save and delete is copied to D-ID by a Celery task.

The admin never calls D-ID itself: it saves the row, queues the sync after the transaction
commits, and shows the outcome (sync status, D-ID's processing status, D-ID's error) on reload.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction
from django.utils.html import format_html

from avatars.models import Avatar

from .models import Agent, KnowledgeBase, KnowledgeDocument, SyncStatus
from .tasks import delete_did_agent, delete_did_document, delete_did_knowledge

SYNC_FIELDS = ["sync_status", "sync_error", "synced_at"]


def _later(task, *args) -> None:
    """Queue `task` once the delete has committed (a rolled-back delete must not reach D-ID)."""
    transaction.on_commit(lambda: task.delay(*args))


@admin.display(description="Sync")
def sync_badge(row) -> str:
    colour = {SyncStatus.SYNCED: "green", SyncStatus.FAILED: "#b00"}.get(row.sync_status, "#777")
    return format_html('<b style="color:{}">{}</b>', colour, row.get_sync_status_display())


class KnowledgeDocumentInline(admin.TabularInline):
    model = KnowledgeDocument
    extra = 1
    fields = ["title", "file", "url", "status", "vendor_status", "vendor_error", "checked_at"]
    readonly_fields = ["status", "vendor_status", "vendor_error", "checked_at"]


@admin.register(KnowledgeBase)
class KnowledgeBaseAdmin(admin.ModelAdmin):
    list_display = ["name", "description", sync_badge, "did_knowledge_id", "document_count"]
    search_fields = ["name", "description"]
    readonly_fields = ["did_knowledge_id", *SYNC_FIELDS]
    inlines = [KnowledgeDocumentInline]
    actions = ["sync_again"]

    @admin.display(description="Documents")
    def document_count(self, knowledge: KnowledgeBase) -> int:
        return knowledge.documents.count()

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        # New: created at D-ID; renamed or redescribed: patched there. A save that only
        # touches the documents leaves the knowledge base alone (save_formset syncs those).
        if not obj.did_knowledge_id or {"name", "description"} & set(form.changed_data):
            obj.request_sync()

    def save_formset(self, request, form, formset, change) -> None:
        documents = formset.save(commit=False)
        for gone in formset.deleted_objects:
            self._forget_document(gone)
            gone.delete()
        for document in documents:
            document.save()
            document.request_sync()  # new, or edited: D-ID gets a fresh copy
        formset.save_m2m()

    def delete_model(self, request, obj) -> None:
        if obj.did_knowledge_id:
            _later(delete_did_knowledge, obj.did_knowledge_id)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        for knowledge_id in queryset.exclude(did_knowledge_id="").values_list(
            "did_knowledge_id", flat=True
        ):
            _later(delete_did_knowledge, knowledge_id)
        super().delete_queryset(request, queryset)

    @staticmethod
    def _forget_document(document: KnowledgeDocument) -> None:
        knowledge_id = document.knowledge_base.did_knowledge_id
        if knowledge_id and document.did_document_id:
            _later(delete_did_document, knowledge_id, document.did_document_id)

    @admin.action(description="Sync the selected knowledge bases and their documents again")
    def sync_again(self, request, queryset) -> None:
        for knowledge in queryset:
            knowledge.request_sync()
            for document in knowledge.documents.all():
                document.request_sync()
        self.message_user(request, "Queued for D-ID.", messages.INFO)


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["name", "presenter_type", "voice", "knowledge_base", sync_badge,
                    "did_agent_id"]
    list_filter = ["presenter_type", "sync_status"]
    search_fields = ["name", "description", "instructions"]
    readonly_fields = ["did_agent_id", *SYNC_FIELDS]
    fieldsets = [
        (None, {"fields": ["name", "description"]}),
        ("Face and voice", {
            "fields": ["presenter_type", "source_image", "source_url", "presenter_id", "voice"],
        }),
        ("What it says", {
            "fields": ["instructions", "llm_model", "greeting", "starter_messages",
                       "knowledge_base"],
        }),
        ("D-ID", {"fields": ["did_agent_id", *SYNC_FIELDS]}),
    ]
    actions = ["sync_again"]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        obj.request_sync()

    def delete_model(self, request, obj) -> None:
        self.delete_queryset(request, Agent.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset) -> None:
        for agent_id in queryset.exclude(did_agent_id="").values_list("did_agent_id", flat=True):
            _later(delete_did_agent, agent_id)
        # Their avatars would otherwise open streams for an agent D-ID no longer has.
        Avatar.objects.filter(managed_agent__in=queryset).update(agent_id="")
        super().delete_queryset(request, queryset)

    @admin.action(description="Sync the selected agents with D-ID again")
    def sync_again(self, request, queryset) -> None:
        for agent in queryset:
            agent.request_sync()
        self.message_user(request, "Queued for D-ID.", messages.INFO)
