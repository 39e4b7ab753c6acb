"""Hashed n-gram fingerprints of texts, so the copyright guard can recognise a work without
Muse shipping the work itself.

A text is read through ``Normalizer.fold`` (NFKC, look-alike letters, Traditional to Simplified,
case) and then split into units: English words (apostrophes dropped, so "lovin'" and "lovin"
agree) and Chinese characters (Han ideographs only, so punctuation, spaces and line breaks do
not matter). A work's fingerprint is the set of keyed BLAKE2b-64 hashes of its ``NGRAM[lang]``
unit n-grams; a short work (a slogan) is also hashed whole as a phrase.

The hashes cannot be read back as text, but anyone who already has a text can check whether it
is in the set; that is the point. Build a fingerprint file from JSON-lines sources::

    python -m moderation.fingerprint OUT.json SOURCE.jsonl [SOURCE.jsonl ...]

Each source line is ``{"id", "title", "owner", "kind", "lang", "status", "text"}`` with kind
one of lyrics, poem, prose or slogan, lang ``en`` or ``zh``, and status ``protected``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moderation.normalize import Normalizer

FORMAT = "muse-fingerprints/1"
HASH_KEY = b"muse-copyright-1"
NGRAM = {"en": 5, "zh": 5}  # words for English, characters for Chinese
KINDS = ("lyrics", "poem", "prose", "slogan")
LANGS = ("en", "zh")
PHRASE_MAX_UNITS = {"en": 12, "zh": 20}  # works this short are also hashed whole

_APOSTROPHES = re.compile("['’`]")
_WORD = re.compile(r"[a-z0-9]+")
_HAN = re.compile("[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]")


class FingerprintError(ValueError):
    """A fingerprint or source file is malformed; the message names the file and the fault."""


@dataclass(frozen=True)
class Work:
    """What the guard may say about a fingerprinted work: never its text."""

    id: str
    title: str
    owner: str
    kind: str
    lang: str

    def label(self) -> str:
        """``lyrics: "Title" (Owner)``, as shown to members and moderators."""
        return f'{self.kind}: "{self.title}" ({self.owner})'


@dataclass(frozen=True)
class Fingerprint:
    """One work's hashed n-grams, and its whole-phrase hash when it is short."""

    work: Work
    ngrams: frozenset[str]
    phrase: str | None = None
    phrase_units: int = 0


def units(folded: str, lang: str) -> list[str]:
    """The matching units of a folded text: words for ``en``, Han characters for ``zh``."""
    if lang == "zh":
        return _HAN.findall(folded)
    return _WORD.findall(_APOSTROPHES.sub("", folded))


def hash_units(lang: str, chunk: Sequence[str]) -> str:
    """The keyed hash of a run of units, as 16 hex digits."""
    joined = ("" if lang == "zh" else " ").join(chunk)
    digest = hashlib.blake2b(f"{lang}:{joined}".encode(), digest_size=8, key=HASH_KEY)
    return digest.hexdigest()


def ngram_hashes(lang: str, seq: Sequence[str]) -> list[str]:
    """The hash of every ``NGRAM[lang]``-unit window of ``seq``, in order."""
    n = NGRAM[lang]
    return [hash_units(lang, seq[i : i + n]) for i in range(len(seq) - n + 1)]


def fingerprint(work: Work, text: str, normalizer: Normalizer) -> Fingerprint:
    """Hash a work's text; a text too short for one n-gram is still kept as a phrase."""
    seq = units(normalizer.fold(text), work.lang)
    if not seq:
        raise FingerprintError(f"work {work.id!r} has no {work.lang} text to fingerprint")
    short = len(seq) <= PHRASE_MAX_UNITS[work.lang]
    phrase = hash_units(work.lang, seq) if short else None
    return Fingerprint(work, frozenset(ngram_hashes(work.lang, seq)), phrase, len(seq))


