"""The child process a launcher starts for one row (`python -m harness.worker RUN_DIR`): build
MMEngine's Runner from RUN_DIR/config.py, train, test, write RUN_DIR/outcome.json; or dump an
RPN's proposals. The only place (with models/) where torch and mmdet run."""
