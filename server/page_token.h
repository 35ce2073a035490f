// ListTasks paging: the cursor (the last task id of a page) <-> the opaque
// page_token. A token carries a check of its cursor, so one that was cut
// short, edited or made up is refused rather than silently restarting the
// listing. Pure functions, no gRPC: fuzzed on their own.
#pragma once

#include <string>

#include "core/model/status.h"

namespace taskd::server {

std::string EncodePageToken(const std::string& last_id);
// INVALID_ARGUMENT naming page_token unless `token` came from EncodePageToken
// of a task id.
StatusOr<std::string> DecodePageToken(const std::string& token);

}  // namespace taskd::server
