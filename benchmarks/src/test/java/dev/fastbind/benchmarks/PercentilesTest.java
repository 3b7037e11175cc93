package dev.fastbind.benchmarks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** The harness's percentile math: nearest rank, values that were measured, input left alone. */
class PercentilesTest {

  @Test
  void medianOfEvenCountIsTheLowerMiddleValue() {
    assertEquals(2, Percentiles.of(4, 1, 3, 2).at(50));
  }

  @Test
  void p90OfTwentyIsTheEighteenthValue() {
    long[] values = new long[20];
    for (int i = 0; i < 20; i++) {
      values[i] = 20 - i;
    }
    assertEquals(18, Percentiles.of(values).at(90));
  }

  @Test
  void p100AndMaxAreTheLargestValue() {
    Percentiles p = Percentiles.of(7, 3, 9);
    assertEquals(9, p.at(100));
    assertEquals(9, p.max());
    assertEquals(3, p.count());
  }

  @Test
  void tinyPercentileIsTheSmallestValue() {
    assertEquals(3, Percentiles.of(7, 3, 9).at(0.001));
  }

  @Test
  void inputIsCopiedNotSorted() {
    long[] values = {3, 1, 2};
    Percentiles.of(values);
    assertEquals(3, values[0]);
  }

  @Test
  void emptyInputAndOutOfRangePercentilesAreRefused() {
    assertThrows(IllegalArgumentException.class, Percentiles::of);
    assertThrows(IllegalArgumentException.class, () -> Percentiles.of(1).at(0));
    assertThrows(IllegalArgumentException.class, () -> Percentiles.of(1).at(101));
  }
}
