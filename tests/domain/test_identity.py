"""What an identity provider's claims mean in Baton: the group map, groups, what changed."""

from __future__ import annotations

import pytest

from portal.domain import identity


def test_a_group_map_reads_provider_to_baton_pairs():
    assert identity.parse_group_map("ap-approvers:finance, cfo-office:CFO") == {
        "ap-approvers": ("finance",),
        "cfo-office": ("cfo",),
    }


def test_a_provider_group_may_give_several_baton_groups():
    assert identity.parse_group_map("leads:managers,leads:finance,leads:finance") == {
        "leads": ("managers", "finance")
    }


def test_provider_group_names_may_hold_colons_and_keep_their_case():
    """The last colon separates: ids such as 'urn:groups:AP' work, and case is kept."""
    assert identity.parse_group_map("urn:groups:AP:finance") == {"urn:groups:AP": ("finance",)}


@pytest.mark.parametrize("text", [None, "", "  "])
def test_no_map_is_none(text):
    assert identity.parse_group_map(text) is None


def test_a_map_of_nothing_maps_nothing():
    """Set but empty of pairs: every provider group is ignored (not 'groups by name')."""
    assert identity.parse_group_map(",") == {}
    assert identity.baton_groups(["finance"], {}) == set()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("ap-approvers", "'ap-approvers' is not 'provider-group:baton-group'"),
        (":finance", "is not 'provider-group:baton-group'"),
        ("ap:", "is not 'provider-group:baton-group'"),
        ("ap:fin ance", "'fin ance' is not a Baton group name"),
        ("ap:" + "x" * 65, "is not a Baton group name"),
    ],
)
def test_a_bad_group_map_says_which_part(text, says):
    with pytest.raises(identity.GroupMapInvalid, match="BATON_OIDC_GROUP_MAP") as error:
        identity.parse_group_map(text)
    assert says in str(error.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["a", "b"], ["a", "b"]),
        (["a", 3, None, ""], ["a"]),
        ("a, b c", ["a", "b", "c"]),
        (None, None),
        ({"a": 1}, None),
        (7, None),
    ],
)
def test_claimed_groups_reads_lists_and_strings(value, expected):
    assert identity.claimed_groups(value) == expected


def test_with_a_map_unmapped_groups_are_ignored():
    group_map = {"ap-approvers": ("finance",), "cfo-office": ("cfo",)}
    assert identity.baton_groups(["ap-approvers", "admin", "Everyone"], group_map) == {"finance"}
    assert identity.baton_groups([], group_map) == set()


def test_without_a_map_groups_come_by_name_when_they_are_names():
    assert identity.baton_groups(["Finance", "it", "two words", "x" * 65], None) == {
        "finance",
        "it",
    }


def test_a_change_lists_only_what_changed():
    change = identity.change(
        name=("Nora", "Nora Quist"),
        email=("nora@example.com", "nora@example.com"),
        groups=({"finance", "staff"}, {"staff", "cfo"}),
        manager=(None, "mia@example.com"),
    )
    assert change
    assert change.as_details() == {
        "name": {"from": "Nora", "to": "Nora Quist"},
        "groups_added": ["cfo"],
        "groups_removed": ["finance"],
        "manager": {"from": None, "to": "mia@example.com"},
    }


def test_nothing_changed_is_an_empty_change():
    change = identity.change(
        name=("Nora", "Nora"),
        email=("n@example.com", "n@example.com"),
        groups=None,  # not claimed: not compared
        manager=("m@example.com", "m@example.com"),
    )
    assert not change and change.as_details() == {}
