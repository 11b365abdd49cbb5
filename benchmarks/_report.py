"""The report of ``run.py``: pooling the processes' samples, the targets and the tables.

Standard library only, like ``run.py``; ``run.py`` re-exports these names.
"""

from __future__ import annotations

import statistics

FLOOR_KINDS = ("ff", "rec")  # what matmul_floor.py measures


def _quartiles(xs: list[float]) -> tuple[float, float, float]:
    if len(xs) == 1:
        return xs[0], xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], statistics.median(xs), q[2]


def entry_key(fw: str, wl: str, dtype: str = "fp32") -> str:
    """Key of one (framework, workload, dtype) in ``aggregate``: ``"fw/wl"`` (fp32) or ``"fw/wl/bf16"``."""
    return f"{fw}/{wl}" if dtype == "fp32" else f"{fw}/{wl}/{dtype}"


def floor_key(s: dict) -> tuple | None:
    """What a workload's matmul floor depends on (``long1000`` and ``long1000_remat`` share one);
    ``None`` for a kind ``matmul_floor.py`` does not measure."""
    if s["kind"] not in FLOOR_KINDS:
        return None
    return (s["kind"], s["T"], s["B"], s["n_in"], s["hidden"], s["n_out"])


def aggregate(runs: list[dict], gemm: dict[str, float], floors: dict[str, float] | None = None) -> dict:
    """Pool every round's samples per (framework, workload, dtype).

    Args:
        runs: one dict per benchmark process (``BENCH_RESULT``), with ``framework``, ``workload``
            and ``dtype`` (missing: fp32).
        gemm: median GEMM peak in GFLOP/s per dtype (``{"fp32": ...}``, maybe ``"bf16"``); a
            dtype without its own peak is divided by the fp32 one (``util_peak`` says which).
        floors: median matmul floor in ms per ``entry_key("", wl, dtype)[1:]`` (``"rec100"``,
            ``"rec100/bf16"``); gives ``floor_ms`` and ``x_floor`` (train median / floor).

    Returns:
        ``{entry_key(fw, wl, dtype): {...}}``.
    """
    floors = floors or {}
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in runs:
        if "framework" in r and "error" not in r:
            groups.setdefault((r["framework"], r["workload"], r.get("dtype", "fp32")), []).append(r)
    out = {}
    for (fw, wl, dt), rs in groups.items():
        key = entry_key(fw, wl, dt)
        if any("unsupported" in r for r in rs):
            out[key] = {"framework": fw, "workload": wl, "dtype": dt, "unsupported": rs[0]["unsupported"]}
            continue
        train = [t for r in rs for t in r["train_s"]]
        fwd = [t for r in rs for t in r["fwd_s"]]
        tq, fq = _quartiles(train), _quartiles(fwd)
        peak_dtype = dt if gemm.get(dt) else "fp32"
        peak = gemm.get(peak_dtype) or 0.0
        floor = floors.get(entry_key("", wl, dt)[1:])
        out[key] = {
            "framework": fw,
            "workload": wl,
            "dtype": dt,
            "rounds": len(rs),
            "samples": len(train),
            "train_ms": [1e3 * v for v in tq],
            "fwd_ms": [1e3 * v for v in fq],
            "first_train_s": statistics.median(r["first_train_s"] for r in rs),
            "first_fwd_s": statistics.median(r["first_fwd_s"] for r in rs),
            "peak_rss_mib": statistics.median(r["peak_rss_above_baseline"] for r in rs) / 2**20,
            "device_peak_mib": rs[0].get("device_peak_mib"),
            "train_util": rs[0]["train_flops"] / tq[1] / (peak * 1e9) if peak else None,
            "fwd_util": rs[0]["fwd_flops"] / fq[1] / (peak * 1e9) if peak else None,
            "util_peak": f"{peak_dtype} GEMM, {peak:.1f} GFLOP/s" if peak else None,
            "floor_ms": floor,
            "x_floor": 1e3 * tq[1] / floor if floor else None,
            "loss_ok": all(r["loss_ok"] for r in rs),
            "loss_first": rs[0]["loss_first"],
            "loss_last": rs[0]["loss_last"],
        }
    return out


