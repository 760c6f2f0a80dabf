"""The plan diff ``preview`` shows: what ``up`` would change, per object, the way Terraform shows it.

Input is two plan JSONs (``to_jsonable(plan)``, or the ``"plan"`` of the applied record); output is a list
of :class:`ObjectChange`, one per object created, changed in place or destroyed, each carrying only
the fields that differ (for a create or a destroy: a few fields that say what the object is).

What an object is, read from the JSON's shape rather than from a list of sections, so a new layer's part
of the Plan diffs per object with no edit here:

- every top-level section (``site``, ``fabric``, ``security``, ``slurm``, ``verify``...) is a singleton
  (name ``""``); a section made only of sections (``storage``) holds singletons (``storage.ceph``);
- every list of dicts with unique ``name``s (or ``id``s), at any depth, is a collection: each element
  is an object of its own, its kind the path with the list's name made singular (``host``,
  ``storage.ceph.pool``, ``slurm.partition``); the elements of a nested collection are named after
  their parent (``storage.ceph.crush.child`` ``lab/node-004``);
- a dict whose values are all lists of dicts (the firewall's ``security.rulesets``) is a collection
  keyed by its keys;
- the top-level scalars (``stack``, ``ssh_user``) are the object ``plan``.

Everything else is a field of its object, named by its dotted path within it. A list of dicts of the
same length on both sides is compared element by element (``rails[0].address``, or ``[flow ssh].ports``
when the elements carry a unique label); any other list is compared whole. ``null`` and a missing key
are both "no object". Pure: no I/O, and the order is deterministic (hosts, networks, racks, storage,
the scheduler, security, then the rest; names in natural order within a kind).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Action = Literal["create", "update", "delete"]


class _Absent:
    """The value of a field on the side where it does not exist."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


ABSENT: Any = _Absent()  # a field missing on one side (distinct from a JSON null)


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of an object: its value before and after (:data:`ABSENT` where it does not exist)."""

    path: str  # dotted path within the object: "addresses.storage", "rails[0].address", "pg_num"
    before: Any  # the applied value (JSON), or ABSENT
    after: Any  # the planned value (JSON), or ABSENT

    @property
    def has_before(self) -> bool:
        return self.before is not ABSENT

    @property
    def has_after(self) -> bool:
        return self.after is not ABSENT

    def to_dict(self) -> dict[str, Any]:
        """JSON: ``before`` / ``after`` are left out where the field does not exist."""
        out: dict[str, Any] = {"path": self.path}
        if self.has_before:
            out["before"] = self.before
        if self.has_after:
            out["after"] = self.after
        return out


@dataclass(frozen=True, slots=True)
class ObjectChange:
    """One object ``up`` would create, change in place or destroy."""

    kind: str  # "host", "network", "storage.ceph", "storage.ceph.pool", "security.ruleset"
    name: str  # "node-004"; "" for a singleton ("storage.ceph", "slurm")
    action: Action
    fields: tuple[FieldChange, ...]  # update: the changed fields; create/delete: what identifies it

    @property
    def label(self) -> str:
        """``host node-004``, or ``storage.ceph`` for a singleton."""
        return f"{self.kind} {self.name}" if self.name else self.kind

    def to_dict(self) -> dict[str, Any]:
        """JSON for ``preview --json``."""
        return {
            "kind": self.kind,
            "name": self.name,
            "action": self.action,
            "fields": [f.to_dict() for f in self.fields],
        }


# What identifies a created or destroyed object, per kind (others: their first few scalar fields).
_IDENTITY: dict[str, tuple[str, ...]] = {
    "host": ("pool", "rack", "roles", "addresses.management"),
    "network": ("cidr", "interface", "mtu"),
    "rack": ("cooling", "hosts"),
    "storage.ceph.osd": ("host", "device"),
    "storage.ceph.pool": ("application", "size", "pg_num"),
    "storage.ceph.crush.child": ("type",),
    "slurm.node": ("address", "gpus", "real_memory_mb"),
    "slurm.partition": ("nodes", "default"),
    "security.flow": ("src", "dst", "protocol", "ports"),
}
_IDENTITY_FALLBACK = 4  # scalar fields shown for a kind not listed above
_LABELS = ("name", "id", "comment", "rail")  # keys that label list elements in a field path
# The order of kinds: by their first path segment; anything else after, alphabetically.
_KIND_ORDER = ("host", "network", "rack", "storage", "slurm", "scheduler", "security", "fabric", "platform")


def _singular(word: str) -> str:
    if word == "children":
        return "child"
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _is_empty(value: Any) -> bool:
    return value is ABSENT or value is None or value in ([], {})


def _key_of(items: list[Any]) -> str | None:
    """The key that names every element of a list of dicts uniquely (``name``, else ``id``), or None."""
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in ("name", "id"):
        names = [i.get(key) for i in items]
        typed = all(isinstance(n, str | int) and not isinstance(n, bool) for n in names)
        if typed and len({str(n) for n in names}) == len(names):
            return key
    return None


def _named(old: Any, new: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Both sides as ``{name: element}`` when this value is a collection of named objects, else None."""
    sides = [v for v in (old, new) if not _is_empty(v)]
    if not sides or not all(isinstance(v, list) for v in sides):
        return None
    keys = {_key_of(v) for v in sides}
    if len(keys) != 1 or None in keys:
        return None
    key = keys.pop()
    assert key is not None
    return (
        {str(e[key]): e for e in old} if isinstance(old, list) and old else {},
        {str(e[key]): e for e in new} if isinstance(new, list) and new else {},
    )


