"""filegate's local mode: the whole system on 127.0.0.1 (DESIGN.md decision 8).

``python -m local`` starts Ceph radosgw (S3), moto (KMS, Secrets Manager, DynamoDB, SQS,
EventBridge), a dev JWT issuer, the local API (the real Lambda handlers behind an HTTP API v2 event
adapter), the local edge (CloudFront's signed-URL checks in front of the bucket), ClamAV behind a
GuardDuty stand-in, the real verifier behind an SQS event source mapping, an events URL and a demo
page. See local/README.md.
"""
