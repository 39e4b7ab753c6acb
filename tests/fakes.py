"""Stand-ins that honour the real interfaces, for tests that are not about the model."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from generators.samples import TextPrompt, TextSample


@dataclass
class ScriptedBackend:
    """A ``TextBackend`` whose text is derived from each row's seed, or scripted by the test.

    ``texts`` (if set) are returned in order, one per row; ``delay_s`` simulates a slow model and
    honours the cancel event; ``fail`` raises inside the worker thread like a real model error.
    """

    model_id: str = "scripted-test-model"
    texts: list[str] = field(default_factory=list)
    delay_s: float = 0.0
    fail: bool = False
    calls: list[int] = field(default_factory=list)  # rows per generate call

    def generate(self, prompts: Sequence[TextPrompt], cancel: threading.Event) -> list[TextSample]:
        self.calls.append(len(prompts))
        deadline = time.monotonic() + self.delay_s
        while time.monotonic() < deadline and not cancel.is_set():
            time.sleep(0.005)
        if self.fail:
            raise RuntimeError("scripted model failure")
        samples = []
        for prompt in prompts:
            seed = prompt.sampling.seed
            text = self.texts.pop(0) if self.texts else f"verse {seed}\nline two of {seed}"
            reason = "cancelled" if cancel.is_set() else "stop"
            samples.append(TextSample(text, seed, 10, 5, reason))
        return samples
