"""Taking a message apart: display text from the sender's names, headers that the parser chokes on, and what
Exchange Online's own headers say about the sender."""

from __future__ import annotations

import pytest

from mail_jobs.documents import display_filename, parse_mail
from mail_jobs.exchange_auth import authentication_results, exchange_verdict

PAT = "pat@alpha.example"
# Exchange's format: no authserv-id, the recipient's domain between results, comments in parentheses.
EXCHANGE_PASS = (
    "spf=pass (sender IP is 192.0.2.10) smtp.mailfrom=alpha.example; contoso.com; dkim=pass (signature was "
    "verified) header.d=alpha.example;contoso.com; dmarc=pass action=none header.from=alpha.example;"
    "compauth=pass reason=100"
)
EXCHANGE_FAIL = (
    "spf=fail (sender IP is 198.51.100.66) smtp.mailfrom=alpha.example; contoso.com; dkim=none (message not "
    "signed) header.d=none;contoso.com; dmarc=fail action=oreject header.from=alpha.example;compauth=fail reason=000"
)
ANONYMOUS = [("x-ms-exchange-organization-authas", "Anonymous")]


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("report.pdf", "report.pdf"),
        ("..", "attachment-3"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\pat\\scan.pdf", "scan.pdf"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("two\r\nlines\x00.pdf", "twolines.pdf"),
        (None, "attachment-3"),
        ("a" * 300 + ".pdf", "a" * 195 + "….pdf"),
    ],
)
def test_a_senders_file_name_becomes_display_text(name: str | None, shown: str) -> None:
    assert display_filename(name, 3) == shown


@pytest.mark.parametrize(
    "raw",
    [
        b"From: <\r\nSubject: x\r\n\r\nbody",
        b"From: a:b:c;;;@@\r\n\r\nbody",
        b"From: pat@alpha.example\r\nFrom: boss@alpha.example\r\n\r\nbody",
    ],
    ids=["unclosed-angle", "group-garbage", "two-senders"],
)
def test_a_sender_the_parser_cannot_read_is_no_sender(raw: bytes) -> None:
    assert parse_mail(raw).sender == ""


def test_the_subject_is_display_text() -> None:
    raw = b"From: pat@alpha.example\r\nSubject: =?utf-8?q?Hello=07_=E2=80=AEworld?=\r\n\r\nbody"
    assert parse_mail(raw).subject == "Hello world"


def test_exchanges_verdict_is_read_from_its_own_format() -> None:
    results = authentication_results(EXCHANGE_PASS)
    assert results["dmarc"] == ("pass", {"action": "none", "header.from": "alpha.example"})
    assert results["compauth"][0] == "pass" and results["spf"][0] == "pass"
    assert exchange_verdict([("authentication-results", EXCHANGE_PASS), *ANONYMOUS], PAT).accepted


def test_composite_authentication_alone_is_enough() -> None:
    best_guess = "spf=pass smtp.mailfrom=alpha.example; dmarc=bestguesspass action=none header.from=alpha.example; "
    verdict = exchange_verdict([("authentication-results", best_guess + "compauth=pass reason=109"), *ANONYMOUS], PAT)
    assert verdict.accepted


def test_only_the_topmost_authentication_results_counts() -> None:
    headers = [("authentication-results", EXCHANGE_FAIL), ("authentication-results", EXCHANGE_PASS), *ANONYMOUS]
    verdict = exchange_verdict(headers, PAT)
    assert not verdict.accepted and "DMARC fail, composite authentication fail" in verdict.reason


def test_a_pass_for_another_domain_does_not_vouch_for_the_sender() -> None:
    other = EXCHANGE_PASS.replace("alpha.example", "attacker.example")
    verdict = exchange_verdict([("authentication-results", other), *ANONYMOUS], PAT)
    assert not verdict.accepted and "attacker.example" in verdict.reason


def test_internal_mail_needs_every_authas_to_say_so() -> None:
    internal = [
        ("x-ms-exchange-organization-authsource", "EM2PR01MB0001.prod.outlook.com"),
        ("x-ms-exchange-organization-authas", "Internal"),
    ]
    assert exchange_verdict(internal, PAT).accepted
    assert not exchange_verdict([*internal, *ANONYMOUS], PAT).accepted  # a forged "Internal" beside Exchange's
    assert not exchange_verdict(internal[1:], PAT).accepted  # no server that authenticated it


def test_mail_that_did_not_pass_through_exchange_is_refused() -> None:
    verdict = exchange_verdict([("authentication-results", EXCHANGE_PASS)], PAT)  # no AuthAs: not Exchange's
    assert not verdict.accepted and "did not come through Exchange Online's mail flow" in verdict.reason
