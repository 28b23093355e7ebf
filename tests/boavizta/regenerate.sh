#!/bin/sh
# Regenerates the bundled boaviztapi tables and the reference vectors from boaviztapi 2.5.0,
# installed from PyPI into a throw-away virtual environment. Run from anywhere; writes
# impact/data/boavizta-2.5.0/*.tsv and tests/boavizta/vectors.json in the repository.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
venv=${BZ_VENV:-/tmp/energy-assess-bzvenv}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet "boaviztapi==2.5.0"
cd "$repo"
"$venv/bin/python" tests/boavizta/extract_tables.py impact/data/boavizta-2.5.0
"$venv/bin/python" -W ignore tests/boavizta/generate_vectors.py tests/boavizta/vectors.json
echo "wrote impact/data/boavizta-2.5.0/ and tests/boavizta/vectors.json"