def targets(agg: dict, floors: dict[str, float] | None = None) -> list[dict]:
    """The issues' targets, evaluated on this run's fp32 medians.

    Args:
        agg: :func:`aggregate`'s result.
        floors: median matmul floor in ms per workload (``{"rec100": ...}``), for the floor rows.

    Returns:
        One ``{"target", "value", "limit", "op", "met", "permits"}`` per target; ``permits`` (the
        issue-17 peer rows only) is the peer's train time over the floor: the largest ratio a step
        at the floor would reach.
    """
    floors = floors or {}

    def get(fw, wl, key, i=1):
        a = agg.get(f"{fw}/{wl}")
        if not a or "unsupported" in a:
            return None
        v = a[key]
        return v[i] if isinstance(v, list) else v

    def ratio(num, den):
        return None if num is None or den is None else num / den

    rows = []

    def add(name, value, limit, better="<=", permits=None):
        ok = None if value is None else (value <= limit if better == "<=" else value >= limit)
        rows.append(
            {"target": name, "value": value, "limit": limit, "op": better, "met": ok, "permits": permits}
        )

    def snnx_over(peer, wl):
        return ratio(get("snnx", wl, "train_ms"), get(peer, wl, "train_ms"))

    add("ff100 train snnx/spyx", snnx_over("spyx", "ff100"), 0.5)
    add("ff100 forward snnx/spyx", ratio(get("snnx", "ff100", "fwd_ms"), get("spyx", "ff100", "fwd_ms")), 0.5)
    add("ff250 train snnx/spyx", snnx_over("spyx", "ff250"), 0.55)
    add("rec100 train snnx/spyx", snnx_over("spyx", "rec100"), 0.65)
    for peer in ("snntorch", "norse"):
        for wl in ("ff100", "ff250", "rec100"):
            add(
                f"{wl} train {peer}/snnx",
                ratio(get(peer, wl, "train_ms"), get("snnx", wl, "train_ms")),
                3.5,
                ">=",
            )
    add("conv30 train snnx/spyx", snnx_over("spyx", "conv30"), 0.7)
    add("long1000_remat peak RSS MiB", get("snnx", "long1000_remat", "peak_rss_mib"), 1024.0)
    add(
        "first ff100 train call snnx/spyx",
        ratio(get("snnx", "ff100", "first_train_s"), get("spyx", "ff100", "first_train_s")),
        1.5,
    )
    # issue 17: rec100 within 15 % of its matmul floor; >= 3x the torch peers where the floor permits
    floor = floors.get("rec100")
    add("rec100 train snnx/floor", ratio(get("snnx", "rec100", "train_ms"), floor), 1.15)
    for peer in ("snntorch", "norse"):
        add(
            f"rec100 train {peer}/snnx (issue 17)",
            ratio(get(peer, "rec100", "train_ms"), get("snnx", "rec100", "train_ms")),
            3.0,
            ">=",
            permits=ratio(get(peer, "rec100", "train_ms"), floor),
        )
    add("conv30 train snnx/snntorch", snnx_over("snntorch", "conv30"), 0.7)
    add("convnm train snnx/snntorch", snnx_over("snntorch", "convnm"), 0.8)
    rows.append(
        {
            "target": "remat time cost long1000 (remat/plain, report only)",
            "value": ratio(get("snnx", "long1000_remat", "train_ms"), get("snnx", "long1000", "train_ms")),
            "limit": None,
            "op": "",
            "met": None,
            "permits": None,
        }
    )
    return rows


def _fmt(v, spec="{:.1f}"):
    return "-" if v is None else spec.format(v)


def table(agg: dict, workloads, frameworks, dtypes=("fp32",)) -> str:
    """The results as a Markdown table: one row per (workload, framework, dtype), ratios to snnx's row
    of the same dtype; ``x floor``: the row's train median over the workload's matmul floor."""
    head = (
        "| workload | framework | dtype | train ms (q1-q3) | ×snnx | forward ms (q1-q3) | ×snnx | "
        "first call s | peak RSS MiB | util train | x floor | loss falls |"
    )
    lines = [head, "|" + "---|" * 12]
    for wl in workloads:
        for dt in dtypes:
            base = agg.get(entry_key("snnx", wl, dt))
            for fw in frameworks:
                a = agg.get(entry_key(fw, wl, dt))
                if a is None:
                    continue
                if "unsupported" in a:
                    lines.append(f"| {wl} | {fw} | {dt} | unsupported: {a['unsupported']} |" + "  |" * 8)
                    continue
                tr, fw_ = a["train_ms"], a["fwd_ms"]
                rt = rf = None
                if base and "unsupported" not in base:
                    rt, rf = tr[1] / base["train_ms"][1], fw_[1] / base["fwd_ms"][1]
                lines.append(
                    f"| {wl} | {fw} | {dt} | {tr[1]:.1f} ({tr[0]:.1f}-{tr[2]:.1f}) | {_fmt(rt, '{:.2f}')} | "
                    f"{fw_[1]:.1f} ({fw_[0]:.1f}-{fw_[2]:.1f}) | {_fmt(rf, '{:.2f}')} | "
                    f"{a['first_train_s']:.2f} | {a['peak_rss_mib']:.0f} | "
                    f"{_fmt(a['train_util'] and 100 * a['train_util'], '{:.0f} %')} | "
                    f"{_fmt(a.get('x_floor'), '{:.2f}')} | {'yes' if a['loss_ok'] else 'NO'} |"
                )
    return "\n".join(lines)


def target_table(rows: list[dict]) -> str:
    lines = ["| target | measured | limit | met | floor permits |", "|---|---|---|---|---|"]
    for r in rows:
        met = "-" if r["met"] is None else ("yes" if r["met"] else "no")
        limit = "" if r["limit"] is None else f"{r['op']} {r['limit']}"
        permits = "" if r.get("permits") is None else f"{r['permits']:.2f}"
        lines.append(f"| {r['target']} | {_fmt(r['value'], '{:.2f}')} | {limit} | {met} | {permits} |")
    return "\n".join(lines)
