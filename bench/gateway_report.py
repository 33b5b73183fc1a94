"""The gateway bench's figures: medians with their range, the table, the JSON line."""

from __future__ import annotations

import json
import statistics
from typing import Any

from bench.loadgen import pct

# What the gateway's figures are called in the JSON: its own keys keep their old names
# (``added_p50_ms_c1``), a peer's carry its name (``litellm_added_p50_ms_c1``).
PREFIX = {"gateway": "", "direct": "direct_"}


def spread(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


class Figures:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.lines: list[str] = []
        self.warnings: list[str] = []
        self.peer: str | None = None

    def put(self, key: str, values: list[float], digits: int = 3) -> str:
        """The median as ``key``, its range as ``key_min`` / ``key_max``; the text for the table."""
        mid, low, high = spread(values)
        self.values[key] = round(mid, digits)
        if len(values) > 1:
            self.values[key + "_min"] = round(low, digits)
            self.values[key + "_max"] = round(high, digits)
        return f"{mid:.{digits}f} [{low:.{digits}f}..{high:.{digits}f}]"

    def add_latency(self, runs: dict[str, list[dict[str, float]]], stream: bool, c: int) -> None:
        suffix = ("_ttfc" if stream else "") + f"_c{c}"
        title = f"{'stream TTFC' if stream else 'chat'} c={c}"
        direct = runs["direct"]
        for name, reps in runs.items():
            p50 = self.put(f"{name}_p50_ms{suffix}", [r["p50"] for r in reps])
            p99 = self.put(f"{name}_p99_ms{suffix}", [r["p99"] for r in reps])
            line = f"{title:<16} {name:<8} p50 {p50:<24} p99 {p99:<24}"
            if name != "direct":
                prefix = PREFIX.get(name, f"{name}_")
                added = [r["p50"] - d["p50"] for r, d in zip(reps, direct, strict=True)]
                added99 = [r["p99"] - d["p99"] for r, d in zip(reps, direct, strict=True)]
                line += f" added p50 {self.put(f'{prefix}added_p50_ms{suffix}', added)}"
                line += f" p99 {self.put(f'{prefix}added_p99_ms{suffix}', added99)}"
            if not stream:
                rps = self.put(f"{name}_rps_c{c}", [r["rps"] for r in reps], 1)
                cpu = self.put(f"{name}_cpu_us_per_request_c{c}", [r["cpu"] for r in reps], 1)
                line += f"\n{'':<25} {rps} req/s; CPU us/request: own {cpu}"
                if name != "direct":
                    up = self.put(
                        f"{name}_upstream_cpu_us_per_request_c{c}", [r["upstream_cpu"] for r in reps], 1
                    )
                    line += f", upstream {up}"
                else:
                    gen = self.put(
                        f"generator_cpu_us_per_request_c{c}", [r["generator_cpu"] for r in reps], 1
                    )
                    line += f", load generator {gen}"
            self.lines.append(line)
        if not stream and c == 32:
            self.ratios_c32(runs)

    def ratios_c32(self, runs: dict[str, list[dict[str, float]]]) -> None:
        """proxied / direct throughput, reported only when direct is >= 10x the proxied figure:
        else the generator or the upstream is what saturates, and the ratio would say so."""
        direct = self.values["direct_rps_c32"]
        for name in runs:
            if name == "direct":
                continue
            proxied = self.values[f"{name}_rps_c32"]
            key = f"{PREFIX.get(name, name + '_')}throughput_ratio"
            if direct < 10 * proxied:
                self.values["generator_bound"] = True
                self.values[key] = None
                self.lines.append(f"{'throughput c=32':<16} {name}/direct not reported (generator-bound)")
                self.warnings.append(
                    f"WARNING: direct throughput ({direct:.0f} req/s) is under 10x {name}'s ({proxied:.0f} req/s):"
                    " the load generator or the upstream saturates first, so no ratio is reported"
                )
                continue
            ratio = [r["rps"] / d["rps"] for r, d in zip(runs[name], runs["direct"], strict=True)]
            self.lines.append(f"{'throughput c=32':<16} {name}/direct {self.put(key, ratio, 4)}")
        self.values.setdefault("generator_bound", False)

    def add_resolve(self, runs: dict[str, list[float]]) -> None:
        bare = self.put("bare_ninja_rps", runs["bare"], 1)
        resolve = self.put("resolve_rps", runs["resolve"], 1)
        ratio = self.put("resolve_ratio", [r / b for r, b in zip(runs["resolve"], runs["bare"], strict=True)])
        self.lines.append(
            f"{'resolve vs bare':<16} resolve {resolve} req/s, bare ninja {bare} req/s, ratio {ratio}"
        )

    def add_queued(self, figures: dict[str, float]) -> None:
        self.values.update(figures)
        self.lines.append(
            f"{'queued 4x':<16} wait p50 {figures['queued_wait_p50_ms']:.0f} ms, p99 {figures['queued_wait_p99_ms']:.0f} ms"
            f" (ideal {figures['queued_wait_ideal_ms']:.0f} ms); {figures['queued_gateway_rps']:.1f} req/s vs direct"
            f" {figures['queued_direct_rps']:.1f} (ratio {figures['queued_throughput_ratio']:.3f});"
            f" lost {figures['queued_lost']:.0f}"
        )

    def add_idle(self, samples: dict[str, list[float]], period: float, label: str) -> None:
        """Requests ``period`` s apart per target, on new connections: ``label`` is ``idle``
        (after >= 5 s) or ``spaced`` (a fraction of a second: the reference, since any request
        that is not back-to-back pays the machine's wake-ups on each process it crosses)."""
        self.values[f"{label}_period_s"] = period
        for name, values in samples.items():
            line = f"{label + ' ' + str(period) + ' s':<16} {name:<8} {self.put(f'{label}_{name}_ms', values)} ms"
            if name != "direct":
                added = [v - d for v, d in zip(values, samples["direct"], strict=True)]
                key = f"{PREFIX.get(name, name + '_')}{label}_added_ms"
                line += f", added {self.put(key, added)} ms"
                spaced = self.values.get(key.replace(label, "spaced"))
                if label == "idle" and spaced is not None:
                    penalty = self.values[key] - spaced
                    self.values[key.replace("added", "penalty")] = round(penalty, 3)
                    line += f" ({penalty:+.3f} ms against spaced requests)"
            self.lines.append(line)

    def add_lease(self, times: list[float]) -> None:
        self.values["lease_acquire_release_p50_ms"] = round(pct(times, 50), 3)
        self.values["lease_acquire_release_p99_ms"] = round(pct(times, 99), 3)
        self.lines.append(
            f"{'lease acq+rel':<16} p50 {pct(times, 50):.3f} ms, p99 {pct(times, 99):.3f} ms (in-process, Redis)"
        )

    def peer_ratios(self) -> None:
        """Hub / peer: added p50 (c=1, c=32), CPU per request (c=1, c=32), throughput (c=32)."""
        self.values["peer"] = self.peer
        if self.peer is None:
            return
        ratios = {
            "peer_added_p50_ratio_c1": ("added_p50_ms_c1", "litellm_added_p50_ms_c1"),
            "peer_added_p50_ratio_c32": ("added_p50_ms_c32", "litellm_added_p50_ms_c32"),
            "peer_cpu_ratio_c1": ("gateway_cpu_us_per_request_c1", "litellm_cpu_us_per_request_c1"),
            "peer_cpu_ratio_c32": ("gateway_cpu_us_per_request_c32", "litellm_cpu_us_per_request_c32"),
            "peer_rps_ratio_c32": ("gateway_rps_c32", "litellm_rps_c32"),
        }
        for key, (hub, peer) in ratios.items():
            if self.values.get(peer):
                self.values[key] = round(self.values[hub] / self.values[peer], 3)
        self.lines.append(
            f"{'hub / litellm':<16} added p50 c=1 {self.values.get('peer_added_p50_ratio_c1')},"
            f" CPU/request c=1 {self.values.get('peer_cpu_ratio_c1')} c=32 {self.values.get('peer_cpu_ratio_c32')},"
            f" throughput c=32 {self.values.get('peer_rps_ratio_c32')}"
        )

    def print(self) -> None:
        self.peer_ratios()
        print("latencies in ms as median [min..max] over the repetitions; CPU in us per request")
        for line in self.lines:
            print(line)
        for warning in self.warnings:
            print(warning)
        print(json.dumps(self.values))
