"""Discord payloads as Discord sends them: the test ids, users, and interactions (slash
commands and components) ready for ``INTERACTION_CREATE``."""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
from collections.abc import Mapping
from typing import Any

import discord
from discord import app_commands

JSON = dict[str, Any]
OptionValue = str | int | float | bool

APP_ID = 1_200_000_000_000_000_001  # also the bot user's id, as for most bots
USER_ID = 1_200_000_000_000_000_002
GUILD_ID = 1_200_000_000_000_000_003
CHANNEL_ID = 1_200_000_000_000_000_004
_PERMS = str((discord.Permissions.text() | discord.Permissions(view_channel=True)).value)
_OPTION_TYPES: tuple[tuple[type, int], ...] = ((bool, 5), (int, 4), (float, 10), (str, 3))
# Static parts of Discord payloads, kept as (immutable) JSON text and parsed per use.
_USER = '{"discriminator": "0", "global_name": null, "avatar": null, "public_flags": 0}'
_MEMBER = (
    '{"roles": [], "nick": null, "avatar": null, "premium_since": null, "deaf": false, '
    '"mute": false, "pending": false, "flags": 0, "communication_disabled_until": null}'
)
_TEXT_CHANNEL = (
    '{"type": 0, "name": "general", "position": 0, "permission_overwrites": [], "nsfw": false, '
    '"parent_id": null, "topic": null, "flags": 0, "last_message_id": null, '
    '"rate_limit_per_user": 0}'
)


def snowflake_at(when: dt.datetime | None = None) -> int:
    """A unique-ish snowflake whose timestamp is ``when`` (default: now)."""
    return discord.utils.time_snowflake(when or discord.utils.utcnow()) + random.getrandbits(22)


def user_payload(user_id: int, name: str | None = None, *, bot: bool = False) -> JSON:
    """A user object as Discord sends it."""
    name = name or f"user{user_id % 10_000}"
    return {**json.loads(_USER), "id": str(user_id), "username": name, "bot": bot}


def custom_ids(message: Mapping[str, Any]) -> list[str]:
    """All component custom_ids in a message payload, depth first (rows, sections, ...)."""
    found: list[str] = []
    for comp in message.get("components", []):
        found += [comp["custom_id"]] if "custom_id" in comp else []
        found += custom_ids(comp)
        found += custom_ids({"components": [comp["accessory"]]}) if "accessory" in comp else []
    return found


def base_payload(
    kind: int,
    *,
    user_id: int = USER_ID,
    guild_id: int | None = GUILD_ID,
    channel_id: int = CHANNEL_ID,
    app_id: int = APP_ID,
    token: str | None = None,
    interaction_id: int | None = None,
    locale: str = "en-US",
    created_at: dt.datetime | None = None,
    permissions: int | None = None,
    app_permissions: int | None = None,
) -> JSON:
    """Fields shared by every interaction; ``guild_id=None`` gives a bot-DM interaction.

    The id is a snowflake of ``created_at`` so ``created_at``/``is_expired()`` follow it.
    """
    iid = interaction_id or snowflake_at(created_at)
    user = user_payload(user_id)
    perms = _PERMS if permissions is None else str(permissions)
    app_perms = _PERMS if app_permissions is None else str(app_permissions)
    payload: JSON = {"id": str(iid), "application_id": str(app_id), "type": kind, "version": 1}
    payload.update(token=token or f"itok-{iid}", locale=locale, channel_id=str(channel_id))
    payload.update(entitlements=[], app_permissions=app_perms, attachment_size_limit=10 << 20)
    payload.update(context=0 if guild_id else 1)  # GUILD or BOT_DM
    payload.update(authorizing_integration_owners={"0": str(guild_id or 0)})  # guild install
    if guild_id is None:
        dm = {"id": str(channel_id), "type": 1, "last_message_id": None, "recipients": [user]}
        return {**payload, "user": user, "channel": dm}
    channel = {**json.loads(_TEXT_CHANNEL), "id": str(channel_id), "guild_id": str(guild_id)}
    payload.update(guild_id=str(guild_id), guild_locale="en-US", channel=channel)
    payload["guild"] = {"id": str(guild_id), "locale": "en-US", "features": []}
    joined = discord.utils.utcnow().isoformat()
    payload["member"] = {**json.loads(_MEMBER), "user": user, "joined_at": joined}
    payload["member"]["permissions"] = channel["permissions"] = perms
    return payload


def slash_payload(
    name: str,
    options: Mapping[str, OptionValue] | None = None,
    *,
    tree: app_commands.CommandTree[Any] | None = None,
    command_id: int | None = None,
    **where: Any,
) -> JSON:
    """A chat-input command interaction (type 2); ``name`` may be ``"group sub"``.

    Option types come from the command's registered parameters when ``tree`` has it (keys
    may be Python or display names), else from each value's Python type.  ``where`` takes
    :func:`base_payload`'s keyword arguments.
    """
    payload = base_payload(2, **where)
    parts = name.split()
    guild = discord.Object(int(payload["guild_id"])) if "guild_id" in payload else None
    scoped = bool(tree and guild and tree.get_command(parts[0], guild=guild))
    cmd: Any = tree.get_command(parts[0], guild=guild if scoped else None) if tree else None
    for part in parts[1:]:
        cmd = cmd.get_command(part) if isinstance(cmd, app_commands.Group) else None
    params: dict[str, app_commands.Parameter] = {}
    if isinstance(cmd, app_commands.Command):
        params = {key: p for p in cmd.parameters for key in (p.name, p.display_name)}
    opts: list[JSON] = []
    for key, value in (options or {}).items():
        if param := params.get(key):
            opts.append({"name": param.display_name, "type": param.type.value, "value": value})
        else:
            kind = next(code for py, code in _OPTION_TYPES if isinstance(value, py))
            opts.append({"name": key, "type": kind, "value": value})
    for depth, part in reversed(list(enumerate(parts[1:], start=1))):  # SUB_COMMAND(_GROUP)
        opts = [{"name": part, "type": 1 if depth == len(parts) - 1 else 2, "options": opts}]
    data: JSON = {"id": str(command_id or snowflake_at()), "name": parts[0], "type": 1}
    payload["data"] = {**data, "options": opts}
    if scoped:  # guild commands carry their guild id
        payload["data"]["guild_id"] = payload["guild_id"]
    return payload


def component_payload(
    custom_id: str,
    *,
    message: Mapping[str, Any],
    component_type: int = 2,
    values: list[str] | None = None,
    **where: Any,
) -> JSON:
    """A component interaction (type 3; 2 = button) on a message payload."""
    where.setdefault("channel_id", int(message.get("channel_id", 0)) or CHANNEL_ID)
    payload = base_payload(3, **where)
    payload["data"] = {"custom_id": custom_id, "component_type": component_type}
    if values is not None:  # select menus
        payload["data"]["values"] = values
    payload["message"] = copy.deepcopy(dict(message))
    return payload
