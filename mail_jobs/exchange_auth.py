"""Whether Exchange Online vouched for a message's sender, read from the headers Exchange itself wrote.

Exchange Online stamps what it learned about a message when it delivers it into a mailbox:

- Mail from outside the organisation gets an ``Authentication-Results`` header with the SPF, DKIM and DMARC
  verdicts and Microsoft's composite verdict (``compauth``) for the domain of the From address, in Exchange's own
  format (no authserv-id, stray domain names between the results): "Anti-spam message headers in Microsoft 365",
  section "Authentication-results message header fields",
  https://learn.microsoft.com/defender-office-365/message-headers-eop-mdo. Exchange adds it above every header the
  message already has, so the topmost one is Exchange's; any that a sender wrote sits further down and is ignored.
- Mail that a user of the same organisation submitted after signing in is marked
  ``X-MS-Exchange-Organization-AuthAs: Internal``, with the server that authenticated it in
  ``X-MS-Exchange-Organization-AuthSource``; mail from outside is marked ``Anonymous``. Exchange removes
  ``X-MS-Exchange-Organization-*`` headers from mail entering the organisation (its "header firewall"), so a sender
  cannot bring its own: "Demystifying and troubleshooting hybrid mail flow: when is a message internal?",
  https://techcommunity.microsoft.com/t5/exchange-team-blog/demystifying-and-troubleshooting-hybrid-mail-flow-when-is-a/ba-p/1420838.
  Exchange writes these at the end of the header, below the sender's own, so position proves nothing here: mail
  counts as internal only when every AuthAs header says so (a forged one could add "Internal", never remove
  Exchange's "Anonymous").

A message without any AuthAs header did not come through Exchange's mail flow (it was put into the mailbox some
other way), so its topmost Authentication-Results could be anybody's: it is refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

AUTH_AS = "x-ms-exchange-organization-authas"
AUTH_SOURCE = "x-ms-exchange-organization-authsource"
AUTHENTICATION_RESULTS = "authentication-results"
_COMMENT = re.compile(r"\([^()]*\)")


@dataclass(frozen=True)
class ExchangeVerdict:
    accepted: bool
    reason: str  # why it was refused, or what vouched for it


def exchange_verdict(headers: Sequence[tuple[str, str]], sender: str) -> ExchangeVerdict:
    """Exchange's verdict on `sender`, from the message's headers (lower-case names, topmost first)."""
    auth_as = {value.strip().lower() for name, value in headers if name == AUTH_AS}
    if auth_as == {"internal"} and _topmost(headers, AUTH_SOURCE):
        return ExchangeVerdict(True, "sent from inside the organisation by a signed-in user")
    if not sender:
        return ExchangeVerdict(False, "The message has no single sender address that Exchange Online could check.")
    stamp = _topmost(headers, AUTHENTICATION_RESULTS)
    if not auth_as or not stamp:
        return _refused(sender, "it did not come through Exchange Online's mail flow")
    results = authentication_results(stamp)
    dmarc, dmarc_properties = results.get("dmarc", ("none", {}))
    compauth, _ = results.get("compauth", ("none", {}))
    checked_domain = dmarc_properties.get("header.from", "").lower()
    sender_domain = sender.rpartition("@")[2].lower()
    if checked_domain and checked_domain != sender_domain:
        return _refused(sender, f"Exchange Online checked the domain {checked_domain}, not {sender_domain}")
    if dmarc == "pass" or compauth == "pass":
        return ExchangeVerdict(True, f"Exchange Online authenticated it (DMARC {dmarc}, composite {compauth})")
    return _refused(sender, f"DMARC {dmarc}, composite authentication {compauth}")


def authentication_results(value: str) -> dict[str, tuple[str, dict[str, str]]]:
    """``method=result property=value ...`` per result, the first of each method; comments and anything that is
    not a result (the authserv-id, Exchange's stray domain names) are skipped."""
    while True:
        stripped = _COMMENT.sub(" ", value)
        if stripped == value:
            break
        value = stripped
    results: dict[str, tuple[str, dict[str, str]]] = {}
    for segment in value.split(";"):
        tokens = segment.split()
        if not tokens or "=" not in tokens[0]:
            continue
        method, _, result = tokens[0].partition("=")
        properties = {}
        for token in tokens[1:]:
            name, equals, item = token.partition("=")
            if equals:
                properties[name.lower()] = item.strip('"')
        results.setdefault(method.lower(), (result.lower(), properties))
    return results


def _topmost(headers: Sequence[tuple[str, str]], name: str) -> str:
    return next((value.strip() for header, value in headers if header == name), "")


def _refused(sender: str, why: str) -> ExchangeVerdict:
    return ExchangeVerdict(
        False,
        f"Exchange Online could not confirm that the message comes from {sender} ({why}). Only mail that Exchange "
        "Online authenticated is printed here.",
    )
