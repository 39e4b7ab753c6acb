"""What a member is told when the queue refuses a job or its generation fails."""

from __future__ import annotations

from generators.queue import JobTimeout, Overloaded
from generators.remote import RemoteGenerationError


def busy_message(err: Overloaded) -> str:
    if err.reason == "user_cap":
        return f"You already have {err.limit} request(s) in progress. Wait for one to finish."
    if err.reason == "closed":
        return "Muse is restarting and not taking new requests. Try again in a minute."
    return f"Muse is busy ({err.limit} requests waiting). Try again in a minute."


def failure_message(err: BaseException) -> str:
    if isinstance(err, JobTimeout):
        return (
            "Generation took too long and was stopped. Try again, perhaps with a shorter request."
        )
    if isinstance(err, Overloaded):
        return busy_message(err)
    if isinstance(err, RemoteGenerationError):
        return str(err)  # written for members: overloaded, unreachable, refused
    return "Generation failed on Muse's side. The operator has the details in the log."
