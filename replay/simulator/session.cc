#include "replay/simulator/session.h"

#include <algorithm>

#include "replay/simulator/objects.h"

namespace credwatch::sim {

Emitter::Emitter(const Estate& estate, std::vector<Record>* out)
    : estate_(estate), out_(out), logind_(estate.hosts.size(), 0) {
  for (const Host& h : estate.hosts) next_pid_.push_back(h.first_pid);
  for (size_t i = 0; i < logind_.size(); ++i) {
    logind_[i] = static_cast<uint32_t>(Key(estate.seed, 23, i) % 4000 + 100);
  }
}

Record& Emitter::Add(RecordType type, int64_t time_ns) {
  Record& r = out_->emplace_back();
  r.time_ns = time_ns;
  r.seq = seq_++;
  r.type = type;
  r.attack = attack_;
  r.lookalike = lookalike_;
  r.user = user_;
  return r;
}

uint32_t Emitter::AllocatePids(int host, uint32_t n) {
  uint32_t& next = next_pid_[static_cast<size_t>(host)];
  // pid_max 4194304 (systemd's default): pids do not wrap within a session
  // even when a scaled-up run opens hundreds of thousands of connections a day.
  if (next + n >= 4194304) next = 300;
  uint32_t first = next;
  next += n;
  return first;
}

// ---------------------------------------------------------------------------

FlowTracker::FlowTracker(Emitter& em, int host, uint16_t src_port, uint32_t dst_ip,
                         uint16_t dst_port, int64_t start_ns)
    : em_(em),
      host_(host),
      src_port_(src_port),
      dst_ip_(dst_ip),
      dst_port_(dst_port),
      interval_start_(RoundMs(start_ns)),
      next_boundary_((start_ns / kInterval + 1) * kInterval) {}

void FlowTracker::Emit(RecordType type, int64_t t) {
  Record& r = em_.Add(type, RoundMs(t));
  r.start_ns = interval_start_;
  r.host = static_cast<uint8_t>(host_);
  r.ip = dst_ip_;
  r.port = dst_port_;
  r.port2 = src_port_;
  r.bytes = out_;
  r.bytes2 = in_;
  r.flag = kProtoTcp;
  r.exfil = data_ && em_.in_attack() && out_ > 0;
  interval_start_ = r.time_ns;
  out_ = in_ = 0;
  data_ = false;
}

void FlowTracker::FlushUntil(int64_t t) {
  while (next_boundary_ <= t) {
    if (out_ > 0 || in_ > 0) {
      Emit(RecordType::kFlowTraffic, next_boundary_);
    } else {
      interval_start_ = next_boundary_;
    }
    next_boundary_ += kInterval;
  }
}

void FlowTracker::Transfer(int64_t t0, int64_t t1, int64_t bytes_out, int64_t bytes_in, bool data) {
  FlushUntil(t0);
  if (t1 <= t0) t1 = t0 + 1;
  int64_t left_out = bytes_out, left_in = bytes_in;
  int64_t cur = t0;
  while (next_boundary_ <= t1) {
    double frac = static_cast<double>(next_boundary_ - cur) / static_cast<double>(t1 - cur);
    int64_t o = static_cast<int64_t>(static_cast<double>(left_out) * frac);
    int64_t i = static_cast<int64_t>(static_cast<double>(left_in) * frac);
    out_ += o;
    in_ += i;
    left_out -= o;
    left_in -= i;
    data_ = data_ || (data && o > 0);
    cur = next_boundary_;
    FlushUntil(cur);
  }
  out_ += left_out;
  in_ += left_in;
  data_ = data_ || (data && left_out > 0);
}

void FlowTracker::Finish(int64_t t, int64_t overhead_out, int64_t overhead_in) {
  FlushUntil(t);
  out_ += overhead_out;
  in_ += overhead_in;
  Emit(RecordType::kFlowClose, t);
}

// ---------------------------------------------------------------------------

SshConnection::SshConnection(Emitter& em, Rng& rng, int host, uint32_t user, uint32_t client_ip,
                             double throughput, int64_t start_ns)
    : em_(em),
      rng_(rng),
      host_(host),
      user_(user),
      ip_(client_ip),
      port_(EphemeralPort(rng)),
      throughput_(throughput),
      flow_(em, host, 22, client_ip, port_, start_ns) {}

Record& SshConnection::Journal(RecordType type, int64_t t) {
  Record& r = em_.Add(type, RoundUs(t));
  r.host = static_cast<uint8_t>(host_);
  r.user = user_;
  r.ip = ip_;
  r.port = port_;
  r.pid = pid_;
  r.pid2 = child_;
  r.aux = logind_;
  return r;
}

int64_t SshConnection::FailPassword(int64_t t) {
  if (pid_ == 0) pid_ = em_.AllocatePids(host_, 4);
  const Estate& e = em_.estate();
  if (!e.UserExists(user_)) {
    Journal(RecordType::kSshInvalidUser, t);
    t += rng_.Range(1, 40) * kMs;
    Journal(RecordType::kSshPamCheckPass, t);
    Journal(RecordType::kSshPamAuthFailure, t + 30 * 1000);
    t += rng_.Range(1500, 3200) * kMs;  // pam_faildelay
    Journal(RecordType::kSshFailedInvalidUser, t);
  } else {
    t += rng_.Range(1, 20) * kMs;
    Journal(RecordType::kSshPamAuthFailure, t);
    t += rng_.Range(1500, 3200) * kMs;
    Journal(RecordType::kSshFailedPassword, t);
  }
  return t + rng_.Range(20, 400) * kMs;
}

int64_t SshConnection::ClosePreauth(int64_t t) {
  t += rng_.Range(5, 900) * kMs;
  Journal(RecordType::kSshPreauthClosed, t);
  // Failed attempts still cost a short TCP exchange.
  flow_.Finish(t, 2500 + static_cast<int64_t>(rng_.Below(1500)),
               1800 + static_cast<int64_t>(rng_.Below(900)));
  return t;
}

int64_t SshConnection::Login(int64_t t, AuthMethod method) {
  if (pid_ == 0) pid_ = em_.AllocatePids(host_, 4);
  child_ = pid_ + 1 + static_cast<uint32_t>(rng_.Below(2));
  logind_ = em_.NextLogindSession(host_);
  Record& r = Journal(RecordType::kSshAccepted, t);
  r.flag = method;
  t += rng_.Range(4, 40) * kMs;
  Journal(RecordType::kSshSessionOpened, t);
  return t + rng_.Range(50, 300) * kMs;
}

int64_t SshConnection::StartSftp(int64_t t) {
  t += rng_.Range(100, 900) * kMs;
  Journal(RecordType::kSftpSessionOpened, t);
  sftp_ = true;
  return t + rng_.Range(200, 1500) * kMs;
}

int64_t SshConnection::ListDir(int64_t t, int tenant, uint32_t object_in_dir) {
  Record& open = Journal(RecordType::kSftpOpendir, t);
  open.tenant = static_cast<uint16_t>(tenant);
  open.object = object_in_dir;
  t += rng_.Range(20, 700) * kMs;
  Record& close = Journal(RecordType::kSftpClosedir, t);
  close.tenant = static_cast<uint16_t>(tenant);
  close.object = object_in_dir;
  flow_.Transfer(t - kMs, t, 1500 + static_cast<int64_t>(rng_.Below(9000)), 300, false);
  return t + rng_.Range(300, 6000) * kMs;
}

int64_t SshConnection::Read(int64_t t, int tenant, uint32_t object) {
  const Estate& e = em_.estate();
  const int64_t size = ObjectSize(e.seed, tenant, object, e.tenant(tenant).size);
  Record& open = Journal(RecordType::kSftpOpen, t);
  open.tenant = static_cast<uint16_t>(tenant);
  open.object = object;
  open.flag = 0;
  // Link speed varies a little from file to file.
  double rate = throughput_ * (0.7 + 0.6 * rng_.Uniform());
  int64_t duration = static_cast<int64_t>(static_cast<double>(size) / rate * 1e9) + 40 * kMs;
  int64_t end = t + duration;
  flow_.Transfer(t, end, size + size / 60, size / 400 + 200, true);
  Record& close = Journal(RecordType::kSftpClose, end);
  close.tenant = static_cast<uint16_t>(tenant);
  close.object = object;
  close.bytes = size;
  close.bytes2 = 0;
  close.exfil = em_.in_attack();
  return end;
}

int64_t SshConnection::Write(int64_t t, int tenant, uint32_t object) {
  const Estate& e = em_.estate();
  const int64_t size = ObjectSize(e.seed, tenant, object, e.tenant(tenant).size);
  Record& open = Journal(RecordType::kSftpOpen, t);
  open.tenant = static_cast<uint16_t>(tenant);
  open.object = object;
  open.flag = 1;
  double rate = throughput_ * (0.5 + 0.5 * rng_.Uniform());
  int64_t end = t + static_cast<int64_t>(static_cast<double>(size) / rate * 1e9) + 30 * kMs;
  flow_.Transfer(t, end, size / 400 + 200, size + size / 60, false);
  Record& close = Journal(RecordType::kSftpClose, end);
  close.tenant = static_cast<uint16_t>(tenant);
  close.object = object;
  close.bytes = 0;
  close.bytes2 = size;
  return end;
}

int64_t SshConnection::Logout(int64_t t) {
  if (sftp_) {
    Journal(RecordType::kSftpSessionClosed, t);
    t += rng_.Range(1, 20) * kMs;
  }
  Journal(RecordType::kSshReceivedDisconnect, t);
  t += rng_.Range(0, 3) * kMs + 200 * 1000;
  Journal(RecordType::kSshDisconnected, t);
  t += rng_.Range(1, 30) * kMs;
  Journal(RecordType::kSshSessionClosed, t);
  flow_.Finish(t, 4000 + static_cast<int64_t>(rng_.Below(3000)),
               3000 + static_cast<int64_t>(rng_.Below(2000)));
  return t;
}

Record& AddCloudTrail(Emitter& em, RecordType type, int64_t t, uint32_t user, uint32_t ip,
                      UserAgent agent) {
  Record& r = em.Add(type, RoundSec(t));
  r.user = user;
  r.ip = ip;
  r.agent = agent;
  return r;
}

}  // namespace credwatch::sim
