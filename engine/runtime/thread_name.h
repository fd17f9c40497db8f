// NameThread: names a thread for top, perf and debuggers (Linux keeps at
// most 15 characters; longer names are cut).
#ifndef CREDWATCH_RUNTIME_THREAD_NAME_H_
#define CREDWATCH_RUNTIME_THREAD_NAME_H_

#if defined(__linux__)
#include <pthread.h>
#endif

#include <string>
#include <thread>

namespace credwatch::runtime {

inline void NameThread(std::thread& t, const std::string& name) {
#if defined(__linux__)
  pthread_setname_np(t.native_handle(), name.substr(0, 15).c_str());
#else
  (void)t;
  (void)name;
#endif
}

}  // namespace credwatch::runtime

#endif  // CREDWATCH_RUNTIME_THREAD_NAME_H_
