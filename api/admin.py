from django.contrib import admin, messages

from .models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Staff issue a token for any user (the secret is shown once, in the success message) and
    revoke tokens; a token's secret cannot be changed, only replaced by a new token."""

    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    autocomplete_fields = ["user"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "user"] if obj else self.readonly_fields

    def save_model(self, request, obj: ApiToken, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        secret = obj.set_new_secret()
        super().save_model(request, obj, form, change)
        messages.warning(
            request,
            f"API token for {obj.user}: {secret} — copy it now; it will not be shown again.",
        )

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset) -> None:
        revoked = sum(token.revoke() for token in queryset)
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)
