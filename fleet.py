"""Many cameras and a backlog of footage on Ray (README "Many cameras and backlogs").

    python fleet.py --data_dir ../shared/data/footage --output_dir fleet_out       # a backlog of videos
    python fleet.py --cameras cameras.txt --output_dir fleet_out                    # live cameras: NAME SOURCE a line
    python fleet.py --data_dir /shared/videos --output_dir /shared/out --address HEAD_IP:6379   # a Ray cluster

Each video or camera is processed exactly as `test.py --source` processes it, into OUT/<name>/:
log.jsonl, annotated.mp4, summary.json (+ compliance.png, events.jsonl, snapshots/); OUT/events.jsonl
and OUT/index.html cover them all. Without --address a local Ray starts on this machine (ports on
127.0.0.1 only, no dashboard) and stops at the end. docs/scale_out.md: clusters, sizing, storage.
"""
import argparse
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from maskdet import InputError, cli, layout
from maskdet.alerts import add_arguments as add_alert_arguments
from maskdet.alerts import check_url, hide_credentials, redacted_options
from maskdet.announce import add_arguments as add_announce_arguments
from maskdet.announce import check_voice
from maskdet.live import add_arguments as add_stream_arguments

ROOT = Path(__file__).resolve().parent


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data_dir", default=None, help="backlog: a folder of videos (or one video)")
    p.add_argument("--cameras", default=None, help="live: a file, `NAME SOURCE` a line (camera index, URL, file)")
    p.add_argument("--output_dir", default=layout.FLEET_OUT, help="OUT/<name>/ per stream, OUT/events.jsonl, OUT/index.html")
    p.add_argument("--address", default=None, help="join this Ray cluster (HEAD_IP:6379) instead of starting one here")
    p.add_argument("--workers", type=cli.positive_int, default=None, help="local Ray: streams at once (default: one per CPU)")
    p.add_argument("--cpus_per_worker", type=cli.positive_int, default=None, help="CPUs (torch threads) a stream (default: local CPUs / workers; cluster: video 1, camera 2)")
    p.add_argument("--dashboard", action="store_true", help="local Ray: start Ray's dashboard on 127.0.0.1:8265")
    p.add_argument("--model", default=layout.DEFAULT_MODEL, help="model file (on every node)")
    p.add_argument("--overwrite", action="store_true", help="backlog: redo finished videos; cameras: start their folders afresh")
    add_stream_arguments(p)
    add_announce_arguments(p)
    add_alert_arguments(p)
    return p.parse_args(argv)


def main(argv=None):
    opt = parse_args(argv)
    print(f"fleet: {redacted_options(opt)}")
    try:
        check_inputs(opt)
        out = Path(opt.output_dir).resolve()
        return run_backlog(opt, out) if opt.data_dir else run_cameras(opt, out)
    except InputError as e:
        print(f"error: {e}")
        return 2


