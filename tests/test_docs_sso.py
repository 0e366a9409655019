"""README and docs/security.md say what single sign-on reads and checks, as the code does."""

import re
from pathlib import Path

from portal import config, oidc

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text("utf-8")
SECURITY = (ROOT / "docs" / "security.md").read_text("utf-8")


def _settings_table() -> str:
    return README.split("## Settings", 1)[1].split("\n## ", 1)[0]


def test_every_sign_in_setting_is_in_the_readme_settings_table():
    read = set(
        re.findall(
            r'"(BATON_(?:OIDC_[A-Z_]+|PASSWORD_SIGN_IN))"', Path(config.__file__).read_text()
        )
    )
    assert len(read) == 8
    listed = set(re.findall(r"`(BATON_(?:OIDC_[A-Z_]+|PASSWORD_SIGN_IN))`", _settings_table()))
    assert listed == read


def test_the_redirect_uri_in_the_docs_is_the_route():
    assert f"`BATON_BASE_URL` + `{oidc.CALLBACK_PATH}`" in _settings_table()
    assert f"`BATON_BASE_URL` + `{oidc.CALLBACK_PATH}`" in SECURITY


def test_security_doc_names_what_the_id_token_is_checked_for():
    section = SECURITY.split("## Single sign-on (OpenID Connect)", 1)[1].split("\n## ", 1)[0]
    for checked in (
        "signature",
        "`iss`",
        "`aud`",
        "`exp`",
        "`nonce`",
        "PKCE",
        "`state`",
        "`email_verified: false`",
        "disabled",
    ):
        assert checked in section, checked
