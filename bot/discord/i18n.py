"""zh-CN localizations for command and option descriptions and choice names."""

from __future__ import annotations

import discord
from discord import app_commands

ZH_CN: dict[str, str] = {
    "Write a poem about a topic": "以某个主题写一首诗",
    "What the poem is about (at most 200 characters)": "诗的主题（最多 200 个字符）",
    "Poetic form": "诗歌体裁",
    "Optional style, e.g. romantic, like a sea shanty": "可选风格，例如：浪漫、像水手号子",
    "Mood of the poem": "诗的情绪",
    "Language: auto follows the topic": "语言：自动则跟随主题的语言",
    "Write advertising slogans for a product": "为产品撰写广告语",
    "The product or brand (at most 200 characters)": "产品或品牌（最多 200 个字符）",
    "Who the slogan speaks to": "广告语面向的受众",
    "Tone of voice": "语气",
    "How many candidates to write (1-5)": "生成几条候选（1-5）",
    "free verse": "自由诗",
    "haiku": "俳句",
    "sonnet": "十四行诗",
    "limerick": "打油诗",
    "quatrain": "四行诗",
    "joyful": "欢快",
    "calm": "宁静",
    "romantic": "浪漫",
    "nostalgic": "怀旧",
    "melancholic": "忧郁",
    "hopeful": "希望",
    "playful": "俏皮",
    "solemn": "庄重",
    "friendly": "亲切",
    "bold": "大胆",
    "elegant": "优雅",
    "professional": "专业",
    "witty": "机智",
    "inspiring": "励志",
    "auto": "自动",
    "Draw pictures from a prompt": "根据描述画图",
    "What to draw (at most 500 characters)": "要画的内容（最多 500 个字符）",
    "What to keep out of the picture": "不希望出现在画面中的内容",
    "A style preset": "风格预设",
    "Image shape": "画面比例",
    "Seed, to reproduce or vary an image": "随机种子，用于复现或变化图像",
    "Denoising steps: more is slower and finer": "去噪步数：越多越慢、越精细",
    "How many images (1-4)": "生成几张图（1-4）",
    "How many versions to write (1-3)": "写几个版本（1-3）",
    "Write two versions, A and B, for members to compare": "写 A、B 两个版本供大家比较",
    "Draw two versions, A and B, for members to compare": "画 A、B 两个版本供大家比较",
    "A picture to restyle (PNG, JPEG or WebP)": "要重绘的图片（PNG、JPEG 或 WebP）",
    "With a picture: how much may change, 0.1 (a little) to 1.0 (all); default 0.6": (
        "有图片时：改动程度，0.1（少许）到 1.0（全部），默认 0.6"
    ),
    "none": "无",
    "photo": "摄影",
    "anime": "动漫",
    "watercolor": "水彩",
    "ink wash 水墨": "水墨",
    "oil painting": "油画",
    "pixel art": "像素画",
    "3d render": "三维渲染",
    "sketch": "素描",
    "poster": "海报",
    "square": "方形",
    "portrait": "竖版",
    "landscape": "横版",
}


class MuseTranslator(app_commands.Translator):
    """Serves ``ZH_CN`` for Discord's zh-CN locale; other locales keep the English text."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        if locale is discord.Locale.chinese:
            return ZH_CN.get(string.message)
        return None
