"""The benchmarks once on a small clip (throughput.py on 6 frames, search.py, live.py over a local
stream): each JSON has every figure, each sane and consistent with the others (smoke tests, not timed
tests: no speed is asserted)."""
import json
import os
import resource
import time

import cv2
import numpy as np
import pytest

from conftest import ROOT, load_script
from maskdet.video import probe


@pytest.fixture(scope="module")
def clip(tmp_path_factory, portraits):
    """16 frames of 480x360 grey with one face (the Hopper portrait) sliding right: one face a frame."""
    path = tmp_path_factory.mktemp("bench") / "clip.avi"
    face = cv2.cvtColor(cv2.resize(portraits["hopper"], (150, 180), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2BGR)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (480, 360))
    for i in range(16):
        f = np.full((360, 480, 3), 90, np.uint8)
        f[90:270, 60 + 8 * i:210 + 8 * i] = face
        w.write(f)
    w.release()
    return path


def test_throughput_smoke(clip, tmp_path, capsys):
    out = tmp_path / "reports" / "bench.json"
    t0 = time.perf_counter()
    assert load_script("benchmarks/throughput.py").main(
        [str(clip), "--resize", "240x180", "--max_frames", "6", "--json", str(out)]) == 0
    wall = time.perf_counter() - t0
    r = json.loads(out.read_text())
    assert set(r) == {"clip", "resize", "detector", "detect_every", "decode_fps", "pipeline_fps", "peak_rss_mb",
                      "end_rss_mb", "frames", "pipeline_faces", "naive_fps", "speedup", "recall_vs_naive", "naive_faces",
                      "fraction_of_decode"}
    from maskdet.classifier import load_classifier
    model = load_classifier(ROOT / "models" / "mask_classifier.pt")
    assert r["clip"] == str(clip) and r["resize"] == "240x180"
    assert r["detector"] == model.detector.to_dict() and r["detect_every"] == model.ckpt["detect_every"] == 8

    assert probe(clip)["frames"] == 16                                 # read by ffmpeg, not by the benchmark
    assert r["frames"] == 6                                            # --max_frames stops the pipeline
    assert r["naive_faces"] == 6                                       # one face in each of the 6 frames
    assert r["pipeline_faces"] == 6
    assert 0.9 <= r["recall_vs_naive"] <= 1.0                          # a clear face: the pipeline keeps it
    for k in ("decode_fps", "pipeline_fps", "naive_fps"):
        assert r[k] > 0, k
    # each figure is frames / seconds of its own pass: the passes together took less than the whole run
    assert 6 / r["decode_fps"] + 6 / r["pipeline_fps"] + 6 / r["naive_fps"] < wall
    assert r["speedup"] == pytest.approx(r["pipeline_fps"] / r["naive_fps"], rel=1e-9)
    assert r["fraction_of_decode"] == pytest.approx(r["pipeline_fps"] / r["decode_fps"], rel=1e-9)
    assert r["fraction_of_decode"] < 1 and r["naive_fps"] < r["decode_fps"]  # both decode the frames, and more
    own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the benchmark ran in this process
    # the kernel's peak and current counts are each read approximately (per-CPU counters): a page batch apart
    assert 50 < r["end_rss_mb"] <= r["peak_rss_mb"] + 1 and r["peak_rss_mb"] <= own_peak + 1
    printed = capsys.readouterr().out
    assert f"frames: {r['frames']}" in printed and "recall_vs_naive" in printed


def test_throughput_with_another_detector(clip, tmp_path):
    """--detector overrides the model's settings: the MTCNN backend follows the face too."""
    out = tmp_path / "bench.json"
    assert load_script("benchmarks/throughput.py").main(
        [str(clip), "--max_frames", "6", "--skip_naive", "--json", str(out),
         "--detector", '{"backend": "mtcnn", "thresholds": [0.6, 0.7, 0.7], "verify": false, "min_score": 0.6}']) == 0
    r = json.loads(out.read_text())
    assert r["detector"]["backend"] == "mtcnn" and r["detector"]["thresholds"] == [0.6, 0.7, 0.7]
    assert r["frames"] == 6 and r["pipeline_faces"] == 6


def test_search_benchmark_times_each_detector_on_the_same_frames(clip, capsys):
    """benchmarks/search.py: the model's detector and MTCNN each find the one face in the 4 searched frames."""
    assert load_script("benchmarks/search.py").main([str(clip), "--every", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(" 4 faces " in line and "(4 frames, 1 thread(s))" in line for line in lines)
    assert lines[0].endswith("model  (4 frames, 1 thread(s))") and '"mtcnn"' in lines[1]


def test_live_benchmark_counts_what_was_sent(clip, tmp_path, capsys):
    """benchmarks/live.py on the clip, re-encoded to H.264 at 240x180 and served twice at 25 frames/s:
    every frame sent is processed or counted as dropped, the video has the log's frames, and the
    figures are those of test.py's own run (its closing line, its log)."""
    out = tmp_path / "live.json"
    assert load_script("benchmarks/live.py").main([str(clip), "--resize", "240x180", "--plays", "2", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["frames_sent"] == 32 == probe(clip)["frames"] * 2
    assert r["frames_processed"] + r["dropped"] == r["frames_sent"]
    assert r["share_processed"] == pytest.approx(r["frames_processed"] / 32, abs=1e-4)
    assert r["video_equals_log"] and r["video_frames"] == r["frames_processed"]
    assert sum(r["gaps"].values()) == r["frames_processed"] - 1
    assert 0 <= r["latency_median_s"] <= r["latency_p95_s"] < r["seconds"]
    assert 50 < r["rss_early_mb"] <= r["peak_rss_mb"] + 1 and 0 < r["cpu_cores"] <= 2 * (os.cpu_count() or 1)
    quarters = r["rss_quarters_mb"]
    assert quarters[0] == round(r["rss_early_mb"], 1) and quarters[-1] == round(r["rss_late_mb"], 1)
    assert max(quarters) <= r["peak_rss_mb"] + 1
    assert f"{r['dropped']:,} frames dropped" in r["closing_line"] and "latency" in r["closing_line"]


def test_stages_benchmark_times_each_stage_of_the_loop(clip, tmp_path):
    """benchmarks/stages.py on the 16 frames: one search per 8 frames, each frame drawn, logged and
    handed to the encoder once (on the outlet thread), the stages within their thread's time."""
    out = tmp_path / "stages.json"
    assert load_script("benchmarks/stages.py").main([str(clip), "--max_frames", "16", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    loop = r["loop_ms_per_frame"]
    assert set(loop) == {"wait for decode", "search", "follow (O-Net)", "classify", "frame loop",
                         "draw", "hand to encoder", "log", "outlet thread"}
    parts = loop["wait for decode"] + loop["search"]  # the search includes neither following nor classifying
    assert 0 < parts <= loop["frame loop"] + 0.5 and all(v >= 0 for v in loop.values())
    assert 0 < loop["draw"] + loop["hand to encoder"] + loop["log"] <= loop["outlet thread"] + 0.5
    calls = r["loop_calls"]
    assert (calls["search"], calls["draw"], calls["log"], calls["hand to encoder"], calls["wait for decode"]) == (2, 16, 16, 16, 16)
    assert set(r["alone_ms_per_frame"]) == {"decode (grab + convert)", "decode (grab only)", "encode"}
    assert all(v > 0 for v in r["alone_ms_per_frame"].values())
