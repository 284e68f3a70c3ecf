#!/usr/bin/env bash
# Runs INSIDE the cgroup-v2 VM (vm/run.sh vm/pytest-v2.sh [PYTEST ARG...]):
# every test marked v2, with the project's own venv, results on the share.
set -uo pipefail
: "${VM_RESULTS:?run me through vm/run.sh}"
echo "vm: kernel $(uname -r), /proc/self/cgroup: $(cat /proc/self/cgroup)," \
     "controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
# The root's cgroup.procs holds this shell: the no-internal-process rule
# (cgroup-v2.rst) concerns non-root cgroups only, so tests may enable
# controllers in /sys/fs/cgroup/cgroup.subtree_control from here.
# -rP: the output of passed tests too (the throttle tests print what they measured)
.venv/bin/python -m pytest -m v2 -p no:cacheprovider -v -rfEsP --durations=5 \
    --junitxml="$VM_RESULTS/junit.xml" "$@" 2>&1 | tee "$VM_RESULTS/pytest.log"
exit "${PIPESTATUS[0]}"
