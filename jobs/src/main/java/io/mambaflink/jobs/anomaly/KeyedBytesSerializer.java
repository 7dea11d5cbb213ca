package io.mambaflink.jobs.anomaly;

import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;

/** Writes {@link KeyedBytes} to one topic; the partition follows the key, so one entity's records stay in order. */
public final class KeyedBytesSerializer implements KafkaRecordSerializationSchema<KeyedBytes> {
    private static final long serialVersionUID = 1L;

    private final String topic;

    public KeyedBytesSerializer(String topic) {
        this.topic = topic;
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(KeyedBytes element, KafkaSinkContext context, Long timestamp) {
        return new ProducerRecord<>(topic, null, element.timestamp, element.key, element.value);
    }
}
