"""Erasing an end user takes the outputs of their sessions that were sent before the app knew who they were (the
same session id, no end user id), unless another end user's output shares that session id."""

import pytest

from labeling.models import AuditEvent, Output
from labeling.services.api_keys import create_api_key
from tests.conftest import Api, output_record

pytestmark = pytest.mark.django_db


def test_erasing_an_end_user_erases_the_outputs_of_their_sessions_sent_before_sign_in(client, project):
    """An app that sets end_user only after login sent the first turns of ana's session without it: they were kept
    after her erasure, with whatever she typed before signing in."""
    ingest = Api(client, create_api_key(project=project, name="app", scopes=["ingest"]).secret)
    privacy = create_api_key(project=project, name="dpo", scopes=["privacy"])
    records = [
        output_record(1, end_user_id="", session_id="s-ana", input="I'm Ana, ana@example.com"),  # before login
        output_record(2, end_user_id="ana", session_id="s-ana"),
        output_record(3, end_user_id="", session_id="s-shared"),  # a session id two end users sent: not only hers
        output_record(4, end_user_id="ana", session_id="s-shared"),
        output_record(5, end_user_id="bo", session_id="s-shared"),
        output_record(6, end_user_id="", session_id="s-other"),  # nobody's session of hers
        output_record(7, end_user_id="", session_id=""),
    ]
    assert ingest.post("/api/v1/outputs", {"outputs": records}).status_code == 200

    response = client.delete("/api/v1/end-users/ana", HTTP_AUTHORIZATION=f"Bearer {privacy.secret}")

    assert response.status_code == 204
    kept = sorted(Output.objects.filter(project=project).values_list("external_id", flat=True))
    assert kept == ["conv-3", "conv-5", "conv-6", "conv-7"]
    audit = AuditEvent.objects.get(project=project, action="privacy.end_user_erased")
    assert audit.details["outputs"] == 3
