#!/bin/sh
# Creates the compose stack's bus topic before any tailer starts, with the
# settings of docs/kafka.md ("Topic settings for production"), scaled to the
# one-node cluster here: replication factor 1 and min.insync.replicas=1
# instead of 3 and 2. Retention covers a week-long router outage; unclean
# leader election stays off; the tailer's lz4 batches are stored as sent.
# Idempotent (--if-not-exists).
set -eu
/opt/kafka/bin/kafka-topics.sh --bootstrap-server kafka:9092 --create --if-not-exists \
  --topic mcsqueal.demo --partitions 6 --replication-factor 1 \
  --config min.insync.replicas=1 \
  --config retention.ms=604800000 \
  --config unclean.leader.election.enable=false \
  --config compression.type=producer
/opt/kafka/bin/kafka-topics.sh --bootstrap-server kafka:9092 --describe --topic mcsqueal.demo
