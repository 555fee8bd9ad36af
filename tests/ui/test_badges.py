"""Choices carry their colour; `{% badge %}` shows the label in that colour; StatusField hands out members."""

from __future__ import annotations

import pytest
from django.template import Context, Template, TemplateSyntaxError

from credentials.choices import CredentialState
from tests.factories import AdminFactory
from ui.choices import BadgeChoices, Colour
from ui.fields import StatusField


class Weather(BadgeChoices):
    SUNNY = "sunny", "Sunny", Colour.OK
    STORM = "storm", "Storm warning", Colour.ERROR
    CLOUDY = "cloudy", "Cloudy"


def render(source: str, **context: object) -> str:
    return Template("{% load ui %}" + source).render(Context(context))


def test_a_member_carries_its_label_and_colour_and_stays_the_string_it_was() -> None:
    assert Weather.choices == [("sunny", "Sunny"), ("storm", "Storm warning"), ("cloudy", "Cloudy")]
    assert Weather.STORM.colour is Colour.ERROR
    assert Weather.CLOUDY.colour is Colour.NEUTRAL  # no colour given: neutral
    assert Weather("sunny") is Weather.SUNNY and Weather.SUNNY == "sunny" and str(Weather.SUNNY) == "sunny"


def test_the_badge_shows_the_label_with_the_colour_class() -> None:
    assert render("{% badge w %}", w=Weather.STORM) == '<span class="badge badge-err">Storm warning</span>'
    assert render("{% badge w %}", w=Weather.CLOUDY) == '<span class="badge">Cloudy</span>'
    assert render("{% badge w title=why %}", w=Weather.SUNNY, why="It <rains>") == (
        '<span class="badge badge-ok" title="It &lt;rains&gt;">Sunny</span>'
    )


def test_a_fixed_marker_names_its_colour() -> None:
    assert render('{% badge "Password saved" colour="ok" %}') == '<span class="badge badge-ok">Password saved</span>'
    assert render('{% badge text colour="neutral" %}', text="<b>") == '<span class="badge">&lt;b&gt;</span>'


def test_a_bare_string_is_refused_rather_than_shown_in_a_guessed_colour() -> None:
    with pytest.raises(TypeError):
        render("{% badge state %}", state="active")
    with pytest.raises(TypeError):
        render("{% badge state %}", state=None)
    with pytest.raises(TemplateSyntaxError):
        render('{% badge w colour="ok" %}', w=Weather.STORM)  # a choice's colour is the choice's


def test_a_status_field_hands_out_members_loaded_or_assigned(db: None) -> None:
    from credentials.models import MicrosoftCredential

    admin = AdminFactory()
    credential = MicrosoftCredential.objects.create(
        tenant=admin.tenant, owner_type="t", owner_id=1, kind="app_only", directory_id="d", client_id="c"
    )
    assert credential.state is CredentialState.ACTIVE
    credential.state = "needs_reconnect"  # as a form or a raw update would give it
    assert credential.state is CredentialState.NEEDS_RECONNECT
    credential.save()
    loaded = MicrosoftCredential.objects.get(pk=credential.pk)
    assert loaded.state is CredentialState.NEEDS_RECONNECT and loaded.state.colour is Colour.ERROR
    assert MicrosoftCredential.objects.filter(state="needs_reconnect").count() == 1
    deferred = MicrosoftCredential.objects.only("pk").get(pk=credential.pk)
    assert deferred.state is CredentialState.NEEDS_RECONNECT
    assert render("{% badge c.state %}", c=loaded) == '<span class="badge badge-err">Needs reconnect</span>'


def test_a_value_outside_the_choices_is_kept_as_it_is() -> None:
    field = StatusField(max_length=10, choices=Weather)
    assert field.member("hail") == "hail" and not isinstance(field.member("hail"), Weather)


def test_a_status_field_needs_badge_choices_and_migrates_as_a_char_field() -> None:
    with pytest.raises(TypeError):
        StatusField(max_length=10, choices=[("a", "A")])  # type: ignore[arg-type]
    field = StatusField(max_length=10, choices=Weather, default=Weather.CLOUDY)
    _name, path, _args, kwargs = field.deconstruct()
    assert path == "django.db.models.CharField" and kwargs["choices"] == Weather.choices
    assert field.clone().choices_class is Weather


def test_anything_with_a_label_and_a_colour_is_a_badge() -> None:
    from health import Health

    health = Health.needs_action("Needs reconnect", reason="Revoked.")
    assert render("{% badge h %}", h=health) == '<span class="badge badge-err">Needs reconnect</span>'


def test_other_words_in_a_choices_colour_carry_its_label_as_their_title() -> None:
    assert render('{% badge w text="Tomorrow" %}', w=Weather.SUNNY) == (
        '<span class="badge badge-ok" title="Sunny">Tomorrow<span class="sr-only"> (Sunny)</span></span>'
    )


def test_other_words_are_escaped_unless_safe_every_time() -> None:
    """A worded badge is kept once built: the same words, safe or not, still come out as they would the first time."""
    from django.utils.safestring import mark_safe

    for _ in range(2):
        assert render("{% badge w text=t %}", w=Weather.STORM, t="<b>Now</b>") == (
            '<span class="badge badge-err" title="Storm warning">&lt;b&gt;Now&lt;/b&gt;'
            '<span class="sr-only"> (Storm warning)</span></span>'
        )
        assert render("{% badge w text=t %}", w=Weather.STORM, t=mark_safe("<b>Now</b>")) == (
            '<span class="badge badge-err" title="Storm warning"><b>Now</b>'
            '<span class="sr-only"> (Storm warning)</span></span>'
        )
        assert render('{% badge w text=t title="Why" %}', w=Weather.STORM, t="Now") == (
            '<span class="badge badge-err" title="Why">Now<span class="sr-only"> (Storm warning)</span></span>'
        )
