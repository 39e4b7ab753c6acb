"""Tiny random models built offline and saved with ``save_pretrained``, for tests and benches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
_WORDS = (
    "moon river light shadow morning coffee brave rocket garden whisper ocean bright dream fast "
    "simple fresh bold every day make write draw poem slogan the a of and to in is "
    "春 日 花 烂 漫 月 光 风 雨 山 水 夜 梦 诗"
).split()


def _corpus(prompt_weight: int) -> list[str]:
    """Generated word salad, plus Muse's own prompt texts ``prompt_weight`` times each, so a
    bigger vocabulary learns whole words of the prompts as a real tokenizer would."""
    from generators import prompts

    n = len(_WORDS)
    salad = [" ".join(_WORDS[(i * k + k * k) % n] for k in range(1, 9)) + "." for i in range(2000)]
    texts = [prompts._SYSTEM_EN, prompts._SYSTEM_ZH]
    texts += list(prompts._FORM_RULES_EN.values()) + list(prompts._FORM_RULES_ZH.values())
    return salad + texts * prompt_weight


def build_tokenizer(vocab_size: int = 512, *, chat: bool = True, prompt_weight: int = 0) -> object:
    """A byte-level BPE trained here, wrapped as a left-padding fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        show_progress=False,
        initial_alphabet=ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_corpus(prompt_weight), trainer)
    hf = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        additional_special_tokens=SPECIALS[4:],
        padding_side="left",
        model_max_length=1024,
    )
    if chat:
        hf.chat_template = CHAT_TEMPLATE
    return hf


def make_tiny_lm(
    path: Path,
    *,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    intermediate: int | None = None,
    vocab_size: int = 512,
    chat: bool = True,
    prompt_weight: int = 0,
    seed: int = 0,
) -> Path:
    """Build a random Llama of the given shape and save it with its tokenizer to ``path``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = build_tokenizer(vocab_size, chat=chat, prompt_weight=prompt_weight)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok),  # type: ignore[arg-type]
        hidden_size=hidden,
        intermediate_size=intermediate or 2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,  # type: ignore[attr-defined]
        eos_token_id=tok.eos_token_id,  # type: ignore[attr-defined]
        pad_token_id=tok.pad_token_id,  # type: ignore[attr-defined]
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tok.pad_token_id  # type: ignore[attr-defined]
    path.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(str(path))  # type: ignore[attr-defined]
    model.save_pretrained(str(path))
    return path


def make_realistic_lm(path: Path) -> Path:
    """A random model of SmolLM2-135M's width (24 layers, about 100M parameters), with a
    tokenizer that knows the prompt texts, so prompts are about as long as with a real one."""
    return make_tiny_lm(
        path, hidden=576, layers=24, heads=9, intermediate=1536, vocab_size=4096, prompt_weight=50
    )


def tiny_clip_tokenizer(max_length: int = 77) -> object:
    """A character-level CLIP BPE (the 256 byte symbols, with and without ``</w>``)."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    symbols = sorted(ByteLevel.alphabet())
    for symbol in symbols + [s + "</w>" for s in symbols]:
        vocab.setdefault(symbol, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def _sd_text_encoder(tokenizer: object, width: int, realistic: bool) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),  # type: ignore[arg-type]
            hidden_size=width,
            intermediate_size=2 * width,
            num_hidden_layers=4 if realistic else 2,
            num_attention_heads=4,
            max_position_embeddings=77,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )


def _sd_unet(width: int, realistic: bool) -> Any:
    """A two-block UNet of 8 px latents, or (``realistic``) half SD-1.5's width at 32 px."""
    from diffusers import UNet2DConditionModel

    shape: dict[str, Any] = dict(
        sample_size=8,
        layers_per_block=1,
        block_out_channels=(8, 16),
        norm_num_groups=4,
        attention_head_dim=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    )
    if realistic:
        shape = dict(
            sample_size=32,
            layers_per_block=2,
            block_out_channels=(160, 320, 640, 640),
            norm_num_groups=32,
            attention_head_dim=8,
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        )
    return UNet2DConditionModel(  # type: ignore[no-untyped-call]
        in_channels=4, out_channels=4, cross_attention_dim=width, **shape
    )


def _sd_vae(realistic: bool) -> Any:
    """A 4-block VAE: tiny, or (``realistic``) SD-1.5's."""
    from diffusers import AutoencoderKL

    shape: dict[str, Any] = dict(block_out_channels=(8, 8, 16, 16), norm_num_groups=4)
    if realistic:
        shape = dict(block_out_channels=(128, 256, 512, 512), norm_num_groups=32)
    return AutoencoderKL(  # type: ignore[no-untyped-call]
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        sample_size=64,
        **shape,
    )


def make_tiny_sd(path: Path, *, seed: int = 0, realistic: bool = False) -> Path:
    """A random Stable Diffusion pipeline (UNet, 4-block VAE, CLIP text encoder) of ~200 KB,
    saved with ``save_pretrained`` so it loads through ``AutoPipelineForText2Image``.

    ``realistic`` gives SD-1.5's VAE and a UNet of half SD-1.5's width (about 200M
    parameters) at a native 256 px, for benchmarks where the model, not Python, dominates.
    """
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline

    torch.manual_seed(seed)
    tokenizer = tiny_clip_tokenizer()
    width = 256 if realistic else 32
    # Built in a fixed order, so that the seed fixes every weight.
    text_encoder = _sd_text_encoder(tokenizer, width, realistic)
    unet = _sd_unet(width, realistic)
    vae = _sd_vae(realistic)
    scheduler = EulerDiscreteScheduler(  # type: ignore[no-untyped-call]
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    pipe: Any = StableDiffusionPipeline(  # type: ignore[no-untyped-call]
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    path.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(str(path))
    return path
