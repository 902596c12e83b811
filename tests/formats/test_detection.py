"""Format detection on Datumaro's sample folders: the formats we read are recognised, the others
are refused with the registry's "no reader recognises this input" error naming the path (never
read as some other format's junk, e.g. a folder of image folders as classification tags)."""
from __future__ import annotations

import re

import pytest

import annowidgets as aw
from annowidgets.core.errors import UnknownFormatError

pytestmark = pytest.mark.fixtures

# formats we do not read: KITTI/... keep images in sub-folders beside their own annotation
# files; WIDER_<subset>/ alone is a WiderFace image folder without its wider_face_split/
UNSUPPORTED = [
    "cityscapes_dataset", "icdar_dataset", "imagenet_txt_dataset", "kitti_dataset", "open_images_dataset",
    "widerface_dataset/WIDER_train", "widerface_dataset/WIDER_val",
]

# what the samples of formats we read load as (format, items, annotations)
SUPPORTED = {
    "camvid_dataset": ("CamVid 1.0", 4, 10),
    "cityscapes_dataset/dataset": ("Cityscapes 1.0", 4, 9),
    "cityscapes_dataset/train_dataset": ("Cityscapes 1.0", 4, 4),
    "coco_dataset/coco": ("COCO 1.0", 2, 26),
    "coco_dataset/coco_instances": ("COCO 1.0", 2, 3),
    "coco_dataset/coco_person_keypoints": ("COCO Keypoints 1.0", 2, 15),
    "coco_dataset/coco_roboflow": ("COCO 1.0", 2, 3),
    "icdar_dataset/text_localization": ("ICDAR Localization 1.0", 2, 3),
    "icdar_dataset/text_segmentation": ("ICDAR Segmentation 1.0", 1, 3),
    "icdar_dataset/word_recognition": ("ICDAR Recognition 1.0", 2, 2),
    "kitti_dataset/kitti_detection": ("KITTI 1.0", 2, 5),
    "kitti_dataset/kitti_segmentation": ("KITTI 1.0", 2, 6),
    "open_images_dataset/v5": ("Open Images V6 1.0", 2, 0),
    "open_images_dataset/v6": ("Open Images V6 1.0", 4, 7),
    "cvat_dataset/for_images": ("CVAT for images 1.1", 8, 16),
    "cvat_dataset/for_video": ("CVAT for video 1.1", 4, 7),
    "imagenet_dataset": ("ImageNet 1.0", 3, 3),
    "imagenet_txt_dataset/basic": ("ImageNet 1.0", 4, 4),
    "labelme_dataset": ("LabelMe 3.0", 1, 7),  # Annotations/*.xml with <annotation> like VOC, told apart
    "mot_dataset": ("MOT 1.1", 2, 2),
    "mot_dataset/mot_seq": ("MOT 1.1", 1, 1),
    "mots_dataset": ("MOTS PNG 1.0", 3, 9),  # 5 masks + 4 outside keyframes ending the tracks
    "mots_dataset/train": ("MOTS PNG 1.0", 2, 7),
    "datumaro_dataset": ("Datumaro 1.0", 4, 7),
    "datumaro_dataset/legacy": ("Datumaro 1.0", 4, 7),
    "voc_dataset/voc_dataset1": ("PASCAL VOC 1.1", 2, 15),
    "voc_dataset/voc_dataset2": ("PASCAL VOC 1.1", 5, 4),
    "voc_dataset/voc_dataset3": ("PASCAL VOC 1.1", 1, 1),
    "yolo_dataset/annotations": ("YOLO 1.1", 1, 2),
    "yolo_dataset/labels": ("YOLO 1.1", 2, 4),
    "widerface_dataset": ("WiderFace 1.0", 3, 9),
    "vgg_face2_dataset": ("VGGFace2 1.0", 4, 8),
    "market1501_dataset": ("Market-1501 1.0", 3, 3),
    "lfw_dataset": ("LFW 1.0", 3, 6),
    "lfw_dataset/test": ("LFW 1.0", 3, 6),
}


@pytest.mark.parametrize("rel", UNSUPPORTED)
def test_unsupported_sample_is_refused_naming_the_path(datumaro_dir, rel):
    path = str(datumaro_dir / rel)
    with pytest.raises(UnknownFormatError, match=re.escape(path) + ": no reader recognises this input"):
        aw.load(path)


@pytest.mark.parametrize("rel", list(SUPPORTED))
def test_supported_sample_is_still_detected(datumaro_dir, rel):
    fmt, n_items, n_ann = SUPPORTED[rel]
    ds = aw.load(str(datumaro_dir / rel))
    assert (ds.info["format"], len(ds.items), len(ds.annotations)) == (fmt, n_items, n_ann)
