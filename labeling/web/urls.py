from django.urls import path, re_path

from . import (
    account_views,
    adjudication_views,
    alert_views,
    audit_views,
    dataset_views,
    expert_views,
    explore_action_views,
    explore_views,
    invitation_views,
    key_views,
    lead_views,
    meeting_views,
    member_views,
    platform_views,
    project_views,
    redaction_views,
    theme_views,
    views,
    webhook_views,
)

app_name = "labeling"

urlpatterns = [
    path("", views.home, name="home"),
    # Everyone signed in: their own page (the top bar's name links it), their password.
    path("me/", account_views.own_page, name="me"),
    path("me/password", account_views.PasswordChangeView.as_view(), name="password-change"),
    # Operators (the platform team): every project's health side by side, and usage per project and week.
    path("platform/", platform_views.platform, name="platform"),
    path("platform/usage/", platform_views.usage, name="platform-usage"),
    path("platform/tokens/", platform_views.tokens, name="platform-tokens"),
    path("platform/tokens/<int:token_id>/revoke", platform_views.token_revoke, name="platform-token-revoke"),
    # Projects without the admin: create one (PROJECT_CREATORS decides who may), leads edit its settings.
    path("projects/new", project_views.project_create, name="project-create"),
    path("p/<slug:slug>/manage/settings/", project_views.project_settings, name="project-settings"),
    # Experts: their queues, the labeling screen and its actions.
    path("p/<slug:slug>/", expert_views.project_overview, name="project"),
    path("p/<slug:slug>/q/<slug:queue_slug>/next", expert_views.next_item, name="next-item"),
    path("p/<slug:slug>/items/<int:item_id>/", expert_views.label_item, name="item"),
    path("p/<slug:slug>/items/<int:item_id>/renew", expert_views.renew_lease, name="item-renew"),
    path("p/<slug:slug>/items/<int:item_id>/skip", expert_views.skip_item, name="item-skip"),
    path("p/<slug:slug>/items/<int:item_id>/unskip", expert_views.undo_skip, name="item-unskip"),
    path("p/<slug:slug>/items/<int:item_id>/flag", expert_views.flag_item, name="item-flag"),
    path("p/<slug:slug>/items/<int:item_id>/comment", expert_views.comment_item, name="item-comment"),
    # Leads: queues (rule, sample, quota, overlap, preview), rubric versions, experts' progress.
    path("p/<slug:slug>/manage/queues/", lead_views.queue_list, name="queues"),
    path("p/<slug:slug>/manage/queues/new", lead_views.queue_create, name="queue-create"),
    path("p/<slug:slug>/manage/queues/preview", lead_views.queue_preview, name="queue-preview"),
    path("p/<slug:slug>/manage/queues/<int:queue_id>/", lead_views.queue_edit, name="queue-edit"),
    path("p/<slug:slug>/manage/queues/<int:queue_id>/backfill", lead_views.queue_backfill, name="queue-backfill"),
    path("p/<slug:slug>/manage/rubric/", lead_views.rubric_versions, name="rubric"),
    path("p/<slug:slug>/manage/experts/", lead_views.expert_progress, name="experts"),
    # Members (issue 17): leads change roles, remove members, invite by email; the invitation link is public.
    path("p/<slug:slug>/manage/members/", member_views.member_list, name="members"),
    path("p/<slug:slug>/manage/members/invite", member_views.member_invite, name="member-invite"),
    path("p/<slug:slug>/manage/members/<int:membership_id>/role", member_views.member_role, name="member-role"),
    path("p/<slug:slug>/manage/members/<int:membership_id>/remove", member_views.member_remove, name="member-remove"),
    path(
        "p/<slug:slug>/manage/invitations/<int:invitation_id>/resend",
        member_views.invitation_resend,
        name="invitation-resend",
    ),
    path(
        "p/<slug:slug>/manage/invitations/<int:invitation_id>/revoke",
        member_views.invitation_revoke,
        name="invitation-revoke",
    ),
    path("invitations/<str:token>", invitation_views.invitation, name="invitation"),
    # Leads: personal-data redaction rules applied at ingest, with a preview on sample text.
    path("p/<slug:slug>/manage/redaction/", redaction_views.redaction_rules, name="redaction"),
    path("p/<slug:slug>/manage/redaction/preview", redaction_views.redaction_preview, name="redaction-preview"),
    # Leads: webhook endpoints (a secret shown once), their delivery logs, redelivery.
    path("p/<slug:slug>/manage/webhooks/", webhook_views.webhook_list, name="webhooks"),
    path("p/<slug:slug>/manage/webhooks/<int:endpoint_id>/", webhook_views.webhook_detail, name="webhook"),
    path("p/<slug:slug>/manage/webhooks/<int:endpoint_id>/rotate", webhook_views.webhook_rotate, name="webhook-rotate"),
    path("p/<slug:slug>/manage/webhooks/<int:endpoint_id>/enable", webhook_views.webhook_enable, name="webhook-enable"),
    path("p/<slug:slug>/manage/webhooks/<int:endpoint_id>/delete", webhook_views.webhook_delete, name="webhook-delete"),
    path(
        "p/<slug:slug>/manage/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/redeliver",
        webhook_views.webhook_redeliver,
        name="webhook-redeliver",
    ),
    # Leads and operators: acknowledge an alert (shown on the project page).
    path("p/<slug:slug>/alerts/<int:alert_id>/acknowledge", alert_views.alert_acknowledge, name="alert-acknowledge"),
    # Leads: gold answers that need a decision.
    path("p/<slug:slug>/manage/adjudication/", adjudication_views.adjudication_list, name="adjudication"),
    path("p/<slug:slug>/manage/adjudication/<int:item_id>/", adjudication_views.adjudicate_item, name="adjudicate"),
    path("p/<slug:slug>/manage/flags/<int:flag_id>/resolve", adjudication_views.flag_resolve, name="flag-resolve"),
    # Engineers and leads: eval datasets, their versions, downloads and "build now".
    path("p/<slug:slug>/datasets/", dataset_views.dataset_list, name="datasets"),
    path("p/<slug:slug>/datasets/new", dataset_views.dataset_create, name="dataset-create"),
    path("p/<slug:slug>/datasets/<slug:dataset_slug>/", dataset_views.dataset_detail, name="dataset"),
    path("p/<slug:slug>/datasets/<slug:dataset_slug>/build", dataset_views.dataset_build, name="dataset-build"),
    path(
        "p/<slug:slug>/datasets/<slug:dataset_slug>/v<int:number>/withdraw",
        dataset_views.version_withdraw,
        name="dataset-version-withdraw",
    ),
    path(
        "p/<slug:slug>/datasets/<slug:dataset_slug>/v<int:number>/prepare",
        dataset_views.version_file_prepare,
        name="dataset-file-prepare",
    ),
    # Engineers, leads and admins: the project's API keys (a new key's secret is shown once), revoking one.
    path("p/<slug:slug>/keys/", key_views.api_keys, name="api-keys"),
    path("p/<slug:slug>/keys/<int:key_id>/revoke", key_views.api_key_revoke, name="api-key-revoke"),
    # Leads and admins: the audit log, who did what in the project.
    path("p/<slug:slug>/manage/audit/", audit_views.audit_log, name="audit"),
    # Everyone in the project: the weekly review meeting (leads write decisions and close the week), dashboards.
    path("p/<slug:slug>/meeting/", meeting_views.meeting, name="meeting"),
    path("p/<slug:slug>/meeting/<str:week_label>/", meeting_views.meeting_week, name="meeting-week"),
    path("p/<slug:slug>/meeting/<str:week_label>/report.md", meeting_views.meeting_markdown, name="meeting-markdown"),
    path("p/<slug:slug>/meeting/<str:week_label>/decisions", meeting_views.decision_add, name="decision-add"),
    path(
        "p/<slug:slug>/meeting/<str:week_label>/decisions/<int:decision_id>/delete",
        meeting_views.decision_delete,
        name="decision-delete",
    ),
    path(
        "p/<slug:slug>/meeting/<str:week_label>/decisions/<int:decision_id>/done",
        meeting_views.decision_done,
        name="decision-done",
    ),
    path("p/<slug:slug>/meeting/<str:week_label>/close", meeting_views.close, name="meeting-close"),
    path("p/<slug:slug>/meeting/<str:week_label>/refresh", meeting_views.refresh, name="meeting-refresh"),
    path(
        "p/<slug:slug>/meeting/<str:week_label>/themes/<int:rank>/save",
        theme_views.theme_save_view,
        name="meeting-theme-save",
    ),
    path("p/<slug:slug>/dashboard/", meeting_views.dashboard, name="dashboard"),
    # Members (experts while the project lets them): explore the outputs, a session's conversation, saved views.
    path("p/<slug:slug>/explore/", explore_views.explore, name="explore"),
    path("p/<slug:slug>/explore/summary", explore_views.explore_summary, name="explore-summary"),
    # The session id is a query parameter (`?id=`): ids are any text, a newline or ".." included.
    path("p/<slug:slug>/explore/session", explore_views.explore_session, name="explore-session"),
    path("p/<slug:slug>/explore/output", explore_views.explore_output, name="explore-output"),
    path("p/<slug:slug>/explore/views/save", explore_views.view_save, name="explore-view-save"),
    path("p/<slug:slug>/explore/views/<int:view_id>/", explore_views.view_manage, name="explore-view"),
    path("p/<slug:slug>/explore/views/<int:view_id>/rename", explore_views.view_rename, name="explore-view-rename"),
    path("p/<slug:slug>/explore/views/<int:view_id>/delete", explore_views.view_delete, name="explore-view-delete"),
    # Leads and admins add what the explore page found to a queue; engineers, leads and admins export it.
    path("p/<slug:slug>/explore/add", explore_action_views.add_to_queue, name="explore-add"),
    re_path(
        r"^p/(?P<slug>[-a-zA-Z0-9_]+)/explore/export\.(?P<fmt>jsonl|csv)$",
        explore_action_views.export,
        name="explore-export",
    ),
]
