"""Tiny random pipelines of every diffusers family Muse covers, built offline from configs and
saved with ``save_pretrained``, so tests load them through ``AutoPipelineForText2Image``.

Each is a few hundred KB: one or two blocks of a few channels, tokenizers built from in-memory
vocabularies (the 256 byte symbols), T5 and Gemma-2 text encoders of one layer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.tiny_models import make_tiny_sd, tiny_clip_tokenizer

SPECIALS = ["<pad>", "</s>", "<unk>", "<bos>"]


def t5_tokenizer() -> Any:
    """A character-level T5 (Unigram) tokenizer: printable ASCII, one piece a character."""
    import string

    from transformers import T5TokenizerFast  # type: ignore[attr-defined]

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(ch, -3.0) for ch in string.printable if not ch.isspace()]
    return T5TokenizerFast(vocab=pieces, extra_ids=0, model_max_length=512)


def gemma_tokenizer() -> Any:
    """A byte-level Gemma (BPE) tokenizer: the 256 byte symbols, no merges."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import GemmaTokenizerFast  # type: ignore[attr-defined]

    vocab = {token: i for i, token in enumerate(SPECIALS)}
    for symbol in sorted(ByteLevel.alphabet()):
        vocab.setdefault(symbol, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
    return GemmaTokenizerFast(tokenizer_object=tok, bos_token="<bos>", **specials)


def _t5(width: int) -> Any:
    from transformers import T5Config, T5EncoderModel

    config = T5Config(vocab_size=128, d_model=width, d_kv=8, d_ff=2 * width,
                      num_layers=1, num_heads=2, relative_attention_num_buckets=8)  # fmt: skip
    return T5EncoderModel(config)


def _clip(width: int, projection: bool = False) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(vocab_size=514, hidden_size=width, intermediate_size=2 * width,
                            num_hidden_layers=1, num_attention_heads=2, projection_dim=width,
                            max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
                            pad_token_id=1)  # fmt: skip
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config)


def _vae(blocks: int, latent: int = 4, **extra: Any) -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(  # type: ignore[no-untyped-call]
        block_out_channels=(8,) * blocks, down_block_types=("DownEncoderBlock2D",) * blocks,
        up_block_types=("UpDecoderBlock2D",) * blocks, latent_channels=latent,
        norm_num_groups=4, layers_per_block=1, sample_size=32, **extra,
    )  # fmt: skip


def sdxl(path: Path) -> Any:
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

    unet = UNet2DConditionModel(  # type: ignore[no-untyped-call]
        block_out_channels=(8, 16), layers_per_block=1, sample_size=8, norm_num_groups=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), attention_head_dim=(2, 4),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), use_linear_projection=True,
        addition_embed_type="text_time", addition_time_embed_dim=8, cross_attention_dim=32,
        projection_class_embeddings_input_dim=8 * 6 + 16,
    )  # fmt: skip
    return StableDiffusionXLPipeline(  # type: ignore[no-untyped-call]
        vae=_vae(4), text_encoder=_clip(16), text_encoder_2=_clip(16, projection=True),
        tokenizer=tiny_clip_tokenizer(), tokenizer_2=tiny_clip_tokenizer(), unet=unet,
        scheduler=EulerDiscreteScheduler(),  # type: ignore[no-untyped-call]
    )  # fmt: skip


def sd3(path: Path) -> Any:
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )

    transformer = SD3Transformer2DModel(  # type: ignore[no-untyped-call]
        sample_size=8, patch_size=2, in_channels=4, num_layers=1, attention_head_dim=8,
        num_attention_heads=2, caption_projection_dim=16, joint_attention_dim=32,
        pooled_projection_dim=32, out_channels=4,
    )  # fmt: skip
    return StableDiffusion3Pipeline(  # type: ignore[no-untyped-call]
        transformer=transformer, vae=_vae(4, shift_factor=0.06), text_encoder=_clip(16, True),
        text_encoder_2=_clip(16, True), text_encoder_3=_t5(32), tokenizer=tiny_clip_tokenizer(),
        tokenizer_2=tiny_clip_tokenizer(), tokenizer_3=t5_tokenizer(),
        scheduler=FlowMatchEulerDiscreteScheduler(),  # type: ignore[no-untyped-call]
    )  # fmt: skip


def flux(path: Path) -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    transformer = FluxTransformer2DModel(  # type: ignore[no-untyped-call]
        patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=16,
        axes_dims_rope=[4, 4, 8],
    )  # fmt: skip
    vae = _vae(4, latent=4, use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.06)
    return FluxPipeline(  # type: ignore[no-untyped-call]
        transformer=transformer, vae=vae, text_encoder=_clip(16), text_encoder_2=_t5(32),
        tokenizer=tiny_clip_tokenizer(), tokenizer_2=t5_tokenizer(),
        scheduler=FlowMatchEulerDiscreteScheduler(),  # type: ignore[no-untyped-call]
    )  # fmt: skip


