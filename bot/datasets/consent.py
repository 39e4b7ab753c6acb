"""Who and what an export leaves out: the consent and review rules, in one place.

* A requester who opted out (``/muse consent out``) is never exported; in a server whose consent
  mode is ``opt-in``, only requesters who opted in are.
* Votes, picks and edits count only when their author consents by the same rule, so an
  opted-out voter's click neither rates nor pairs anything.
* Outputs the filters did not ``allow`` (blocked or held), outputs rejected or still pending in
  review (held by a filter or by reports), hidden outputs, empty texts and draws without an
  image are never exported.

``consent_sql`` is the SQL form of the member rule (the stats use it too); ``exclusion`` gives
the reason an output read from the snapshot must be left out, counted in the manifest.
"""

from __future__ import annotations

from bot.datasets.items import Item


def consent_sql(alias: str) -> str:
    """SQL: member ``alias`` (a consent row or NULL) consents in the job's guild mode."""
    return (
        f"(CASE WHEN g.consent_mode = 'opt-in' THEN {alias}.choice IS 'in'"
        f" ELSE {alias}.choice IS NOT 'out' END)"
    )


def exclusion(item: Item) -> str | None:
    """Why an output may never be exported, or None when it may."""
    if item.decision == "block":
        return "blocked"
    if item.decision != "allow":
        return "rejected" if item.review == "rejected" else "held"
    if item.review == "rejected":
        return "rejected"
    if item.review == "pending":
        return "pending_review"
    if item.hidden:
        return "hidden"
    if not item.consents:
        return "no_consent"
    if item.kind == "draw":
        return None if item.image_path else "no_image"
    return None if item.text.strip() else "empty"
