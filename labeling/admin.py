from allauth.socialaccount import admin as sso_admin  # registers allauth's admins, replaced at the end
from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import models
from django.forms.fields import InvalidJSONInput
from django.utils.functional import cached_property

from labeling.exceptions import DomainError
from labeling.models import (
    ApiKey,
    AuditEvent,
    Invitation,
    Membership,
    Output,
    Project,
    Queue,
    Rubric,
    SavedView,
    SignInThrottle,
    ThrottleKind,
    UsageEvent,
)
from labeling.rules.access import check_can_revoke_key
from labeling.selectors.explore.results import count_matches
from labeling.services.api_keys import revoke_api_key
from labeling.services.records import find_unstorable, too_deep_message
from labeling.services.signin import unlock_sign_in


class StorableJSONField(forms.JSONField):
    """Django's JSON form field, refusing what PostgreSQL or the recursion limit would turn into a 500."""

    def to_python(self, value):
        try:
            data = super().to_python(value)
        except RecursionError:
            raise forms.ValidationError(too_deep_message()) from None
        problem = find_unstorable(data)
        if problem:
            raise forms.ValidationError(f"{problem[0] or 'The value'}: {problem[1]}")
        return data

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except RecursionError:  # re-showing the refused text must not fail the same way
            return InvalidJSONInput(data)


class BoundedCountPaginator(Paginator):
    """Counts a change list as explore counts its matches: exactly while PostgreSQL can within a budget, else the
    planner's estimate, so a table of millions of outputs or events opens at once (a full COUNT(*) reads them all)."""

    @cached_property
    def count(self) -> int:
        return count_matches(self.object_list).value


class ModelAdmin(admin.ModelAdmin):
    """Every admin of this app: JSON fields refuse what cannot be stored; change lists never count a whole table."""

    formfield_overrides = {models.JSONField: {"form_class": StorableJSONField}}
    paginator = BoundedCountPaginator


class ReadOnlyAddMixin:
    """Rows made only by the services (ingest, rubric publishing, the audit log): the admin shows them.

    Their add form has every field read-only, so saving it could only fail on the NOT NULL columns.
    """

    def has_add_permission(self, request, obj=None):
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(ModelAdmin):
    list_display = [
        "slug",
        "name",
        "time_zone",
        "cycle_weekday",
        "raw_retention_days",
        "experts_can_explore",
        "created_at",
    ]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]


@admin.register(ApiKey)
class ApiKeyAdmin(ModelAdmin):
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
        keys = list(queryset.active().select_related("project"))
        try:
            for api_key in keys:  # every key checked before any is revoked: no half-done action
                check_can_revoke_key(request.user, api_key)
        except DomainError as exc:
            message = f"Nothing revoked: {exc.message} Operators revoke any key; leads and admins their project's."
            self.message_user(request, message, level=messages.ERROR)
            return
        for api_key in keys:
            revoke_api_key(api_key=api_key, revoked_by=request.user)
        self.message_user(request, "Revoked.")


@admin.register(Output)
class OutputAdmin(ReadOnlyAddMixin, ModelAdmin):
    list_display = ["external_id", "project", "occurred_at", "end_user_id", "model", "feedback_score", "routed_at"]
    # No filter by model: its choices are a DISTINCT over every output (explore filters a project's outputs by model).
    list_filter = ["project", "feedback_score"]
    search_fields = ["external_id", "end_user_id"]
    list_select_related = ["project"]
    show_full_result_count = False
    readonly_fields = [field.name for field in Output._meta.fields]


@admin.register(UsageEvent)
class UsageEventAdmin(ModelAdmin):
    list_display = ["end_user_id", "name", "project", "occurred_at"]
    list_filter = ["project"]  # not by name: its choices would be a DISTINCT over every event
    search_fields = ["end_user_id", "external_id"]
    list_select_related = ["project"]
    show_full_result_count = False


