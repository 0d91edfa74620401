#!/usr/bin/env bash
# The nightly loop of dumgum-loadtest: run a scenario (calibrated, recorded in the history,
# SLO verdicts as JUnit), compare it with the last passing night, redraw the trends page.
#
# Scheduled, from the checkout (cron, systemd, CI and Kubernetes recipes in deploy/) as:
#
#   deploy/nightly.sh scenarios/nightly.yaml
#
# Usage: deploy/nightly.sh [SCENARIO [RUN_OPTION...]]
#   SCENARIO      the scenario file [default: $DUMGUM_NIGHTLY_SCENARIO, else
#                 scenarios/nightly.yaml]
#   RUN_OPTION    passed on to `dumgum-loadtest run` (e.g. --duration 60 --workers 2)
#
# Environment:
#   DUMGUM_LOADTEST_HISTORY  the history database (a SQLite path, sqlite:///PATH or
#                            postgresql://...) [default: $DUMGUM_NIGHTLY_REPORTS/history.sqlite]
#   DUMGUM_NIGHTLY_REPORTS   where the nights and the trends page go [default: reports]
#   DUMGUM_LOADTEST_BIN      the dumgum-loadtest command [default: the one on PATH, else
#                            .venv/bin/dumgum-loadtest of this checkout]
#   DUMGUM_API_TOKEN         only for a scenario against the real API (see the README)
#
# Writes, per night (STAMP = UTC start time, YYYYmmdd-HHMMSS):
#   $REPORTS/nights/STAMP/run/               the run directory (calibration/ inside)
#   $REPORTS/nights/STAMP/junit/run.xml      SLO, "run completed" and calibration verdicts
#   $REPORTS/nights/STAMP/junit/compare.xml  one case per compared metric and SLO
#   $REPORTS/nights/STAMP/compare.md         the comparison as Markdown (a CI comment)
#   $REPORTS/nights/STAMP/{run,compare,trends}.log   each step's output
#   $REPORTS/nights/STAMP/status.txt         each step's exit code and the night's
#   $REPORTS/nights/latest                   a link to the newest night
#   $REPORTS/trends/                         trends.html and trends.json of the whole history
#
# Exit code: the highest of the steps' meaningful codes, so 3 > 2 > 1 > 0:
#   0  the run's SLOs hold, calibration passed, nothing regressed against the last passing night
#   1  an SLO failed, calibration failed (the night is recorded invalid), or compare found a
#      regression
#   2  a step could not do its job: a usage or setup error (nothing measured, an unreachable
#      history database, a comparison refused for a valid run, no trends page)
#   3  the run was interrupted (a signal, the spend cap, a dead receiver or mock): its figures
#      are incomplete and the night is recorded invalid
# Compare is skipped after a run that measured nothing (2) or was cut short (3). Its own 2 does
# not count when there is no passing night to compare with yet (the first night), nor after a
# run that failed (1): compare refuses an invalid night, and the run's 1 already says why.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
checkout="$(dirname "$here")"

scenario="${1:-${DUMGUM_NIGHTLY_SCENARIO:-scenarios/nightly.yaml}}"
[ "$#" -gt 0 ] && shift
reports="${DUMGUM_NIGHTLY_REPORTS:-reports}"
db="${DUMGUM_LOADTEST_HISTORY:-$reports/history.sqlite}"

if [ -n "${DUMGUM_LOADTEST_BIN:-}" ]; then
  cli="$DUMGUM_LOADTEST_BIN"
elif command -v dumgum-loadtest >/dev/null 2>&1; then
  cli="$(command -v dumgum-loadtest)"
else
  cli="$checkout/.venv/bin/dumgum-loadtest"
fi
if [ ! -x "$cli" ] && ! command -v "$cli" >/dev/null 2>&1; then
  echo "nightly: $cli: no dumgum-loadtest command; run 'make .venv/.installed' in $checkout" \
    "or set DUMGUM_LOADTEST_BIN" >&2
  exit 2
fi
if [ ! -f "$scenario" ]; then
  echo "nightly: $scenario: no such scenario file (give SCENARIO or DUMGUM_NIGHTLY_SCENARIO)" >&2
  exit 2
fi

stamp="$(date -u +%Y%m%d-%H%M%S)"
night="$reports/nights/$stamp"
run_dir="$night/run"
if ! mkdir -p "$night/junit" "$reports/trends"; then
  echo "nightly: cannot create $night or $reports/trends: give a writable DUMGUM_NIGHTLY_REPORTS" >&2
  exit 2
fi
ln -sfn "$stamp" "$reports/nights/latest"

worst=0
raise() { # raise CODE: the night's code becomes CODE when that is higher
  if [ "$1" -gt "$worst" ]; then worst="$1"; fi
}
status() { # status LINE: said, and kept in status.txt
  echo "nightly: $1"
  echo "$1" >>"$night/status.txt"
}

case "$db" in # a database URL's password is never printed
  *://*@*) shown_db="${db%%://*}://***@${db#*@}" ;;
  *) shown_db="$db" ;;
esac
echo "nightly $stamp: $scenario -> $night (history: $shown_db)"

# 1. The run: calibrated first, recorded in the history, its verdicts as JUnit.
"$cli" run "$scenario" --out "$run_dir" --history "$db" --junit "$night/junit/run.xml" \
  --calibrate "$@" 2>&1 | tee "$night/run.log"
run_rc=${PIPESTATUS[0]}
status "run exit $run_rc"
raise "$run_rc"

# 2. Compare with the last passing night of the same scenario and target.
if [ "$run_rc" -eq 0 ] || [ "$run_rc" -eq 1 ]; then
  "$cli" compare "$run_dir" --baseline last-passing --db "$db" \
    --junit "$night/junit/compare.xml" --markdown "$night/compare.md" 2>&1 \
    | tee "$night/compare.log"
  compare_rc=${PIPESTATUS[0]}
  if [ "$compare_rc" -eq 2 ] && grep -q "no valid run with SLOs passed" "$night/compare.log"; then
    status "compare exit 2 (no passing night to compare with yet: not counted)"
  elif [ "$compare_rc" -eq 2 ] && [ "$run_rc" -eq 1 ]; then
    status "compare exit 2 (after a failed run: not counted; the run's 1 says why)"
  else
    status "compare exit $compare_rc"
    raise "$compare_rc"
  fi
else
  status "compare skipped (the run exited $run_rc: nothing complete to compare)"
fi

# 3. The trends page of the whole history, this night included.
"$cli" trends --db "$db" --out "$reports/trends" 2>&1 | tee "$night/trends.log"
trends_rc=${PIPESTATUS[0]}
status "trends exit $trends_rc"
raise "$trends_rc"

status "night $stamp exit $worst"
exit "$worst"
