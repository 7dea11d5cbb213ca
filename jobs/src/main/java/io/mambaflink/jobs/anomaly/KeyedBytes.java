package io.mambaflink.jobs.anomaly;

/** A record for a Kafka sink: key and value bytes (a protobuf message). A Flink POJO. */
public class KeyedBytes {
    /** Record key (the entity id), may be null. */
    public byte[] key;
    public byte[] value;
    /** Record timestamp, ms. */
    public long timestamp;

    public KeyedBytes() {}

    public KeyedBytes(byte[] key, byte[] value, long timestamp) {
        this.key = key;
        this.value = value;
        this.timestamp = timestamp;
    }
}
