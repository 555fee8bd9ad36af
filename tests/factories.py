from __future__ import annotations

import uuid

import factory
from django.utils import timezone

from accounts.choices import Role
from accounts.models import Tenant, User
from credentials.choices import CredentialKind
from credentials.models import MicrosoftCredential
from integrations import binding
from integrations.choices import AppKind, ConsentState, DirectoryProof, FeatureType, FlowKind, SetupMode
from integrations.features import FEATURES
from integrations.models import AppRegistration, AuthorizationFlow, Feature, Integration
from integrations.services.flows import FLOW_LIFETIME
from microsoft.config import GRAPH_DEFAULT_SCOPE

PASSWORD = "correct horse battery staple"
# The emulator's Contoso directory: where integrations and tokens are bound unless a test says otherwise.
CONTOSO = "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"


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


# --- print jobs -----------------------------------------------------------------------------------------------


class QueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "print_jobs.Queue"

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Queue {n}")


class PrintJobFactory(factory.django.DjangoModelFactory):
    """A job waiting to be printed, of `owner` (a user of a new tenant unless given) in the owner's tenant, with a
    small PDF as its document. Tests of how jobs are created use print_jobs.services.print_job_create instead."""

    class Meta:
        model = "print_jobs.PrintJob"

    owner = factory.SubFactory(UserFactory)
    tenant = factory.SelfAttribute("owner.tenant")
    source = "upload"
    source_key = factory.Sequence(lambda n: f"job-{n}")
    title = "doc.pdf"
    document = factory.django.FileField(filename="doc.pdf", data=b"%PDF-1.4 test")
    size = factory.LazyAttribute(lambda o: len(b"%PDF-1.4 test"))
    content_type = "application/pdf"


# --- Microsoft integrations ----------------------------------------------------------------------------------


class IntegrationFactory(factory.django.DjangoModelFactory):
    """A Microsoft integration connected to `directory_id` (Contoso), with its app registrations and four features
    as the services create them (every feature disabled, consent not granted): set up manually with the customer's
    app, or with `automatic=True` one operator split app per feature. `proven=True`: an administrator of the
    directory signed in. `features__consented=True` gives each feature its consent."""

    class Meta:
        model = Integration
        skip_postgeneration_save = True

    class Params:
        automatic = factory.Trait(
            setup_mode=SetupMode.AUTOMATIC,
            directory_connected_by=factory.LazyAttribute(lambda o: f"admin@{o.name.lower()}.onmicrosoft.com"),
        )
        proven = factory.Trait(
            directory_proof=DirectoryProof.ADMIN_SIGN_IN,
            proven_directory_id=factory.SelfAttribute("directory_id"),
            directory_proven_at=factory.LazyFunction(timezone.now),
            directory_proven_by=factory.LazyAttribute(lambda o: f"admin@{o.name.lower()}.onmicrosoft.com"),
            directory_proven_role="Global Administrator",
        )

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Microsoft{n}")
    setup_mode = SetupMode.MANUAL
    directory_id = CONTOSO

    @factory.post_generation
    def features(self, create: bool, extracted: object, **kwargs: object) -> None:
        if not create or extracted is False:
            return
        integration: Integration = self  # type: ignore[assignment]
        own_app = None if integration.is_automatic else AppRegistrationFactory(integration=integration)
        for feature_type, spec in FEATURES.items():
            app = own_app or AppRegistrationFactory(
                integration=integration, kind=AppKind.OPERATOR_SPLIT, operator_app=spec.operator_app
            )
            FeatureFactory(integration=integration, app_registration=app, feature_type=feature_type, **kwargs)


class AppRegistrationFactory(factory.django.DjangoModelFactory):
    """The customer's own app (Set up manually) unless `kind` and `operator_app` name one of the operator's."""

    class Meta:
        model = AppRegistration

    integration = factory.SubFactory(IntegrationFactory, features=False)
    kind = AppKind.CUSTOMER
    customer_client_id = factory.LazyAttribute(lambda o: str(uuid.uuid4()) if o.kind == AppKind.CUSTOMER else "")
    client_secret = factory.LazyAttribute(lambda o: "factory~Secret.Value" if o.kind == AppKind.CUSTOMER else "")


class FeatureFactory(factory.django.DjangoModelFactory):
    """One feature of an integration, sharing its tenant and directory; `consented=True`: its consent granted, with
    every permission it needs."""

    class Meta:
        model = Feature

    class Params:
        consented = factory.Trait(
            consent_state=ConsentState.GRANTED,
            granted_delegated=factory.LazyAttribute(lambda o: list(FEATURES[o.feature_type].delegated)),
            granted_application=factory.LazyAttribute(lambda o: list(FEATURES[o.feature_type].application)),
        )

    integration = factory.SubFactory(IntegrationFactory, features=False)
    app_registration = factory.SubFactory(AppRegistrationFactory, integration=factory.SelfAttribute("..integration"))
    tenant = factory.SelfAttribute("integration.tenant")
    directory_id = factory.SelfAttribute("integration.directory_id")
    feature_type = FeatureType.LOGIN
    consent_state = ConsentState.NOT_GRANTED


class AuthorizationFlowFactory(factory.django.DjangoModelFactory):
    """A round trip through Microsoft as its start leaves it, bound to a browser by `browser_key_hash` (the hash of
    the key in that browser's cookie: binding.key_new())."""

    class Meta:
        model = AuthorizationFlow

    state = factory.Sequence(lambda n: f"flow-state-{n:032d}")
    kind = FlowKind.ADMIN_CONSENT
    admin = factory.SubFactory(AdminFactory)
    tenant = factory.SelfAttribute("admin.tenant")
    integration = factory.SubFactory(IntegrationFactory, tenant=factory.SelfAttribute("..admin.tenant"))
    browser_key_hash = factory.LazyFunction(lambda: binding.key_new()[1])
    expires_at = factory.LazyFunction(lambda: timezone.now() + FLOW_LIFETIME)


# --- the token store -------------------------------------------------------------------------------------------


class MicrosoftCredentialFactory(factory.django.DjangoModelFactory):
    """A token-store row as an earlier sign-in left it: a user's delegated token when `user` is given, else an
    app-only one. The cache is opaque here (nothing reads it): a test that refreshes needs a real sign-in."""

    class Meta:
        model = MicrosoftCredential

    tenant = factory.SubFactory(TenantFactory)
    owner_type = "feature"
    owner_id = factory.Sequence(lambda n: n + 1)
    user = None
    kind = factory.LazyAttribute(lambda o: CredentialKind.DELEGATED_CONFIDENTIAL if o.user else CredentialKind.APP_ONLY)
    directory_id = CONTOSO
    client_id = factory.Faker("uuid4")
    scopes = factory.LazyAttribute(lambda o: ["Files.ReadWrite.All"] if o.user else [GRAPH_DEFAULT_SCOPE])
    account_username = factory.LazyAttribute(lambda o: o.user.email if o.user else "")
    token_cache = factory.LazyAttribute(
        lambda o: f"cache-of-{o.owner_type}-{o.owner_id}-{o.user.pk if o.user else 'app'}"
    )
