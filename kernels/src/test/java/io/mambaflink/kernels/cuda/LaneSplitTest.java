package io.mambaflink.kernels.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * How CudaStepEngine cuts a bucket into lanes (no GPU needed): for every bucket size the engine makes, lane counts 2-4
 * and every batch that fits, the lanes' row ranges tile the bucket in order, start on multiples of 8 rows, and each
 * lane's share of the batch's rows fits its range and the shares add up to the batch.
 */
class LaneSplitTest {
    @Test
    void lanesTileEveryBucketAndEveryBatchInIt() {
        int[] buckets = {32, 64, 100, 1000, 1024, 1030, 2048, 4096};
        for (int lanes = 2; lanes <= 4; lanes++) {
            for (int r : buckets) {
                int part = CudaStepEngine.laneRows(r, lanes);
                assertThat(part % 8).as("rows per lane of %d in %d lanes", r, lanes).isZero();
                int covered = 0;
                int used = 0;
                for (int i = 0; i < lanes; i++) {
                    int rows = CudaStepEngine.laneShare(r, part, i);
                    if (rows == 0) {
                        break;
                    }
                    assertThat(i * part).as("lane %d of bucket %d starts where lane %d ended", i, r, i - 1).isEqualTo(covered);
                    covered += rows;
                    used++;
                }
                assertThat(covered).as("bucket %d in %d lanes", r, lanes).isEqualTo(r);
                assertThat(used).as("lanes used by bucket %d", r).isBetween(1, lanes);
                for (int n = 1; n <= r; n++) {
                    int sum = 0;
                    for (int i = 0; i < lanes; i++) {
                        int share = CudaStepEngine.laneShare(n, part, i);
                        assertThat(share).as("lane %d's share of %d rows in bucket %d", i, n, r)
                                .isBetween(0, CudaStepEngine.laneShare(r, part, i));
                        sum += share;
                    }
                    assertThat(sum).as("%d rows over %d lanes of bucket %d", n, lanes, r).isEqualTo(n);
                }
            }
        }
    }

    @Test
    void twoLanesSplitPowersOfTwoInHalves() {
        for (int r = 32; r <= 65536; r *= 2) {
            int part = CudaStepEngine.laneRows(r, 2);
            assertThat(part).isEqualTo(r / 2);
            assertThat(CudaStepEngine.laneShare(r, part, 1)).isEqualTo(r / 2);
        }
        // 1000 rows: 504 + 496; a batch of 500 leaves lane 1 empty
        assertThat(CudaStepEngine.laneRows(1000, 2)).isEqualTo(504);
        assertThat(CudaStepEngine.laneShare(500, 504, 1)).isZero();
    }
}
