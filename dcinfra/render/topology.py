"""``topology.svg``: a reviewable picture of the compute fabric, drawn as plain SVG text.

Tiers top to bottom (core, spine, leaf), leaves grouped by scalable unit with one small box per rail,
the node group of each SU under its leaves, and a legend with the switch model, radix, tier, switch and
cable counts and the expected bandwidth from the Plan. Large fabrics are summarised: at most
:data:`MAX_BOXES` boxes per tier, the last one reading "... N more". Only the Plan is read; the output
is deterministic (no ids, dates or random values).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dcinfra.plan.types import FabricPlan, Plan
from dcinfra.render.engine import managed_by

MAX_BOXES = 16  # per switch tier
MAX_SU_GROUPS = 8  # SU groups drawn in the leaf tier
WIDTH = 1280
MARGIN = 150  # left column holds the tier labels
ROW_GAP = 110
FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'
SWITCH_TIERS = ("leaf", "spine", "core")
CABLE_TIERS = {"node_leaf": "node-leaf", "leaf_spine": "leaf-spine", "spine_core": "spine-core"}


def _esc(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _num(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f} {unit}"
    return f"{value:.1f} {unit}" if abs(value) >= 10 else f"{value:.2f} {unit}"


@dataclass
class _Svg:
    height: int = 0
    body: list[str] = field(default_factory=list)

    def rect(self, x: float, y: float, w: float, h: float, css: str, title: str = "") -> None:
        tip = f"<title>{_esc(title)}</title>" if title else ""
        geometry = f'x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}"'
        self.body.append(f'<rect {geometry} rx="4" class="{css}">{tip}</rect>')

    def text(self, x: float, y: float, text: str, css: str = "t", anchor: str = "middle") -> None:
        self.body.append(
            f'<text x="{x:.1f}" y="{y:.1f}" class="{css}" text-anchor="{anchor}">{_esc(text)}</text>'
        )

    def line(self, x1: float, y1: float, x2: float, y2: float) -> None:
        self.body.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" class="link"/>')

    def document(self, stack: str, title: str) -> str:
        head = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f"<!-- {_esc(managed_by(stack, '')).replace('--', '- -')} -->",
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{self.height}" '
            f'viewBox="0 0 {WIDTH} {self.height}" {FONT} font-size="12">',
            f"<title>{_esc(title)}</title>",
            "<style>"
            ".bg{fill:#ffffff}.core{fill:#f4d6d6;stroke:#9c3d3d}.spine{fill:#f7e7c4;stroke:#a67a1c}"
            ".leaf{fill:#d6e6f4;stroke:#2f6b9c}.su{fill:#f2f6fa;stroke:#2f6b9c;stroke-dasharray:4 2}"
            ".nodes{fill:#dcefd8;stroke:#3d7a32}.more{fill:#eeeeee;stroke:#888888;stroke-dasharray:3 2}"
            ".legend{fill:#fafafa;stroke:#bbbbbb}.link{stroke:#9aa5b1;stroke-width:0.6}"
            ".t{fill:#1b1b1b}.h{fill:#1b1b1b;font-size:16px;font-weight:bold}"
            ".lbl{fill:#444444;font-weight:bold}.small{fill:#333333;font-size:10px}"
            ".tiny{fill:#333333;font-size:8px}"
            "</style>",
            f'<rect x="0" y="0" width="{WIDTH}" height="{self.height}" class="bg"/>',
        ]
        return "\n".join([*head, *self.body, "</svg>", ""])


def _tier_order(counts: dict[str, int], order: tuple[str, ...]) -> list[tuple[str, int]]:
    """Counts bottom tier first, then any tier the renderer does not know, by name."""
    rank = {name: i for i, name in enumerate(order)}
    return sorted(counts.items(), key=lambda kv: (rank.get(kv[0], len(order)), kv[0]))


def _ordered_unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _switch_names(fabric: FabricPlan, tier: str) -> list[str]:
    # The upper end of a tier's cables is "switch:port" on the tier above.
    return _ordered_unique([c.b.rsplit(":", 1)[0] for c in fabric.cabling if c.tier == tier])


def _row_slots(count: int) -> tuple[int, bool]:
    """How many boxes to draw, and whether the last one is a "... N more" box."""
    return (count, False) if count <= MAX_BOXES else (MAX_BOXES, True)


def _fit(text: str, width: float) -> tuple[str, str]:
    """The text and the CSS class that fits it into ``width`` pixels (smaller font, then elided)."""
    if len(text) * 6.0 <= width - 6:
        return text, "small"
    if len(text) * 4.9 <= width - 4:
        return text, "tiny"
    keep = max(3, int((width - 4) / 4.9) - 1)
    return "…" + text[-keep:], "tiny"


def _switch_row(svg: _Svg, names: list[str], total: int, y: float, css: str, label: str) -> list[float]:
    """Draw one switch tier; returns the x centre of each box."""
    shown, more = _row_slots(max(len(names), total))
    if shown == 0:
        return []
    span = WIDTH - MARGIN - 30
    slot = span / shown
    w = min(slot - 5, 140)
    centres = []
    svg.text(20, y + 22, label, "lbl", "start")
    for i in range(shown):
        cx = MARGIN + slot * i + slot / 2
        centres.append(cx)
        if more and i == shown - 1:
            rest = max(len(names), total) - (shown - 1)
            svg.rect(cx - w / 2, y, w, 34, "more", f"{rest} more {css} switches")
            svg.text(cx, y + 21, f"... {rest:,} more", "small")
        else:
            name = names[i] if i < len(names) else f"{css}-{i + 1}"
            svg.rect(cx - w / 2, y, w, 34, css, name)
            svg.text(cx, y + 21, *_fit(name, w))
    return centres


def _legend(svg: _Svg, plan: Plan, fabric: FabricPlan, y: float) -> float:
    exp = fabric.expected
    tiers = {1: "leaf", 2: "leaf, spine", 3: "leaf, spine, core"}.get(fabric.tiers, str(fabric.tiers))
    left = [
        f"Switch: {fabric.switch}, radix {fabric.radix}, {fabric.link_gbps} Gb/s ports",
        f"Tiers: {fabric.tiers} ({tiers}), oversubscription {fabric.oversubscription:g}:1",
        "Switches: " + ", ".join(f"{k} {v:,}" for k, v in _tier_order(fabric.switches, SWITCH_TIERS)),
        "Cables: "
        + ", ".join(
            f"{CABLE_TIERS.get(k, k)} {v:,}" for k, v in _tier_order(fabric.cables, tuple(CABLE_TIERS))
        ),
        f"Nodes: {fabric.nodes:,} in {fabric.scalable_units} SU(s) of up to {fabric.nodes_per_su}, "
        f"{fabric.rails} rail(s), MTU {fabric.mtu}",
    ]
    right = [
        "Expected (from the Plan):",
        f"inter-node all-reduce busbw: {_num(exp.inter_node_busbw_GBps, 'GB/s')}",
        f"intra-node all-reduce busbw: {_num(exp.intra_node_busbw_GBps, 'GB/s')}",
        f"network per GPU: {_num(exp.per_gpu_network_GBps, 'GB/s')}, "
        f"NIC line rate: {_num(exp.nic_line_rate_GBps, 'GB/s')}",
        f"point-to-point link (iperf3): {_num(exp.link_GBps, 'GB/s')}",
    ]
    h = 22 + 18 * max(len(left), len(right))
    svg.rect(20, y, WIDTH - 40, h, "legend")
    for i, line in enumerate(left):
        svg.text(36, y + 22 + 18 * i, line, "t", "start")
    for i, line in enumerate(right):
        svg.text(WIDTH / 2 + 20, y + 22 + 18 * i, line, "lbl" if i == 0 else "t", "start")
    return y + h


def _no_fabric(plan: Plan) -> str:
    svg = _Svg(height=150)
    svg.text(20, 36, f"Stack {plan.stack}: no compute fabric", "h", "start")
    svg.text(
        20,
        66,
        f"{len(plan.hosts)} host(s); networks: " + ", ".join(n.name for n in plan.networks),
        "t",
        "start",
    )
    svg.text(
        20,
        90,
        "The stack declares no compute fabric (Fabric.compute), so there is no fabric to draw.",
        "t",
        "start",
    )
    return svg.document(plan.stack, f"{plan.stack}: no compute fabric")


def _cable_label(svg: _Svg, fabric: FabricPlan, tier: str, top: float, bottom: float) -> None:
    count = fabric.cables.get(tier, 0)
    svg.text(20, (top + bottom) / 2 + 4, f"{count:,} {CABLE_TIERS[tier]} cables", "small", "start")


def _leaf_tier(
    svg: _Svg, plan: Plan, fabric: FabricPlan, y: float, upper: list[float], upper_y: float
) -> float:
    """Leaves grouped by SU (one small box per rail) and each SU's node group; returns the next y."""
    leaf_of: dict[tuple[int, int], str] = {}
    su_hosts: dict[int, list[str]] = {}
    for h in plan.hosts:
        if h.su is None or not h.rails:
            continue
        su_hosts.setdefault(h.su, []).append(h.name)
        for r in h.rails:
            leaf_of.setdefault((h.su, r.rail), r.leaf)
    sus = sorted(su_hosts)
    more_sus = len(sus) > MAX_SU_GROUPS
    shown = sus[: MAX_SU_GROUPS - 1] if more_sus else sus
    slot = (WIDTH - MARGIN - 30) / max(len(shown) + more_sus, 1)
    gw = min(slot - 12, 420)
    leaves_total = fabric.switches.get("leaf", len(set(leaf_of.values())))
    svg.text(20, y + 30, f"leaf x{leaves_total:,}", "lbl", "start")
    svg.text(20, y + 46, "(by SU, rail)", "small", "start")
    nodes_y = y + 56 + ROW_GAP / 2
    svg.text(20, nodes_y + 24, f"nodes x{fabric.nodes:,}", "lbl", "start")
    _cable_label(svg, fabric, "node_leaf", y + 56, nodes_y)
    centres = [MARGIN + slot * i + slot / 2 for i in range(len(shown) + more_sus)]
    for ux in upper:
        for cx in centres:
            svg.line(ux, upper_y + 34, cx, y)
    for cx, su in zip(centres, shown, strict=False):
        svg.rect(cx - gw / 2, y, gw, 56, "su", f"SU {su}")
        svg.text(cx, y + 14, f"SU {su}", "small")
        rails = sorted(r for (s, r) in leaf_of if s == su)
        shown_rails = rails[:MAX_BOXES]
        rw = (gw - 8) / max(len(shown_rails), 1)
        for j, rail in enumerate(shown_rails):
            rx = cx - gw / 2 + 4 + rw * j
            leaf = leaf_of[(su, rail)]
            svg.rect(rx + 1, y + 22, rw - 2, 28, "leaf", f"{leaf} (SU {su}, rail {rail})")
            label = (
                f"rail {rail}: {leaf}" if len(leaf) * 6 + 60 < rw else f"r{rail}" if rw >= 18 else str(rail)
            )
            svg.text(rx + rw / 2, y + 40, label, "small")
        svg.line(cx, y + 56, cx, nodes_y)
        names = su_hosts[su]
        span_names = names[0] if len(names) == 1 else f"{names[0]} ... {names[-1]}"
        svg.rect(cx - gw / 2, nodes_y, gw, 40, "nodes", f"SU {su}: " + ", ".join(names[:64]))
        svg.text(cx, nodes_y + 16, f"{len(names)} nodes x {len(rails)} rails", "small")
        svg.text(cx, nodes_y + 31, span_names if len(span_names) * 5.5 < gw else f"SU {su}", "small")
    if more_sus:
        cx = centres[-1]
        rest = sus[len(shown) :]
        rest_nodes = sum(len(su_hosts[s]) for s in rest)
        svg.rect(cx - gw / 2, y, gw, 56, "more", f"SUs {rest[0]}-{rest[-1]}")
        svg.text(cx, y + 33, f"... {len(rest)} more SUs", "small")
        svg.line(cx, y + 56, cx, nodes_y)
        svg.rect(cx - gw / 2, nodes_y, gw, 40, "more", f"{rest_nodes} more nodes")
        svg.text(cx, nodes_y + 24, f"... {rest_nodes:,} more nodes", "small")
    return nodes_y + 70


