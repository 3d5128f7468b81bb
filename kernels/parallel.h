// Thread count for every multi-threaded kernel (OpenMP loops and Eigen's GEMM).
#pragma once

namespace coda {

// 0 means "all hardware threads".
void set_thread_count(int threads);
int thread_count();

}  // namespace coda
