"""The token cache is encrypted at rest, survives a key rotation, and a removed key fails loudly."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection
from fernet_fields import EncryptedField
from fernet_fields.hkdf import derive_fernet_key

from credentials.choices import CredentialKind
from credentials.models import MicrosoftCredential
from tests.credentials.apps import CONTOSO, DEVICE_APP, TEST_OWNER_TYPE

REFRESH_TOKEN = "1.AQ-refresh-token-that-must-never-be-stored-in-clear"
CACHE = json.dumps({"RefreshToken": {"key": {"secret": REFRESH_TOKEN, "credential_type": "RefreshToken"}}})


def _forget_cached_fernets() -> None:
    """fernet_fields caches its keys and Fernet on each field (cached_property): drop them after a change."""
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedField):
                for name in ("keys", "fernet_keys", "fernet"):
                    field.__dict__.pop(name, None)


@pytest.fixture
def use_keys(settings) -> Iterator[Callable[..., None]]:  # type: ignore[no-untyped-def]
    original = list(django_settings.FERNET_KEYS)

    def _use(*keys: str) -> None:
        settings.FERNET_KEYS = list(keys)
        _forget_cached_fernets()

    yield _use
    settings.FERNET_KEYS = original
    _forget_cached_fernets()


def _stored(tenant) -> MicrosoftCredential:  # type: ignore[no-untyped-def]
    return MicrosoftCredential.objects.create(
        tenant=tenant,
        owner_type=TEST_OWNER_TYPE,
        owner_id=1,
        kind=CredentialKind.DELEGATED_PUBLIC,
        directory_id=CONTOSO,
        client_id=DEVICE_APP,
        token_cache=CACHE,
    )


def _raw_column(credential: MicrosoftCredential) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute("SELECT token_cache FROM credentials_microsoftcredential WHERE id = %s", [credential.pk])
        (value,) = cursor.fetchone()
    return bytes(value)


def _decrypts_with(raw: bytes, key: str) -> bool:
    try:
        return Fernet(derive_fernet_key(key)).decrypt(raw).decode() == CACHE
    except InvalidToken:
        return False


def test_the_database_holds_only_ciphertext(tenant_a, use_keys):
    use_keys("key-A")
    credential = _stored(tenant_a)

    raw = _raw_column(credential)

    assert REFRESH_TOKEN.encode() not in raw and b"RefreshToken" not in raw
    assert raw.startswith(b"gAAAAA")  # a Fernet token
    assert _decrypts_with(raw, "key-A")
    assert MicrosoftCredential.objects.get(pk=credential.pk).token_cache == CACHE


def test_rows_written_before_a_key_rotation_still_read_and_are_re_encrypted_with_the_newest_key(tenant_a, use_keys):
    use_keys("key-A")
    credential = _stored(tenant_a)
    before = _raw_column(credential)

    use_keys("key-B", "key-A")  # the new key first, the old one kept
    assert MicrosoftCredential.objects.get(pk=credential.pk).token_cache == CACHE
    output = io.StringIO()
    call_command("rotate_encryption_keys", stdout=output)
    assert "credentials.MicrosoftCredential: re-encrypted 1 rows" in output.getvalue()

    after = _raw_column(credential)
    assert after != before
    assert _decrypts_with(after, "key-B") and not _decrypts_with(after, "key-A")
    use_keys("key-B")  # the old key can now be removed
    assert MicrosoftCredential.objects.get(pk=credential.pk).token_cache == CACHE


def test_a_removed_key_fails_loudly_instead_of_returning_garbage(tenant_a, use_keys):
    use_keys("key-A")
    credential = _stored(tenant_a)

    use_keys("key-B")

    with pytest.raises(InvalidToken):
        MicrosoftCredential.objects.get(pk=credential.pk)
