"""The engine's request parsing and deployment options, without starting Ray."""

from __future__ import annotations

import base64

import pytest

from generators.serve_images import ScaleOptions, parser
from generators.serve_images_api import BadImageRequest, parse_rows

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nrest").decode()


def test_rows_follow_openai_fields_and_muse_extensions() -> None:
    rows = parse_rows({"prompt": "fox", "n": 3, "seed": 7, "size": "96x64", "steps": 5,
                       "negative_prompt": "blur"}, 64, edit=False)  # fmt: skip
    assert [r.seed for r in rows] == [7, 8, 9]
    assert (rows[0].width, rows[0].height, rows[0].steps, rows[0].negative) == (96, 64, 5, "blur")
    [edit] = parse_rows({"prompt": "fox", "image": PNG, "mask": PNG}, 64, edit=True)
    assert edit.mode == "inpaint" and edit.mask_png and edit.init_png and edit.width == 64
    [upscale] = parse_rows({"prompt": "f", "image": PNG, "mode": "upscale", "strength": 0.3,
                            "width": 128, "height": 128}, 64, edit=True)  # fmt: skip
    assert (upscale.mode, upscale.strength, upscale.width) == ("upscale", 0.3, 128)


@pytest.mark.parametrize(
    ("body", "edit", "says"),
    [
        ({"prompt": ""}, False, "prompt"),
        ({"prompt": "x", "n": 99}, False, "n must"),
        ({"prompt": "x", "steps": True}, False, "steps must"),
        ({"prompt": "x", "size": "big"}, False, "size must"),
        ({"prompt": "x"}, True, "needs image"),
        ({"prompt": "x", "image": "not base64!"}, True, "base64 PNG"),
        ({"prompt": "x", "image": PNG, "mode": "inpaint"}, True, "needs a mask"),
        ({"prompt": "x", "image": PNG, "strength": 0}, True, "strength"),
    ],
)
def test_bad_requests_say_what_to_fix(body: dict[str, object], edit: bool, says: str) -> None:
    with pytest.raises(BadImageRequest, match=says):
        parse_rows(body, 64, edit=edit)


def test_replicas_gpus_and_autoscaling_become_serve_options() -> None:
    fixed = ScaleOptions(replicas=3, gpus_per_replica=0.5).deployment()
    assert fixed["num_replicas"] == 3 and fixed["ray_actor_options"]["num_gpus"] == 0.5
    args = parser().parse_args(["--model", "m", "--autoscale", "1:4", "--gpus-per-replica", "1"])
    scaled = ScaleOptions(autoscale=args.autoscale, gpus_per_replica=1).deployment()
    assert "num_replicas" not in scaled
    assert scaled["autoscaling_config"] == {
        "min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 1,
    }  # fmt: skip
    with pytest.raises(SystemExit):
        parser().parse_args(["--model", "m", "--autoscale", "4:1"])


def test_a_server_without_capabilities_gets_text_to_image_only() -> None:
    from generators.remote_image import family_of

    foreign = family_of({"id": "sd-3.5-large", "object": "model"}, 0)
    assert (foreign.name, foreign.native, foreign.img2img, foreign.inpaint) == (
        "sd-3.5-large", 1024, False, False,
    )  # fmt: skip
    assert not foreign.step_callback and foreign.negative
    assert family_of({"id": "x"}, 768).native == 768  # MUSE_IMAGE_NATIVE_PX
