package dev.fastbind.benchmarks;

import java.util.Arrays;

/**
 * Nearest-rank percentiles of a sample, for the cold-start harness (JMH computes its own).
 *
 * <p>The p-th percentile of n sorted values is the value at rank {@code ceil(p/100 * n)} (1-based),
 * so p50 of {1, 2, 3, 4} is 2, p100 is the maximum and every result is a value that was measured.
 * Immutable; the input array is copied.
 */
final class Percentiles {

  private final long[] sorted;

  private Percentiles(long[] sorted) {
    this.sorted = sorted;
  }

  /** The percentiles of {@code values}; at least one value. */
  static Percentiles of(long... values) {
    if (values.length == 0) {
      throw new IllegalArgumentException("no values");
    }
    long[] copy = values.clone();
    Arrays.sort(copy);
    return new Percentiles(copy);
  }

  /** The nearest-rank {@code p}-th percentile, {@code 0 < p <= 100}. */
  long at(double p) {
    if (!(p > 0 && p <= 100)) {
      throw new IllegalArgumentException("percentile must be in (0, 100], was " + p);
    }
    int rank = (int) Math.ceil(p / 100.0 * sorted.length);
    return sorted[Math.max(1, rank) - 1];
  }

  /** The largest value. */
  long max() {
    return sorted[sorted.length - 1];
  }

  /** How many values. */
  int count() {
    return sorted.length;
  }
}
