package io.mambaflink.operators;

/** Why an event was rejected. Each has its own counter in the operator's metric group. */
public enum RejectReason {
    /** A feature vector whose length is not the model's input_dim. */
    WRONG_FEATURE_COUNT,
    /** A feature that is NaN or infinite. */
    NON_FINITE_FEATURE,
    /** A token id outside 0..vocab_size-1. */
    TOKEN_OUT_OF_VOCABULARY,
    /** A control other than reset or end. */
    UNKNOWN_CONTROL,
    /** An event with neither a payload nor a control, or the wrong payload kind for the model. */
    MISSING_PAYLOAD,
    /** An event without a key. */
    MISSING_KEY,
    /** The step left the stream's state non-finite; the stream was reset. */
    NON_FINITE_STATE
}
