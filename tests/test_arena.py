"""Champion and challenger: matches through the real service and worker thread, their tallies,
the Wilson interval, `muse promote` across restarts, `muse stats` and the DPO export."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bot.app import load_models
from bot.cli import main
from bot.config import Settings, load_settings
from bot.service.arena import arena_report, effective_roles, promote, standing, wilson_interval
from bot.service.core import MuseService
from bot.service.delivery import MATCH_MODEL
from bot.service.types import Delivery, Origin
from bot.store.storage import Storage
from generators.backend import ModelLoadError
from generators.requests import PoemRequest
from tests.conftest import ServiceFactory
from tests.fakes import ScriptedBackend

CHAMP, CHALL = "org/champion", "org/challenger"
CHALL_ID = f"{CHALL} [8bit]"  # as outputs of quantized weights store it; stats still find it
ALICE = Origin(user_id=1, guild_id=10, channel_id=20)


async def _arena(make_service: ServiceFactory, share: float = 1.0) -> MuseService:
    service = await make_service(
        ScriptedBackend(model_id=CHAMP),
        text_model=CHAMP,
        text_challenger=CHALL,
        challenger_share=share,
    )
    service.executor.challenger = ScriptedBackend(model_id=CHALL_ID)
    service.executor.match_random = random.Random(3)
    return service


async def _run(service: MuseService, seed: int, compare: bool = True) -> Delivery:
    pending = service.prepare(PoemRequest(topic=f"moon {seed}", compare=compare, seed=seed), ALICE)
    await service.start(pending)
    return await service.finish(pending)


def test_wilson_interval() -> None:
    low, high = wilson_interval(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(0, 5)
    assert low == 0.0 and round(high, 4) == 0.4345
    assert wilson_interval(50, 100)[0] < 0.5 < wilson_interval(50, 100)[1]


async def test_matches_hide_the_models_and_tally_per_model(make_service: ServiceFactory) -> None:
    service = await _arena(make_service)
    orders = set()
    for seed in range(8):
        delivery = await _run(service, seed * 10)
        assert delivery.model_id == MATCH_MODEL  # the public message names neither model
        assert set(delivery.match_models) == {CHAMP, CHALL_ID}
        orders.add(delivery.match_models)
        stored = await service.storage.job_outputs(delivery.job_id)
        assert [o.model_id for o in stored] == list(delivery.match_models)
        challenger_side = "a" if delivery.match_models[0] == CHALL_ID else "b"
        other = "b" if challenger_side == "a" else "a"
        for user in (1, 2, 3):  # three members prefer the challenger on 6 of 8 matches
            choice = challenger_side if seed < 6 else other
            await service.compare_vote(delivery.job_id, user, choice)
        await service.compare_vote(delivery.job_id, 4, "tie")
        await service.vote(delivery.outputs[0].output_id, 5, 1)
    assert len(orders) == 2  # positions are randomized
    plain = await _run(service, 99, compare=False)
    assert plain.model_id == CHAMP and plain.match_models == ()
    record = standing(await service.storage.match_choices(), CHALL_ID, CHAMP)
    assert (record.wins, record.losses, record.ties) == (18, 6, 8)
    votes = await service.storage.match_votes()
    assert sum(up for up, _ in votes.values()) == 8 and set(votes) <= {CHAMP, CHALL_ID}
    report = await arena_report(service.storage, service.settings)
    low, high = wilson_interval(18, 24)
    assert f"challenger win rate 75.0% (95% CI {low:.1%} to {high:.1%}) over 24" in report
    assert "8 tie(s) left out" in report


async def test_share_and_compare_only(make_service: ServiceFactory) -> None:
    service = await _arena(make_service, share=0.0)
    delivery = await _run(service, 5)
    assert delivery.model_id == CHAMP and delivery.match_models == ()
    assert "no decided comparison yet" in await arena_report(service.storage, service.settings)


async def test_promote_swaps_and_survives_a_restart(tmp_path: Path) -> None:
    settings = Settings(db_path=tmp_path / "db.sqlite3", text_model=CHAMP, text_challenger=CHALL)
    async with await Storage.open(settings.db_path) as storage:
        assert await effective_roles(storage, settings) == settings
        assert await promote(storage, settings, 1.0) == (CHALL, CHAMP)
    async with await Storage.open(settings.db_path) as storage:  # a restart
        swapped = await effective_roles(storage, settings)
        assert (swapped.text_model, swapped.text_challenger) == (CHALL, CHAMP)
        assert await promote(storage, settings, 2.0) == (CHAMP, CHALL)  # and back
        assert await promote(storage, settings, 3.0) == (CHALL, CHAMP)
        fresh = Settings(db_path=settings.db_path, text_model=CHAMP, text_challenger="org/new")
        assert await effective_roles(storage, fresh) == fresh  # a new pair starts fresh
        alone = Settings(db_path=settings.db_path, text_model=CHAMP)
        assert await effective_roles(storage, alone) == alone


def test_cli_promote_and_stats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MUSE_DB_PATH", str(tmp_path / "muse.sqlite3"))
    monkeypatch.setenv("MUSE_TEXT_MODEL", CHAMP)
    monkeypatch.setenv("MUSE_EXPORT_SECRET", "a-long-random-secret")
    assert main(["promote"]) == 2
    assert "no challenger to promote" in capsys.readouterr().err
    monkeypatch.setenv("MUSE_TEXT_CHALLENGER", CHALL)
    assert main(["promote"]) == 0
    assert f"champion is now {CHALL}, challenger {CHAMP}" in capsys.readouterr().out
    assert main(["stats"]) == 0
    assert f"challenger {CHAMP} vs champion {CHALL}" in capsys.readouterr().out


def test_challenger_settings() -> None:
    settings = load_settings({"MUSE_TEXT_CHALLENGER": CHALL, "MUSE_CHALLENGER_SHARE": "0.25"})
    assert (settings.text_challenger, settings.challenger_share) == (CHALL, 0.25)
    assert load_settings({}).text_challenger is None
    with pytest.raises(Exception, match="MUSE_CHALLENGER_SHARE must be from 0 to 1"):
        load_settings({"MUSE_CHALLENGER_SHARE": "1.5"})
    remote = Settings(text_backend="openai", text_challenger=CHALL, image_model=None)
    with pytest.raises(ModelLoadError, match="MUSE_TEXT_BACKEND=local"):
        load_models(remote)


async def test_dpo_export_keeps_each_side_model(
    make_service: ServiceFactory, tmp_path: Path
) -> None:
    from bot.datasets.export import export
    from bot.datasets.filters import ExportFilters

    service = await _arena(make_service)
    for seed in range(3):
        delivery = await _run(service, seed * 10)
        await service.compare_vote(delivery.job_id, 2, "a")
    out = tmp_path / "dpo.jsonl"
    manifest = await export(
        service.storage, out, fmt="dpo", filters=ExportFilters(), secret="a-long-random-secret"
    )
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 3 == manifest.rows
    assert all({r["chosen_model_id"], r["rejected_model_id"]} == {CHAMP, CHALL_ID} for r in rows)


async def test_the_web_view_shows_the_standing(
    make_service: ServiceFactory, storage: Storage
) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from bot.review.reviews import ReviewDesk
    from bot.web.app import WebView
    from bot.web.auth import Guard
    from tests.web_seed import TOKEN, Clock, sign_in

    service = await _arena(make_service)
    for seed in range(4):
        delivery = await _run(service, seed * 10)
        side = "a" if delivery.match_models[0] == CHALL_ID else "b"
        other = "b" if side == "a" else "a"
        await service.compare_vote(delivery.job_id, 7, side if seed < 3 else other)
    await storage.save_model_roles(CHAMP, CHALL_ID, 1.0)
    clock = Clock()
    view = WebView(ReviewDesk(storage, clock), Guard(TOKEN, clock), clock)
    async with TestClient(TestServer(view.app())) as client:
        await sign_in(client)
        page = await (await client.get("/")).text()
    low, high = wilson_interval(3, 4)
    assert "<h2>Champion and challenger</h2>" in page
    assert (
        f"<td>{CHALL_ID}</td><td>{CHAMP}</td><td>75.0% ({low:.1%} to {high:.1%})</td>"
        "<td>4</td><td>0</td>"
    ) in page


async def test_a_start_after_promote_serves_the_swapped_pair(tmp_path: Path) -> None:
    from bot.app import Models, open_service

    settings = Settings(
        db_path=tmp_path / "muse.sqlite3", image_dir=tmp_path / "images", text_model=CHAMP,
        text_challenger=CHALL, filter_ml=False, image_model=None,
    )  # fmt: skip
    async with await Storage.open(settings.db_path) as storage:
        await promote(storage, settings, 1.0)

    def load(loading: Settings) -> Models:
        champion = ScriptedBackend(model_id=loading.text_model)
        assert loading.text_challenger is not None
        return Models(champion, 0.0, challenger=ScriptedBackend(model_id=loading.text_challenger))

    async with open_service(settings, load=load) as service:
        assert service.backend.model_id == CHALL
        assert service.executor.challenger is not None
        assert service.executor.challenger.model_id == CHAMP
        assert service.settings.text_model == CHALL


def test_load_models_loads_the_challenger(tiny_lm_dir: Path) -> None:
    settings = Settings(
        text_model=str(tiny_lm_dir), text_challenger=str(tiny_lm_dir), device="cpu",
        image_model=None,
    )  # fmt: skip
    models = load_models(settings)
    assert models.challenger is not None and models.challenger is not models.text
    assert models.challenger.model_id == str(tiny_lm_dir)
