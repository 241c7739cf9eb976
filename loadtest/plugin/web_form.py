"""The ``--ws-*`` fields of Locust's web UI form: which show, what the page may contain, what a start accepts.

Locust builds the form from every option declared with ``include_in_web_ui`` and sends each
field's current value to the browser as its default. Here, around Locust's own code:

* **Which fields show**: the session, reconnect and output options, plus the scenario options
  of the groups the loaded user classes declare (``scenario_options``).
* **Secrets never reach the browser**: a secret option's value is replaced by an empty field
  whose help says that a value is set; an empty field in a submitted form keeps the value. The
  target's secret query parameters are redacted the same way, in the page and in every answer
  of the web UI (a submitted host equal to the redacted one keeps the real one).
* **A start is checked first**: the submitted ``--ws-*`` values are converted and validated
  exactly as the command line's are; a bad one refuses the start with the same one sentence
  (Locust's own ``{"success": false, "message": ...}`` answer), instead of a server error or a
  run that silently ignores it. Empty number fields keep their current value. List options
  take comma-separated values (``--ws-check`` conditions contain no commas).
"""

from __future__ import annotations

import argparse
from typing import Any

from flask import Response, jsonify, request
from werkzeug.datastructures import ImmutableMultiDict

from loadtest import options as ws_options
from loadtest.config import redact_url
from loadtest.errors import ConfigError
from loadtest.plugin import settings
from loadtest.plugin.distributed import is_worker

_SWARM_ENDPOINT = "locust.swarm"
SECRET_SET_NOTE = " A value is set; leave the field empty to keep it."


def loaded_user_classes(environment: Any) -> list[type]:
    """Return the user classes of the locustfile(s): all available ones, or the ones in use."""
    available = getattr(environment, "available_user_classes", None) or {}
    return list(available.values()) or list(environment.user_classes or [])


def visible_dests(environment: Any) -> set[str]:
    """Return the ``--ws-*`` options the form shows for the loaded user classes."""
    groups = set(ws_options.CORE_GROUPS) | ws_options.declared_groups(loaded_user_classes(environment))
    return {o.dest for o in ws_options.OPTIONS if o.in_web_ui and o.group in groups}


def scrub_template_args(environment: Any, template_args: dict[str, Any]) -> None:
    """Drop undeclared scenario fields and every secret value from the page's template arguments."""
    extra = template_args.get("extra_options")
    if isinstance(extra, dict):
        shown = visible_dests(environment)
        for dest in [d for d in extra if d in ws_options.BY_DEST and d not in shown]:
            del extra[dest]
        parsed = environment.parsed_options
        for option in ws_options.OPTIONS:
            field = extra.get(option.dest)
            if option.secret and isinstance(field, dict):
                is_set = bool(getattr(parsed, option.dest, "") or field.get("default_value"))
                field["default_value"] = ""
                if is_set:
                    field["help_text"] = f"{option.help}{SECRET_SET_NOTE}"
    host = template_args.get("host")
    if isinstance(host, str) and host:
        template_args["host"] = redact_url(host)


def _convert(option: ws_options.Option, text: str) -> Any:
    if option.type is bool:
        return text == "true"
    if option.repeat:
        return [item.strip() for item in text.split(",") if item.strip()]
    try:
        return option.type(text)
    except ValueError:
        raise ConfigError(f"{option.flag} {text!r} is not a {option.type.__name__}") from None


def apply_form(environment: Any, form: ImmutableMultiDict[str, str]) -> ImmutableMultiDict[str, str]:
    """Validate and apply the form's ``--ws-*`` fields; return the rest for Locust to apply.

    Locust's own conversion of form values cannot handle an option whose current value is an
    empty list (it converts the items to ``int``), so our fields are converted and applied here,
    all or none, and removed from what Locust sees.

    Raises:
        ConfigError: a ``--ws-*`` field has a value the command line would refuse.
    """
    parsed = environment.parsed_options
    rest: list[tuple[str, str]] = []
    trial = argparse.Namespace(**vars(parsed))
    for key in form:
        option = ws_options.BY_DEST.get(key)
        values = form.getlist(key)
        if key == "host" and environment.host and values == [redact_url(environment.host)]:
            continue  # the page showed the redacted target: keep the real one
        if option is None:
            rest += [(key, value) for value in values]
            continue
        value = ",".join(values) if option.repeat else values[-1]
        if not value.strip() and (option.secret or option.type in (int, float)):
            continue  # an empty secret or number keeps its value
        if option.choices and value not in option.choices:
            raise ConfigError(f"{option.flag} {value!r} is not one of {', '.join(option.choices)}")
        setattr(trial, key, _convert(option, value))
    settings.from_parsed(trial, outputs=not is_worker(environment))
    vars(parsed).update({k: v for k, v in vars(trial).items() if k in ws_options.BY_DEST})
    return ImmutableMultiDict(rest)


def install(environment: Any, web_ui: Any) -> None:
    """Hook the form's page arguments and the start request of Locust's web UI."""
    original = web_ui.update_template_args

    def update_template_args() -> None:
        original()
        scrub_template_args(environment, web_ui.template_args)

    web_ui.update_template_args = update_template_args
    update_template_args()

    @web_ui.app.after_request
    def redact_host(response: Response) -> Response:
        # Locust's own report and exports show the target as typed: hide its secret parameters.
        host = environment.host or ""
        shown = redact_url(host)
        if shown != host and not response.direct_passthrough and response.status_code == 200:
            body = response.get_data()
            if host.encode() in body:
                response.set_data(body.replace(host.encode(), shown.encode()))
        return response

    @web_ui.app.before_request
    def check_swarm() -> Response | None:
        if request.endpoint != _SWARM_ENDPOINT or environment.parsed_options is None:
            return None
        try:
            request.form = apply_form(environment, request.form)
        except ConfigError as exc:
            return jsonify(
                {"success": False, "message": str(exc), "host": redact_url(environment.host or "")}
            )
        return None
