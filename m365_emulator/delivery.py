"""What Exchange Online writes into a message it delivers to one of its mailboxes.

Exchange stamps every message it delivers (Microsoft, "Anti-spam message headers in Microsoft 365",
https://learn.microsoft.com/defender-office-365/message-headers-eop-mdo, and the Exchange team's "Demystifying
and troubleshooting hybrid mail flow: when is a message internal?",
https://techcommunity.microsoft.com/t5/exchange-team-blog/demystifying-and-troubleshooting-hybrid-mail-flow-when-is-a/ba-p/1420838):

- It first removes every ``X-MS-Exchange-Organization-*`` header the message brought along (the "header
  firewall"): only Exchange itself says what the organisation knows about a message.
- Mail that a signed-in user of the recipient's own organisation submitted is *internal*:
  ``X-MS-Exchange-Organization-AuthAs: Internal`` and ``X-MS-Exchange-Organization-AuthSource: <server>`` at the
  end of the header, plus an ``Authentication-Results`` without SPF (there is no outside sender to check).
- Mail from anywhere else is *anonymous*: on top of the header a ``Received`` line, Exchange's
  ``Authentication-Results`` in its own format (no authserv-id, the recipient's domain between the results) with
  the SPF, DKIM, DMARC and composite (``compauth``) verdicts for the From domain, and ``Received-SPF``; at the end
  ``X-MS-Exchange-Organization-AuthAs: Anonymous``. A header a sender wrote stays where it was: below Exchange's.

The emulator has no DNS: outside domains are described in the seed (``sender_domains``: the networks their SPF
record permits and their DMARC policy). It checks no DKIM signature (``dkim=none``), so DMARC passes on aligned
SPF. Mail that another tenant of the emulator submitted is signed by that tenant, as Exchange does: it passes.
"""

from __future__ import annotations

import email.policy
import ipaddress
import re
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.utils import formatdate, getaddresses

from m365_emulator.seed import SenderDomain

ORGANIZATION_HEADER = re.compile(rb"^x-ms-exchange-organization-", re.IGNORECASE)
FRONT_END = "EM2PEPF00000001.emulator.mail.protection.outlook.com"


@dataclass(frozen=True)
class Verdicts:
    spf: str
    dkim: str
    dmarc: str
    action: str
    compauth: str
    reason: str


def stamp_internal(raw: bytes, *, server: str, sender_domain: str) -> bytes:
    """A message a signed-in user of the recipient's organisation submitted through `server`."""
    results = f"dkim=none (message not signed) header.d=none;dmarc=none action=none header.from={sender_domain};"
    top = [f"Received: from {server} by {server} with Microsoft SMTP Server; {formatdate(usegmt=True)}"]
    top.append(f"Authentication-Results: {results}")
    bottom = [
        "X-MS-Exchange-Organization-MessageDirectionality: Originating",
        f"X-MS-Exchange-Organization-AuthSource: {server}",
        "X-MS-Exchange-Organization-AuthAs: Internal",
    ]
    return _stamped(raw, top, bottom)


def stamp_anonymous(raw: bytes, *, verdicts: Verdicts, client_ip: str, helo: str, mail_from: str, rcpt: str) -> bytes:
    """A message from outside the recipient's organisation, with the verdicts Exchange reached on it."""
    mail_from_domain = _domain(mail_from) or helo
    from_domain = header_from_domain(raw)
    recipient_domain = _domain(rcpt)
    dkim = (
        f"dkim=pass (signature was verified) header.d={from_domain}"
        if verdicts.dkim == "pass"
        else "dkim=none (message not signed) header.d=none"
    )
    results = (
        f"spf={verdicts.spf} (sender IP is {client_ip}) smtp.mailfrom={mail_from_domain}; {recipient_domain}; "
        f"{dkim};{recipient_domain}; dmarc={verdicts.dmarc} action={verdicts.action} header.from={from_domain};"
        f"compauth={verdicts.compauth} reason={verdicts.reason}"
    )
    top = [
        f"Received: from {helo} ({client_ip}) by {FRONT_END} with Microsoft SMTP Server via Frontend Transport; "
        f"{formatdate(usegmt=True)}",
        f"Authentication-Results: {results}",
        f"Received-SPF: {verdicts.spf.capitalize()} (protection.outlook.com: domain of {mail_from_domain}) "
        f"receiver=protection.outlook.com; client-ip={client_ip}; helo={helo};",
    ]
    bottom = [
        "X-MS-Exchange-Organization-MessageDirectionality: Incoming",
        f"X-MS-Exchange-Organization-AuthSource: {FRONT_END}",
        "X-MS-Exchange-Organization-AuthAs: Anonymous",
    ]
    return _stamped(raw, top, bottom)


