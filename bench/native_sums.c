/* Sums written in C for the benchmark's sum and mean((x-y)**2): every core sums
   its share of the arrays, reading it as STRETCHES stretches side by side (the
   prefetchers follow each as a stream) into LANES-wide accumulators that the
   compiler vectorises. Built by bench/native.py with gcc -O3 -march=native -fopenmp. */
#include <omp.h>

#define STRETCHES 4
#define LANES 16

#define SUM_OF(NAME, TERM)                                                             \
  float NAME(const float *x, const float *y, long n) {                               \
    float total = 0.0f;                                                              \
    _Pragma("omp parallel reduction(+ : total)") {                                   \
      long thread = omp_get_thread_num(), threads = omp_get_num_threads();           \
      long begin = n * thread / threads, end = n * (thread + 1) / threads;           \
      long stretch = (end - begin) / (STRETCHES * LANES) * LANES;                    \
      float acc[STRETCHES][LANES] = {{0.0f}};                                        \
      for (long i = begin; i < begin + stretch; i += LANES)                          \
        for (int s = 0; s < STRETCHES; s++) {                                        \
          _Pragma("omp simd") for (int l = 0; l < LANES; l++) {                      \
            long k = i + s * stretch + l;                                            \
            acc[s][l] += TERM;                                                       \
          }                                                                          \
        }                                                                            \
      for (long k = begin + STRETCHES * stretch; k < end; k++) total += TERM;        \
      for (int s = 0; s < STRETCHES; s++)                                            \
        for (int l = 0; l < LANES; l++) total += acc[s][l];                          \
    }                                                                                \
    return total;                                                                    \
  }

SUM_OF(sum, x[k])
SUM_OF(sum_of_squared_differences, (x[k] - y[k]) * (x[k] - y[k]))
