#!/bin/sh
# Start ocr_receipt the way the platform expects (see ocr/Dockerfile).
set -eu
if [ "$#" -gt 0 ] && [ "$1" != "${1#python}" ]; then
    exec "$@"  # a one-off command, e.g. the migrations job
fi
if [ "${OCR_TARGET:-cloudrun}" = "lambda" ]; then
    exec python -m awslambdaric "${1:-functions.aws_ocr.ocr_receipt}"
fi
exec functions-framework --source=functions/ocr_receipt.py --target=ocr_receipt \
    --signature-type=http --host=0.0.0.0 --port="${PORT:-8080}"
