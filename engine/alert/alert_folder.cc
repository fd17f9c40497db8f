#include "alert/alert_folder.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <string_view>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "credwatch/time_util.h"

namespace credwatch::alert {
namespace {

constexpr size_t kObjectSample = 20;

std::string FoldKey(const Detection& d) {
  // Length-prefixed so that no (rule, key) pair can alias another.
  return absl::StrCat(d.rule_id.size(), ":", d.rule_id, d.group_key);
}

int64_t AbsDiff(int64_t a, int64_t b) {
  const int64_t hi = std::max(a, b), lo = std::min(a, b);
  int64_t r;
  if (__builtin_sub_overflow(hi, lo, &r)) return INT64_MAX;
  return r;
}

// Merges a repeat into the open finding; true if it raised the severity.
bool Merge(Finding& f, const Detection& d) {
  Detection& m = f.detection;
  ++f.count;
  const bool raised = d.severity > m.severity;
  if (raised) m.severity = d.severity;
  if (d.first_seen_ns != 0 && (m.first_seen_ns == 0 || d.first_seen_ns < m.first_seen_ns)) {
    m.first_seen_ns = d.first_seen_ns;
  }
  m.last_seen_ns = std::max(m.last_seen_ns, d.last_seen_ns);
  if (d.time_ns >= m.time_ns) {
    m.time_ns = d.time_ns;
    if (!d.src_ip.empty()) m.src_ip = d.src_ip;
  }
  if (m.credential.empty()) m.credential = d.credential;
  if (m.tenant.empty()) m.tenant = d.tenant;
  if (m.title.empty()) m.title = d.title;
  for (const std::string& a : d.attacks) {
    if (std::find(m.attacks.begin(), m.attacks.end(), a) == m.attacks.end()) {
      m.attacks.push_back(a);
    }
  }
  m.blast.Merge(d.blast);
  for (const std::string& e : d.evidences) {
    if (m.evidences.size() >= Detection::kMaxEvidences) break;
    if (std::find(m.evidences.begin(), m.evidences.end(), e) == m.evidences.end()) {
      m.evidences.push_back(e);
    }
  }
  return raised;
}

// Length of the valid UTF-8 sequence at s[i], 0 if invalid.
size_t Utf8Length(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  auto cont = [&](size_t k) { return k < s.size() && (b(k) & 0xC0) == 0x80; };
  const unsigned char c = b(i);
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(i + 1) || !cont(i + 2)) return 0;
    if (c == 0xE0 && b(i + 1) < 0xA0) return 0;
    if (c == 0xED && b(i + 1) >= 0xA0) return 0;
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    if (c == 0xF0 && b(i + 1) < 0x90) return 0;
    if (c == 0xF4 && b(i + 1) >= 0x90) return 0;
    return 4;
  }
  return 0;
}

// Text from input, made inert in Markdown: punctuation that could open
// markup is backslash-escaped; control characters and invalid UTF-8 become
// U+FFFD, so a value can never start a new line, heading or table row.
void AppendText(std::string_view s, std::string* out) {
  static constexpr std::string_view kSpecial = "\\`*_[]<>|~#&!";
  if (s.empty()) {
    out->append("(none)");
    return;
  }
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = Utf8Length(s, i);
      if (n == 0) {
        out->append("\xEF\xBF\xBD");
        ++i;
      } else {
        out->append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    if (c < 0x20 || c == 0x7F) {
      out->append("\xEF\xBF\xBD");
    } else {
      if (kSpecial.find(static_cast<char>(c)) != std::string_view::npos) out->push_back('\\');
      out->push_back(static_cast<char>(c));
    }
    ++i;
  }
}

void AppendList(const std::vector<std::string>& values, size_t limit, std::string* out) {
  if (values.empty()) {
    out->append("(none)");
    return;
  }
  for (size_t i = 0; i < values.size() && i < limit; ++i) {
    if (i) out->append(", ");
    AppendText(values[i], out);
  }
  if (values.size() > limit) absl::StrAppend(out, ", ... (", values.size() - limit, " more)");
}

std::string HumanBytes(int64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%lld bytes (%.2f %s)", static_cast<long long>(bytes), v,
                kUnits[u]);
  return buf;
}

std::string Time(int64_t ns) { return ns == 0 ? "(unknown)" : FormatIso8601(ns); }

struct CredentialSummary {
  std::string_view credential;
  std::string_view tenant;
  Severity severity = Severity::kInformational;
  int64_t first_seen_ns = 0;
  int64_t last_seen_ns = 0;
  BlastRadius blast;
  std::vector<const Finding*> findings;
};

}  // namespace

AlertFolder::AlertFolder(FolderOptions options) : options_(options) {
  if (options_.fold_window_ns < 0) options_.fold_window_ns = 0;
}

const Finding* AlertFolder::Offer(const Detection& d) {
  std::string key = FoldKey(d);
  auto it = open_.find(key);
  if (it != open_.end()) {
    Finding& f = findings_[it->second - base_];
    if (AbsDiff(d.time_ns, f.opened_ns) < options_.fold_window_ns) {
      if (!Merge(f, d)) return nullptr;
      ++f.updates;
      return &f;
    }
  }
  findings_.push_back(NewFinding(d));
  open_[std::move(key)] = base_ + findings_.size() - 1;
  return &findings_.back();
}