def _keyed_lists(old: Any, new: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Both sides when this value is a dict of lists of dicts (``security.rulesets``), else None."""
    sides = [v for v in (old, new) if not _is_empty(v)]
    if not sides or not all(isinstance(v, dict) for v in sides):
        return None
    lists = [x for v in sides for x in v.values()]
    if not all(isinstance(x, list) and all(isinstance(i, dict) for i in x) for x in lists):
        return None
    if not any(lists):
        return None
    return (old if isinstance(old, dict) else {}, new if isinstance(new, dict) else {})


def _is_section_container(value: Any) -> bool:
    """A top-level section made only of sections (``storage``: ``ceph``, ``hdfs``)."""
    return (
        isinstance(value, dict)
        and bool(value)
        and all(v is None or isinstance(v, dict) for v in value.values())
    )


class _Collector:
    """Walks both plans at once, splitting them into objects and their field changes."""

    def __init__(self) -> None:
        self.objects: list[tuple[str, str, Any, Any, list[FieldChange]]] = []

    def section(self, kind: str, old: Any, new: Any) -> None:
        """A top-level section, or a section of a container."""
        sides = [v for v in (old, new) if v is not ABSENT and v is not None]
        if sides and all(_is_section_container(v) for v in sides):
            o = old if isinstance(old, dict) else {}
            n = new if isinstance(new, dict) else {}
            for key in _union(o, n):
                self.section(f"{kind}.{key}", o.get(key, ABSENT), n.get(key, ABSENT))
            return
        self.obj(kind, "", old, new)

    def obj(self, kind: str, name: str, old: Any, new: Any) -> None:
        """One object: its own fields, and the objects nested in it."""
        old = ABSENT if old is None else old
        new = ABSENT if new is None else new
        if old is ABSENT and new is ABSENT:
            return
        changes: list[FieldChange] = []
        self.objects.append((kind, name, old, new, changes))
        self._fields(kind, name, "", old, new, changes)

    def _child(self, kind: str, name: str, path: str, key: str, old: Any, new: Any, keyed: bool) -> None:
        pairs = _keyed_lists(old, new) if keyed else _named(old, new)
        assert pairs is not None
        o, n = pairs
        single = _singular(key)
        head = path.rpartition(".")[0]
        if name and path == key and kind.rsplit(".", 1)[-1] == single:
            child_kind = kind  # a collection of its own kind nested in itself (crush buckets)
        else:
            child_kind = ".".join(p for p in ("" if kind == "plan" else kind, head, single) if p)
        for child in _union(o, n):
            self.obj(
                child_kind, f"{name}/{child}" if name else child, o.get(child, ABSENT), n.get(child, ABSENT)
            )

    def _fields(self, kind: str, name: str, path: str, old: Any, new: Any, out: list[FieldChange]) -> None:
        key = path.rsplit(".", 1)[-1]
        if path and "[" not in key and _named(old, new) is not None:
            self._child(kind, name, path, key, old, new, keyed=False)
            return
        if path and "[" not in key and _keyed_lists(old, new) is not None:
            self._child(kind, name, path, key, old, new, keyed=True)
            return
        if kind == "plan" and not path:
            for k in _union(old, new):
                o, n = old.get(k, ABSENT), new.get(k, ABSENT)
                if _is_section(o) or _is_section(n):
                    self.section(k, o, n)
                else:
                    self._fields(kind, name, k, o, n, out)
            return
        dicts = [v for v in (old, new) if v is not ABSENT]
        if dicts and all(isinstance(v, dict) for v in dicts):
            o = old if isinstance(old, dict) else {}
            n = new if isinstance(new, dict) else {}
            for k in _union(o, n):
                self._fields(
                    kind, name, f"{path}.{k}" if path else str(k), o.get(k, ABSENT), n.get(k, ABSENT), out
                )
            if not o and not n and old != new:
                out.append(FieldChange(path, old, new))
            return
        if isinstance(old, list) and isinstance(new, list) and old != new and _all_dicts(old, new):
            pairs = _by_label(old, new)
            if pairs is not None:
                o, n = pairs
                for label in _union(o, n):
                    self._fields(
                        kind, name, f"{path}[{label}]", o.get(label, ABSENT), n.get(label, ABSENT), out
                    )
                return
            if len(old) == len(new):
                for i, (o, n) in enumerate(zip(old, new, strict=True)):
                    self._fields(kind, name, f"{path}[{i}]", o, n, out)
                return
        if old != new:
            out.append(FieldChange(path or "entries", old, new))


def _all_dicts(*lists: list[Any]) -> bool:
    return any(lists) and all(isinstance(v, dict) for x in lists for v in x)


def _is_section(value: Any) -> bool:
    return isinstance(value, dict)


def _by_label(old: list[Any], new: list[Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Both lists as ``{label: element}`` when one key labels every element uniquely (``flow ssh``)."""
    for key in _LABELS:
        sides = []
        for items in (old, new):
            labels = [i.get(key) for i in items]
            if not all(isinstance(x, str | int) and not isinstance(x, bool) for x in labels):
                break
            if len({str(x) for x in labels}) != len(labels):
                break
            sides.append({str(i[key]): i for i in items})
        else:
            return sides[0], sides[1]
    return None


def _union(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The keys of both, in the order the plan has them (``a``'s, then the new ones)."""
    return [*a, *(k for k in b if k not in a)]


def _natural(text: str) -> tuple[tuple[int, int | str], ...]:
    """``node-2`` before ``node-10``; ``osd 2`` before ``osd 10``."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text) if p)


def _kind_rank(kind: str) -> tuple[int, str]:
    top = kind.split(".", 1)[0]
    return (_KIND_ORDER.index(top) if top in _KIND_ORDER else len(_KIND_ORDER), kind)


def _flat(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flat(v, f"{path}.{k}" if path else str(k), out)
    else:
        out[path] = value


def _identity(kind: str, body: Any, *, created: bool) -> tuple[FieldChange, ...]:
    """A few fields saying what a created or destroyed object is."""

    def change(path: str, value: Any) -> FieldChange:
        return FieldChange(path, ABSENT, value) if created else FieldChange(path, value, ABSENT)

    if isinstance(body, list):
        return (change("entries", len(body)),)
    if not isinstance(body, dict):
        return (change("value", body),)
    flat: dict[str, Any] = {}
    _flat(body, "", flat)
    flat.pop("name", None)
    if kind in _IDENTITY:
        return tuple(change(p, flat[p]) for p in _IDENTITY[kind] if p in flat)
    short = [p for p, v in flat.items() if v is not None and (not isinstance(v, list) or len(v) <= 4)]
    return tuple(change(p, flat[p]) for p in short[:_IDENTITY_FALLBACK])


def diff_objects(old: dict[str, Any], new: dict[str, Any]) -> list[ObjectChange]:
    """Per-object differences from plan JSON ``old`` (the applied one) to ``new``, in display order."""
    collector = _Collector()
    collector.obj("plan", "", old, new)
    out = []
    for kind, name, before, after, changes in collector.objects:
        if before is ABSENT:
            out.append(ObjectChange(kind, name, "create", _identity(kind, after, created=True)))
        elif after is ABSENT:
            out.append(ObjectChange(kind, name, "delete", _identity(kind, before, created=False)))
        elif changes:
            out.append(ObjectChange(kind, name, "update", tuple(changes)))
    return sorted(out, key=lambda c: (_kind_rank(c.kind), _natural(c.name)))


# -- text ---------------------------------------------------------------------------------------------

_MARK = {"create": "+", "update": "~", "delete": "-"}
MAX_VALUE = 60  # characters of one value before it is cut
MAX_FIELDS = 20  # field lines shown per object before "... N more"


def _short(value: Any, limit: int = MAX_VALUE) -> str:
    """The value as JSON, cut to about ``limit`` characters; a list keeps whole elements and says how
    many it left out (``["a", "b", ... 3 more]``)."""
    text = json.dumps(value, ensure_ascii=False)
    if len(text) <= limit:
        return text
    if isinstance(value, list):
        shown: list[str] = []
        for item in value:
            part = json.dumps(item, ensure_ascii=False)
            if len(", ".join([*shown, part])) > limit - 14:
                break
            shown.append(part)
        if shown:
            return f"[{', '.join(shown)}, ... {len(value) - len(shown)} more]"
    return text[: limit - 3] + "..."


def _change_text(before: Any, after: Any, limit: int) -> str:
    """``"a" -> "b"``; for long lists, which elements came and went."""
    whole = f"{_short(before, limit)} -> {_short(after, limit)}"
    if not (isinstance(before, list) and isinstance(after, list)):
        return whole
    if len(json.dumps(before)) <= limit and len(json.dumps(after)) <= limit:
        return whole
    b = [json.dumps(x, sort_keys=True) for x in before]
    a = [json.dumps(x, sort_keys=True) for x in after]
    added = [x for x in a if x not in b]
    gone = [x for x in b if x not in a]
    parts = []
    if added:
        parts.append("+ " + _join(added, limit))
    if gone:
        parts.append("- " + _join(gone, limit))
    if not parts:
        parts.append("reordered" if sorted(a) == sorted(b) else "duplicates changed")
    return f"{len(before)} -> {len(after)} items ({'; '.join(parts)})"


def _join(items: Sequence[str], limit: int) -> str:
    text = ", ".join(items)
    if len(text) <= limit:
        return text
    shown: list[str] = []
    for item in items:
        if len(", ".join([*shown, item])) > limit - 12:
            break
        shown.append(item)
    if not shown:
        return items[0][: limit - 12] + "... " + f"(+{len(items) - 1} more)" * (len(items) > 1)
    return ", ".join(shown) + f" and {len(items) - len(shown)} more"


def _field_line(f: FieldChange, limit: int) -> str:
    if not f.has_before:
        return f"+ {f.path}: {_short(f.after, limit)}"
    if not f.has_after:
        return f"- {f.path}: {_short(f.before, limit)}"
    return f"{f.path}: {_change_text(f.before, f.after, limit)}"


def format_changes(
    changes: Iterable[ObjectChange], *, limit: int = MAX_VALUE, max_fields: int = MAX_FIELDS
) -> list[str]:
    """Terraform-like lines: ``+ host node-004`` with what it is indented under it, ``~ host node-002``
    with ``    addresses.storage: "172.31.1.5" -> "172.31.1.6"``, ``- host node-004``; then the
    summary line ``Plan: 1 to add, 1 to change, 1 to destroy.`` (``No changes.`` when there are none)."""
    changes = list(changes)
    if not changes:
        return ["No changes."]
    lines = []
    for c in changes:
        lines.append(f"{_MARK[c.action]} {c.label}")
        for f in c.fields[:max_fields]:
            if c.action == "update":
                lines.append("    " + _field_line(f, limit))
            else:
                # One value per line, no arrow: room for twice as much (a host's roles).
                lines.append(f"      {f.path}: {_short(f.after if f.has_after else f.before, 2 * limit)}")
        if len(c.fields) > max_fields:
            lines.append(f"    ... and {len(c.fields) - max_fields} more fields")
    count = {a: sum(c.action == a for c in changes) for a in ("create", "update", "delete")}
    lines.append(
        f"Plan: {count['create']} to add, {count['update']} to change, {count['delete']} to destroy."
    )
    return lines
