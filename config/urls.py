from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from accounts import views as account_views
from accounts.forms import OperatorSignInForm
from health import views as health_views
from operations.views import healthz
from ui.views import favicon

admin.site.site_header = "Roger operator admin"
admin.site.site_title = "Roger operator admin"
admin.site.login_form = OperatorSignInForm  # the same lockout as the tenant sign-in

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),
    path("", health_views.dashboard, name="dashboard"),
    path("accounts/", include("accounts.urls")),
    path("administration/audit/", account_views.audit_log, name="audit_log"),
    path("administration/users/", include("users_admin.urls")),
    path("administration/integrations/", include("integrations.urls")),
    path("administration/universal-print/", include("universal_print.urls")),
    path("administration/user-synchronization/", include("user_sync.urls")),
    path("integrations/", include("integrations.callback_urls")),
    path("settings/external-systems/", include("external_systems.urls")),
    path("settings/network/", include("outgoing_mail.urls")),
    path("settings/jobs/", include("mail_jobs.urls")),
    path("jobs/", include("print_jobs.urls")),
    path("", include("onedrive.urls")),
    path("", include("microsoft_login.urls")),
    path("operator/", admin.site.urls),
]

if settings.METRICS_ENABLED:  # Prometheus scrapes each web node; keep /metrics off the public proxy
    from django_prometheus.exports import ExportToDjangoView

    urlpatterns.insert(0, path("metrics", ExportToDjangoView, name="metrics"))
