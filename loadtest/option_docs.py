"""The option table as text for people: ``loadtest options`` and docs/options.md (a test compares them)."""

from __future__ import annotations

from loadtest.options import GROUPS, OPTIONS, SCENARIO_GROUPS, Option

_WHERE = {
    "session": "every process; workers take the master's",
    "worker": "every process; a worker's own value wins",
    "master": "where the summary is built (local or master)",
    "init": "at start-up only",
}


def _default_text(option: Option) -> str:
    if option.type is bool:
        return "off"
    if option.repeat:
        return "(none)"
    return "(none)" if option.default == "" else str(option.default)


def render(*, markdown: bool = False) -> str:
    """Return the option table for people: one row per option, grouped."""
    if markdown:
        lines = [
            "| option | environment variable | default | takes effect | web UI form | meaning |",
            "|---|---|---|---|---|---|",
        ]
        for option in OPTIONS:
            metavar = f" {option.metavar}" if option.metavar else ""
            form = "yes" if option.in_web_ui else f"no: {option.web_ui_excluded}"
            if option.group in SCENARIO_GROUPS:
                form += f" (when a user class declares `{option.group}`)" if option.in_web_ui else ""
            choices = f" One of: {', '.join(option.choices)}." if option.choices else ""
            lines.append(
                f"| `{option.flag}{metavar}` | `{option.env_var}` | {_default_text(option)} | "
                f"{_WHERE[option.scope]} | {form} | {option.help.replace('|', '/')}{choices} |"
            )
        return "\n".join(lines) + "\n"
    out: list[str] = []
    for group in GROUPS:
        out.append(f"{group}:")
        for option in (o for o in OPTIONS if o.group == group):
            flags = f"{option.flag}{' ' + option.metavar if option.metavar else ''}"
            form = "form" if option.in_web_ui else "not in form"
            out.append(f"  {flags:<36} {option.env_var:<32} default {_default_text(option)}")
            out.append(f"      {option.help} [{_WHERE[option.scope]}; {form}]")
    return "\n".join(out) + "\n"
