// The attacks injected into the benign estate: the breach (a stolen customer
// credential pulling many hospitals' data over sftp) and its variants. The
// plan is fixed once per run from the seed (victims, addresses, times); the
// timeline asks it for each day's attack sessions. Internal header.
#ifndef CREDWATCH_REPLAY_SIMULATOR_SCENARIOS_H_
#define CREDWATCH_REPLAY_SIMULATOR_SCENARIOS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "replay/simulator/estate.h"
#include "replay/simulator/session.h"

namespace credwatch::sim {

enum class AttackKind : uint8_t {
  kSftpBulkExfiltration,
  kS3ExternalDownload,
  kS3CopyToForeignAccount,
  kLowAndSlow,
  kDormantAccountRevived,
  kPasswordSprayThenLogin,
};
// "sftp_bulk_exfiltration", ... (the labels.json "kind").
std::string_view AttackKindName(AttackKind kind);

struct Attack {
  std::string id;  // "A1"
  AttackKind kind = AttackKind::kSftpBulkExfiltration;
  uint32_t user = 0;                  // the credential the attacker uses
  uint32_t ip = 0;                    // where the attacker connects from
  std::vector<int> hosts;             // legacy hosts, in the order visited
  std::vector<int> tenants;           // hospitals whose data it goes after
  std::vector<int64_t> starts;        // one per session, ascending
  std::vector<uint32_t> spray_users;  // password spray: the names tried
  std::string destination;            // where the data goes (address or account)
};

struct AttackPlan {
  int learning_days = 0;  // days of benign history before the first attack
  std::vector<Attack> attacks;
};

// Chooses victims and times. Marks the victims in `estate` (a victim does not
// travel or move, so its benign history is plain) and makes sure the chosen
// S3 victim uses S3.
AttackPlan PlanAttacks(Estate* estate);

// Appends the attack sessions that start on `day`.
void PlanAttackDay(const AttackPlan& plan, const Estate& estate, int day,
                   std::vector<Session>* out);

// Expands one attack session (kind == kAttack).
void ExpandAttack(const Session& session, const AttackPlan& plan, Emitter& em);

// One sentence for labels.json.
std::string DescribeAttack(const Attack& attack, const Estate& estate);

}  // namespace credwatch::sim

#endif  // CREDWATCH_REPLAY_SIMULATOR_SCENARIOS_H_
