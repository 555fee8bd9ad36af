"""Django's `{% url %}`, reversed by `ui.reversing.reverse_cached`: a template builtin (config/settings.py's
TEMPLATES), so every template's `{% url %}` is this one, written and behaving as Django's."""

from __future__ import annotations

from typing import Any

from django import template
from django.template.base import Parser, Token
from django.template.defaulttags import URLNode
from django.template.defaulttags import url as django_url
from django.urls import NoReverseMatch

from ui.reversing import reverse_cached, url_root

register = template.Library()

_ROOT = "ui.reversing.url_root"  # kept in the render's state: the same for every link of a render


class CachedURLNode(URLNode):
    def render(self, context: template.Context) -> str:
        if self.kwargs:
            return str(super().render(context))
        args = [arg.resolve(context) for arg in self.args]
        view_name = self.view_name.resolve(context)
        request: Any = getattr(context, "request", None)
        try:
            current_app = request.current_app
        except AttributeError:
            try:
                current_app = request.resolver_match.namespace
            except AttributeError:
                current_app = None
        root = context.render_context.get(_ROOT)
        if root is None:
            root = context.render_context[_ROOT] = url_root()
        escaped = bool(context.autoescape and not self.asvar)
        url = ""
        try:
            url = reverse_cached(view_name, args=args, current_app=current_app, root=root, escaped=escaped)
        except NoReverseMatch:
            if self.asvar is None:
                raise
        if self.asvar:
            context[self.asvar] = url
            return ""
        return url


@register.tag
def url(parser: Parser, token: Token) -> CachedURLNode:
    """`{% url "name" arg ... [as var] %}`, as Django's (its syntax is parsed by Django's tag)."""
    node = django_url(parser, token)
    return CachedURLNode(node.view_name, node.args, node.kwargs, node.asvar)
