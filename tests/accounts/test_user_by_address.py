"""Finding who mailed a document in (Jobs via Email): by address or alias, on the tenant's unique indexes."""

from __future__ import annotations

import pytest

from accounts.models import EmailAlias
from accounts.selectors import user_by_address
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_sender_is_found_by_address_or_alias_whatever_the_case(tenant_a, tenant_b, django_assert_max_num_queries):
    pat = UserFactory(tenant=tenant_a, email="pat@alpha.example")
    EmailAlias.objects.create(user=pat, tenant=tenant_a, email="Pat.Smith@Alpha.example")
    UserFactory(tenant=tenant_b, email="sam@beta.example")

    with django_assert_max_num_queries(1):
        assert user_by_address(tenant=tenant_a, email=" PAT@alpha.example ") == pat
    with django_assert_max_num_queries(2):
        assert user_by_address(tenant=tenant_a, email="pat.smith@alpha.example") == pat
    assert user_by_address(tenant=tenant_a, email="sam@beta.example") is None  # another tenant's


def test_a_deactivated_user_is_nobody_by_address_or_alias(tenant_a):
    pat = UserFactory(tenant=tenant_a, email="pat@alpha.example", is_active=False)
    EmailAlias.objects.create(user=pat, tenant=tenant_a, email="p@alpha.example")

    assert user_by_address(tenant=tenant_a, email="pat@alpha.example") is None
    assert user_by_address(tenant=tenant_a, email="p@alpha.example") is None
