/*
 * The Debezium side of the peer benchmark (tests/bench/bench_debezium.sh).
 *
 *   engine KEY=VALUE...   Debezium's embedded engine (MySQL connector) over a
 *                         MariaDB binlog; each change event is written as JSON
 *                         by Kafka Connect's JsonConverter (what the engine's
 *                         Json format and Kafka Connect do). sink=null drops
 *                         every record; sink=kafka sends each one to one topic
 *                         with a KafkaProducer (acks=all, idempotent) and counts
 *                         it once acknowledged. It counts records and
 *                         transactions (see Counter), stops at the row of the
 *                         end table (end_table=, the binlog's last transaction)
 *                         and prints one line of key=value pairs (times, CPU,
 *                         peak RSS); with paced=1 it runs until SIGTERM.
 *   topics KEY=VALUE...   Creates the topics names=A,B,... (one partition each)
 *                         unless they exist.
 *   consume KEY=VALUE...  A Kafka consumer at the end of a topic (created with
 *                         one partition when missing) that writes one line
 *                         "probe_us received_us" per transaction it receives:
 *                         for mcsqueal's messages the commit_us of every
 *                         transaction, for Debezium's the probe time that
 *                         tests/bench/paced_writer also writes into the row
 *                         (the note column: "paced G probe US"; the MySQL
 *                         connector gives no statement text on MariaDB).
 *                         Runs until SIGTERM, writing as it goes.
 *
 * Every setting of the engine is passed on the command line by the script, so
 * that the benchmark's report shows each choice.
 */
package mcsqueal.bench;

import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.RecordChangeEvent;
import io.debezium.embedded.Connect;
import io.debezium.engine.format.ChangeEventFormat;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.connect.json.JsonConverter;
import org.apache.kafka.connect.source.SourceRecord;
import org.apache.kafka.connect.storage.MemoryOffsetBackingStore;

public final class DebeziumDriver {
    private static final Pattern PROBE = Pattern.compile("\"note\":\"paced \\d+ probe (\\d+)\"");
    private static final Pattern COMMIT_US = Pattern.compile("\"commit_us\":(\\d+)");

