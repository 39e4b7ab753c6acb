"""The copyright evaluation set: its shape, and the targets the guard must meet on it."""

from __future__ import annotations

import collections

import pytest

from bench.copyright_eval import (
    FPR_MAX,
    HELDOUT,
    HELDOUT_FLOORS,
    RECALL_MIN,
    SPLITS,
    Outcome,
    eval_guard,
    heldout_lines,
    load_items,
    rate,
    run,
    select,
    side_by_side,
    target_lines,
)


@pytest.fixture(scope="module")
def outcomes() -> list[Outcome]:
    return run(eval_guard(), load_items())


@pytest.fixture(scope="module")
def heldout() -> list[Outcome]:
    return run(eval_guard(), load_items(HELDOUT))


def test_the_set_is_large_varied_and_well_formed() -> None:
    items = load_items()
    assert len(items) >= 200
    assert len({item.text for item in items}) == len(items), "duplicate texts"
    counts = collections.Counter((i.kind, i.lang, i.label) for i in items)
    for kind in ("request", "output"):
        for lang in ("en", "zh"):
            for label in ("copyright", "benign"):
                assert counts[(kind, lang, label)] >= 25, (kind, lang, label)
    assert {i.split for i in items} == set(SPLITS)
    groups = {i.group for i in items if i.label == "benign"}
    assert {"short-quote", "public-domain", "original", "slogan-like"} <= groups


def test_recall_on_protected_requests_and_outputs(outcomes: list[Outcome]) -> None:
    missed = [o.item.text for o in outcomes if o.item.label == "copyright" and not o.flagged]
    assert rate(outcomes, "copyright") >= RECALL_MIN, missed


def test_false_positive_rate_on_hard_negatives(outcomes: list[Outcome]) -> None:
    flagged = [o.item.text for o in outcomes if o.item.label == "benign" and o.flagged]
    assert rate(outcomes, "benign") <= FPR_MAX, flagged


@pytest.mark.parametrize("kind", ["request", "output"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_targets_hold_in_every_kind_and_language(
    outcomes: list[Outcome], kind: str, lang: str
) -> None:
    scoped = select(outcomes, kind=kind, lang=lang)
    assert rate(scoped, "copyright") >= RECALL_MIN
    assert rate(scoped, "benign") <= FPR_MAX


def test_public_domain_outputs_are_never_refused(outcomes: list[Outcome]) -> None:
    public = [o for o in outcomes if o.item.group == "public-domain"]
    assert public and not any(o.flagged for o in public)


def test_the_bench_reports_pass(outcomes: list[Outcome]) -> None:
    lines, passed = target_lines(outcomes)
    assert passed and all(line.startswith("PASS") for line in lines)
    assert (RECALL_MIN, FPR_MAX) == (0.9, 0.03)


def test_the_text_filter_eval_set_raises_no_copyright_flag() -> None:
    """681 prompts and outputs written for the other filter, by other hands: none is a copy."""
    from bench import safety_eval

    guard = eval_guard()
    texts = [item.text for item in safety_eval.load_items()]
    assert len(texts) > 600
    assert [t for t in texts if not guard.check_request(t).allowed] == []
    assert [t for t in texts if not guard.check(t).allowed] == []


def test_the_heldout_set_is_new_varied_and_well_formed() -> None:
    """Requests only, EN and ZH, positives and hard negatives, none copied from the dev set."""
    items = load_items(HELDOUT)
    assert len(items) >= 200
    assert {i.kind for i in items} == {"request"} and {i.split for i in items} == {"heldout"}
    assert len({i.text for i in items}) == len(items), "duplicate texts"
    assert not {i.text.casefold() for i in items} & {i.text.casefold() for i in load_items()}
    counts = collections.Counter((i.lang, i.label) for i in items)
    assert (
        min(counts[(lang, label)] for lang in ("en", "zh") for label in ("copyright", "benign"))
        >= 50
    )
    groups = {i.group for i in items}
    hard = {"style", "about", "short-quote", "public-domain", "topic", "summary", "negation"}
    assert hard | {"lyrics", "poem", "slogan", "translation", "lyrics:mixed"} <= groups


@pytest.mark.parametrize("scope", sorted(HELDOUT_FLOORS))
def test_heldout_floors_hold(heldout: list[Outcome], scope: str) -> None:
    """Measured once before the floors were set; a drop below them is a regression."""
    scoped = heldout if scope == "all" else select(heldout, lang=scope)
    recall_min, fpr_max = HELDOUT_FLOORS[scope]
    missed = [o.item.text for o in scoped if o.item.label == "copyright" and not o.flagged]
    flagged = [o.item.text for o in scoped if o.item.label == "benign" and o.flagged]
    assert rate(scoped, "copyright") >= recall_min, missed
    assert rate(scoped, "benign") <= fpr_max, flagged


def test_summaries_are_allowed_and_translations_of_lyrics_refused(heldout: list[Outcome]) -> None:
    """The held-out set's policy: a summary is Muse's own words, a full translation is a copy."""
    summaries = [o for o in heldout if o.item.group == "summary"]
    translations = [o for o in heldout if o.item.group.startswith("translation")]
    assert summaries and not any(o.flagged for o in summaries)
    assert all(o.flagged == (o.item.label == "copyright") for o in translations)


def test_the_bench_prints_dev_and_heldout_side_by_side(
    outcomes: list[Outcome], heldout: list[Outcome]
) -> None:
    lines = side_by_side(outcomes, heldout)
    assert "dev" in lines[0] and "held-out" in lines[0]
    requests = next(line for line in lines if line.startswith("requests"))
    assert requests.split()[1:] == [
        str(len(select(outcomes, kind="request", label="copyright"))),
        f"{rate(select(outcomes, kind='request'), 'copyright'):.3f}",
        str(len(select(outcomes, kind="request", label="benign"))),
        f"{rate(select(outcomes, kind='request'), 'benign'):.3f}",
        str(len(select(heldout, label="copyright"))),
        f"{rate(heldout, 'copyright'):.3f}",
        str(len(select(heldout, label="benign"))),
        f"{rate(heldout, 'benign'):.3f}",
    ]
    verdicts, passed = heldout_lines(heldout)
    assert passed and len(verdicts) == 2 * len(HELDOUT_FLOORS)