def _work_of(entry: Mapping[str, Any], where: str) -> Work:
    try:
        work = Work(
            str(entry["id"]),
            str(entry["title"]),
            str(entry["owner"]),
            str(entry["kind"]),
            str(entry["lang"]),
        )
    except KeyError as err:
        raise FingerprintError(f"{where}: missing field {err}") from None
    if work.kind not in KINDS or work.lang not in LANGS:
        raise FingerprintError(f"{where}: kind must be one of {KINDS} and lang one of {LANGS}")
    return work


def _source_line(line: str, where: str) -> Mapping[str, Any]:
    try:
        entry = json.loads(line)
    except ValueError as err:
        raise FingerprintError(f"{where}: not a JSON object: {err}") from None
    if not isinstance(entry, dict):
        raise FingerprintError(f"{where}: not a JSON object")
    if entry.get("status") != "protected":
        raise FingerprintError(f"{where}: only protected works are fingerprinted")
    if not isinstance(entry.get("text"), str):
        raise FingerprintError(f"{where}: missing field 'text'")
    return entry


def read_sources(paths: Iterable[Path], normalizer: Normalizer) -> list[Fingerprint]:
    """Fingerprints of every work in JSON-lines source files (protected works only); a file
    that cannot be read or a malformed line raises ``FingerprintError`` naming it."""
    out: list[Fingerprint] = []
    for path in paths:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, ValueError) as err:
            raise FingerprintError(f"cannot read {path}: {err}") from err
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            entry = _source_line(line, where)
            out.append(fingerprint(_work_of(entry, where), entry["text"], normalizer))
    return out


def to_json(prints: Sequence[Fingerprint]) -> dict[str, Any]:
    """The file format: works in source order, each with its sorted hashes."""
    works = []
    for fp in prints:
        entry: dict[str, Any] = {**fp.work.__dict__, "ngrams": sorted(fp.ngrams)}
        if fp.phrase is not None:
            entry.update(phrase=fp.phrase, phrase_units=fp.phrase_units)
        works.append(entry)
    return {"format": FORMAT, "hash": "blake2b-64, keyed", "ngram": NGRAM, "works": works}


def _entry(entry: Any, where: str) -> Fingerprint:
    if not isinstance(entry, dict):
        raise FingerprintError(f"{where} is not a JSON object")
    grams, phrase = entry.get("ngrams"), entry.get("phrase")
    if not isinstance(grams, list) or not all(isinstance(g, str) for g in grams):
        raise FingerprintError(f"{where} has no list of n-gram hashes")
    if phrase is not None and not isinstance(phrase, str):
        raise FingerprintError(f"{where} has a phrase that is not a hash")
    units = entry.get("phrase_units", 0)
    if not isinstance(units, int):
        raise FingerprintError(f"{where} has a phrase_units that is not a whole number")
    return Fingerprint(_work_of(entry, where), frozenset(grams), phrase, units)


def load(path: Path) -> list[Fingerprint]:
    """Read a fingerprint file written by :func:`to_json`; raises ``FingerprintError`` naming
    the file and the fault when it cannot be read or is not such a file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise FingerprintError(f"cannot read fingerprints {path}: {err}") from err
    if (
        not isinstance(data, dict)
        or data.get("format") != FORMAT
        or data.get("ngram") != NGRAM
        or not isinstance(data.get("works"), list)
    ):
        raise FingerprintError(f"{path} is not a {FORMAT} file with n-gram sizes {NGRAM}")
    return [_entry(entry, f"{path} work {index}") for index, entry in enumerate(data["works"])]


def main(argv: Sequence[str] | None = None) -> int:
    """Write a fingerprint file from JSON-lines sources."""
    parser = argparse.ArgumentParser(description="Build a Muse copyright fingerprint file.")
    parser.add_argument("out", type=Path, help="the JSON file to write")
    parser.add_argument("sources", type=Path, nargs="+", help="JSON-lines files of works")
    args = parser.parse_args(argv)
    try:
        prints = read_sources(args.sources, Normalizer())
        text = json.dumps(to_json(prints), ensure_ascii=False, indent=1, sort_keys=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    except (FingerprintError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    grams = sum(len(fp.ngrams) for fp in prints)
    print(f"wrote {len(prints)} works ({grams} n-grams) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
