from __future__ import annotations

import factory
from django.utils import timezone

from accounts.choices import Role
from accounts.models import Tenant, User

PASSWORD = "correct horse battery staple"


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tenant-{n}")
    display_name = factory.LazyAttribute(lambda o: o.name.replace("-", " ").title())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    tenant = factory.SubFactory(TenantFactory)
    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Faker("name")
    role = Role.USER
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def saved(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            self.save()


class AdminFactory(UserFactory):
    role = Role.ADMIN


EXCHANGE_APP = "d3e4f5a6-1111-4b2c-8d3e-00000000e0e1"  # the seed's "Contoso Exchange Online" app


class ExternalSystemFactory(factory.django.DjangoModelFactory):
    """An Exchange Online system as stored; `connected=True` makes it look connected (no token behind it: tests
    that talk to Exchange connect one for real, e.g. tests.mail_jobs.conftest.connect_exchange_system)."""

    class Meta:
        model = "external_systems.ExternalSystem"

    class Params:
        connected = factory.Trait(
            status="connected",
            mailbox=factory.LazyAttribute(lambda o: f"print@{o.tenant.name}.example"),
            connected_at=factory.LazyFunction(timezone.now),
        )

    tenant = factory.SubFactory(TenantFactory)
    system_type = "exchange_online"
    title = factory.Sequence(lambda n: f"Exchange mail {n}")
    client_id = EXCHANGE_APP
    directory_input = "contoso.onmicrosoft.com"


class MailServerAccountFactory(factory.django.DjangoModelFactory):
    """A mail server as stored, never through a form: a custom IMAP server unless told otherwise."""

    class Meta:
        model = "mail_servers.MailServerAccount"

    class Params:
        exchange = factory.Trait(
            kind="exchange",
            host="",
            username="",
            password="",
            exchange_system=factory.SubFactory(
                ExternalSystemFactory, tenant=factory.SelfAttribute("..tenant"), connected=True
            ),
        )

    tenant = factory.SubFactory(TenantFactory)
    kind = "custom"
    protocol = "imap"
    host = "mail.alpha.example"
    security = "ssl"
    username = "print@alpha.example"
    password = "Top-Secret-1"


class MailJobSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "mail_jobs.MailJobSource"

    tenant = factory.SubFactory(TenantFactory)
    mail_server = factory.SubFactory(MailServerAccountFactory, tenant=factory.SelfAttribute("..tenant"))


class OutgoingMailSettingsFactory(factory.django.DjangoModelFactory):
    """Settings > Network as stored: the tenant's own SMTP server, a custom one without sign-in unless told."""

    class Meta:
        model = "outgoing_mail.OutgoingMailSettings"

    tenant = factory.SubFactory(TenantFactory)
    use_own_server = True
    mail_server = factory.SubFactory(
        MailServerAccountFactory,
        tenant=factory.SelfAttribute("..tenant"),
        protocol="smtp",
        host="smtp.alpha.example",
        port=587,
        security="starttls",
        username="",
        password="",
    )
    from_address = "print@alpha.example"
