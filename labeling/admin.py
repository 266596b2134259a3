from django.contrib import admin

from labeling.models import ApiKey, AuditEvent, Membership, Output, Project, Queue, Rubric, UsageEvent
from labeling.services.api_keys import revoke_api_key


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "time_zone", "cycle_weekday", "raw_retention_days", "created_at"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are issued with `manage.py create_api_key` (the secret is shown once); here they are revoked."""

    list_display = ["name", "project", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["project"]
    readonly_fields = [
        "project", "name", "prefix", "secret_hash", "scopes", "created_by", "created_at", "last_used_at", "revoked_at",
    ]  # fmt: skip
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        for api_key in queryset.active():
            revoke_api_key(api_key=api_key, revoked_by=request.user)
        self.message_user(request, "Revoked.")


@admin.register(Output)
class OutputAdmin(admin.ModelAdmin):
    list_display = ["external_id", "project", "occurred_at", "end_user_id", "model", "feedback_score", "routed_at"]
    list_filter = ["project", "model", "feedback_score"]
    search_fields = ["external_id", "end_user_id"]
    list_select_related = ["project"]
    show_full_result_count = False
    readonly_fields = [field.name for field in Output._meta.fields]


@admin.register(UsageEvent)
class UsageEventAdmin(admin.ModelAdmin):
    list_display = ["end_user_id", "name", "project", "occurred_at"]
    list_filter = ["project", "name"]
    search_fields = ["end_user_id", "external_id"]
    list_select_related = ["project"]
    show_full_result_count = False


@admin.register(Rubric)
class RubricAdmin(admin.ModelAdmin):
    list_display = ["project", "version", "created_by", "created_at"]
    list_filter = ["project"]
    readonly_fields = ["project", "version", "questions", "guidelines", "created_by", "created_at"]


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "sample_rate", "weekly_quota", "overlap", "priority", "is_active"]
    list_filter = ["project", "is_active"]
    filter_horizontal = ["eligible_experts"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role"]
    list_filter = ["project", "role"]
    list_select_related = ["user", "project"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "project", "actor", "action"]
    list_filter = ["project", "action"]
    readonly_fields = ["project", "actor", "action", "details", "at"]
