"""The copyright guard: fingerprints, overlap, slogans, request phrasings, policy, and its data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.copyright_eval import STAND_INS, eval_guard
from moderation import fingerprint as fp
from moderation.base import CopyrightGuardError
from moderation.copyright import (
    FINGERPRINTS_FILE,
    CopyrightGuard,
    covered,
    load_copyright_guard,
    load_public_domain,
)
from moderation.normalize import Normalizer
from moderation.policy import Strictness, apply_policy
from moderation.verdict import Category, Decision

ROOT = Path(__file__).resolve().parent.parent
LANTERNS = (
    "We hung our paper lanterns on the fire escape in June\n"
    "You said the city hummed a little flatter than the moon"
)


@pytest.fixture(scope="module")
def guard() -> CopyrightGuard:
    return eval_guard()


def test_covered_counts_the_longest_run_and_the_total() -> None:
    assert covered([], 5) == (0, 0)
    assert covered([0], 5) == (5, 5)
    assert covered([0, 1, 2], 5) == (7, 7)  # overlapping windows make one run
    assert covered([0, 1, 10], 5) == (6, 11)


def test_an_output_that_copies_two_lines_is_refused_with_the_work_named(
    guard: CopyrightGuard,
) -> None:
    verdict = guard.check(LANTERNS)
    assert verdict.decision is Decision.BLOCK
    assert verdict.categories == (Category.COPYRIGHT,)
    assert verdict.matched == ('lyrics: "Paper Lanterns" (The Hollow Pines)',)
    assert verdict.scores["copyright_span"] >= 12


def test_case_punctuation_and_traditional_characters_do_not_hide_a_copy(
    guard: CopyrightGuard,
) -> None:
    assert not guard.check(LANTERNS.upper().replace(" ", "  ")).allowed
    assert not guard.check("最後一班列車開走的時候，月臺上的風吹亂了你的袖口").allowed
    assert not guard.check("最 后 一 班 列 车 开 走 的 时 候 / 月 台 上 的 风").allowed


def test_a_short_quote_and_a_shared_theme_pass(guard: CopyrightGuard) -> None:
    assert guard.check("you whispered 'the city hummed a little flatter' and laughed").allowed
    assert guard.check("月台上的风很冷，我送你上车").allowed


def test_public_domain_text_is_never_a_copy(guard: CopyrightGuard) -> None:
    assert guard.check("床前明月光，疑是地上霜。举头望明月，低头思故乡。").allowed
    sonnet = "Shall I compare thee to a summer's day? Thou art more lovely and more temperate"
    assert guard.check(sonnet).allowed


def test_a_registered_slogan_is_refused_alone_but_not_inside_a_longer_line(
    guard: CopyrightGuard,
) -> None:
    verdict = guard.check("Just do it!")
    assert not verdict.allowed and verdict.matched == ('slogan: "Nike slogan" (Nike)',)
    assert not guard.check("怕上火，喝王老吉").allowed
    assert not guard.check("Melts in your mouth, not in your hands: the new bites").allowed
    assert guard.check("Just do it, said my grandmother, and the whole garden grew").allowed
    assert guard.check("Eat fresh bread at Rosie's every morning").allowed


@pytest.mark.parametrize(
    "prompt",
    [
        "the lyrics of Bohemian Rhapsody",
        "Mary Oliver's poem Wild Geese, word for word",
        "What is Nike's slogan?",
        "周杰伦《晴天》的歌词",
        "请一字不差地写出北岛的《回答》",
        "王老吉的广告语是什么",
    ],
)
def test_requests_for_someone_elses_words_are_refused(guard: CopyrightGuard, prompt: str) -> None:
    verdict = guard.check_request(prompt)
    assert verdict.categories == (Category.COPYRIGHT,)
    assert verdict.matched[0].startswith("request: ")


@pytest.mark.parametrize(
    "prompt",
    [
        "write an original poem about lyrics",
        "a poem inspired by the lyrics of Bohemian Rhapsody",
        "Recite Shakespeare's Sonnet 18 word for word",
        "the opening number of Hamilton, as a haiku about ambition",
        "模仿周杰伦的风格写一首歌词",
        "逐字写出李白的《静夜思》",
        "给我的新产品写几个口号，不要照抄别人的",
    ],
)
def test_requests_about_style_or_public_domain_pass(guard: CopyrightGuard, prompt: str) -> None:
    assert guard.check_request(prompt).allowed, guard.check_request(prompt).matched


def test_a_pasted_passage_in_a_prompt_is_refused(guard: CopyrightGuard) -> None:
    assert not guard.check_request(f"turn this into a haiku: {LANTERNS}").allowed


def test_policy_holds_copyright_on_relaxed_servers_and_blocks_it_elsewhere(
    guard: CopyrightGuard,
) -> None:
    verdict = guard.check("Just do it.")
    assert apply_policy(verdict, Strictness.RELAXED).decision is Decision.REVIEW
    assert apply_policy(verdict, Strictness.STANDARD).decision is Decision.BLOCK
    assert apply_policy(verdict, Strictness.STRICT).decision is Decision.BLOCK


def test_a_broken_check_holds_the_text_instead_of_raising(guard: CopyrightGuard) -> None:
    class Broken(Normalizer):
        def fold(self, text: str) -> str:
            raise RuntimeError("boom")

    broken = CopyrightGuard([], load_public_domain(Normalizer()), Broken())
    assert broken.check("x").decision is Decision.REVIEW
    assert broken.check_request("x").categories == (Category.OTHER,)
    assert guard.name.startswith("muse-copyright@1")


def test_shipped_fingerprints_are_the_build_of_the_slogan_sources(tmp_path: Path) -> None:
    out = tmp_path / "built.json"
    assert fp.main([str(out), str(ROOT / "tests" / "data" / "copyright" / "slogans.jsonl")]) == 0
    shipped = ROOT / "moderation" / "data" / FINGERPRINTS_FILE
    assert json.loads(out.read_text("utf-8")) == json.loads(shipped.read_text("utf-8"))
    assert "Just Do It" not in shipped.read_text("utf-8")  # hashes, never the text


def test_an_operator_file_adds_works_and_a_bad_file_stops_startup(tmp_path: Path) -> None:
    out = tmp_path / "mine.json"
    fp.main([str(out), str(STAND_INS)])
    guard = load_copyright_guard([out])
    assert not guard.check(LANTERNS).allowed
    assert load_copyright_guard().check(LANTERNS).allowed  # not shipped
    (tmp_path / "bad.json").write_text('{"format": "other"}', "utf-8")
    with pytest.raises(CopyrightGuardError, match=r"bad\.json"):
        load_copyright_guard([tmp_path / "bad.json"])


def test_sources_must_be_protected_and_well_formed(tmp_path: Path) -> None:
    source = tmp_path / "src.jsonl"
    entry = {"id": "x", "title": "T", "owner": "O", "kind": "poem", "lang": "en", "text": "a b"}
    source.write_text(json.dumps({**entry, "status": "public_domain"}) + "\n", "utf-8")
    with pytest.raises(fp.FingerprintError, match="only protected"):
        fp.read_sources([source], Normalizer())
    source.write_text(json.dumps({**entry, "status": "protected", "lang": "fr"}) + "\n", "utf-8")
    with pytest.raises(fp.FingerprintError, match="lang"):
        fp.read_sources([source], Normalizer())


@pytest.mark.parametrize(
    "content",
    [
        "[]",
        '{"format": "muse-fingerprints/1", "ngram": {"en": 5, "zh": 5}, "works": null}',
        '{"format": "muse-fingerprints/1", "ngram": {"en": 5, "zh": 5}, "works": ["x"]}',
        '{"format": "muse-fingerprints/1", "ngram": {"en": 5, "zh": 5}, "works": [{"id": "a",'
        ' "title": "t", "owner": "o", "kind": "poem", "lang": "en", "ngrams": 5}]}',
    ],
)
def test_a_malformed_operator_file_is_a_clear_startup_error(tmp_path: Path, content: str) -> None:
    """Not an AttributeError or TypeError traceback: the CLI prints CopyrightGuardError's text."""
    (tmp_path / "mine.json").write_text(content, "utf-8")
    with pytest.raises(CopyrightGuardError, match=r"mine\.json"):
        load_copyright_guard([tmp_path / "mine.json"])


def test_building_from_a_bad_source_names_the_line_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "src.jsonl"
    entry = {"id": "x", "title": "T", "owner": "O", "kind": "poem", "lang": "en"}
    source.write_text(json.dumps({**entry, "status": "protected"}) + "\n{oops\n", "utf-8")
    assert fp.main([str(tmp_path / "out.json"), str(source)]) == 2
    assert "src.jsonl:1: missing field 'text'" in capsys.readouterr().err
    source.write_text(json.dumps({**entry, "status": "protected", "text": "a b"}) + "\n{oops\n")
    assert fp.main([str(tmp_path / "out.json"), str(source)]) == 2
    assert "src.jsonl:2: not a JSON object" in capsys.readouterr().err
    assert fp.main([str(tmp_path / "out.json"), str(tmp_path / "absent.jsonl")]) == 2
    assert "absent.jsonl" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()
