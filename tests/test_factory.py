"""The app factory and its settings."""

import pytest

from portal import config, create_app


def test_testing_config_overrides_environment(app):
    assert app.testing
    assert app.config["SECRET_KEY"] == "test-secret"


def test_default_database_is_sqlite_in_instance_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = config.from_environment(str(tmp_path), environ={})
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'baton.db'}"
    assert settings["REDIS_URL"] is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_database_url_is_pointed_at_psycopg3(given, expected):
    assert config.database_url(given) == expected


def test_secret_key_is_generated_once_into_instance_folder(tmp_path):
    first = config.from_environment(str(tmp_path), environ={})["SECRET_KEY"]
    second = config.from_environment(str(tmp_path), environ={})["SECRET_KEY"]
    assert first == second and len(first) == 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_secret_key_from_environment_wins(tmp_path):
    settings = config.from_environment(str(tmp_path), environ={"SECRET_KEY": "from-env"})
    assert settings["SECRET_KEY"] == "from-env"
    assert not (tmp_path / "secret_key").exists()


def test_unknown_timezone_is_refused_with_a_clear_message(tmp_path):
    with pytest.raises(ValueError, match="Europe/Berlin"):
        config.from_environment(str(tmp_path), environ={"BATON_TIMEZONE": "Mars/Olympus"})


def test_production_sessions_need_https(tmp_path):
    settings = config.from_environment(str(tmp_path), environ={"BATON_ENV": "production"})
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert config.from_environment(str(tmp_path), environ={})["SESSION_COOKIE_SECURE"] is False


def test_factory_uses_instance_folder_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BATON_INSTANCE", str(tmp_path / "elsewhere"))
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.instance_path == str(tmp_path / "elsewhere")
    assert (tmp_path / "elsewhere" / "secret_key").exists()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BATON_EXPORT_WORKERS", "four"),
        ("BATON_EXPORT_WORKERS", "0"),
        ("MAIL_PORT", "70000"),
        ("BATON_INSIGHT_LIVE_REQUESTS", "many"),
        ("BATON_INSIGHT_MAX_AGE", "-5"),
    ],
)
def test_bad_numbers_are_refused_naming_the_setting(tmp_path, name, value):
    with pytest.raises(ValueError, match=f"{name}='{value}' must be a whole number"):
        config.from_environment(str(tmp_path), environ={name: value})


def test_numbers_have_defaults_and_can_be_set(tmp_path):
    assert config.from_environment(str(tmp_path), environ={})["EXPORT_WORKERS"] is None
    assert config.from_environment(str(tmp_path), environ={})["MAIL_PORT"] == 8025
    settings = config.from_environment(
        str(tmp_path), environ={"BATON_EXPORT_WORKERS": "2", "MAIL_PORT": "2525"}
    )
    assert (settings["EXPORT_WORKERS"], settings["MAIL_PORT"]) == (2, 2525)
    defaults = config.from_environment(str(tmp_path), environ={})
    assert (defaults["BATON_INSIGHT_LIVE_REQUESTS"], defaults["BATON_INSIGHT_MAX_AGE"]) == (
        20000,
        300,
    )


def test_single_sign_on_is_off_until_an_issuer_is_set(tmp_path):
    settings = config.from_environment(str(tmp_path), environ={})
    assert settings["OIDC_ISSUER"] is None
    assert settings["PASSWORD_SIGN_IN"] is True
    assert settings["OIDC_NAME"] == "single sign-on" and settings["OIDC_GROUPS_CLAIM"] == "groups"


def test_single_sign_on_settings_are_read(tmp_path):
    settings = config.from_environment(
        str(tmp_path),
        environ={
            "BATON_OIDC_ISSUER": "https://id.example.com/realms/staff/",
            "BATON_OIDC_CLIENT_ID": "baton",
            "BATON_OIDC_CLIENT_SECRET": "s3cret",
            "BATON_OIDC_NAME": "Example ID",
            "BATON_OIDC_GROUPS_CLAIM": "roles",
            "BATON_OIDC_GROUP_MAP": "ap-approvers:finance,cfo-office:cfo",
            "BATON_OIDC_MANAGER_CLAIM": "manager_email",
            "BATON_PASSWORD_SIGN_IN": "off",
        },
    )
    assert settings["OIDC_ISSUER"] == "https://id.example.com/realms/staff"
    assert settings["OIDC_GROUP_MAP"] == {"ap-approvers": ("finance",), "cfo-office": ("cfo",)}
    assert settings["OIDC_GROUPS_CLAIM"] == "roles"
    assert settings["OIDC_MANAGER_CLAIM"] == "manager_email"
    assert settings["PASSWORD_SIGN_IN"] is False
    local = {"BATON_OIDC_ISSUER": "http://127.0.0.1:9400", "BATON_OIDC_CLIENT_ID": "baton"}
    assert config.from_environment(str(tmp_path), environ=local)["OIDC_ISSUER"] == (
        "http://127.0.0.1:9400"
    )


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"BATON_OIDC_ISSUER": "https://id.example.com"}, "BATON_OIDC_CLIENT_ID is needed"),
        (
            {"BATON_OIDC_ISSUER": "id.example.com", "BATON_OIDC_CLIENT_ID": "b"},
            "must be an https:// address",
        ),
        (
            {"BATON_OIDC_ISSUER": "http://id.example.com", "BATON_OIDC_CLIENT_ID": "b"},
            "must be an https:// address",
        ),
        ({"BATON_PASSWORD_SIGN_IN": "off"}, "needs BATON_OIDC_ISSUER"),
        ({"BATON_PASSWORD_SIGN_IN": "maybe"}, "must be on or off"),
        ({"BATON_OIDC_GROUP_MAP": "finance"}, "BATON_OIDC_GROUP_MAP"),
    ],
)
def test_bad_single_sign_on_settings_are_refused_naming_the_setting(tmp_path, environ, says):
    with pytest.raises(ValueError, match=says):
        config.from_environment(str(tmp_path), environ=environ)
