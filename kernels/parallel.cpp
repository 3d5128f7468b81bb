#include "kernels/parallel.h"

#include <omp.h>

#include <Eigen/Core>

namespace coda {

void set_thread_count(int threads) {
  int n = threads > 0 ? threads : omp_get_num_procs();
  omp_set_num_threads(n);
  Eigen::setNbThreads(n);
}

int thread_count() { return omp_get_max_threads(); }

}  // namespace coda
