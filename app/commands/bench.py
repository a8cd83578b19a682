"""`endodepth bench`: decode, inference, post-processing and end-to-end throughput of the
pipeline the GUI runs, with latency percentiles and peak memory."""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import threading
import time
from pathlib import Path

import torch

from endodepth.commands.infer import add_stereo_arguments, create_model
from endodepth.commands.options import DEFAULT_MODEL, add_device, add_model
from endodepth.errors import UsageError
from endodepth.io.atomic import atomic_write
from endodepth.io.detect import open_source
from endodepth.io.stereo import require_stereo
from endodepth.models.registry import resolve_device
from endodepth.pipeline.processing import Pipeline, PostOptions
from endodepth.pipeline.runner import Runner
from endodepth.pipeline.stats import timing_summary
from endodepth.pipeline.viewer_state import DISPLAY_WIDTH
from endodepth.threads import apply as apply_threads
from endodepth.threads import plan as plan_threads
from endodepth.vis.colormap import COLORMAPS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", type=Path, help="video, image folder, SCARED keyframe/dataset or plain layout")
    add_model(p, repeat=True)
    add_device(p)
    p.add_argument("--half", action="store_true", help="float16 on CUDA")
    p.add_argument("--frames", type=int, default=100,
                   help="frames to time (default 100, at most the source's)")
    p.add_argument("--warmup", type=int, default=3, help="untimed inference passes first (default 3)")
    p.add_argument("--max-points", type=int, default=50_000, help="point budget of the back-projection")
    p.add_argument("--colormap", default="turbo", choices=COLORMAPS)
    p.add_argument("--display-width", type=int, default=DISPLAY_WIDTH, metavar="PX",
                   help=f"width of the viewer's display grid the post-processing works on (default {DISPLAY_WIDTH}, "
                        "as the window); 0: every map at the frame's resolution, as exports")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: the thread budget, endodepth.threads)")
    p.add_argument("--cv2-threads", type=int, help="OpenCV threads, 0 serial (default: the thread budget)")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the numbers as JSON")
    add_stereo_arguments(p)


def _stage(ms: list[float]) -> dict:
    s = timing_summary(ms)
    s["fps"] = 1e3 / s["mean"] if s["mean"] > 0 else math.inf
    return s


def _peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / 2**20


def measure_stages(pipeline: Pipeline, count: int, warmup: int) -> dict:
    """Each stage alone, one after the other on one thread: decode (sequential reads),
    inference (all models) and post-processing (masks, back-projection, colours)."""
    decode, infer, post = [], [], []
    per_model: dict[str, list[float]] = {n: [] for n in pipeline.models}
    for i in range(count):
        t = time.perf_counter()
        frame = pipeline.decode(i)
        decode.append((time.perf_counter() - t) * 1e3)
        for _ in range(warmup if i == 0 else 0):
            pipeline.run_models(frame)
        predicted = pipeline.run_models(frame)
        infer.append(predicted.timings["infer_ms"])
        for name, times in per_model.items():
            times.append(predicted.timings[f"infer_ms/{name}"])
        post.append(pipeline.post_process(predicted).timings["post_ms"])
    return {
        "decode": _stage(decode),
        "inference": {**_stage(infer), "models": {n: _stage(v) for n, v in per_model.items()}},
        "post": _stage(post),
    }


def _on_a_thread(fn, *args):
    """fn(*args) on a fresh thread, as the Runner's stages run (torch's intra-op threading
    behaves differently on the main thread), returning its result or raising its error."""
    out: dict = {}

    def target() -> None:
        try:
            out["value"] = fn(*args)
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=target, name="endodepth-bench")
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def measure_playback(pipeline: Pipeline, realtime: bool, timeout: float = 3600.0) -> dict:
    """The threaded Runner over the whole (windowed) source: every-frame mode as fast as it
    goes (throughput), or real time at the source's fps (what a viewer sees: drops)."""
    latencies: list[float] = []
    errors: list[Exception] = []
    done = threading.Event()
    runner = Runner(pipeline, on_result=lambda r: latencies.append(r.timings["latency_ms"]),
                    on_error=errors.append, on_finished=done.set,
                    realtime=realtime, speed=1.0 if realtime else math.inf)
    t0 = time.perf_counter()
    runner.play(0)
    finished = done.wait(timeout)
    elapsed = time.perf_counter() - t0
    dropped = runner.stats()["dropped"]
    runner.stop()
    if errors:
        raise errors[0]
    if not finished:
        raise TimeoutError(f"playback of {len(pipeline)} frames did not finish in {timeout:.0f} s")
    return {"frames": len(latencies), "dropped": dropped, "seconds": elapsed,
            "fps": len(latencies) / elapsed, "latency_ms": timing_summary(latencies)}


