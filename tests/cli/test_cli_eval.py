import json

import pytest
import torch
from PIL import Image

from uqvit.cli import main
from uqvit.data import DataError, image_folder
from uqvit.evaluate import DeviceError, resolve_device, run_eval


@pytest.fixture
def image_folder_dir(tmp_path):
    g = torch.Generator().manual_seed(0)
    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(3):
            arr = (torch.rand(40, 48, 3, generator=g) * 255).to(torch.uint8).numpy()
            Image.fromarray(arr).save(tmp_path / c / f"{i}.png")
    return tmp_path


def test_image_folder_eval_with_checkpoint_and_json(image_folder_dir, tmp_path):
    import timm
    from safetensors.torch import save_file

    m = timm.create_model("deit_tiny_patch16_224", pretrained=False, num_classes=1000)
    ckpt = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(ckpt))
    out = tmp_path / "r.json"
    rc = main(["eval", "--model", "deit_tiny_patch16_224", "--data", str(image_folder_dir), "--checkpoint", str(ckpt),
               "--methods", "fp,repq", "--calib", "2", "--batch-size", "4", "--json", str(out), "--no-progress"])
    assert rc == 0
    rep = json.loads(out.read_text())
    assert rep["model"] == "deit_tiny_patch16_224" and rep["data"] == str(image_folder_dir)
    assert [r["method"] for r in rep["results"]] == ["fp", "repq"]
    r = rep["results"][1]
    assert r["n_images"] == 6 and r["calib_images"] == 2 and r["w_bits"] == 4 and 0 <= r["top1"] <= 100


def test_checkpoint_of_another_model_is_refused(tmp_path):
    import timm

    from uqvit.models import ModelError, create_model

    ckpt = tmp_path / "small.pth"
    torch.save(timm.create_model("vit_tiny_patch16_224", pretrained=False, depth=2).state_dict(), ckpt)
    with pytest.raises(ModelError, match="does not fit"):
        create_model("deit_small_patch16_224", checkpoint=str(ckpt))


def test_image_folder_without_images_is_refused(tmp_path):
    (tmp_path / "empty_class").mkdir()
    import timm

    with pytest.raises(DataError, match="no images found"):
        image_folder(str(tmp_path), timm.create_model("deit_tiny_patch16_224", pretrained=False))


def test_cuda_request_without_cuda_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="CUDA is not available"):
        resolve_device("cuda")


def test_cli_rejects_bad_bits_and_methods(capsys):
    assert main(["eval", "--w-bits", "9"]) == 2
    assert "argument --w-bits: bit-width 9 is outside 2..8" in capsys.readouterr().err
    assert main(["eval", "--methods", "fp,int3", "--no-progress"]) == 2
    assert "unknown method 'int3'" in capsys.readouterr().err


def test_empty_calibration_is_refused(demo_model):
    with pytest.raises(DataError, match="--calib must be at least 1"):
        run_eval("demo", "digits", ["fp"], 4, 4, calib=0, progress=False, model=demo_model, log=lambda *_: None)