def check_inputs(opt):
    """One line for each mistake that would otherwise surface on a worker."""
    if bool(opt.data_dir) == bool(opt.cameras):
        raise InputError("give either --data_dir VIDEOS (a backlog) or --cameras FILE (live cameras)")
    if not Path(opt.model).is_file():
        raise InputError(f"{opt.model}: model file not found")
    opt.model = str(Path(opt.model).resolve())
    if opt.webhook:
        check_url(opt.webhook)
    if opt.workers is not None and opt.workers < 1:
        raise InputError(f"--workers {opt.workers}: must be at least 1")
    cpus = os.cpu_count() or 1
    opt.workers = opt.workers or cpus  # one single-threaded stream per core: measured fastest (docs/scale_out.md)
    opt.cpus_per_worker = opt.cpus_per_worker or (max(1, cpus // opt.workers) if not opt.address else 2 if opt.cameras else 1)


@contextmanager
def ray_session(opt):
    """Ray for this run: joined with --address, else started here on 127.0.0.1 with no dashboard and
    stopped at the end (address="local": a new instance even when another Ray runs on this machine).
    Yields the seconds it took to start."""
    if not opt.address:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray then binds its ports to 127.0.0.1 only
        os.environ.setdefault("RAY_worker_niceness", "0")  # Ray's default, 15, lets any other process starve a camera
    import ray

    t0 = time.time()
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    common = {"logging_level": "WARNING", "runtime_env": {"env_vars": {"PYTHONPATH": path}}}
    try:
        if opt.address:
            ray.init(address=opt.address, **common)
        else:
            ray.init(address="local", num_cpus=opt.workers * opt.cpus_per_worker, include_dashboard=opt.dashboard,
                     dashboard_host="127.0.0.1", _node_ip_address="127.0.0.1", object_store_memory=200 * 2**20, **common)
    except Exception as e:  # noqa: BLE001 - unreachable cluster, bad token: one line, not a traceback
        raise InputError(f"ray: cannot {'join ' + opt.address if opt.address else 'start'} "
                         f"({str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__})") from None
    started = time.time() - t0
    nodes = [n for n in ray.nodes() if n["Alive"]]
    biggest = max((n["Resources"].get("CPU", 0) for n in nodes), default=0)
    if biggest < opt.cpus_per_worker:
        ray.shutdown()
        raise InputError(f"ray: no node has {opt.cpus_per_worker} CPUs for a stream (largest: {biggest:.0f}); "
                         f"give --cpus_per_worker {max(1, int(biggest))}")
    print(f"ray: {'joined ' + opt.address if opt.address else 'local'} at {ray.get_runtime_context().gcs_address}, "
          f"{ray.cluster_resources().get('CPU', 0):.0f} CPUs on {len(nodes)} nodes, started in {started:.1f} s")
    try:
        yield started
    finally:
        ray.shutdown()


def list_backlog(opt, out):
    """([(name, video)] to process, number of videos, [skipped results]), after printing those already
    done and those that are not readable videos; InputError when the folder has no videos."""
    from maskdet.fleet import check_video, is_done

    data = Path(opt.data_dir)
    if data.is_file():
        videos = [data]
    elif data.is_dir():
        videos = layout.list_files(data, layout.VIDEO_EXTS)
    else:
        raise InputError(f"{data}: videos folder not found")
    if not videos:
        raise InputError(f"{data}: no videos found (supported: {' '.join(layout.VIDEO_EXTS)})")
    todo, bad = [], []
    for v, name in layout.video_names(videos).items():
        try:
            check_video(v)
        except InputError as e:
            bad.append({"name": name, "skipped": str(e)})
            print(f"skipped: {e}")
            continue
        if is_done(out / name) and not opt.overwrite:
            print(f"{name}: already done, skipped (--overwrite redoes it)")
        else:
            todo.append((name, v.resolve()))
    return todo, len(videos), bad


def run_backlog(opt, out):
    """Every video of --data_dir as a Ray task; exit 0 when every readable video is done."""
    todo, n_videos, results = list_backlog(opt, out)
    t0, ray_s = time.time(), 0.0
    if todo:
        with ray_session(opt) as ray_s:
            results += _run_tasks(opt, out, todo)
    return finish(opt, out, results, n_videos, ray_s, time.time() - t0)


def _run_tasks(opt, out, todo):
    """Submit a task per video (Ray retries one whose worker died) and collect results as they come."""
    import ray

    from maskdet.fleet import RETRIES, WORKER_MEMORY, process_video

    task = ray.remote(max_retries=RETRIES)(process_video).options(num_cpus=opt.cpus_per_worker, memory=WORKER_MEMORY)
    pending = {task.remote(str(video), str(out / name), opt): name for name, video in todo}
    results, webhook = [], _webhook(opt)
    try:
        while pending:
            for ref in ray.wait(list(pending), num_returns=1, timeout=1.0)[0]:  # a timeout: Ctrl-C is seen
                results.append(_result(ref, pending.pop(ref)))
                _report(results[-1], out, webhook)
    except KeyboardInterrupt:  # unfinished videos leave only temporary files: the next run redoes them
        print(f"interrupted: {len(pending)} videos unfinished, a re-run finishes them")
        results += [{"name": name, "failed": "interrupted"} for name in pending.values()]
    finally:
        if webhook:
            webhook.close()
    return results


def _result(ref, name):
    """A task's result dict; a task that failed (or whose worker died more than RETRIES times) as {"failed"}."""
    import ray

    try:
        return ray.get(ref)
    except ray.exceptions.RayError as e:
        lines = [x for x in str(e).strip().splitlines() if x.strip()]
        return {"name": name, "failed": lines[-1] if lines else type(e).__name__}


def _report(r, out, webhook=None):
    """One line per finished stream; a backlog video's events go to the webhook once it is done."""
    if "skipped" in r:
        print(f"skipped: {r['skipped']}")
    elif "failed" in r:
        print(f"failed: {r['name']}: {r['failed']}")
    else:
        times = ", ".join(f"{t:.2f}" for t in r["announcements"]) or "none"
        print(f"{r['name']}: {r['frames']:,} frames, announcements at [{times}] s, {r['frames_per_s']:.1f} frames/s "
              f"on {r['host']} (node {str(r['node'])[:8]}, pid {r['pid']}) -> {out / r['name']}")
        if webhook:
            from maskdet.fleet import stream_events
            for event in stream_events(out / r["name"]):
                webhook.post(event)


def _webhook(opt):
    from maskdet.alerts import Webhook
    return Webhook(opt.webhook) if opt.webhook else None


def run_cameras(opt, out):
    """An actor per camera of --cameras, all at once, until every source ends or Ctrl-C."""
    import shutil

    from maskdet.fleet import read_cameras

    cameras = read_cameras(opt.cameras)
    check_voice(opt)  # cameras speak at their door (backlog videos never do)
    if not opt.address and len(cameras) > opt.workers:  # all cameras run at once; a live one drops what it cannot keep up with
        print(f"note: {len(cameras)} cameras on {os.cpu_count()} CPUs: each gets less than a core (docs/scale_out.md: sizing)")
        opt.workers, opt.cpus_per_worker = len(cameras), 1
    if opt.overwrite:
        for name, _ in cameras:
            shutil.rmtree(out / name, ignore_errors=True)
    t0 = time.time()
    with ray_session(opt) as ray_s:
        results = _run_actors(opt, out, cameras)
    return finish(opt, out, results, len(cameras), ray_s, time.time() - t0)


def _run_actors(opt, out, cameras):
    """Start the camera actors (Ray restarts one whose worker dies), wait for them, merge their events
    every few seconds; Ctrl-C stops each between two frames."""
    import ray

    from maskdet.fleet import RETRIES, WORKER_MEMORY, Camera, merge_events

    actor = ray.remote(max_restarts=RETRIES, max_task_retries=RETRIES, max_concurrency=2)(Camera)
    actors = {name: actor.options(num_cpus=opt.cpus_per_worker, memory=WORKER_MEMORY).remote(name, src, str(out / name), opt)
              for name, src in cameras}
    for name, src in cameras:
        print(f"{name}: {hide_credentials(src)} -> {out / name}")
    pending, results = {a.run.remote(): name for name, a in actors.items()}, []
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=5.0)
            for ref in done:
                results.append(_result(ref, pending.pop(ref)))
                _report(results[-1], out)
            out.mkdir(parents=True, exist_ok=True)
            merge_events(out)
    except KeyboardInterrupt:
        print("interrupted: stopping cameras")
        for a in actors.values():
            a.stop.remote()
        for ref, name in pending.items():
            results.append(_result(ref, name))
            _report(results[-1], out)
    return results


def finish(opt, out, results, n_streams, ray_s, seconds):
    """Rebuild OUT/events.jsonl and OUT/index.html, print the closing line; the exit code."""
    from maskdet.fleet import merge_events
    from maskdet.page import write_index

    done = [r for r in results if "frames" in r]
    skipped = sum("skipped" in r for r in results)
    failed = sum("failed" in r for r in results)
    n_events = merge_events(out) if out.is_dir() else 0
    index = write_index(out) if out.is_dir() else None
    frames = sum(r["frames"] for r in done)
    print(f"{len(done)} of {n_streams} streams processed, {n_streams - len(results)} already done, {skipped} skipped, "
          f"{failed} failed; {frames:,} frames in {seconds:.1f} s ({frames / max(seconds - ray_s, 1e-9):.1f} frames/s after "
          f"Ray's start of {ray_s:.1f} s), {n_events} events -> {index or out}")
    nothing = not done and len(results) == n_streams
    return 1 if failed or nothing else 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
