// Prometheus text exposition for the daemon's admin listener (/metrics).
//
//   Metrics m;
//   Counter* in = m.GetCounter("credwatch_events_total", "Events decoded.",
//                              {{"input", "file /var/log/auth.log"}, {"format", "syslog"}});
//   in->Add(1);                                       // lock-free
//   m.SetGaugeFn("credwatch_queue_bytes", "Bytes waiting.", {}, [&] { return q.bytes(); });
//   std::string text = m.Render();                    // text format 0.0.4
//
// Get* registers a series once and returns a pointer that stays valid as long
// as the Metrics; hot paths keep the pointer and only touch an atomic.
// Thread-safety: every method is safe from any thread.
#ifndef CREDWATCH_DAEMON_METRICS_H_
#define CREDWATCH_DAEMON_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace credwatch::daemon {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Add(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Set(double v) { v_.store(v, std::memory_order_relaxed); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Metrics {
 public:
  Counter* GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge* GetGauge(const std::string& name, const std::string& help, const Labels& labels = {});
  // A gauge read when rendered (queue depths, state size). Replaces an
  // earlier function for the same series.
  void SetGaugeFn(const std::string& name, const std::string& help, const Labels& labels,
                  std::function<double()> fn);
  // The current value of a counter series, 0 when absent (tests, logs).
  uint64_t CounterValue(const std::string& name, const Labels& labels = {}) const;

  std::string Render() const;

 private:
  enum class Type { kCounter, kGauge };
  struct Series {
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::function<double()> fn;
  };
  struct Family {
    Type type;
    std::string help;
    std::map<std::string, Series> series;  // by rendered label set
  };
  Family& FamilyFor(const std::string& name, const std::string& help, Type type);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

// `{a="x",b="y"}` with Prometheus escaping of \, " and newlines; "" for none.
std::string RenderLabels(const Labels& labels);

}  // namespace credwatch::daemon

#endif  // CREDWATCH_DAEMON_METRICS_H_
