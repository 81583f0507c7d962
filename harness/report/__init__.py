"""Records -> the report: runs grouped per row (aggregate), one judgement rule (verdict), the
paper's tables and claims with published / measured / delta, plots, the PDF, and the tidy CSV.
Reads records only: never runs a model, never imports torch/mmdet."""
