from django.contrib import admin

from .models import Conversation, Message


class MessageInline(admin.TabularInline):
    model = Message
    fk_name = "conversation"
    fields = ["created_at", "role", "source", "text", "interrupted"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    """Read-only: conversations are records of what happened."""

    list_display = ["started_at", "user", "avatar", "status", "end_reason", "ended_at"]
    list_filter = ["status", "avatar", "user", "started_at"]
    search_fields = ["messages__text", "user__username", "avatar__name"]
    date_hierarchy = "started_at"
    inlines = [MessageInline]
    exclude = ["provider_session_id", "provider_state"]  # provider handles stay out of pages

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "avatar").distinct()

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name not in self.exclude]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
