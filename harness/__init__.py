"""fpn-repro: reproduce the tables of Lin et al., "Feature Pyramid Networks for Object Detection"
(CVPR 2017) on MMDetection 3.x and compare them with the published numbers."""

__version__ = "0.1.0"
