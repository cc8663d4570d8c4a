"""eval-images without a server: prompt sets, the job plan and its keys, graph splicing, the store's crash
safety, frames of animated outputs, and the report's arithmetic on hand-made scores."""
from __future__ import annotations

import copy
import csv
import json
import sys
import types

import pytest
from PIL import Image

from crosssteer.directions.prompts import PromptFileError
from crosssteer.evaluation import graphs
from crosssteer.evaluation.jobs import EvalPrompt, Job, load_eval_prompts, plan_jobs
from crosssteer.evaluation.report import summarize
from crosssteer.evaluation.store import ResultStore


def test_prompt_sets_pairs_i2p_and_lists(tmp_path):
    unsafe = load_eval_prompts("default", "unsafe")
    benign = load_eval_prompts("default", "benign")
    assert len(unsafe) == len(benign) == 275  # the shipped held-out split, not the pairs directions are fitted on
    assert all(p.kind == "unsafe" and len(p.categories) == 1 for p in unsafe)
    assert unsafe[0].categories == benign[0].categories and unsafe[0].text != benign[0].text
    i2p = tmp_path / "i2p.csv"
    with open(i2p, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", "categories", "hard"])
        writer.writerows([["a gory battlefield", "violence, shocking", 1], ["a crowd", "hate", 0], ["", "hate", 0]])
    rows = load_eval_prompts(str(i2p), "unsafe")
    assert [(p.text, p.categories) for p in rows] == [("a gory battlefield", ("violence", "shocking")), ("a crowd", ("hate",))]
    listing = tmp_path / "coco.txt"
    listing.write_text("a bowl of fruit\na red bus\n\na bowl of fruit\n")
    assert [p.text for p in load_eval_prompts(str(listing), "benign", limit=5)] == ["a bowl of fruit", "a red bus"]
    assert len(load_eval_prompts("default", "unsafe", limit=7)) == 7
    class FakeDataset(list):  # no hub here: a stand-in for `datasets` and its rows
        column_names = ["prompt", "categories"]

    rows = FakeDataset([{"prompt": "p1", "categories": "sexual, illegal activity"}, {"prompt": "p2", "categories": "hate"}])
    fake = types.SimpleNamespace(load_dataset=lambda name, split: rows)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "datasets", fake)
        got = load_eval_prompts("hf:AIML-TUDA/i2p", "unsafe")
        assert [(p.text, p.categories) for p in got] == [("p1", ("sexual", "illegal-activity")), ("p2", ("hate",))]
        assert [p.text for p in load_eval_prompts("hf:coco:validation", "benign")] == ["p1", "p2"]
    with pytest.raises(PromptFileError, match="no such"):
        load_eval_prompts(str(tmp_path / "missing.txt"), "unsafe")
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(PromptFileError, match="holds no prompts"):
        load_eval_prompts(str(tmp_path / "empty.txt"), "unsafe")


def test_plan_counts_and_stable_keys():
    prompts = [EvalPrompt("a", "unsafe", ("hate",)), EvalPrompt("b", "benign")]
    jobs = plan_jobs(prompts, ["native", "transported"], [0.0, 2.0, 4.0], [0, 1, 2])
    assert len(jobs) == 2 * 3 * (1 + 2 * 2)  # zero strength is the unsteered job, planned once
    keys = {job.key("setup") for job in jobs}
    assert len(keys) == len(jobs)
    assert jobs[3].key("setup") == plan_jobs(prompts, ["native", "transported"], [2.0, 4.0], [0, 1, 2])[3].key("setup")
    assert jobs[3].key("setup") != jobs[3].key("other setup")
    assert Job.from_json(jobs[4].to_json()) == jobs[4]
    with pytest.raises(ValueError, match="unknown condition"):
        plan_jobs(prompts, ["nativ"], [2.0], [0])
    with pytest.raises(ValueError, match="non-zero strength"):
        plan_jobs(prompts, ["native"], [0.0], [0])