def pixart_sigma(path: Path) -> Any:
    from diffusers import DDIMScheduler, PixArtSigmaPipeline, PixArtTransformer2DModel

    transformer = PixArtTransformer2DModel(  # type: ignore[no-untyped-call]
        sample_size=32, num_layers=1, patch_size=2, attention_head_dim=8, num_attention_heads=2,
        caption_channels=32, in_channels=4, cross_attention_dim=16, out_channels=8,
        attention_bias=True, activation_fn="gelu-approximate", num_embeds_ada_norm=1000,
        norm_type="ada_norm_single", norm_elementwise_affine=False, norm_eps=1e-6,
    )  # fmt: skip
    return PixArtSigmaPipeline(  # type: ignore[no-untyped-call]
        tokenizer=t5_tokenizer(), text_encoder=_t5(32), vae=_vae(4),
        transformer=transformer, scheduler=DDIMScheduler(),  # type: ignore[no-untyped-call]
    )  # fmt: skip


def sana(path: Path) -> Any:
    from diffusers import (
        AutoencoderDC,
        FlowMatchEulerDiscreteScheduler,
        SanaPipeline,
        SanaTransformer2DModel,
    )
    from transformers import Gemma2Config, Gemma2Model

    transformer = SanaTransformer2DModel(  # type: ignore[no-untyped-call]
        patch_size=1, in_channels=4, out_channels=4, num_layers=1, num_attention_heads=2,
        attention_head_dim=4, num_cross_attention_heads=2, cross_attention_head_dim=4,
        cross_attention_dim=8, caption_channels=8, sample_size=16,
    )  # fmt: skip
    vae = AutoencoderDC(  # type: ignore[no-untyped-call]
        in_channels=3, latent_channels=4, attention_head_dim=2,
        encoder_block_types=("ResBlock",) * 4, decoder_block_types=("ResBlock",) * 4,
        encoder_block_out_channels=(8,) * 4, decoder_block_out_channels=(8,) * 4,
        encoder_qkv_multiscales=((),) * 4, decoder_qkv_multiscales=((),) * 4,
        encoder_layers_per_block=(1,) * 4, decoder_layers_per_block=(1,) * 4,
        downsample_block_type="conv", upsample_block_type="interpolate",
        decoder_norm_types="rms_norm", decoder_act_fns="silu", scaling_factor=0.41,
    )  # fmt: skip
    gemma = Gemma2Model(Gemma2Config(
        head_dim=4, hidden_size=8, intermediate_size=16, num_attention_heads=2,
        num_hidden_layers=1, num_key_value_heads=2, vocab_size=len(SPECIALS) + 256,
    ))  # fmt: skip
    return SanaPipeline(  # type: ignore[no-untyped-call]
        tokenizer=gemma_tokenizer(), text_encoder=gemma, vae=vae,
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(),  # type: ignore[no-untyped-call]
    )  # fmt: skip


def sd2(path: Path) -> Any:
    """SD 2.x: the SD pipeline with v-prediction (its tiny U-Net is SD 1.5's)."""
    from diffusers import DiffusionPipeline, EulerDiscreteScheduler

    make_tiny_sd(path)
    pipe = DiffusionPipeline.from_pretrained(str(path))  # type: ignore[no-untyped-call]
    pipe.scheduler = EulerDiscreteScheduler.from_config(  # type: ignore[no-untyped-call]
        pipe.scheduler.config, prediction_type="v_prediction"
    )
    return pipe


BUILDERS: dict[str, Callable[[Path], Any]] = {
    "sdxl": sdxl, "sd3": sd3, "flux": flux, "pixart-sigma": pixart_sigma, "sana": sana,
    "sd2": sd2,
}  # fmt: skip


def make_family(name: str, path: Path, seed: int = 0) -> Path:
    """Build the tiny pipeline of family ``name`` and save it to ``path``."""
    import torch

    torch.manual_seed(seed)
    pipe = BUILDERS[name](path)
    path.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(str(path))
    return path


def make_tiny_x4_upscaler(path: Path, seed: int = 0) -> Path:
    """A random ``StableDiffusionUpscalePipeline`` (×4, noise-level class embeddings), saved."""
    import torch
    from diffusers import (
        DDIMScheduler,
        DDPMScheduler,
        StableDiffusionUpscalePipeline,
        UNet2DConditionModel,
    )

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(  # type: ignore[no-untyped-call]
        block_out_channels=(8, 16), layers_per_block=1, sample_size=16, in_channels=7,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16,
        attention_head_dim=4, norm_num_groups=4, num_class_embeds=100,
    )  # fmt: skip
    pipe: Any = StableDiffusionUpscalePipeline(  # type: ignore[no-untyped-call]
        vae=_vae(3, scaling_factor=0.08333), text_encoder=_clip(16),
        tokenizer=tiny_clip_tokenizer(), unet=unet,
        low_res_scheduler=DDPMScheduler(),  # type: ignore[no-untyped-call]
        scheduler=DDIMScheduler(prediction_type="v_prediction"),  # type: ignore[no-untyped-call]
        max_noise_level=350,
    )  # fmt: skip
    path.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(str(path))
    return path
