"""Tables of bench/run: the console table and the Markdown results section."""

import statistics

LETTERS = ("A", "B", "E", "C", "D")

# the setups that send every request's check to Redis
REDIS_SETUPS = ("B", "C", "E")

ENFORCES = {
    "A": "nothing: proxy_pass alone",
    "B": "key format and checksum, timestamp, HMAC signature; in one Redis script the "
         "key's digest, user status, nonce and GCRA rate limit",
    "C": "the same checks as B in bench/authsvc.py (aiohttp) behind auth_request, "
         "the same redis/check.lua",
    "D": "the key is one of the issued keys (string match in a map), limit_req per user",
    "E": "the same as B, and counts every request in the counters of ubt_metrics, "
         "scraped once a second",
}

# what counting may cost: E's worker CPU per request at most this much
# above B's, and E's throughput at most this much below
METRICS_MARGIN = 0.02

# a tolerance for the round-trip count: wrk does not count the requests in
# flight when it stops, but Redis has run their scripts
ROUND_TRIP_TOLERANCE = 0.01


def runs_of(bench, letter):
    return [run for run in bench.runs if run["setup"] == letter]


def run_of(bench, letter, round_number):
    for run in bench.runs:
        if run["setup"] == letter and run["round"] == round_number:
            return run
    return None


def ratio(run, base, field):
    if run is None or base is None or not base[field]:
        return None
    return run[field] / base[field]


