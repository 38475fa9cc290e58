"""Small random-weight timm models shared by the tests."""
import torch


def small_vit(**kw):
    import timm

    cfg = dict(img_size=32, patch_size=8, embed_dim=48, depth=2, num_heads=3, num_classes=10)
    cfg.update(kw)
    torch.manual_seed(0)
    return timm.create_model("vit_tiny_patch16_224", pretrained=False, **cfg).eval()


def small_deit():
    import timm

    torch.manual_seed(1)
    return timm.create_model("deit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, embed_dim=48,
                             depth=2, num_heads=3, num_classes=10).eval()


def small_swin():
    import timm

    torch.manual_seed(2)
    return timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, img_size=56, patch_size=4,
                             window_size=7, embed_dim=24, depths=(2, 2), num_heads=(3, 6), num_classes=10).eval()
