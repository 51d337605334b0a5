"""deconstruct.py and reconstruct.py: a lossless-in-count round trip, and bad videos named and skipped."""
import json

from conftest import run, write_video
from maskdet.video import probe


def test_round_trip_keeps_count_fps_size_and_is_h264(tmp_path):
    videos = tmp_path / "raw"
    write_video(videos / "clip.avi", n=12, size=(96, 64), fps=10.0)
    frames, out = tmp_path / "frames", tmp_path / "videos"
    assert run("deconstruct.py", "--data_dir", videos, "--output_dir", frames) == 0
    meta = json.loads((frames / "clip" / "meta.json").read_text())
    assert meta["frames"] == 12 and meta["fps"] == 10.0 and meta["size"] == [96, 64]
    assert sorted(p.name for p in (frames / "clip").glob("*.jpg"))[0] == "frame_000001.jpg"
    assert run("reconstruct.py", "--data_dir", frames, "--output_dir", out) == 0
    info = probe(out / "clip.mp4")
    assert info["codec"] == "h264" and info["frames"] == 12 and info["fps"] == 10.0
    assert (info["width"], info["height"]) == (96, 64)


def test_every_n_and_resume(tmp_path, capsys):
    write_video(tmp_path / "raw" / "clip.avi", n=12, fps=10.0)
    args = ["--data_dir", tmp_path / "raw", "--output_dir", tmp_path / "frames", "--every", "3"]
    assert run("deconstruct.py", *args) == 0
    meta = json.loads((tmp_path / "frames" / "clip" / "meta.json").read_text())
    assert meta["frames"] == 4 and abs(meta["fps"] - 10 / 3) < 1e-6
    assert run("deconstruct.py", *args) == 0
    assert "already done" in capsys.readouterr().out


def test_bad_videos_are_named_and_others_still_processed(tmp_path, capsys):
    raw = tmp_path / "raw"
    good = write_video(raw / "good.avi", n=10)
    (raw / "zero.mp4").write_bytes(b"")
    (raw / "text.mp4").write_text("this is not a video\n" * 20)
    (raw / "truncated.mp4").write_bytes(good.read_bytes()[:2000])
    assert run("deconstruct.py", "--data_dir", raw, "--output_dir", tmp_path / "frames") == 0
    out = capsys.readouterr().out
    for name in ("zero.mp4", "text.mp4", "truncated.mp4"):
        line = next(line for line in out.splitlines() if name in line)
        assert line.startswith("skipped:")
    assert "Traceback" not in out
    assert len(list((tmp_path / "frames" / "good").glob("*.jpg"))) == 10
    assert not (tmp_path / "frames" / "zero").exists() or not list((tmp_path / "frames" / "zero").iterdir())


def test_empty_folder_is_one_line(tmp_path, capsys):
    (tmp_path / "raw").mkdir()
    assert run("deconstruct.py", "--data_dir", tmp_path / "raw", "--output_dir", tmp_path / "f") == 2
    out = capsys.readouterr().out
    assert "no videos found" in out and "Traceback" not in out
    assert run("reconstruct.py", "--data_dir", tmp_path / "raw", "--output_dir", tmp_path / "v") == 2


def test_videos_sharing_a_name_each_get_their_own_folder(tmp_path, capsys):
    """cam.mp4 and cam.avi: neither is taken for the other's "already done" (both processed, in
    folders named after the file, as fleet.py names them)."""
    raw = tmp_path / "raw"
    write_video(raw / "cam.avi", n=6, fps=10.0)
    write_video(raw / "cam.mp4", n=9, fps=10.0)
    write_video(raw / "solo.avi", n=4, fps=10.0)
    assert run("deconstruct.py", "--data_dir", raw, "--output_dir", tmp_path / "frames") == 0
    frames = {d.name: json.loads((d / "meta.json").read_text())["frames"] for d in (tmp_path / "frames").iterdir()}
    assert frames == {"cam_avi": 6, "cam_mp4": 9, "solo": 4}
    assert "already done" not in capsys.readouterr().out


def test_a_killed_runs_hidden_temporary_video_is_not_a_video(tmp_path):
    raw = tmp_path / "raw"
    write_video(raw / "clip.avi", n=5, fps=10.0)
    write_video(raw / ".clip.k3j2.part.mp4", n=3, fps=10.0)  # what an interrupted H.264 writer leaves
    assert run("deconstruct.py", "--data_dir", raw, "--output_dir", tmp_path / "frames") == 0
    assert [d.name for d in (tmp_path / "frames").iterdir()] == ["clip"]


def test_names_differing_only_in_case_or_colliding_after_renaming(tmp_path, capsys):
    from maskdet.layout import video_names

    assert video_names(["a/cam.mp4", "a/cam.MP4", "a/x.avi"]) == {"a/cam.mp4": "cam_mp4", "a/cam.MP4": "cam_MP4", "a/x.avi": "x"}
    raw = tmp_path / "raw"
    for name in ("x.mp4", "x.avi", "x_mp4.avi"):  # x.mp4 -> x_mp4, which x_mp4.avi is already called
        write_video(raw / name, n=3, fps=10.0)
    assert run("deconstruct.py", "--data_dir", raw, "--output_dir", tmp_path / "frames") == 2
    out = capsys.readouterr().out
    assert "would share the name x_mp4" in out and "Traceback" not in out and not (tmp_path / "frames").exists()
