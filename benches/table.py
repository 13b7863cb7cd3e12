#!/usr/bin/env python3
"""Turns the output of `cargo bench --bench overhead` (or `--bench otel --features otel`)
into the README's results table.

    cargo bench --bench overhead | tee overhead-1.txt
    python3 benches/table.py overhead-1.txt [overhead-2.txt ...]

For each group (sync, tokio current-thread) and configuration: the median time of one
top-level call (3 nested runs), its range, the ratio to the group's `plain` baseline, and
the cost per run, (median - plain) / 3. With one file the range is divan's fastest and
slowest sample; with several runs the median is the median of the runs' medians and the
range is that of the runs' medians, the steadier figure on a noisy machine.

The `depth`, `threads` and `stream_100` groups get tables of their own, from the same
medians: the cost per run of a chain 3 and 30 runs deep and their ratio (target: at most
1.05); a call's median on 1 and 2 threads sharing one manager and their ratio (target: at
most 1.10); a stream's cost per item over the plain stream.
"""

import re
import statistics
import sys

RUNS_PER_CALL = 3
UNITS = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}
ROW = re.compile(r"^[│ ]*[├╰]─ (\S+)\s+(.*)$")
TIME = re.compile(r"([\d.]+) (ps|ns|µs|us|ms|s)\b")

GROUPS = {"sync": "sync", "tokio_current_thread": "async (tokio current-thread)"}

# Rows in the order the README reads them, with what each measures.
CONFIGURATIONS = [
    ("plain", "plain functions (baseline)"),
    ("runtrace_none", "runtrace, no handlers"),
    ("runtrace_noop_sync", "runtrace, one no-op sync handler"),
    ("runtrace_recording", "runtrace, `RecordingHandler`"),
    ("runtrace_tracer", "runtrace, `Tracer` (run trees, discarded)"),
    ("runtrace_noop_async", "runtrace, one no-op async handler (+ flush)"),
    ("runtrace_noop_async_caller", "runtrace, one no-op async handler: the caller's share"),
    ("runtrace_noop_async_lean_caller", "runtrace, the same handler reading no payloads: the caller's share"),
    ("runtrace_model_usage_tracker", "runtrace, a chat model's usage, `UsageTracker`"),
    ("runtrace_tracing_bridge", "runtrace, `TracingBridge`, registry + no-op layer"),
    ("tracing_none", "tracing `#[instrument]`, no subscriber"),
    ("tracing_noop_layer", "tracing, registry + no-op layer"),
    ("tracing_storing_layer", "tracing, registry + layer storing spans"),
    ("fastrace_none", "fastrace `#[trace]`, no reporter"),
    ("fastrace_discard", "fastrace, root span + discarding reporter"),
    # benches/otel.rs
    ("runtrace_otel_caller", "runtrace, `OtelHandler`: the caller's share"),
    ("runtrace_otel_flush", "runtrace, `OtelHandler` (+ flush)"),
    ("tracing_opentelemetry_caller", "`tracing` + `tracing-opentelemetry`: the caller's share"),
    ("tracing_opentelemetry_flush", "`tracing` + `tracing-opentelemetry` (+ flush)"),
]


def parse(path):
    """{group: {bench: (fastest, slowest, median)}} in nanoseconds; a bench run with
    arguments (`args`, `threads`) gives one entry per argument, `bench[argument]`."""
    groups, path_names = {}, []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            match = ROW.match(line.rstrip("\n"))
            if not match:
                continue
            name, rest = match.groups()
            depth = match.start(1) // 3 - 1
            path_names = path_names[:depth] + [name]
            times = [float(value) * UNITS[unit] for value, unit in TIME.findall(rest)]
            if len(times) < 3:
                if depth == 0:
                    groups.setdefault(name, {})
                continue
            group = groups.setdefault(path_names[0], {})
            bench = path_names[1] if len(path_names) == 2 else f"{path_names[1]}[{path_names[2]}]"
            group[bench] = (times[0], times[1], times[2])
    return groups


def median_of(runs, group, bench):
    """The median of the runs' medians of `bench` in `group`, or None."""
    medians = [run[group][bench][2] for run in runs if bench in run.get(group, {})]
    return statistics.median(medians) if medians else None


def ratio_table(runs, group, title, arguments, per_call):
    """Rows of `group`'s benches run with `arguments`: each one's cost per run (the median
    divided by `per_call(argument)`) and the ratio of the last to the first."""
    benches = sorted({bench.split("[")[0] for run in runs for bench in run.get(group, {}) if "[" in bench})
    if not benches:
        return
    print()
    print(f"| {title} | " + " | ".join(arguments) + f" | {arguments[-1]} / {arguments[0]} |")
    print("|---|" + "---:|" * (len(arguments) + 1))
    for bench in benches:
        costs = [median_of(runs, group, f"{bench}[{argument}]") for argument in arguments]
        if None in costs:
            continue
        costs = [cost / per_call(argument) for cost, argument in zip(costs, arguments)]
        print(f"| {bench} | " + " | ".join(fmt(cost) for cost in costs) + f" | {costs[-1] / costs[0]:.3f} |")


def stream_table(runs):
    plain = median_of(runs, "stream_100", "plain")
    if plain is None:
        return
    print()
    print("| stream of 100 items | median | per item over plain |")
    print("|---|---:|---:|")
    for bench in runs[0]["stream_100"]:
        median = median_of(runs, "stream_100", bench)
        over = "–" if bench == "plain" else f"+{fmt((median - plain) / 100)}"
        print(f"| {bench} | {fmt(median)} | {over} |")


def fmt(ns):
    if ns >= 1000:
        return f"{ns / 1000:.2f} µs"
    return f"{ns:.1f} ns" if ns >= 10 else f"{ns:.2f} ns"


def main(paths):
    runs = [parse(path) for path in paths]
    groups = [name for name in runs[0] if name in GROUPS and runs[0][name]]
    header = "| configuration |"
    rule = "|---|"
    for group in groups:
        header += f" {GROUPS.get(group, group)}: median | range | × plain | per run |"
        rule += "---:|---:|---:|---:|"
    print(header)
    print(rule)
    for bench, label in CONFIGURATIONS:
        if not any(bench in run.get(group, {}) for run in runs for group in groups):
            continue  # a row of the other benchmark
        row = f"| {label} |"
        for group in groups:
            samples = [run.get(group, {}).get(bench) for run in runs]
            samples = [s for s in samples if s]
            baselines = [run[group]["plain"][2] for run in runs if "plain" in run.get(group, {})]
            if not samples or not baselines:
                row += " – | – | – | – |"
                continue
            medians = [s[2] for s in samples]
            median = statistics.median(medians)
            low, high = (samples[0][0], samples[0][1]) if len(samples) == 1 else (min(medians), max(medians))
            plain = statistics.median(baselines)
            per_run = (median - plain) / RUNS_PER_CALL
            overhead = "–" if bench == "plain" else f"+{fmt(per_run)}" if per_run >= 0 else f"−{fmt(-per_run)}"
            row += f" {fmt(median)} | {fmt(low)} – {fmt(high)} | {median / plain:.1f} | {overhead} |"
        print(row)
    ratio_table(runs, "depth", "per run, chain depth", ["3", "30"], int)
    ratio_table(runs, "threads", "per call, threads sharing a manager", ["t=1", "t=2"], lambda _: 1)
    stream_table(runs)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
