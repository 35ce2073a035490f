// Checks a TaskSpec against the daemon's limits before it is accepted.
// Every error is INVALID_ARGUMENT and names the field by its request path,
// so a client sees e.g. "spec.exec.argv: must not be empty".
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

#include "core/model/status.h"
#include "core/model/task.h"

namespace taskd {

struct SpecLimits {
  size_t max_argv_entries = 4096;
  size_t max_argv_bytes = 256 * 1024;
  size_t max_env_entries = 1024;
  size_t max_env_bytes = 256 * 1024;
  size_t max_labels = 64;
  size_t max_label_key_bytes = 63;
  size_t max_label_value_bytes = 256;
  size_t max_name_bytes = 256;
  size_t max_queue_bytes = 64;
  size_t max_payload_bytes = 1024 * 1024;
  size_t max_after = 256;
  size_t max_request_id_bytes = 128;
  size_t max_cwd_bytes = 4096;
};

// Returns OK or INVALID_ARGUMENT. `prefix` is the path of the spec in the
// request ("spec", "requests[3].spec"). `handler_known` says whether a
// handler name is registered (and may check its payload, returning its own
// INVALID_ARGUMENT naming "<prefix>.handler.payload").
using HandlerCheck = std::function<Status(std::string_view prefix, const HandlerAction&)>;
Status ValidateSpec(const TaskSpec& spec, std::string_view prefix, const SpecLimits& limits,
                    const HandlerCheck& check_handler);

Status ValidateRequestId(std::string_view request_id, std::string_view field,
                         const SpecLimits& limits);

}  // namespace taskd
