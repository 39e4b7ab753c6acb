"""The "AI-generated" marks every PNG Muse draws carries, so that tools and people can tell.

Three PNG text chunks, written with the image's other provenance (``generators.image``):

- ``AI-generated``: a plain tEXt flag with the generator and model, readable by any PNG tool;
- ``XML:com.adobe.xmp``: an XMP packet (iTXt, the standard place for XMP in PNG) with IPTC's
  ``DigitalSourceType`` = ``trainedAlgorithmicMedia``, the creating tool and the creation time,
  as image sites and editors read it;
- ``c2pa.manifest``: a C2PA-style manifest as JSON (claim generator, a ``c2pa.actions``
  assertion with ``c2pa.created`` or, for a restyled member image or a picture derived from
  another (variation, upscale, region, zoom), ``c2pa.edited`` with the operation and the parent
  as ingredient (its SHA-256, and ``muse:output:<id>`` for a parent Muse drew), the digital
  source type, the model and the time). It is **not signed**: a real C2PA manifest is a signed
  JUMBF box (``caBX`` chunk) that needs a certificate. Like any metadata, all three marks are
  lost when someone re-encodes or screenshots the image.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
AI_FLAG_KEY = "AI-generated"
XMP_KEY = "XML:com.adobe.xmp"
C2PA_KEY = "c2pa.manifest"
GENERATOR = "Muse"


@dataclass(frozen=True)
class Provenance:
    """Who made an image, with what, and when (``created_s``: Unix seconds, 0 for unknown)."""

    model_id: str
    version: str
    created_s: float = 0.0
    source_sha256: str | None = None  # the member's image, for a restyle, or the parent's
    operation: str = ""  # what made it from its parent ("upscale ×2", ...), for a derived one
    parent: str = ""  # the parent's reference ("muse:output:<id>"), for a derived one


def _when(created_s: float) -> str | None:
    if created_s <= 0:
        return None
    moment = dt.datetime.fromtimestamp(created_s, dt.UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def xmp_packet(info: Provenance) -> str:
    """An XMP packet naming the digital source type, the tool and the creation time."""
    tool = f"{GENERATOR} {info.version} ({info.model_id})"
    when = _when(info.created_s)
    created = f"\n    xmp:CreateDate={quoteattr(when)}" if when else ""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        f"    Iptc4xmpExt:DigitalSourceType={quoteattr(TRAINED_ALGORITHMIC_MEDIA)}\n"
        f"    xmp:CreatorTool={quoteattr(tool)}{created}/>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="r"?>'
    )


def c2pa_manifest(info: Provenance) -> dict[str, object]:
    """A C2PA-style (unsigned) manifest: one actions assertion and Muse's model assertion."""
    action: dict[str, object] = {
        "action": "c2pa.edited" if info.source_sha256 else "c2pa.created",
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": {"name": GENERATOR, "version": info.version},
    }
    when = _when(info.created_s)
    if when:
        action["when"] = when
    if info.operation:
        action["parameters"] = {"description": info.operation, "ingredient": info.parent}
    manifest: dict[str, object] = {
        "claim_generator": f"{GENERATOR}/{info.version}",
        "format": "image/png",
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": [action]}},
            {"label": "muse.model", "data": {"model_id": info.model_id}},
        ],
        "signature": None,
    }
    if info.source_sha256:
        ingredient = {
            "relationship": "parentOf",
            "format": "image/png",
            "sha256": info.source_sha256,
        }
        if info.parent:
            ingredient["title"] = info.parent
        manifest["ingredients"] = [ingredient]
    return manifest


def marker_chunks(info: Provenance) -> dict[str, str]:
    """The three text chunks, in the order they are written."""
    flag = f"yes: made by {GENERATOR} {info.version} with the image model {info.model_id}"
    manifest = json.dumps(c2pa_manifest(info), ensure_ascii=False, sort_keys=True)
    return {AI_FLAG_KEY: flag, XMP_KEY: xmp_packet(info), C2PA_KEY: manifest}