    private DebeziumDriver() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: DebeziumDriver engine|consume|topics KEY=VALUE...");
            System.exit(2);
        }
        Map<String, String> opt = new HashMap<>();
        Properties engineProps = new Properties();
        Properties producerProps = new Properties();
        for (int i = 1; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq <= 0) {
                System.err.println("bad argument (KEY=VALUE): " + args[i]);
                System.exit(2);
            }
            String k = args[i].substring(0, eq), v = args[i].substring(eq + 1);
            if (k.startsWith("debezium.")) {
                engineProps.setProperty(k.substring("debezium.".length()), v);
            } else if (k.startsWith("producer.")) {
                producerProps.setProperty(k.substring("producer.".length()), v);
            } else {
                opt.put(k, v);
            }
        }
        if (args[0].equals("engine")) {
            engine(opt, engineProps, producerProps);
        } else if (args[0].equals("consume")) {
            consume(opt);
        } else if (args[0].equals("topics")) {
            Properties p = new Properties();
            p.setProperty("bootstrap.servers", need(opt, "bootstrap"));
            for (String t : need(opt, "names").split(",")) {
                createTopic(p, t);
            }
        } else {
            System.err.println("unknown mode " + args[0]);
            System.exit(2);
        }
    }

    private static String need(Map<String, String> opt, String key) {
        String v = opt.get(key);
        if (v == null) {
            System.err.println("missing " + key + "=");
            System.exit(2);
        }
        return v;
    }

    /** user + system CPU seconds of this process, from /proc/self/stat. */
    private static double cpuSeconds() {
        try {
            String s = Files.readString(Path.of("/proc/self/stat"));
            String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** VmHWM of this process in KiB. */
    private static long peakRssKib() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException | RuntimeException e) {
            // reported as -1
        }
        return -1;
    }

    private static double nowS() {
        return System.nanoTime() / 1e9;
    }

    /**
     * Counts records and marks the points the report needs. Transactions are
     * not counted here: against MariaDB the MySQL connector sees no
     * transaction boundaries (it takes MariaDB's GTID events, which open each
     * transaction, for unknown events: provide.transaction.metadata emits
     * nothing and every record's offset is that of its own row event), so the
     * benchmark takes the binlog's transaction count from `mcsqueal scan` and
     * stops at the sentinel: a row of the end table, the binlog's last
     * transaction.
     */
    private static final class Counter {
        final AtomicLong records = new AtomicLong();
        final CountDownLatch done = new CountDownLatch(1);
        volatile double tFirst = -1, tLast = -1;
        volatile double cpuFirst = -1, cpuLast = -1;

        synchronized void record(boolean end) {
            long n = records.incrementAndGet();
            if (n == 1) {
                tFirst = nowS();
                cpuFirst = cpuSeconds();
            }
            if (end && tLast < 0) {
                tLast = nowS();
                cpuLast = cpuSeconds();
                done.countDown();
            }
        }
    }

    private static void engine(Map<String, String> opt, Properties props, Properties producerProps)
            throws Exception {
        double t0 = nowS();
        String sink = need(opt, "sink");
        String topic = opt.getOrDefault("topic", "dbz.bench");
        Counter c = new Counter();
        String endTopic = "." + opt.getOrDefault("end_table", "bench_end");
        // what the Json format and Kafka Connect's JsonConverter write
        JsonConverter keyJson = new JsonConverter(), valueJson = new JsonConverter();
        keyJson.configure(Map.of("schemas.enable", opt.getOrDefault("schemas", "false")), true);
        valueJson.configure(Map.of("schemas.enable", opt.getOrDefault("schemas", "false")), false);
        props.putIfAbsent("offset.storage", StartOffsetStore.class.getName());
        if (opt.containsKey("start_file")) {
            // the offset as the engine's JsonConverter (schemas off) writes it
            StartOffsetStore.key = "[\"" + props.getProperty("name") + "\",{\"server\":\""
                    + props.getProperty("topic.prefix") + "\"}]";
            StartOffsetStore.value = "{\"file\":\"" + opt.get("start_file") + "\",\"pos\":"
                    + Long.parseLong(opt.getOrDefault("start_pos", "4")) + "}";
            props.setProperty("offset.storage", StartOffsetStore.class.getName());
        }
        KafkaProducer<byte[], byte[]> producer = null;
        if (sink.equals("kafka")) {
            producerProps.setProperty("bootstrap.servers", need(opt, "bootstrap"));
            producerProps.setProperty("key.serializer", ByteArraySerializer.class.getName());
            producerProps.setProperty("value.serializer", ByteArraySerializer.class.getName());
            producer = new KafkaProducer<>(producerProps);
        } else if (!sink.equals("null")) {
            System.err.println("sink must be null or kafka");
            System.exit(2);
        }
        final KafkaProducer<byte[], byte[]> out = producer;
        final AtomicLong failed = new AtomicLong();
        final long dump = Long.parseLong(opt.getOrDefault("dump", "0"));
        final AtomicLong dumped = new AtomicLong();
        DebeziumEngine.ChangeConsumer<RecordChangeEvent<SourceRecord>> consumer = (records, committer) -> {
            for (RecordChangeEvent<SourceRecord> rce : records) {
                SourceRecord r = rce.record();
                byte[] key = keyJson.fromConnectData(r.topic(), r.keySchema(), r.key());
                byte[] value = valueJson.fromConnectData(r.topic(), r.valueSchema(), r.value());
                boolean end = r.topic() != null && r.topic().endsWith(endTopic);
                if (dumped.get() < dump) { // debugging: what the records look like
                    dumped.incrementAndGet();
                    System.err.println(r.topic() + " " + r.sourceOffset() + " " + new String(value, StandardCharsets.UTF_8));
                }
                if (out == null) {
                    c.record(end);
                } else {
                    out.send(new ProducerRecord<>(topic, key, value), (md, e) -> {
                        if (e != null) {
                            if (failed.getAndIncrement() == 0) {
                                System.err.println("produce failed: " + e);
                            }
                        } else {
                            c.record(end);
                        }
                    });
                }
                committer.markProcessed(rce);
            }
            committer.markBatchFinished();
        };
        CountDownLatch stopped = new CountDownLatch(1);
        DebeziumEngine<RecordChangeEvent<SourceRecord>> engine = DebeziumEngine.create(ChangeEventFormat.of(Connect.class))
                .using(props)
                .notifying(consumer)
                .using(new DebeziumEngine.ConnectorCallback() {
                    @Override
                    public void taskStarted() {
                        System.out.println("started " + String.format("%.3f", nowS() - t0));
                        System.out.flush();
                    }
                })
                .using((success, message, error) -> {
                    if (!success) {
                        System.err.println("engine stopped: " + message + (error != null ? ": " + error : ""));
                        if (error != null) {
                            error.printStackTrace();
                        }
                    }
                    stopped.countDown();
                })
                .build();
        ExecutorService ex = Executors.newSingleThreadExecutor();
        ex.execute(engine);
        if (opt.getOrDefault("paced", "0").equals("1")) {
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                try {
                    engine.close();
                } catch (IOException | RuntimeException e) {
                    // exiting anyway
                }
            }));
            stopped.await();
            System.exit(1); // the engine stopped on its own: an error
        }
        double timeout = Double.parseDouble(opt.getOrDefault("timeout_s", "600"));
        while (c.done.getCount() > 0) {
            if (nowS() - t0 > timeout) {
                System.err.println("timed out after " + c.records.get() + " records without the end table's row");
                System.exit(3);
            }
            if (stopped.getCount() == 0) {
                System.err.println("the engine stopped after " + c.records.get() + " records");
                System.exit(1);
            }
            c.done.await(100, java.util.concurrent.TimeUnit.MILLISECONDS);
        }
        PrintStream o = System.out;
        // times from the JVM's start
        o.printf("records=%d first_s=%.3f end_s=%.3f cpu_first_s=%.2f cpu_end_s=%.2f vmhwm_kib=%d "
                + "produce_errors=%d%n", c.records.get(), c.tFirst - t0, c.tLast - t0, c.cpuFirst,
                c.cpuLast, peakRssKib(), failed.get());
        o.flush();
        Runtime.getRuntime().halt(0); // no orderly shutdown: its time is not measured
    }

    /** Creates topic with one partition unless it exists. */
    private static void createTopic(Properties p, String topic) throws Exception {
        try (Admin admin = Admin.create(p)) {
            if (!admin.listTopics().names().get().contains(topic)) {
                admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
            }
        }
    }

    private static void consume(Map<String, String> opt) throws Exception {
        String bootstrap = need(opt, "bootstrap"), topic = need(opt, "topic");
        Path outPath = Path.of(need(opt, "out"));
        Properties p = new Properties();
        p.setProperty("bootstrap.servers", bootstrap);
        createTopic(p, topic);
        p.setProperty("key.deserializer", StringDeserializer.class.getName());
        p.setProperty("value.deserializer", StringDeserializer.class.getName());
        p.setProperty("enable.auto.commit", "false");
        p.setProperty("fetch.min.bytes", "1");
        p.setProperty("fetch.max.wait.ms", "100");
        p.setProperty("max.partition.fetch.bytes", String.valueOf(16 << 20));
        Thread main = Thread.currentThread();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            STOP.set(true);
            try {
                main.join(5000);
            } catch (InterruptedException e) {
                // exiting anyway
            }
        }));
        try (KafkaConsumer<String, String> k = new KafkaConsumer<>(p);
                BufferedWriter w = Files.newBufferedWriter(outPath, StandardCharsets.US_ASCII)) {
            List<TopicPartition> tps = new ArrayList<>();
            k.partitionsFor(topic).forEach(pi -> tps.add(new TopicPartition(topic, pi.partition())));
            k.assign(tps);
            k.seekToEnd(tps);
            tps.forEach(k::position);
            System.out.println("ready");
            System.out.flush();
            while (!STOP.get()) {
                ConsumerRecords<String, String> rs = k.poll(Duration.ofMillis(50));
                if (rs.isEmpty()) {
                    continue;
                }
                Instant now = Instant.now();
                long recvUs = now.getEpochSecond() * 1_000_000L + now.getNano() / 1000;
                for (ConsumerRecord<String, String> r : rs) {
                    String v = r.value();
                    if (v == null) {
                        continue;
                    }
                    Matcher m = (v.contains("\"txns\"") ? COMMIT_US : PROBE).matcher(v);
                    if (m.pattern() == PROBE) { // the after image: the before one has the last probe
                        m.region(Math.max(0, v.indexOf("\"after\":")), v.length());
                    }
                    while (m.find()) {
                        w.write(m.group(1) + " " + recvUs + "\n");
                        if (m.pattern() == PROBE) {
                            break; // one statement per paced transaction
                        }
                    }
                }
                w.flush(); // the script follows the file
            }
        }
    }

    /**
     * The engine's offsets, in memory, starting with one that points at
     * start_file:start_pos (binlog.000001:4: the binlog's start). Debezium
     * 3.6's MySQL connector has no snapshot mode that streams from the
     * binlog's start (`never` is gone; no_data streams from the current
     * position): with an offset it resumes from there without a snapshot.
     */
    public static final class StartOffsetStore extends MemoryOffsetBackingStore {
        static volatile String key, value;

        @Override
        public synchronized void start() {
            super.start();
            if (key != null) {
                data.put(ByteBuffer.wrap(key.getBytes(StandardCharsets.UTF_8)),
                        ByteBuffer.wrap(value.getBytes(StandardCharsets.UTF_8)));
            }
        }

        @Override
        public Set<Map<String, Object>> connectorPartitions(String connectorName) {
            return Set.of();
        }
    }

    private static final java.util.concurrent.atomic.AtomicBoolean STOP =
            new java.util.concurrent.atomic.AtomicBoolean();
}