def median_of(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def per_round_ratios(bench, letter, base_letter, field):
    ratios = []
    for run in runs_of(bench, letter):
        ratios.append(ratio(run, run_of(bench, base_letter, run["round"]), field))
    return ratios


def fmt(value, digits=1):
    if value is None:
        return "–"
    return "%.*f" % (digits, value)


def gateway_us(run):
    return run["worker_us"] + run.get("authsvc_us", 0.0)


def round_rows(bench):
    rows = []
    for run in bench.runs:
        base = run_of(bench, "A", run["round"])
        uses_redis = run["setup"] in REDIS_SETUPS
        rows.append([
            str(run["round"]), run["setup"], fmt(run["rps"], 0), fmt(ratio(run, base, "rps"), 2),
            fmt(run["p50_ms"], 2), fmt(run["p99_ms"], 2), fmt(run["worker_us"]),
            fmt(ratio(run, base, "worker_us"), 2), fmt(run.get("authsvc_us")),
            fmt(run["redis_us"]) if uses_redis else "–",
            fmt(run["commands_per_request"], 2) if uses_redis else "–",
            fmt(run["round_trips"], 3) if uses_redis else "–",
            str(run["non_2xx"]), fmt(run["worker_busy_pct"], 0),
            fmt(run["gateway_cpu_busy_pct"], 0), fmt(run["gateway_cpu_other_pct"], 0),
            fmt(run["load_cpu_busy_pct"], 0),
        ])
    return rows


ROUND_HEADER = ["round", "setup", "req/s", "× A", "p50 ms", "p99 ms", "worker µs/req", "× A",
                "authsvc µs/req", "Redis µs/accepted", "Redis cmds/req", "round trips/req",
                "non-2xx", "worker busy %", "gateway CPU busy %", "of it others %",
                "load CPU busy %"]


def summary_rows(bench):
    rows = []
    for letter in LETTERS:
        runs = runs_of(bench, letter)
        if not runs:
            continue
        uses_redis = letter in REDIS_SETUPS
        rows.append([
            letter, ENFORCES[letter],
            fmt(median_of(r["rps"] for r in runs), 0),
            fmt(median_of(per_round_ratios(bench, letter, "A", "rps")), 2),
            fmt(median_of(r["p50_ms"] for r in runs), 2),
            fmt(median_of(r["p99_ms"] for r in runs), 2),
            fmt(median_of(gateway_us(r) for r in runs)),
            fmt(median_of([gateway_us(r) / gateway_us(run_of(bench, "A", r["round"]))
                           for r in runs]), 2),
            fmt(median_of(r["redis_us"] for r in runs)) if uses_redis else "–",
            str(sum(r["non_2xx"] for r in runs)),
        ])
    return rows


SUMMARY_HEADER = ["setup", "enforces", "req/s", "× A", "p50 ms", "p99 ms",
                  "gateway CPU µs/req", "× A", "Redis µs/accepted", "non-2xx"]


def command_rows(bench):
    totals = {}
    accepted = {}
    for letter in REDIS_SETUPS:
        totals[letter] = {}
        accepted[letter] = 0
        for run in runs_of(bench, letter):
            accepted[letter] += run["accepted"]
            for name, calls in run["commands"].items():
                totals[letter][name] = totals[letter].get(name, 0) + calls
    names = sorted(set().union(*totals.values()))
    rows = []
    for name in names:
        row = [name]
        for letter in REDIS_SETUPS:
            calls = totals[letter].get(name, 0)
            row.append(fmt(calls / accepted[letter], 3) if accepted[letter] else "–")
        rows.append(row)
    return rows


def targets(bench):
    """Return [(target, measured text, verdict)] for the project's targets."""
    b_runs = runs_of(bench, "B")
    cpu_ratio = median_of(per_round_ratios(bench, "B", "A", "worker_us"))
    rps_ratio = median_of(per_round_ratios(bench, "B", "A", "rps"))
    b_over_c = median_of(per_round_ratios(bench, "B", "C", "rps"))
    accepted = sum(r["accepted"] for r in b_runs)
    client_calls = {}
    for run in b_runs:
        for name, calls in run["commands"].items():
            if name not in SCRIPT_COMMANDS:
                client_calls[name] = client_calls.get(name, 0) + calls
    round_trips = sum(client_calls.values()) / max(accepted, 1)
    evalsha = client_calls.get("evalsha", 0) / max(accepted, 1)
    redis_us = median_of(r["redis_us"] for r in b_runs)

    def verdict(ok):
        if ok is None:
            return "not measured"
        return "met" if ok else "**not met**"

    result = [
        ("B's worker CPU per request ≤ 1.5 × A's", "%s × A" % fmt(cpu_ratio, 2),
         verdict(None if cpu_ratio is None else cpu_ratio <= 1.5)),
        ("B's throughput ≥ 0.6 × A's", "%s × A" % fmt(rps_ratio, 2),
         verdict(None if rps_ratio is None else rps_ratio >= 0.6)),
        ("B's throughput ≥ 3 × C's", "%s × C" % fmt(b_over_c, 2),
         verdict(None if b_over_c is None else b_over_c >= 3)),
        ("one Redis round trip per accepted request, one EVALSHA",
         "%s client commands per accepted request (EVALSHA %s; %s)"
         % (fmt(round_trips, 3), fmt(evalsha, 3),
            ", ".join("%s %d" % item for item in sorted(client_calls.items())) or "none"),
         verdict(None if not b_runs else
                 abs(round_trips - 1) <= ROUND_TRIP_TOLERANCE
                 and abs(evalsha - 1) <= ROUND_TRIP_TOLERANCE)),
        ("redis-server CPU per accepted request ≤ 20 µs", "%s µs" % fmt(redis_us),
         verdict(None if redis_us is None else redis_us <= 20)),
        metrics_target(bench, verdict),
    ]
    rss = bench.rss
    if rss:
        growth_kib = rss["points"][-1][1] - rss["points"][0][1]
        measured = "%+d KiB over %d requests" % (growth_kib, rss["requests"])
        if rss["requests"] >= 1000000:
            result.append(("worker RSS growth < 1 MB over 1M requests", measured,
                           verdict(growth_kib * 1024 < 1000000)))
        else:
            result.append(("worker RSS growth < 1 MB over 1M requests", measured,
                           "not judged: fewer than 1M requests (BENCH_RSS_REQUESTS)"))
    return result


def metrics_ratios(bench):
    """Return E's per-round ratios to B: (worker CPU per request, throughput)."""
    return (per_round_ratios(bench, "E", "B", "worker_us"),
            per_round_ratios(bench, "E", "B", "rps"))


def fmt_ratios(ratios):
    return "rounds " + ", ".join(fmt(r, 3) for r in ratios) if ratios else "no rounds"


def metrics_target(bench, verdict):
    cpu, rps = metrics_ratios(bench)
    cpu_median = median_of(cpu)
    rps_median = median_of(rps)
    measured = ("worker CPU per request %s × B (%s); throughput %s × B (%s), not judged"
                % (fmt(cpu_median, 3), fmt_ratios(cpu), fmt(rps_median, 3), fmt_ratios(rps)))
    return ("metrics cost under 2 %%: E's worker CPU per request < %.2f × B's"
            % (1 + METRICS_MARGIN), measured,
            verdict(None if cpu_median is None else cpu_median < 1 + METRICS_MARGIN))


def metrics_note(bench):
    """Build the paragraph that explains how the metrics target is judged in this run."""
    cpu, rps = metrics_ratios(bench)
    cpu = [r for r in cpu if r is not None]
    rps = [r for r in rps if r is not None]
    if not cpu or not rps:
        return None
    text = ("The metrics target compares E with B of the same round and is judged on the "
            "worker's CPU time per request. That time is the worker's own, so other processes "
            "change it less than they change the rates. Throughput depends also on CPU 0, "
            "which wrk, the upstream and Redis share, and it moves by several percent between "
            "rounds, as much as the 2 % at stake. One clock tick is about 0.4 % of the CPU "
            "time of a run of B or E.")
    spread = max(rps) - min(rps)
    if spread > METRICS_MARGIN or (min(rps) < 1 - METRICS_MARGIN < max(rps)):
        text += (" In this run E's throughput ratios range from %.3f to %.3f, so they neither "
                 "confirm nor refute the target." % (min(rps), max(rps)))
    else:
        text += (" In this run E's throughput ratios range from %.3f to %.3f."
                 % (min(rps), max(rps)))
    if min(cpu) < 1 + METRICS_MARGIN <= max(cpu):
        text += (" The rounds' CPU ratios, %.3f to %.3f, fall on both sides of %.2f: the median "
                 "decides, and more rounds (BENCH_ROUNDS) would narrow it."
                 % (min(cpu), max(cpu), 1 + METRICS_MARGIN))
    return text


# commands that redis/check.lua sends itself; INFO commandstats counts them
# beside the EVALSHA that ran them
SCRIPT_COMMANDS = {"hmget", "time", "zscore", "set", "get", "hset"}


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def console_table(bench):
    header = ["round", "setup", "req/s", "×A", "p50ms", "p99ms", "wrk-us", "×A", "auth-us",
              "redis-us", "cmds", "trips", "non2xx", "busy%", "gw%", "other%", "load%"]
    rows = [header] + round_rows(bench)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in rows]
    lines.append("wrk-us: gateway worker CPU µs per request; auth-us: bench/authsvc.py's; "
                 "redis-us: redis-server CPU µs per accepted request")
    for target, measured, result in targets(bench):
        lines.append("target: %s: %s: %s" % (target, measured, result.replace("*", "")))
    if bench.counting:
        c = bench.counting
        lines.append("E counted %d accepted requests; it sent %d replies 2xx, so from %d to %d: %s"
                     % (c["counted"], c["seen_2xx"], c["seen_2xx"], c["upper_bound"],
                        "correct" if c["ok"] else "WRONG"))
    return "\n".join(lines)


