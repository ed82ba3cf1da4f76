#!/bin/sh
# Creates the compose stack's bus topic before any tailer starts, with the
# settings docs/bus.md recommends, scaled to the one-node cluster here
# (replication factor 1 and min.insync.replicas=1 instead of 3 and 2):
# retention that covers a long router outage, one partition per tailer's
# worth of parallelism. Idempotent (--if-not-exists).
set -eu
/opt/kafka/bin/kafka-topics.sh --bootstrap-server kafka:9092 --create --if-not-exists \
  --topic mcsqueal.demo --partitions 3 --replication-factor 1 \
  --config min.insync.replicas=1 --config retention.ms=604800000
/opt/kafka/bin/kafka-topics.sh --bootstrap-server kafka:9092 --describe --topic mcsqueal.demo