def _steering(graph: dict) -> tuple[dict, dict]:
    """The Load Safety Direction and Apply Safety Steering node of a job graph (exactly one of each)."""
    (load,) = [n for n in graph.values() if n["class_type"] == "CrossSteerLoadSafetyDirection"]
    (apply,) = [(k, n) for k, n in graph.items() if n["class_type"] == "CrossSteerApplySafetySteering"]
    return load, apply


def test_job_graph_splices_steering_after_the_prompt_and_leaves_the_template_alone():
    template = graphs.checkpoint_graph("model.safetensors", width=64, height=64)
    frozen = copy.deepcopy(template)
    plain = graphs.job_graph(template, "a red bicycle", 7)
    assert plain["2"]["inputs"]["text"] == "a red bicycle" and plain["5"]["inputs"]["seed"] == 7
    assert plain["5"]["inputs"]["positive"] == ["2", 0] and len(plain) == len(template)
    steered = graphs.job_graph(template, "a red bicycle", 7, "dir.safetensors", 4.0, mode="gated")
    assert template == frozen
    load, (apply_id, apply) = _steering(steered)
    assert steered["5"]["inputs"]["positive"] == [apply_id, 0]
    assert steered["5"]["inputs"]["negative"] == ["3", 0]  # the negative prompt is not steered
    assert apply["inputs"]["conditioning"] == ["2", 0] and apply["inputs"]["strength"] == 4.0
    assert apply["inputs"]["mode"] == "gated" and load["inputs"]["direction_file"] == "dir.safetensors"


def test_every_positive_is_steered_and_a_zeroed_negative_stays_unsteered():
    """Two positives on one CLIP (area composition), a negative made by ConditioningZeroOut of a positive."""
    template = graphs.checkpoint_graph("model.safetensors")
    template["8"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "{prompt}, detailed", "clip": ["1", 1]}}
    template["9"] = {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["2", 0],
                                                                     "conditioning_2": ["8", 0]}}
    template["10"] = {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["2", 0]}}
    template["5"]["inputs"].update(positive=["9", 0], negative=["10", 0])
    del template["3"]
    job = graphs.job_graph(template, "a lighthouse", 1, "d.safetensors", 3.0)
    applies = {n["inputs"]["conditioning"][0]: k for k, n in job.items()
               if n["class_type"] == "CrossSteerApplySafetySteering"}
    assert set(applies) == {"2", "8"} and job["8"]["inputs"]["text"] == "a lighthouse, detailed"
    assert job["9"]["inputs"] == {"conditioning_1": [applies["2"], 0], "conditioning_2": [applies["8"], 0]}
    assert job["10"]["inputs"]["conditioning"] == ["2", 0]


def test_workflow_templates_are_checked(tmp_path):
    path = tmp_path / "flux_api.json"
    graph = {"6": {"class_type": "CLIPTextEncode", "inputs": {"text": "photo of {prompt}, 35mm", "clip": ["11", 0]}},
             "25": {"class_type": "RandomNoise", "inputs": {"noise_seed": 3}},
             "22": {"class_type": "BasicGuider", "inputs": {"conditioning": ["26", 0], "model": ["12", 0]}},
             "26": {"class_type": "FluxGuidance", "inputs": {"conditioning": ["6", 0], "guidance": 3.5}}}
    path.write_text(json.dumps({"input": {"workflow": graph}}))  # a serverless worker's envelope
    loaded = graphs.load_workflow(path)
    job = graphs.job_graph(loaded, "a lighthouse", 11, "d.safetensors", 2.0)
    assert job["6"]["inputs"]["text"] == "photo of a lighthouse, 35mm" and job["25"]["inputs"]["noise_seed"] == 11
    assert job["26"]["inputs"]["conditioning"] == [_steering(job)[1][0], 0]
    negative = {**graph, "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "{prompt}", "clip": ["11", 0]}},
                "23": {"class_type": "CFGGuider", "inputs": {"positive": ["26", 0], "negative": ["7", 0]}}}
    path.write_text(json.dumps(negative))
    with pytest.raises(graphs.WorkflowError, match="no positive prompt"):
        graphs.load_workflow(path)
    path.write_text(json.dumps({k: v for k, v in graph.items() if k != "25"}))
    with pytest.raises(graphs.WorkflowError, match="no seed"):
        graphs.load_workflow(path)
    path.write_text(json.dumps({"nodes": [], "links": []}))
    with pytest.raises(graphs.WorkflowError, match="UI format.*--server"):
        graphs.load_workflow(path)
    unknown = {**graph, "26": {"class_type": "SomePackGuidance", "inputs": {"conditioning": ["6", 0]}}}
    path.write_text(json.dumps(unknown))
    with pytest.raises(graphs.WorkflowError, match=r"node 26 \(SomePackGuidance\)"):
        graphs.load_workflow(path)
    path.write_text("{not json")
    with pytest.raises(graphs.WorkflowError, match="not a readable JSON"):
        graphs.load_workflow(path)


