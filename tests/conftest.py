import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no hub access here: fail fast instead of hanging


@pytest.fixture(scope="session")
def demo_model():
    from uqvit.models import load_demo_model

    return load_demo_model(log=lambda *_: None)


@pytest.fixture(scope="session")
def digits():
    from uqvit.data import digits_eval_split, digits_splits

    train, test = digits_splits()
    return train, test, digits_eval_split()
