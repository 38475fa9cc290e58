import json

from uqvit.cli import main


def test_det_data_then_eval_det_writes_the_eval_json(tmp_path, capsys):
    assert main(["det-data", "--out", str(tmp_path), "--train", "3", "--val", "2"]) == 0
    out = tmp_path / "r.json"
    rc = main(["eval-det", "--model", "maskrcnn_swin_mini", "--coco-images", str(tmp_path / "val"),
               "--coco-ann", str(tmp_path / "val.json"), "--calib-images", str(tmp_path / "train"), "--calib", "2",
               "--methods", "fp,uqvit", "--w-bits", "8", "--a-bits", "8", "--json", str(out), "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "random weights" in text and "backbone stage cosine" in text and "box AP" in text
    rep = json.loads(out.read_text())
    assert rep["model"] == "maskrcnn_swin_mini" and [r["method"] for r in rep["results"]] == ["fp", "uqvit"]
    assert {"box_ap", "mask_ap", "n_images", "calib_images", "w_bits", "a_bits"} <= set(rep["results"][1])


def test_eval_det_bad_input_is_one_clear_line_and_status_2(tmp_path, capsys, shapes):
    args = ["eval-det", "--model", "maskrcnn_swin_mini", "--coco-images", str(shapes["calib"]),
            "--coco-ann", str(shapes["ann"]), "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not match the image folder" in err[0]
    args = ["eval-det", "--model", "maskrcnn_swin_mini", "--coco-images", str(shapes["images"]),
            "--coco-ann", str(shapes["ann"]), "--methods", "fp,uqvit", "--no-progress"]
    assert main(args) == 2
    assert "--calib-images DIR" in capsys.readouterr().err
    assert main(args[:-3] + ["--methods", "fp,best", "--no-progress"]) == 2
    assert "unknown method(s) best" in capsys.readouterr().err