def topology_svg(plan: Plan) -> bytes:
    """The picture of ``plan``'s compute fabric (or a note when it has none)."""
    fabric = plan.fabric
    if fabric is None:
        return _no_fabric(plan).encode()
    svg = _Svg()
    title = f"Stack {plan.stack}: {fabric.kind} compute fabric, rail-optimized {fabric.tiers}-tier fat tree"
    svg.text(20, 30, title, "h", "start")
    y = 60.0
    upper: list[float] = []  # centres of the tier drawn above, for the links
    upper_y = 0.0
    for tier, cable_tier in (("core", "spine_core"), ("spine", "leaf_spine")):
        total = fabric.switches.get(tier, 0)
        if total <= 0:
            continue
        if upper:
            _cable_label(svg, fabric, "spine_core", upper_y + 34, y)
        centres = _switch_row(svg, _switch_names(fabric, cable_tier), total, y, tier, f"{tier} x{total:,}")
        for ux in upper:
            for cx in centres:
                svg.line(ux, upper_y + 34, cx, y)
        upper, upper_y = centres, y
        y += ROW_GAP
    if upper:
        _cable_label(svg, fabric, "leaf_spine", upper_y + 34, y)
    y = _leaf_tier(svg, plan, fabric, y, upper, upper_y)
    svg.height = int(_legend(svg, plan, fabric, y) + 20)
    return svg.document(plan.stack, title).encode()
