"""What counts as an image, a video, audio or a point cloud file, by extension: one list for every reader and
the workspace, so the same folder is seen the same way everywhere."""
from __future__ import annotations

#: Raster images Pillow reads (and browsers show, after conversion where needed).
IMAGE_EXTS = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".jp2", ".pgm",
              ".ppm", ".pbm", ".avif")

#: Point clouds as CVAT's 3D tasks take them: PCD, and KITTI's raw velodyne scans (float32 x, y, z, r).
POINT_CLOUD_EXTS = (".pcd", ".bin")
