"""Option values whose JSON type is not the one the command declared (a modified client).

Discord's own client never sends them, so discord.py passes them on unchecked; Muse refuses
them before the command runs, with the same private message as a value out of range.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.enums import AppCommandOptionType as Kind

# The JSON types each scalar option type may carry (a bool is never a number).
_ACCEPTED: dict[Kind, tuple[type, ...]] = {
    Kind.string: (str,),
    Kind.integer: (int,),
    Kind.number: (int, float),
    Kind.boolean: (bool,),
}
_WORDS = {Kind.string: "text", Kind.integer: "a whole number", Kind.number: "a number"}


class WrongOptionType(app_commands.AppCommandError):
    """An option value of the wrong type; ``str()`` is the member's message, ``log_line``
    the operator's one-line warning."""

    def __init__(self, message: str, log_line: str) -> None:
        super().__init__(message)
        self.log_line = log_line


def check_option_types(interaction: discord.Interaction[Any]) -> None:
    """Raise ``WrongOptionType`` for the first option of the wrong JSON type."""
    command = interaction.command
    data: Any = interaction.data or {}
    if not isinstance(command, app_commands.Command):
        return
    params = {p.display_name: p for p in command.parameters}
    for option in _leaf_options(data.get("options", [])):
        param = params.get(option.get("name", ""))
        if param is None or param.type not in _ACCEPTED:
            continue
        value = option.get("value")
        if _fits(value, param.type):
            continue
        raise WrongOptionType(
            _message(param, value),
            f"/{command.qualified_name}: option {param.display_name} sent as "
            f"{type(value).__name__} {value!r}; refused",
        )


def _leaf_options(options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The options of the invoked (sub)command, below any subcommand or group."""
    while len(options) == 1 and options[0].get("type") in (1, 2):
        options = options[0].get("options", [])
    return options


def _fits(value: object, kind: Kind) -> bool:
    accepted = _ACCEPTED[kind]
    return isinstance(value, accepted) and (bool in accepted or not isinstance(value, bool))


def _message(param: app_commands.Parameter, value: object) -> str:
    """Worded like the service's out-of-range refusal when the option has a range."""
    low, high = param.min_value, param.max_value
    if low is not None and high is not None and param.type is not Kind.string:
        return f"{param.display_name} must be between {low} and {high}, got {value!r}"
    return f"{param.display_name} must be {_WORDS.get(param.type, 'true or false')}, got {value!r}"
