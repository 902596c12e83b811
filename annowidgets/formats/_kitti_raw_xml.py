"""KITTI raw ``tracklet_labels.xml`` (a boost::serialization XML archive) to columns and back.

The document is ``<boost_serialization><tracklets>`` holding ``count``, ``item_version`` and one
``<item>`` per tracklet (``objectType``, ``h w l``, ``first_frame``, ``poses``, ``finished``);
``poses`` holds ``count``, ``item_version`` and one ``<item>`` per frame (``tx ty tz rx ry rz
state occlusion occlusion_kf truncation amt_*``), optionally ``<attributes>`` of
``<attribute><name/><value/></attribute>`` (Datumaro's extension, which CVAT reads).

Reading streams ``end`` events with lxml and keeps raw strings per pose; numbers are made a
column at a time afterwards, so a bad value is found without a Python object per field.
KITTI's own files and Datumaro's start with a bare ``<!DOCTYPE boost_serialization>``: that is
allowed, any other DOCTYPE or an ENTITY is refused before parsing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from lxml import etree

from ..core.errors import FormatError, UnsafeInputError

POSITION = ("tx", "ty", "tz", "rx", "ry", "rz")
#: per-pose values besides the position, with the value KITTI's devkit means by "not set"
POSE_INTS = ("state", "occlusion", "occlusion_kf", "truncation")
POSE_FLOATS = ("amt_occlusion", "amt_occlusion_kf", "amt_border_l", "amt_border_r", "amt_border_kf")
POSE_VALUES = POSE_INTS + POSE_FLOATS
SIZE = ("h", "w", "l")
_HEAD = 1 << 16
_ROOT_ELEM = re.compile(rb"<(?![?!])")
_BARE_DOCTYPE = re.compile(rb"<!DOCTYPE\s+boost_serialization\s*>", re.IGNORECASE)
_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)
#: Datumaro 1.x writes the poses it adds for hidden frames with enum names instead of numbers
#: (``<truncation>TruncationStates.OUT_IMAGE</truncation>``); its own reader then fails, we read them.
ENUM_NAMES = {
    "OcclusionStates.OCCLUSION_UNSET": "-1", "OcclusionStates.VISIBLE": "0", "OcclusionStates.PARTLY": "1",
    "OcclusionStates.FULLY": "2", "TruncationStates.TRUNCATION_UNSET": "-1", "TruncationStates.IN_IMAGE": "0",
    "TruncationStates.TRUNCATED": "1", "TruncationStates.OUT_IMAGE": "2", "TruncationStates.BEHIND_IMAGE": "99",
    "PoseStates.UNSET": "0", "PoseStates.INTERP": "1", "PoseStates.LABELED": "2",
}


# -- safety and sniffing ------------------------------------------------------------------------
def _prolog(head: bytes) -> bytes:
    m = _ROOT_ELEM.search(head)
    return head[: m.start()] if m else head


def check_safe(head: bytes, where: str) -> None:
    """Refuse a prolog with an ENTITY or a DOCTYPE other than boost's bare one (no DTD is ever loaded)."""
    pro = _COMMENT.sub(b"", _prolog(head))
    rest = _BARE_DOCTYPE.sub(b"", pro, count=1).upper()
    if b"<!DOCTYPE" in rest or b"<!ENTITY" in rest or b"[" in rest:
        raise UnsafeInputError(where, "XML with a DOCTYPE or ENTITY declaration other than "
                               "'<!DOCTYPE boost_serialization>' is refused (no entity expansion)",
                               line=pro.count(b"\n") + 1, element="!DOCTYPE")


def looks_like_tracklets(head: bytes) -> bool:
    """Root ``<boost_serialization>`` whose first element is ``<tracklets``."""
    rest = head[len(_prolog(head)):]
    if not rest.startswith(b"<boost_serialization"):
        return False
    end = rest.find(b">")
    if end < 0:
        return False
    body = _COMMENT.sub(b"", rest[end + 1: end + 4097]).lstrip()
    return body.startswith(b"<tracklets") and body[10:11] in (b" ", b">", b"/", b"\t", b"\n", b"\r")


# -- reading ------------------------------------------------------------------------------------
@dataclass
class Parsed:
    """Tracklets (one dict each) and their poses as raw string columns, in document order."""

    tracklets: list[dict] = field(default_factory=list)
    pose_track: list[int] = field(default_factory=list)
    pose_line: list[int] = field(default_factory=list)
    pose_raw: dict[str, list] = field(default_factory=lambda: {k: [] for k in POSITION + POSE_VALUES})
    pose_attrs: list[dict | None] = field(default_factory=list)


def _attributes(el, where: str) -> dict:
    out = {}
    for a in el:
        if a.tag != "attribute":
            continue
        name = a.findtext("name")
        if not name:
            raise FormatError(where, "attribute without a <name>", line=a.sourceline, element="attribute")
        out[name] = a.findtext("value") or ""
    return out


def _count(el, where: str) -> int | None:
    text = el.findtext("count")
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise FormatError(where, f"count is {text!r}, expected an integer", line=el.sourceline,
                          element=el.tag) from None