def markdown(bench, settings, machine, started):
    s = settings
    out = []
    out.append("## Results of %s" % started.strftime("%Y-%m-%d %H:%M UTC"))
    out.append("")
    out.append("Generated by `bench/run`%s: %d round(s) of %d s per setup, %d wrk connections, "
               "%d users, RSS phase of %d requests; gateways and bench/authsvc.py on CPU %d, "
               "Redis on CPU %d, wrk and the upstream on CPU %d."
               % (" in smoke mode" if s["smoke"] else "", s["rounds"], s["seconds"],
                  s["connections"], s["users"], s["rss_requests"], s["gateway_cpu"],
                  s["redis_cpu"], s["load_cpu"]))
    out.append("")

    out.append("### Targets")
    out.append("")
    out.append(table(["target", "measured (median over rounds)", "verdict"],
                     [list(row) for row in targets(bench)]))
    out.append("")
    note = metrics_note(bench)
    if note:
        out.append(note)
        out.append("")

    out.append("### Summary, medians over rounds")
    out.append("")
    out.append("Gateway CPU is the nginx worker's, plus bench/authsvc.py's for C.")
    out.append("")
    out.append(table(SUMMARY_HEADER, summary_rows(bench)))
    out.append("")

    out.append("### Every run")
    out.append("")
    out.append("× A compares with A of the same round. Busy % is CPU time over wall time. The "
               "columns give the worker's own, then that of the whole gateway CPU from "
               "/proc/stat, the part of it that no process of the benchmark used (other "
               "processes and interrupts), and that of the whole load CPU.")
    out.append("")
    out.append(table(ROUND_HEADER, round_rows(bench)))
    out.append("")

    out.append("### Redis commands per accepted request, all rounds")
    out.append("")
    out.append("INFO commandstats counts the commands that redis/check.lua runs as well as "
               "the EVALSHA that runs it; only EVALSHA (or EVAL) is a round trip.")
    out.append("")
    out.append(table(["command"] + list(REDIS_SETUPS), command_rows(bench)))
    out.append("")

    out.append("### What each setup rejects")
    out.append("")
    out.append("One request of each kind, sent before the load; the HTTP status per setup.")
    out.append("")
    cases = list(bench.checks.get("A", {}))
    out.append(table(["request"] + list(LETTERS),
                     [[case] + [str(bench.checks[letter][case]) for letter in LETTERS]
                      for case in cases]))
    out.append("")

    if bench.counting:
        c = bench.counting
        out.append("### Counting check of E")
        out.append("")
        out.append("After the rounds, E's `%s` was %d. The benchmark saw %d replies 2xx from E. "
                   "wrk does not count the replies in flight when its time is up, at most "
                   "one per connection in each of E's %d wrk runs, so the counter had to be "
                   "from %d to %d: %s. bench/run scraped E's %s %d times, once a second during "
                   "E's runs and once at the end."
                   % (c["series"], c["counted"], c["seen_2xx"], c["wrk_runs"],
                      c["seen_2xx"], c["upper_bound"], "it was" if c["ok"] else "**it was not**",
                      c["path"], c["scrapes"]))
        out.append("")

    if bench.rss:
        out.append("### Worker RSS of B")
        out.append("")
        out.append("%d requests checked (Redis scripts run), %d of them answered other than 2xx, "
                   "in %.0f s after the rounds, in four parts."
                   % (bench.rss["requests"], bench.rss["non_2xx"], bench.rss["seconds"]))
        out.append("")
        out.append(table(["requests checked", "VmRSS KiB"],
                         [[str(n), str(kib)] for n, kib in bench.rss["points"]]))
        out.append("")

    out.append("### Machine")
    out.append("")
    m = machine
    out.append("- CPU: %s, %d CPUs, %s GiB memory" % (m["cpu"], m["cpus"], m["memory_gib"]))
    out.append("- Linux %s, Debian %s" % (m["kernel"], m["debian"]))
    out.append("- %s; %s; %s; %s with %s"
               % (m["nginx"], m["redis"], m["wrk"], m["python"], m["aiohttp"]))
    out.append("- module at commit %s" % m["commit"])
    out.append("- before the run: `%s`" % m["uptime"])
    out.append("")
    out.append("<details><summary>top before the run</summary>")
    out.append("")
    out.append("```")
    out.append(m["top"])
    out.append("```")
    out.append("")
    out.append("</details>")
    out.append("")

    out.append("### Commands")
    out.append("")
    out.append("Invoked as `%s`. One wrk command per setup, from round 1 (ports and the temporary "
               "directory vary):" % settings["invocation"])
    out.append("")
    out.append("```")
    for letter in LETTERS:
        run = run_of(bench, letter, 1)
        if run:
            out.append(run["command"])
    out.append("```")
    out.append("")

    if bench.failures:
        out.append("### Failed runs")
        out.append("")
        for failure in bench.failures:
            out.append("- " + failure)
        out.append("")
    return "\n".join(out)