def evaluate(*, client_ip: str, helo: str, mail_from: str, header_from: str, domains: list[SenderDomain]) -> Verdicts:
    """SPF for the envelope sender's domain, DMARC and composite authentication for the From domain."""
    known = {domain.domain: domain for domain in domains}
    spf_domain = _domain(mail_from) or helo.lower()
    spf = _spf(known.get(spf_domain), client_ip)
    aligned = spf == "pass" and _aligned(spf_domain, header_from)
    policy = _dmarc_record(known, header_from)
    if policy is None:
        if aligned:  # no DMARC record, but SPF vouches for the From domain: Microsoft's "best guess"
            return Verdicts(spf, "none", "bestguesspass", "none", "pass", "109")
        return Verdicts(spf, "none", "none", "none", "fail", "001")
    if aligned:
        return Verdicts(spf, "none", "pass", "none", "pass", "100")
    action = {"reject": "oreject", "quarantine": "quarantine"}.get(policy, "none")
    return Verdicts(spf, "none", "fail", action, "fail", "000")


# Mail another Exchange Online tenant sent from one of its own domains: Exchange signed it, everything passes.
SIGNED_BY_TENANT = Verdicts("pass", "pass", "pass", "none", "pass", "100")


def header_from_domain(raw: bytes) -> str:
    """The domain of the first From address ("" without one)."""
    header = BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    addresses = getaddresses(header.get_all("From", []))
    return _domain(addresses[0][1]) if addresses else ""


def _stamped(raw: bytes, top: list[str], bottom: list[str]) -> bytes:
    head, separator, body = _split(raw)
    kept = [line for line in _header_fields(head) if not ORGANIZATION_HEADER.match(line)]
    fields = [line.encode() for line in top] + kept + [line.encode() for line in bottom]
    return b"\r\n".join(fields) + b"\r\n" + separator + body


def _split(raw: bytes) -> tuple[bytes, bytes, bytes]:
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, body = raw.partition(separator)
        if found:
            return head, separator[len(separator) // 2 :], body
    return raw, b"\r\n", b""


def _header_fields(head: bytes) -> list[bytes]:
    """Header fields with their folded continuation lines, as they came."""
    fields: list[bytes] = []
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        elif line:
            fields.append(line)
    return fields


def _spf(record: SenderDomain | None, client_ip: str) -> str:
    if record is None or not record.spf:
        return "none"
    address = ipaddress.ip_address(client_ip)
    return "pass" if any(address in ipaddress.ip_network(network) for network in record.spf) else "fail"


def _dmarc_record(known: dict[str, SenderDomain], domain: str) -> str | None:
    """The DMARC policy of the From domain, or of a parent domain (organizational domain, roughly)."""
    labels = domain.split(".")
    for start in range(len(labels) - 1):
        record = known.get(".".join(labels[start:]))
        if record is not None and record.dmarc is not None:
            return record.dmarc
    return None


def _aligned(spf_domain: str, from_domain: str) -> bool:
    """Relaxed alignment, roughly: one domain is the other or a subdomain of it."""
    return bool(from_domain) and (
        spf_domain == from_domain or spf_domain.endswith("." + from_domain) or from_domain.endswith("." + spf_domain)
    )


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().strip(">").lower() if "@" in address else ""