class _Window:
    """The first `count` frames of a source (the Runner plays a source to its end)."""

    def __init__(self, source, count: int) -> None:
        self.source, self.count, self.fps = source, count, source.fps

    def __len__(self) -> int:
        return self.count

    def frame(self, i: int):
        return self.source.frame(i)


def benchmark(args: argparse.Namespace) -> dict:
    """All the numbers `endodepth bench` prints, as a dict."""
    names = args.model or [DEFAULT_MODEL]
    if args.weights is not None and len(names) != 1:
        raise UsageError("--weights goes with exactly one --model")
    budget = apply_threads(plan_threads(torch_threads=args.threads or None, opencv_threads=args.cv2_threads))
    device = resolve_device(args.device)
    nets = [create_model(args, n, device) for n in names]
    source = open_source(args.path, args.stereo)
    try:
        for net in nets:
            require_stereo(source, net.name, net.needs_stereo)
        count = max(1, min(args.frames, len(source)))
        window = _Window(source, count)
        post = PostOptions(max_points=args.max_points, fov=True, colormap=args.colormap,
                           display_width=args.display_width or None)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        stages = _on_a_thread(measure_stages, Pipeline(window, nets, post=post), count, args.warmup)
        end_to_end = measure_playback(Pipeline(window, nets, post=post), realtime=False)
        live = measure_playback(Pipeline(window, nets, post=post), realtime=True)
        info = source.describe()
    finally:
        source.close()
    worker_ms = stages["inference"]["mean"] + stages["post"]["mean"]
    threads = {"decode": stages["decode"]["fps"],
               "inference+post": 1e3 / worker_ms if worker_ms > 0 else math.inf}
    slowest = min(threads, key=threads.get)
    memory = {"peak_rss_mb": _peak_rss_mb()}
    if device.type == "cuda":
        memory["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return {
        "source": {k: v for k, v in info.items() if isinstance(v, (str, int, float, bool))},
        "frames": count,
        "fps": window.fps,
        "size": list(window.source.size) if hasattr(window.source, "size") else None,
        "models": names,
        "device": str(device),
        "half": bool(args.half),
        "torch_threads": torch.get_num_threads(),
        "thread_budget": budget.describe(),
        "display_width": args.display_width or None,
        **stages,
        "end_to_end": end_to_end,
        "realtime": live,
        "slowest_stage": slowest,
        "slowest_stage_fps": threads[slowest],
        "overlap_ratio": end_to_end["fps"] / threads[slowest],
        "memory": memory,
    }


def _row(label: str, s: dict) -> str:
    return (f"{label:22} {s['mean']:9.2f} {s['p50']:9.2f} {s['p95']:9.2f} {s['p99']:9.2f} "
            f"{s['fps']:9.1f}")


def report(r: dict) -> str:
    """The human-readable table."""
    lines = [
        f"{r['source'].get('name', '')}: {r['frames']} frames"
        + (f" {r['size'][0]}x{r['size'][1]}" if r["size"] else "")
        + f" | models {', '.join(r['models'])} | device {r['device']}{' fp16' if r['half'] else ''}",
        r["thread_budget"],
        f"post-processing on the display grid at most {r['display_width']} px across (the window's)"
        if r["display_width"] else "post-processing at the frame's resolution (as exports)",
        f"{'stage (ms per frame)':22} {'mean':>9} {'p50':>9} {'p95':>9} {'p99':>9} {'fps':>9}",
        _row("decode", r["decode"]),
        _row("inference", r["inference"]),
    ]
    if len(r["inference"]["models"]) > 1:
        lines += [_row(f"  {n}", s) for n, s in r["inference"]["models"].items()]
    e2e, live = r["end_to_end"], r["realtime"]
    lines += [
        _row("post (mask,cloud,color)", r["post"]),
        _row("end-to-end latency", {**e2e["latency_ms"], "fps": e2e["fps"]}),
        _row("real-time latency", {**live["latency_ms"], "fps": live["fps"]}),
        (f"end-to-end throughput {e2e['fps']:.1f} fps = {r['overlap_ratio']:.2f} x the slowest stage "
         f"({r['slowest_stage']}, {r['slowest_stage_fps']:.1f} fps); decoding overlaps inference"),
        (f"real time at {r['fps']:.0f} fps: {live['frames']} frames shown, "
         f"{live['dropped']} dropped"),
        f"peak memory: RSS {r['memory']['peak_rss_mb']:.0f} MiB"
        + (f", CUDA max allocated {r['memory']['cuda_max_allocated_mb']:.0f} MiB"
           if "cuda_max_allocated_mb" in r["memory"] else ""),
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    result = benchmark(args)
    print(report(result))
    if args.json is not None:
        with atomic_write(args.json) as tmp:
            Path(tmp).write_text(json.dumps(result, indent=2, default=float))
    return 0
