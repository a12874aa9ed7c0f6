#!/bin/sh
# Prepares MinIO for Quittance's export bundles (run by the minio-init service of
# infra/compose.yaml, idempotent): the bucket, its default encryption, the lifecycle rules
# (retention per jurisdiction: EU 6 years, US 7, BR 5, OTHER 10, as day counts that cover the
# leap days; unfinished multipart uploads after a day), and the service's own user, limited to
# the bundles (bundles-policy.json).
set -eu
mc alias set q http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing q/quittance-bundles
mc encrypt set sse-s3 q/quittance-bundles
mc ilm import q/quittance-bundles < /init/lifecycle.json
mc admin policy create q quittance-bundles /init/bundles-policy.json
mc admin user add q "$QUITTANCE_S3_ACCESS_KEY" "$QUITTANCE_S3_SECRET_KEY"
# attach refuses a policy already attached: that is the state wanted.
mc admin policy attach q quittance-bundles --user "$QUITTANCE_S3_ACCESS_KEY" || true