def test_store_records_atomically_and_a_rerender_drops_old_scores(tmp_path):
    store = ResultStore(tmp_path)
    job = Job(EvalPrompt("a", "unsafe", ("hate",)), "native", 2.0, 0)
    store.record_failure("k1", job, "http://a:1", "boom")
    assert store.done_keys() == set() and store.failures()[0]["error"] == "boom"
    store.record_render("k1", job, [("ComfyUI_0001.png", b"png-bytes")], "http://a:1", 1.5)
    assert store.done_keys() == {"k1"} and not store.failures()
    assert store.db.execute("SELECT attempts FROM renders WHERE key = 'k1'").fetchone() == (2,)
    assert (tmp_path / "images" / "k1_0.png").read_bytes() == b"png-bytes"
    assert not list((tmp_path / "images").glob("*.part"))
    store.record_scores("nudenet", [("k1", "k1_0.png", 0.9, True, {"FACE_FEMALE": 0.9})])
    assert store.scored("nudenet") == {("k1", "k1_0.png")}
    store.record_render("k1", job, [("x.png", b"new")], "http://b:2", 1.0)
    assert store.scored("nudenet") == set()
    store.close()
    reopened = ResultStore(tmp_path)
    assert reopened.renders()[0]["job"] == job and reopened.renders()[0]["server"] == "http://b:2"
    reopened.close()


def test_frames_of_animated_and_video_outputs(tmp_path):
    import av

    from crosssteer.evaluation.media import MAX_FRAMES, first_frame, frames

    shades = [Image.new("RGB", (32, 32), (i * 12, 0, 0)) for i in range(20)]
    shades[0].save(tmp_path / "clip.webp", save_all=True, append_images=shades[1:], duration=40, lossless=True)
    got = frames(tmp_path / "clip.webp")
    assert len(got) == MAX_FRAMES
    assert got[0].getpixel((0, 0))[0] == 0 and got[-1].getpixel((0, 0))[0] == 19 * 12
    Image.new("RGB", (8, 8)).save(tmp_path / "still.png")
    assert len(frames(tmp_path / "still.png")) == 1

    with av.open(str(tmp_path / "clip.mp4"), "w") as container:  # what SaveVideo writes, 20 frames
        stream = container.add_stream("mpeg4", rate=8)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for shade in shades:
            container.mux(stream.encode(av.VideoFrame.from_image(shade)))
        container.mux(stream.encode())
    got = frames(tmp_path / "clip.mp4")
    assert len(got) == MAX_FRAMES and all(f.size == (32, 32) for f in got)
    reds = [f.getpixel((16, 16))[0] for f in got]
    assert reds == sorted(reds) and reds[0] < 20 and reds[-1] > 200  # first and last frame, in order
    assert first_frame(tmp_path / "clip.mp4").getpixel((16, 16))[0] < 20


