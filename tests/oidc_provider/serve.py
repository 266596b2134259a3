"""Run the test OpenID Connect provider: `python -m tests.oidc_provider.serve PORT SEED.json`.

Creates its SQLite database (OIDC_PROVIDER_DB), seeds it from SEED.json, then serves on 127.0.0.1:PORT with
Django's threaded development server until it is terminated. SEED.json:
  {"client": {"client_id", "client_secret", "redirect_uri"},
   "users": [{"username", "password", "email", "email_verified"}, ...]}
The client is confidential, authorization code with PKCE, RS256 ID tokens, and skips the consent screen.
"""

import json
import os
import sys


def seed(data: dict) -> None:
    from django.contrib.auth.models import Group, User
    from oauth2_provider.models import Application

    from tests.oidc_provider.claims import UNVERIFIED_GROUP

    client = data["client"]
    Application.objects.create(
        name="expertloop",
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=client["redirect_uri"],
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )
    unverified = Group.objects.create(name=UNVERIFIED_GROUP)
    for person in data["users"]:
        user = User.objects.create_user(person["username"], person["email"], person["password"])
        if not person.get("email_verified", True):
            user.groups.add(unverified)


def main() -> None:
    port, seed_path = int(sys.argv[1]), sys.argv[2]
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.oidc_provider.settings"
    import django
    from django.core.management import call_command
    from django.core.servers.basehttp import run
    from django.core.wsgi import get_wsgi_application

    django.setup()
    call_command("migrate", verbosity=0)
    with open(seed_path) as handle:
        seed(json.load(handle))
    run("127.0.0.1", port, get_wsgi_application(), threading=True)


if __name__ == "__main__":
    main()
