"""Label Studio labeling config (``<View>…</View>`` XML): controls, objects and their labels.

Parsed with lxml, with DTDs, entities and network access refused: a config is user input.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from ..core.errors import FormatError, UnsafeInputError

#: control tag (lower case) -> labels.type
CONTROL_TYPES = {
    "rectanglelabels": "rectangle", "rectangle": "rectangle", "polygonlabels": "polygon", "polygon": "polygon",
    "keypointlabels": "points", "keypoint": "points", "ellipselabels": "ellipse", "ellipse": "ellipse",
    "brushlabels": "mask", "brush": "mask", "choices": "tag", "taxonomy": "tag", "labels": "any",
    "videorectangle": "rectangle", "timeserieslabels": "any", "timelinelabels": "any",
    "hypertextlabels": "any", "paragraphlabels": "any", "textarea": "any", "rating": "any", "number": "any",
    "datetime": "any", "pairwise": "any", "ranker": "any", "relations": "any",
}
OBJECT_KINDS = {"image": "image", "audio": "audio", "audioplus": "audio", "video": "video", "text": "text",
                "hypertext": "text", "paragraphs": "text", "timeseries": "other", "table": "other", "pdf": "other"}


@dataclass
class LabelConfig:
    """What the writer and readers need from a config."""

    controls: dict[str, dict] = field(default_factory=dict)  # name -> {tag, to_name}
    objects: dict[str, dict] = field(default_factory=dict)  # name -> {tag, kind, key}
    labels: list[dict] = field(default_factory=list)  # rows of the labels table
    xml: str = ""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def parse_config(xml: str | bytes, where: str = "<label config>") -> LabelConfig:
    """Parse a labeling config string; raise FormatError/UnsafeInputError on bad or hostile XML."""
    raw = xml.encode("utf-8") if isinstance(xml, str) else xml
    if b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
        raise UnsafeInputError(where, "label config with DOCTYPE/ENTITY refused")
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as exc:
        raise FormatError(where, f"invalid label config XML: {exc}", line=exc.lineno) from exc
    cfg = LabelConfig(xml=raw.decode("utf-8", "replace"))
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        tag = el.tag.lower()
        name = el.get("name")
        if tag in OBJECT_KINDS and name and el.get("value", "").startswith("$"):
            cfg.objects[name] = {"tag": el.tag, "kind": OBJECT_KINDS[tag], "key": el.get("value")[1:]}
        elif tag in CONTROL_TYPES and name:
            cfg.controls[name] = {"tag": el.tag, "to_name": el.get("toName")}
            ltype = CONTROL_TYPES[tag]
            for child in el.iter("Label", "Choice"):
                value = child.get("value") or child.get("alias")
                if value is None:
                    continue
                extra = {k: v for k, v in child.attrib.items() if k not in ("value", "background")}
                extra["control"] = el.tag
                if tag == "taxonomy":
                    path, p = [], child
                    while p is not None and p is not el:
                        path.append(p.get("value"))
                        p = p.getparent()
                    extra["path"] = path[::-1]
                cfg.labels.append({"name": value, "from_name": name, "color": child.get("background"),
                                   "type": ltype, "extra": extra})
    return cfg


def load_config(config, source=None) -> LabelConfig | None:
    """``config`` as an XML string, a path, or None (then ``config.xml`` inside ``source`` if any)."""
    if config is None:
        if source is not None and source.kind != "file":
            for rel in source.glob("config.xml", "*/config.xml"):
                return parse_config(source.read_bytes(rel), source.display(rel))
        return None
    if isinstance(config, LabelConfig):
        return config
    text = str(config)
    if text.lstrip().startswith("<"):
        return parse_config(text)
    from ..core.io import Source

    with Source(text) as src:
        return parse_config(src.read_bytes(), src.display())
