import datetime as dt

import pytest

from portal import clock, create_app

#: 23:30 UTC on New Year's Eve: already 1 January in Berlin, still 31 December in UTC.
NEW_YEARS_EVE = dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC)


def test_local_today_is_the_date_in_the_portals_time_zone(app):
    with clock.frozen_at(NEW_YEARS_EVE):
        assert clock.local_today() == dt.date(2027, 1, 1)
    assert str(clock.local_zone()) == "Europe/Berlin"


def test_each_app_keeps_its_own_time_zone(app, tmp_path, monkeypatch):
    monkeypatch.setenv("BATON_INSTANCE", str(tmp_path / "other"))
    other = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "BATON_TIMEZONE": "UTC"})
    with clock.frozen_at(NEW_YEARS_EVE):
        with other.app_context():
            assert clock.local_today() == dt.date(2026, 12, 31)
        assert clock.local_today() == dt.date(2027, 1, 1)


def test_local_today_outside_an_app_is_refused_not_guessed():
    with pytest.raises(RuntimeError, match="application context"):
        clock.local_today()
