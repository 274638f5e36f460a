"""The claims the test provider puts in ID tokens and userinfo: email, email_verified and
groups (the user's groups in the provider). A user in the provider's group named
UNVERIFIED has an unverified email; that group is not in the claim."""

from __future__ import annotations

from typing import Any

from oauth2_provider.oauth2_validators import OAuth2Validator

UNVERIFIED = "email-unverified"


class Validator(OAuth2Validator):  # type: ignore[misc]
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "groups": "openid"}

    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        user = request.user
        groups = sorted(user.groups.values_list("name", flat=True))
        return {
            "email": user.email,
            "email_verified": UNVERIFIED not in groups,
            "preferred_username": user.username,
            "name": user.get_full_name() or user.username,
            "groups": [name for name in groups if name != UNVERIFIED],
        }
