package io.mambaflink.jobs.anomaly;

/** A Kafka record's bytes with its coordinates, as the source reads it. A Flink POJO. */
public class KafkaRecord {
    /** Record key, may be null. */
    public byte[] key;
    /** Record value, may be null. */
    public byte[] value;
    public String topic;
    public int partition;
    public long offset;
    /** Record timestamp, ms. */
    public long timestamp;

    public KafkaRecord() {}
}