def _tracklet(el, where: str, n_poses: int) -> dict:
    fields = {}
    for tag in ("objectType", *SIZE, "first_frame", "finished"):
        fields[tag] = el.findtext(tag)
    for tag in ("objectType", *SIZE, "first_frame"):
        if fields[tag] is None:
            raise FormatError(where, f"tracklet without <{tag}>: expected objectType, h, w, l, first_frame and "
                              "poses", line=el.sourceline, element="item")
    out = {"label": fields["objectType"].strip(), "line": el.sourceline, "n_poses": n_poses,
           "finished": fields["finished"]}
    for tag in SIZE:
        try:
            out[tag] = float(fields[tag])
        except ValueError:
            raise FormatError(where, f"<{tag}> is {fields[tag]!r}, expected a number", line=el.sourceline,
                              element="item") from None
    try:
        out["first_frame"] = int(fields["first_frame"])
    except ValueError:
        raise FormatError(where, f"<first_frame> is {fields['first_frame']!r}, expected an integer",
                          line=el.sourceline, element="item") from None
    if out["first_frame"] < 0:
        raise FormatError(where, f"first_frame {out['first_frame']} is negative", line=el.sourceline, element="item")
    poses = el.find("poses")
    declared = _count(poses, where) if poses is not None else None
    if declared is not None and declared != n_poses:
        raise FormatError(where, f"poses count is {declared} but {n_poses} pose <item>s follow",
                          line=poses.sourceline, element="poses")
    attrs = el.find("attributes")
    out["attributes"] = _attributes(attrs, where) if attrs is not None else {}
    return out


def parse(fobj, where: str) -> Parsed:
    """Stream one tracklets document into :class:`Parsed`; broken or foreign XML is a FormatError."""
    out = Parsed()
    raw = out.pose_raw
    n_in_track = 0
    it = etree.iterparse(fobj, events=("end",), resolve_entities=False, no_network=True, load_dtd=False,
                         huge_tree=True, remove_comments=True, remove_pis=True)
    first = True
    try:
        for _, el in it:
            if first:
                first = False
                tree = el.getroottree()
                doctype = tree.docinfo.doctype
                if doctype and doctype.strip() != "<!DOCTYPE boost_serialization>":
                    raise UnsafeInputError(where, "XML with a DOCTYPE other than boost's is refused", line=1,
                                           element="!DOCTYPE")
                root = tree.getroot()
                if root.tag != "boost_serialization" or not len(root) or root[0].tag != "tracklets":
                    raise FormatError(where, f"root <{root.tag}>: expected <boost_serialization><tracklets> "
                                      "(KITTI raw tracklet_labels.xml)", line=root.sourceline, element=root.tag)
            if el.tag != "item":
                continue
            parent = el.getparent()
            ptag = parent.tag if parent is not None else None
            if ptag == "poses":
                values = {c.tag: c.text for c in el}
                for k in POSITION:
                    v = values.get(k)
                    if v is None:
                        raise FormatError(where, f"pose without <{k}>: expected tx ty tz rx ry rz",
                                          line=el.sourceline, element="item")
                    raw[k].append(v)
                for k in POSE_VALUES:
                    raw[k].append(values.get(k))
                a = el.find("attributes")
                out.pose_attrs.append(_attributes(a, where) if a is not None else None)
                out.pose_track.append(len(out.tracklets))
                out.pose_line.append(el.sourceline)
                n_in_track += 1
                el.clear()
            elif ptag == "tracklets":
                out.tracklets.append(_tracklet(el, where, n_in_track))
                n_in_track = 0
                el.clear()
                while el.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise FormatError(where, f"not well-formed XML: {exc.msg}", line=line or 1) from None
    root = it.root
    if root is not None and len(root) and root[0].tag == "tracklets":
        declared = _count(root[0], where)
        if declared is not None and declared != len(out.tracklets):
            raise FormatError(where, f"tracklets count is {declared} but {len(out.tracklets)} tracklet <item>s "
                              "follow", line=root[0].sourceline, element="tracklets")
    if first:
        raise FormatError(where, "empty document: expected <boost_serialization><tracklets>", line=1)
    return out


def _floats(raw: list, enums: bool) -> np.ndarray | None:
    """All values as floats in one C call (absent ones NaN), or None when some are not numbers."""
    vals = [np.nan if x is None else x for x in raw] if None in raw else raw
    try:
        return np.asarray(vals, dtype=np.float64) if len(vals) else np.zeros(0)
    except ValueError:
        if enums:
            try:
                return np.asarray([ENUM_NAMES.get(x.strip(), x) if isinstance(x, str) else x for x in vals],
                                  dtype=np.float64)
            except ValueError:
                return None
        return None


