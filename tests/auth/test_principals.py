"""principal_from_claims and actor_of: CIS2 health users and service clients."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from app.auth.principals import (
    HealthUser,
    ServiceClient,
    actor_of,
    principal_from_claims,
)
from app.errors import Forbidden, Unauthorized

CIS2: dict[str, Any] = {
    "sub": "910000000001",
    "name": "Dr Ada Example",
    "selected_roleid": "555000000001",
    "nhsid_nrbac_roles": [
        {
            "person_roleid": "555000000002",
            "org_code": "RX1",
            "org_name": "Another Trust",
            "role_code": "S0010:G0020:R0030",
            "role_name": "Admin",
            "activity_codes": [],
        },
        {
            "person_roleid": "555000000001",
            "org_code": "RJ122",
            "org_name": "Example Hospital ED",
            "role_code": "S8000:G8000:R8000",
            "role_name": "Clinical Practitioner",
            "activity_codes": ["B0107"],
        },
    ],
}


def cis2(**overrides: Any) -> dict[str, Any]:
    return {**copy.deepcopy(CIS2), **overrides}


def with_role(**overrides: Any) -> dict[str, Any]:
    claims = cis2()
    claims["nhsid_nrbac_roles"][1].update(overrides)
    return claims


def test_health_user_acts_in_the_selected_role() -> None:
    user = principal_from_claims(cis2())
    assert user == HealthUser(
        sub="910000000001",
        name="Dr Ada Example",
        role_id="555000000001",
        role_name="Clinical Practitioner",
        role_code="S8000:G8000:R8000",
        org_code="RJ122",
        org_name="Example Hospital ED",
        activities=frozenset({"B0107"}),
    )
    assert user.can_notify
    assert user.can_view


@pytest.mark.parametrize(
    ("codes", "view", "notify"),
    [
        (["B0107"], True, True),
        (["B0170"], True, False),
        (["B0170", "B0107"], True, True),
        (["B0264"], False, False),
        ([], False, False),
    ],
)
def test_activity_codes_give_rights(codes: list[str], view: bool, notify: bool) -> None:
    user = principal_from_claims(with_role(activity_codes=codes))
    assert isinstance(user, HealthUser)
    assert (user.can_view, user.can_notify) == (view, notify)


def test_activities_of_other_roles_do_not_count() -> None:
    claims = cis2(selected_roleid="555000000002")
    claims["nhsid_nrbac_roles"][1]["activity_codes"] = ["B0107"]
    user = principal_from_claims(claims)
    assert isinstance(user, HealthUser)
    assert user.org_code == "RX1"
    assert not user.can_view


def test_optional_names_may_be_absent() -> None:
    claims = cis2()
    del claims["nhsid_nrbac_roles"][1]["org_name"]
    del claims["nhsid_nrbac_roles"][1]["role_name"]
    del claims["nhsid_nrbac_roles"][1]["activity_codes"]
    user = principal_from_claims(claims)
    assert isinstance(user, HealthUser)
    assert (user.org_name, user.role_name, user.activities) == (None, None, frozenset())


@pytest.mark.parametrize("selected", ["555000000009", "55500000000", "555000000001 "])
def test_selected_role_not_held_is_forbidden(selected: str) -> None:
    with pytest.raises(Forbidden):
        principal_from_claims(cis2(selected_roleid=selected))


def test_no_roles_at_all_is_forbidden() -> None:
    with pytest.raises(Forbidden):
        principal_from_claims(cis2(nhsid_nrbac_roles=[]))


@pytest.mark.parametrize(
    "claims",
    [
        cis2(sub=None),
        cis2(sub=""),
        cis2(name=None),
        cis2(name="x" * 201),
        cis2(name="Dr Ada\nAUDIT: forged line"),
        cis2(selected_roleid=555000000001),
        cis2(selected_roleid=""),
        cis2(nhsid_nrbac_roles=None),
        cis2(nhsid_nrbac_roles="555000000001"),
        cis2(nhsid_nrbac_roles={"person_roleid": "555000000001"}),
        cis2(nhsid_nrbac_roles=[CIS2["nhsid_nrbac_roles"][1]] * 51),
        cis2(nhsid_nrbac_roles=[*CIS2["nhsid_nrbac_roles"], "junk"]),
        cis2(nhsid_nrbac_roles=[*CIS2["nhsid_nrbac_roles"], CIS2["nhsid_nrbac_roles"][1]]),
        with_role(person_roleid=None),
        with_role(org_code=None),
        with_role(org_code="RJ1 22"),
        with_role(org_code="RJ122'; --"),
        with_role(org_code="x" * 17),
        with_role(role_code=["S8000"]),
        with_role(role_name=12),
        with_role(org_name="x" * 201),
        with_role(activity_codes="B0107"),
        with_role(activity_codes=[7]),
        with_role(activity_codes=["B0107"] * 51),
        with_role(activity_codes=[""]),
    ],
)
def test_malformed_health_claims_are_unauthorized(claims: dict[str, Any]) -> None:
    with pytest.raises(Unauthorized):
        principal_from_claims(claims)


def test_malformed_other_role_is_unauthorized_even_if_selected_one_is_fine() -> None:
    claims = cis2()
    claims["nhsid_nrbac_roles"][0]["org_code"] = {"nested": True}
    with pytest.raises(Unauthorized):
        principal_from_claims(claims)


def test_local_authority_service_client() -> None:
    client = principal_from_claims(
        {
            "sub": "la-system-E09000007",
            "org_code": "E09000007",
            "scope": "cpis:upload cpis:notifications cpis:history",
        }
    )
    assert client == ServiceClient(
        sub="la-system-E09000007",
        org_code="E09000007",
        scopes=frozenset({"cpis:upload", "cpis:notifications", "cpis:history"}),
    )
    assert isinstance(client, ServiceClient)
    assert client.has("cpis:upload")
    assert not client.has("cpis:admin")


def test_unknown_scopes_are_ignored() -> None:
    client = principal_from_claims(
        {"sub": "s", "org_code": "E09000007", "scope": "openid  cpis:history other:thing"}
    )
    assert isinstance(client, ServiceClient)
    assert client.scopes == {"cpis:history"}


@pytest.mark.parametrize("scope", ["cpis:audit", "cpis:admin", "cpis:audit cpis:admin", "openid"])
def test_auditor_and_admin_need_no_org_code(scope: str) -> None:
    client = principal_from_claims({"sub": "internal", "scope": scope})
    assert isinstance(client, ServiceClient)
    assert client.org_code is None


@pytest.mark.parametrize(
    "scope", ["cpis:upload", "cpis:notifications", "cpis:history", "cpis:admin cpis:upload"]
)
def test_local_authority_scope_without_org_code_is_unauthorized(scope: str) -> None:
    with pytest.raises(Unauthorized):
        principal_from_claims({"sub": "la-system", "scope": scope})


@pytest.mark.parametrize(
    "claims",
    [
        {"scope": "cpis:audit"},
        {"sub": 7, "scope": "cpis:audit"},
        {"sub": "s", "scope": ["cpis:audit"]},
        {"sub": "s", "scope": ""},
        {"sub": "s", "scope": "cpis:audit\r\nx"},
        {"sub": "s", "scope": "cpis:upload", "org_code": 9000007},
        {"sub": "s", "scope": "cpis:upload", "org_code": "E09000007/../x"},
        {"sub": "s", "scope": "cpis:upload", "org_code": ""},
        {"sub": "s"},  # neither a health user nor a service
        {},
    ],
)
def test_malformed_service_claims_are_unauthorized(claims: dict[str, Any]) -> None:
    with pytest.raises(Unauthorized):
        principal_from_claims(claims)


def test_selected_roleid_makes_a_health_user_even_with_scope() -> None:
    user = principal_from_claims(cis2(scope="cpis:admin"))
    assert isinstance(user, HealthUser)


def test_actor_of_health_user() -> None:
    actor = actor_of(principal_from_claims(cis2()))
    assert actor == {
        "type": "health-user",
        "sub": "910000000001",
        "name": "Dr Ada Example",
        "role_id": "555000000001",
        "role_name": "Clinical Practitioner",
        "role_code": "S8000:G8000:R8000",
        "org_code": "RJ122",
        "org_name": "Example Hospital ED",
    }
    assert json.loads(json.dumps(actor)) == actor


def test_actor_of_service_client() -> None:
    client = principal_from_claims(
        {"sub": "la-system-E09000007", "org_code": "E09000007", "scope": "cpis:upload cpis:history"}
    )
    assert actor_of(client) == {
        "type": "service",
        "sub": "la-system-E09000007",
        "org_code": "E09000007",
        "scopes": "cpis:history cpis:upload",
    }
    auditor = actor_of(principal_from_claims({"sub": "aud", "scope": "cpis:audit"}))
    assert auditor == {"type": "service", "sub": "aud", "org_code": None, "scopes": "cpis:audit"}
