"""MMDetection plugins the paper needs and mmdet lacks, registered in mmdet's registries and
loaded inside the worker through the resolved config's `custom_imports` (never by the
orchestrator): the FPN variants of Tables 1-2 (necks), RoI pooling on any device (roi_pool),
the non-finite-loss hook (hooks), the atomic checkpoint hook (checkpoint), and Table 6's segment-proposal head and metric."""
