"""Single sign-on's outside world: the OpenID Connect provider, through Authlib's Flask client.

The authorization code flow with PKCE (S256): `redirect_to_provider` sends the browser to the
provider with a fresh state, nonce and code challenge kept in the signed session cookie;
`claims_from_callback` takes the provider's answer, checks the state, swaps the code for
tokens and verifies the ID token (signature from the provider's published keys, issuer,
audience, expiry, nonce) before any claim is read. What the claims change in Baton is
portal/services/sso.py's business.

The provider's settings come from ISSUER/.well-known/openid-configuration, fetched at the
first sign-in of each web process and kept.
"""

from __future__ import annotations

import logging

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from authlib.oidc.core import CodeIDToken
from flask import current_app
from joserfc.errors import JoseError

from portal import clock
from portal.domain.refusal import Refused

logger = logging.getLogger(__name__)

#: Where the provider sends the browser back to: BATON_BASE_URL + this.
CALLBACK_PATH = "/login/oidc/callback"
#: What Baton asks the provider for: who the person is, their name and their email.
SCOPE = "openid email profile"
_EXTENSION = "baton.oidc"


class SignInFailed(Refused):
    """Signing in through the provider did not work; nothing in Baton changed."""

    status = 400


#: What a person reads for each error the provider may send back (RFC 6749 4.1.2.1, OpenID
#: Connect Core 3.1.2.6); anything else reads as the last.
PROVIDER_ERRORS = {
    "access_denied": "You did not allow Baton to sign you in, or the provider refused it.",
    "login_required": "The provider needs you to sign in there first.",
    "interaction_required": "The provider needs you to do something there first.",
    "consent_required": "The provider needs you to allow Baton to sign you in.",
    "temporarily_unavailable": "The provider is busy. Try again in a minute.",
    "server_error": "The provider had a problem. Try again in a minute.",
}
_PROVIDER_FAILED = "The provider could not sign you in."
_START_AGAIN = " Go back to the sign-in page and start again."


class _IDToken(CodeIDToken):
    """An ID token's claims, checked (expiry, issued-at) against Baton's one clock.

    Given as Authlib's claims class, it is not handed the access token, so `at_hash` goes
    unchecked: Baton never uses the access token, only the signed ID token's claims."""

    def validate(self, now=None, leeway=0):
        super().validate(now=int(clock.now().timestamp()), leeway=leeway)


def enabled() -> bool:
    """True if an identity provider is configured (BATON_OIDC_ISSUER)."""
    return bool(current_app.config.get("OIDC_ISSUER"))


def provider_name() -> str:
    """The provider's name as people know it (BATON_OIDC_NAME)."""
    return current_app.config["OIDC_NAME"]


def callback_url() -> str:
    """The redirect URI registered at the provider (workers and proxies agree on BASE_URL)."""
    return current_app.config["BASE_URL"].rstrip("/") + CALLBACK_PATH


def _client():
    """This app's Authlib client, made at first use from the app's settings."""
    app = current_app._get_current_object()
    client = app.extensions.get(_EXTENSION)
    if client is None:
        config = app.config
        oauth = OAuth(app)
        client = oauth.register(
            "oidc",
            client_id=config["OIDC_CLIENT_ID"],
            client_secret=config["OIDC_CLIENT_SECRET"],
            server_metadata_url=config["OIDC_ISSUER"] + "/.well-known/openid-configuration",
            client_kwargs={"scope": SCOPE, "code_challenge_method": "S256", "timeout": 10},
        )
        app.extensions[_EXTENSION] = client
    return client


def redirect_to_provider():
    """The redirect that starts a sign-in at the provider (state, nonce, PKCE in the session)."""
    try:
        return _client().authorize_redirect(callback_url())
    except (requests.RequestException, ValueError, RuntimeError) as error:
        logger.warning("single sign-on: the provider's settings could not be read: %s", error)
        raise SignInFailed(
            f"Baton could not reach {provider_name()}. Try again in a minute, or ask an "
            "administrator to check the single sign-on settings.",
            status=502,
        ) from None


def claims_from_callback() -> dict:
    """The verified ID token's claims for the sign-in the provider just answered.

    Raises SignInFailed for an error from the provider, a state that does not match the one
    this browser was given (tampered with, replayed, or from another browser), a code the
    provider will not exchange (expired, used), or an ID token that fails any check."""
    config = current_app.config
    client = _client()
    try:
        token = client.authorize_access_token(
            claims_cls=_IDToken,
            claims_options={
                "iss": {"essential": True, "value": config["OIDC_ISSUER"]},
                "aud": {"essential": True, "value": config["OIDC_CLIENT_ID"]},
                "exp": {"essential": True},
            },
        )
    except AuthlibBaseError as error:
        code = getattr(error, "error", None) or "oauth_error"
        logger.info("single sign-on refused: %s (%s)", code, getattr(error, "description", ""))
        if code == "mismatching_state":
            raise SignInFailed(
                "This sign-in did not start in this browser, or it was already used or "
                "changed on the way." + _START_AGAIN
            ) from None
        if code == "invalid_grant":
            raise SignInFailed(
                "The provider's answer has expired or was already used." + _START_AGAIN
            ) from None
        raise SignInFailed(PROVIDER_ERRORS.get(code, _PROVIDER_FAILED) + _START_AGAIN) from None
    except JoseError as error:
        logger.warning("single sign-on: the ID token failed a check: %r", error)
        raise SignInFailed(
            "The provider's answer could not be verified, so Baton did not sign you in."
            + _START_AGAIN
        ) from None
    except requests.RequestException as error:
        logger.warning("single sign-on: the provider could not be reached: %s", error)
        raise SignInFailed(
            f"Baton could not reach {provider_name()}. Try again in a minute.", status=502
        ) from None
    claims = token.get("userinfo")
    if not claims:
        # No ID token (or no nonce in the session): an OAuth-only answer proves nobody.
        raise SignInFailed("The provider did not say who you are." + _START_AGAIN)
    return dict(claims)
