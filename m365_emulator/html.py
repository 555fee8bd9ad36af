"""HTML for the emulator's sign-in pages: plain server-rendered forms, inline CSS, no external assets."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

PERMISSION_DESCRIPTIONS = {
    "User.Read": "Sign you in and read your profile",
    "User.Read.All": "Read all users' full profiles",
    "Group.Read.All": "Read all groups",
    "Files.ReadWrite": "Have full access to your files",
    "Printer.Read.All": "Read printers",
    "PrintJob.Manage.All": "Perform advanced operations on print jobs",
    "PrintJob.Read.All": "Read print jobs",
    "PrintJob.ReadWriteBasic.All": "Read and write basic information for print jobs",
    "Printer.ReadWrite.All": "Read and update printers",
    "PrinterShare.ReadBasic.All": "Read basic information about printer shares",
    "PrintTaskDefinition.ReadWrite.All": "Read, write and update print task definitions",
    "SMTP.Send": "Send emails from mailboxes using SMTP AUTH",
    "IMAP.AccessAsUser.All": "Read and write access to mailboxes via IMAP",
    "POP.AccessAsUser.All": "Read and write access to mailboxes via POP",
    "offline_access": "Maintain access to data you have given it access to",
}

STYLE = """
*{box-sizing:border-box}body{margin:0;font-family:"Segoe UI",Helvetica,Arial,sans-serif;background:#f2f2f2;
color:#1b1b1b}main{max-width:440px;margin:8vh auto;background:#fff;padding:44px;box-shadow:0 2px 6px rgba(0,0,0,.2)}
.brand{font-weight:600;color:#5e5e5e;margin-bottom:16px;letter-spacing:.02em}.brand span{display:inline-block;
width:10px;height:10px;background:#0067b8;margin-right:6px}h1{font-size:24px;font-weight:600;margin:0 0 12px}
p{font-size:15px;line-height:1.4}label{display:block;font-size:13px;margin-top:14px;color:#444}
input[type=text],input[type=email],input[type=password]{width:100%;font-size:15px;padding:6px 0;border:0;
border-bottom:1px solid #666;outline:0}input:focus{border-bottom-color:#0067b8}.buttons{margin-top:28px;
text-align:right}button{font-size:15px;padding:6px 22px;margin-left:6px;border:1px solid #8a8a8a;background:#ccc;
cursor:pointer}button.primary{background:#0067b8;color:#fff;border-color:#0067b8}.error{color:#e81123;font-size:14px}
ul.permissions{padding-left:20px}ul.permissions li{margin:6px 0}.muted{color:#666;font-size:13px}
.details{font-family:Consolas,monospace;font-size:12px;color:#444;background:#f6f6f6;padding:8px;white-space:pre-wrap;
word-break:break-all}a{color:#0067b8}
"""


def page(title: str, body: str, *, status_note: str = "") -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body><main>"
        '<div class="brand"><span></span>Microsoft (emulator)</div>'
        f"{status_note}{body}</main></body></html>"
    )


def hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'


def sign_in(*, flow: str, app_name: str, login_hint: str = "", error: str = "") -> str:
    error_html = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return page(
        "Sign in to your account",
        f"""
<h1>Sign in</h1>
<p>to continue to <strong>{escape(app_name)}</strong></p>
{error_html}
<form method="post" action="/common/login" id="sign-in">
{hidden("flow", flow)}
<label for="login">Email, phone, or Skype</label>
<input type="email" id="login" name="login" value="{escape(login_hint)}" autocomplete="username" required autofocus>
<label for="passwd">Password</label>
<input type="password" id="passwd" name="passwd" autocomplete="current-password" required>
<div class="buttons"><button type="submit" class="primary" id="idSIButton9">Sign in</button></div>
</form>""",
    )


def permission_items(permissions: Iterable[str]) -> str:
    items = []
    for full_name in sorted(permissions):
        resource, _, name = full_name.rpartition("/")
        description = PERMISSION_DESCRIPTIONS.get(name, name)
        items.append(
            f'<li data-permission="{escape(full_name)}">{escape(description)} '
            f'<span class="muted">({escape(name)} on {escape(resource)})</span></li>'
        )
    return "".join(items) or "<li>Sign you in</li>"


def consent(
    *,
    flow: str,
    app_name: str,
    upn: str,
    permissions: Iterable[str],
    roles: Iterable[str] = (),
    for_organization: bool = False,
    offer_org_consent: bool = False,
) -> str:
    heading = "Permissions requested" + (" — Accept for your organization" if for_organization else "")
    roles_html = ""
    roles = list(roles)
    if roles:
        roles_html = (
            f"<p>As the application itself (without a signed-in user):</p>"
            f'<ul class="permissions" id="roles">{permission_items(roles)}</ul>'
        )
    org_box = ""
    if offer_org_consent:
        org_box = (
            '<label><input type="checkbox" name="consent_for_org" value="1"> '
            "Consent on behalf of your organization</label>"
        )
    note = (
        (
            "If you accept, this app will get access to the specified resources for all users in your "
            "organization. No one else will be prompted to review these permissions."
        )
        if for_organization
        else ("Accepting these permissions means that you allow this app to use your data.")
    )
    return page(
        heading,
        f"""
<p class="muted">{escape(upn)}</p>
<h1>{escape(heading)}</h1>
<p><strong>{escape(app_name)}</strong><br><span class="muted">unverified</span></p>
<p>This app would like to:</p>
<ul class="permissions" id="permissions">{permission_items(permissions)}</ul>
{roles_html}
<p class="muted">{escape(note)}</p>
<form method="post" action="/common/Consent/Set" id="consent">
{hidden("flow", flow)}{org_box}
<div class="buttons">
<button type="submit" name="decision" value="cancel" id="idBtn_Back">Cancel</button>
<button type="submit" name="decision" value="accept" class="primary" id="idSIButton9">Accept</button>
</div></form>""",
    )


def device_confirm(*, flow: str, app_name: str, upn: str, permissions: Iterable[str]) -> str:
    return page(
        "Are you trying to sign in?",
        f"""
<p class="muted">{escape(upn)}</p>
<h1>Are you trying to sign in to {escape(app_name)}?</h1>
<p>Only continue if you downloaded the app from a store or website that you trust.</p>
<p>This app would like to:</p>
<ul class="permissions" id="permissions">{permission_items(permissions)}</ul>
<form method="post" action="/common/Consent/Set" id="consent">
{hidden("flow", flow)}
<div class="buttons">
<button type="submit" name="decision" value="cancel" id="idBtn_Back">Cancel</button>
<button type="submit" name="decision" value="accept" class="primary" id="idSIButton9">Continue</button>
</div></form>""",
    )


def device_code_entry(*, error: str = "") -> str:
    error_html = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return page(
        "Enter code",
        f"""
<h1>Enter code</h1>
<p>Enter the code displayed on your app or device.</p>
{error_html}
<form method="post" action="/devicelogin" id="device-code">
<label for="otc">Code</label>
<input type="text" id="otc" name="otc" autocomplete="off" required autofocus>
<div class="buttons"><button type="submit" class="primary" id="idSIButton9">Next</button></div>
</form>""",
    )


def message(
    *, title: str, text: str, details: str = "", links: Iterable[tuple[str, str]] = (), extra_html: str = ""
) -> str:
    details_html = f'<div class="details" id="error-details">{escape(details)}</div>' if details else ""
    links_html = "".join(f'<p><a href="{escape(href)}">{escape(label)}</a></p>' for label, href in links)
    return page(
        title, f'<h1>{escape(title)}</h1><p id="message">{escape(text)}</p>{details_html}{extra_html}{links_html}'
    )


def form_post(*, action: str, fields: dict[str, str]) -> str:
    inputs = "".join(hidden(name, value) for name, value in fields.items())
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Working...</title></head>'
        '<body onload="document.forms[0].submit()">'
        f'<form method="POST" name="hiddenform" action="{escape(action)}">{inputs}'
        '<noscript><p>Script is disabled. Click Submit to continue.</p><input type="submit" value="Submit">'
        "</noscript></form></body></html>"
    )