def numbers(p: Parsed, where: str) -> pd.DataFrame:
    """The pose columns as numbers: position floats, per-pose ints (NA when absent), amt_* floats."""
    cols = {}
    line = np.asarray(p.pose_line, dtype=np.int64)
    for k in POSITION + POSE_VALUES:
        v = _floats(p.pose_raw[k], k in POSE_INTS)
        if v is None:  # not all numbers: find the first bad one
            s = pd.Series(p.pose_raw[k], dtype=object)
            if k in POSE_INTS:
                s = s.replace(ENUM_NAMES)
            num = pd.to_numeric(s.str.strip() if len(s) else s, errors="coerce")
            bad = num.isna().to_numpy() & s.notna().to_numpy()
            if bad.any():
                i = int(np.argmax(bad))
                raise FormatError(where, f"<{k}> is {s.iloc[i]!r}, expected a number", line=int(line[i]),
                                  element="item")
            v = num.to_numpy(dtype=np.float64)
        if k in POSE_INTS:
            frac = ~np.isnan(v) & (v != np.floor(np.nan_to_num(v)))
            if frac.any():
                i = int(np.argmax(frac))
                raise FormatError(where, f"<{k}> is {p.pose_raw[k][i]!r}, expected an integer", line=int(line[i]),
                                  element="item")
            cols[k] = pd.array(np.nan_to_num(v).astype(np.int64), dtype="Int64")
            cols[k][np.isnan(v)] = pd.NA
        else:
            cols[k] = v
    cols["tracklet"] = np.asarray(p.pose_track, dtype=np.int64)
    cols["line"] = line
    cols["attributes"] = p.pose_attrs
    return pd.DataFrame(cols)


def parse_value(text: str):
    """An attribute value as Datumaro and CVAT type it: true/false, integers, floats, else text."""
    if text == "true":
        return True
    if text == "false":
        return False
    try:
        if str(int(text)) == text:
            return int(text)
    except ValueError:
        pass
    try:
        if str(float(text)) == text:
            return float(text)
    except ValueError:
        pass
    return text


def occluded_of(occlusion: np.ndarray, occlusion_kf: np.ndarray, tracklet: np.ndarray) -> np.ndarray:
    """KITTI's occlusion as a flag: 1 or 2 is occluded; unset (-1) repeats the last keyframe's
    (``occlusion_kf`` = 1) within the tracklet, False before any."""
    occ = np.isin(occlusion, (1, 2))
    kf = occlusion_kf == 1
    carried = pd.Series(np.where(kf, occ, np.nan)).groupby(tracklet).ffill().fillna(0.0).to_numpy() > 0
    return np.where(kf, occ, np.where(occlusion == -1, carried, occ))



# -- writing ------------------------------------------------------------------------------------
def _esc(v) -> str:
    s = str(v)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def value_text(v) -> str:
    """An attribute value as the readers type it back (``parse_value``)."""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    return str(v)


def _num(v) -> str:
    """Numbers as repr writes them (shortest round trip), whole ints without '.0'."""
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return repr(float(v))


def _attr_lines(attrs: dict, ind: str) -> list[str]:
    out = [f"{ind}<attributes>"]
    for name, value in attrs.items():
        out.append(f"{ind}  <attribute>")
        out.append(f"{ind}    <name>{_esc(name)}</name><value>{_esc(value_text(value))}</value>")
        out.append(f"{ind}  </attribute>")
    out.append(f"{ind}</attributes>")
    return out


def serialize(tracklets: list[dict]) -> str:
    """The document for ``tracklets`` ({label, h, w, l, first_frame, finished, poses: [dict]}), with
    boost's class headers (``class_id``/``tracking_level``/``version``) on the first of each kind."""
    lines = ['<?xml version="1.0" encoding="UTF-8" standalone="yes" ?>', "<!DOCTYPE boost_serialization>",
             '<boost_serialization signature="serialization::archive" version="9">',
             '<tracklets class_id="0" tracking_level="0" version="0">',
             f"  <count>{len(tracklets)}</count>", "  <item_version>1</item_version>"]
    first_track, first_poses, first_pose = True, True, True
    for t in tracklets:
        lines.append('  <item class_id="1" tracking_level="0" version="1">' if first_track else "  <item>")
        first_track = False
        lines.append(f"    <objectType>{_esc(t['label'])}</objectType>")
        lines += [f"    <{k}>{_num(t[k])}</{k}>" for k in SIZE]
        lines.append(f"    <first_frame>{int(t['first_frame'])}</first_frame>")
        lines.append('    <poses class_id="2" tracking_level="0" version="0">' if first_poses else "    <poses>")
        first_poses = False
        lines.append(f"      <count>{len(t['poses'])}</count>")
        lines.append("      <item_version>0</item_version>")
        for pose in t["poses"]:
            lines.append('      <item class_id="3" tracking_level="0" version="1">' if first_pose else "      <item>")
            first_pose = False
            lines += [f"        <{k}>{_num(pose[k])}</{k}>" for k in POSITION + POSE_VALUES]
            if pose.get("attributes"):
                lines += _attr_lines(pose["attributes"], "        ")
            lines.append("      </item>")
        lines.append("    </poses>")
        lines.append(f"    <finished>{_esc(t.get('finished', 1))}</finished>")
        lines.append("  </item>")
    lines += ["</tracklets>", "</boost_serialization>", ""]
    return "\n".join(lines)
