"""The rule: per Roger tenant and Microsoft directory, at most one enabled feature of each type."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, connections, transaction

from integrations.errors import ConsentMissing, IntegrationError, RuleViolation
from integrations.models import Feature
from integrations.services.features import feature_disable, feature_enable
from tests.integrations.conftest import CONTOSO, FABRIKAM, consented, feature_of, manual_integration

pytestmark = pytest.mark.django_db


def test_second_enabled_feature_of_a_type_in_the_same_directory_is_refused_naming_the_holder(admin_a):
    first = manual_integration(admin_a, name="Contoso main")
    second = manual_integration(admin_a, name="Contoso spare")
    feature_enable(feature=consented(feature_of(first, "onedrive")))

    with pytest.raises(RuleViolation) as caught:
        feature_enable(feature=consented(feature_of(second, "onedrive")))

    assert "“Contoso main”" in caught.value.message
    assert "OneDrive is already enabled" in caught.value.message
    assert not feature_of(second, "onedrive").enabled


def test_other_feature_types_and_other_directories_are_free(admin_a):
    first = manual_integration(admin_a, name="Contoso")
    other = manual_integration(admin_a, name="Fabrikam", directory_id=FABRIKAM)
    feature_enable(feature=consented(feature_of(first, "onedrive")))

    feature_enable(feature=consented(feature_of(first, "login")))
    feature_enable(feature=consented(feature_of(other, "onedrive")))

    assert Feature.objects.filter(enabled=True).count() == 3


def test_no_directory_counts_as_every_directory(admin_a):
    anywhere = manual_integration(admin_a, name="Anywhere", directory_id="")
    contoso = manual_integration(admin_a, name="Contoso")
    feature_enable(feature=feature_of(anywhere, "login"))  # each user consents: no admin consent

    with pytest.raises(RuleViolation) as caught:
        feature_enable(feature=consented(feature_of(contoso, "login")))
    assert "“Anywhere”" in caught.value.message and "counts as every directory" in caught.value.message

    feature_disable(feature=feature_of(anywhere, "login"))
    feature_enable(feature=feature_of(contoso, "login"))
    with pytest.raises(RuleViolation):
        feature_enable(feature=feature_of(anywhere, "login"))


def test_another_roger_tenants_feature_never_blocks_nor_shows(admin_a, admin_b):
    theirs = manual_integration(admin_b, name="Bravo secret name")
    feature_enable(feature=consented(feature_of(theirs, "user_sync")))
    ours = manual_integration(admin_a, name="Ours")

    feature_enable(feature=consented(feature_of(ours, "user_sync")))

    assert feature_of(ours, "user_sync").enabled


def test_disabling_keeps_consent(admin_a, contoso_a):
    feature = feature_enable(feature=consented(feature_of(contoso_a, "onedrive")))
    feature_disable(feature=feature)
    feature.refresh_from_db()
    assert not feature.enabled and feature.consent_state == "granted"


def test_enabling_without_consent_asks_for_it_and_directory_features_need_a_directory(admin_a):
    contoso = manual_integration(admin_a, name="Contoso")
    with pytest.raises(ConsentMissing):
        feature_enable(feature=feature_of(contoso, "user_sync"))
    anywhere = manual_integration(admin_a, name="Anywhere", directory_id="")
    with pytest.raises(IntegrationError, match="needs the Directory \\(Tenant\\) ID"):
        feature_enable(feature=feature_of(anywhere, "universal_print"))


def test_the_database_enforces_the_rule_too(admin_a):
    first = manual_integration(admin_a, name="One")
    second = manual_integration(admin_a, name="Two")
    Feature.objects.filter(pk=feature_of(first, "login").pk).update(enabled=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        Feature.objects.filter(pk=feature_of(second, "login").pk).update(enabled=True)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("second_directory", [CONTOSO, ""], ids=["same-directory", "no-directory"])
def test_two_concurrent_enables_on_two_connections_exactly_one_wins(admin_a, second_directory):
    features = [
        consented(feature_of(manual_integration(admin_a, name=name, directory_id=directory), "onedrive"))
        for name, directory in (("Racer one", CONTOSO), ("Racer two", second_directory))
    ]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def enable(feature: Feature) -> None:
        try:
            barrier.wait(timeout=10)
            feature_enable(feature=Feature.objects.get(pk=feature.pk))
            outcomes.append("won")
        except RuleViolation:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=enable, args=(feature,)) for feature in features]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["refused", "won"]
    assert Feature.objects.filter(feature_type="onedrive", enabled=True).count() == 1
