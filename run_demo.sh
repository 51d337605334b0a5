#!/usr/bin/env bash
# The main job: videos -> frames -> detect, classify, draw -> videos -> announcements and summaries.
#   bash run_demo.sh                         # on a sample clip the project renders itself
#   bash run_demo.sh ../shared/data/footage  # on a folder of your own videos
# Outputs go to the README's layout under arlo_footage/; each stage resumes if re-run.
set -euo pipefail
case "${1:-}" in
  -h|--help) sed -n '2,5p' "$0" | cut -c3-; exit 0 ;;
esac
VIDEOS=arlo_footage/raw_videos
if [ $# -gt 0 ]; then
  case "$1" in /*) VIDEOS=$1 ;; *) VIDEOS=$PWD/$1 ;; esac  # a folder given relative to where you are
fi
cd "$(dirname "$0")"
PY=${PYTHON:-.venv/bin/python}
if [ $# -eq 0 ]; then
  $PY make_sample.py --output_dir "$VIDEOS"
fi
$PY deconstruct.py --data_dir "$VIDEOS"
$PY test.py --data_dir arlo_footage/deconstructed_frames --output_dir arlo_footage/output_frames
$PY reconstruct.py --data_dir arlo_footage/output_frames --output_dir arlo_footage/reconstructed_videos
$PY announce.py --data_dir arlo_footage/output_frames --output_dir arlo_footage/summaries