bool AlertFolder::UsesEvidences(const Detection& d) const {
  auto it = open_.find(FoldKey(d));
  if (it == open_.end()) return true;
  const Finding& f = findings_[it->second - base_];
  if (AbsDiff(d.time_ns, f.opened_ns) >= options_.fold_window_ns) return true;  // opens a new one
  return f.detection.evidences.size() < Detection::kMaxEvidences;
}

size_t AlertFolder::Expire(int64_t before_ns) {
  size_t dropped = 0;
  while (!findings_.empty() && findings_.front().opened_ns < before_ns) {
    auto it = open_.find(FoldKey(findings_.front().detection));
    if (it != open_.end() && it->second == base_) open_.erase(it);
    findings_.pop_front();
    ++base_;
    ++dropped;
  }
  return dropped;
}

std::vector<const Finding*> AlertFolder::Findings() const {
  std::vector<const Finding*> out;
  out.reserve(findings_.size());
  for (const Finding& f : findings_) out.push_back(&f);
  std::sort(out.begin(), out.end(), [](const Finding* a, const Finding* b) {
    const Detection& x = a->detection;
    const Detection& y = b->detection;
    return std::tie(x.credential, x.first_seen_ns, x.rule_id, x.group_key, a->opened_ns, a->uid) <
           std::tie(y.credential, y.first_seen_ns, y.rule_id, y.group_key, b->opened_ns, b->uid);
  });
  return out;
}

void AppendIncidentReport(const std::vector<const Finding*>& findings, std::string* out) {
  // Group by credential (the group key when a rule has none).
  std::map<std::string_view, CredentialSummary> by_credential;
  for (const Finding* f : findings) {
    const Detection& d = f->detection;
    std::string_view name = d.credential.empty() ? std::string_view(d.group_key) : d.credential;
    CredentialSummary& s = by_credential[name];
    s.credential = name;
    if (s.tenant.empty()) s.tenant = d.tenant;
    s.severity = std::max(s.severity, d.severity);
    if (d.first_seen_ns != 0 && (s.first_seen_ns == 0 || d.first_seen_ns < s.first_seen_ns)) {
      s.first_seen_ns = d.first_seen_ns;
    }
    s.last_seen_ns = std::max(s.last_seen_ns, d.last_seen_ns);
    s.blast.Merge(d.blast);
    s.findings.push_back(f);
  }
  std::vector<CredentialSummary*> order;
  for (auto& [name, s] : by_credential) order.push_back(&s);
  std::stable_sort(order.begin(), order.end(),
                   [](const CredentialSummary* a, const CredentialSummary* b) {
                     if (a->severity != b->severity) return a->severity > b->severity;
                     return a->first_seen_ns < b->first_seen_ns;  // ties keep name order (map)
                   });

  absl::StrAppend(out, "# credwatch incident report\n\n", findings.size(), " finding(s), ",
                  order.size(), " credential(s).\n");
  for (const CredentialSummary* s : order) {
    out->append("\n## Credential ");
    AppendText(s->credential, out);
    absl::StrAppend(out, " (", Sv(SeverityName(s->severity)), ")\n\n");
    out->append("- Tenant: ");
    AppendText(s->tenant, out);
    absl::StrAppend(out, "\n- First seen: ", Time(s->first_seen_ns),
                    "\n- Last seen: ", Time(s->last_seen_ns), "\n");
    const BlastRadius& b = s->blast;
    absl::StrAppend(out, "- Tenants touched (", b.tenants.size(), "): ");
    AppendList(b.tenants, BlastRadius::kMaxTenants, out);
    absl::StrAppend(out, "\n- Objects: ", b.objects_total, " accessed, ", b.objects.size(),
                    " distinct kept; sample: ");
    AppendList(b.objects, kObjectSample, out);
    absl::StrAppend(out, "\n- Data moved: ", HumanBytes(b.bytes));
    if (b.records > 0) absl::StrAppend(out, ", ", b.records, " records");
    absl::StrAppend(out, "\n- Destinations (", b.destinations.size(), "): ");
    AppendList(b.destinations, BlastRadius::kMaxDestinations, out);
    out->append(
        "\n\n| Severity | Rule | Title | Count | First seen | Last seen | Finding |\n"
        "|---|---|---|---|---|---|---|\n");
    for (const Finding* f : s->findings) {
      const Detection& d = f->detection;
      absl::StrAppend(out, "| ", Sv(SeverityName(d.severity)), " | ");
      AppendText(d.rule_id, out);
      out->append(" | ");
      AppendText(d.title, out);
      absl::StrAppend(out, " | ", f->count, " | ", Time(d.first_seen_ns), " | ",
                      Time(d.last_seen_ns), " | ", f->uid, " |\n");
    }
  }
}

}  // namespace credwatch::alert