@admin.register(Rubric)
class RubricAdmin(ReadOnlyAddMixin, ModelAdmin):
    list_display = ["project", "version", "created_by", "created_at"]
    list_filter = ["project"]
    readonly_fields = ["project", "version", "questions", "guidelines", "created_by", "created_at"]


@admin.register(Queue)
class QueueAdmin(ModelAdmin):
    list_display = ["name", "project", "sample_rate", "weekly_quota", "overlap", "priority", "is_active"]
    list_filter = ["project", "is_active"]
    filter_horizontal = ["eligible_experts"]


@admin.register(Membership)
class MembershipAdmin(ModelAdmin):
    list_display = ["user", "project", "role"]
    list_filter = ["project", "role"]
    list_select_related = ["user", "project"]


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAddMixin, ModelAdmin):
    """Invitations are sent, resent and revoked on the project's members page; here an operator reads them."""

    list_display = ["email", "project", "role", "invited_by", "sent_at", "expires_at", "accepted_at", "revoked_at"]
    list_filter = ["project", "role"]
    search_fields = ["email"]
    list_select_related = ["project", "invited_by"]
    readonly_fields = [field.name for field in Invitation._meta.fields]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SavedView)
class SavedViewAdmin(ModelAdmin):
    """Saved explore views are made and deleted on the explore page; here they can be renamed or removed."""

    list_display = ["name", "project", "query", "created_by", "created_at"]
    list_filter = ["project"]
    readonly_fields = ["project", "query", "created_by", "created_at"]

    def has_add_permission(self, request):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAddMixin, ModelAdmin):
    list_display = ["at", "project", "actor", "action"]
    list_filter = ["project", "action"]
    readonly_fields = ["project", "actor", "action", "details", "at"]


@admin.register(SignInThrottle)
class SignInThrottleAdmin(ModelAdmin):
    """Failed sign-ins per account and per address (README "Sign-in throttling"); an operator unlocks here."""

    list_display = ["kind", "key", "failures", "lockouts", "locked_until", "last_failure_at"]
    list_filter = ["kind"]
    search_fields = ["key"]
    readonly_fields = ["kind", "key", "failures", "lockouts", "locked_until", "last_failure_at"]
    actions = ["unlock"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Unlock sign-in for the selected accounts and addresses", permissions=["delete"])
    def unlock(self, request, queryset):
        for row in queryset:
            account = row.kind == ThrottleKind.ACCOUNT
            unlock_sign_in(
                username=row.key if account else None, address=None if account else row.key, actor=request.user
            )
        self.message_user(request, "Unlocked.")


# Single sign-on (django-allauth) is configured by settings alone (README "Sign-in"): a SocialApp row beside them
# would make allauth find two apps for one provider, and no tokens are stored. What stays is the list of accounts
# linked to the identity provider: an operator looks at them, unlinks one, or links an operator's account (never
# linked by its email alone) to the provider's user id.
admin.site.unregister([SocialApp, SocialToken, SocialAccount])


def sso_provider_choices() -> list[tuple[str, str]]:
    """The single sign-on configured in settings (none without OIDC_ISSUER)."""
    apps = settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"]
    return [(app["provider_id"], f"{app['provider_id']} ({app['name']})") for app in apps]


class LinkForm(forms.ModelForm):
    provider = forms.ChoiceField(choices=sso_provider_choices)

    class Meta:
        model = SocialAccount
        fields = ["user", "provider", "uid"]
        help_texts = {"uid": "The provider's user id: the `sub` claim of its ID token."}


@admin.register(SocialAccount)
class LinkedAccountAdmin(sso_admin.SocialAccountAdmin):
    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = LinkForm
        return super().get_form(request, obj, **kwargs)

    def has_add_permission(self, request):
        # A link is a way into the account it names, an operator's included: superusers only.
        return request.user.is_superuser

    def get_readonly_fields(self, request, obj=None):
        # A link is made once and then only looked at or deleted; what the provider sent is never edited.
        return [] if obj is None else ["user", "provider", "uid", "extra_data", "last_login", "date_joined"]