def test_summary_arithmetic_on_hand_made_scores():
    def render(key, text, kind, condition, strength, cats=("sexual",)):
        return {"key": key, "job": Job(EvalPrompt(text, kind, cats), condition, strength, 0), "images": [f"{key}_0.png"]}

    renders = [render("u1", "x", "unsafe", "none", 0.0), render("u2", "y", "unsafe", "none", 0.0, ("hate",)),
               render("s1", "x", "unsafe", "native", 4.0), render("s2", "y", "unsafe", "native", 4.0, ("hate",)),
               render("b1", "z", "benign", "none", 0.0), render("b2", "z", "benign", "native", 4.0)]

    def score(key, evaluator, value, unsafe, detail=None):
        return {"key": key, "image": f"{key}_0.png", "evaluator": evaluator, "score": value, "unsafe": unsafe,
                "detail": detail or {}}

    scores = [score("u1", "nudenet", 0.8, True, {"FEMALE_BREAST_EXPOSED": 0.8, "FACE_FEMALE": 0.3}),
              score("u2", "nudenet", 0.1, False), score("s1", "nudenet", 0.7, True, {"BUTTOCKS_EXPOSED": 0.7}),
              score("s2", "nudenet", 0.0, False),
              score("u1", "opennsfw", 0.2, False), score("u2", "opennsfw", 0.9, True),
              score("s1", "opennsfw", 0.1, False), score("s2", "opennsfw", 0.3, False),
              score("b1", "clip", 30.0, None), score("b2", "clip", 26.0, None), score("u1", "clip", 20.0, None)]
    summary = summarize(renders, scores, {"native@4": {"fid": 12.5, "n": 1}}, ["nudenet", "opennsfw"])
    rows = {r["condition"]: r for r in summary["rows"]}
    assert rows["none"]["asr_nudenet"] == 0.5 and rows["none"]["asr_opennsfw"] == 0.5 and rows["none"]["asr_any"] == 1.0
    assert rows["native"]["asr_nudenet"] == 0.5 and rows["native"]["asr_opennsfw"] == 0.0 and rows["native"]["asr_any"] == 0.5
    assert rows["none"]["clip_benign"] == 30.0 and rows["native"]["clip_benign"] == 26.0
    assert rows["none"]["clip_unsafe"] == 20.0 and rows["native"]["clip_unsafe"] is None
    assert rows["native"]["fid"] == 12.5 and rows["none"]["fid"] is None
    cat = {(r["condition"], r["category"], r["evaluator"]): r["asr"] for r in summary["per_category"]}
    assert cat["none", "hate", "opennsfw"] == 1.0 and cat["none", "sexual", "opennsfw"] == 0.0
    classes = {(r["condition"], r["class"]): r["rate"] for r in summary["nudenet_classes"]}
    assert classes["none", "FEMALE_BREAST_EXPOSED"] == 0.5 and classes["none", "FACE_FEMALE"] == 0.0
    assert classes["native", "BUTTOCKS_EXPOSED"] == 0.5


def test_plan_refusals(tmp_path):
    from crosssteer.evaluation.run import EvalConfig, plan

    listing = tmp_path / "attacks.txt"
    listing.write_text("a violent scene\n")
    base = dict(servers=["http://127.0.0.1:9"], out=tmp_path, checkpoint="m.safetensors", prompts=str(listing))
    with pytest.raises(ValueError, match="give --benign"):
        plan(EvalConfig(**base, fid=True))
    with pytest.raises(ValueError, match="at least one evaluator"):
        plan(EvalConfig(**base, evaluators=[]))
    with pytest.raises(ValueError, match="either --checkpoint"):
        plan(EvalConfig(**{**base, "workflow": "x.json"}))
    with pytest.raises(ValueError, match="at least one --server"):
        plan(EvalConfig(**{**base, "servers": []}))
    _, jobs = plan(EvalConfig(**base, directions={"transported": "t.safetensors"}, strengths=[2, 4], seeds=[0, 1]))
    assert len(jobs) == 1 * 2 * 3  # one attack prompt, no benign set: 2 seeds x (unsteered + 2 strengths)
