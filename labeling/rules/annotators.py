"""How an expert is named where their answers leave the project (datasets, the label export, an output's labels)."""

from django.utils.crypto import salted_hmac


def annotator_pseudonym(project_id: int, user_id: int) -> str:
    """Stable per project, not reversible without the server's secret."""
    return (
        "annotator-" + salted_hmac("dataset-annotator", f"{project_id}:{user_id}", algorithm="sha256").hexdigest()[:10]
    )
