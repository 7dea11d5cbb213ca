package io.mambaflink.jobs;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.mambaflink.operators.RejectedEvent;
import io.mambaflink.operators.StreamEvent;
import io.mambaflink.operators.StreamResult;
import java.nio.charset.StandardCharsets;

/**
 * The replay job's JSON lines.
 *
 * <pre>
 * in:       {"key": "a", "ts": 123, "token": 5}  |  {"key": "a", "ts": 123, "features": [0.1, ...]}
 *           {"key": "a", "ts": 123, "control": "reset" | "end"}
 * out:      {"key": "a", "ts": 123, "position": 7, "output": [...]}   ("end": true on an end control's result)
 * rejected: {"reason": "...", "message": "...", "event": {...}}  or, for a line that is not an event,
 *           {"reason": "UNDECODABLE", "message": "...", "line": "..."}
 * </pre>
 */
public final class ReplayJson {
    /** Reason of a line that does not decode to an event (the Kafka job's name for the same case). */
    public static final String UNDECODABLE = "UNDECODABLE";

    /** NaN and Infinity parse, so that they reach the operator and are rejected there with their own reason. */
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(JsonParser.Feature.ALLOW_NON_NUMERIC_NUMBERS)
            .build();

    private ReplayJson() {}

    /**
     * Decodes one input line.
     *
     * @throws IllegalArgumentException saying what is wrong with the line
     */
    public static StreamEvent parseEvent(String line) {
        JsonNode n;
        try {
            n = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("not JSON: " + e.getOriginalMessage());
        }
        if (n == null || !n.isObject()) {
            throw new IllegalArgumentException("expected a JSON object");
        }
        JsonNode key = n.get("key");
        if (key == null || !(key.isTextual() || key.isIntegralNumber())) {
            throw new IllegalArgumentException("\"key\" must be a string or an integer");
        }
        StreamEvent e = new StreamEvent();
        e.key = key.asText();
        JsonNode ts = n.get("ts");
        if (ts != null && !ts.isNull()) {
            if (!ts.canConvertToLong() || !ts.isIntegralNumber()) {
                throw new IllegalArgumentException("\"ts\" must be an integer, found " + ts);
            }
            e.ts = ts.asLong();
        }
        JsonNode control = n.get("control");
        if (control != null && !control.isNull()) {
            if (!control.isTextual()) {
                throw new IllegalArgumentException("\"control\" must be a string, found " + control);
            }
            e.control = control.asText();
        }
        JsonNode token = n.get("token");
        if (token != null && !token.isNull()) {
            if (!token.isIntegralNumber() || !token.canConvertToInt()) {
                throw new IllegalArgumentException("\"token\" must be an integer, found " + token);
            }
            // -1 means "no token" in StreamEvent: keep a literal -1 out of vocabulary instead
            e.token = token.asInt() == -1 ? Integer.MIN_VALUE : token.asInt();
        }
        JsonNode features = n.get("features");
        if (features != null && !features.isNull()) {
            if (!features.isArray()) {
                throw new IllegalArgumentException("\"features\" must be an array of numbers");
            }
            float[] f = new float[features.size()];
            for (int i = 0; i < f.length; i++) {
                JsonNode v = features.get(i);
                if (!v.isNumber()) {
                    throw new IllegalArgumentException("features[" + i + "] is not a number: " + v);
                }
                f[i] = v.floatValue();
            }
            e.features = f;
        }
        return e;
    }

    /** A rejection for a line that is not an event; the line travels in the event's attachment. */
    public static RejectedEvent undecodable(String line, String message) {
        RejectedEvent r = new RejectedEvent();
        r.event = new StreamEvent();
        r.event.attachment = line.getBytes(StandardCharsets.UTF_8);
        r.reason = UNDECODABLE;
        r.message = message;
        return r;
    }

    public static String resultLine(StreamResult r) {
        ObjectNode o = JSON.createObjectNode();
        o.put("key", r.key);
        o.put("ts", r.ts);
        o.put("position", r.position);
        putFloats(o, "output", r.output);
        if (r.end) {
            o.put("end", true);
        }
        return o.toString();
    }

    public static String rejectedLine(RejectedEvent r) {
        ObjectNode o = JSON.createObjectNode();
        o.put("reason", r.reason);
        o.put("message", r.message);
        if (UNDECODABLE.equals(r.reason)) {
            o.put("line", new String(r.event.attachment, StandardCharsets.UTF_8));
            return o.toString();
        }
        StreamEvent e = r.event;
        ObjectNode ev = o.putObject("event");
        ev.put("key", e.key);
        ev.put("ts", e.ts);
        if (e.token != -1) {
            ev.put("token", e.token);
        }
        if (e.features != null) {
            putFloats(ev, "features", e.features);
        }
        if (e.control != null) {
            ev.put("control", e.control);
        }
        return o.toString();
    }

    private static void putFloats(ObjectNode o, String field, float[] values) {
        if (values == null) {
            o.putNull(field);
            return;
        }
        ArrayNode a = o.putArray(field);
        for (float v : values) {
            a.add(v);
        }
    }
}
