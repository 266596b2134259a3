"""The claims the test provider tells about a user: email, and whether it is verified."""

from oauth2_provider.oauth2_validators import OAuth2Validator

# A provider user in this group gets `email_verified: false`.
UNVERIFIED_GROUP = "unverified-email"


class ClaimsValidator(OAuth2Validator):
    def get_additional_claims(self, request):
        user = request.user
        return {
            "email": user.email,
            "email_verified": not user.groups.filter(name=UNVERIFIED_GROUP).exists(),
            "preferred_username": user.username,
            "given_name": user.first_name,
            "family_name": user.last_name,
        }
