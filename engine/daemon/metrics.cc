#include "daemon/metrics.h"

#include <cmath>
#include <cstdio>

namespace credwatch::daemon {
namespace {

void AppendEscaped(const std::string& v, std::string* out) {
  for (char c : v) {
    if (c == '\\') {
      *out += "\\\\";
    } else if (c == '"') {
      *out += "\\\"";
    } else if (c == '\n') {
      *out += "\\n";
    } else {
      *out += c;
    }
  }
}

void AppendNumber(double v, std::string* out) {
  if (std::isnan(v)) {
    *out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    *out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 9.0e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.6g", v);
  }
  *out += buf;
}

}  // namespace

std::string RenderLabels(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ',';
    out += labels[i].first;
    out += "=\"";
    AppendEscaped(labels[i].second, &out);
    out += '"';
  }
  out += '}';
  return out;
}

Metrics::Family& Metrics::FamilyFor(const std::string& name, const std::string& help, Type type) {
  auto [it, added] = families_.try_emplace(name);
  if (added) {
    it->second.type = type;
    it->second.help = help;
  }
  return it->second;
}

Counter* Metrics::GetCounter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Series& s = FamilyFor(name, help, Type::kCounter).series[RenderLabels(labels)];
  if (!s.counter) s.counter = std::make_unique<Counter>();
  return s.counter.get();
}

Gauge* Metrics::GetGauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mu_);
  Series& s = FamilyFor(name, help, Type::kGauge).series[RenderLabels(labels)];
  if (!s.gauge) s.gauge = std::make_unique<Gauge>();
  return s.gauge.get();
}

void Metrics::SetGaugeFn(const std::string& name, const std::string& help, const Labels& labels,
                         std::function<double()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  FamilyFor(name, help, Type::kGauge).series[RenderLabels(labels)].fn = std::move(fn);
}

uint64_t Metrics::CounterValue(const std::string& name, const Labels& labels) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto f = families_.find(name);
  if (f == families_.end()) return 0;
  auto s = f->second.series.find(RenderLabels(labels));
  if (s == f->second.series.end() || !s->second.counter) return 0;
  return s->second.counter->value();
}

std::string Metrics::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& [name, family] : families_) {
    out += "# HELP " + name + " " + family.help + "\n";
    out += "# TYPE " + name + (family.type == Type::kCounter ? " counter\n" : " gauge\n");
    for (const auto& [labels, s] : family.series) {
      out += name;
      out += labels;
      out += ' ';
      if (s.counter) {
        AppendNumber(static_cast<double>(s.counter->value()), &out);
      } else if (s.gauge) {
        AppendNumber(s.gauge->value(), &out);
      } else if (s.fn) {
        AppendNumber(s.fn(), &out);
      } else {
        out += '0';
      }
      out += '\n';
    }
  }
  return out;
}

}  // namespace credwatch::daemon
