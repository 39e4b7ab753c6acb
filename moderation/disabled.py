"""The stand-in used only when an operator turns filtering off (``MUSE_FILTER=off``)."""

from __future__ import annotations

from moderation.verdict import Decision, Verdict

COMPONENT = "filter-disabled"


class DisabledFilter:
    """Allows everything, and says so in every verdict it stores."""

    def check(self, content: str | bytes) -> Verdict:
        return Verdict(Decision.ALLOW, components=(COMPONENT,))
